//! From the parsed TOML document to a [`Scene`]: every key is read as its type with the
//! parser's span at hand, so that an unknown key, a missing key, a wrong type or an array of the
//! wrong length is reported at its own line and key. Nothing here reads an error message's text.
//! Ranges are [`Scene::check`]'s, except where a value cannot even be held: an integer outside
//! its documented range, a number beyond `f32` or too close to 0 for it.

use std::ops::{Range, RangeInclusive};

use glam::{Vec2, Vec3};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::KeyPath;
use super::types::{
    Attractor, Collider, Emitter, Image, Interaction, Interval, Physics, Scene, View, Vortex,
};
use super::{IMAGE_SIDES, LIMIT, MAX_PARTICLES};

/// A mistake in the document's shape: the key it is about and the span to report.
pub(super) struct Misread {
    pub(super) key: KeyPath,
    pub(super) span: Range<usize>,
    pub(super) message: String,
}

type Read<T> = Result<T, Misread>;
type Value<'d, 'i> = &'d Spanned<DeValue<'i>>;

fn misread(key: &KeyPath, span: Range<usize>, message: String) -> Misread {
    Misread {
        key: key.clone(),
        span,
        message,
    }
}

/// Reads the scene of a whole document.
pub(super) fn scene(document: &Spanned<DeTable<'_>>) -> Read<Scene> {
    let root = Table {
        entries: document.get_ref(),
        span: document.span(),
        at: KeyPath::default(),
    };
    root.known(&[
        "name",
        "seed",
        "max_particles",
        "view",
        "image",
        "physics",
        "emitters",
        "attractors",
        "vortices",
        "colliders",
        "interaction",
    ])?;
    // Fields are read in this order: the first mistake in it is reported.
    Ok(Scene {
        name: root.required("name", string)?,
        seed: root.required("seed", |at, v| integer(at, v, 0..=i64::MAX as u64))?,
        max_particles: root.required("max_particles", |at, v| {
            // At most MAX_PARTICLES: fits a usize.
            integer(at, v, 1..=MAX_PARTICLES as u64).map(|n| n as usize)
        })?,
        view: root.required("view", view)?,
        image: root.required("image", image)?,
        physics: root.required("physics", physics)?,
        emitters: root.required("emitters", |at, v| list(at, v, emitter))?,
        attractors: root
            .optional("attractors", |at, v| list(at, v, attractor))?
            .unwrap_or_default(),
        vortices: root
            .optional("vortices", |at, v| list(at, v, vortex))?
            .unwrap_or_default(),
        colliders: root
            .optional("colliders", |at, v| list(at, v, collider))?
            .unwrap_or_default(),
        interaction: root.optional("interaction", interaction)?,
    })
}

fn view(at: &KeyPath, value: Value<'_, '_>) -> Read<View> {
    let table = Table::new(at, value, &["min", "max"])?;
    Ok(View {
        min: table.required("min", vector)?,
        max: table.required("max", vector)?,
    })
}

fn image(at: &KeyPath, value: Value<'_, '_>) -> Read<Image> {
    let table = Table::new(at, value, &["width", "height"])?;
    let sides = u64::from(*IMAGE_SIDES.start())..=u64::from(*IMAGE_SIDES.end());
    // Within IMAGE_SIDES: fits a u32.
    let side = |at: &KeyPath, v: Value<'_, '_>| integer(at, v, sides.clone()).map(|n| n as u32);
    Ok(Image {
        width: table.required("width", side)?,
        height: table.required("height", side)?,
    })
}

fn physics(at: &KeyPath, value: Value<'_, '_>) -> Read<Physics> {
    let table = Table::new(at, value, &["gravity", "drag", "restitution", "friction"])?;
    Ok(Physics {
        gravity: table.required("gravity", vector)?,
        drag: table.optional("drag", number)?.unwrap_or(0.0),
        restitution: (table.optional("restitution", number)?)
            .unwrap_or(Physics::DEFAULT_RESTITUTION),
        friction: (table.optional("friction", number)?).unwrap_or(Physics::DEFAULT_FRICTION),
    })
}

fn emitter(at: &KeyPath, value: Value<'_, '_>) -> Read<Emitter> {
    let keys = [
        "position",
        "width",
        "rate",
        "direction",
        "spread",
        "speed",
        "lifetime",
        "colour",
        "size",
    ];
    let table = Table::new(at, value, &keys)?;
    Ok(Emitter {
        position: table.required("position", vector)?,
        width: table.optional("width", number)?.unwrap_or(0.0),
        rate: table.required("rate", number)?,
        direction: table.required("direction", number)?,
        spread: table.optional("spread", number)?.unwrap_or(0.0),
        speed: table.required("speed", interval)?,
        lifetime: table.required("lifetime", interval)?,
        colour: (table.optional("colour", colour)?).unwrap_or(Emitter::DEFAULT_COLOUR),
        size: (table.optional("size", number)?).unwrap_or(Emitter::DEFAULT_SIZE),
    })
}

