//! Evaluation metrics, implemented exactly as defined in
//! `/work/shared/METRICS.md` (the shared definitions for churn and CLV).
//!
//! Churn metrics take `labels` (`true` = churned, the positive class) and a
//! score or probability per customer. Revenue metrics take the actual values
//! `y` and the predictions; ties in the prediction are resolved by averaging
//! the actual values within each group of equal predictions (`ybar`), so the
//! order of tied customers never matters.
//!
//! Every function validates its input (same lengths, not empty, finite
//! values, the classes/sums it divides by are non-zero) and returns an error
//! instead of NaN.
//!
//! [`calibration_by_decile`] is not defined in METRICS.md; it follows the
//! decile and tie conventions of `decile_mape` (see its docs).

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

fn check_len(n_a: usize, n_b: usize) -> Result<()> {
    if n_a != n_b {
        return Err(ModelError::invalid(
            "inputs",
            format!("length mismatch: {n_a} vs {n_b}"),
        ));
    }
    if n_a == 0 {
        return Err(ModelError::invalid("inputs", "must not be empty"));
    }
    Ok(())
}

fn check_finite(field: &str, v: &[f64]) -> Result<()> {
    if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(ModelError::invalid(
            format!("{field}[{i}]"),
            format!("must be finite, got {x}"),
        ));
    }
    Ok(())
}

/// Mid-ranks (1-based, ties get the average rank) of `v` in ascending order.
pub fn mid_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && v[idx[j]] == v[idx[i]] {
            j += 1;
        }
        // positions i..j-1 (0-based) hold ranks i+1..j; their mean:
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

fn class_counts(labels: &[bool]) -> Result<(f64, f64)> {
    let n1 = labels.iter().filter(|&&l| l).count() as f64;
    let n0 = labels.len() as f64 - n1;
    if n1 == 0.0 || n0 == 0.0 {
        return Err(ModelError::invalid(
            "labels",
            "need at least one positive (churned) and one negative customer",
        ));
    }
    Ok((n1, n0))
}

/// ROC AUC: `(Σ mid-ranks of the positives' scores - n1 (n1 + 1) / 2) /
/// (n1 n0)`; positive class = churned.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<f64> {
    check_len(labels.len(), scores.len())?;
    check_finite("scores", scores)?;
    let (n1, n0) = class_counts(labels)?;
    let ranks = mid_ranks(scores);
    let r1: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l)
        .map(|(r, _)| r)
        .sum();
    Ok((r1 - n1 * (n1 + 1.0) / 2.0) / (n1 * n0))
}

/// Average precision over distinct thresholds `v_1 > ... > v_K`, counting
/// every customer with score `>= v_k`: `AP = Σ_k (R_k - R_{k-1}) P_k`,
/// `R_0 = 0`.
pub fn pr_auc(labels: &[bool], scores: &[f64]) -> Result<f64> {
    check_len(labels.len(), scores.len())?;
    check_finite("scores", scores)?;
    let n1 = labels.iter().filter(|&&l| l).count() as f64;
    if n1 == 0.0 {
        return Err(ModelError::invalid(
            "labels",
            "need at least one positive (churned) customer",
        ));
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    let (mut tp, mut count, mut prev_r, mut ap) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let v = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == v {
            count += 1.0;
            if labels[idx[i]] {
                tp += 1.0;
            }
            i += 1;
        }
        let r = tp / n1;
        ap += (r - prev_r) * (tp / count);
        prev_r = r;
    }
    Ok(ap)
}

/// Brier score: mean of `(probability of churn - label)^2`; probabilities
/// must lie in `[0, 1]`.
pub fn brier(labels: &[bool], probs: &[f64]) -> Result<f64> {
    check_len(labels.len(), probs.len())?;
    check_probs(probs)?;
    let s: f64 = probs
        .iter()
        .zip(labels)
        .map(|(p, &l)| {
            let d = p - if l { 1.0 } else { 0.0 };
            d * d
        })
        .sum();
    Ok(s / probs.len() as f64)
}

fn check_probs(probs: &[f64]) -> Result<()> {
    check_finite("probs", probs)?;
    if let Some((i, p)) = probs
        .iter()
        .enumerate()
        .find(|(_, p)| !(0.0..=1.0).contains(*p))
    {
        return Err(ModelError::invalid(
            format!("probs[{i}]"),
            format!("must be in [0, 1], got {p}"),
        ));
    }
    Ok(())
}

