//! With the `tracy` feature: a frame graph with stages, a blocking step and a panicking pass
//! runs exactly as without it, whether no profiler is connected (nothing may block, and
//! nothing is kept) or one is: a stand-in that does Tracy's handshake and reads what the
//! client sends, so that every path that sends (zones, frame marks, stage frames, plots,
//! messages) runs.

#![cfg(feature = "tracy")]

mod common;

use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{spin, system, watchdog, DT};
use frame::{FrameError, Frames, FramesConfig, GraphBuilder, Pass, Write};
use jobs::{Action, Context};
use tracy_client::Client;

/// The tests of this file take turns: one connects a profiler, the other needs none.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The frame in which the pass "explode" panics.
const PANIC_AT: u64 = 7;

type LoadPass = Pass<(), Write<u64>>;

/// A pass whose first step blocks on an I/O thread (a zone there too).
fn load(_: &mut LoadPass, _: &mut Context<'_>) -> Action<LoadPass> {
    Action::Blocking(
        |p| {
            let n = p.frame().number;
            *p.resources() = n;
        },
        |_, _| Action::Done,
    )
}

/// Stages "simulate" (two passes, one fanning out) and "render" (two passes and one that
/// panics in frame `PANIC_AT`), two frames in flight, a budget every frame goes over.
fn frames(ran: &Arc<AtomicU64>) -> Frames {
    let mut graph = GraphBuilder::new();
    let input = graph.import("input", 0u64);
    let state = graph.scratch("state", vec![0u64; 64]);
    let image = graph.import("image", 0u64);
    // Carried: a failed frame puts it back to the last good copy (an imported one would be
    // poisoned, failing every later frame).
    let exploded = graph.carried("exploded", 0u64);
    graph.step_pass("load", input.write(), (), load);
    let integrate = graph
        .pass(
            "integrate",
            (input.read(), state.read_previous(), state.write()),
            |(input, before, after), cx| {
                for (out, old) in after.chunks_mut(8).zip(before.chunks(8)) {
                    let input = *input;
                    cx.spawn(move |_| {
                        for (y, y0) in out.iter_mut().zip(old) {
                            *y = y0 + input;
                        }
                        spin(Duration::from_micros(20));
                    });
                }
            },
        )
        .stage("simulate")
        .id();
    graph
        .pass("collide", state.write(), |state, _| state[0] += 1)
        .after(integrate)
        .stage("simulate");
    let r = Arc::clone(ran);
    graph
        .pass("render", (state.read(), image.write()), move |(s, i), _| {
            *i = s.iter().sum();
            spin(Duration::from_micros(100));
            r.fetch_add(1, Ordering::SeqCst);
        })
        .stage("render");
    graph
        .pass("explode", (state.read(), exploded.write()), |(_, e), cx| {
            assert_ne!(cx.frame().number, PANIC_AT, "exploded on purpose");
            *e += 1;
        })
        .stage("render")
        .side_effect();
    graph
        .pass("present", image.read(), |_, _| {})
        .stage("render")
        .side_effect();
    let config = FramesConfig::default()
        .in_flight(2)
        .budget(Some(Duration::from_nanos(1)));
    Frames::with_config(system(2), graph.compile().unwrap(), config).unwrap()
}

