//! Summaries of a set of figures: mean, minimum, median, 95th percentile, maximum.

use serde::Serialize;

/// Count, mean, min, p50, p95 and max of some figures.
///
/// Percentiles are nearest-rank: p95 is the smallest value that at least 95% of the values are at
/// or below, so it is always one of the values.
///
/// ```
/// let summary = tools::stats::Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
/// assert_eq!((summary.count, summary.mean, summary.min, summary.max), (4, 2.5, 1.0, 4.0));
/// assert_eq!((summary.p50, summary.p95), (2.0, 4.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// How many values.
    pub count: usize,
    /// Their mean.
    pub mean: f64,
    /// The smallest.
    pub min: f64,
    /// The median (nearest rank).
    pub p50: f64,
    /// The 95th percentile (nearest rank).
    pub p95: f64,
    /// The largest.
    pub max: f64,
}

impl Summary {
    /// The summary of `values`, `None` when there are none.
    ///
    /// ```
    /// assert!(tools::stats::Summary::of(&[]).is_none());
    /// ```
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            count: sorted.len(),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min: *sorted.first()?,
            p50: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
            max: *sorted.last()?,
        })
    }

    /// The same summary with every figure multiplied by `factor` (a change of unit).
    ///
    /// ```
    /// let ms = tools::stats::Summary::of(&[1_000.0, 3_000.0]).unwrap().scaled(0.001);
    /// assert_eq!((ms.mean, ms.max), (2.0, 3.0));
    /// ```
    pub fn scaled(self, factor: f64) -> Summary {
        Summary {
            mean: self.mean * factor,
            min: self.min * factor,
            p50: self.p50 * factor,
            p95: self.p95 * factor,
            max: self.max * factor,
            ..self
        }
    }
}

/// The nearest-rank `p`th percentile of `sorted` (ascending); 0 for no values.
///
/// ```
/// let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
/// assert_eq!(tools::stats::percentile(&sorted, 95.0), 95.0);
/// assert_eq!(tools::stats::percentile(&sorted, 0.0), 1.0);
/// ```
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