fn attractor(at: &KeyPath, value: Value<'_, '_>) -> Read<Attractor> {
    let table = Table::new(at, value, &["position", "strength", "radius"])?;
    Ok(Attractor {
        position: table.required("position", vector)?,
        strength: table.required("strength", number)?,
        radius: table.required("radius", number)?,
    })
}

fn vortex(at: &KeyPath, value: Value<'_, '_>) -> Read<Vortex> {
    let table = Table::new(at, value, &["position", "strength", "radius"])?;
    Ok(Vortex {
        position: table.required("position", vector)?,
        strength: table.required("strength", number)?,
        radius: table.required("radius", number)?,
    })
}

/// A `[[colliders]]` table: its `kind` says which keys it has; a key of the other kind is
/// reported at its own line.
fn collider(at: &KeyPath, value: Value<'_, '_>) -> Read<Collider> {
    let table = Table::new(at, value, &["kind", "center", "radius", "min", "max"])?;
    let kind_at = at.key("kind");
    let kind = table.required("kind", string)?;
    match kind.as_str() {
        "circle" => {
            table.absent(&["min", "max"], "a circle has `center` and `radius`")?;
            Ok(Collider::Circle {
                center: table.required("center", vector)?,
                radius: table.required("radius", number)?,
            })
        }
        "box" => {
            table.absent(&["center", "radius"], "a box has `min` and `max`")?;
            Ok(Collider::Box {
                min: table.required("min", vector)?,
                max: table.required("max", vector)?,
            })
        }
        other => {
            let span = table.get("kind").map_or(table.span.clone(), |v| v.span());
            Err(misread(
                &kind_at,
                span,
                format!("unknown variant `{other}`, expected `circle` or `box`"),
            ))
        }
    }
}

fn interaction(at: &KeyPath, value: Value<'_, '_>) -> Read<Interaction> {
    let table = Table::new(at, value, &["radius", "repulsion", "viscosity"])?;
    Ok(Interaction {
        radius: table.required("radius", number)?,
        repulsion: table.optional("repulsion", number)?.unwrap_or(0.0),
        viscosity: table.optional("viscosity", number)?.unwrap_or(0.0),
    })
}

/// A table being read: its entries, its span (where a missing key is reported) and its path.
struct Table<'d, 'i> {
    entries: &'d DeTable<'i>,
    span: Range<usize>,
    at: KeyPath,
}

impl<'d, 'i> Table<'d, 'i> {
    /// `value` as a table with no keys but `keys`.
    fn new(at: &KeyPath, value: Value<'d, 'i>, keys: &[&str]) -> Read<Self> {
        let Some(entries) = value.get_ref().as_table() else {
            return Err(wrong_type(at, value, "a table"));
        };
        let table = Table {
            entries,
            span: value.span(),
            at: at.clone(),
        };
        table.known(keys)?;
        Ok(table)
    }

    /// The first key (in file order) not in `keys`, as an error.
    fn known(&self, keys: &[&str]) -> Read<()> {
        let unknown = (self.entries.iter())
            .filter(|(key, _)| !keys.contains(&key.get_ref().as_ref()))
            .min_by_key(|(key, _)| key.span().start);
        match unknown {
            Some((key, _)) => {
                let expected: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                Err(misread(
                    &self.at.key(key.get_ref()),
                    key.span(),
                    format!(
                        "unknown field `{}`, expected one of {}",
                        key.get_ref(),
                        expected.join(", ")
                    ),
                ))
            }
            None => Ok(()),
        }
    }

