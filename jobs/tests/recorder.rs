//! The recorder: every job run becomes a span (or is counted as dropped), spans carry the job's
//! label, frame and priority, the Chrome trace is valid JSON with the expected events, and the
//! utilization measured from spans agrees with the job system's statistics.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::watchdog;
use jobs::trace::RecordingError;
use jobs::trace::{EventKind, FrameRecord, LaneKind, PassRecord, Trace};
use jobs::{Config, Job, JobSystem, Label, Priority};

fn system(workers: usize, memory: usize) -> JobSystem {
    JobSystem::new(
        Config::default()
            .workers(workers)
            .core_affinity(false)
            .recorder_memory(memory),
    )
    .expect("valid config")
}

fn spans_by_label(trace: &Trace) -> HashMap<Label, usize> {
    let mut counts = HashMap::new();
    for span in &trace.spans {
        *counts.entry(span.label).or_insert(0) += 1;
    }
    counts
}

/// Spins for about `micros` microseconds.
fn work(micros: u64) {
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[test]
fn every_job_run_under_load_is_a_span_with_its_label_frame_and_priority() {
    watchdog(120, || {
        let system = Arc::new(system(2, 256 << 20));
        system.start_recording().expect("not recording yet");
        const THREADS: usize = 4;
        const JOBS: usize = 20_000;
        let children = Label::new("recorder-test-child");
        // Outside threads submit and wait (and help, on lanes lent to them), the workers run.
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let system = Arc::clone(&system);
                s.spawn(move || {
                    let label = Label::new(&format!("recorder-test-{t}"));
                    let done = system.counter();
                    let inner = done.clone();
                    let priority = Priority::ALL[t % 3];
                    for i in 0..JOBS {
                        let inner = inner.clone();
                        let job = Job::from_fn(move |cx| {
                            // Every 100th job spawns a child that inherits label and frame,
                            // unless it sets its own label.
                            if i % 100 == 0 {
                                cx.spawn_job_counted(
                                    &inner,
                                    Job::from_fn(|_| {}).with_label(children),
                                );
                                cx.spawn_job_counted(&inner, Job::from_fn(|_| {}));
                            }
                        });
                        let job = job
                            .with_label(label)
                            .in_frame(t as u32)
                            .with_priority(priority);
                        system.submit_counted(&done, job);
                    }
                    system.wait(&done).expect("no panic");
                });
            }
        });
        let trace = system.stop_recording().expect("recording");
        assert_eq!(trace.dropped_spans, 0);
        let counts = spans_by_label(&trace);
        for t in 0..THREADS {
            let label = Label::new(&format!("recorder-test-{t}"));
            // Its own jobs plus the inheriting children.
            assert_eq!(counts.get(&label), Some(&(JOBS + JOBS / 100)), "thread {t}");
            for span in trace.spans.iter().filter(|s| s.label == label) {
                assert_eq!(span.frame, Some(t as u32));
                assert_eq!(span.priority, Priority::ALL[t % 3]);
            }
        }
        assert_eq!(counts.get(&children), Some(&(THREADS * JOBS / 100)));
        let window = trace.window.as_nanos() as u64;
        for span in &trace.spans {
            assert!(span.start_ns <= span.end_ns && span.end_ns <= window);
            assert!(usize::from(span.lane) < trace.lanes.len());
        }
        // Workers ran most of them; helpers ran some on lent lanes.
        let on = |kind: fn(&LaneKind) -> bool| {
            trace
                .spans
                .iter()
                .filter(|s| kind(&trace.lanes[usize::from(s.lane)].kind))
                .count()
        };
        assert!(on(|k| matches!(k, LaneKind::Worker)) > 0);
        assert_eq!(
            on(|k| matches!(k, LaneKind::Worker | LaneKind::Helper | LaneKind::Main)),
            trace.spans.len()
        );
    });
}

#[test]
fn a_recorder_out_of_memory_counts_every_span_it_drops() {
    watchdog(60, || {
        // Less than the least the recorder keeps: two chunks of 4096 spans per lane (16 here).
        let system = system(2, 100 << 10);
        system.start_recording().expect("not recording yet");
        let done = system.counter();
        const JOBS: usize = 200_000;
        system.submit_batch(&done, (0..JOBS).map(|_| Job::from_fn(|_| {})));
        system.wait(&done).expect("no panic");
        let trace = system.stop_recording().expect("recording");
        assert!(
            trace.dropped_spans > 0,
            "the budget was too small to keep all"
        );
        assert_eq!(trace.spans.len() as u64 + trace.dropped_spans, JOBS as u64);
        // Memory comes back: a second recording of a few jobs keeps them all.
        system.start_recording().expect("stopped");
        let done = system.counter();
        system.submit_batch(&done, (0..100).map(|_| Job::from_fn(|_| {})));
        system.wait(&done).expect("no panic");
        let trace = system.stop_recording().expect("recording");
        assert_eq!((trace.spans.len(), trace.dropped_spans), (100, 0));
    });
}

