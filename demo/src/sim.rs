//! The particle simulation: its state, and the stages of one step as kernels over chunks.
//!
//! One step (one frame) is a pipeline of stages; each fans out over chunks of particles through
//! a [`Fan`], which is a frame-graph pass's jobs, a rayon scope, or a plain loop, so that every
//! backend runs the very same kernels:
//!
//! | stage | reads | writes | fan-out |
//! |---|---|---|---|
//! | [`count_alive`] | previous state | alive count per chunk | a job per chunk |
//! | [`integrate`] | previous state, counts | staging (survivors compacted, then the newborn) | a job per chunk |
//! | [`collide`] | scene | staging | a job per chunk |
//! | [`bin`] | staging | grid cell per particle, cell histogram per band | a job per band |
//! | [`prefix`] | histograms | cell starts, offsets per band | one job |
//! | `scatter` | staging, cells, offsets | state, sorted by cell | a job per band |
//! | [`neighbours`] | state | interaction force per particle | a job per chunk |
//!
//! Determinism: no kernel's result depends on how the work is split or on which thread runs it.
//! Survivors keep their order, newborn particles come from a counter-based random generator
//! keyed by (seed, frame, emitter, index), the sort is stable (bands in order, particles in
//! order within a band), and the neighbour sums visit neighbours in a fixed order. The same
//! scene gives bit-identical state on every backend and any number of workers.
//!
//! `scatter` writes through raw pointers, several jobs into one slice at indices that `bin` and
//! `prefix` computed; it is sound only on their output, so it is an `unsafe fn` private to this
//! crate (the two loops of [`run`](crate::run) call it). Outside the crate it cannot be named:
//!
//! ```compile_fail
//! use demo::sim::{bin, prefix}; // public, safe
//! use demo::sim::scatter; // error: private
//! ```

use glam::Vec2;

use crate::scene::{Collider, GridShape, Scene};

/// Particles per chunk job.
pub const CHUNK: usize = 64;
/// Bands of the counting sort: the sort's fan-out, and its histograms' count.
pub const BANDS: usize = 16;
/// Neighbours looked at per grid cell: where particles crowd, only the first this many of a
/// cell (in sorted order) push and drag, which bounds the cost of a step.
pub const NEIGHBOURS_PER_CELL: usize = 6;

/// Spawns work that may borrow data for `'c`: a pass's jobs, a rayon scope, or inline.
pub trait Fan<'c> {
    /// Runs `f`, now or on another thread before the stage ends.
    fn spawn<F: FnOnce() + Send + 'c>(&mut self, f: F);
}

/// Runs every piece of work at once, on this thread.
pub struct Inline;

impl<'c> Fan<'c> for Inline {
    fn spawn<F: FnOnce() + Send + 'c>(&mut self, f: F) {
        f()
    }
}

impl<'c> Fan<'c> for frame::PassContext<'c, '_, '_> {
    fn spawn<F: FnOnce() + Send + 'c>(&mut self, f: F) {
        jobs::Spawner::spawn(self, move |_| f());
    }
}

impl<'c> Fan<'c> for &rayon_core::Scope<'c> {
    fn spawn<F: FnOnce() + Send + 'c>(&mut self, f: F) {
        rayon_core::Scope::spawn(self, move |_| f());
    }
}

/// The particles, structure of arrays. After a step they are sorted by grid cell, and
/// `cell_start[c]..cell_start[c + 1]` are the particles in cell `c`.
#[derive(Debug, Default)]
pub struct Particles {
    /// Positions, m.
    pub pos: Vec<Vec2>,
    /// Velocities, m/s.
    pub vel: Vec<Vec2>,
    /// Time alive, s.
    pub age: Vec<f32>,
    /// Lifetime, s.
    pub life: Vec<f32>,
    /// The emitter each came from.
    pub emitter: Vec<u32>,
    /// The neighbours' force on each, m/s², applied in the next step.
    pub force: Vec<Vec2>,
    /// Start of each grid cell's particles, one more than the cells.
    pub cell_start: Vec<u32>,
}

