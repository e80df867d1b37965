//! Stress: thousands of frames over random graphs. Random passes read and write random imported,
//! per-frame and transient resources, with random explicit orderings and side effects. A graph
//! that does not compile must fail with one of the errors its declarations can cause, naming
//! what it should; a graph that compiles runs with 1 to 3 frames in flight while every pass
//! takes a readers/writer guard on what it touches, so that two conflicting passes running at
//! once (in a frame or across frames) are caught, and every kept pass must run exactly once a
//! frame, every culled pass never.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{spin, system, watchdog, AddressGuards, Conflicts, Guard, Rng, DT};
use frame::{Access, Buf, Frames, FramesConfig, GraphBuilder, GraphError, PassId, Res};

const IMPORTED: usize = 2;
const PER_FRAME: usize = 2;
const TRANSIENT: usize = 2;
const TRANSIENT_LEN: usize = 32;
const MAX_ACCESSES: usize = 3;

/// An imported or per-frame resource: a guard, and how often it was written.
#[derive(Debug, Default)]
struct Tracked {
    guard: Guard,
    writes: u64,
}

impl Clone for Tracked {
    /// A per-frame copy: its own guard.
    fn clone(&self) -> Self {
        Tracked {
            guard: Guard::default(),
            writes: self.writes,
        }
    }

    /// A carried copy made from the previous frame's, by the `carry` pass: nothing else may
    /// hold this frame's copy meanwhile (the guard is kept, not replaced).
    fn clone_from(&mut self, source: &Self) {
        assert_eq!(
            self.guard.held(),
            0,
            "a pass held a carried copy while the carry pass made it"
        );
        self.writes = source.writes;
    }
}

/// One declared access: to `Res` number `r` (imported first, then per-frame) or `Buf` number `b`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Acc {
    Read(usize),
    Write(usize),
    ReadPrevious(usize),
    ReadBuf(usize),
    WriteBuf(usize),
}

impl Acc {
    /// The resource's name, and whether the access writes it.
    fn resource(self) -> (String, bool) {
        match self {
            Acc::Read(r) | Acc::ReadPrevious(r) => (res_name(r), false),
            Acc::Write(r) => (res_name(r), true),
            Acc::ReadBuf(b) => (buf_name(b), false),
            Acc::WriteBuf(b) => (buf_name(b), true),
        }
    }
}

fn res_name(r: usize) -> String {
    if r < IMPORTED {
        format!("imported{r}")
    } else {
        format!("per-frame{}", r - IMPORTED)
    }
}

fn buf_name(b: usize) -> String {
    format!("transient{b}")
}

#[derive(Clone, Debug)]
struct PassSpec {
    index: usize,
    name: String,
    accesses: Vec<Acc>,
    before: Vec<String>,
    after: Vec<String>,
    side_effect: bool,
}

fn random_access(rng: &mut Rng) -> Acc {
    let resource = rng.below(IMPORTED + PER_FRAME + TRANSIENT);
    if resource >= IMPORTED + PER_FRAME {
        let b = resource - IMPORTED - PER_FRAME;
        if rng.chance(60) {
            Acc::ReadBuf(b)
        } else {
            Acc::WriteBuf(b)
        }
    } else if resource >= IMPORTED && rng.chance(30) {
        Acc::ReadPrevious(resource)
    } else if rng.chance(65) {
        Acc::Read(resource)
    } else {
        Acc::Write(resource)
    }
}

