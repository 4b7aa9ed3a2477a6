//! The out-of-time backtest and the champion of each target.
//!
//! For a target with horizon `h` and run date `D`:
//!
//! * **train** window: features at `C1 = D - 2h`, labels from `(C1, C1 + h]`;
//! * **validation** window: features at `C2 = D - h`, labels from `(C2, D]`;
//! * every candidate is fitted on the train window (the BTYD models on the
//!   features at `C1` for the BTYD inputs of the feature models) and scored
//!   on the validation window (the BTYD models refitted at `C2`, as they
//!   would be in production); the champion is the best on validation;
//! * the champion is then **refitted on the validation window**, the latest
//!   window whose outcome is known, and that refit is what scores the run
//!   date.
//!
//! With less than `2h + 90` days of order history before `D` there is no
//! train window with 90 days of history behind it: the target falls back to
//! the BTYD models (validated on `(C2, D]` when `C2` has 90 days of history
//! behind it) and its report says so.

use serde::{Deserialize, Serialize};

use fidelis_core::{Error, Result};
use fidelis_models::metrics::{self, CalibrationBin, GainsBin, RevenueDecile, RocPoint};
use fidelis_models::{
    FeatureMatrix, ForestChurnModel, ForestParams, LogisticChurnModel, LogisticParams,
    RevenueModel, RevenueParams,
};

use crate::btyd::{BtydFit, BtydPrediction};
use crate::table::{FeatureTable, LabelTable};

/// The BTYD outputs given to the feature models as inputs.
pub const BTYD_FEATURES: [&str; 5] = [
    "btyd_p_alive",
    "btyd_expected_orders",
    "btyd_p_no_order",
    "btyd_expected_value",
    "btyd_expected_revenue",
];

/// Days of history a training cutoff needs behind it.
pub const MIN_HISTORY_DAYS: f64 = 90.0;

/// One window: the features at a cutoff and the labels of the horizon after it.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub as_of: &'a str,
    pub features: &'a FeatureTable,
    pub labels: &'a LabelTable,
}

/// The buyers of a window matched to their labels.
struct Population {
    rows: Vec<usize>,
    churned: Vec<bool>,
    revenue: Vec<f64>,
}

fn population(w: &Window<'_>) -> Result<Population> {
    let labels = w.labels.index();
    let rows = w.features.buyers();
    let mut churned = Vec::with_capacity(rows.len());
    let mut revenue = Vec::with_capacity(rows.len());
    for &i in &rows {
        let id = w.features.ids[i].as_str();
        let j = *labels.get(id).ok_or_else(|| {
            Error::internal(format!(
                "customer {id} has an order day before {} but no label row",
                w.as_of
            ))
        })?;
        churned.push(w.labels.churned[j]);
        revenue.push(w.labels.revenue[j].max(0.0));
    }
    Ok(Population {
        rows,
        churned,
        revenue,
    })
}

/// The feature columns a model is trained on: every numeric column of the
/// training table with at least one value among the training rows (a group
/// left out for want of a table is all null and carries nothing), then the
/// BTYD outputs.
pub fn feature_names(train: &FeatureTable, rows: &[usize]) -> Vec<String> {
    let mut names: Vec<String> = train
        .numeric
        .iter()
        .filter(|(_, v)| rows.iter().any(|&i| v[i].is_finite()))
        .map(|(n, _)| n.clone())
        .collect();
    names.extend(BTYD_FEATURES.iter().map(|s| (*s).to_string()));
    names
}

/// `sign(v) ln(1 + |v|)`: counts, days and money are heavy-tailed, and a
/// linear model (or a standardization) on them is dominated by the few
/// largest customers; the symmetric log keeps order and sign, is ~linear
/// near 0 and compresses the tail. Applied to every feature but the two
/// probabilities.
fn slog(v: f64) -> f64 {
    v.signum() * v.abs().ln_1p()
}

