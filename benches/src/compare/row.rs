//! A row of the table, as the human-readable line and as one JSON object.

use super::lineup::Peer;
use super::rounds::{median, median_ratio};

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
    /// the same rounds, in `unit`) and the median of their per-round ratios; no extra keys.
    pub fn between<S>(
        name: &'static str,
        unit: &'static str,
        ours: &[f64],
        peer: &Peer<S>,
        theirs: &[f64],
    ) -> Comparison {
        Comparison {
            name,
            unit,
            ours: median(ours),
            peer: peer.name,
            peer_value: median(theirs),
            ratio: median_ratio(ours, theirs),
            peer_does: peer.does,
            target: peer.target,
            extra: Vec::new(),
        }
    }

    /// `{"name": ..., "unit": ..., "ours": ..., "peer": ..., "peer_value": ..., "ratio": ...}`
    /// on one line, keys in that order (a non-finite number is written as `null`), then the
    /// row's [`extra`](Self::extra) keys, if any.
    pub fn to_json(&self) -> String {
        let s = |v: &str| serde_json::Value::from(v).to_string();
        let n = |v: f64| serde_json::Value::from(round4(v)).to_string();
        let mut extra = String::new();
        for (key, value) in &self.extra {
            extra.push_str(&format!(", {}: {value}", s(key)));
        }
        format!(
            "{{\"name\": {}, \"unit\": {}, \"ours\": {}, \"peer\": {}, \"peer_value\": {}, \"ratio\": {}{extra}}}",
            s(self.name),
            s(self.unit),
            n(self.ours),
            s(self.peer),
            n(self.peer_value),
            n(self.ratio)
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
             \"in_flight\": 2, \"shape\": \"fan\"}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(parsed["peer"], "rayon-core");
    }

    #[test]
    fn extra_keys_read_as_key_value() {
        assert_eq!(row().extra_text(), "in_flight=2 shape=fan");
    }
}