/// A copy with the same room as the original, not only its particles: the frame graph makes
/// each frame slot's copy of the state by cloning it, and with a derived `Clone` (a `Vec`'s
/// clone has its length, not its capacity) every copy grew while the scene filled, reallocating
/// (and faulting in fresh memory) inside the `scatter` pass's serial part while the other
/// workers had nothing to do.
///
/// ```
/// let particles = demo::sim::Particles::with_capacity(1000, 16);
/// assert!(particles.clone().pos.capacity() >= 1000);
/// ```
impl Clone for Particles {
    fn clone(&self) -> Self {
        fn with_room<T: Clone>(v: &Vec<T>) -> Vec<T> {
            let mut copy = Vec::with_capacity(v.capacity());
            copy.extend_from_slice(v);
            copy
        }
        Particles {
            pos: with_room(&self.pos),
            vel: with_room(&self.vel),
            age: with_room(&self.age),
            life: with_room(&self.life),
            emitter: with_room(&self.emitter),
            force: with_room(&self.force),
            cell_start: with_room(&self.cell_start),
        }
    }
}

impl Particles {
    /// Room for `capacity` particles and `cells` grid cells, allocated once (and kept by
    /// [`clone`](Clone::clone)).
    pub fn with_capacity(capacity: usize, cells: usize) -> Particles {
        Particles {
            pos: Vec::with_capacity(capacity),
            vel: Vec::with_capacity(capacity),
            age: Vec::with_capacity(capacity),
            life: Vec::with_capacity(capacity),
            emitter: Vec::with_capacity(capacity),
            force: Vec::with_capacity(capacity),
            cell_start: vec![0; cells + 1],
        }
    }

    /// Particles alive.
    pub fn len(&self) -> usize {
        self.pos.len()
    }

    /// Whether none is alive.
    pub fn is_empty(&self) -> bool {
        self.pos.is_empty()
    }

    fn resize(&mut self, n: usize) {
        self.pos.resize(n, Vec2::ZERO);
        self.vel.resize(n, Vec2::ZERO);
        self.age.resize(n, 0.0);
        self.life.resize(n, 0.0);
        self.emitter.resize(n, 0);
        self.force.resize(n, Vec2::ZERO);
    }

    /// A 64-bit FNV-1a hash of every particle's bits, in order: equal checksums mean (almost
    /// surely) bit-identical states.
    pub fn checksum(&self) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        let mut eat = |bits: u32| {
            for byte in bits.to_le_bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        for i in 0..self.len() {
            for v in [self.pos[i], self.vel[i], self.force[i]] {
                eat(v.x.to_bits());
                eat(v.y.to_bits());
            }
            eat(self.age[i].to_bits());
            eat(self.life[i].to_bits());
            eat(self.emitter[i]);
        }
        hash
    }

    fn lanes(&mut self) -> Lanes<'_> {
        Lanes {
            pos: &mut self.pos,
            vel: &mut self.vel,
            age: &mut self.age,
            life: &mut self.life,
            emitter: &mut self.emitter,
        }
    }
}

/// Mutable views of the same range of each particle array.
struct Lanes<'a> {
    pos: &'a mut [Vec2],
    vel: &'a mut [Vec2],
    age: &'a mut [f32],
    life: &'a mut [f32],
    emitter: &'a mut [u32],
}

impl<'a> Lanes<'a> {
    fn split_at(self, n: usize) -> (Lanes<'a>, Lanes<'a>) {
        let (pos, pos2) = self.pos.split_at_mut(n);
        let (vel, vel2) = self.vel.split_at_mut(n);
        let (age, age2) = self.age.split_at_mut(n);
        let (life, life2) = self.life.split_at_mut(n);
        let (emitter, emitter2) = self.emitter.split_at_mut(n);
        (
            Lanes {
                pos,
                vel,
                age,
                life,
                emitter,
            },
            Lanes {
                pos: pos2,
                vel: vel2,
                age: age2,
                life: life2,
                emitter: emitter2,
            },
        )
    }

