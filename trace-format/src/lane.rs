//! Lanes: the threads of a trace, what kind each is, and how the recorder names them.

use std::fmt;

/// What kind of thread a lane is: the `kind` of `jobs.lanes[]`, and the first word of the
/// recorder's thread names (`"worker 0"`, `"main"`, `"io 0"`, `"helper 0"`).
///
/// ```
/// use jobs_trace_format::LaneKind;
/// assert_eq!(LaneKind::Worker.lane_name(3), "worker 3");
/// assert_eq!(LaneKind::from_thread_name("worker 3"), LaneKind::Worker);
/// assert_eq!(LaneKind::parse("io"), LaneKind::Io);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LaneKind {
    /// One of the job system's workers.
    Worker,
    /// The thread that created the job system.
    Main,
    /// A thread that runs blocking calls.
    Io,
    /// Another thread that ran jobs while it waited.
    Helper,
    /// A thread of none of these kinds: a reader's answer for a lane of a file from another
    /// program. The jobs recorder never writes it.
    Other,
}

impl LaneKind {
    /// The kind as the file spells it (`"worker"`, `"main"`, `"io"`, `"helper"`, `"other"`).
    ///
    /// ```
    /// assert_eq!(jobs_trace_format::LaneKind::Io.as_str(), "io");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            LaneKind::Worker => "worker",
            LaneKind::Main => "main",
            LaneKind::Io => "io",
            LaneKind::Helper => "helper",
            LaneKind::Other => "other",
        }
    }

    /// The kind a file's spelling names; [`Other`](Self::Other) for any other word.
    ///
    /// ```
    /// use jobs_trace_format::LaneKind;
    /// assert_eq!(LaneKind::parse("helper"), LaneKind::Helper);
    /// assert_eq!(LaneKind::parse("audio"), LaneKind::Other);
    /// ```
    pub fn parse(kind: &str) -> LaneKind {
        match kind {
            "worker" => LaneKind::Worker,
            "main" => LaneKind::Main,
            "io" => LaneKind::Io,
            "helper" => LaneKind::Helper,
            _ => LaneKind::Other,
        }
    }

    /// The name the recorder gives lane `index` of this kind: `"worker 0"`, `"main"` (the one
    /// main thread has no index), `"io 0"`, `"helper 0"`.
    ///
    /// ```
    /// use jobs_trace_format::LaneKind;
    /// assert_eq!(LaneKind::Main.lane_name(0), "main");
    /// assert_eq!(LaneKind::Helper.lane_name(2), "helper 2");
    /// ```
    pub fn lane_name(self, index: usize) -> String {
        match self {
            LaneKind::Main => "main".to_owned(),
            kind => format!("{} {index}", kind.as_str()),
        }
    }

    /// The kind of a thread named as [`lane_name`](Self::lane_name) names them; what a reader
    /// uses for a file without the `jobs` object. [`Other`](Self::Other) for any other name.
    ///
    /// ```
    /// use jobs_trace_format::LaneKind;
    /// assert_eq!(LaneKind::from_thread_name("main"), LaneKind::Main);
    /// assert_eq!(LaneKind::from_thread_name("io 0"), LaneKind::Io);
    /// assert_eq!(LaneKind::from_thread_name("audio"), LaneKind::Other);
    /// assert_eq!(LaneKind::from_thread_name("worker x"), LaneKind::Other);
    /// ```
    pub fn from_thread_name(name: &str) -> LaneKind {
        let mut words = name.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("main"), None, _) => LaneKind::Main,
            (Some(kind), Some(index), None) if index.parse::<u64>().is_ok() => {
                LaneKind::parse(kind)
            }
            _ => LaneKind::Other,
        }
    }
}

impl fmt::Display for LaneKind {
    /// Writes [`as_str`](LaneKind::as_str).
    ///
    /// ```
    /// assert_eq!(jobs_trace_format::LaneKind::Worker.to_string(), "worker");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for LaneKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for LaneKind {
    /// Any string: an unknown word is [`LaneKind::Other`].
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<LaneKind, D::Error> {
        let kind = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(LaneKind::parse(&kind))
    }
}