#[test]
fn recordings_start_and_stop_once_and_do_not_mix() {
    watchdog(60, || {
        let system = system(2, 16 << 20);
        assert_eq!(
            system.stop_recording().err(),
            Some(RecordingError::NotRecording)
        );
        system.start_recording().expect("not recording yet");
        assert_eq!(
            system.start_recording(),
            Err(RecordingError::AlreadyRecording)
        );
        let first = Label::new("recorder-test-first");
        let done = system.counter();
        system.submit_batch(
            &done,
            (0..500).map(|_| Job::from_fn(|_| {}).with_label(first)),
        );
        system.wait(&done).expect("no panic");
        let one = system.stop_recording().expect("recording");
        assert_eq!(spans_by_label(&one).get(&first), Some(&500));
        // Jobs run while not recording leave nothing.
        let done = system.counter();
        system.submit_batch(
            &done,
            (0..500).map(|_| Job::from_fn(|_| {}).with_label(first)),
        );
        system.wait(&done).expect("no panic");
        system.start_recording().expect("stopped");
        let two = system.stop_recording().expect("recording");
        assert_eq!(spans_by_label(&two).get(&first), None);
        assert_eq!(
            RecordingError::NotRecording.to_string(),
            "the job system is not recording"
        );
    });
}

#[test]
fn utilization_from_spans_agrees_with_the_statistics() {
    watchdog(60, || {
        let system = system(2, 64 << 20);
        system.start_recording().expect("not recording yet");
        // Bursts of work with idle gaps between them.
        for _ in 0..20 {
            let done = system.counter();
            system.submit_batch(&done, (0..40).map(|_| Job::from_fn(|_| work(100))));
            system.wait(&done).expect("no panic");
            std::thread::sleep(Duration::from_millis(2));
        }
        let trace = system.stop_recording().expect("recording");
        let from_spans = trace.utilization();
        let from_stats = trace.stats.utilization();
        assert!(
            (from_spans - from_stats).abs() < 0.01,
            "spans {from_spans:.4}, statistics {from_stats:.4}"
        );
        assert!(from_spans > 0.05 && from_spans < 0.95, "{from_spans}");
        assert_eq!(trace.worker_busy().len(), 2);
    });
}

#[test]
fn a_job_waiting_inside_another_gives_nested_spans_counted_once() {
    watchdog(60, || {
        // The main thread does not help: the one worker runs everything.
        let system = Arc::new(
            JobSystem::new(
                Config::default()
                    .workers(1)
                    .core_affinity(false)
                    .help_while_waiting(false),
            )
            .expect("valid config"),
        );
        system.start_recording().expect("not recording yet");
        let outer = Label::new("recorder-test-outer");
        let inner = Label::new("recorder-test-inner");
        let done = system.counter();
        let sys = Arc::clone(&system);
        system.submit_counted(
            &done,
            Job::from_fn(move |_| {
                let nested = sys.counter();
                for _ in 0..10 {
                    sys.submit_counted(&nested, Job::from_fn(|_| work(200)).with_label(inner));
                }
                // On the only worker: it runs the nested jobs inside this one.
                sys.wait(&nested).expect("no panic");
            })
            .with_label(outer),
        );
        system.wait(&done).expect("no panic");
        let trace = system.stop_recording().expect("recording");
        let outer_span = trace
            .spans
            .iter()
            .find(|s| s.label == outer)
            .expect("the outer job's span");
        let nested: Vec<_> = trace.spans.iter().filter(|s| s.label == inner).collect();
        assert_eq!(nested.len(), 10);
        assert_eq!(outer_span.lane, 0);
        for span in &nested {
            assert_eq!(span.lane, 0);
            assert!(span.start_ns >= outer_span.start_ns && span.end_ns <= outer_span.end_ns);
        }
        // Busy time counts the outer span once, not the nested ones again.
        let busy = trace.worker_busy()[0].as_nanos() as u64;
        let summed: u64 = trace.spans.iter().map(|s| s.end_ns - s.start_ns).sum();
        assert!(busy >= outer_span.end_ns - outer_span.start_ns);
        assert!(busy < summed, "busy {busy} ns, spans summed {summed} ns");
        assert!(busy <= trace.window.as_nanos() as u64);
    });
}

