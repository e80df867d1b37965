//! `utilization.png`: the workers' utilization per frame (or, for a trace without frames, per
//! stretch of time), with its mean and the job system's own figure as reference lines.

use std::path::Path;

use plotters::prelude::*;

use super::font::{self, FAMILY};
use super::PlotError;
use crate::frames::frame_utilization;
use crate::time::{to_millis, Interval, Nanos};
use crate::trace::{Frame, Trace};
use crate::utilization::{utilization_within, worker_busy};

/// The picture's size in pixels, width and height.
///
/// ```
/// assert_eq!(tools::plot::utilization::SIZE, (1400, 560));
/// ```
pub const SIZE: (u32, u32) = (1400, 560);

/// How many stretches of time a trace without frames is cut into.
const BUCKETS: i64 = 200;

/// The points a utilization picture plots: x (frame number or ms) and utilization in percent.
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"b","pid":1,"cat":"frame","name":"frame","id":3,"ts":0.0},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":5.0,"name":"a"},
///   {"ph":"e","pid":1,"cat":"frame","name":"frame","id":3,"ts":10.0}]}"#)?;
/// let series = tools::plot::utilization::Series::of(&trace, &trace.frames);
/// assert_eq!(series.points, [(3.0, 50.0)]);
/// assert!(series.per_frame);
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Whether x is a frame number (else milliseconds since the recording began).
    pub per_frame: bool,
    /// (x, utilization in percent).
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// Utilization per frame of `frames`; for no frames, over 200 equal stretches of the
    /// window.
    ///
    /// ```
    /// let trace = tools::Trace::from_json(r#"{"traceEvents":[
    ///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
    ///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":1000.0,"name":"a"}]}"#)?;
    /// let series = tools::plot::utilization::Series::of(&trace, &[]);
    /// assert!(!series.per_frame);
    /// assert!(series.points.iter().all(|&(_, percent)| percent == 100.0));
    /// # Ok::<(), tools::TraceError>(())
    /// ```
    pub fn of(trace: &Trace, frames: &[Frame]) -> Series {
        if !frames.is_empty() {
            let points = frame_utilization(trace, frames)
                .iter()
                .map(|f| (f.frame as f64, f.utilization * 100.0))
                .collect();
            return Series {
                per_frame: true,
                points,
            };
        }
        let workers = worker_busy(trace);
        let window = trace.window;
        let step: Nanos = (window.len() / BUCKETS).max(1);
        let points = (0..BUCKETS)
            .map(|i| Interval::new(window.start + i * step, window.start + (i + 1) * step))
            .filter(|bucket| bucket.end <= window.end)
            .map(|bucket| {
                let middle = to_millis(bucket.start + bucket.len() / 2);
                (middle, utilization_within(&workers, bucket) * 100.0)
            })
            .collect();
        Series {
            per_frame: false,
            points,
        }
    }
}

/// Draws the workers' utilization of `frames` (or over time, for none) into the PNG file at
/// `path`; returns its size in pixels ([`SIZE`]).
///
/// ```
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":500.0,"name":"a"}]}"#)?;
/// let path = std::env::temp_dir().join("tools-doc-utilization.png");
/// assert_eq!(tools::plot::utilization::draw(&trace, &[], &path)?, tools::plot::utilization::SIZE);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn draw(trace: &Trace, frames: &[Frame], path: &Path) -> Result<(u32, u32), PlotError> {
    let fail = |err: &dyn std::fmt::Display| PlotError::new(path, err);
    font::register().map_err(|err| fail(&err))?;
    let series = Series::of(trace, frames);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|err| fail(&err))?;

    let xs = series.points.iter().map(|p| p.0);
    let (mut x0, mut x1) = (
        xs.clone().fold(f64::INFINITY, f64::min),
        xs.fold(f64::NEG_INFINITY, f64::max),
    );
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if series.per_frame || x1 - x0 < 1.0 {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    let mean = match series.points.len() {
        0 => 0.0,
        n => series.points.iter().map(|p| p.1).sum::<f64>() / n as f64,
    };
    let (title, x_desc) = if series.per_frame {
        ("Worker utilization per frame", "frame")
    } else {
        (
            "Worker utilization over time (no frames in the trace)",
            "time since the recording began (ms)",
        )
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22.0))
        .margin(20)
        .margin_right(40)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, 0.0..105.0)
        .map_err(|err| fail(&err))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("utilization (%)")
        .x_labels(12)
        .y_labels(11)
        .x_label_formatter(&|&x| match series.per_frame {
            // Frame numbers only: no label between two frames.
            true if x.fract() != 0.0 => String::new(),
            true => format!("{x:.0}"),
            false => format!("{x:.1}"),
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(0xe0, 0xe0, 0xe0))
        .label_style((FAMILY, 14.0))
        .axis_desc_style((FAMILY, 15.0))
        .draw()
        .map_err(|err| fail(&err))?;

    let blue = RGBColor(0x1f, 0x77, 0xb4);
    chart
        .draw_series(AreaSeries::new(
            series.points.iter().copied(),
            0.0,
            blue.mix(0.15),
        ))
        .map_err(|err| fail(&err))?;
    chart
        .draw_series(LineSeries::new(
            series.points.iter().copied(),
            blue.stroke_width(2),
        ))
        .map_err(|err| fail(&err))?
        .label(if series.per_frame {
            "utilization of the frame's window"
        } else {
            "utilization"
        })
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], blue.stroke_width(2)));
    if series.points.len() <= 120 {
        chart
            .draw_series(
                series
                    .points
                    .iter()
                    .map(|&p| Circle::new(p, 3, blue.filled())),
            )
            .map_err(|err| fail(&err))?;
    }
    let job_system = trace
        .meta
        .as_ref()
        .and_then(|meta| meta.job_system.as_ref())
        .map(|stats| stats.utilization * 100.0);
    if let Some(theirs) = job_system {
        let green = RGBColor(0x2c, 0xa0, 0x2c);
        chart
            .draw_series(LineSeries::new(
                [(x0, theirs), (x1, theirs)],
                green.stroke_width(2),
            ))
            .map_err(|err| fail(&err))?
            .label(format!("job system, whole recording {theirs:.1}%"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], green.stroke_width(2))
            });
    }
    let orange = RGBColor(0xff, 0x7f, 0x0e);
    chart
        .draw_series(DashedLineSeries::new(
            [(x0, mean), (x1, mean)],
            10,
            6,
            orange.stroke_width(2),
        ))
        .map_err(|err| fail(&err))?
        .label(format!("mean {mean:.1}%"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], orange.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0xb0, 0xb0, 0xb0))
        .label_font((FAMILY, 14.0))
        .draw()
        .map_err(|err| fail(&err))?;
    root.present().map_err(|err| fail(&err))?;
    Ok(SIZE)
}