    /// None of `keys` is given: they belong to another kind of table (`why` says which).
    fn absent(&self, keys: &[&str], why: &str) -> Read<()> {
        let given = (self.entries.iter())
            .filter(|(key, _)| keys.contains(&key.get_ref().as_ref()))
            .min_by_key(|(key, _)| key.span().start);
        match given {
            Some((key, _)) => Err(misread(
                &self.at.key(key.get_ref()),
                key.span(),
                format!("unknown field `{}`: {why}", key.get_ref()),
            )),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Option<Value<'d, 'i>> {
        (self.entries.iter())
            .find(|(name, _)| name.get_ref() == key)
            .map(|(_, value)| value)
    }

    /// Reads `key` with `read`; an error at the table if it is missing.
    fn required<T>(
        &self,
        key: &str,
        read: impl FnOnce(&KeyPath, Value<'d, 'i>) -> Read<T>,
    ) -> Read<T> {
        let at = self.at.key(key);
        match self.get(key) {
            Some(value) => read(&at, value),
            None => Err(misread(
                &at,
                self.span.clone(),
                format!("missing field `{key}`"),
            )),
        }
    }

    /// Reads `key` with `read` if it is given.
    fn optional<T>(
        &self,
        key: &str,
        read: impl FnOnce(&KeyPath, Value<'d, 'i>) -> Read<T>,
    ) -> Read<Option<T>> {
        self.get(key)
            .map(|value| read(&self.at.key(key), value))
            .transpose()
    }
}

/// What a value is, for messages: `string "fast"`, `integer 7`, `an array`.
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) if s.chars().count() > 40 => {
            let head: String = s.chars().take(40).collect();
            format!("string {head:?}...")
        }
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {f}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

fn wrong_type(at: &KeyPath, value: Value<'_, '_>, expected: &str) -> Misread {
    misread(
        at,
        value.span(),
        format!(
            "invalid type: {}, expected {expected}",
            describe(value.get_ref())
        ),
    )
}

fn string(at: &KeyPath, value: Value<'_, '_>) -> Read<String> {
    match value.get_ref().as_str() {
        Some(s) => Ok(s.to_owned()),
        None => Err(wrong_type(at, value, "a string")),
    }
}

/// An integer within `range`; one beyond it (or beyond 64 bits) is reported as written.
fn integer(at: &KeyPath, value: Value<'_, '_>, range: RangeInclusive<u64>) -> Read<u64> {
    let Some(written) = value.get_ref().as_integer() else {
        return Err(wrong_type(at, value, "an integer"));
    };
    let parsed = i64::from_str_radix(written.as_str(), written.radix()).ok();
    match parsed.and_then(|n| u64::try_from(n).ok()) {
        Some(n) if range.contains(&n) => Ok(n),
        _ => Err(misread(
            at,
            value.span(),
            format!(
                "must be between {} and {}, got {written}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// A number (integer or float) that an `f32` holds: finite, at most [`LIMIT`] in magnitude,
/// and 0 or at least `f32::MIN_POSITIVE` in magnitude (not rounded to 0 or to a subnormal).
fn number(at: &KeyPath, value: Value<'_, '_>) -> Read<f32> {
    let error = |message: String| Err(misread(at, value.span(), message));
    let (parsed, written) = match value.get_ref() {
        DeValue::Integer(i) => {
            // Beyond 64 bits: as good as infinite here.
            let n = i64::from_str_radix(i.as_str(), i.radix()).map_or(f64::INFINITY, |n| n as f64);
            (n, i.to_string())
        }
        DeValue::Float(f) => match f.as_str().parse::<f64>() {
            Ok(x) => (x, f.to_string()),
            Err(_) => return error(format!("cannot read the number {f}")),
        },
        _ => return Err(wrong_type(at, value, "a number")),
    };
    if parsed.is_nan() || (parsed.is_infinite() && written.contains("inf")) {
        return error(format!("must be a finite number, got {written}"));
    }
    if parsed.abs() > f64::from(LIMIT) {
        return error(format!(
            "{written} is absurdly large (at most {LIMIT:e} in magnitude)"
        ));
    }
    if parsed != 0.0 && parsed.abs() < f64::from(f32::MIN_POSITIVE) {
        return error(format!(
            "{written} is too close to 0 (0, or at least {:e} in magnitude)",
            f32::MIN_POSITIVE
        ));
    }
    // Finite and within LIMIT: the nearest f32.
    Ok(parsed as f32)
}

/// An array of exactly `N` numbers, written like `shape`; an extra element is reported at its
/// own place.
fn numbers<const N: usize>(at: &KeyPath, value: Value<'_, '_>, shape: &str) -> Read<[f32; N]> {
    let Some(items) = value.get_ref().as_array() else {
        return Err(wrong_type(at, value, &format!("an array {shape}")));
    };
    if items.len() != N {
        let span = items.get(N).map_or(value.span(), |extra| extra.span());
        return Err(misread(
            at,
            span,
            format!(
                "invalid length {}, expected {N} numbers {shape}",
                items.len()
            ),
        ));
    }
    let mut out = [0.0; N];
    for (out, item) in out.iter_mut().zip(items.iter()) {
        *out = number(at, item)?;
    }
    Ok(out)
}

fn vector(at: &KeyPath, value: Value<'_, '_>) -> Read<Vec2> {
    numbers::<2>(at, value, "[x, y]").map(Vec2::from_array)
}

fn colour(at: &KeyPath, value: Value<'_, '_>) -> Read<Vec3> {
    numbers::<3>(at, value, "[r, g, b]").map(Vec3::from_array)
}

fn interval(at: &KeyPath, value: Value<'_, '_>) -> Read<Interval> {
    numbers::<2>(at, value, "[min, max]").map(|[min, max]| Interval { min, max })
}

/// An array of tables, each read with `item`.
fn list<T>(
    at: &KeyPath,
    value: Value<'_, '_>,
    item: impl Fn(&KeyPath, Value<'_, '_>) -> Read<T>,
) -> Read<Vec<T>> {
    let Some(items) = value.get_ref().as_array() else {
        return Err(wrong_type(at, value, "an array of tables"));
    };
    (items.iter().enumerate())
        .map(|(i, value)| item(&at.index(i), value))
        .collect()
}
