//! `timeline.png`: the lanes over time, one row each, every job span a filled rectangle coloured
//! by its name, frame ends marked and numbered, a legend of the names below.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::{self, FAMILY};
use super::palette::Palette;
use super::PlotError;
use crate::frame_range::FrameRange;
use crate::time::{to_millis, Interval, Nanos};
use crate::trace::{Frame, Lane, LaneKind, Trace};

/// The picture's width in pixels (its height follows the lanes and the legend).
///
/// ```
/// assert_eq!(tools::plot::timeline::WIDTH, 1600);
/// ```
pub const WIDTH: u32 = 1600;
const TITLE_H: u32 = 58;
const MARKS_H: u32 = 22;
const LANE_H: u32 = 36;
const LANE_GAP: u32 = 6;
const LABELS_W: u32 = 110;
const RIGHT: u32 = 36;
const AXIS_H: u32 = 48;
const LEGEND_ROW_H: u32 = 22;
const LEGEND_PAD: u32 = 14;
const TEXT: f64 = 15.0;
const SMALL: f64 = 13.0;

/// The stretch of time a timeline shows, and why.
///
/// ```
/// use tools::plot::timeline::view;
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":50.0,"name":"a"}]}"#)?;
/// // Without frames: the whole window.
/// let v = view(&trace, None).unwrap();
/// assert_eq!((v.time, v.frames.len()), (trace.window, 0));
/// # Ok::<(), tools::TraceError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The time shown.
    pub time: Interval,
    /// The frames chosen (empty when it shows the whole window).
    pub frames: Vec<u64>,
}

/// The time a timeline shows: the frames of `range`, or by default three consecutive frames from
/// the middle of the trace, or the whole window for a trace without frames. `None` when `range`
/// holds no frame of the trace.
///
/// ```
/// use tools::plot::timeline::view;
/// let mut events = String::new();
/// for n in 0..10 {
///     let (b, e) = (n as f64 * 10.0, n as f64 * 10.0 + 15.0);
///     events += &format!(r#"{{"ph":"b","cat":"frame","name":"frame","id":{n},"ts":{b}}},
///                          {{"ph":"e","cat":"frame","name":"frame","id":{n},"ts":{e}}},"#);
/// }
/// let trace = tools::Trace::from_json(&format!(r#"{{"traceEvents":[{}]}}"#, events.trim_end_matches(',')))?;
/// let middle = view(&trace, None).unwrap();
/// assert_eq!(middle.frames, [4, 5, 6]);
/// assert_eq!(middle.time, tools::Interval::new(40_000, 75_000));
/// assert_eq!(view(&trace, Some("2..=3".parse().unwrap())).unwrap().frames, [2, 3]);
/// assert!(view(&trace, Some("20..22".parse().unwrap())).is_none());
/// # Ok::<(), tools::TraceError>(())
/// ```
pub fn view(trace: &Trace, range: Option<FrameRange>) -> Option<View> {
    let frames: Vec<Frame> = match range {
        Some(range) => range.select(&trace.frames),
        None if trace.frames.is_empty() => {
            return Some(View {
                time: trace.window,
                frames: Vec::new(),
            })
        }
        None => {
            let first = (trace.frames.len() / 2).saturating_sub(1);
            trace.frames.iter().skip(first).take(3).copied().collect()
        }
    };
    let start = frames.iter().map(|f| f.time.start).min()?;
    let end = frames.iter().map(|f| f.time.end).max()?;
    Some(View {
        time: Interval::new(start, end),
        frames: frames.iter().map(|f| f.number).collect(),
    })
}

/// The lanes a timeline draws: every worker, and the other lanes that ran any job.
fn shown_lanes(trace: &Trace) -> Vec<&Lane> {
    trace
        .lanes
        .iter()
        .filter(|lane| lane.kind == LaneKind::Worker || !lane.spans.is_empty())
        .collect()
}

/// The legend's rows: for each, the names it holds and where each one starts.
fn legend_rows(names: &[&str], width: u32) -> Vec<Vec<(u32, String)>> {
    let mut rows: Vec<Vec<(u32, String)>> = vec![Vec::new()];
    let mut x = LABELS_W;
    for name in names {
        let entry = 14 + 6 + font::text_size(name, SMALL).0 + 22;
        if x + entry > width - RIGHT && x > LABELS_W {
            rows.push(Vec::new());
            x = LABELS_W;
        }
        rows.last_mut()
            .expect("one row at least")
            .push((x, (*name).to_owned()));
        x += entry;
    }
    rows
}

