//! The method of the table, once: alternate the runs A B A B, round by round, after warm-up
//! rounds; summarize by medians and by the median of the per-round ratios, each with its range
//! over the rounds (the worst round is what a target "in every round" is about).

use std::ops::RangeInclusive;

/// How many runs to make.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Workers of each system.
    pub workers: usize,
    /// Measured rounds (each runs ours, then every peer, once).
    pub rounds: usize,
    /// Unmeasured rounds first.
    pub warmup: usize,
}

impl Settings {
    /// For a benchmark whose run takes seconds (and warms itself up): the measured rounds
    /// brought into `rounds`, and no warm-up round.
    ///
    /// ```
    /// use benches::compare::Settings;
    /// let asked = Settings { workers: 2, rounds: 7, warmup: 1 };
    /// let slow = asked.slow(3..=5);
    /// assert_eq!((slow.rounds, slow.warmup, slow.workers), (5, 0, 2));
    /// ```
    pub fn slow(&self, rounds: RangeInclusive<usize>) -> Settings {
        Settings {
            rounds: self.rounds.clamp(*rounds.start(), *rounds.end()),
            warmup: 0,
            ..*self
        }
    }
}

/// Runs `run(0)`, `run(1)`, ..., `run(runs - 1)` once each per round, in that order:
/// `settings.warmup` rounds unmeasured, then `settings.rounds` (at least one) measured. `run(k)`
/// returns the figure of one run of the `k`th contestant. Returns, per contestant, its figure
/// of each measured round (summarize with [`median`], compare with [`median_ratio`]).
///
/// ```
/// use benches::compare::{alternate, Settings};
/// let settings = Settings { workers: 2, rounds: 3, warmup: 1 };
/// let mut order = Vec::new();
/// let figures = alternate(&settings, 2, |k| {
///     order.push(k);
///     k as f64
/// });
/// assert_eq!(order, [0, 1, 0, 1, 0, 1, 0, 1]); // A B A B: 1 warm-up round, 3 measured
/// assert_eq!(figures, [vec![0.0; 3], vec![1.0; 3]]);
/// ```
pub fn alternate(
    settings: &Settings,
    runs: usize,
    mut run: impl FnMut(usize) -> f64,
) -> Vec<Vec<f64>> {
    for _ in 0..settings.warmup {
        for k in 0..runs {
            run(k);
        }
    }
    let rounds = settings.rounds.max(1);
    let mut figures = vec![Vec::with_capacity(rounds); runs];
    for _ in 0..rounds {
        for (k, figures) in figures.iter_mut().enumerate() {
            figures.push(run(k));
        }
    }
    figures
}

/// The median of `values` (the mean of the middle two for an even count); NaN if empty.
///
/// ```
/// use benches::compare::median;
/// assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
/// assert!(median(&[]).is_nan());
/// ```
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The smallest and the largest of `values`: a row's range over its rounds (NaN, NaN if
/// empty).
///
/// ```
/// use benches::compare::range;
/// assert_eq!(range(&[3.0, 1.0, 2.0]), (1.0, 3.0));
/// assert!(range(&[]).0.is_nan());
/// ```
pub fn range(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// The per-round ratios `a[i] / b[i]` (rounds past the shorter slice are left out).
///
/// ```
/// use benches::compare::ratios;
/// assert_eq!(ratios(&[1.0, 4.0, 9.0], &[2.0, 2.0, 3.0]), [0.5, 2.0, 3.0]);
/// ```
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

/// The median of the per-round ratios `a[i] / b[i]`.
///
/// ```
/// use benches::compare::median_ratio;
/// assert_eq!(median_ratio(&[1.0, 4.0, 9.0], &[2.0, 2.0, 3.0]), 2.0);
/// ```
pub fn median_ratio(a: &[f64], b: &[f64]) -> f64 {
    median(&ratios(a, b))
}