/// Sorts by prediction descending and returns `(pred, ybar)` in that order,
/// `ybar` being the mean actual value within each group of equal
/// predictions.
fn sorted_with_ybar(y: &[f64], pred: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut idx: Vec<usize> = (0..pred.len()).collect();
    idx.sort_by(|&i, &j| pred[j].total_cmp(&pred[i]));
    let p: Vec<f64> = idx.iter().map(|&i| pred[i]).collect();
    let mut ybar = vec![0.0; idx.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && p[j] == p[i] {
            j += 1;
        }
        let mean = idx[i..j].iter().map(|&k| y[k]).sum::<f64>() / (j - i) as f64;
        for v in &mut ybar[i..j] {
            *v = mean;
        }
        i = j;
    }
    (p, ybar)
}

fn check_revenue(y: &[f64], pred: &[f64]) -> Result<f64> {
    check_len(y.len(), pred.len())?;
    check_finite("y", y)?;
    check_finite("pred", pred)?;
    let total: f64 = y.iter().sum();
    if total == 0.0 {
        return Err(ModelError::invalid(
            "y",
            "sum of actual values must be non-zero",
        ));
    }
    Ok(total)
}

/// Raw Gini: sort by prediction descending;
/// `C_k = Σ_{j <= k} ybar_(j) / Σ_j y_j`; `Gini = (2 / N) Σ_k C_k - 1`
/// (Wang, Liu & Miao 2019).
pub fn gini_raw(y: &[f64], pred: &[f64]) -> Result<f64> {
    let total = check_revenue(y, pred)?;
    let (_, ybar) = sorted_with_ybar(y, pred);
    let mut cum = 0.0;
    let mut sum_c = 0.0;
    for v in &ybar {
        cum += v;
        sum_c += cum / total;
    }
    Ok(2.0 / y.len() as f64 * sum_c - 1.0)
}

/// `gini_raw(y, pred) / gini_raw(y, y)`; an error when `gini_raw(y, y) = 0`
/// (possible only with negative actual values; for constant `y` both are
/// `1/N` and the ratio is 1).
pub fn normalized_gini(y: &[f64], pred: &[f64]) -> Result<f64> {
    let g = gini_raw(y, pred)?;
    let best = gini_raw(y, y)?;
    if best == 0.0 {
        return Err(ModelError::invalid(
            "y",
            "gini_raw(y, y) = 0: normalized Gini undefined",
        ));
    }
    Ok(g / best)
}

/// Share of total actual revenue held by the `ceil(N / 10)` customers with
/// the highest predictions (ties resolved with `ybar`).
pub fn top_decile_capture(y: &[f64], pred: &[f64]) -> Result<f64> {
    let total = check_revenue(y, pred)?;
    let (_, ybar) = sorted_with_ybar(y, pred);
    let k = y.len().div_ceil(10);
    Ok(ybar[..k].iter().sum::<f64>() / total)
}

/// Result of [`decile_mape`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecileMape {
    /// Mean over the used deciles of `|mean pred - mean ybar| / mean ybar`.
    pub mape: f64,
    /// Deciles with mean `ybar > 0` (used).
    pub deciles_used: usize,
    /// Deciles left out because their mean `ybar` is `<= 0`.
    pub deciles_left_out: usize,
}

/// Decile position of sorted index `i` among `n`: `floor(10 i / n)`.
fn decile_of(i: usize, n: usize) -> usize {
    10 * i / n
}

/// Decile MAPE: sort by prediction descending, position `i = 0..N-1` ->
/// decile `floor(10 i / N)`; per decile `|mean pred - mean ybar| / mean ybar`;
/// the mean over the deciles whose mean `ybar` is `> 0`, with the number left
/// out. Needs `N >= 10` (every decile non-empty) and at least one usable
/// decile.
pub fn decile_mape(y: &[f64], pred: &[f64]) -> Result<DecileMape> {
    decile_mape_of(&revenue_by_decile(y, pred)?)
}

/// [`decile_mape`] from the deciles of [`revenue_by_decile`] (computed once
/// for every decile metric).
pub fn decile_mape_of(deciles: &[RevenueDecile]) -> Result<DecileMape> {
    let (mut sum, mut used, mut left) = (0.0, 0, 0);
    for d in deciles {
        if d.mean_actual > 0.0 {
            sum += (d.mean_predicted - d.mean_actual).abs() / d.mean_actual;
            used += 1;
        } else {
            left += 1;
        }
    }
    if used == 0 {
        return Err(ModelError::invalid(
            "y",
            "every decile has mean actual value <= 0",
        ));
    }
    Ok(DecileMape {
        mape: sum / used as f64,
        deciles_used: used,
        deciles_left_out: left,
    })
}

