//! Scene files: what the particle simulation runs, read from a TOML file in `assets/`.
//!
//! The world is a 2D side view: x to the right, y up, the ground at y = 0; lengths are metres
//! (m), times seconds (s), angles degrees counter-clockwise from +x (0 points right, 90 up).
//! Vectors are written `[x, y]`, ranges `[min, max]`.
//!
//! ```toml
//! name = "drip"
//! seed = 7
//! max_particles = 10000
//!
//! [view]                  # the part of the world the image shows
//! min = [-2.0, 0.0]
//! max = [2.0, 3.0]
//!
//! [image]
//! width = 400
//! height = 300
//!
//! [physics]
//! gravity = [0.0, -9.81]
//!
//! [[emitters]]
//! position = [0.0, 2.5]
//! rate = 2000             # particles per second
//! direction = -90         # straight down
//! speed = [0.5, 1.0]
//! lifetime = [2.0, 3.0]
//! ```
//!
//! | key | type | range | default |
//! |---|---|---|---|
//! | `name` | string | not empty | required |
//! | `seed` | integer | 0 ..= 2^63 - 1 | required |
//! | `max_particles` | integer | 1 ..= 2,000,000 | required |
//! | `view.min`, `view.max` | [m, m] | min < max on both axes | required |
//! | `image.width`, `image.height` | integer pixels | 16 ..= 4096 | required |
//! | `physics.gravity` | [m/s², m/s²] | | required |
//! | `physics.drag` | 1/s | >= 0 | 0 |
//! | `physics.restitution` | fraction | 0 ..= 1 | 0.3 |
//! | `physics.friction` | fraction | 0 ..= 1 | 0.2 |
//! | `[[emitters]]` | array of tables | at least one | required |
//! | `emitters[i].position` | [m, m] | | required |
//! | `emitters[i].width` | m | >= 0 | 0 (a point) |
//! | `emitters[i].rate` | particles/s | > 0 | required |
//! | `emitters[i].direction` | degrees | | required |
//! | `emitters[i].spread` | degrees | 0 ..= 360 | 0 |
//! | `emitters[i].speed` | [m/s, m/s] | 0 <= min <= max | required |
//! | `emitters[i].lifetime` | [s, s] | 0 < min <= max | required |
//! | `emitters[i].colour` | [r, g, b] | each 0 ..= 1 | [1, 1, 1] |
//! | `emitters[i].size` | pixels | > 0, <= 32 | 1 |
//! | `[[attractors]]`: `position`, `strength`, `radius` | [m, m], m/s², m | radius > 0 | none |
//! | `[[vortices]]`: `position`, `strength`, `radius` | [m, m], m/s², m | radius > 0 | none |
//! | `[[colliders]]` `kind = "circle"`: `center`, `radius` | [m, m], m | radius > 0 | none |
//! | `[[colliders]]` `kind = "box"`: `min`, `max` | [m, m], [m, m] | min < max on both axes | none |
//! | `interaction.radius` | m | > 0, at most [`MAX_GRID_CELLS`] cells over the view | no `[interaction]`: none |
//! | `interaction.repulsion` | m/s² | >= 0 | 0 |
//! | `interaction.viscosity` | fraction | 0 ..= 1 | 0 |
//!
//! Every number must also be finite and at most [`LIMIT`] in magnitude: `nan`, `inf` and values
//! like `1e30` are mistakes, not scenes. Unknown keys are errors, so a misspelt key never silently
//! falls back to its default.
//!
//! [`load`] and [`parse`] return the first mistake as a [`SceneError`] naming the file, the line
//! and the key, e.g. `my_scene.toml:12: emitters[1].rate: must be positive, got -5`.
//! Indices in keys count from 0, as in the table above.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use glam::{Vec2, Vec3};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The largest magnitude any number in a scene may have (coordinates, speeds, rates, strengths):
/// beyond it `f32` has too little precision left for a simulation in metres, so such a value is
/// taken as a mistake.
pub const LIMIT: f32 = 1.0e6;

/// The most particles a scene may ask for ([`Scene::max_particles`]).
pub const MAX_PARTICLES: usize = 2_000_000;

/// The smallest and largest image side in pixels ([`Image`]).
pub const IMAGE_SIDES: std::ops::RangeInclusive<u32> = 16..=4096;

/// The most cells the neighbour grid may have over the view (cells of
/// [`Interaction::radius`] on a side): a smaller radius is taken as a mistake.
pub const MAX_GRID_CELLS: u64 = 1 << 22;