    fn len(&self) -> usize {
        self.pos.len()
    }
}

/// The uniform grid over the view that neighbour search and rendering use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// World position of cell (0, 0)'s corner.
    pub origin: Vec2,
    /// Cell side, m.
    pub cell: f32,
    /// Columns.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
}

impl Grid {
    /// The grid of a scene: cells of the interaction radius, or 128 columns without one. A scene
    /// that passes [`Scene::check`] has at most [`MAX_GRID_CELLS`](crate::scene::MAX_GRID_CELLS)
    /// cells; the sides of another saturate at `u32::MAX`.
    pub fn of(scene: &Scene) -> Grid {
        let shape = GridShape::of(&scene.view, scene.interaction.as_ref());
        let side = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Grid {
            origin: scene.view.min,
            cell: shape.cell,
            cols: side(shape.cols),
            rows: side(shape.rows),
        }
    }

    /// Cells in all (saturating at `usize::MAX` where a `usize` is narrower than 64 bits).
    pub fn cells(&self) -> usize {
        // Two u32s: their product fits a u64.
        usize::try_from(u64::from(self.cols) * u64::from(self.rows)).unwrap_or(usize::MAX)
    }

    /// Column and row of a position, clamped to the grid.
    pub fn coords(&self, p: Vec2) -> (u32, u32) {
        let c = (p - self.origin) / self.cell;
        let col = (c.x.max(0.0) as u32).min(self.cols - 1);
        let row = (c.y.max(0.0) as u32).min(self.rows - 1);
        (col, row)
    }

    /// The cell of a position (outside the view: the nearest border cell).
    pub fn cell_of(&self, p: Vec2) -> u32 {
        let (col, row) = self.coords(p);
        row * self.cols + col
    }
}

/// The scene and what the kernels derive from it.
#[derive(Clone, Debug)]
pub struct World {
    /// The scene.
    pub scene: Scene,
    /// Its grid.
    pub grid: Grid,
    /// Each emitter's particle colour as drawn (dimmed: particles add up).
    pub colours: Vec<glam::Vec3>,
}

impl World {
    /// The world of a scene. It allocates nothing in proportion to the scene's sizes (the run
    /// does, after [`World::check`]).
    pub fn new(scene: Scene) -> World {
        World {
            grid: Grid::of(&scene),
            colours: scene.emitters.iter().map(|e| e.colour * 0.7).collect(),
            scene,
        }
    }

    /// Whether the world can run: its scene passes [`Scene::check`] (every value in range,
    /// every size bounded), and its grid and colours are still the ones [`World::new`] derived
    /// from the scene. [`run`](crate::run::run) checks this before it allocates anything.
    ///
    /// ```
    /// # use std::path::Path;
    /// let scene = demo::scene::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/fountain.toml")))?;
    /// let mut world = demo::sim::World::new(scene);
    /// assert_eq!(world.check(), Ok(()));
    /// world.scene.max_particles = usize::MAX;
    /// assert!(world.check().unwrap_err().contains("max_particles: must be between 1 and 2000000"));
    /// # Ok::<(), demo::scene::SceneError>(())
    /// ```
    pub fn check(&self) -> Result<(), String> {
        let name = &self.scene.name;
        (self.scene.check()).map_err(|invalid| format!("scene `{name}`: {invalid}"))?;
        let colours = self.colours.len() == self.scene.emitters.len();
        if self.grid != Grid::of(&self.scene) || !colours {
            return Err(format!(
                "scene `{name}`: the world's grid or colours are not its scene's (make the world \
                 with World::new after changing the scene)"
            ));
        }
        Ok(())
    }