/// Runs `count` frames; every frame's job but `PANIC_AT`'s must succeed, and that one must
/// fail naming "explode".
fn run(count: u64) {
    let ran = Arc::new(AtomicU64::new(0));
    let mut frames = frames(&ran);
    let mut errors = Vec::new();
    while frames.next_frame() < count {
        if let Err(error) = frames.run_frame(DT) {
            errors.push(error);
        }
    }
    if let Err(error) = frames.finish() {
        errors.push(error);
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        FrameError::PassPanicked {
            frame,
            pass,
            message,
            ..
        } => {
            assert_eq!((*frame, pass.as_str()), (PANIC_AT, "explode"));
            assert!(message.contains("exploded on purpose"), "{message}");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert_eq!(ran.load(Ordering::SeqCst), count);
    assert_eq!(frames.history().back().map(|f| f.number), Some(count - 1));
}

#[test]
fn with_no_profiler_connected_frames_run_as_without_tracy() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    watchdog(60, || {
        assert!(!Client::is_connected(), "nothing here connects a profiler");
        run(200);
    });
}

/// Tracy's handshake: its shibboleth and the protocol version of the bundled client
/// (tracy-client-sys 0.30: Tracy 0.14.1, `ProtocolVersion` in `common/TracyProtocol.hpp`).
const SHIBBOLETH: &[u8; 8] = b"TracyPrf";
const PROTOCOL_VERSION: u32 = 82;
/// `HandshakeStatus::HandshakeWelcome`.
const WELCOME: u8 = 1;

/// The port this process's Tracy client listens on: one of this process's sockets that
/// listens on TCP (Tracy takes the first free port from 8086 on, so tests running at once each
/// get their own).
#[cfg(target_os = "linux")]
fn tracy_port() -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .ok()?
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let tcp = std::fs::read_to_string("/proc/self/net/tcp").ok()?;
    tcp.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // local_address is fields[1] ("0100007F:1F96"), st fields[3] ("0A": listening),
        // inode fields[9].
        let listening = fields.get(3) == Some(&"0A");
        let ours = fields
            .get(9)
            .is_some_and(|inode| inodes.iter().any(|i| i == inode));
        let port = fields.get(1)?.rsplit(':').next()?;
        (listening && ours).then(|| u16::from_str_radix(port, 16).ok())?
    })
}

/// Connects as a profiler and reads everything the client sends until dropped; returns the
/// byte count read through `received`.
#[cfg(target_os = "linux")]
struct StandIn {
    stream: TcpStream,
    reader: Option<std::thread::JoinHandle<()>>,
    received: Arc<AtomicU64>,
}

#[cfg(target_os = "linux")]
impl StandIn {
    fn connect() -> StandIn {
        let start = Instant::now();
        let port = loop {
            // The client opens its port on a thread of its own, soon after the process starts.
            if let Some(port) = tracy_port() {
                break port;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the Tracy client of this process listens on no port"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(SHIBBOLETH).unwrap();
        stream.write_all(&PROTOCOL_VERSION.to_le_bytes()).unwrap();
        let mut status = [0u8];
        stream.read_exact(&mut status).unwrap();
        assert_eq!(
            status[0], WELCOME,
            "Tracy refused the handshake: does PROTOCOL_VERSION match the bundled client?"
        );
        let received = Arc::new(AtomicU64::new(0));
        let mut reading = stream.try_clone().unwrap();
        let count = Arc::clone(&received);
        let reader = std::thread::spawn(move || {
            let mut buffer = vec![0u8; 1 << 16];
            while let Ok(n @ 1..) = reading.read(&mut buffer) {
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        let start = Instant::now();
        while !Client::is_connected() {
            assert!(start.elapsed() < Duration::from_secs(10), "never connected");
            std::thread::sleep(Duration::from_millis(5));
        }
        StandIn {
            stream,
            reader: Some(reader),
            received,
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        // The client notices when it next sends or reads, within a few milliseconds.
        let start = Instant::now();
        while Client::is_connected() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn with_a_profiler_connected_frames_run_as_without_tracy() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    watchdog(60, || {
        let profiler = StandIn::connect();
        let before = profiler.received.load(Ordering::Relaxed);
        run(200);
        // Zones of thousands of jobs, 200 frame marks, plots: sent within the keep-alive time.
        let start = Instant::now();
        while profiler.received.load(Ordering::Relaxed) - before < 10_000 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the client sent only {} bytes",
                profiler.received.load(Ordering::Relaxed) - before
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(profiler);
        assert!(!Client::is_connected(), "the client saw the profiler go");
        // And frames still run once it has gone.
        run(20);
    });
}