/// The log-odds of a probability clipped to `[1e-6, 1 - 1e-6]`: the scale on
/// which the BTYD probabilities enter a logistic model linearly.
fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// The model matrix of `rows` of `table`: the named columns, then the BTYD
/// outputs (`NaN` for prospects; infinities become `NaN`, imputed later),
/// each through [`slog`] or, for the probabilities, [`logit`].
pub fn design_matrix(
    table: &FeatureTable,
    rows: &[usize],
    names: &[String],
    btyd: &[Option<BtydPrediction>],
) -> Result<FeatureMatrix> {
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        let values: Vec<f64> = match BTYD_FEATURES.iter().position(|b| b == name) {
            Some(k) => rows
                .iter()
                .map(|&i| {
                    btyd[i].map_or(f64::NAN, |p| match k {
                        0 => p.p_alive,
                        1 => p.expected_orders,
                        2 => p.p_no_order,
                        3 => p.expected_value,
                        _ => p.expected_revenue(),
                    })
                })
                .collect(),
            None => {
                let col = table.column(name).ok_or_else(|| {
                    Error::data(
                        "features",
                        format!("column {name}, used by the model, is missing"),
                    )
                })?;
                rows.iter().map(|&i| col[i]).collect()
            }
        };
        let probability = matches!(name.as_str(), "btyd_p_alive" | "btyd_p_no_order");
        let values = values
            .into_iter()
            .map(|v| {
                if !v.is_finite() {
                    f64::NAN
                } else if probability {
                    logit(v)
                } else {
                    slog(v)
                }
            })
            .collect();
        columns.push((name.clone(), values));
    }
    FeatureMatrix::from_columns(columns)
        .map_err(|e| Error::internal(format!("feature matrix: {e}")))
}

/// Validation metrics of a churn score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnMetrics {
    pub customers: usize,
    pub churn_rate: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    /// Only for scores that are probabilities.
    pub brier: Option<f64>,
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
    pub total_predicted: f64,
    pub total_actual: f64,
    pub total_ratio: f64,
    /// Predicted against actual by decile of the prediction.
    #[serde(default)]
    pub deciles: Vec<RevenueDecile>,
}

fn merr(e: fidelis_models::ModelError) -> String {
    e.to_string()
}

fn churn_metrics(
    labels: &[bool],
    score: &[f64],
    is_probability: bool,
) -> std::result::Result<ChurnMetrics, String> {
    let n = labels.len();
    let churn_rate = labels.iter().filter(|c| **c).count() as f64 / n.max(1) as f64;
    Ok(ChurnMetrics {
        customers: n,
        churn_rate,
        roc_auc: metrics::roc_auc(labels, score).map_err(merr)?,
        pr_auc: metrics::pr_auc(labels, score).map_err(merr)?,
        brier: if is_probability {
            Some(metrics::brier(labels, score).map_err(merr)?)
        } else {
            None
        },
        calibration: if is_probability {
            Some(metrics::calibration_by_decile(labels, score).map_err(merr)?)
        } else {
            None
        },
        roc_curve: metrics::roc_curve(labels, score, CURVE_POINTS).map_err(merr)?,
        gains: metrics::gains_by_decile(labels, score).map_err(merr)?,
    })
}

fn revenue_metrics(y: &[f64], pred: &[f64]) -> std::result::Result<RevenueMetrics, String> {
    let mape = metrics::decile_mape(y, pred).map_err(merr)?;
    Ok(RevenueMetrics {
        customers: y.len(),
        spearman: metrics::spearman(y, pred).map_err(merr)?,
        normalized_gini: metrics::normalized_gini(y, pred).map_err(merr)?,
        top_decile_capture: metrics::top_decile_capture(y, pred).map_err(merr)?,
        decile_mape: mape.mape,
        decile_mape_deciles_left_out: mape.deciles_left_out,
        total_predicted: pred.iter().sum(),
        total_actual: y.iter().sum(),
        total_ratio: metrics::total_ratio(y, pred).map_err(merr)?,
        deciles: metrics::revenue_by_decile(y, pred).map_err(merr)?,
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
    /// The windows the champion was refitted on: the validation window and
    /// all but the oldest training window (as many windows as in training).
    pub refit_as_of: Vec<String>,
    /// Why the feature models were not tried, when they were not.
    pub fallback: Option<String>,
    /// Training windows left out because the BTYD models could not be
    /// fitted on them, with the reason.
    pub skipped_windows: Vec<String>,
    pub candidates: Vec<Candidate<M>>,
    pub champion: String,
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
    Glm {
        model: RevenueModel,
    },
    /// Mean of the GLM and the BTYD prediction.
    Blend {
        model: RevenueModel,
    },
}

/// Settings of the feature models (from the job config).
#[derive(Debug, Clone)]
pub struct TrainParams {
    pub seed: u64,
    pub logistic: LogisticParams,
    pub forest: ForestParams,
    pub revenue: RevenueParams,
}

impl TrainParams {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            logistic: LogisticParams {
                seed,
                ..LogisticParams::default()
            },
            // A challenger that has not won yet: 60 trees on 8,000 draws
            // each, a quarter of the library default (100 x 20,000); see
            // docs/models.md, "The solvers, and the forest in the pipeline".
            forest: ForestParams {
                seed,
                n_trees: 60,
                max_samples_per_tree: 8_000,
                ..ForestParams::default()
            },
            revenue: RevenueParams {
                seed,
                ..RevenueParams::default()
            },
        }
    }
}

