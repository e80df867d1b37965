//! What the test files share: the fixtures under `tests/data/` and reading back a PNG.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tools::Trace;

/// The path of a fixture file.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A fixture trace, read.
pub fn fixture(name: &str) -> Trace {
    Trace::read(data(name)).unwrap_or_else(|err| panic!("fixture {name}: {err}"))
}

/// A decoded PNG: its size and its pixels as RGB triples, row by row.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<[u8; 3]>,
}

impl Image {
    /// Reads and decodes a PNG file (failing the test if it is not one).
    pub fn read(path: &Path) -> Image {
        let file =
            std::fs::File::open(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let mut reader = png::Decoder::new(file).read_info().expect("a PNG header");
        let mut buffer = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buffer).expect("PNG pixels");
        let channels = info.color_type.samples();
        assert!(
            channels >= 3,
            "expected colour pixels, got {:?}",
            info.color_type
        );
        let rgb = buffer[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|px| [px[0], px[1], px[2]])
            .collect();
        Image {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    /// How many pixels have exactly this colour.
    pub fn count(&self, colour: [u8; 3]) -> usize {
        self.rgb.iter().filter(|&&px| px == colour).count()
    }

    /// The columns (x) holding at least one pixel of this colour.
    pub fn columns_with(&self, colour: [u8; 3]) -> Vec<u32> {
        let mut columns: Vec<u32> = self
            .rgb
            .iter()
            .enumerate()
            .filter(|(_, &px)| px == colour)
            .map(|(i, _)| i as u32 % self.width)
            .collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }
}