#[test]
fn the_chrome_trace_is_valid_json_with_lanes_spans_frames_counters_and_events() {
    watchdog(60, || {
        let system = system(2, 16 << 20);
        system.start_recording().expect("not recording yet");
        let physics = Label::new("recorder-test \"physics\"");
        let start = Instant::now();
        let done = system.counter();
        for i in 0..200 {
            system.submit_counted(
                &done,
                Job::from_fn(move |_| work(if i % 50 == 0 { 500 } else { 5 }))
                    .with_label(physics)
                    .in_frame(3)
                    .with_priority(Priority::High),
            );
        }
        let boom = Label::new("recorder-test-boom");
        let failed = system.counter();
        system.submit_counted(
            &failed,
            Job::from_fn(|_| panic!("recorder test panic")).with_label(boom),
        );
        system.wait(&done).expect("no panic");
        assert!(system.wait(&failed).is_err());
        std::thread::sleep(Duration::from_millis(3));
        let end = Instant::now();
        system.recorder().record_frame(FrameRecord {
            number: 3,
            start,
            end,
            utilization: 0.5,
            jobs: 201,
            critical_path: vec![physics],
            passes: vec![PassRecord {
                label: physics,
                start,
                end,
                worker: Some(0),
            }],
        });
        system.recorder().message("hello \"trace\"");
        let trace = system.stop_recording().expect("recording");
        assert!(trace.events.iter().any(|e| matches!(
            &e.kind,
            EventKind::JobPanicked { label, message } if *label == boom && message == "recorder test panic"
        )));
        let mut json = Vec::new();
        trace.write_chrome(&mut json).expect("written to memory");
        let value: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
        let events = value["traceEvents"].as_array().expect("traceEvents");
        let of = |ph: &'static str| events.iter().filter(move |e| e["ph"] == ph);
        // A name per lane.
        let names: Vec<&str> = of("M")
            .filter(|e| e["name"] == "thread_name")
            .map(|e| e["args"]["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(&names[..3], ["worker 0", "worker 1", "main"]);
        // Spans: as many as recorded, with the label (quotes escaped), frame and priority.
        let spans: Vec<_> = of("X").collect();
        assert_eq!(spans.len(), trace.spans.len());
        let physics_spans: Vec<_> = spans
            .iter()
            .filter(|e| e["name"] == "recorder-test \"physics\"")
            .collect();
        assert_eq!(physics_spans.len(), 200);
        for e in &physics_spans {
            assert_eq!(e["args"]["frame"], 3);
            assert_eq!(e["args"]["priority"], "High");
            assert!(e["ts"].as_f64().expect("ts") >= 0.0);
            assert!(e["dur"].as_f64().expect("dur") >= 0.0);
            let tid = e["tid"].as_u64().expect("tid") as usize;
            assert!(tid < trace.lanes.len(), "a lane of the trace");
        }
        // The frame and its pass as async begin/end pairs.
        assert_eq!(of("b").filter(|e| e["cat"] == "frame").count(), 1);
        assert_eq!(of("e").filter(|e| e["cat"] == "frame").count(), 1);
        assert_eq!(of("b").filter(|e| e["cat"] == "pass").count(), 1);
        // The utilization counter, one value per millisecond, percentages.
        let counters: Vec<f64> = of("C")
            .map(|e| e["args"]["%"].as_f64().expect("a percentage"))
            .collect();
        assert!(counters.len() as u128 >= trace.window.as_millis());
        assert!(counters.iter().all(|p| (0.0..=100.0).contains(p)));
        // Instant events: the panic and the message.
        assert!(of("i")
            .any(|e| e["name"] == "job panicked" && e["args"]["message"] == "recorder test panic"));
        assert!(of("i").any(|e| e["args"]["message"] == "hello \"trace\""));
        // The metadata the tools read.
        let meta = &value["jobs"];
        assert_eq!(meta["format"], 1);
        assert_eq!(meta["workers"], 2);
        assert_eq!(meta["spans"], trace.spans.len());
        assert_eq!(meta["dropped_spans"], 0);
        assert_eq!(meta["frames"][0]["frame"], 3);
        assert_eq!(
            meta["frames"][0]["critical_path"][0],
            "recorder-test \"physics\""
        );
        let utilization = meta["job_system"]["utilization"]
            .as_f64()
            .expect("a number");
        assert!((utilization - trace.stats.utilization()).abs() < 1e-5);
        assert_eq!(meta["lanes"][2]["kind"], "main");
    });
}

#[test]
fn save_chrome_writes_the_file_or_names_the_error() {
    watchdog(60, || {
        let system = system(1, 16 << 20);
        system.start_recording().expect("not recording yet");
        let ran = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&ran);
        let done = system.counter();
        system.submit_counted(
            &done,
            Job::from_fn(move |_| {
                r.fetch_add(1, Ordering::Relaxed);
            }),
        );
        system.wait(&done).expect("no panic");
        let trace = system.stop_recording().expect("recording");
        let dir = std::env::temp_dir().join(format!("jobs-recorder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let path = dir.join("trace.json");
        trace.save_chrome(&path).expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        serde_json::from_str::<serde_json::Value>(&text).expect("valid JSON");
        assert!(!dir.join("trace.json.partial").exists());
        assert!(trace.save_chrome(dir.join("missing/trace.json")).is_err());
        assert!(!dir.join("missing").exists());
        std::fs::remove_dir_all(&dir).expect("cleaned up");
        assert_eq!(ran.load(Ordering::Relaxed), 1);
    });
}
