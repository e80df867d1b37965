//! The pictures: written, decodable PNGs of the size the drawing functions report, and the
//! shortest span still visible.

mod common;

use common::{fixture, Image};
use tools::plot::palette::Palette;
use tools::plot::{timeline, utilization};
use tools::Trace;

fn rgb(colour: plotters::style::RGBColor) -> [u8; 3] {
    [colour.0, colour.1, colour.2]
}

#[test]
fn the_timeline_is_a_png_of_the_reported_size_with_every_name_in_its_colour() {
    let trace = fixture("two_frames.json");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timeline.png");
    let view = timeline::view(&trace, None).unwrap();
    assert_eq!(view.frames, [1, 2]);
    let (width, height) = timeline::draw(&trace, &view, &path).unwrap();
    let image = Image::read(&path);
    assert_eq!((image.width, image.height), (width, height));
    assert_eq!(width, timeline::WIDTH);
    // Two worker lanes and the main lane (the idle I/O lane is left out): taller than one lane.
    assert!(height > 200 && height < 600, "height {height}");
    let palette = Palette::new(trace.names());
    for name in ["a", "b", "c", "d", "load", "x", "y"] {
        // More than the legend's swatch: the spans themselves.
        let pixels = image.count(rgb(palette.colour(name)));
        assert!(pixels > 15 * 15, "{name}: {pixels} pixels");
    }
}

#[test]
fn a_one_nanosecond_span_is_still_one_pixel_wide() {
    // 100 ms window; a span of 1 ns at 70 ms.
    let trace = Trace::from_json(
        r#"{"traceEvents":[
          {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
          {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":50000.0,"name":"long"},
          {"ph":"X","pid":1,"tid":0,"ts":70000.0,"dur":0.001,"name":"blip"},
          {"ph":"X","pid":1,"tid":0,"ts":99999.0,"dur":1.0,"name":"long"}]}"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timeline.png");
    let (_, height) =
        timeline::draw(&trace, &timeline::view(&trace, None).unwrap(), &path).unwrap();
    let image = Image::read(&path);
    let blip = rgb(Palette::new(trace.names()).colour("blip"));
    // Above the legend (the last 40 rows), the blip's colour is the span itself.
    let above_legend = Image {
        width: image.width,
        height: height - 40,
        rgb: image.rgb[..(image.width * (height - 40)) as usize].to_vec(),
    };
    let columns = above_legend.columns_with(blip);
    assert!(!columns.is_empty(), "the 1 ns span is not drawn");
    // About 70% of the way along the time axis.
    let x = f64::from(columns[0]) / f64::from(image.width);
    assert!((0.6..0.8).contains(&x), "at {x}");
    assert!(
        above_legend.count(blip) >= 10,
        "a column of the lane's height"
    );
}

#[test]
fn the_utilization_chart_is_a_png_of_its_fixed_size() {
    let trace = fixture("two_frames.json");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("utilization.png");
    let size = utilization::draw(&trace, &trace.frames, &path).unwrap();
    assert_eq!(size, utilization::SIZE);
    let image = Image::read(&path);
    assert_eq!((image.width, image.height), size);
    // The utilization line (blue), the mean (orange) and the job system's figure (green).
    for colour in [[0x1f, 0x77, 0xb4], [0xff, 0x7f, 0x0e], [0x2c, 0xa0, 0x2c]] {
        assert!(image.count(colour) > 100, "{colour:?}");
    }
}

#[test]
fn without_frames_the_chart_shows_utilization_over_time() {
    let trace = fixture("no_metadata.json");
    let series = utilization::Series::of(&trace, &trace.frames);
    assert!(!series.per_frame);
    // 0-10 us: nothing; 20-30 us both workers; 30-40 one; 40-50 both.
    let at = |ms: f64| {
        series
            .points
            .iter()
            .min_by(|a, b| (a.0 - ms).abs().total_cmp(&(b.0 - ms).abs()))
            .unwrap()
            .1
    };
    assert_eq!(
        (at(0.005), at(0.025), at(0.035), at(0.045)),
        (0.0, 100.0, 50.0, 100.0)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("utilization.png");
    utilization::draw(&trace, &[], &path).unwrap();
    assert_eq!(Image::read(&path).width, utilization::SIZE.0);
}

#[test]
fn an_unwritable_picture_is_an_error_naming_the_file() {
    let trace = fixture("two_frames.json");
    let path = std::path::Path::new("/nonexistent-folder/timeline.png");
    let err = timeline::draw(&trace, &timeline::view(&trace, None).unwrap(), path).unwrap_err();
    assert_eq!(err.path, path);
    assert!(
        err.to_string()
            .starts_with("/nonexistent-folder/timeline.png: "),
        "{err}"
    );
}
