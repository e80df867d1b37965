//! `jobs-trace`: the report on a trace recorded by the jobs recorder, and its pictures.
//!
//! ```text
//! cargo run --release -p tools -- TRACE.json [--out DIR] [--top N] [--frames A..B] [--json]
//! ```
//!
//! Exit status: 0 done, 2 the trace (or an argument) is unusable, 1 a picture could not be
//! written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tools::passes::PassOrder;
use tools::plot::{timeline, utilization};
use tools::report::Picture;
use tools::{FrameRange, Report, ReportOptions, Trace};

/// Reports on a job-system trace: worker utilization over the window and per frame, the longest
/// passes, idle gaps, the completion chain of the slowest and the median frame; draws the timeline
/// and the utilization per frame as PNG pictures.
#[derive(Parser, Debug)]
#[command(name = "jobs-trace", version)]
struct Args {
    /// The trace: Chrome trace event JSON as `jobs::trace::Trace::write_chrome` writes it.
    trace: PathBuf,
    /// The folder for timeline.png and utilization.png (made if missing); by default they go
    /// beside the trace as NAME-timeline.png and NAME-utilization.png.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// How many worst frames, longest gaps and passes to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// The frames the per-frame figures, passes, completion chains and pictures are about:
    /// A..B (B excluded), A..=B, A.. or ..B. The timeline shows three frames from the middle
    /// without it.
    #[arg(long, value_name = "A..B")]
    frames: Option<FrameRange>,
    /// Sort the passes by their longest run (max) or by all their runs together (total).
    #[arg(long, value_name = "max|total", default_value = "max")]
    passes_by: PassOrder,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Where the pictures go: `DIR/timeline.png`, or `NAME-timeline.png` beside `NAME.json`.
fn picture_path(args: &Args, what: &str) -> PathBuf {
    match &args.out {
        Some(dir) => dir.join(format!("{what}.png")),
        None => {
            let name = args.trace.file_name().map_or_else(
                || "trace".to_owned(),
                |name| name.to_string_lossy().trim_end_matches(".json").to_owned(),
            );
            args.trace.with_file_name(format!("{name}-{what}.png"))
        }
    }
}

fn pictures(args: &Args, trace: &Trace) -> Result<Vec<Picture>, String> {
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    }
    let frames = match args.frames {
        Some(range) => range.select(&trace.frames),
        None => trace.frames.clone(),
    };
    let view = timeline::view(trace, args.frames).ok_or("no frame to draw")?;
    let timeline_path = picture_path(args, "timeline");
    timeline::draw(trace, &view, &timeline_path).map_err(|err| err.to_string())?;
    let utilization_path = picture_path(args, "utilization");
    utilization::draw(trace, &frames, &utilization_path).map_err(|err| err.to_string())?;
    Ok(vec![
        Picture {
            what: "timeline".into(),
            path: timeline_path,
        },
        Picture {
            what: "utilization".into(),
            path: utilization_path,
        },
    ])
}

/// Checks that `--frames` picks a frame of the trace.
fn check_frames(range: Option<FrameRange>, trace: &Trace, path: &Path) -> Result<(), String> {
    let Some(range) = range else { return Ok(()) };
    if !range.select(&trace.frames).is_empty() {
        return Ok(());
    }
    let numbers = trace.frames.iter().map(|f| f.number);
    let has = match (numbers.clone().min(), numbers.max()) {
        (Some(first), Some(last)) => format!("its frames are {first} to {last}"),
        _ => "it has no frames".to_owned(),
    };
    Err(format!(
        "{}: --frames {range}: no such frame in the trace ({has})",
        path.display()
    ))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let trace = match Trace::read(&args.trace) {
        Ok(trace) => trace,
        Err(err) => {
            eprintln!("jobs-trace: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = check_frames(args.frames, &trace, &args.trace) {
        eprintln!("jobs-trace: {err}");
        return ExitCode::from(2);
    }
    let options = ReportOptions {
        top: args.top,
        frames: args.frames,
        pass_order: args.passes_by,
    };
    let mut report = Report::build(&trace, &options);
    let status = match pictures(&args, &trace) {
        Ok(pictures) => {
            report.pictures = pictures;
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("jobs-trace: cannot draw the pictures: {err}");
            ExitCode::from(1)
        }
    };
    let text = if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => json + "\n",
            Err(err) => {
                eprintln!("jobs-trace: cannot write the report as JSON: {err}");
                return ExitCode::from(1);
            }
        }
    } else {
        format!("jobs-trace: {}\n{report}", args.trace.display())
    };
    // A reader that stopped reading (`| head`) is not an error worth a panic.
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("jobs-trace: cannot print the report: {err}");
            return ExitCode::from(1);
        }
    }
    status
}