/// A window with its BTYD fit and predictions for the horizon.
struct Fitted<'a> {
    w: Window<'a>,
    pop: Population,
    btyd: Vec<Option<BtydPrediction>>,
}

fn fitted<'a>(w: Window<'a>, horizon: f64) -> Result<Fitted<'a>> {
    let btyd = timed("btyd", w.as_of, w.features.len(), || {
        BtydFit::fit(w.features, w.as_of)?.predict_table(w.features, horizon)
    })?;
    Ok(Fitted {
        pop: population(&w)?,
        w,
        btyd,
    })
}

/// The pooled design matrix and labels of several fitted windows (stacked
/// in the order given).
fn pooled(
    windows: &[Fitted<'_>],
    names: &[String],
) -> Result<(FeatureMatrix, Vec<bool>, Vec<f64>)> {
    let mut parts = Vec::with_capacity(windows.len());
    let (mut churned, mut revenue) = (Vec::new(), Vec::new());
    for f in windows {
        parts.push(design_matrix(f.w.features, &f.pop.rows, names, &f.btyd)?);
        churned.extend_from_slice(&f.pop.churned);
        revenue.extend_from_slice(&f.pop.revenue);
    }
    let views: Vec<_> = parts.iter().map(|m| m.values().view()).collect();
    let values = ndarray::concatenate(ndarray::Axis(0), &views)
        .map_err(|e| Error::internal_with("stacking the training windows", e))?;
    let x = FeatureMatrix::new(names.to_vec(), values)
        .map_err(|e| Error::internal(format!("feature matrix: {e}")))?;
    Ok((x, churned, revenue))
}

/// Fit the BTYD models of every training window; a window they cannot be
/// fitted on (too few or too uniform buyers, typically the oldest and
/// smallest) is left out and named in `skipped`.
fn fit_all<'a>(windows: &[Window<'a>], horizon: f64, skipped: &mut Vec<String>) -> Vec<Fitted<'a>> {
    windows
        .iter()
        .filter_map(|w| match fitted(*w, horizon) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(as_of = w.as_of, error = %e, "training window left out");
                skipped.push(format!("{}: {e}", w.as_of));
                None
            }
        })
        .collect()
}

fn btyd_of(f: &Fitted<'_>, pick: impl Fn(&BtydPrediction) -> f64) -> Result<Vec<f64>> {
    f.pop
        .rows
        .iter()
        .map(|&i| {
            f.btyd[i].as_ref().map(&pick).ok_or_else(|| {
                Error::internal(format!("buyer {} has no BTYD summary", f.w.features.ids[i]))
            })
        })
        .collect()
}

fn fallback_reason(history_days: f64, horizon: u32) -> Option<String> {
    let need = 2.0 * f64::from(horizon) + MIN_HISTORY_DAYS;
    (history_days < need).then(|| {
        format!(
            "{history_days:.0} days of order history before the run date; the feature-model backtest for a {horizon}-day horizon needs {need:.0} (2h + {MIN_HISTORY_DAYS:.0}): BTYD models only"
        )
    })
}

/// Pick the eligible candidate with the best metric (`better(a, b)` true when
/// `a` beats `b`); earlier candidates win ties.
fn pick<M>(cands: &[Candidate<M>], better: impl Fn(&M, &M) -> bool) -> Option<String> {
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

fn candidate<M>(
    name: &str,
    role: &str,
    eligible: bool,
    r: std::result::Result<M, String>,
) -> Candidate<M> {
    let (metrics, error) = match r {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e)),
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
fn new_report<M>(
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
        refit_as_of: Vec::new(),
        fallback: fallback_reason(history_days, horizon),
        skipped_windows: Vec::new(),
        candidates: Vec::new(),
        champion: champion.to_string(),
    }
}

/// The validation window fitted, or `None` with the reason in the report's
/// `fallback`.
fn fit_validation<'a, M>(
    report: &mut TargetReport<M>,
    valid: Option<Window<'a>>,
    h: f64,
) -> Option<Fitted<'a>> {
    let Some(valid) = valid else {
        report
            .fallback
            .get_or_insert_with(|| "no validation window".into());
        return None;
    };
    match fitted(valid, h) {
        Ok(v) => Some(v),
        Err(e) => {
            report.fallback = Some(format!("validation window {}: {e}", valid.as_of));
            None
        }
    }
}

