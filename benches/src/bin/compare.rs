//! The quick side-by-side table: every benchmark, ours against its peer, in well under a minute.
//!
//! ```text
//! cargo run --release -p benches --bin compare -- [--json] [--only NAME]... [--rounds N] [--workers N]
//! ```
//!
//! Each benchmark builds its systems (every one with `--workers` threads), runs a warm-up
//! round, then alternates ours and its peers for `--rounds` rounds, and reports the median of
//! each and the median per-round ratio ours/peer, each with its range over the rounds, a row
//! per peer. `--json` prints one object
//! per line per row instead of the table.
//!
//! The benchmarks (`--help` lists them too; `benches/README.md` lists them with their peers):
//! `empty_batch`, `empty_spawn`, `recorder_cost`, `spawn_tree`, `join_tree`, `parallel_for`,
//! `priority_latency`, `idle_cpu`, `stranded_work`, `wake_latency` (the job system against
//! rayon-core, rayon, chili, bevy_tasks or a sequential loop, one row per peer), and for the
//! frame graph `graph_overhead` (the executor's ns per pass per frame on 100 empty passes, 1
//! and 2 frames in flight, against a dataflow executor on rayon-core), `pipelined_frames`
//! (frames/s of a two-stage frame with 2 frames in flight over 1 in flight, and over the stages
//! run back to back on one thread) and `demo_frame` (the demo's default scene).
//! Rows may carry extra keys after `ratio` (`in_flight`, `shape`, ...), in the JSON and as
//! `key=value` at the end of the table's line.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use benches::compare::{Comparison, Settings, BENCHMARKS};
use benches::DEFAULT_WORKERS;
use jobs::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Measured rounds when `--rounds` is not given.
const DEFAULT_ROUNDS: usize = 7;

/// The most `--rounds` taken: every benchmark keeps each round's figures, and the quickest
/// takes about a millisecond a round.
const MAX_ROUNDS: usize = 100_000;

struct Args {
    json: bool,
    only: Vec<String>,
    rounds: usize,
    workers: usize,
}

const USAGE: &str = "usage: compare [--json] [--only NAME]... [--rounds N] [--workers N]

  --json         one JSON object per line per row instead of the table
  --only NAME    run only this benchmark (repeatable, or comma-separated)
  --rounds N     measured rounds per benchmark, 1 to 100000 (default 7; idle_cpu, 2 s a
                 round, at most 3)
  --workers N    workers of each system, 1 to 1024 (default 2)

benchmarks:";

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        json: false,
        only: Vec::new(),
        rounds: DEFAULT_ROUNDS,
        workers: DEFAULT_WORKERS,
    };
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--json" => args.json = true,
            "--only" => args
                .only
                .extend(value("--only")?.split(',').map(str::to_string)),
            "--rounds" => args.rounds = bounded("--rounds", &value("--rounds")?, MAX_ROUNDS)?,
            "--workers" => {
                args.workers = bounded("--workers", &value("--workers")?, Config::MAX_WORKERS)?
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    for name in &args.only {
        if !BENCHMARKS.iter().any(|b| b.name == name) {
            let names: Vec<&str> = BENCHMARKS.iter().map(|b| b.name).collect();
            return Err(format!(
                "no benchmark named {name:?} (there are: {})",
                names.join(", ")
            ));
        }
    }
    Ok(Some(args))
}

fn bounded(flag: &str, value: &str, max: usize) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} {value:?}: expected an integer from 1 to {max}"
        )),
    }
}

fn figure(x: f64) -> String {
    if !x.is_finite() {
        "-".to_string()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn usage() -> String {
    let mut text = USAGE.to_string();
    for bench in BENCHMARKS {
        text.push_str(&format!("\n  {:<17} {}", bench.name, bench.about));
    }
    text
}

fn table_row(c: &Comparison) -> String {
    let mut line = format!(
        "{:<17} {:<11} {:>10} {:>10} {:>8} {:<15}  {:<22} {}; {}",
        c.name,
        c.peer,
        figure(c.ours),
        figure(c.peer_value),
        figure(c.ratio),
        format!("[{}-{}]", figure(c.ratio_range.0), figure(c.ratio_range.1)),
        c.unit,
        c.target,
        c.peer_does
    );
    if !c.extra.is_empty() {
        line.push_str("; ");
        line.push_str(&c.extra_text());
    }
    line
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("compare: {why}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let settings = Settings {
        workers: args.workers,
        rounds: args.rounds,
        warmup: 1,
    };
    let started = Instant::now();
    let stdout = std::io::stdout();
    if !args.json {
        println!(
            "{} workers each; {} rounds after 1 warm-up round; medians; ratio = median of per-round ours/peer [its range over the rounds]",
            settings.workers, settings.rounds
        );
        println!(
            "{:<17} {:<11} {:>10} {:>10} {:>8} {:<15}  {:<22} target; peer does",
            "benchmark", "peer", "ours", "peer", "ratio", "[range]", "unit"
        );
    }
    let mut ran = 0;
    for bench in BENCHMARKS {
        if !args.only.is_empty() && !args.only.iter().any(|n| n == bench.name) {
            continue;
        }
        for row in (bench.run)(&settings) {
            let line = if args.json {
                row.to_json()
            } else {
                table_row(&row)
            };
            let mut out = stdout.lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        ran += 1;
    }
    eprintln!(
        "compare: {ran} benchmark(s) in {:.1} s ({} workers, {} rounds)",
        started.elapsed().as_secs_f64(),
        settings.workers,
        settings.rounds
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Option<Args>, String> {
        parse_args(argv.iter().map(|a| a.to_string()))
    }

    #[test]
    fn rounds_and_workers_past_their_bounds_are_errors_that_name_them() {
        // Before the bounds: --rounds usize::MAX panicked allocating a round's figures, and
        // --workers 100000 panicked on the job system's ConfigError.
        for (flag, value) in [
            ("--rounds", "0"),
            ("--rounds", "100001"),
            ("--rounds", "18446744073709551615"),
            ("--rounds", "18446744073709551616"),
            ("--workers", "0"),
            ("--workers", "1025"),
            ("--workers", "100000"),
            ("--workers", "-1"),
        ] {
            let error = parse(&[flag, value]).err().expect("rejected");
            assert!(
                error.contains(flag) && error.contains(value) && error.contains("from 1 to"),
                "{error}"
            );
        }
    }

    #[test]
    fn rounds_and_workers_at_their_bounds_are_taken() {
        let args = parse(&["--rounds=100000", "--workers", "1024", "--json"])
            .expect("valid")
            .expect("not --help");
        assert_eq!(
            (args.rounds, args.workers, args.json),
            (MAX_ROUNDS, Config::MAX_WORKERS, true)
        );
        let args = parse(&["--rounds", "1", "--workers=1"])
            .expect("valid")
            .expect("not --help");
        assert_eq!((args.rounds, args.workers), (1, 1));
    }
}
