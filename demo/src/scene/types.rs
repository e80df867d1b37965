//! The scene's types: what the simulation and the renderer read. Every field documents its
//! range; [`parse`](super::parse) returns only scenes within them, and
//! [`Scene::check`] tells whether a scene built or changed in code still is.

use glam::{Vec2, Vec3};

/// A scene: everything the simulation and the renderer need, read from one file.
///
/// Build one with [`load`](super::load) or [`parse`](super::parse); both check every value, so a
/// `Scene` they return is in the ranges its fields document. A scene changed in code can be
/// checked again with [`Scene::check`]; [`run`](crate::run::run) refuses one that fails it.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// A short name for progress lines and summaries.
    pub name: String,
    /// Seed of the simulation's random numbers (emission jitter): the same scene and seed give
    /// the same particles.
    pub seed: u64,
    /// Capacity: the most particles alive at once (1 ..= [`MAX_PARTICLES`](super::MAX_PARTICLES)).
    /// Emitters skip births while the simulation is full.
    pub max_particles: usize,
    /// The part of the world shown in the image, in metres.
    pub view: View,
    /// The size of the rendered image, in pixels.
    pub image: Image,
    /// Forces on every particle and how surfaces bounce.
    pub physics: Physics,
    /// Where particles are born: 1 ..= [`MAX_ITEMS`](super::MAX_ITEMS).
    pub emitters: Vec<Emitter>,
    /// Points that pull particles in (or push them away). Default: none.
    pub attractors: Vec<Attractor>,
    /// Points that swirl particles around them. Default: none.
    pub vortices: Vec<Vortex>,
    /// Shapes particles bounce off, besides the ground. Default: none.
    pub colliders: Vec<Collider>,
    /// Forces between neighbouring particles. Default (no `[interaction]`): none.
    pub interaction: Option<Interaction>,
}

impl Scene {
    /// The number of particles alive in steady state if [`Scene::max_particles`] did not cap it:
    /// the sum over the emitters of rate × mean lifetime.
    ///
    /// ```
    /// # use std::path::Path;
    /// let scene = demo::scene::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/fountain.toml")))?;
    /// assert!(scene.steady_particles() <= scene.max_particles as f64);
    /// # Ok::<(), demo::scene::SceneError>(())
    /// ```
    pub fn steady_particles(&self) -> f64 {
        let alive = |e: &Emitter| f64::from(e.rate) * f64::from(e.lifetime.mean());
        self.emitters.iter().map(alive).sum()
    }
}

/// A rectangle of the world, in metres: what the image shows. If its aspect ratio differs from
/// the [`Image`]'s, pixels are not square.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    /// The bottom-left corner, m (the image's bottom-left pixel).
    pub min: Vec2,
    /// The top-right corner, m; greater than `min` on both axes.
    pub max: Vec2,
}

/// The rendered image's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels, in [`IMAGE_SIDES`](super::IMAGE_SIDES).
    pub width: u32,
    /// Height in pixels, in [`IMAGE_SIDES`](super::IMAGE_SIDES).
    pub height: u32,
}

/// Forces on every particle, and how particles bounce off the ground (y = 0) and the
/// [`Collider`]s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Physics {
    /// Acceleration on every particle, m/s² (`[0, -9.81]` on Earth). Required.
    pub gravity: Vec2,
    /// Air drag, 1/s (>= 0): velocity decays by `drag × velocity` per second. Default 0.
    pub drag: f32,
    /// Fraction of the speed into a surface kept, reversed, after a bounce (0 ..= 1: 0 stops
    /// dead, 1 bounces back fully). Default 0.3.
    pub restitution: f32,
    /// Fraction of the speed along a surface lost at each contact (0 ..= 1: 0 slides freely,
    /// 1 sticks). Default 0.2.
    pub friction: f32,
}

impl Physics {
    /// [`Physics::restitution`] when the file gives none.
    pub const DEFAULT_RESTITUTION: f32 = 0.3;
    /// [`Physics::friction`] when the file gives none.
    pub const DEFAULT_FRICTION: f32 = 0.2;
}