/// A scene: everything the simulation and the renderer need, read from one file.
///
/// Build one with [`load`] or [`parse`]; both check every value, so a `Scene` they return is in
/// the ranges its fields document.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// A short name for progress lines and summaries.
    pub name: String,
    /// Seed of the simulation's random numbers (emission jitter): the same scene and seed give
    /// the same particles.
    pub seed: u64,
    /// Capacity: the most particles alive at once (1 ..= [`MAX_PARTICLES`]). Emitters skip births
    /// while the simulation is full.
    pub max_particles: usize,
    /// The part of the world shown in the image, in metres.
    pub view: View,
    /// The size of the rendered image, in pixels.
    pub image: Image,
    /// Forces on every particle and how surfaces bounce.
    pub physics: Physics,
    /// Where particles are born: at least one.
    pub emitters: Vec<Emitter>,
    /// Points that pull particles in (or push them away). Default: none.
    #[serde(default)]
    pub attractors: Vec<Attractor>,
    /// Points that swirl particles around them. Default: none.
    #[serde(default)]
    pub vortices: Vec<Vortex>,
    /// Shapes particles bounce off, besides the ground. Default: none.
    #[serde(default)]
    pub colliders: Vec<Collider>,
    /// Forces between neighbouring particles. Default (no `[interaction]`): none.
    #[serde(default)]
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
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// The bottom-left corner, m (the image's bottom-left pixel).
    pub min: Vec2,
    /// The top-right corner, m; greater than `min` on both axes.
    pub max: Vec2,
}

/// The rendered image's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Width in pixels, in [`IMAGE_SIDES`].
    pub width: u32,
    /// Height in pixels, in [`IMAGE_SIDES`].
    pub height: u32,
}

/// Forces on every particle, and how particles bounce off the ground (y = 0) and the
/// [`Collider`]s.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Physics {
    /// Acceleration on every particle, m/s² (`[0, -9.81]` on Earth). Required.
    pub gravity: Vec2,
    /// Air drag, 1/s (>= 0): velocity decays by `drag × velocity` per second. Default 0.
    #[serde(default)]
    pub drag: f32,
    /// Fraction of the speed into a surface kept, reversed, after a bounce (0 ..= 1: 0 stops
    /// dead, 1 bounces back fully). Default 0.3.
    #[serde(default = "default_restitution")]
    pub restitution: f32,
    /// Fraction of the speed along a surface lost at each contact (0 ..= 1: 0 slides freely,
    /// 1 sticks). Default 0.2.
    #[serde(default = "default_friction")]
    pub friction: f32,
}

fn default_restitution() -> f32 {
    0.3
}

fn default_friction() -> f32 {
    0.2
}

/// A source of particles: each second it gives birth to [`Emitter::rate`] particles with a
/// random direction, speed and lifetime in the given ranges.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emitter {
    /// Centre of the emitter, m.
    pub position: Vec2,
    /// Length of the line particles are born on, m (>= 0), centred on `position` and across
    /// `direction`: 0 is a point, a wide one makes a curtain (rain). Default 0.
    #[serde(default)]
    pub width: f32,
    /// Particles born per second (> 0).
    pub rate: f32,
    /// Mean direction of the initial velocity, degrees counter-clockwise from +x (90 is up).
    pub direction: f32,
    /// Full width of the cone of directions, degrees (0 ..= 360): a particle leaves within
    /// `direction ± spread / 2`. Default 0.
    #[serde(default)]
    pub spread: f32,
    /// Initial speed, m/s, uniform in `[min, max]` with 0 <= min <= max.
    pub speed: Interval,
    /// How long a particle lives, s, uniform in `[min, max]` with 0 < min <= max.
    pub lifetime: Interval,
    /// Colour `[r, g, b]`, each 0 ..= 1. Default white.
    #[serde(default = "default_colour")]
    pub colour: Vec3,
    /// Radius of a particle's splat in the image, pixels (> 0, <= 32). Default 1.
    #[serde(default = "default_size")]
    pub size: f32,
}

fn default_colour() -> Vec3 {
    Vec3::ONE
}

fn default_size() -> f32 {
    1.0
}

/// A closed range of values, written `[min, max]` in a scene file.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(from = "[f32; 2]")]
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

impl From<[f32; 2]> for Interval {
    fn from([min, max]: [f32; 2]) -> Self {
        Interval { min, max }
    }
}