    /// Newborn particles of each emitter in frame `frame`: the whole particles due by the end of
    /// the frame minus those due by its start, so fractions carry over without state.
    pub fn births(&self, frame: u64, dt: f32) -> impl Iterator<Item = usize> + '_ {
        self.scene.emitters.iter().map(move |e| {
            let due = |f: u64| (f64::from(e.rate) * f64::from(dt) * f as f64).floor() as usize;
            // `due` never decreases; saturating all the same.
            due(frame + 1).saturating_sub(due(frame))
        })
    }
}

/// A counter-based random generator: the same key gives the same numbers on any thread.
struct Random(u64);

impl Random {
    fn new(keys: [u64; 4]) -> Random {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for key in keys {
            state = mix(state ^ key);
        }
        Random(state)
    }

    /// Uniform in [0, 1).
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        (mix(self.0) >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Chunks of `CHUNK` over `0..n`.
pub fn chunks(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n.div_ceil(CHUNK)).map(move |c| c * CHUNK..((c + 1) * CHUNK).min(n))
}

/// Stage 1: how many particles of each chunk of `previous` survive this step.
/// `counts` holds at least one entry per chunk.
pub fn count_alive<'c>(
    fan: &mut impl Fan<'c>,
    previous: &'c Particles,
    dt: f32,
    counts: &'c mut [u32],
) {
    for (range, count) in chunks(previous.len()).zip(counts.iter_mut()) {
        fan.spawn(move || {
            let (age, life) = (&previous.age[range.clone()], &previous.life[range]);
            *count = age.iter().zip(life).filter(|(a, l)| *a + dt < **l).count() as u32;
        });
    }
}

/// Stage 2: moves the survivors of `previous` into `staging`, compacted (each chunk at the
/// offset its count gives), then appends this frame's newborn particles.
pub fn integrate<'c>(
    fan: &mut impl Fan<'c>,
    world: &'c World,
    frame: u64,
    dt: f32,
    previous: &'c Particles,
    counts: &'c [u32],
    staging: &'c mut Particles,
) {
    let counts = &counts[..previous.len().div_ceil(CHUNK)];
    let survivors: usize = counts.iter().map(|&c| c as usize).sum();
    let capacity = world.scene.max_particles;
    let mut births: Vec<usize> = world.births(frame, dt).collect();
    let mut room = capacity.saturating_sub(survivors);
    for b in &mut births {
        *b = (*b).min(room);
        room -= *b;
    }
    staging.resize(survivors + births.iter().sum::<usize>());
    let mut rest = staging.lanes();
    for (range, &count) in chunks(previous.len()).zip(counts) {
        let (out, tail) = rest.split_at(count as usize);
        rest = tail;
        fan.spawn(move || survive(world, dt, previous, range, out));
    }
    for (emitter, &born) in births.iter().enumerate() {
        for start in (0..born).step_by(CHUNK) {
            let n = CHUNK.min(born - start);
            let (out, tail) = rest.split_at(n);
            rest = tail;
            fan.spawn(move || emit(world, frame, dt, emitter, start, out));
        }
    }
    debug_assert_eq!(rest.len(), 0);
}

/// The acceleration from the scene's fields on a particle.
fn field(world: &World, p: Vec2, v: Vec2) -> Vec2 {
    let physics = &world.scene.physics;
    let mut a = physics.gravity - v * physics.drag;
    for attractor in &world.scene.attractors {
        let d = attractor.position - p;
        let r = d.length();
        if r < attractor.radius && r > 1e-4 {
            a += d / r * attractor.strength * (1.0 - r / attractor.radius);
        }
    }
    for vortex in &world.scene.vortices {
        let d = p - vortex.position;
        let r = d.length();
        if r < vortex.radius && r > 1e-4 {
            a += d.perp() / r * vortex.strength * (1.0 - r / vortex.radius);
        }
    }
    a
}