/// Decile WAPE: sort by prediction descending into the deciles of
/// [`decile_mape`]; `sum_d |sum pred_d - sum ybar_d| / sum y`. Unlike the
/// decile MAPE it counts every decile, those whose actual value is zero
/// too (over-predicting there costs what it over-predicts), weighted by
/// its share of the revenue. Needs `N >= 10` and a positive total.
pub fn decile_wape(y: &[f64], pred: &[f64]) -> Result<f64> {
    decile_wape_of(&revenue_by_decile(y, pred)?, y.iter().sum())
}

/// [`decile_wape`] from the deciles of [`revenue_by_decile`] and the total
/// actual value `total` (computed once for every decile metric).
pub fn decile_wape_of(deciles: &[RevenueDecile], total: f64) -> Result<f64> {
    if total <= 0.0 {
        return Err(ModelError::invalid("y", "the total actual value is <= 0"));
    }
    let error: f64 = deciles
        .iter()
        .map(|d| d.n as f64 * (d.mean_predicted - d.mean_actual).abs())
        .sum();
    Ok(error / total)
}

/// One decile of [`revenue_by_decile`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RevenueDecile {
    /// `0` = the highest predictions.
    pub decile: usize,
    pub n: usize,
    pub mean_predicted: f64,
    /// Mean of `ybar` (actual values averaged within tied predictions).
    pub mean_actual: f64,
}

/// Predicted against actual by decile of the prediction, with the
/// conventions of [`decile_mape`] (which is computed from it). Needs
/// `N >= 10`.
pub fn revenue_by_decile(y: &[f64], pred: &[f64]) -> Result<Vec<RevenueDecile>> {
    check_len(y.len(), pred.len())?;
    check_finite("y", y)?;
    check_finite("pred", pred)?;
    let n = y.len();
    if n < 10 {
        return Err(ModelError::invalid(
            "inputs",
            format!("decile metrics need N >= 10, got {n}"),
        ));
    }
    let (p, ybar) = sorted_with_ybar(y, pred);
    let mut out: Vec<RevenueDecile> = (0..10)
        .map(|d| RevenueDecile {
            decile: d,
            n: 0,
            mean_predicted: 0.0,
            mean_actual: 0.0,
        })
        .collect();
    for i in 0..n {
        let d = &mut out[decile_of(i, n)];
        d.n += 1;
        d.mean_predicted += p[i];
        d.mean_actual += ybar[i];
    }
    for d in &mut out {
        d.mean_predicted /= d.n as f64;
        d.mean_actual /= d.n as f64;
    }
    Ok(out)
}

/// One point of [`roc_curve`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    pub fpr: f64,
    pub tpr: f64,
}

/// The ROC curve: `(0, 0)`, then one point per distinct score threshold `v`
/// (descending), flagging every customer with score `>= v`, ending at
/// `(1, 1)`. Ties move diagonally, so the trapezoid area under the full
/// curve equals [`roc_auc`]. With more than `max_points` points (at least
/// 2), evenly spaced ones are kept, the two ends always.
pub fn roc_curve(labels: &[bool], scores: &[f64], max_points: usize) -> Result<Vec<RocPoint>> {
    check_len(labels.len(), scores.len())?;
    check_finite("scores", scores)?;
    let (n1, n0) = class_counts(labels)?;
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    let mut points = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let v = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == v {
            if labels[idx[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        points.push(RocPoint {
            fpr: fp / n0,
            tpr: tp / n1,
        });
    }
    Ok(thin(points, max_points.max(2)))
}

/// Keeps `max` evenly spaced elements of `v`, the first and last always.
fn thin<T: Copy>(v: Vec<T>, max: usize) -> Vec<T> {
    if v.len() <= max {
        return v;
    }
    let last = v.len() - 1;
    (0..max).map(|k| v[k * last / (max - 1)]).collect()
}

/// One decile of [`gains_by_decile`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GainsBin {
    /// `0` = the highest scores.
    pub decile: usize,
    pub n: usize,
    /// Churn rate in the decile (tie-averaged labels).
    pub rate: f64,
    /// `rate` over the overall churn rate.
    pub lift: f64,
    /// Share of customers in deciles `0..=decile`.
    pub cumulative_customers: f64,
    /// Share of all churners in deciles `0..=decile` (cumulative gains).
    pub cumulative_gain: f64,
}

/// Lift and cumulative gains by decile of the score, with the conventions
/// of [`calibration_by_decile`] (sorted descending, `floor(10 i / N)`,
/// labels averaged within tied scores). Needs `N >= 10` and a churner.
pub fn gains_by_decile(labels: &[bool], scores: &[f64]) -> Result<Vec<GainsBin>> {
    check_len(labels.len(), scores.len())?;
    check_finite("scores", scores)?;
    let n = labels.len();
    if n < 10 {
        return Err(ModelError::invalid(
            "inputs",
            format!("decile metrics need N >= 10, got {n}"),
        ));
    }
    let (n1, _) = class_counts(labels)?;
    let y: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    let (_, ybar) = sorted_with_ybar(&y, scores);
    let mut sums = [0.0; 10];
    let mut counts = [0usize; 10];
    for (i, v) in ybar.iter().enumerate() {
        sums[decile_of(i, n)] += v;
        counts[decile_of(i, n)] += 1;
    }
    let overall = n1 / n as f64;
    let (mut cum_n, mut cum_y) = (0usize, 0.0);
    Ok((0..10)
        .map(|d| {
            cum_n += counts[d];
            cum_y += sums[d];
            let rate = sums[d] / counts[d] as f64;
            GainsBin {
                decile: d,
                n: counts[d],
                rate,
                lift: rate / overall,
                cumulative_customers: cum_n as f64 / n as f64,
                cumulative_gain: cum_y / n1,
            }
        })
        .collect())
}

/// Result of [`psi`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Psi {
    /// Lower edges of bins `1..` (bin 0 is everything below `edges[0]`).
    pub edges: Vec<f64>,
    /// Share of the reference (previous) values per bin.
    pub expected: Vec<f64>,
    /// Share of the current values per bin.
    pub actual: Vec<f64>,
    /// `Σ (a - e) ln(a / e)`, shares floored at `PSI_FLOOR`.
    pub psi: f64,
}