/// A point that pulls particles toward it (a negative strength pushes them away: a repulsor).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "ColliderEntry")]
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

/// A `[[colliders]]` table as written, before its `kind` says which keys it needs: the keys of
/// both shapes, so that a wrong type or an unknown key is reported at its own line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColliderEntry {
    kind: ColliderKind,
    center: Option<Vec2>,
    radius: Option<f32>,
    min: Option<Vec2>,
    max: Option<Vec2>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ColliderKind {
    Circle,
    Box,
}

impl TryFrom<ColliderEntry> for Collider {
    type Error = String;

    /// The messages name the key the way serde does (``missing field `radius` ``,
    /// ``unknown field `min` ``), so that the error is placed at that key.
    fn try_from(entry: ColliderEntry) -> Result<Self, String> {
        fn required<T>(value: Option<T>, key: &str) -> Result<T, String> {
            value.ok_or_else(|| format!("missing field `{key}`"))
        }
        fn absent<T>(value: Option<T>, key: &str, kind: &str, keys: &str) -> Result<(), String> {
            match value {
                Some(_) => Err(format!("unknown field `{key}`: a {kind} has {keys}")),
                None => Ok(()),
            }
        }
        match entry.kind {
            ColliderKind::Circle => {
                absent(entry.min, "min", "circle", "`center` and `radius`")?;
                absent(entry.max, "max", "circle", "`center` and `radius`")?;
                Ok(Collider::Circle {
                    center: required(entry.center, "center")?,
                    radius: required(entry.radius, "radius")?,
                })
            }
            ColliderKind::Box => {
                absent(entry.center, "center", "box", "`min` and `max`")?;
                absent(entry.radius, "radius", "box", "`min` and `max`")?;
                Ok(Collider::Box {
                    min: required(entry.min, "min")?,
                    max: required(entry.max, "max")?,
                })
            }
        }
    }
}

/// Forces between neighbouring particles, found through a spatial grid.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    /// Distance within which two particles interact, m (> 0); also the size of the grid's cells.
    /// At most [`MAX_GRID_CELLS`] such cells may cover the view.
    pub radius: f32,
    /// Acceleration pushing two touching particles apart, m/s² (>= 0), fading to zero at
    /// `radius`. Default 0.
    #[serde(default)]
    pub repulsion: f32,
    /// How far a particle's velocity moves toward its neighbours' mean velocity each step
    /// (0 ..= 1: 0 not at all, 1 all the way). Default 0.
    #[serde(default)]
    pub viscosity: f32,
}

/// A mistake in a scene file, or a file that cannot be read: where it is and what is wrong.
///
/// Displays as `FILE:LINE: KEY: MESSAGE`, leaving out what is not known:
///
/// ```
/// use std::path::Path;
/// let error = demo::scene::parse("seed = -1", Path::new("bad.toml")).unwrap_err();
/// assert_eq!((error.line, error.key.as_deref()), (Some(1), Some("seed")));
/// assert!(error.to_string().starts_with("bad.toml:1: seed: "));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneError {
    /// The scene file, as it was given.
    pub file: PathBuf,
    /// The line of the mistake, counting from 1; `None` when the file could not be read or a
    /// required top-level key is missing.
    pub line: Option<usize>,
    /// The dotted path of the key, like `emitters[1].rate` (indices count from 0); `None` for a
    /// file that cannot be read or is not valid TOML.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SceneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SceneError {}

/// Reads and checks the scene file at `path`.
///
/// ```
/// # use std::path::Path;
/// let error = demo::scene::load(Path::new("no/such/scene.toml")).unwrap_err();
/// assert!(error.message.starts_with("cannot read the scene file"));
/// ```
pub fn load(path: &Path) -> Result<Scene, SceneError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(error) => Err(SceneError {
            file: path.to_owned(),
            line: None,
            key: None,
            message: format!("cannot read the scene file: {error}"),
        }),
    }
}