fn survive(
    world: &World,
    dt: f32,
    previous: &Particles,
    range: std::ops::Range<usize>,
    out: Lanes<'_>,
) {
    let mut k = 0;
    for i in range {
        let age = previous.age[i] + dt;
        if age >= previous.life[i] {
            continue;
        }
        let (p, v) = (previous.pos[i], previous.vel[i]);
        let a = field(world, p, v) + previous.force.get(i).copied().unwrap_or(Vec2::ZERO);
        let v = v + a * dt;
        out.pos[k] = p + v * dt;
        out.vel[k] = v;
        out.age[k] = age;
        out.life[k] = previous.life[i];
        out.emitter[k] = previous.emitter[i];
        k += 1;
    }
    debug_assert_eq!(k, out.len());
}

fn emit(world: &World, frame: u64, dt: f32, emitter: usize, first: usize, out: Lanes<'_>) {
    let e = &world.scene.emitters[emitter];
    let across = Vec2::from_angle(e.direction.to_radians()).perp();
    for k in 0..out.len() {
        let mut random = Random::new([world.scene.seed, frame, emitter as u64, (first + k) as u64]);
        let angle = (e.direction + (random.next() - 0.5) * e.spread).to_radians();
        let speed = e.speed.min + (e.speed.max - e.speed.min) * random.next();
        let life = e.lifetime.min + (e.lifetime.max - e.lifetime.min) * random.next();
        let offset = across * (random.next() - 0.5) * e.width;
        // Born at a random moment within the frame, so that a stream has no frame-rate bands.
        let head = random.next() * dt;
        let v = Vec2::from_angle(angle) * speed;
        out.pos[k] = e.position + offset + v * head;
        out.vel[k] = v;
        out.age[k] = head;
        out.life[k] = life;
        out.emitter[k] = emitter as u32;
    }
}

/// Stage 3: particles bounce off the ground and the colliders.
pub fn collide<'c>(fan: &mut impl Fan<'c>, world: &'c World, staging: &'c mut Particles) {
    let n = staging.len();
    let mut rest = staging.lanes();
    for range in chunks(n) {
        let (lanes, tail) = rest.split_at(range.len());
        rest = tail;
        fan.spawn(move || {
            for (p, v) in lanes.pos.iter_mut().zip(lanes.vel.iter_mut()) {
                bounce(world, p, v);
            }
        });
    }
}

fn bounce(world: &World, p: &mut Vec2, v: &mut Vec2) {
    let physics = &world.scene.physics;
    let reflect = |normal: Vec2, depth: f32, p: &mut Vec2, v: &mut Vec2| {
        *p += normal * depth;
        let vn = v.dot(normal);
        if vn < 0.0 {
            let tangent = *v - normal * vn;
            *v = tangent * (1.0 - physics.friction) - normal * vn * physics.restitution;
        }
    };
    if p.y < 0.0 {
        reflect(Vec2::Y, -p.y, p, v);
    }
    for collider in &world.scene.colliders {
        match *collider {
            Collider::Circle { center, radius } => {
                let d = *p - center;
                let r = d.length();
                if r < radius {
                    let normal = if r > 1e-6 { d / r } else { Vec2::Y };
                    reflect(normal, radius - r, p, v);
                }
            }
            Collider::Box { min, max } => {
                if p.x > min.x && p.x < max.x && p.y > min.y && p.y < max.y {
                    // Out through the nearest side.
                    let sides = [
                        (p.x - min.x, -Vec2::X),
                        (max.x - p.x, Vec2::X),
                        (p.y - min.y, -Vec2::Y),
                        (max.y - p.y, Vec2::Y),
                    ];
                    let (depth, normal) =
                        sides.into_iter().fold(
                            sides[0],
                            |best, side| if side.0 < best.0 { side } else { best },
                        );
                    reflect(normal, depth, p, v);
                }
            }
        }
    }
}

/// The particle range of band `b` of `n` particles.
pub fn band(n: usize, b: usize) -> std::ops::Range<usize> {
    n * b / BANDS..n * (b + 1) / BANDS
}

