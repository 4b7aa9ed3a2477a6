//! What a backtest reports and keeps: every candidate's validation
//! metrics (`metrics.json`), the champion rules, and the champion artifacts
//! that score the run date (`model.json`).

use serde::{Deserialize, Serialize};

use fidelis_models::metrics::{self, CalibrationBin, GainsBin, RevenueDecile, RocPoint};
use fidelis_models::{ForestChurnModel, L2Choice, LogisticChurnModel, ModelError, RevenueModel};

use super::windows::{ValidationScheme, Window, fallback_reason};

/// Validation metrics of a churn score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnMetrics {
    pub customers: usize,
    pub churn_rate: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    /// Only for scores that are probabilities.
    pub brier: Option<f64>,
    /// Expected calibration error over 10 equal-count bins (probabilities
    /// only; [`metrics::expected_calibration_error`]).
    #[serde(default)]
    pub ece: Option<f64>,
    pub calibration: Option<Vec<CalibrationBin>>,
    /// The ROC curve, thinned to at most [`CURVE_POINTS`] points.
    #[serde(default)]
    pub roc_curve: Vec<RocPoint>,
    /// Lift and cumulative gains by decile of the score.
    #[serde(default)]
    pub gains: Vec<GainsBin>,
}

/// Points kept of a ROC curve in `metrics.json`.
pub const CURVE_POINTS: usize = 201;

/// Validation metrics of a revenue prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevenueMetrics {
    pub customers: usize,
    pub spearman: f64,
    pub normalized_gini: f64,
    pub top_decile_capture: f64,
    pub decile_mape: f64,
    pub decile_mape_deciles_left_out: usize,
    /// The champion rule's decile error: every decile counts
    /// ([`metrics::decile_wape`]).
    #[serde(default)]
    pub decile_wape: f64,
    pub total_predicted: f64,
    pub total_actual: f64,
    pub total_ratio: f64,
    /// Predicted against actual by decile of the prediction.
    #[serde(default)]
    pub deciles: Vec<RevenueDecile>,
}

pub(super) fn churn_metrics(
    labels: &[bool],
    score: &[f64],
    is_probability: bool,
) -> std::result::Result<ChurnMetrics, ModelError> {
    let n = labels.len();
    let churn_rate = labels.iter().filter(|c| **c).count() as f64 / n.max(1) as f64;
    let calibration = if is_probability {
        Some(metrics::calibration_by_decile(labels, score)?)
    } else {
        None
    };
    Ok(ChurnMetrics {
        customers: n,
        churn_rate,
        roc_auc: metrics::roc_auc(labels, score)?,
        pr_auc: metrics::pr_auc(labels, score)?,
        brier: if is_probability {
            Some(metrics::brier(labels, score)?)
        } else {
            None
        },
        ece: calibration.as_deref().map(metrics::calibration_error_of),
        calibration,
        roc_curve: metrics::roc_curve(labels, score, CURVE_POINTS)?,
        gains: metrics::gains_by_decile(labels, score)?,
    })
}

pub(super) fn revenue_metrics(
    y: &[f64],
    pred: &[f64],
) -> std::result::Result<RevenueMetrics, ModelError> {
    let deciles = metrics::revenue_by_decile(y, pred)?;
    let mape = metrics::decile_mape_of(&deciles)?;
    let total_actual: f64 = y.iter().sum();
    Ok(RevenueMetrics {
        customers: y.len(),
        spearman: metrics::spearman(y, pred)?,
        normalized_gini: metrics::normalized_gini(y, pred)?,
        top_decile_capture: metrics::top_decile_capture(y, pred)?,
        decile_mape: mape.mape,
        decile_mape_deciles_left_out: mape.deciles_left_out,
        decile_wape: metrics::decile_wape_of(&deciles, total_actual)?,
        total_predicted: pred.iter().sum(),
        total_actual,
        total_ratio: metrics::total_ratio(y, pred)?,
        deciles,
    })
}

