//! Scene files: what the particle simulation runs, read from a TOML file in `assets/`.
//!
//! The world is a 2D side view: x to the right, y up, the ground at y = 0; lengths are metres
//! (m), times seconds (s), angles degrees counter-clockwise from +x (0 points right, 90 up).
//! Vectors are written `[x, y]`, ranges `[min, max]`.
//!
//! ```toml
//! name = "drip"
//! seed = 7
//! max_particles = 10000
//!
//! [view]                  # the part of the world the image shows
//! min = [-2.0, 0.0]
//! max = [2.0, 3.0]
//!
//! [image]
//! width = 400
//! height = 300
//!
//! [physics]
//! gravity = [0.0, -9.81]
//!
//! [[emitters]]
//! position = [0.0, 2.5]
//! rate = 2000             # particles per second
//! direction = -90         # straight down
//! speed = [0.5, 1.0]
//! lifetime = [2.0, 3.0]
//! ```
//!
//! | key | type | range | default |
//! |---|---|---|---|
//! | `name` | string | not empty | required |
//! | `seed` | integer | 0 ..= 2^63 - 1 | required |
//! | `max_particles` | integer | 1 ..= 2,000,000 | required |
//! | `view.min`, `view.max` | [m, m] | min < max on both axes; without `[interaction]`, at most 256 times as tall as wide | required |
//! | `image.width`, `image.height` | integer pixels | 16 ..= 4096 | required |
//! | `physics.gravity` | [m/s², m/s²] | | required |
//! | `physics.drag` | 1/s | >= 0 | 0 |
//! | `physics.restitution` | fraction | 0 ..= 1 | 0.3 |
//! | `physics.friction` | fraction | 0 ..= 1 | 0.2 |
//! | `[[emitters]]` | array of tables | 1 ..= [`MAX_ITEMS`] | required |
//! | `emitters[i].position` | [m, m] | | required |
//! | `emitters[i].width` | m | >= 0 | 0 (a point) |
//! | `emitters[i].rate` | particles/s | > 0 | required |
//! | `emitters[i].direction` | degrees | | required |
//! | `emitters[i].spread` | degrees | 0 ..= 360 | 0 |
//! | `emitters[i].speed` | [m/s, m/s] | 0 <= min <= max | required |
//! | `emitters[i].lifetime` | [s, s] | 0 < min <= max | required |
//! | `emitters[i].colour` | [r, g, b] | each 0 ..= 1 | [1, 1, 1] |
//! | `emitters[i].size` | pixels | > 0, <= 32 | 1 |
//! | `[[attractors]]`: `position`, `strength`, `radius` | [m, m], m/s², m | radius > 0; at most [`MAX_ITEMS`] | none |
//! | `[[vortices]]`: `position`, `strength`, `radius` | [m, m], m/s², m | radius > 0; at most [`MAX_ITEMS`] | none |
//! | `[[colliders]]` (at most [`MAX_ITEMS`]) `kind = "circle"`: `center`, `radius` | [m, m], m | radius > 0 | none |
//! | `[[colliders]]` `kind = "box"`: `min`, `max` | [m, m], [m, m] | min < max on both axes | none |
//! | `interaction.radius` | m | > 0, at most [`MAX_GRID_CELLS`] cells over the view | no `[interaction]`: none |
//! | `interaction.repulsion` | m/s² | >= 0 | 0 |
//! | `interaction.viscosity` | fraction | 0 ..= 1 | 0 |
//!
//! Every number must also be finite and at most [`LIMIT`] in magnitude: `nan`, `inf` and values
//! like `1e30` are mistakes, not scenes (and so is one like `1e-300`, which an `f32` rounds to 0:
//! write 0, or at least `f32::MIN_POSITIVE`, about 1.2e-38). Unknown keys are errors, so a misspelt key never silently
//! falls back to its default; so is an array of the wrong length (`[0, -9.81, 1]` for a vector).
//!
//! Every size a scene implies is bounded before anything is allocated: particles
//! ([`MAX_PARTICLES`]), image sides ([`IMAGE_SIDES`]), the neighbour grid ([`MAX_GRID_CELLS`]:
//! without `[interaction]` its cells are 1/128 of the view's width, so the view may be at most 256
//! times as tall as wide), each list ([`MAX_ITEMS`]) and the file itself ([`MAX_FILE_BYTES`]).
//!
//! [`load`] and [`parse`] return the first mistake they find as a [`SceneError`] naming the file,
//! the line and the key, e.g. `my_scene.toml:12: emitters[1].rate: must be positive, got -5`.
//! Indices in keys count from 0, as in the table above. How a mistake finds its line:
//! `src/scene/README.md`.

use std::io::Read as _;
use std::path::Path;

use toml::de::DeTable;

mod check;
mod error;
mod read;
mod types;