fn random_graph(rng: &mut Rng) -> Vec<PassSpec> {
    let count = 2 + rng.below(6);
    let mut passes: Vec<PassSpec> = (0..count)
        .map(|index| {
            let wanted = 1 + rng.below(MAX_ACCESSES);
            let mut accesses: Vec<Acc> = Vec::new();
            while accesses.len() < wanted {
                let access = random_access(rng);
                let again = accesses
                    .iter()
                    .any(|a| a.resource().0 == access.resource().0);
                // Mostly distinct resources; now and then a second access to the same one
                // (rejected unless it pairs read_previous with another access).
                if !again || rng.chance(5) {
                    accesses.push(access);
                }
            }
            PassSpec {
                index,
                name: format!("pass{index}"),
                accesses,
                before: Vec::new(),
                after: Vec::new(),
                side_effect: rng.chance(25),
            }
        })
        .collect();
    // Most transients that are read get a writer (else nearly every graph fails to compile).
    for b in 0..TRANSIENT {
        let read = passes.iter().any(|p| p.accesses.contains(&Acc::ReadBuf(b)));
        let written = passes
            .iter()
            .any(|p| p.accesses.contains(&Acc::WriteBuf(b)));
        if read && !written && rng.chance(85) {
            let free: Vec<usize> = (0..count)
                .filter(|&p| {
                    passes[p].accesses.len() < MAX_ACCESSES
                        && !passes[p].accesses.contains(&Acc::ReadBuf(b))
                })
                .collect();
            if !free.is_empty() {
                let p = free[rng.below(free.len())];
                passes[p].accesses.push(Acc::WriteBuf(b));
            }
        }
    }
    for i in 0..count {
        // Mostly forward orderings (which order writers), sometimes backward (cycles).
        if rng.chance(40) {
            let j = rng.below(count);
            if j != i {
                let name = passes[j].name.clone();
                if j > i || rng.chance(30) {
                    passes[i].before.push(name);
                } else {
                    passes[i].after.push(name);
                }
            }
        }
    }
    passes
}

/// Everything a pass body needs to check what it does.
#[derive(Clone)]
struct Env {
    conflicts: Conflicts,
    buffers: AddressGuards,
    /// Runs of pass `p` in frame `n`, at `p * frames + n`.
    runs: Arc<Vec<AtomicU32>>,
    frames: usize,
}

/// What a pass does with one item of its resources while it holds them.
struct Visit<'e> {
    who: &'e str,
    frame: u64,
    stamp: u32,
    env: &'e Env,
}