/// The training windows that could be fitted (most recent first) and the
/// feature names of the newest, or `None` when the target falls back (the
/// report says why).
fn fit_training<'a, M>(
    report: &mut TargetReport<M>,
    train: &[Window<'a>],
    h: f64,
) -> Option<(Vec<Fitted<'a>>, Vec<String>)> {
    if train.is_empty() || report.fallback.is_some() {
        return None;
    }
    let t = fit_all(train, h, &mut report.skipped_windows);
    report.train_as_of = t.iter().map(|f| f.w.as_of.to_string()).collect();
    let Some(newest) = t.first() else {
        report.fallback = Some("no training window could be fitted".into());
        return None;
    };
    let names = feature_names(newest.w.features, &newest.pop.rows);
    Some((t, names))
}

/// The windows a champion is refitted on: the validation window and all but
/// the oldest training window (as many as in training, moved forward by h).
fn latest_windows<'a>(v: Fitted<'a>, t: Vec<Fitted<'a>>) -> Vec<Fitted<'a>> {
    let keep = t.len() - 1;
    std::iter::once(v).chain(t.into_iter().take(keep)).collect()
}

/// Runs one model fit and logs its time and rows (the train stage's
/// profile in the structured logs).
fn timed<T>(target: &str, model: &str, rows: usize, fit: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = fit();
    tracing::info!(
        target_name = target,
        model,
        rows,
        seconds = started.elapsed().as_secs_f64(),
        "model fitted"
    );
    out
}