pub(crate) use check::GridShape;
pub use error::{InvalidValue, SceneError};
pub use types::{
    Attractor, Collider, Emitter, Image, Interaction, Interval, Physics, Scene, View, Vortex,
};

/// The largest magnitude any number in a scene may have (coordinates, speeds, rates, strengths):
/// beyond it `f32` has too little precision left for a simulation in metres, so such a value is
/// taken as a mistake.
pub const LIMIT: f32 = 1.0e6;

/// The most particles a scene may ask for ([`Scene::max_particles`]).
pub const MAX_PARTICLES: usize = 2_000_000;

/// The smallest and largest image side in pixels ([`Image`]).
pub const IMAGE_SIDES: std::ops::RangeInclusive<u32> = 16..=4096;

/// The most cells the neighbour grid may have over the view (cells of
/// [`Interaction::radius`] on a side, or 128 columns without `[interaction]`): a smaller radius,
/// or a taller view, is taken as a mistake.
pub const MAX_GRID_CELLS: u64 = 1 << 22;

/// The most emitters, attractors, vortices or colliders a scene may have (each list on its own):
/// every particle visits every force and collider every frame.
pub const MAX_ITEMS: usize = 64;

/// The largest scene file, bytes: a scene of every list at its longest is a small fraction of it.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Reads and checks the scene file at `path`.
///
/// ```
/// # use std::path::Path;
/// let error = demo::scene::load(Path::new("no/such/scene.toml")).unwrap_err();
/// assert!(error.message.starts_with("cannot read the scene file"));
/// ```
pub fn load(path: &Path) -> Result<Scene, SceneError> {
    let error = |line: Option<usize>, message: String| SceneError {
        file: path.to_owned(),
        line,
        key: None,
        message,
    };
    let unreadable = |e: std::io::Error| error(None, format!("cannot read the scene file: {e}"));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    // One byte more than allowed tells a file that is too large, without reading all of it.
    let mut bytes = Vec::new();
    (file.take(MAX_FILE_BYTES as u64 + 1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(error(
            None,
            format!("the file is larger than {MAX_FILE_BYTES} bytes: too large for a scene"),
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let at = e.valid_up_to();
        error(
            Some(error::line_of(&bytes, at)),
            format!("not UTF-8: byte {:#04x} at offset {at}", bytes[at]),
        )
    })?;
    parse(text, path)
}

/// Parses and checks the scene in `text`; `file` is only used to name it in errors.
///
/// ```
/// use std::path::Path;
/// let text = r#"
///     name = "drip"
///     seed = 7
///     max_particles = 10000
///     view = { min = [-2, 0], max = [2, 3] }
///     image = { width = 400, height = 300 }
///     physics = { gravity = [0, -9.81] }
///     [[emitters]]
///     position = [0, 2.5]
///     rate = 2000
///     direction = -90
///     speed = [0.5, 1]
///     lifetime = [2, 3]
/// "#;
/// let scene = demo::scene::parse(text, Path::new("drip.toml"))?;
/// assert_eq!(scene.emitters[0].rate, 2000.0);
/// assert_eq!(scene.physics.restitution, 0.3); // the default
///
/// let error = demo::scene::parse(&text.replace("rate = 2000", "rate = -5"), Path::new("drip.toml"))
///     .unwrap_err();
/// assert_eq!(error.to_string(), "drip.toml:10: emitters[0].rate: must be positive, got -5");
/// # Ok::<(), demo::scene::SceneError>(())
/// ```
pub fn parse(text: &str, file: &Path) -> Result<Scene, SceneError> {
    let error =
        |span: Option<std::ops::Range<usize>>, key: Option<String>, message: String| SceneError {
            file: file.to_owned(),
            line: span.map(|span| error::line_of(text.as_bytes(), span.start)),
            key,
            message,
        };
    if text.len() > MAX_FILE_BYTES {
        return Err(error(
            None,
            None,
            format!("the scene is larger than {MAX_FILE_BYTES} bytes: too large for a scene"),
        ));
    }
    let document = DeTable::parse(text).map_err(|e| {
        // The parser's message, and the text it points at when that is short and on one line
        // (`duplicate key `drag``).
        let quoted = (e.span())
            .and_then(|span| text.get(span))
            .filter(|s| !s.is_empty() && s.len() <= 40 && !s.contains('\n'));
        let message = match quoted {
            Some(s) => format!("{} `{s}`", e.message()),
            None => e.message().to_owned(),
        };
        error(e.span(), None, message)
    })?;
    let scene = read::scene(&document)
        .map_err(|m| error(Some(m.span), Some(m.key.to_string()), m.message))?;
    scene.check().map_err(|invalid| {
        let span = invalid.at.span_in(&document);
        error(Some(span), Some(invalid.key()), invalid.message)
    })?;
    Ok(scene)
}