/// Takes and releases the guards of a pass's items (nested pairs of them).
trait Touch {
    fn enter(&mut self, visit: &Visit<'_>);
    fn leave(&mut self, visit: &Visit<'_>);
}

impl Touch for () {
    fn enter(&mut self, _: &Visit<'_>) {}
    fn leave(&mut self, _: &Visit<'_>) {}
}

impl<A: Touch, B: Touch> Touch for (A, B) {
    fn enter(&mut self, visit: &Visit<'_>) {
        self.0.enter(visit);
        self.1.enter(visit);
    }
    fn leave(&mut self, visit: &Visit<'_>) {
        self.1.leave(visit);
        self.0.leave(visit);
    }
}

impl Touch for &Tracked {
    fn enter(&mut self, visit: &Visit<'_>) {
        self.guard.read(visit.who, &visit.env.conflicts);
    }
    fn leave(&mut self, _: &Visit<'_>) {
        self.guard.end_read();
    }
}

impl Touch for &mut Tracked {
    fn enter(&mut self, visit: &Visit<'_>) {
        self.guard.write(visit.who, &visit.env.conflicts);
        self.writes += 1;
    }
    fn leave(&mut self, _: &Visit<'_>) {
        self.guard.end_write();
    }
}

impl Touch for &[u32] {
    fn enter(&mut self, visit: &Visit<'_>) {
        visit
            .env
            .buffers
            .read(self.as_ptr() as usize, visit.who, &visit.env.conflicts);
        // Written in this frame (a writer is ordered before every reader), all of it.
        let first = self[0];
        if first >> 8 != visit.frame as u32 || self.iter().any(|&x| x != first) {
            visit.env.conflicts.report(format!(
                "{} in frame {} read a transient stamped {first:#x}",
                visit.who, visit.frame
            ));
        }
    }
    fn leave(&mut self, visit: &Visit<'_>) {
        visit.env.buffers.end_read(self.as_ptr() as usize);
    }
}

impl Touch for &mut [u32] {
    fn enter(&mut self, visit: &Visit<'_>) {
        visit
            .env
            .buffers
            .write(self.as_ptr() as usize, visit.who, &visit.env.conflicts);
        self.fill(visit.stamp);
    }
    fn leave(&mut self, visit: &Visit<'_>) {
        visit.env.buffers.end_write(self.as_ptr() as usize);
    }
}

/// Handles of one random graph's resources.
struct Handles {
    res: Vec<Res<Tracked>>,
    bufs: Vec<Buf<u32>>,
}

/// Declares the access `$acc` as `$a` and continues with `$next`.
macro_rules! with_access {
    ($handles:expr, $acc:expr, |$a:ident| $next:expr) => {
        match $acc {
            Acc::Read(r) => {
                let $a = $handles.res[r].read();
                $next
            }
            Acc::Write(r) => {
                let $a = $handles.res[r].write();
                $next
            }
            Acc::ReadPrevious(r) => {
                let $a = $handles.res[r].read_previous();
                $next
            }
            Acc::ReadBuf(b) => {
                let $a = $handles.bufs[b].read();
                $next
            }
            Acc::WriteBuf(b) => {
                let $a = $handles.bufs[b].write();
                $next
            }
        }
    };
}

// A pass's accesses are a type; the random ones are built one level at a time (a bounded
// depth, so that the compiler instantiates a finite number of them).
fn declare(graph: &mut GraphBuilder, h: &Handles, spec: &PassSpec, env: &Env) -> PassId {
    match spec.accesses.first() {
        None => finish(graph, spec, (), env),
        Some(&acc) => with_access!(h, acc, |a| declare1(graph, h, spec, ((), a), env)),
    }
}

fn declare1<A>(
    graph: &mut GraphBuilder,
    h: &Handles,
    spec: &PassSpec,
    access: A,
    env: &Env,
) -> PassId
where
    A: Access,
    for<'c> A::Item<'c>: Touch,
{
    match spec.accesses.get(1) {
        None => finish(graph, spec, access, env),
        Some(&acc) => with_access!(h, acc, |a| declare2(graph, h, spec, (access, a), env)),
    }
}

fn declare2<A>(
    graph: &mut GraphBuilder,
    h: &Handles,
    spec: &PassSpec,
    access: A,
    env: &Env,
) -> PassId
where
    A: Access,
    for<'c> A::Item<'c>: Touch,
{
    match spec.accesses.get(2) {
        None => finish(graph, spec, access, env),
        Some(&acc) => with_access!(h, acc, |a| finish(graph, spec, (access, a), env)),
    }
}

fn finish<A>(graph: &mut GraphBuilder, spec: &PassSpec, access: A, env: &Env) -> PassId
where
    A: Access,
    for<'c> A::Item<'c>: Touch,
{
    assert!(spec.accesses.len() <= MAX_ACCESSES);
    let env = env.clone();
    let (index, name) = (spec.index, spec.name.clone());
    let mut config = graph.pass(&spec.name, access, move |mut items, cx| {
        let frame = cx.frame().number;
        env.runs[index * env.frames + frame as usize].fetch_add(1, Ordering::SeqCst);
        let visit = Visit {
            who: &name,
            frame,
            stamp: (frame as u32) << 8 | index as u32,
            env: &env,
        };
        items.enter(&visit);
        spin(Duration::from_micros(5 + (frame % 4) * 10));
        items.leave(&visit);
    });
    if spec.side_effect {
        config = config.side_effect();
    }
    config.id()
}

/// Checks that a compile error is one the declarations can cause, naming what it should.
fn check_error(error: &GraphError, specs: &[PassSpec]) -> &'static str {
    let spec = |name: &str| -> &PassSpec {
        specs
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{error:?} names `{name}`, which is no pass"))
    };
    match error {
        GraphError::Cycle { passes, .. } => {
            assert!(passes.len() >= 3, "{error:?}");
            assert_eq!(passes.first(), passes.last(), "{error:?}");
            for name in passes {
                spec(name);
            }
            "cycle"
        }
        GraphError::UnorderedWrites {
            resource,
            first,
            second,
        } => {
            assert_ne!(first, second);
            for name in [first, second] {
                assert!(
                    spec(name)
                        .accesses
                        .iter()
                        .any(|a| a.resource() == (resource.clone(), true)),
                    "{error:?}: `{name}` does not write `{resource}`"
                );
            }
            "unordered writes"
        }
        GraphError::ReadWithoutWriter { pass, resource } => {
            assert!(resource.starts_with("transient"), "{error:?}");
            assert!(
                spec(pass)
                    .accesses
                    .iter()
                    .any(|a| a.resource() == (resource.clone(), false)),
                "{error:?}"
            );
            "read without writer"
        }
        GraphError::DuplicateAccess { pass, resource } => {
            let declared = spec(pass)
                .accesses
                .iter()
                .filter(|a| a.resource().0 == *resource)
                .count();
            assert!(declared >= 2, "{error:?}");
            "duplicate access"
        }
        other => panic!("a random graph cannot cause {other:?}"),
    }
}

#[derive(Default, Debug)]
struct Tally {
    graphs: usize,
    compiled: usize,
    frames: usize,
    errors: std::collections::BTreeMap<&'static str, usize>,
}

fn run_graph(rng: &mut Rng, specs: &[PassSpec], tally: &mut Tally) {
    let frame_count = 10 + rng.below(31);
    let env = Env {
        conflicts: Conflicts::default(),
        buffers: AddressGuards::default(),
        runs: Arc::new(
            (0..specs.len() * frame_count)
                .map(|_| AtomicU32::new(0))
                .collect(),
        ),
        frames: frame_count,
    };
    let mut graph = GraphBuilder::new();
    let handles = Handles {
        res: (0..IMPORTED + PER_FRAME)
            .map(|r| {
                if r < IMPORTED {
                    graph.import(&res_name(r), Tracked::default())
                } else if rng.chance(50) {
                    // Carried: a `carry` pass of its own, ordered before every other use.
                    graph.carried(&res_name(r), Tracked::default())
                } else {
                    graph.scratch(&res_name(r), Tracked::default())
                }
            })
            .collect(),
        bufs: (0..TRANSIENT)
            .map(|b| graph.transient::<u32>(&buf_name(b), TRANSIENT_LEN))
            .collect(),
    };
    let ids: HashMap<&str, PassId> = specs
        .iter()
        .map(|spec| {
            (
                spec.name.as_str(),
                declare(&mut graph, &handles, spec, &env),
            )
        })
        .collect();
    for spec in specs {
        for other in &spec.before {
            graph.order(ids[spec.name.as_str()], ids[other.as_str()]);
        }
        for other in &spec.after {
            graph.order(ids[other.as_str()], ids[spec.name.as_str()]);
        }
    }
    tally.graphs += 1;
    let graph = match graph.compile() {
        Ok(graph) => graph,
        Err(error) => {
            let kind = check_error(&error, specs);
            *tally.errors.entry(kind).or_default() += 1;
            return;
        }
    };
    tally.compiled += 1;
    let kept: Vec<bool> = specs
        .iter()
        .map(|s| graph.order().contains(&s.name.as_str()))
        .collect();
    for (spec, &kept) in specs.iter().zip(&kept) {
        let writes_lasting = spec.accesses.iter().any(|a| matches!(a, Acc::Write(_)));
        if spec.side_effect || writes_lasting {
            assert!(
                kept,
                "`{}` has an effect beyond the frame but was culled",
                spec.name
            );
        }
        assert_eq!(
            graph.culled().contains(&spec.name.as_str()),
            !kept,
            "every pass is kept or culled"
        );
    }
    let in_flight = 1 + rng.below(3);
    let config = FramesConfig::default().in_flight(in_flight);
    let mut frames = Frames::with_config(system(2), graph, config).unwrap();
    for _ in 0..frame_count {
        frames.run_frame(DT).unwrap();
    }
    frames.finish().unwrap();
    tally.frames += frame_count;
    env.conflicts.assert_none();
    for (p, spec) in specs.iter().enumerate() {
        for n in 0..frame_count {
            let runs = env.runs[p * frame_count + n].load(Ordering::SeqCst);
            assert_eq!(
                runs,
                u32::from(kept[p]),
                "`{}` (kept: {}) ran {runs} times in frame {n} with {in_flight} in flight: \
                 {specs:#?}",
                spec.name,
                kept[p]
            );
        }
    }
    // Every guard was given back.
    for &res in &handles.res {
        assert_eq!(frames.resource(res).unwrap().guard.held(), 0);
    }
}

#[test]
fn random_graphs_run_without_conflicts() {
    watchdog(120, || {
        let start = Instant::now();
        let mut rng = Rng::new(0x5eed_f4a3_e0f1_a5e5);
        let mut tally = Tally::default();
        while tally.frames < 10_000 {
            let specs = random_graph(&mut rng);
            run_graph(&mut rng, &specs, &mut tally);
        }
        eprintln!("{tally:?} in {:?}", start.elapsed());
        // The generator reaches every outcome (the seed is fixed: this is deterministic).
        assert!(tally.compiled * 3 >= tally.graphs, "{tally:?}");
        for kind in [
            "cycle",
            "unordered writes",
            "read without writer",
            "duplicate access",
        ] {
            assert!(
                tally.errors.get(kind).copied().unwrap_or(0) > 0,
                "no {kind}: {tally:?}"
            );
        }
    });
}