/// One candidate of a target, as reported in `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate<M> {
    pub name: String,
    /// `baseline` (never champion unless it is a probability), `btyd`,
    /// `feature_model` or `blend`.
    pub role: String,
    /// Validation metrics; `None` when the candidate could not be fitted.
    pub metrics: Option<M>,
    /// Why the candidate has no metrics.
    pub error: Option<String>,
    /// Whether it may be champion.
    pub eligible: bool,
}

/// The backtest of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport<M> {
    pub target: String,
    pub horizon_days: u32,
    /// The training windows' cutoffs, most recent first (pooled).
    pub train_as_of: Vec<String>,
    pub validation_as_of: Option<String>,
    /// Out of time, or one window split by customer (short histories), or
    /// BTYD only ([`ValidationScheme`]); `out_of_time` in reports written
    /// before it existed.
    #[serde(default)]
    pub validation_scheme: ValidationScheme,
    /// The windows the champion was refitted on: out of time, the
    /// validation window and all but the oldest training window (as many
    /// windows as in training); split, the one whole window; empty for a
    /// probabilistic champion (fitted at the run date).
    pub refit_as_of: Vec<String>,
    /// Why the feature models were not tried, when they were not.
    pub fallback: Option<String>,
    /// Training windows left out because the BTYD models could not be
    /// fitted on them, with the reason.
    pub skipped_windows: Vec<String>,
    pub candidates: Vec<Candidate<M>>,
    pub champion: String,
    /// The logistic model's L2 penalty, chosen by cross-validation on the
    /// training windows (churn only; docs/models.md, "Regularisation").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logistic_l2: Option<L2Choice>,
    /// The churn champion's Platt calibration and its check on validation
    /// (churn only; docs/models.md, "Calibration").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<super::calibrate::ChampionCalibration>,
}

impl<M> TargetReport<M> {
    pub fn champion_metrics(&self) -> Option<&M> {
        self.candidates
            .iter()
            .find(|c| c.name == self.champion)
            .and_then(|c| c.metrics.as_ref())
    }
}

/// The churn model that scores the run date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChurnChampion {
    /// BG/NBD P(no order day in the horizon), from the BTYD fit at `D`.
    Bgnbd,
    /// Pareto/NBD P(no order day in the horizon), from the Pareto/NBD fit
    /// at `D` ([`crate::ModelSet::pareto_nbd`]).
    ParetoNbd,
    Logistic {
        model: LogisticChurnModel,
    },
    Forest {
        model: ForestChurnModel,
    },
    /// Mean of the logistic probability and the BG/NBD one.
    Blend {
        model: LogisticChurnModel,
    },
}

/// The revenue model of one horizon that scores the run date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RevenueChampion {
    /// BG/NBD expected order days x Gamma-Gamma expected value.
    Btyd,
    /// Pareto/NBD expected order days (the fit at `D`,
    /// [`crate::ModelSet::pareto_nbd`]) x Gamma-Gamma expected value.
    ParetoNbd,
    /// The BTYD prediction times the revenue level (actual over BTYD's
    /// prediction) of the latest windows whose outcome is known.
    BtydLevel {
        level: f64,
    },
    Glm {
        model: RevenueModel,
    },
    /// Mean of the GLM and the BTYD prediction.
    Blend {
        model: RevenueModel,
    },
}

/// Pick the eligible candidate with the best metric (`better(a, b)` true when
/// `a` beats `b`); earlier candidates win ties.
pub(super) fn pick<M>(cands: &[Candidate<M>], better: impl Fn(&M, &M) -> bool) -> Option<String> {
    let mut best: Option<&Candidate<M>> = None;
    for c in cands.iter().filter(|c| c.eligible) {
        let Some(m) = &c.metrics else { continue };
        match best.and_then(|b| b.metrics.as_ref()) {
            Some(bm) if !better(m, bm) => {}
            _ => best = Some(c),
        }
    }
    best.map(|c| c.name.clone())
}

/// ROC AUC differences below this are not taken to tell two churn
/// candidates apart (docs/models.md, "Champion").
pub const CHURN_AUC_MARGIN: f64 = 0.005;

