//! [`PeakSketch`]: a mergeable quantile sketch of memory peaks (DDSketch, from the
//! `sketches-ddsketch` crate), so a fleet P95 over any period is a merge of the period's
//! rollups instead of a sort of every report.
//!
//! Error bound: DDSketch with relative accuracy α = 1 % returns, for the rank it is asked, a
//! value within ±1 % of the true value at that rank (`|v - v'| <= 0.01 v'`), however many
//! values and merges; values ≤ 1e-9 are counted exactly as zero. [`PeakSketch::seed_quantile`]
//! asks the rank the seed's SQL takes (`ORDER BY memory_peak_mb LIMIT 1 OFFSET CAST(COUNT(*) *
//! q AS INTEGER)`), so our P95 is the seed's within 1 %.

use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};

/// Relative accuracy of every sketch (and so the error bound of every quantile).
pub const RELATIVE_ACCURACY: f64 = 0.01;
const MAX_BINS: u32 = 2048;
const MIN_VALUE: f64 = 1e-9;

#[derive(Clone, Serialize, Deserialize)]
pub struct PeakSketch(DDSketch);

impl std::fmt::Debug for PeakSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeakSketch").field("count", &self.0.count()).field("max", &self.0.max()).finish()
    }
}

impl Default for PeakSketch {
    fn default() -> Self {
        Self(DDSketch::new(Config::new(RELATIVE_ACCURACY, MAX_BINS, MIN_VALUE)))
    }
}

impl PeakSketch {
    pub fn add(&mut self, v: f64) {
        self.0.add(v);
    }

    pub fn merge(&mut self, other: &PeakSketch) {
        // Every sketch has the same config, so merging cannot fail.
        let _ = self.0.merge(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.count() as u64
    }

    /// The value at the seed's rank for `q`: the one at 0-based offset `floor(n * q)` of the
    /// values in ascending order (the last one when that is past the end); `None` when empty.
    pub fn seed_quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((n as f64 * q) as u64).min(n - 1);
        if rank == n - 1 {
            return self.0.max();
        }
        if rank == 0 {
            return self.0.min();
        }
        // DDSketch reads rank floor(q' (n - 1)); half a rank up keeps float error off the edge.
        let q = ((rank as f64 + 0.5) / (n - 1) as f64).min(1.0);
        self.0.quantile(q).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's SQL, on a sorted copy.
    fn seed(values: &[f64], q: f64) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
    }

    #[test]
    fn quantiles_are_the_seeds_within_the_stated_error_also_after_merging() {
        for n in [1usize, 2, 3, 19, 20, 21, 100, 1000, 12345] {
            let values: Vec<f64> = (0..n).map(|i| 50.0 + ((i * 7919) % 1000) as f64 * 1.37).collect();
            let mut whole = PeakSketch::default();
            let mut parts = vec![PeakSketch::default(); 7];
            for (i, v) in values.iter().enumerate() {
                whole.add(*v);
                parts[i % 7].add(*v);
            }
            let mut merged = PeakSketch::default();
            for p in &parts {
                merged.merge(p);
            }
            for q in [0.0, 0.5, 0.95, 0.99, 1.0] {
                let exact = seed(&values, q);
                for s in [&whole, &merged] {
                    let got = s.seed_quantile(q).unwrap();
                    assert!(
                        (got - exact).abs() <= RELATIVE_ACCURACY * exact + 1e-9,
                        "n={n} q={q}: {got} vs {exact}"
                    );
                }
            }
        }
        assert_eq!(PeakSketch::default().seed_quantile(0.95), None);
    }

    #[test]
    fn a_sketch_survives_being_stored() {
        let mut s = PeakSketch::default();
        for v in [0.0, 10.0, 512.0, 4096.5] {
            s.add(v);
        }
        let back: PeakSketch = rmp_serde::from_slice(&rmp_serde::to_vec_named(&s).unwrap()).unwrap();
        assert_eq!(back.count(), 4);
        assert_eq!(back.seed_quantile(1.0), Some(4096.5));
        assert_eq!(back.seed_quantile(0.0), Some(0.0));
    }
}