/// Backtest the churn target. Returns the report, the refitted champion and
/// the logistic model refitted on the same latest windows, which explains
/// every churn score whichever model is champion (`None` when the feature
/// models were not tried).
pub fn churn(
    horizon: u32,
    history_days: f64,
    train: &[Window<'_>],
    valid: Option<Window<'_>>,
    params: &TrainParams,
) -> Result<(
    TargetReport<ChurnMetrics>,
    ChurnChampion,
    Option<LogisticChurnModel>,
)> {
    let h = f64::from(horizon);
    let mut report = new_report(
        format!("churn_{horizon}d"),
        horizon,
        history_days,
        train,
        valid,
        "bgnbd",
    );
    let Some(v) = fit_validation(&mut report, valid, h) else {
        return Ok((report, ChurnChampion::Bgnbd, None));
    };
    let y = &v.pop.churned;
    let bg = btyd_of(&v, |p| p.p_no_order)?;
    report.candidates.push(candidate(
        "bgnbd",
        "btyd",
        true,
        churn_metrics(y, &bg, true),
    ));
    let recency_col = v.w.features.require("recency_days")?;
    let recency: Vec<f64> = v.pop.rows.iter().map(|&i| recency_col[i]).collect();
    report.candidates.push(candidate(
        "recency",
        "baseline",
        false,
        churn_metrics(y, &recency, false),
    ));
    let Some((t, names)) = fit_training(&mut report, train, h) else {
        return Ok((report, ChurnChampion::Bgnbd, None));
    };
    let (xt, yt, _) = pooled(&t, &names)?;
    let xv = design_matrix(v.w.features, &v.pop.rows, &names, &v.btyd)?;

    let logistic = timed(&report.target, "logistic", yt.len(), || {
        LogisticChurnModel::fit(&xt, &yt, &params.logistic)
    });
    let logistic_p = logistic
        .as_ref()
        .map_err(|e| e.to_string())
        .and_then(|m| m.predict_proba(&xv).map_err(merr));
    report.candidates.push(candidate(
        "logistic",
        "feature_model",
        true,
        logistic_p.clone().and_then(|p| churn_metrics(y, &p, true)),
    ));
    let forest = timed(&report.target, "forest", yt.len(), || {
        ForestChurnModel::fit(&xt, &yt, &params.forest)
    });
    report.candidates.push(candidate(
        "forest",
        "feature_model",
        true,
        forest
            .as_ref()
            .map_err(|e| e.to_string())
            .and_then(|m| m.predict_proba(&xv).map_err(merr))
            .and_then(|p| churn_metrics(y, &p, true)),
    ));
    report.candidates.push(candidate(
        "blend",
        "blend",
        true,
        logistic_p.and_then(|p| {
            let b: Vec<f64> = p.iter().zip(&bg).map(|(a, b)| 0.5 * (a + b)).collect();
            churn_metrics(y, &b, true)
        }),
    ));
    report.champion =
        pick(&report.candidates, |a, b| a.roc_auc > b.roc_auc).unwrap_or_else(|| "bgnbd".into());

    // Refit on the latest windows: the logistic model always (champion or
    // explainer), the forest when it is champion.
    let latest = latest_windows(v, t);
    let (xr, yr, _) = pooled(&latest, &names)?;
    let logistic = timed(&report.target, "logistic refit", yr.len(), || {
        LogisticChurnModel::fit(&xr, &yr, &params.logistic)
    });
    let quality = |what: &str, e: fidelis_models::ModelError| {
        Error::quality(format!("refitting the {what} churn champion: {e}"))
    };
    let (champion, explainer) = match report.champion.as_str() {
        "logistic" => {
            let model = logistic.map_err(|e| quality("logistic", e))?;
            (
                ChurnChampion::Logistic {
                    model: model.clone(),
                },
                Some(model),
            )
        }
        "blend" => {
            let model = logistic.map_err(|e| quality("blend", e))?;
            (
                ChurnChampion::Blend {
                    model: model.clone(),
                },
                Some(model),
            )
        }
        other => {
            let champion = if other == "forest" {
                ChurnChampion::Forest {
                    model: timed(&report.target, "forest refit", yr.len(), || {
                        ForestChurnModel::fit(&xr, &yr, &params.forest)
                    })
                    .map_err(|e| quality("forest", e))?,
                }
            } else {
                ChurnChampion::Bgnbd
            };
            let explainer = logistic
                .map_err(|e| tracing::warn!(error = %e, "no churn explainer"))
                .ok();
            (champion, explainer)
        }
    };
    if !matches!(champion, ChurnChampion::Bgnbd) {
        report.refit_as_of = latest.iter().map(|f| f.w.as_of.to_string()).collect();
    }
    Ok((report, champion, explainer))
}

/// Backtest one revenue target; the champion has the lowest decile MAPE on
/// validation (money is what CLV is used for: a champion must get the
/// amounts right per decile, not only the order).
pub fn revenue(
    horizon: u32,
    history_days: f64,
    train: &[Window<'_>],
    valid: Option<Window<'_>>,
    params: &TrainParams,
) -> Result<(TargetReport<RevenueMetrics>, RevenueChampion)> {
    let h = f64::from(horizon);
    let mut report = new_report(
        format!("revenue_{horizon}d"),
        horizon,
        history_days,
        train,
        valid,
        "btyd",
    );
    let Some(v) = fit_validation(&mut report, valid, h) else {
        return Ok((report, RevenueChampion::Btyd));
    };
    let y = &v.pop.revenue;
    let bt = btyd_of(&v, BtydPrediction::expected_revenue)?;
    report
        .candidates
        .push(candidate("btyd", "btyd", true, revenue_metrics(y, &bt)));
    let Some((t, names)) = fit_training(&mut report, train, h) else {
        return Ok((report, RevenueChampion::Btyd));
    };
    let (xt, _, yt) = pooled(&t, &names)?;
    let xv = design_matrix(v.w.features, &v.pop.rows, &names, &v.btyd)?;
    let glm_p = timed(&report.target, "glm", yt.len(), || {
        RevenueModel::fit(&xt, &yt, &params.revenue)
    })
    .map_err(|e| e.to_string())
    .and_then(|m| m.predict(&xv).map_err(merr));
    report.candidates.push(candidate(
        "glm",
        "feature_model",
        true,
        glm_p.clone().and_then(|p| revenue_metrics(y, &p)),
    ));
    report.candidates.push(candidate(
        "blend",
        "blend",
        true,
        glm_p.and_then(|p| {
            let b: Vec<f64> = p.iter().zip(&bt).map(|(a, b)| 0.5 * (a + b)).collect();
            revenue_metrics(y, &b)
        }),
    ));
    report.champion = pick(&report.candidates, |a, b| a.decile_mape < b.decile_mape)
        .unwrap_or_else(|| "btyd".into());
    let latest = latest_windows(v, t);
    // The refit's matrix only when a feature model is champion.
    let refit = || -> Result<RevenueModel> {
        let (xr, _, yr) = pooled(&latest, &names)?;
        timed(&report.target, "glm refit", yr.len(), || {
            RevenueModel::fit(&xr, &yr, &params.revenue)
        })
        .map_err(|e| Error::quality(format!("refitting the revenue champion: {e}")))
    };
    let champion = match report.champion.as_str() {
        "glm" => RevenueChampion::Glm { model: refit()? },
        "blend" => RevenueChampion::Blend { model: refit()? },
        _ => RevenueChampion::Btyd,
    };
    if !matches!(champion, RevenueChampion::Btyd) {
        report.refit_as_of = latest.iter().map(|f| f.w.as_of.to_string()).collect();
    }
    Ok((report, champion))
}