/// Parses and checks the scene in `text`; `file` is only used to name it in errors.
///
/// ```
/// use std::path::Path;
/// let text = r#"
///     name = "drip"
///     seed = 7
///     max_particles = 10000
///     view = { min = [-2, 0], max = [2, 3] }
///     image = { width = 400, height = 300 }
///     physics = { gravity = [0, -9.81] }
///     [[emitters]]
///     position = [0, 2.5]
///     rate = 2000
///     direction = -90
///     speed = [0.5, 1]
///     lifetime = [2, 3]
/// "#;
/// let scene = demo::scene::parse(text, Path::new("drip.toml"))?;
/// assert_eq!(scene.emitters[0].rate, 2000.0);
/// assert_eq!(scene.physics.restitution, 0.3); // the default
///
/// let error = demo::scene::parse(&text.replace("rate = 2000", "rate = -5"), Path::new("drip.toml"))
///     .unwrap_err();
/// assert_eq!(error.to_string(), "drip.toml:10: emitters[0].rate: must be positive, got -5");
/// # Ok::<(), demo::scene::SceneError>(())
/// ```
pub fn parse(text: &str, file: &Path) -> Result<Scene, SceneError> {
    let error = |line: Option<usize>, key: Option<&KeyPath>, message: String| SceneError {
        file: file.to_owned(),
        line,
        key: key.map(KeyPath::to_string),
        message,
    };
    let document = DeTable::parse(text).map_err(|e| {
        let span = e.span();
        let line = span.clone().map(|span| line_of(text, span.start));
        // toml says "duplicate key" and spans the second one: name it.
        let duplicate = span
            .and_then(|span| text.get(span))
            .filter(|_| e.message() == "duplicate key");
        let message = match duplicate {
            Some(key) => format!("duplicate key `{key}`"),
            None => e.message().to_owned(),
        };
        error(line, None, message)
    })?;
    let scene = Scene::deserialize(toml::Deserializer::from(document.clone())).map_err(|e| {
        let (line, key) = place_serde_error(&e, document.get_ref(), text);
        error(line, key.as_ref(), e.message().to_owned())
    })?;
    scene.check().map_err(|invalid| {
        let span = value_at(document.get_ref(), &invalid.at.0).map(Spanned::span);
        let line = span.map(|span| line_of(text, span.start));
        error(line, Some(&invalid.at), invalid.message)
    })?;
    Ok(scene)
}