/// Shares below this count as this in [`psi`] (an empty bin would make the
/// index infinite).
pub const PSI_FLOOR: f64 = 1e-4;

/// Population stability index of `actual` against the reference
/// `expected`, over `bins` quantile bins of the reference: the edges are the
/// sorted reference values at positions `floor(k n / bins)`, `k = 1..bins`
/// (repeated edges merged, so heavy ties give fewer bins); a value `x` falls
/// in bin `#{edges <= x}`. The usual reading: below 0.1 stable, 0.1 to 0.25
/// a moderate shift, above 0.25 a major one.
pub fn psi(expected: &[f64], actual: &[f64], bins: usize) -> Result<Psi> {
    check_finite("expected", expected)?;
    check_finite("actual", actual)?;
    if expected.is_empty() || actual.is_empty() || bins < 2 {
        return Err(ModelError::invalid(
            "inputs",
            "PSI needs values on both sides and at least 2 bins",
        ));
    }
    let mut sorted = expected.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mut edges: Vec<f64> = (1..bins).map(|k| sorted[k * n / bins]).collect();
    edges.dedup();
    let share = |v: &[f64]| -> Vec<f64> {
        let mut c = vec![0.0; edges.len() + 1];
        for x in v {
            c[edges.partition_point(|e| e <= x)] += 1.0;
        }
        c.iter().map(|k| k / v.len() as f64).collect()
    };
    let (e, a) = (share(expected), share(actual));
    let psi = e
        .iter()
        .zip(&a)
        .map(|(e, a)| {
            let (e, a) = (e.max(PSI_FLOOR), a.max(PSI_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum();
    Ok(Psi {
        edges,
        expected: e,
        actual: a,
        psi,
    })
}

/// Spearman correlation: Pearson correlation of the mid-ranks of `actual`
/// and `pred`; an error when either is constant.
pub fn spearman(actual: &[f64], pred: &[f64]) -> Result<f64> {
    check_len(actual.len(), pred.len())?;
    check_finite("actual", actual)?;
    check_finite("pred", pred)?;
    let ra = mid_ranks(actual);
    let rp = mid_ranks(pred);
    let n = ra.len() as f64;
    let ma = ra.iter().sum::<f64>() / n;
    let mp = rp.iter().sum::<f64>() / n;
    let (mut cov, mut va, mut vp) = (0.0, 0.0, 0.0);
    for (a, p) in ra.iter().zip(&rp) {
        cov += (a - ma) * (p - mp);
        va += (a - ma) * (a - ma);
        vp += (p - mp) * (p - mp);
    }
    if va == 0.0 || vp == 0.0 {
        return Err(ModelError::invalid(
            "inputs",
            "Spearman correlation undefined for a constant input",
        ));
    }
    Ok(cov / (va * vp).sqrt())
}

/// `Σ pred / Σ actual`.
pub fn total_ratio(y: &[f64], pred: &[f64]) -> Result<f64> {
    let total = check_revenue(y, pred)?;
    Ok(pred.iter().sum::<f64>() / total)
}

/// One decile of [`calibration_by_decile`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Decile index, `0` = highest predicted probabilities.
    pub decile: usize,
    /// Customers in the decile.
    pub n: usize,
    /// Mean predicted probability.
    pub mean_predicted: f64,
    /// Observed churn rate (tie-averaged labels).
    pub observed_rate: f64,
}

/// Calibration by decile (not defined in METRICS.md; this follows the
/// `decile_mape` conventions): sort by predicted probability descending,
/// position `i` -> decile `floor(10 i / N)`, labels averaged within groups of
/// equal predictions (so tie order never matters); per decile the mean
/// prediction and the observed churn rate. Needs `N >= 10`.
pub fn calibration_by_decile(labels: &[bool], probs: &[f64]) -> Result<Vec<CalibrationBin>> {
    check_len(labels.len(), probs.len())?;
    check_probs(probs)?;
    let n = labels.len();
    if n < 10 {
        return Err(ModelError::invalid(
            "inputs",
            format!("decile metrics need N >= 10, got {n}"),
        ));
    }
    let y: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    let (p, ybar) = sorted_with_ybar(&y, probs);
    let mut bins: Vec<CalibrationBin> = (0..10)
        .map(|d| CalibrationBin {
            decile: d,
            n: 0,
            mean_predicted: 0.0,
            observed_rate: 0.0,
        })
        .collect();
    for i in 0..n {
        let b = &mut bins[decile_of(i, n)];
        b.n += 1;
        b.mean_predicted += p[i];
        b.observed_rate += ybar[i];
    }
    for b in &mut bins {
        let k = b.n as f64;
        b.mean_predicted /= k;
        b.observed_rate /= k;
    }
    Ok(bins)
}

/// Expected calibration error over the bins of [`calibration_by_decile`]
/// (10 equal-count bins by predicted probability, labels averaged within
/// ties): `sum_k n_k / N |mean p_k - observed rate_k|`. 0 for a perfectly
/// calibrated prediction. Needs `N >= 10`.
pub fn expected_calibration_error(labels: &[bool], probs: &[f64]) -> Result<f64> {
    Ok(calibration_error_of(&calibration_by_decile(labels, probs)?))
}

/// [`expected_calibration_error`] from the bins of [`calibration_by_decile`].
pub fn calibration_error_of(bins: &[CalibrationBin]) -> f64 {
    let n: usize = bins.iter().map(|b| b.n).sum();
    bins.iter()
        .map(|b| b.n as f64 / n as f64 * (b.mean_predicted - b.observed_rate).abs())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn roc_auc_with_ties() {
        // scores [0.9, 0.8, 0.8, 0.3, 0.1], labels [1, 0, 1, 0, 0].
        // Ascending mid-ranks: 0.1 -> 1, 0.3 -> 2, 0.8, 0.8 -> 3.5, 0.9 -> 5.
        // Positives: 5 + 3.5 = 8.5; n1 = 2, n0 = 3:
        // AUC = (8.5 - 2*3/2) / (2*3) = 5.5 / 6.
        // (Pairs: 0.9 beats 3 negatives, 0.8 ties one (0.5) and beats 2.)
        let labels = [true, false, true, false, false];
        let scores = [0.9, 0.8, 0.8, 0.3, 0.1];
        close(roc_auc(&labels, &scores).expect("ok"), 5.5 / 6.0);
        assert!(roc_auc(&[true, true], &[0.1, 0.2]).is_err(), "one class");
        assert!(roc_auc(&[true, false], &[f64::NAN, 0.2]).is_err());
        assert!(roc_auc(&[true, false], &[0.1]).is_err());
    }

    #[test]
    fn pr_auc_over_distinct_thresholds() {
        // Same data. Thresholds 0.9: 1 customer, TP 1 -> P 1, R 0.5 -> +0.5.
        // 0.8: 3 customers, TP 2 -> P 2/3, R 1 -> +0.5 * 2/3.
        // 0.3, 0.1: recall unchanged -> +0. AP = 0.5 + 1/3.
        let labels = [true, false, true, false, false];
        let scores = [0.9, 0.8, 0.8, 0.3, 0.1];
        close(pr_auc(&labels, &scores).expect("ok"), 0.5 + 1.0 / 3.0);
        assert!(pr_auc(&[false, false], &[0.1, 0.2]).is_err());
    }

    #[test]
    fn brier_score() {
        // (0.9-1)^2 + (0.2-0)^2 + (0.6-0)^2 = 0.01 + 0.04 + 0.36 = 0.41; / 3.
        close(
            brier(&[true, false, false], &[0.9, 0.2, 0.6]).expect("ok"),
            0.41 / 3.0,
        );
        assert!(brier(&[true], &[1.2]).is_err());
    }

    #[test]
    fn gini_and_top_decile() {
        // y = [10, 0, 5, 0], pred = [4, 3, 2, 1] (already descending), sum 15.
        // C = [10/15, 10/15, 15/15, 15/15], sum = 10/3;
        // Gini = (2/4) * 10/3 - 1 = 2/3.
        let y = [10.0, 0.0, 5.0, 0.0];
        close(gini_raw(&y, &[4.0, 3.0, 2.0, 1.0]).expect("ok"), 2.0 / 3.0);
        // gini_raw(y, y): sorted y = [10, 5, 0, 0], C = [2/3, 1, 1, 1],
        // sum 11/3 -> (2/4) * 11/3 - 1 = 5/6; normalized = (2/3)/(5/6) = 0.8.
        close(gini_raw(&y, &y).expect("ok"), 5.0 / 6.0);
        close(normalized_gini(&y, &[4.0, 3.0, 2.0, 1.0]).expect("ok"), 0.8);
        // Ties: pred = [4, 4, 2, 1] -> the first two share ybar = (10+0)/2 = 5:
        // sorted ybar = [5, 5, 5, 0], C = [1/3, 2/3, 1, 1], sum 3 ->
        // (2/4) * 3 - 1 = 0.5, whatever the order of the tied pair.
        close(gini_raw(&y, &[4.0, 4.0, 2.0, 1.0]).expect("ok"), 0.5);
        close(
            gini_raw(&[0.0, 10.0, 5.0, 0.0], &[4.0, 4.0, 2.0, 1.0]).expect("ok"),
            0.5,
        );
        // Top decile: ceil(4/10) = 1 customer: 10/15, or with the tie 5/15.
        close(
            top_decile_capture(&y, &[4.0, 3.0, 2.0, 1.0]).expect("ok"),
            10.0 / 15.0,
        );
        close(
            top_decile_capture(&y, &[4.0, 4.0, 2.0, 1.0]).expect("ok"),
            5.0 / 15.0,
        );
        // Constant y: C = [1/2, 1] for any order, gini_raw = (2/2) * 1.5 - 1
        // = 1/N = 0.5 for both pred and y, so the normalized Gini is 1 (the
        // formula's value; it is not an error).
        close(normalized_gini(&[2.0, 2.0], &[1.0, 0.0]).expect("ok"), 1.0);
        assert!(gini_raw(&[0.0, 0.0], &[1.0, 0.0]).is_err(), "zero total");
    }

    #[test]
    fn decile_mape_counts_left_out() {
        // N = 10: each position is its own decile.
        // pred (desc) [10..1], y = [8, 0, 10, 0, 4, 5, 0, 1, 0, 0].
        // Used deciles: |10-8|/8 = 0.25, |8-10|/10 = 0.2, |6-4|/4 = 0.5,
        // |5-5|/5 = 0, |3-1|/1 = 2 -> mean 2.95 / 5 = 0.59; 5 left out.
        let pred: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let y = [8.0, 0.0, 10.0, 0.0, 4.0, 5.0, 0.0, 1.0, 0.0, 0.0];
        let d = decile_mape(&y, &pred).expect("ok");
        close(d.mape, 0.59);
        assert_eq!((d.deciles_used, d.deciles_left_out), (5, 5));
        // N = 12: deciles floor(10 i / 12) = [0,0,1,2,3,4,5,5,6,7,8,9].
        // pred all equal -> ybar = mean(y) everywhere = 1 (y = twelve values
        // summing to 12), pred = 2: every decile |2 - 1| / 1 = 1.
        let y12 = [3.0, 0.0, 1.0, 1.0, 2.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let d = decile_mape(&y12, &[2.0; 12]).expect("ok");
        close(d.mape, 1.0);
        assert_eq!(d.deciles_used, 10);
        assert!(decile_mape(&[1.0; 9], &[1.0; 9]).is_err(), "N < 10");
    }

    #[test]
    fn expected_calibration_error_by_hand() {
        // N = 20, two customers per bin. Probabilities 0.05, 0.15, ...,
        // 0.95, each twice; in the bin of p, one of the two churned when
        // p >= 0.5, none below: observed 0 for the five low bins, 0.5 for
        // the five high ones. |p - obs|: 0.05, 0.15, 0.25, 0.35, 0.45 and
        // |0.55-0.5| .. |0.95-0.5| = 0.05, 0.15, 0.25, 0.35, 0.45; each bin
        // weighs 2/20 -> ECE = 0.1 * 2 * (0.05+0.15+0.25+0.35+0.45) = 0.25.
        let mut p = Vec::new();
        let mut y = Vec::new();
        for k in 0..10 {
            let v = 0.05 + 0.1 * f64::from(k);
            p.extend([v, v]);
            y.extend([k >= 5, false]);
        }
        close(expected_calibration_error(&y, &p).expect("ok"), 0.25);
        // Calibrated by construction: the observed rate of every bin.
        let p2: Vec<f64> = (0..20).map(|i| if i < 10 { 0.0 } else { 0.5 }).collect();
        let y2: Vec<bool> = (0..20).map(|i| i >= 10 && i % 2 == 0).collect();
        close(expected_calibration_error(&y2, &p2).expect("ok"), 0.0);
    }

    #[test]
    fn decile_wape_counts_every_decile() {
        // The fixture of decile_mape_counts_left_out: N = 10, one customer
        // per decile, pred (desc) [10..1], y = [8, 0, 10, 0, 4, 5, 0, 1, 0, 0]
        // (total 28). |10-8| + |9-0| + |8-10| + |7-0| + |6-4| + |5-5|
        // + |4-0| + |3-1| + |2-0| + |1-0| = 2+9+2+7+2+0+4+2+2+1 = 31
        // -> 31 / 28; the five zero deciles count (decile MAPE skips them).
        let pred: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let y = [8.0, 0.0, 10.0, 0.0, 4.0, 5.0, 0.0, 1.0, 0.0, 0.0];
        close(decile_wape(&y, &pred).expect("ok"), 31.0 / 28.0);
        // A prediction right on every decile: 0; twice the actual: 1.
        close(decile_wape(&y, &y).expect("ok"), 0.0);
        let twice: Vec<f64> = y.iter().map(|v| 2.0 * v).collect();
        close(decile_wape(&y, &twice).expect("ok"), 1.0);
        // N = 12, all predictions tied: ybar = mean(y) = 1 everywhere,
        // pred = 2: twelve customers each 1 off -> 12 / 12 = 1.
        let y12 = [3.0, 0.0, 1.0, 1.0, 2.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        close(decile_wape(&y12, &[2.0; 12]).expect("ok"), 1.0);
        assert!(decile_wape(&[0.0; 10], &[1.0; 10]).is_err(), "zero total");
    }

    #[test]
    fn spearman_with_ties() {
        // actual [1,2,3,4,5] -> ranks [1,2,3,4,5];
        // pred [5,6,7,8,7] -> ranks [1,2,3.5,5,3.5]. Means 3 and 3.
        // Deviations [-2,-1,0,1,2] and [-2,-1,0.5,2,0.5]:
        // cov = 4+1+0+2+1 = 8, var_a = 10, var_p = 4+1+0.25+4+0.25 = 9.5
        // -> rho = 8 / sqrt(95).
        close(
            spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).expect("ok"),
            8.0 / 95.0_f64.sqrt(),
        );
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn total_ratio_and_calibration() {
        // (1 + 2 + 4) / (2 + 2 + 2) = 7/6.
        close(
            total_ratio(&[2.0, 2.0, 2.0], &[1.0, 2.0, 4.0]).expect("ok"),
            7.0 / 6.0,
        );
        // N = 20 -> two customers per decile. probs 0.95, 0.90, ..., 0.00
        // (descending by 0.05); labels churned for the top 10 only.
        let probs: Vec<f64> = (0..20).map(|i| f64::from(19 - i) / 20.0).collect();
        let labels: Vec<bool> = (0..20).map(|i| i < 10).collect();
        let bins = calibration_by_decile(&labels, &probs).expect("ok");
        assert_eq!(bins.len(), 10);
        // Decile 0: probs 0.95, 0.90 -> mean 0.925, observed 1.
        close(bins[0].mean_predicted, 0.925);
        close(bins[0].observed_rate, 1.0);
        assert_eq!(bins[0].n, 2);
        // Decile 9: probs 0.05, 0.00 -> 0.025, observed 0.
        assert!((bins[9].mean_predicted - 0.025).abs() < 1e-12);
        close(bins[9].observed_rate, 0.0);
    }

    #[test]
    fn mid_ranks_average_ties() {
        assert_eq!(mid_ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn roc_curve_area_is_the_auc() {
        // Same data as roc_auc_with_ties: n1 = 2, n0 = 3. Thresholds
        // 0.9: TP 1 FP 0 -> (0, 0.5); 0.8: TP 2 FP 1 -> (1/3, 1);
        // 0.3: (2/3, 1); 0.1: (1, 1). Trapezoids: 0 + (1/3)(0.5+1)/2
        // + (1/3)(1) + (1/3)(1) = 0.25 + 2/3 = 5.5/6 = the AUC.
        let labels = [true, false, true, false, false];
        let scores = [0.9, 0.8, 0.8, 0.3, 0.1];
        let c = roc_curve(&labels, &scores, 100).expect("ok");
        let pts: Vec<(f64, f64)> = c.iter().map(|p| (p.fpr, p.tpr)).collect();
        assert_eq!(
            pts,
            vec![
                (0.0, 0.0),
                (0.0, 0.5),
                (1.0 / 3.0, 1.0),
                (2.0 / 3.0, 1.0),
                (1.0, 1.0)
            ]
        );
        let area: f64 = c
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum();
        close(area, 5.5 / 6.0);
        // Thinned to 3 points: positions 0, 2, 4 of the 5.
        let t = roc_curve(&labels, &scores, 3).expect("ok");
        assert_eq!(t.len(), 3);
        assert_eq!((t[1].fpr, t[1].tpr), (1.0 / 3.0, 1.0));
        assert_eq!((t[2].fpr, t[2].tpr), (1.0, 1.0));
    }

    #[test]
    fn gains_and_lift_by_decile() {
        // 20 customers, scores 20..1 (distinct), churners at scores 20, 19,
        // 18 and 1: 4 churners, overall rate 0.2. Deciles of 2: decile 0
        // holds 20, 19 (2 churners, rate 1, lift 5); decile 1 holds 18, 17
        // (rate 0.5, lift 2.5); deciles 2..8 none; decile 9 holds 2, 1
        // (rate 0.5). Cumulative gain: 2/4, 3/4, ..., 3/4, 4/4.
        let scores: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        let labels: Vec<bool> = scores.iter().map(|s| *s >= 18.0 || *s == 1.0).collect();
        let g = gains_by_decile(&labels, &scores).expect("ok");
        assert_eq!(g.len(), 10);
        close(g[0].rate, 1.0);
        close(g[0].lift, 5.0);
        close(g[1].lift, 2.5);
        close(g[0].cumulative_gain, 0.5);
        close(g[1].cumulative_gain, 0.75);
        close(g[8].cumulative_gain, 0.75);
        close(g[9].cumulative_gain, 1.0);
        close(g[4].cumulative_customers, 0.5);
        close(g[9].rate, 0.5);
        // Tied scores share their churners: all equal -> every decile at
        // the overall rate, lift 1.
        let flat = gains_by_decile(&labels, &[0.5; 20]).expect("ok");
        assert!(flat.iter().all(|b| (b.lift - 1.0).abs() < 1e-12));
    }

    #[test]
    fn revenue_deciles_match_decile_mape() {
        // 10 customers, one per decile: pred 10..1, actual 2 x pred except
        // the last (actual 0). Decile d: pred 10 - d, actual 2 (10 - d),
        // decile 9 actual 0 (left out of the MAPE). Each used decile:
        // |p - 2p| / 2p = 0.5.
        let pred: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let y: Vec<f64> = pred
            .iter()
            .map(|p| if *p == 1.0 { 0.0 } else { 2.0 * p })
            .collect();
        let d = revenue_by_decile(&y, &pred).expect("ok");
        close(d[0].mean_predicted, 10.0);
        close(d[0].mean_actual, 20.0);
        close(d[9].mean_actual, 0.0);
        let m = decile_mape(&y, &pred).expect("ok");
        close(m.mape, 0.5);
        assert_eq!((m.deciles_used, m.deciles_left_out), (9, 1));
    }

    #[test]
    fn psi_against_a_hand_computed_value() {
        // Reference 1..10, 2 bins: edge = sorted[5] = 6, so bin 0 = {1..5},
        // bin 1 = {6..10}: 0.5 / 0.5. Current [1,2,3,7,8,9,10,11]:
        // 3/8 = 0.375 and 5/8 = 0.625.
        // PSI = (0.375-0.5) ln(0.375/0.5) + (0.625-0.5) ln(0.625/0.5)
        //     = 0.125 * 0.2876821 + 0.125 * 0.2231436 = 0.0638532.
        let reference: Vec<f64> = (1..=10).map(f64::from).collect();
        let p = psi(&reference, &[1.0, 2.0, 3.0, 7.0, 8.0, 9.0, 10.0, 11.0], 2).expect("ok");
        assert_eq!(p.edges, vec![6.0]);
        assert_eq!(p.expected, vec![0.5, 0.5]);
        assert_eq!(p.actual, vec![0.375, 0.625]);
        assert!((p.psi - 0.063_853_2).abs() < 1e-7, "{}", p.psi);
        // The same distribution: 0. Heavy ties merge bins.
        close(psi(&reference, &reference, 10).expect("ok").psi, 0.0);
        let ties = psi(&[0.0; 8], &[0.0, 1.0], 4).expect("ok");
        assert_eq!(ties.edges, vec![0.0]);
        assert!(psi(&[], &[1.0], 10).is_err());
    }
}