/// A source of particles: each second it gives birth to [`Emitter::rate`] particles with a
/// random direction, speed and lifetime in the given ranges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Emitter {
    /// Centre of the emitter, m.
    pub position: Vec2,
    /// Length of the line particles are born on, m (>= 0), centred on `position` and across
    /// `direction`: 0 is a point, a wide one makes a curtain (rain). Default 0.
    pub width: f32,
    /// Particles born per second (> 0).
    pub rate: f32,
    /// Mean direction of the initial velocity, degrees counter-clockwise from +x (90 is up).
    pub direction: f32,
    /// Full width of the cone of directions, degrees (0 ..= 360): a particle leaves within
    /// `direction ± spread / 2`. Default 0.
    pub spread: f32,
    /// Initial speed, m/s, uniform in `[min, max]` with 0 <= min <= max.
    pub speed: Interval,
    /// How long a particle lives, s, uniform in `[min, max]` with 0 < min <= max.
    pub lifetime: Interval,
    /// Colour `[r, g, b]`, each 0 ..= 1. Default white.
    pub colour: Vec3,
    /// Radius of a particle's splat in the image, pixels (> 0, <= 32). Default 1.
    pub size: f32,
}

impl Emitter {
    /// [`Emitter::colour`] when the file gives none: white.
    pub const DEFAULT_COLOUR: Vec3 = Vec3::ONE;
    /// [`Emitter::size`] when the file gives none, pixels.
    pub const DEFAULT_SIZE: f32 = 1.0;
}

/// A closed range of values, written `[min, max]` in a scene file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The smallest value.
    pub min: f32,
    /// The largest value, >= `min`.
    pub max: f32,
}

impl Interval {
    /// The middle of the range.
    ///
    /// ```
    /// let lifetime = demo::scene::Interval { min: 2.0, max: 4.0 };
    /// assert_eq!(lifetime.mean(), 3.0);
    /// ```
    pub fn mean(self) -> f32 {
        (self.min + self.max) / 2.0
    }
}

/// A point that pulls particles toward it (a negative strength pushes them away: a repulsor).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attractor {
    /// Where it is, m.
    pub position: Vec2,
    /// Acceleration toward `position` at the centre, m/s²; it fades to zero at `radius`.
    /// Negative: away from it.
    pub strength: f32,
    /// Reach, m (> 0): no effect on particles farther away.
    pub radius: f32,
}

/// A point that swirls particles around it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vortex {
    /// The centre of the swirl, m.
    pub position: Vec2,
    /// Acceleration across the line to the centre, m/s², counter-clockwise when positive,
    /// clockwise when negative; it fades to zero at `radius`.
    pub strength: f32,
    /// Reach, m (> 0): no effect on particles farther away.
    pub radius: f32,
}

/// A solid shape particles bounce off (with [`Physics::restitution`] and
/// [`Physics::friction`]), written as a `[[colliders]]` table with `kind = "circle"` or
/// `kind = "box"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Collider {
    /// A disc: `kind = "circle"`.
    Circle {
        /// Its centre, m.
        center: Vec2,
        /// Its radius, m (> 0).
        radius: f32,
    },
    /// An axis-aligned rectangle: `kind = "box"`.
    Box {
        /// The bottom-left corner, m.
        min: Vec2,
        /// The top-right corner, m; greater than `min` on both axes.
        max: Vec2,
    },
}

/// Forces between neighbouring particles, found through a spatial grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interaction {
    /// Distance within which two particles interact, m (> 0); also the size of the grid's cells.
    /// At most [`MAX_GRID_CELLS`](super::MAX_GRID_CELLS) such cells may cover the view.
    pub radius: f32,
    /// Acceleration pushing two touching particles apart, m/s² (>= 0), fading to zero at
    /// `radius`. Default 0.
    pub repulsion: f32,
    /// How far a particle's velocity moves toward its neighbours' mean velocity each step
    /// (0 ..= 1: 0 not at all, 1 all the way). Default 0.
    pub viscosity: f32,
}