/// The 1-based line of a byte offset into `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Where a value sits in a scene file: `emitters[1].rate`.
#[derive(Clone, Debug, Default, PartialEq)]
struct KeyPath(Vec<Segment>);

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    fn key(&self, name: &str) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Key(name.to_owned()));
        path
    }

    fn index(&self, index: usize) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(name) if i == 0 => write!(f, "{name}")?,
                Segment::Key(name) => write!(f, ".{name}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

// ---- Placing errors: from a key path to a span, and from a span to a key path ----

/// The value at `path` in the parsed document, with its span.
fn value_at<'d, 'i>(root: &'d DeTable<'i>, path: &[Segment]) -> Option<&'d Spanned<DeValue<'i>>> {
    let (Segment::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let mut value = entry(root, first)?.1;
    for segment in rest {
        value = match segment {
            Segment::Key(name) => entry(value.get_ref().as_table()?, name)?.1,
            Segment::Index(index) => value.get_ref().as_array()?.get(*index)?,
        };
    }
    Some(value)
}

type Entry<'d, 'i> = (
    &'d Spanned<toml::de::DeString<'i>>,
    &'d Spanned<DeValue<'i>>,
);

fn entry<'d, 'i>(table: &'d DeTable<'i>, name: &str) -> Option<Entry<'d, 'i>> {
    table.iter().find(|(key, _)| key.get_ref() == name)
}

/// The line and key of an error from deserializing: toml gives the span of the offending key or
/// value (for a missing key, of the table that lacks it; for the root table, an empty span at 0),
/// and the key path is that of the innermost key or value covering the span's start.
fn place_serde_error(
    error: &toml::de::Error,
    root: &DeTable<'_>,
    text: &str,
) -> (Option<usize>, Option<KeyPath>) {
    let Some(span) = error.span() else {
        return (None, None);
    };
    let mut path = KeyPath::default();
    let found = locate(root, span.start, &mut path);
    if let Some(missing) = quoted_key(error.message(), "missing field `") {
        return if span.is_empty() {
            (None, Some(KeyPath::default().key(missing)))
        } else {
            (Some(line_of(text, span.start)), Some(path.key(missing)))
        };
    }
    if !found {
        return (Some(line_of(text, span.start)), None);
    }
    // A collider's own checks report an unknown key at the collider's table: move to the key.
    if let Some(unknown) = quoted_key(error.message(), "unknown field `") {
        if path.0.last() != Some(&Segment::Key(unknown.to_owned())) {
            let table = value_at(root, &path.0).and_then(|value| value.get_ref().as_table());
            if let Some((key, _)) = table.and_then(|table| entry(table, unknown)) {
                return (
                    Some(line_of(text, key.span().start)),
                    Some(path.key(unknown)),
                );
            }
        }
    }
    (Some(line_of(text, span.start)), Some(path))
}

/// The key in ``prefix `key` ...`` at the start of a serde message.
fn quoted_key<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// Extends `path` to the innermost key or value of `table` whose span covers `at`; false (and
/// `path` unchanged) if none does.
fn locate(table: &DeTable<'_>, at: usize, path: &mut KeyPath) -> bool {
    for (key, value) in table.iter() {
        path.0.push(Segment::Key(key.get_ref().to_string()));
        if locate_in(value, at, path) || covers(key.span(), at) {
            return true;
        }
        path.0.pop();
    }
    false
}

fn locate_in(value: &Spanned<DeValue<'_>>, at: usize, path: &mut KeyPath) -> bool {
    let inside = match value.get_ref() {
        DeValue::Table(table) => locate(table, at, path),
        // Tables in an array are indexed (`emitters[1]`); numbers in one (a vector) are not.
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .filter(|(_, item)| item.get_ref().is_table())
            .any(|(index, item)| {
                path.0.push(Segment::Index(index));
                let found = locate_in(item, at, path);
                if !found {
                    path.0.pop();
                }
                found
            }),
        _ => false,
    };
    inside || covers(value.span(), at)
}

fn covers(span: Range<usize>, at: usize) -> bool {
    span.contains(&at) || (span.is_empty() && span.start == at)
}

// ---- Checking values ----

/// A value out of its range, at `at`.
struct Invalid {
    at: KeyPath,
    message: String,
}

type Checked = Result<(), Invalid>;

impl KeyPath {
    fn invalid(&self, message: String) -> Invalid {
        Invalid {
            at: self.clone(),
            message,
        }
    }

    /// Finite and at most [`LIMIT`] in magnitude.
    fn number(&self, x: f32) -> Checked {
        if !x.is_finite() {
            return Err(self.invalid(format!("must be a finite number, got {x}")));
        }
        if x.abs() > LIMIT {
            return Err(self.invalid(format!(
                "{} is absurdly large (at most {LIMIT:e} in magnitude)",
                show(x)
            )));
        }
        Ok(())
    }

    fn positive(&self, x: f32) -> Checked {
        self.number(x)?;
        if x > 0.0 {
            Ok(())
        } else {
            Err(self.invalid(format!("must be positive, got {}", show(x))))
        }
    }

    fn non_negative(&self, x: f32) -> Checked {
        self.number(x)?;
        if x >= 0.0 {
            Ok(())
        } else {
            Err(self.invalid(format!("must not be negative, got {}", show(x))))
        }
    }

    fn within(&self, x: f32, min: f32, max: f32) -> Checked {
        self.number(x)?;
        if (min..=max).contains(&x) {
            Ok(())
        } else {
            Err(self.invalid(format!("must be between {min} and {max}, got {}", show(x))))
        }
    }

    fn vector(&self, v: Vec2) -> Checked {
        self.number(v.x)?;
        self.number(v.y)
    }

    /// `min < max` on both axes, both finite.
    fn rectangle(&self, min: Vec2, max: Vec2) -> Checked {
        self.key("min").vector(min)?;
        self.key("max").vector(max)?;
        if min.cmplt(max).all() {
            Ok(())
        } else {
            Err(self.key("max").invalid(format!(
                "must be greater than min on both axes, got min {} and max {}",
                show_vector(min),
                show_vector(max)
            )))
        }
    }

    /// `[min, max]` with `min <= max`, `min` >= 0 (or > 0 when `positive`).
    fn interval(&self, range: Interval, positive: bool) -> Checked {
        self.number(range.min)?;
        self.number(range.max)?;
        let low_ok = if positive {
            range.min > 0.0
        } else {
            range.min >= 0.0
        };
        if !low_ok {
            let must = if positive {
                "be positive"
            } else {
                "not be negative"
            };
            return Err(self.invalid(format!("min must {must}, got {}", show(range.min))));
        }
        if range.min > range.max {
            return Err(self.invalid(format!(
                "min must not exceed max, got [{}, {}]",
                show(range.min),
                show(range.max)
            )));
        }
        Ok(())
    }
}

/// A number as written in messages: `-5`, `0.25`, `1e30`.
fn show(x: f32) -> String {
    if x != 0.0 && !(1e-4..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

fn show_vector(v: Vec2) -> String {
    format!("[{}, {}]", show(v.x), show(v.y))
}

impl Scene {
    /// Checks every value against the ranges documented on the fields, in file order.
    fn check(&self) -> Checked {
        let root = KeyPath::default();
        if self.name.trim().is_empty() {
            return Err(root.key("name").invalid("must not be empty".into()));
        }
        if !(1..=MAX_PARTICLES).contains(&self.max_particles) {
            return Err(root.key("max_particles").invalid(format!(
                "must be between 1 and {MAX_PARTICLES}, got {}",
                self.max_particles
            )));
        }
        root.key("view").rectangle(self.view.min, self.view.max)?;
        self.image.check(&root.key("image"))?;
        self.physics.check(&root.key("physics"))?;
        if self.emitters.is_empty() {
            return Err(root
                .key("emitters")
                .invalid("a scene needs at least one emitter".into()));
        }
        for (i, emitter) in self.emitters.iter().enumerate() {
            emitter.check(&root.key("emitters").index(i))?;
        }
        for (i, attractor) in self.attractors.iter().enumerate() {
            let at = root.key("attractors").index(i);
            at.key("position").vector(attractor.position)?;
            at.key("strength").number(attractor.strength)?;
            at.key("radius").positive(attractor.radius)?;
        }
        for (i, vortex) in self.vortices.iter().enumerate() {
            let at = root.key("vortices").index(i);
            at.key("position").vector(vortex.position)?;
            at.key("strength").number(vortex.strength)?;
            at.key("radius").positive(vortex.radius)?;
        }
        for (i, collider) in self.colliders.iter().enumerate() {
            let at = root.key("colliders").index(i);
            match *collider {
                Collider::Circle { center, radius } => {
                    at.key("center").vector(center)?;
                    at.key("radius").positive(radius)?;
                }
                Collider::Box { min, max } => at.rectangle(min, max)?,
            }
        }
        if let Some(interaction) = &self.interaction {
            interaction.check(&root.key("interaction"), &self.view)?;
        }
        Ok(())
    }
}

impl Image {
    fn check(&self, at: &KeyPath) -> Checked {
        for (key, side) in [("width", self.width), ("height", self.height)] {
            if !IMAGE_SIDES.contains(&side) {
                return Err(at.key(key).invalid(format!(
                    "must be between {} and {} pixels, got {side}",
                    IMAGE_SIDES.start(),
                    IMAGE_SIDES.end()
                )));
            }
        }
        Ok(())
    }
}

impl Physics {
    fn check(&self, at: &KeyPath) -> Checked {
        at.key("gravity").vector(self.gravity)?;
        at.key("drag").non_negative(self.drag)?;
        at.key("restitution").within(self.restitution, 0.0, 1.0)?;
        at.key("friction").within(self.friction, 0.0, 1.0)
    }
}

impl Emitter {
    fn check(&self, at: &KeyPath) -> Checked {
        at.key("position").vector(self.position)?;
        at.key("width").non_negative(self.width)?;
        at.key("rate").positive(self.rate)?;
        at.key("direction").number(self.direction)?;
        at.key("spread").within(self.spread, 0.0, 360.0)?;
        at.key("speed").interval(self.speed, false)?;
        at.key("lifetime").interval(self.lifetime, true)?;
        let colour = at.key("colour");
        for channel in self.colour.to_array() {
            colour.within(channel, 0.0, 1.0)?;
        }
        at.key("size").positive(self.size)?;
        at.key("size").within(self.size, 0.0, 32.0)
    }
}

impl Interaction {
    fn check(&self, at: &KeyPath, view: &View) -> Checked {
        at.key("radius").positive(self.radius)?;
        let extent = view.max - view.min;
        let side = |length: f32| (f64::from(length) / f64::from(self.radius)).ceil();
        let cells = side(extent.x) * side(extent.y);
        if cells > MAX_GRID_CELLS as f64 {
            return Err(at.key("radius").invalid(format!(
                "{} is too small for the view: {} grid cells, at most {MAX_GRID_CELLS}",
                show(self.radius),
                show(cells as f32)
            )));
        }
        at.key("repulsion").non_negative(self.repulsion)?;
        at.key("viscosity").within(self.viscosity, 0.0, 1.0)
    }
}