/// Stage 4: the grid cell of every staged particle, and each band's count per cell.
pub fn bin<'c>(
    fan: &mut impl Fan<'c>,
    world: &'c World,
    staging: &'c Particles,
    cells: &'c mut [u32],
    histograms: &'c mut [u32],
) {
    let n = staging.len();
    let grid = &world.grid;
    let mut cells = &mut cells[..n];
    for (b, histogram) in histograms.chunks_mut(grid.cells()).enumerate() {
        let range = band(n, b);
        let (mine, rest) = cells.split_at_mut(range.len());
        cells = rest;
        fan.spawn(move || {
            histogram.fill(0);
            for (cell, p) in mine.iter_mut().zip(&staging.pos[range]) {
                *cell = grid.cell_of(*p);
                histogram[*cell as usize] += 1;
            }
        });
    }
}

/// Stage 5: where each cell starts in the sorted state, and where each band writes its
/// particles of each cell (replacing the histograms): a prefix sum, on one thread.
pub fn prefix(histograms: &mut [u32], cell_start: &mut Vec<u32>, cells: usize) {
    cell_start.clear();
    cell_start.resize(cells + 1, 0);
    for histogram in histograms.chunks(cells) {
        for (total, count) in cell_start.iter_mut().zip(histogram) {
            *total += count;
        }
    }
    let mut sum = 0;
    for start in cell_start.iter_mut() {
        let count = *start;
        *start = sum;
        sum += count;
    }
    // Band b's offset in cell c: the cell's start plus the earlier bands' counts. The running
    // offsets live in the last slot row; `cell_start` itself is left as the starts.
    let mut running: Vec<u32> = cell_start[..cells].to_vec();
    for histogram in histograms.chunks_mut(cells) {
        for (offset, run) in histogram.iter_mut().zip(running.iter_mut()) {
            let count = *offset;
            *offset = *run;
            *run += count;
        }
    }
}

/// A slice borrowed mutably for `'c`, written at scattered, distinct indices by several jobs
/// at once (each job holds a copy of this view).
struct Scattered<'c, T> {
    ptr: *mut T,
    len: usize,
    /// The exclusive borrow it stands for; `&mut` also makes it invariant in `T`, so a view of
    /// `[&'long str]` cannot become one of `[&'short str]` and be written a short-lived value.
    _borrow: std::marker::PhantomData<&'c mut [T]>,
}

impl<T> Clone for Scattered<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Scattered<'_, T> {}

// SAFETY: jobs write distinct indices (see `scatter`); `T` values move between threads.
unsafe impl<T: Send> Send for Scattered<'_, T> {}
// SAFETY: as above: shared use writes only distinct indices.
unsafe impl<T: Send> Sync for Scattered<'_, T> {}

impl<'c, T> Scattered<'c, T> {
    fn new(slice: &'c mut [T]) -> Self {
        Scattered {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _borrow: std::marker::PhantomData,
        }
    }

    /// # Safety
    /// No other write or read of index `i` happens while the slice is scattered into.
    unsafe fn write(&self, i: usize, value: T) {
        assert!(i < self.len, "scatter index {i} out of {}", self.len);
        // SAFETY: in bounds (checked); exclusive per the caller.
        unsafe { self.ptr.add(i).write(value) };
    }
}

