//! Job priorities: one type for the job system that schedules by them and the trace that records
//! them.

use std::fmt;

/// How urgently a job should run.
///
/// The job system (`jobs::Priority` is this type) schedules by it: a worker that picks a job
/// takes the highest-priority job it can see, its own queue and the shared queues, High before
/// Normal before Low. A High job submitted while Low jobs are queued starts before them (running
/// jobs are not interrupted; long Low batches check for waiting High work between items), and
/// Low jobs run on at most `jobs::Config::low_priority_threads` threads at once (by default all
/// but one), so that one is always free for the frame's work. The trace records it on every
/// span as `args.priority`, spelled as [`as_str`](Self::as_str) says.
///
/// ```
/// use jobs_trace_format::Priority;
/// assert!(Priority::High < Priority::Low); // higher priority sorts first
/// assert_eq!(Priority::default(), Priority::Normal);
/// assert_eq!(Priority::parse(Priority::Low.as_str()), Some(Priority::Low));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Latency-critical work: input, the pass on the frame's critical path.
    High = 0,
    /// Ordinary frame work. The default.
    #[default]
    Normal = 1,
    /// Background work that may be overtaken: streaming, snapshot writing.
    Low = 2,
}

impl Priority {
    /// All priorities, highest first: the order in which workers look for work.
    ///
    /// ```
    /// use jobs_trace_format::Priority;
    /// assert_eq!(Priority::ALL[Priority::Normal.index()], Priority::Normal);
    /// ```
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    /// The index of this priority in `ALL` (High = 0).
    ///
    /// ```
    /// assert_eq!(jobs_trace_format::Priority::Low.index(), 2);
    /// ```
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The priority as the trace spells it: `"High"`, `"Normal"`, `"Low"`.
    ///
    /// ```
    /// assert_eq!(jobs_trace_format::Priority::High.as_str(), "High");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::High => "High",
            Priority::Normal => "Normal",
            Priority::Low => "Low",
        }
    }

    /// The priority a trace's spelling names, or `None` for an unknown name (readers skip it
    /// rather than reject the file).
    ///
    /// ```
    /// use jobs_trace_format::Priority;
    /// assert_eq!(Priority::parse("Normal"), Some(Priority::Normal));
    /// assert_eq!(Priority::parse("urgent"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Priority {
    /// Writes [`as_str`](Priority::as_str).
    ///
    /// ```
    /// assert_eq!(jobs_trace_format::Priority::Low.to_string(), "Low");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Priority {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Priority, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Priority::parse(&name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, &["High", "Normal", "Low"]))
    }
}

/// Deserializes an optional priority, leniently: an unknown name is `None`, not an error, so a
/// reader keeps a span whose priority a newer writer spells differently.
#[cfg(feature = "serde")]
pub(crate) fn lenient<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Priority>, D::Error> {
    use serde::Deserialize;
    let name = <Option<std::borrow::Cow<'de, str>>>::deserialize(deserializer)?;
    Ok(name.as_deref().and_then(Priority::parse))
}
