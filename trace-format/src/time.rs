//! Time in the file: whole nanoseconds from the start of the recording window, written as
//! microseconds (Chrome's unit) with three decimals.
//!
//! Every timestamp is therefore a whole number of nanoseconds: a reader that rounds to the
//! nearest one ([`nanos_from_micros`]) gets back exactly what the writer had, so back-to-back
//! spans stay back to back and sums stay exact.

use std::fmt;

/// Nanoseconds, written as microseconds with three decimals (negative ones with a sign).
///
/// ```
/// use jobs_trace_format::Micros;
/// assert_eq!(Micros(1_234_567).to_string(), "1234.567");
/// assert_eq!(Micros(5).to_string(), "0.005");
/// assert_eq!(Micros(-1_500).to_string(), "-1.500");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub i64);

impl Micros {
    /// From unsigned nanoseconds (what the recorder keeps), saturating past `i64::MAX` (292
    /// years).
    ///
    /// ```
    /// assert_eq!(jobs_trace_format::Micros::from_nanos(2_000).to_string(), "2.000");
    /// ```
    pub fn from_nanos(ns: u64) -> Micros {
        Micros(i64::try_from(ns).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Micros {
    /// Written piece by piece, without format strings: a trace writes two per span.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let ns = self.0.unsigned_abs();
        fmt::Display::fmt(&(ns / 1000), f)?;
        let fraction = ns % 1000;
        let digit = |d: u64| b'0' + (d % 10) as u8;
        let digits = [
            b'.',
            digit(fraction / 100),
            digit(fraction / 10),
            digit(fraction),
        ];
        // The four bytes are ASCII: a '.' and three digits.
        f.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    }
}

/// The file's microseconds as nanoseconds, rounded to the nearest one.
///
/// ```
/// assert_eq!(jobs_trace_format::nanos_from_micros(1234.567), 1_234_567);
/// assert_eq!(jobs_trace_format::nanos_from_micros(1.5), 1_500);
/// ```
pub fn nanos_from_micros(us: f64) -> i64 {
    (us * 1_000.0).round() as i64
}

/// Serde helpers: nanosecond fields kept as microseconds in the file.
#[cfg(feature = "serde")]
pub(crate) mod serde_micros {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::nanos_from_micros;

    fn micros(ns: i64) -> f64 {
        ns as f64 / 1_000.0
    }

    /// One time.
    pub(crate) fn serialize<S: Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(micros(*ns))
    }

    /// One time.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        f64::deserialize(d).map(nanos_from_micros)
    }

    /// A start and an end.
    pub(crate) mod pair {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(ns: &[i64; 2], s: S) -> Result<S::Ok, S::Error> {
            serde::Serialize::serialize(&[micros(ns[0]), micros(ns[1])], s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[i64; 2], D::Error> {
            <[f64; 2]>::deserialize(d).map(|[a, b]| [nanos_from_micros(a), nanos_from_micros(b)])
        }
    }

    /// A list of times (one per worker).
    pub(crate) mod list {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(ns: &[i64], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(ns.iter().map(|&ns| micros(ns)))
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
            <Vec<f64>>::deserialize(d).map(|us| us.into_iter().map(nanos_from_micros).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{nanos_from_micros, Micros};

    /// Every fraction is three digits, and reading the text back gives the nanoseconds.
    #[test]
    fn micros_round_trip() {
        for ns in [
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            1_000,
            1_001,
            123_456_789_012,
            i64::MAX,
            -1,
            -1_999,
        ] {
            let text = Micros(ns).to_string();
            assert_eq!(text.split('.').nth(1).map(str::len), Some(3), "{text}");
            if ns.unsigned_abs() < 1 << 50 {
                assert_eq!(
                    nanos_from_micros(text.parse().expect("a number")),
                    ns,
                    "{text}"
                );
            }
        }
        assert_eq!(Micros(i64::MIN).to_string(), "-9223372036854775.808");
    }
}
