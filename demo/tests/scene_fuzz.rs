//! Random mutations of the scenes of `assets/`: thousands of them (byte flips, lines deleted,
//! duplicated or cut, numbers replaced by extremes, arrays lengthened and shortened, keys
//! renamed, values of other types) never make the parser panic, hang or allocate more than a
//! bound; every error names a line; every scene accepted runs 5 frames on the job system.
//!
//! The generator has a fixed seed, so a failure reproduces; the failing scene is printed. Set
//! `SCENE_FUZZ_SEED` to try other seeds. The whole test runs under a watchdog.
//!
//! Bounds, to stay well under a minute in a debug build: 8,000 mutated scenes are parsed (about
//! 4 s), and every 50th scene accepted, at most 40 of them, runs 5 frames: a run builds a job
//! system, the image's backdrop and the grid and renders full-size frames, about half a second
//! each in a debug build, so running all of the ~2,000 accepted scenes would take 15 minutes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use demo::run::{self, Backend, Options};
use demo::scene::{self, Collider, Scene};
use demo::sim::World;

/// Counts the bytes allocated now and the most since the last [`Counting::reset_peak`], over
/// every thread of this test binary (it holds this one test only).
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to `System` unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's promises about `layout` are `System`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            Counting::add(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            Counting::add(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) };
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`, and `new_size` is the caller's promise.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            NOW.fetch_sub(layout.size(), Ordering::Relaxed);
            Counting::add(new_size);
        }
        new
    }
}

impl Counting {
    fn add(size: usize) {
        // Relaxed: statistics, read after the work they measure has joined.
        let now = NOW.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    /// Starts a measurement: returns the bytes allocated now.
    fn reset_peak() -> usize {
        let now = NOW.load(Ordering::Relaxed);
        PEAK.store(now, Ordering::Relaxed);
        now
    }

    /// The most bytes allocated at once since `reset_peak` returned `base`, above `base`.
    fn peak_above(base: usize) -> usize {
        PEAK.load(Ordering::Relaxed).saturating_sub(base)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Mutated scenes parsed.
const CASES: usize = 8000;
/// Every this many accepted scenes, one runs for [`FRAMES`] frames, up to [`RUNS`] runs.
const RUN_EVERY: usize = 50;
const RUNS: usize = 40;
const FRAMES: u64 = 5;
/// The most a parse of a scene file (a few kilobytes) may allocate at once.
const PARSE_BOUND: usize = 16 << 20;
/// The most a 5-frame run may allocate at once: a scene at every bound (2,000,000 particles,
/// 4096 x 4096 pixels, 4,194,304 grid cells) needs about 1.5 GiB.
const RUN_BOUND: usize = 2 << 30;
/// The longest one parse may take, and the whole test.
const PARSE_TIME: Duration = Duration::from_secs(2);
const WATCHDOG: Duration = Duration::from_secs(240);

/// xorshift64*: a small deterministic generator, so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Numbers at the edges: zero, signs, beyond f32, below its smallest, 2^32, beyond 64 bits.
const EXTREMES: &[&str] = &[
    "0",
    "-0.0",
    "-1",
    "1",
    "1e300",
    "-1e300",
    "1e-300",
    "1e-40",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "4294967296",
    "4294967295",
    "2147483648",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "0x7fffffff",
    "1e6",
    "1000001",
    "2000000",
    "2000001",
    "4096",
    "4097",
    "3.4e38",
    "1e-7",
];

/// Values of every other type.
const OTHERS: &[&str] = &[
    "\"text\"",
    "\"\"",
    "true",
    "[]",
    "[1]",
    "[1, 2, 3]",
    "[1, 2, 3, 4]",
    "[nan, 1]",
    "[\"a\", \"b\"]",
    "[[1, 2], [3, 4]]",
    "{}",
    "{ x = 1 }",
    "1979-05-27",
    "07:32:00",
];

/// Keys of scenes, misspelt ones, and ones of other tables.
const KEYS: &[&str] = &[
    "name",
    "seed",
    "max_particles",
    "min",
    "max",
    "width",
    "height",
    "gravity",
    "drag",
    "restitution",
    "friction",
    "position",
    "rate",
    "direction",
    "spread",
    "speed",
    "lifetime",
    "colour",
    "color",
    "size",
    "strength",
    "radius",
    "kind",
    "center",
    "repulsion",
    "viscosity",
    "x",
    "emitters",
    "view",
    "",
];

/// The byte ranges of the numbers in `text` (a digit, with what surrounds a TOML number).
fn numbers(text: &[u8]) -> Vec<std::ops::Range<usize>> {
    let part = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'_');
    let mut found = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() && (i == 0 || !part(text[i - 1])) {
            let start = if i > 0 && text[i - 1] == b'-' {
                i - 1
            } else {
                i
            };
            let mut end = i;
            while end < text.len() && part(text[end]) {
                end += 1;
            }
            found.push(start..end);
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// One random change to `text`.
fn mutate(text: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let at = rng.below(lines.len());
    match rng.below(12) {
        // Flip a bit of a byte (possibly making it invalid UTF-8).
        0 => {
            let mut bytes = text.to_vec();
            if !bytes.is_empty() {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            return bytes;
        }
        1 => {
            lines.remove(at);
        }
        2 => {
            let line = lines[at].clone();
            lines.insert(at, line);
        }
        // A number replaced by an extreme.
        3..=5 => {
            let found = numbers(text);
            if !found.is_empty() {
                let range = found[rng.below(found.len())].clone();
                let mut bytes = text[..range.start].to_vec();
                bytes.extend_from_slice(rng.pick(EXTREMES).as_bytes());
                bytes.extend_from_slice(&text[range.end..]);
                return bytes;
            }
        }
        // A value replaced by one of another type.
        6 => {
            if let Some(eq) = lines[at].iter().position(|&b| b == b'=') {
                lines[at].truncate(eq + 1);
                lines[at].push(b' ');
                lines[at].extend_from_slice(rng.pick(OTHERS).as_bytes());
            }
        }
        // An array lengthened or shortened.
        7 | 8 => {
            let line = &lines[at];
            if let (Some(open), Some(close)) = (
                line.iter().position(|&b| b == b'['),
                line.iter().rposition(|&b| b == b']'),
            ) {
                if open < close && line.contains(&b'=') {
                    let inner = &line[open + 1..close];
                    let mut items: Vec<Vec<u8>> =
                        inner.split(|&b| b == b',').map(<[u8]>::to_vec).collect();
                    if rng.below(2) == 0 || items.len() < 2 {
                        let item = match rng.below(3) {
                            0 => items[rng.below(items.len())].clone(),
                            1 => format!(" {}", rng.pick(EXTREMES)).into_bytes(),
                            _ => b" \"x\"".to_vec(),
                        };
                        items.push(item);
                    } else {
                        items.remove(rng.below(items.len()));
                    }
                    let mut changed = line[..=open].to_vec();
                    changed.extend_from_slice(&items.join(&b","[..]));
                    changed.extend_from_slice(&line[close..]);
                    lines[at] = changed;
                }
            }
        }
        // A key renamed.
        9 => {
            if let Some(eq) = lines[at].iter().position(|&b| b == b'=') {
                let mut renamed = rng.pick(KEYS).as_bytes().to_vec();
                renamed.extend_from_slice(b" ");
                renamed.extend_from_slice(&lines[at][eq..]);
                lines[at] = renamed;
            }
        }
        // A stray character.
        10 => {
            let line = &mut lines[at];
            let i = rng.below(line.len() + 1);
            line.insert(i, *rng.pick(b"[]\"={},#\n.'"));
        }
        // Cut short.
        _ => {
            let keep = rng.below(lines.len() + 1);
            lines.truncate(keep);
        }
    }
    lines.join(&b'\n')
}

/// What `parse` promises about a scene it returns, checked independently of `Scene::check`.
fn assert_valid(scene: &Scene, text: &str) {
    let finite = |v: glam::Vec2| v.is_finite();
    let ok = (1..=scene::MAX_PARTICLES).contains(&scene.max_particles)
        && scene.view.min.cmplt(scene.view.max).all()
        && scene::IMAGE_SIDES.contains(&scene.image.width)
        && scene::IMAGE_SIDES.contains(&scene.image.height)
        && finite(scene.physics.gravity)
        && (0.0..=1.0).contains(&scene.physics.restitution)
        && (1..=scene::MAX_ITEMS).contains(&scene.emitters.len())
        && scene.emitters.iter().all(|e| {
            e.rate > 0.0
                && e.lifetime.min > 0.0
                && e.speed.min <= e.speed.max
                && e.rate.is_finite()
                && e.direction.is_finite()
        })
        && scene.colliders.iter().all(|c| match *c {
            Collider::Circle { center, radius } => finite(center) && radius > 0.0,
            Collider::Box { min, max } => min.cmplt(max).all(),
        })
        && World::new(scene.clone()).grid.cells() as u64 <= scene::MAX_GRID_CELLS
        && scene.check().is_ok();
    assert!(ok, "out-of-range scene accepted:\n{text}\n{scene:?}");
}

/// Parses `bytes` as the file `path` would be read (through `load` when it is not UTF-8).
fn parse(bytes: &[u8], path: &Path) -> Result<Scene, scene::SceneError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => scene::parse(text, path),
        Err(_) => {
            std::fs::write(path, bytes).expect("write the mutated scene");
            scene::load(path)
        }
    }
}

/// What a fuzzing round did.
#[derive(Debug, Default)]
struct Counts {
    accepted: usize,
    refused: usize,
    ran: usize,
    parsing: Duration,
    running: Duration,
}

fn fuzz(seed: u64, current: &Mutex<String>) -> Counts {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
    let mut sources: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&assets)
        .expect("assets/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .map(|path| {
            let text = std::fs::read(&path).expect("asset readable");
            (path, text)
        })
        .collect();
    sources.sort();
    assert!(sources.len() >= 3, "{sources:?}");
    let file = std::env::temp_dir().join(format!("demo-scene-fuzz-{}.toml", std::process::id()));
    let mut rng = Rng(seed);
    let mut counts = Counts::default();
    for case in 0..CASES {
        let (source, text) = &sources[case % sources.len()];
        let mut bytes = text.clone();
        for _ in 0..=rng.below(3) {
            bytes = mutate(&bytes, &mut rng);
        }
        let shown = String::from_utf8_lossy(&bytes).into_owned();
        let context = format!(
            "case {case} (seed {seed:#x}), from {}:\n{shown}",
            source.display()
        );
        *current.lock().unwrap_or_else(|e| e.into_inner()) = context.clone();

        let base = Counting::reset_peak();
        let start = Instant::now();
        let result = std::panic::catch_unwind(|| parse(&bytes, &file));
        let (took, peak) = (start.elapsed(), Counting::peak_above(base));
        counts.parsing += took;
        let Ok(result) = result else {
            panic!("parse panicked on {context}");
        };
        assert!(took < PARSE_TIME, "parse took {took:?} on {context}");
        assert!(
            peak <= PARSE_BOUND,
            "parse allocated {peak} bytes on {context}"
        );
        match result {
            Err(error) => {
                counts.refused += 1;
                let lines = shown.lines().count() + 1;
                assert!(
                    error.line.is_some_and(|l| (1..=lines).contains(&l)),
                    "{error}: no line, or not one of the file's, on {context}"
                );
                assert!(
                    !error.message.is_empty(),
                    "{error}: no message on {context}"
                );
            }
            Ok(scene) => {
                counts.accepted += 1;
                assert_valid(&scene, &context);
                if counts.accepted % RUN_EVERY == 1 && counts.ran < RUNS {
                    counts.ran += 1;
                    let start = Instant::now();
                    run_frames(scene, &context);
                    counts.running += start.elapsed();
                }
            }
        }
    }
    let _ = std::fs::remove_file(&file);
    counts
}

/// Runs an accepted scene for [`FRAMES`] frames on 2 workers, within [`RUN_BOUND`].
fn run_frames(scene: Scene, context: &str) {
    let options = Options {
        backend: Backend::Jobs,
        workers: 2,
        frames: FRAMES,
        out: None,
        snapshot_every: 60,
        window: false,
        trace: None,
        background: None,
    };
    let base = Counting::reset_peak();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        run::run(World::new(scene), &options, &mut |_| {})
    }));
    let peak = Counting::peak_above(base);
    match outcome {
        Err(_) => panic!("the run panicked on {context}"),
        Ok(Err(error)) => panic!("the run failed ({error}) on {context}"),
        Ok(Ok(summary)) => assert_eq!(summary.frames, FRAMES, "{context}"),
    }
    assert!(
        peak <= RUN_BOUND,
        "the run allocated {peak} bytes on {context}"
    );
}

#[test]
fn mutated_scenes_never_panic_hang_or_overallocate_and_accepted_ones_run() {
    let seed = std::env::var("SCENE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let current = Arc::new(Mutex::new(String::new()));
    let (done, finished) = mpsc::channel();
    let fuzzing = Arc::clone(&current);
    let worker = std::thread::spawn(move || {
        let counts = fuzz(seed, &fuzzing);
        let _ = done.send(counts);
    });
    let counts = match finished.recv_timeout(WATCHDOG) {
        Ok(counts) => counts,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let case = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
            panic!("no end after {WATCHDOG:?}: hanging on {case}");
        }
        // The fuzzing thread panicked: its message names the scene.
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sends before it ends"),
        },
    };
    let Counts {
        accepted,
        refused,
        ran,
        parsing,
        running,
    } = counts;
    eprintln!(
        "{CASES} mutated scenes: {accepted} accepted ({ran} ran {FRAMES} frames), {refused} \
         refused; parsing {parsing:.1?}, running {running:.1?}"
    );
    // The mutations must reach both outcomes for the test to mean anything.
    assert!(
        accepted > 500 && refused > 4000,
        "accepted {accepted}, refused {refused}"
    );
    assert!(ran >= 20, "only {ran} runs");
}