/// Each span's nesting depth on its lane (0 for a span inside no other), in the lane's order.
fn depths(lane: &Lane) -> Vec<u32> {
    let mut open: Vec<Nanos> = Vec::new(); // ends of the spans enclosing the current one
    lane.spans
        .iter()
        .map(|span| {
            while open.last().is_some_and(|&end| end <= span.time.start) {
                open.pop();
            }
            let depth = open.len() as u32;
            open.push(span.time.end);
            depth
        })
        .collect()
}

/// Draws the timeline of `view` into the PNG file at `path`; returns its size in pixels
/// ([`WIDTH`] wide, as tall as its lanes and legend need).
///
/// ```
/// use tools::plot::timeline;
/// let trace = tools::Trace::from_json(r#"{"traceEvents":[
///   {"ph":"M","pid":1,"tid":0,"name":"thread_name","args":{"name":"worker 0"}},
///   {"ph":"X","pid":1,"tid":0,"ts":0.0,"dur":50.0,"name":"integrate"}]}"#)?;
/// let path = std::env::temp_dir().join("tools-doc-timeline.png");
/// let (width, _height) = timeline::draw(&trace, &timeline::view(&trace, None).unwrap(), &path)?;
/// assert_eq!(width, timeline::WIDTH);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn draw(trace: &Trace, view: &View, path: &Path) -> Result<(u32, u32), PlotError> {
    let fail = |err: &dyn std::fmt::Display| PlotError::new(path, err);
    font::register().map_err(|err| fail(&err))?;
    let lanes = shown_lanes(trace);
    let palette = Palette::new(trace.names());
    let in_view = |span_time: Interval| span_time.overlaps(view.time);
    let mut names_in_view: Vec<&str> = palette
        .names()
        .iter()
        .map(|name| &**name)
        .filter(|name| {
            lanes.iter().any(|lane| {
                lane.spans
                    .iter()
                    .any(|s| &*s.name == *name && in_view(s.time))
            })
        })
        .collect();
    names_in_view.dedup();
    let legend = legend_rows(&names_in_view, WIDTH);
    let lanes_h = lanes.len().max(1) as u32 * (LANE_H + LANE_GAP);
    let height =
        TITLE_H + MARKS_H + lanes_h + AXIS_H + LEGEND_PAD + legend.len() as u32 * LEGEND_ROW_H + 10;

    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|err| fail(&err))?;
    let title = match view.frames.as_slice() {
        [] => format!(
            "Timeline: the whole recording ({:.3} ms)",
            to_millis(view.time.len())
        ),
        [one] => format!(
            "Timeline: frame {one} ({:.3} ms)",
            to_millis(view.time.len())
        ),
        [first, .., last] => format!(
            "Timeline: frames {first} to {last} ({:.3} ms)",
            to_millis(view.time.len())
        ),
    };
    root.draw(&Text::new(
        title,
        (LABELS_W as i32, 12),
        (FAMILY, 20.0).into_font().color(&BLACK),
    ))
    .map_err(|err| fail(&err))?;
    let legend_line = match trace.frames.is_empty() {
        true => {
            "one row per thread, a box per job run coloured by its label (runs nested in a \
                 run are inset)"
        }
        false => {
            "one row per thread, a box per job run coloured by its label (runs nested in a \
                  run are inset); black lines: frame ends"
        }
    };
    root.draw(&Text::new(
        legend_line,
        (LABELS_W as i32, 38),
        (FAMILY, SMALL)
            .into_font()
            .color(&RGBColor(0x55, 0x55, 0x55)),
    ))
    .map_err(|err| fail(&err))?;

    // The chart: x is time in ms, y holds one unit per lane, lane 0 at the top.
    let (t0, t1) = (
        to_millis(view.time.start),
        to_millis(view.time.end).max(to_millis(view.time.start) + 1e-6),
    );
    let rows = lanes.len().max(1) as f64;
    // Enough decimals to tell about a dozen ticks apart.
    let decimals = (-((t1 - t0) / 12.0).log10().floor()).clamp(0.0, 6.0) as usize;
    let chart_area = root.margin(TITLE_H + MARKS_H, 0, 0, RIGHT);
    let (chart_area, _) = chart_area.split_vertically(lanes_h + AXIS_H);
    let mut chart = ChartBuilder::on(&chart_area)
        .x_label_area_size(AXIS_H)
        .y_label_area_size(LABELS_W)
        .build_cartesian_2d(t0..t1, 0.0..rows)
        .map_err(|err| fail(&err))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(12)
        .light_line_style(RGBColor(0xf0, 0xf0, 0xf0))
        .bold_line_style(RGBColor(0xe0, 0xe0, 0xe0))
        .x_label_formatter(&|ms| format!("{ms:.decimals$}"))
        .x_desc("time since the recording began (ms)")
        .label_style((FAMILY, SMALL))
        .axis_desc_style((FAMILY, TEXT))
        .draw()
        .map_err(|err| fail(&err))?;

    let x_of = |t: Nanos| chart.backend_coord(&(to_millis(t).clamp(t0, t1), 0.0)).0;
    let (left, right) = (x_of(view.time.start), x_of(view.time.end));
    let lane_top =
        |row: usize| chart.backend_coord(&(t0, rows - row as f64)).1 + (LANE_GAP / 2) as i32;
    for (row, lane) in lanes.iter().enumerate() {
        let (top, bottom) = (lane_top(row), lane_top(row) + LANE_H as i32);
        root.draw(&Rectangle::new(
            [(left, top), (right, bottom)],
            RGBColor(0xf4, 0xf4, 0xf4).filled(),
        ))
        .map_err(|err| fail(&err))?;
        root.draw(&Text::new(
            lane.name.clone(),
            (LABELS_W as i32 - 10, (top + bottom) / 2),
            (FAMILY, TEXT)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(|err| fail(&err))?;
        for (span, depth) in lane.spans.iter().zip(depths(lane)) {
            if !in_view(span.time) {
                continue;
            }
            let x0 = x_of(span.time.start);
            // At least one pixel, so that the shortest job still shows.
            let x1 = x_of(span.time.end).max(x0 + 1);
            let inset = (depth * 4).min(LANE_H / 2 - 3) as i32;
            let colour = palette.colour(&span.name);
            root.draw(&Rectangle::new(
                [(x0, top + inset), (x1, bottom - inset)],
                colour.filled(),
            ))
            .map_err(|err| fail(&err))?;
            if x1 - x0 >= 6 {
                root.draw(&Rectangle::new(
                    [(x0, top + inset), (x1, bottom - inset)],
                    WHITE.stroke_width(1),
                ))
                .map_err(|err| fail(&err))?;
            }
        }
    }

    // Frame ends: a line across the lanes, the frame's number above it.
    let (lanes_top, lanes_bottom) = (
        lane_top(0) - (LANE_GAP / 2) as i32,
        lane_top(lanes.len().max(1) - 1) + LANE_H as i32,
    );
    let mut last_label_right = i32::MIN;
    for frame in trace
        .frames
        .iter()
        .filter(|f| view.time.start < f.time.end && f.time.end <= view.time.end)
    {
        let x = x_of(frame.time.end);
        root.draw(&PathElement::new(
            vec![(x, lanes_top - 4), (x, lanes_bottom)],
            BLACK.stroke_width(2),
        ))
        .map_err(|err| fail(&err))?;
        let label = format!("frame {} ends", frame.number);
        let (w, _) = font::text_size(&label, SMALL);
        let label_left = (x - w as i32 / 2).min(WIDTH as i32 - RIGHT as i32 - w as i32);
        if label_left > last_label_right + 6 {
            root.draw(&Text::new(
                label,
                (label_left, lanes_top - MARKS_H as i32 + 2),
                (FAMILY, SMALL).into_font().color(&BLACK),
            ))
            .map_err(|err| fail(&err))?;
            last_label_right = label_left + w as i32;
        }
    }

    // The legend.
    let legend_top = (TITLE_H + MARKS_H + lanes_h + AXIS_H + LEGEND_PAD) as i32;
    for (r, row) in legend.iter().enumerate() {
        let y = legend_top + (r as u32 * LEGEND_ROW_H) as i32;
        for (x, name) in row {
            let x = *x as i32;
            root.draw(&Rectangle::new(
                [(x, y), (x + 14, y + 14)],
                palette.colour(name).filled(),
            ))
            .map_err(|err| fail(&err))?;
            root.draw(&Text::new(
                name.clone(),
                (x + 20, y + 7),
                (FAMILY, SMALL)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(|err| fail(&err))?;
        }
    }
    root.present().map_err(|err| fail(&err))?;
    Ok((WIDTH, height))
}