/// The churn champion: of the eligible candidates whose ROC AUC is within
/// [`CHURN_AUC_MARGIN`] of the best, the one with the lowest Brier score
/// (a score without one counts as the worst); earlier candidates win ties.
pub(super) fn pick_churn(cands: &[Candidate<ChurnMetrics>]) -> Option<String> {
    let best = cands
        .iter()
        .filter(|c| c.eligible)
        .filter_map(|c| c.metrics.as_ref())
        .map(|m| m.roc_auc)
        .fold(f64::NEG_INFINITY, f64::max);
    let brier = |m: &ChurnMetrics| m.brier.unwrap_or(f64::INFINITY);
    pick(cands, |a, b| {
        let (a_in, b_in) = (
            a.roc_auc >= best - CHURN_AUC_MARGIN,
            b.roc_auc >= best - CHURN_AUC_MARGIN,
        );
        match (a_in, b_in) {
            (true, false) => true,
            (false, true) | (false, false) => false,
            (true, true) => brier(a) < brier(b),
        }
    })
}

/// The revenue champion: the eligible candidate with the lowest decile
/// WAPE on validation (earlier candidates win ties).
pub(super) fn pick_revenue(cands: &[Candidate<RevenueMetrics>]) -> Option<String> {
    pick(cands, |a, b| a.decile_wape < b.decile_wape)
}

pub(super) fn candidate<M>(
    name: &str,
    role: &str,
    eligible: bool,
    r: std::result::Result<M, ModelError>,
) -> Candidate<M> {
    // The report boundary: a candidate that could not be fitted or scored
    // keeps the model error's message in `metrics.json`.
    let (metrics, error) = match r {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Candidate {
        name: name.to_string(),
        role: role.to_string(),
        metrics,
        error,
        eligible,
    }
}

/// A new report for a target, before any window is fitted.
pub(super) fn new_report<M>(
    target: String,
    horizon: u32,
    history_days: f64,
    train: &[Window<'_>],
    valid: Option<Window<'_>>,
    champion: &str,
) -> TargetReport<M> {
    TargetReport {
        target,
        horizon_days: horizon,
        train_as_of: train.iter().map(|w| w.as_of.to_string()).collect(),
        validation_as_of: valid.map(|w| w.as_of.to_string()),
        validation_scheme: ValidationScheme::of(history_days, horizon),
        refit_as_of: Vec::new(),
        fallback: fallback_reason(history_days, horizon),
        skipped_windows: Vec::new(),
        candidates: Vec::new(),
        champion: champion.to_string(),
        logistic_l2: None,
        calibration: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn churn(
        name: &str,
        eligible: bool,
        roc_auc: f64,
        brier: Option<f64>,
    ) -> Candidate<ChurnMetrics> {
        Candidate {
            name: name.into(),
            role: "feature_model".into(),
            metrics: Some(ChurnMetrics {
                customers: 100,
                churn_rate: 0.5,
                roc_auc,
                pr_auc: 0.5,
                brier,
                ece: None,
                calibration: None,
                roc_curve: Vec::new(),
                gains: Vec::new(),
            }),
            error: None,
            eligible,
        }
    }

    #[test]
    fn the_churn_champion_is_the_best_brier_among_the_near_best_auc() {
        // Best AUC 0.800: within 0.005 are a (0.796) and c (0.800); a has
        // the lower Brier. b (0.790) has the lowest Brier but is out of the
        // margin; the baseline d is not eligible.
        let cands = [
            churn("a", true, 0.796, Some(0.150)),
            churn("b", true, 0.790, Some(0.100)),
            churn("c", true, 0.800, Some(0.160)),
            churn("d", false, 0.900, Some(0.050)),
        ];
        assert_eq!(pick_churn(&cands).as_deref(), Some("a"));
        // A score without a Brier loses to any near-best probability.
        let cands = [
            churn("x", true, 0.800, None),
            churn("y", true, 0.799, Some(0.2)),
        ];
        assert_eq!(pick_churn(&cands).as_deref(), Some("y"));
        // Ties on both: the earlier candidate.
        let cands = [
            churn("p", true, 0.8, Some(0.1)),
            churn("q", true, 0.8, Some(0.1)),
        ];
        assert_eq!(pick_churn(&cands).as_deref(), Some("p"));
    }
}
