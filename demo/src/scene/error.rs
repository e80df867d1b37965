//! Mistakes and where they are: [`SceneError`] (file, line, key, message), [`InvalidValue`]
//! (a key and what is wrong with its value), the key paths that name values
//! (`emitters[1].rate`), and finding a key path's line from the parser's spans.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A mistake in a scene file, or a file that cannot be read: where it is and what is wrong.
///
/// Displays as `FILE:LINE: KEY: MESSAGE`, leaving out what is not known:
///
/// ```
/// use std::path::Path;
/// let error = demo::scene::parse("name = \"x\"\nseed = -1", Path::new("bad.toml")).unwrap_err();
/// assert_eq!((error.line, error.key.as_deref()), (Some(2), Some("seed")));
/// assert!(error.to_string().starts_with("bad.toml:2: seed: must be between 0 and "));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneError {
    /// The scene file, as it was given.
    pub file: PathBuf,
    /// The line of the mistake, counting from 1; `None` only when the file could not be read or
    /// is too large to be a scene (and for a syntax error the TOML parser gives no place for,
    /// which no test has found).
    pub line: Option<usize>,
    /// The dotted path of the key, like `emitters[1].rate` (indices count from 0); `None` for a
    /// file that cannot be read, is not UTF-8, or is not valid TOML.
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

/// A value of a [`Scene`](super::Scene) outside its documented range, from
/// [`Scene::check`](super::Scene::check): the key and what is wrong.
///
/// ```
/// # use std::path::Path;
/// let mut scene = demo::scene::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/fountain.toml")))?;
/// scene.emitters[0].rate = -5.0;
/// let invalid = scene.check().unwrap_err();
/// assert_eq!(invalid.to_string(), "emitters[0].rate: must be positive, got -5");
/// # Ok::<(), demo::scene::SceneError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidValue {
    pub(super) at: KeyPath,
    pub(super) message: String,
}

impl InvalidValue {
    /// The dotted path of the key, like `emitters[1].rate`.
    pub fn key(&self) -> String {
        self.at.to_string()
    }

    /// What is wrong, with the value and the allowed range.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl std::error::Error for InvalidValue {}

/// Where a value sits in a scene file: `emitters[1].rate`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct KeyPath(Vec<Segment>);

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    /// The path of key `name` in the table at this path.
    pub(super) fn key(&self, name: &str) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Key(name.to_owned()));
        path
    }

    /// The path of item `index` of the array at this path.
    pub(super) fn index(&self, index: usize) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    /// An [`InvalidValue`] at this path.
    pub(super) fn invalid(&self, message: String) -> InvalidValue {
        InvalidValue {
            at: self.clone(),
            message,
        }
    }

    /// The span of the value at this path in `root`, or, if the file does not spell it out (a
    /// default), of its nearest enclosing table or array that it does.
    pub(super) fn span_in(&self, root: &Spanned<DeTable<'_>>) -> Range<usize> {
        let mut span = root.span();
        let mut value: Option<&Spanned<DeValue<'_>>> = None;
        for segment in &self.0 {
            let next = match (segment, value) {
                (Segment::Key(name), None) => entry(root.get_ref(), name),
                (Segment::Key(name), Some(v)) => {
                    v.get_ref().as_table().and_then(|t| entry(t, name))
                }
                (Segment::Index(i), Some(v)) => v.get_ref().as_array().and_then(|a| a.get(*i)),
                (Segment::Index(_), None) => None,
            };
            let Some(next) = next else { break };
            span = next.span();
            value = Some(next);
        }
        span
    }
}

fn entry<'d, 'i>(table: &'d DeTable<'i>, name: &str) -> Option<&'d Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(key, _)| key.get_ref() == name)
        .map(|(_, value)| value)
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

/// The 1-based line of a byte offset into `text`.
pub(super) fn line_of(text: &[u8], offset: usize) -> usize {
    let before = &text[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}
