//! Writing a [`Trace`] in the Chrome trace event format (`trace/FORMAT.md` has the layout).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::{EventKind, LaneKind, Trace};

/// Width of the `workers busy` counter's steps.
const BUSY_BIN_NS: u64 = 1_000_000;

impl Trace {
    /// Writes the trace as Chrome trace event JSON (Perfetto, chrome://tracing, the `tools`
    /// crate's `jobs-trace`): one track per lane, frames and passes as async tracks, the
    /// workers' utilization as a counter, panics and other moments as instant events. The
    /// layout is documented in `jobs/src/trace/FORMAT.md`.
    ///
    /// ```
    /// let system = jobs::JobSystem::new(jobs::Config::default().workers(2))?;
    /// system.start_recording()?;
    /// system.parallel_for(0..1000, jobs::Grain::Auto, |i| { std::hint::black_box(i); })?;
    /// let mut json = Vec::new();
    /// system.stop_recording()?.write_chrome(&mut json)?;
    /// assert!(json.starts_with(b"{\"traceEvents\":["));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_chrome(&self, out: impl Write) -> io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 16, out);
        w.write_all(b"{\"traceEvents\":[\n")?;
        let mut first = true;
        let mut sep = |w: &mut BufWriter<_>| -> io::Result<()> {
            if !std::mem::take(&mut first) {
                w.write_all(b",\n")?;
            }
            Ok(())
        };
        sep(&mut w)?;
        w.write_all(br#"{"ph":"M","pid":1,"name":"process_name","args":{"name":"jobs"}}"#)?;
        for (tid, lane) in self.lanes.iter().enumerate() {
            sep(&mut w)?;
            write!(
                w,
                r#"{{"ph":"M","pid":1,"tid":{tid},"name":"thread_name","args":{{"name":{}}}}}"#,
                Json(&lane.name)
            )?;
            sep(&mut w)?;
            write!(
                w,
                r#"{{"ph":"M","pid":1,"tid":{tid},"name":"thread_sort_index","args":{{"sort_index":{tid}}}}}"#
            )?;
        }
        for span in &self.spans {
            sep(&mut w)?;
            write!(
                w,
                r#"{{"ph":"X","pid":1,"tid":{},"ts":{},"dur":{},"name":{},"cat":"job","args":{{"#,
                span.lane,
                Micros(span.start_ns),
                Micros(span.end_ns.saturating_sub(span.start_ns)),
                Json(span.label.name()),
            )?;
            if let Some(frame) = span.frame {
                write!(w, r#""frame":{frame},"#)?;
            }
            write!(w, r#""priority":"{:?}"}}}}"#, span.priority)?;
        }
        for frame in &self.frames {
            let (start, end) = (self.ns(frame.start), self.ns(frame.end));
            let n = frame.number;
            sep(&mut w)?;
            write!(
                w,
                r#"{{"ph":"b","pid":1,"cat":"frame","name":"frame","id":{n},"ts":{},"args":{{"frame":{n}}}}}"#,
                Micros(start)
            )?;
            sep(&mut w)?;
            write!(
                w,
                r#"{{"ph":"e","pid":1,"cat":"frame","name":"frame","id":{n},"ts":{}}}"#,
                Micros(end)
            )?;
            for pass in &frame.passes {
                let name = Json(pass.label.name());
                sep(&mut w)?;
                write!(
                    w,
                    r#"{{"ph":"b","pid":1,"cat":"pass","name":{name},"id":{n},"ts":{},"args":{{"frame":{n}"#,
                    Micros(self.ns(pass.start))
                )?;
                if let Some(worker) = pass.worker {
                    write!(w, r#","worker":{worker}"#)?;
                }
                w.write_all(b"}}")?;
                sep(&mut w)?;
                write!(
                    w,
                    r#"{{"ph":"e","pid":1,"cat":"pass","name":{name},"id":{n},"ts":{}}}"#,
                    Micros(self.ns(pass.end))
                )?;
            }
        }
        for (at, percent) in self.busy_bins() {
            sep(&mut w)?;
            write!(
                w,
                r#"{{"ph":"C","pid":1,"name":"workers busy","ts":{},"args":{{"%":{percent:.1}}}}}"#,
                Micros(at)
            )?;
        }
        for event in &self.events {
            sep(&mut w)?;
            let ts = Micros(event.at_ns);
            let scope = match event.lane {
                Some(tid) => format!(r#""tid":{tid},"s":"t""#),
                None => r#""s":"g""#.to_owned(),
            };
            match &event.kind {
                EventKind::JobPanicked { label, message } => write!(
                    w,
                    r#"{{"ph":"i","pid":1,{scope},"name":"job panicked","ts":{ts},"args":{{"label":{},"message":{}}}}}"#,
                    Json(label.name()),
                    Json(message)
                )?,
                EventKind::FrameOverBudget {
                    frame,
                    took,
                    budget,
                } => write!(
                    w,
                    r#"{{"ph":"i","pid":1,{scope},"name":"frame over budget","ts":{ts},"args":{{"frame":{frame},"ms":{:.3},"budget_ms":{:.3}}}}}"#,
                    took.as_secs_f64() * 1e3,
                    budget.as_secs_f64() * 1e3
                )?,
                EventKind::Message(text) => write!(
                    w,
                    r#"{{"ph":"i","pid":1,{scope},"name":"message","ts":{ts},"args":{{"message":{}}}}}"#,
                    Json(text)
                )?,
            }
        }
        w.write_all(b"\n],\n\"displayTimeUnit\":\"ms\",\n\"jobs\":")?;
        self.write_metadata(&mut w)?;
        w.write_all(b"}\n")?;
        w.flush()
    }

    /// Writes the trace to `path` (through a temporary file beside it, renamed when complete).
    pub fn save_chrome(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let result = File::create(&partial)
            .and_then(|file| self.write_chrome(file))
            .and_then(|()| std::fs::rename(&partial, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    fn write_metadata(&self, w: &mut impl Write) -> io::Result<()> {
        write!(w, r#"{{"format":1,"workers":{},"lanes":["#, self.workers)?;
        for (tid, lane) in self.lanes.iter().enumerate() {
            let kind = match lane.kind {
                LaneKind::Worker(_) => "worker",
                LaneKind::Main => "main",
                LaneKind::Io(_) => "io",
                LaneKind::Helper(_) => "helper",
            };
            if tid > 0 {
                w.write_all(b",")?;
            }
            write!(
                w,
                r#"{{"tid":{tid},"name":{},"kind":"{kind}"}}"#,
                Json(&lane.name)
            )?;
        }
        let stats = &self.stats;
        write!(
            w,
            r#"],"window_us":[0,{}],"spans":{},"dropped_spans":{},"job_system":{{"utilization":{:.6},"busy_us":[{}],"idle_us":[{}],"jobs":{}}},"graph":["#,
            Micros(self.window.as_nanos() as u64),
            self.spans.len(),
            self.dropped_spans,
            stats.utilization(),
            list(
                stats
                    .workers
                    .iter()
                    .map(|s| Micros(s.busy.as_nanos() as u64))
            ),
            list(
                stats
                    .workers
                    .iter()
                    .map(|s| Micros(s.idle.as_nanos() as u64))
            ),
            stats.total_jobs(),
        )?;
        for (i, pass) in self.graph.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            write!(
                w,
                r#"{{"pass":{},"after":[{}],"after_previous":[{}]}}"#,
                Json(pass.label.name()),
                list(pass.after.iter().map(|l| Json(l.name()))),
                list(pass.after_previous.iter().map(|l| Json(l.name()))),
            )?;
        }
        w.write_all(b"],\"frames\":[")?;
        for (i, frame) in self.frames.iter().enumerate() {
            if i > 0 {
                w.write_all(b",\n")?;
            }
            write!(
                w,
                r#"{{"frame":{},"start_us":{},"end_us":{},"utilization":{:.6},"jobs":{},"critical_path":[{}]}}"#,
                frame.number,
                Micros(self.ns(frame.start)),
                Micros(self.ns(frame.end)),
                frame.utilization,
                frame.jobs,
                list(frame.critical_path.iter().map(|l| Json(l.name()))),
            )?;
        }
        w.write_all(b"]}")
    }

    /// The workers' utilization in each millisecond of the window: (start, percent).
    fn busy_bins(&self) -> Vec<(u64, f64)> {
        let window = self.window.as_nanos() as u64;
        if self.workers == 0 || window == 0 {
            return Vec::new();
        }
        let bins = window.div_ceil(BUSY_BIN_NS) as usize;
        let mut busy = vec![0u64; bins];
        for intervals in self.worker_intervals() {
            for (start, end) in intervals {
                let mut at = start;
                while at < end {
                    let bin = (at / BUSY_BIN_NS) as usize;
                    let bin_end = ((bin as u64 + 1) * BUSY_BIN_NS).min(end);
                    if let Some(b) = busy.get_mut(bin) {
                        *b += bin_end - at;
                    }
                    at = bin_end;
                }
            }
        }
        busy.iter()
            .enumerate()
            .map(|(bin, &ns)| {
                let start = bin as u64 * BUSY_BIN_NS;
                let width = (window - start).min(BUSY_BIN_NS) * self.workers as u64;
                (start, 100.0 * ns as f64 / width as f64)
            })
            .collect()
    }
}

/// Nanoseconds written as microseconds with three decimals.
struct Micros(u64);

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// A string written as a JSON string literal.
struct Json<'a>(&'a str);

impl std::fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Items separated by commas.
fn list<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(Json("a\"b\\c\nd\u{1}").to_string(), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(Micros(1_234_567).to_string(), "1234.567");
        assert_eq!(Micros(5).to_string(), "0.005");
    }
}
