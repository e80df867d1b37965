//! The scene's ranges and sizes: [`Scene::check`], which [`parse`](super::parse) runs on what
//! it read and [`run`](crate::run::run) runs again on the scene it is given, so that a scene
//! changed in code after parsing is held to the same ranges. Every size that allocates in
//! proportion to a scene value (particles, pixels, grid cells, emitters and the other lists) is
//! bounded here, with checked arithmetic, before anything is allocated.

use glam::Vec2;

use super::error::{InvalidValue, KeyPath};
use super::types::{Collider, Emitter, Image, Interaction, Interval, Physics, Scene, View};
use super::{IMAGE_SIDES, LIMIT, MAX_GRID_CELLS, MAX_ITEMS, MAX_PARTICLES};

type Checked = Result<(), InvalidValue>;

/// Columns of the neighbour grid of a scene without `[interaction]`.
pub(crate) const COLUMNS_WITHOUT_INTERACTION: u32 = 128;

/// The neighbour grid a scene implies: cells of the interaction radius, or
/// [`COLUMNS_WITHOUT_INTERACTION`] columns without one. `cols` and `rows` saturate (a NaN counts
/// as 0) and are at least 1: a scene that passes [`Scene::check`] has at most
/// [`MAX_GRID_CELLS`] cells, so each fits in a `u32`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct GridShape {
    /// Cell side, m.
    pub cell: f32,
    /// Columns.
    pub cols: u64,
    /// Rows.
    pub rows: u64,
}

impl GridShape {
    pub(crate) fn of(view: &View, interaction: Option<&Interaction>) -> GridShape {
        let size = view.max - view.min;
        let cell = match interaction {
            Some(interaction) => interaction.radius,
            None => size.x / COLUMNS_WITHOUT_INTERACTION as f32,
        };
        // `as` saturates (and maps NaN to 0): no wrap, however odd the view.
        let side = |length: f32| ((length / cell).ceil() as u64).max(1);
        GridShape {
            cell,
            cols: side(size.x),
            rows: side(size.y),
        }
    }

    /// Cells in all, `None` if more than `u64` holds.
    pub(crate) fn cells(&self) -> Option<u64> {
        self.cols.checked_mul(self.rows)
    }
}

impl KeyPath {
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

    /// At most [`MAX_ITEMS`] items; the error names the first one too many.
    fn items<T>(&self, items: &[T], what: &str) -> Checked {
        if items.len() > MAX_ITEMS {
            return Err(self.index(MAX_ITEMS).invalid(format!(
                "at most {MAX_ITEMS} {what} in a scene, got {}",
                items.len()
            )));
        }
        Ok(())
    }
}

/// A number as written in messages: `-5`, `0.25`, `1e30`.
pub(super) fn show(x: f32) -> String {
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
    /// Checks every value against the ranges documented on the fields, and every size the scene
    /// implies (particles, pixels, grid cells, list lengths) against its bound: the first value
    /// out of range, in the order of the fields.
    ///
    /// [`parse`](super::parse) runs it on every scene it returns; [`run`](crate::run::run) runs it
    /// again, so a scene changed in code is held to the same ranges.
    pub fn check(&self) -> Result<(), InvalidValue> {
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
        root.key("emitters").items(&self.emitters, "emitters")?;
        for (i, emitter) in self.emitters.iter().enumerate() {
            emitter.check(&root.key("emitters").index(i))?;
        }
        root.key("attractors")
            .items(&self.attractors, "attractors")?;
        for (i, attractor) in self.attractors.iter().enumerate() {
            let at = root.key("attractors").index(i);
            at.key("position").vector(attractor.position)?;
            at.key("strength").number(attractor.strength)?;
            at.key("radius").positive(attractor.radius)?;
        }
        root.key("vortices").items(&self.vortices, "vortices")?;
        for (i, vortex) in self.vortices.iter().enumerate() {
            let at = root.key("vortices").index(i);
            at.key("position").vector(vortex.position)?;
            at.key("strength").number(vortex.strength)?;
            at.key("radius").positive(vortex.radius)?;
        }
        root.key("colliders").items(&self.colliders, "colliders")?;
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
            interaction.check(&root.key("interaction"))?;
        }
        self.check_grid(&root)
    }

    /// The neighbour grid has at most [`MAX_GRID_CELLS`] cells.
    fn check_grid(&self, root: &KeyPath) -> Checked {
        let grid = GridShape::of(&self.view, self.interaction.as_ref());
        let cells = grid.cells();
        if cells.is_some_and(|cells| cells <= MAX_GRID_CELLS) {
            return Ok(());
        }
        let cells = match cells {
            Some(cells) => cells.to_string(),
            None => "more than 2^64".to_owned(),
        };
        let size = self.view.max - self.view.min;
        Err(match &self.interaction {
            Some(interaction) => root.key("interaction").key("radius").invalid(format!(
                "{} is too small for the view: {} x {} = {cells} grid cells, at most \
                 {MAX_GRID_CELLS}",
                show(interaction.radius),
                grid.cols,
                grid.rows,
            )),
            None => root.key("view").invalid(format!(
                "a view {} m wide and {} m tall needs {} x {} = {cells} grid cells without \
                 [interaction] (cells of 1/{COLUMNS_WITHOUT_INTERACTION} of the width), at most \
                 {MAX_GRID_CELLS}: make it at most {} times as tall as wide, or add an \
                 [interaction] radius",
                show(size.x),
                show(size.y),
                grid.cols,
                grid.rows,
                MAX_GRID_CELLS / u64::from(COLUMNS_WITHOUT_INTERACTION).pow(2),
            )),
        })
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
    fn check(&self, at: &KeyPath) -> Checked {
        at.key("radius").positive(self.radius)?;
        at.key("repulsion").non_negative(self.repulsion)?;
        at.key("viscosity").within(self.viscosity, 0.0, 1.0)
    }
}
