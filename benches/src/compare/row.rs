//! A row of the table, as the human-readable line and as one JSON object.

use super::lineup::Peer;
use super::rounds::{median, range, ratios};

/// One row of the table: ours against one peer.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The benchmark's name.
    pub name: &'static str,
    /// The unit of `ours` and `peer_value`.
    pub unit: &'static str,
    /// Our median figure.
    pub ours: f64,
    /// The peer's name: `rayon-core`, `rayon`, `chili`, `bevy_tasks`, `sequential`, ...
    pub peer: &'static str,
    /// The peer's median figure.
    pub peer_value: f64,
    /// The median per-round ratio ours/peer (infinite, written `null`, when the peer's
    /// figure was 0 in most rounds, as an idle pool's CPU time can be).
    pub ratio: f64,
    /// The smallest and largest figure of ours over the rounds.
    pub ours_range: (f64, f64),
    /// The smallest and largest figure of the peer over the rounds.
    pub peer_range: (f64, f64),
    /// The smallest and largest per-round ratio: a target "in every round" holds when the
    /// worst end of this range meets it.
    pub ratio_range: (f64, f64),
    /// Measured rounds.
    pub rounds: usize,
    /// What the peer does, for the human-readable table.
    pub peer_does: &'static str,
    /// The target from the issue, for the human-readable table.
    pub target: &'static str,
    /// Further keys of this row (what ours was configured with, the shape of the work),
    /// written after `ratio` in the JSON and as `key=value` in the table.
    pub extra: Vec<(&'static str, serde_json::Value)>,
}

impl Comparison {
    /// The row of `peer` in benchmark `name`: the medians of `ours` and `theirs` (figures of
    /// the same rounds, in `unit`) and the median of their per-round ratios, each with its
    /// range; no extra keys.
    ///
    /// ```
    /// use benches::compare::{Comparison, Peer};
    /// const TWICE: Peer<()> = Peer { name: "twice", does: "", target: "", run: |_| unreachable!() };
    /// let row = Comparison::between("toy", "ns", &[1.0, 3.0, 2.0], &TWICE, &[2.0, 2.0, 8.0]);
    /// assert_eq!((row.ours, row.peer_value, row.ratio), (2.0, 2.0, 0.5));
    /// assert_eq!((row.ours_range, row.peer_range, row.ratio_range), ((1.0, 3.0), (2.0, 8.0), (0.25, 1.5)));
    /// assert_eq!(row.rounds, 3);
    /// ```
    pub fn between<S>(
        name: &'static str,
        unit: &'static str,
        ours: &[f64],
        peer: &Peer<S>,
        theirs: &[f64],
    ) -> Comparison {
        let ratios = ratios(ours, theirs);
        Comparison {
            name,
            unit,
            ours: median(ours),
            peer: peer.name,
            peer_value: median(theirs),
            ratio: median(&ratios),
            ours_range: range(ours),
            peer_range: range(theirs),
            ratio_range: range(&ratios),
            rounds: ratios.len(),
            peer_does: peer.does,
            target: peer.target,
            extra: Vec::new(),
        }
    }

    /// `{"name": ..., "unit": ..., "ours": ..., "peer": ..., "peer_value": ..., "ratio": ...,
    /// "ours_range": [lo, hi], "peer_range": [lo, hi], "ratio_range": [lo, hi], "rounds": n}`
    /// on one line, keys in that order (a non-finite number is written as `null`), then the
    /// row's [`extra`](Self::extra) keys, if any.
    pub fn to_json(&self) -> String {
        let s = |v: &str| serde_json::Value::from(v).to_string();
        let n = |v: f64| serde_json::Value::from(round4(v)).to_string();
        let r = |(lo, hi): (f64, f64)| format!("[{}, {}]", n(lo), n(hi));
        let mut extra = String::new();
        for (key, value) in &self.extra {
            extra.push_str(&format!(", {}: {value}", s(key)));
        }
        format!(
            "{{\"name\": {}, \"unit\": {}, \"ours\": {}, \"peer\": {}, \"peer_value\": {}, \"ratio\": {}, \"ours_range\": {}, \"peer_range\": {}, \"ratio_range\": {}, \"rounds\": {}{extra}}}",
            s(self.name),
            s(self.unit),
            n(self.ours),
            s(self.peer),
            n(self.peer_value),
            n(self.ratio),
            r(self.ours_range),
            r(self.peer_range),
            r(self.ratio_range),
            self.rounds
        )
    }

    /// The [`extra`](Self::extra) keys as `key=value`, space-separated (strings unquoted).
    pub fn extra_text(&self) -> String {
        self.extra
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => format!("{key}={text}"),
                other => format!("{key}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Rounds `x` to 4 significant digits (JSON numbers that stay readable).
///
/// ```
/// assert_eq!(benches::compare::round4(12345.678), 12350.0);
/// ```
pub fn round4(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.3e}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Comparison {
        Comparison {
            name: "empty_spawn",
            unit: "ns/job",
            ours: 54.123456,
            peer: "rayon-core",
            peer_value: 80.0,
            ratio: f64::INFINITY,
            ours_range: (50.0, 60.0),
            peer_range: (70.0, 90.0),
            ratio_range: (0.5, f64::INFINITY),
            rounds: 7,
            peer_does: "",
            target: "",
            extra: vec![("in_flight", 2.into()), ("shape", "fan".into())],
        }
    }

    #[test]
    fn json_is_one_object_on_one_line_with_the_keys_in_order() {
        let json = row().to_json();
        assert!(!json.contains('\n'));
        assert_eq!(
            json,
            "{\"name\": \"empty_spawn\", \"unit\": \"ns/job\", \"ours\": 54.12, \
             \"peer\": \"rayon-core\", \"peer_value\": 80.0, \"ratio\": null, \
             \"ours_range\": [50.0, 60.0], \"peer_range\": [70.0, 90.0], \
             \"ratio_range\": [0.5, null], \"rounds\": 7, \
             \"in_flight\": 2, \"shape\": \"fan\"}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(parsed["peer"], "rayon-core");
        assert_eq!(parsed["ratio_range"][0], 0.5);
    }

    #[test]
    fn extra_keys_read_as_key_value() {
        assert_eq!(row().extra_text(), "in_flight=2 shape=fan");
    }
}