/// Stage 6: the staged particles, sorted by cell into `state` (stably: band by band, each band
/// in order), with `state.cell_start` set.
///
/// # Safety
///
/// `cells` and `offsets` must be what [`bin`] wrote for `staging` and `world`, followed by
/// [`prefix`] over those histograms with `world.grid.cells()` cells, and nothing may have written
/// `staging`, `cells` or `offsets` since. Then the slots of each (band, cell) pair are a range of
/// `0..staging.len()` of their own and each job writes only its own: no index is written by
/// two jobs. Other offsets can make two jobs write one index at once, a data race. (An index out
/// of bounds panics: it is checked.)
pub(crate) unsafe fn scatter<'c>(
    fan: &mut impl Fan<'c>,
    world: &'c World,
    staging: &'c Particles,
    cells: &'c [u32],
    offsets: &'c mut [u32],
    state: &'c mut Particles,
) {
    let n = staging.len();
    state.resize(n);
    let Particles {
        pos,
        vel,
        age,
        life,
        emitter,
        force,
        ..
    } = state;
    force.fill(Vec2::ZERO);
    let out = (
        Scattered::new(pos),
        Scattered::new(vel),
        Scattered::new(age),
        Scattered::new(life),
        Scattered::new(emitter),
    );
    for (b, offsets) in offsets.chunks_mut(world.grid.cells()).enumerate() {
        let range = band(n, b);
        fan.spawn(move || {
            for i in range {
                let cell = cells[i] as usize;
                let to = offsets[cell] as usize;
                offsets[cell] += 1;
                // SAFETY: by the caller's promise the offsets are `prefix`'s over `bin`'s counts
                // of these very cells: the slots of distinct (band, cell) pairs are disjoint
                // ranges, and each particle of the band takes the next slot of its cell once, so
                // no other job writes index `to`, and nothing reads `state` during the stage.
                unsafe {
                    out.0.write(to, staging.pos[i]);
                    out.1.write(to, staging.vel[i]);
                    out.2.write(to, staging.age[i]);
                    out.3.write(to, staging.life[i]);
                    out.4.write(to, staging.emitter[i]);
                }
            }
        });
    }
}

/// Stage 7: the force of each particle's neighbours (within the interaction radius): a push
/// apart, and a pull toward their mean velocity. Visits neighbour cells and particles in a fixed
/// order, so the sums are the same on every backend.
pub fn neighbours<'c>(fan: &mut impl Fan<'c>, world: &'c World, dt: f32, state: &'c mut Particles) {
    let Some(interaction) = world.scene.interaction else {
        return;
    };
    let Particles {
        pos,
        vel,
        force,
        cell_start,
        ..
    } = state;
    let (pos, vel, cell_start) = (&*pos, &*vel, &*cell_start);
    let mut rest = &mut force[..];
    for range in chunks(pos.len()) {
        let (mine, tail) = rest.split_at_mut(range.len());
        rest = tail;
        fan.spawn(move || {
            let grid = world.grid;
            let r2 = interaction.radius * interaction.radius;
            for (f, i) in mine.iter_mut().zip(range) {
                let p = pos[i];
                let (col, row) = grid.coords(p);
                let mut push = Vec2::ZERO;
                let mut velocities = Vec2::ZERO;
                let mut count = 0u32;
                for y in row.saturating_sub(1)..=(row + 1).min(grid.rows - 1) {
                    for x in col.saturating_sub(1)..=(col + 1).min(grid.cols - 1) {
                        let cell = (y * grid.cols + x) as usize;
                        let first = cell_start[cell] as usize;
                        // At most NEIGHBOURS_PER_CELL of each cell, the first in sorted order:
                        // bounds the cost where particles crowd, the same on every backend.
                        let last = (cell_start[cell + 1] as usize).min(first + NEIGHBOURS_PER_CELL);
                        for j in first..last {
                            let d = p - pos[j];
                            let d2 = d.length_squared();
                            if d2 < r2 && j != i && d2 > 1e-12 {
                                let distance = d2.sqrt();
                                push += d * ((1.0 - distance / interaction.radius) / distance);
                                velocities += vel[j];
                                count += 1;
                            }
                        }
                    }
                }
                let mut force = push * interaction.repulsion;
                if count > 0 && interaction.viscosity > 0.0 {
                    force += (velocities / count as f32 - vel[i]) * (interaction.viscosity / dt);
                }
                *f = force;
            }
        });
    }
}
