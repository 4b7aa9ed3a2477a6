//! Fixed-seed training samples for large inputs (crate-internal).
//!
//! The feature models train on at most `max_train_rows` rows. Above that they
//! draw a simple random sample without replacement (revenue) or one per
//! class with the class shares kept (churn: a *stratified* sample, so the
//! churn rate of the sample equals the population's up to rounding and the
//! fitted probabilities stay calibrated). The generator is ChaCha8 seeded
//! with the caller's seed, so the same inputs always give the same sample.

use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What a model was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingSample {
    /// Rows passed to `fit`.
    pub n_input_rows: usize,
    /// Rows actually used (`< n_input_rows` when sampled).
    pub n_train_rows: usize,
    /// Positive rows among the training rows: churned customers (churn
    /// models), customers with revenue `> 0` (revenue model).
    pub n_positive: usize,
}

/// `k` of `idx`, uniformly without replacement, returned sorted.
fn pick(rng: &mut ChaCha8Rng, idx: &[usize], k: usize) -> Vec<usize> {
    index::sample(rng, idx.len(), k.min(idx.len()))
        .into_iter()
        .map(|i| idx[i])
        .collect()
}

/// Row indices (sorted) of a uniform sample of `max_rows` of `n` rows, or
/// `None` when `n <= max_rows` (use every row).
pub(crate) fn uniform(n: usize, max_rows: usize, seed: u64) -> Option<Vec<usize>> {
    if n <= max_rows {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = index::sample(&mut rng, n, max_rows).into_vec();
    rows.sort_unstable();
    Some(rows)
}

/// Row indices (sorted) of a stratified sample of `max_rows` rows keeping
/// the share of `true` labels (`round(max_rows * n1 / n)` of them, at least
/// one of each class), or `None` when `labels.len() <= max_rows`.
/// `max_rows >= 2` and both classes present are the caller's checks.
pub(crate) fn stratified(labels: &[bool], max_rows: usize, seed: u64) -> Option<Vec<usize>> {
    let n = labels.len();
    if n <= max_rows {
        return None;
    }
    let (pos, neg): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| labels[i]);
    let share = pos.len() as f64 / n as f64;
    let k1 = ((max_rows as f64 * share).round() as usize)
        .clamp(1, max_rows.saturating_sub(1).max(1))
        .min(pos.len());
    let k0 = (max_rows - k1).min(neg.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = pick(&mut rng, &pos, k1);
    rows.extend(pick(&mut rng, &neg, k0));
    rows.sort_unstable();
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_keeps_the_class_share_and_is_deterministic() {
        // 10_000 rows, 30 % positive.
        let labels: Vec<bool> = (0..10_000).map(|i| i % 10 < 3).collect();
        let a = stratified(&labels, 1_000, 7).expect("sampled");
        let b = stratified(&labels, 1_000, 7).expect("sampled");
        let c = stratified(&labels, 1_000, 8).expect("sampled");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 1_000);
        assert_eq!(a.iter().filter(|&&i| labels[i]).count(), 300);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        assert!(stratified(&labels, 10_000, 7).is_none());

        // A rare class keeps at least one row.
        let mut rare = vec![false; 5_000];
        rare[17] = true;
        let s = stratified(&rare, 100, 1).expect("sampled");
        assert!(s.contains(&17) && s.len() == 100);
    }

    #[test]
    fn uniform_sample() {
        let a = uniform(1_000, 100, 3).expect("sampled");
        assert_eq!(a, uniform(1_000, 100, 3).expect("sampled"));
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&i| i < 1_000));
        assert!(uniform(100, 100, 3).is_none());
    }
}
