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
//! A cutoff needs [`MIN_HISTORY_DAYS`] (30) days of order history behind it.
//! With `h + 30` to `2h + 30` days of history before `D` there is no
//! training window before `C2`: the customers of the window at `C2` are
//! split by a fixed hash of their id into a training and a validation half
//! ([`ValidationScheme::CustomerSplit`]), and the champion is refitted on
//! the whole window. With less than `h + 30` days the target falls back to
//! the BTYD models and its report says so.
//!
//! Split by concern: [`windows`] (a window, its population, its BTYD fit,
//! pooled training windows), [`design`] (the design matrix that scoring
//! uses too), [`report`] (metrics, candidates, champions, the artifacts);
//! this module is the orchestration of the two targets.

use fidelis_core::{Error, Result};
use fidelis_models::{
    FeatureMatrix, ForestChurnModel, ForestParams, LogisticChurnModel, LogisticParams,
    RevenueModel, RevenueParams, TransactionModel, choose_l2,
};

use crate::btyd::BtydPrediction;

pub mod calibrate;
pub mod design;
pub mod report;
pub mod windows;

pub use calibrate::ChampionCalibration;
pub use design::{BTYD_FEATURES, design_matrix, feature_names};
pub use report::{
    CURVE_POINTS, Candidate, ChurnChampion, ChurnMetrics, RevenueChampion, RevenueMetrics,
    TargetReport,
};
pub use windows::{MIN_HISTORY_DAYS, ValidationScheme, Window, in_training_half};

use calibrate::{Scorer, calibrate};
use report::{candidate, churn_metrics, new_report, pick_churn, pick_revenue, revenue_metrics};
use windows::{
    Fitted, btyd_of, fit_all, fitted, fold_keys, latest_windows, pareto_fit, pareto_of, pooled,
    split_halves,
};

/// Buyers each half of a split window needs
/// ([`ValidationScheme::CustomerSplit`]); with fewer the target takes the
/// BTYD models, unvalidated, as with a shorter history.
pub const MIN_SPLIT_BUYERS: usize = 100;

/// Rows the logistic fit behind a calibration trains on at most.
pub const CALIBRATION_MAX_ROWS: usize = 50_000;

/// Settings of the feature models (from the job config).
#[derive(Debug, Clone)]
pub struct TrainParams {
    pub seed: u64,
    pub logistic: LogisticParams,
    pub forest: ForestParams,
    pub revenue: RevenueParams,
    /// Pareto/NBD fits by cutoff, shared by the targets of one training:
    /// the churn and revenue targets of one horizon validate at the same
    /// cutoff, and the fit depends on its features only.
    pub pareto_fits: windows::ParetoFits,
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
            pareto_fits: windows::ParetoFits::default(),
        }
    }
}

/// The validation window fitted, or `None` with the reason in the report's
/// `fallback`; with a [`ValidationScheme::CustomerSplit`] also the training
/// half of the same window (the validation window is then its other half).
fn fit_validation<'a, M>(
    report: &mut TargetReport<M>,
    valid: Option<Window<'a>>,
    h: f64,
) -> Option<(Fitted<'a>, Option<Fitted<'a>>)> {
    let Some(valid) = valid else {
        report
            .fallback
            .get_or_insert_with(|| "no validation window".into());
        return None;
    };
    match fitted(valid, h) {
        Ok(v) if report.validation_scheme == ValidationScheme::CustomerSplit => {
            let (t, v) = split_halves(v);
            let fewest = t.pop.rows.len().min(v.pop.rows.len());
            if fewest < MIN_SPLIT_BUYERS {
                // Metrics on a few dozen customers are noise, and a noisy
                // champion would fail its quality floor for nothing: the
                // window is too small to split, as if the history were.
                report.validation_scheme = ValidationScheme::BtydOnly;
                report.validation_as_of = None;
                report.fallback = Some(format!(
                    "the window at {} has {} buyers, {fewest} in its smaller half; a customer split needs {MIN_SPLIT_BUYERS} in each: BTYD models only",
                    valid.as_of,
                    t.pop.rows.len() + v.pop.rows.len(),
                ));
                return None;
            }
            Some((v, Some(t)))
        }
        Ok(v) => Some((v, None)),
        Err(e) => {
            report.validation_scheme = ValidationScheme::BtydOnly;
            report.fallback = Some(format!(
                "validation window {}: {}",
                valid.as_of,
                e.with_sources()
            ));
            None
        }
    }
}

/// The training windows that could be fitted (most recent first) and the
/// feature names of the newest, or `None` when the target falls back (the
/// report says why). A split window's training half is the one training
/// window.
fn fit_training<'a, M>(
    report: &mut TargetReport<M>,
    train: &[Window<'a>],
    half: Option<Fitted<'a>>,
    h: f64,
) -> Option<(Vec<Fitted<'a>>, Vec<String>)> {
    if report.fallback.is_some() {
        return None;
    }
    let t = match half {
        Some(half) => vec![half],
        None if train.is_empty() => return None,
        None => fit_all(train, h, &mut report.skipped_windows),
    };
    report.train_as_of = t.iter().map(|f| f.w.as_of.to_string()).collect();
    let Some(newest) = t.first() else {
        report.fallback = Some("no training window could be fitted".into());
        return None;
    };
    let names = feature_names(newest.w.features, &newest.pop.rows);
    Some((t, names))
}

/// The cutoffs of the windows a champion was refitted on, each once (both
/// halves of a split window are one cutoff).
fn refit_cutoffs(latest: &[Fitted<'_>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in latest {
        if !out.iter().any(|c| c == f.w.as_of) {
            out.push(f.w.as_of.to_string());
        }
    }
    out
}

/// Runs one model fit and logs its time and rows (the train stage's
/// profile in the structured logs).
pub(super) fn timed<T>(target: &str, model: &str, rows: usize, fit: impl FnOnce() -> T) -> T {
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
    let Some((v, half)) = fit_validation(&mut report, valid, h) else {
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
    let pareto_p = pareto_of(
        &v,
        &pareto_fit(&v, &report.target, &params.pareto_fits),
        |m, c| m.prob_no_purchase(c, h),
    );
    report.candidates.push(candidate(
        "pareto_nbd",
        "btyd",
        true,
        pareto_p.clone().and_then(|p| churn_metrics(y, &p, true)),
    ));
    let recency_col = v.w.features.require("recency_days")?;
    let recency: Vec<f64> = v.pop.rows.iter().map(|&i| recency_col[i]).collect();
    report.candidates.push(candidate(
        "recency",
        "baseline",
        false,
        churn_metrics(y, &recency, false),
    ));
    let Some((t, names)) = fit_training(&mut report, train, half, h) else {
        // No feature models: the champion rule decides between the two
        // probabilistic models, validated all the same.
        report.champion = pick_churn(&report.candidates).unwrap_or_else(|| "bgnbd".into());
        let champion = if report.champion == "pareto_nbd" {
            ChurnChampion::ParetoNbd
        } else {
            ChurnChampion::Bgnbd
        };
        return Ok((report, champion, None));
    };
    let (xt, yt, _) = pooled(&t, &names)?;
    let xv = design_matrix(v.w.features, &v.pop.rows, &names, &v.btyd)?;

    // The penalty, chosen on the training windows alone (customer folds):
    // the validation labels never reach it. Without a choice (a fold with
    // one class) the default penalty stays.
    let keys = fold_keys(&t);
    let logistic_params = match timed(&report.target, "logistic penalty", yt.len(), || {
        choose_l2(&xt, &yt, &keys, &params.logistic)
    }) {
        Ok(choice) => {
            let p = LogisticParams {
                l2_per_row: Some(choice.l2_per_row),
                ..params.logistic.clone()
            };
            report.logistic_l2 = Some(choice);
            p
        }
        Err(e) => {
            tracing::warn!(error = %e, "logistic penalty search failed: default penalty");
            params.logistic.clone()
        }
    };
    let logistic = timed(&report.target, "logistic", yt.len(), || {
        LogisticChurnModel::fit(&xt, &yt, &logistic_params)
    });
    let logistic_p = logistic
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|m| m.predict_proba(&xv));
    report.candidates.push(candidate(
        "logistic",
        "feature_model",
        true,
        logistic_p.clone().and_then(|p| churn_metrics(y, &p, true)),
    ));
    let forest = timed(&report.target, "forest", yt.len(), || {
        ForestChurnModel::fit(&xt, &yt, &params.forest)
    });
    let forest_p = forest
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|m| m.predict_proba(&xv));
    report.candidates.push(candidate(
        "forest",
        "feature_model",
        true,
        forest_p.clone().and_then(|p| churn_metrics(y, &p, true)),
    ));
    let blend_p = logistic_p.clone().map(|p| {
        p.iter()
            .zip(&bg)
            .map(|(a, b)| 0.5 * (a + b))
            .collect::<Vec<f64>>()
    });
    report.candidates.push(candidate(
        "blend",
        "blend",
        true,
        blend_p.clone().and_then(|b| churn_metrics(y, &b, true)),
    ));
    report.champion = pick_churn(&report.candidates).unwrap_or_else(|| "bgnbd".into());

    // Calibrate the champion on held-out predictions of the newest training
    // window; checked on validation (a failure keeps the raw probability).
    // The logistic fit that makes them trains on at most
    // CALIBRATION_MAX_ROWS rows: the map has two parameters (3.9 s of the
    // 1M-customer train stage on 200,000 rows).
    let calibration_params = LogisticParams {
        max_train_rows: CALIBRATION_MAX_ROWS.min(logistic_params.max_train_rows),
        ..logistic_params.clone()
    };
    let fit_logistic = |x: &FeatureMatrix, y: &[bool], xn: &FeatureMatrix| {
        LogisticChurnModel::fit(x, y, &calibration_params)?.predict_proba(xn)
    };
    let fit_forest = |x: &FeatureMatrix, y: &[bool], xn: &FeatureMatrix| {
        ForestChurnModel::fit(x, y, &params.forest)?.predict_proba(xn)
    };
    let chosen = match report.champion.as_str() {
        "bgnbd" => Some((Scorer::Bgnbd, Ok(bg.clone()))),
        "pareto_nbd" => Some((Scorer::Pareto(h, &params.pareto_fits), pareto_p)),
        "logistic" => Some((Scorer::Model(&fit_logistic), logistic_p)),
        "forest" => Some((Scorer::Model(&fit_forest), forest_p)),
        "blend" => Some((Scorer::Blend(&fit_logistic), blend_p)),
        _ => None,
    };
    if let Some((scorer, Ok(valid_p))) = chosen {
        match timed(&report.target, "calibration", yt.len(), || {
            calibrate(&report.champion, scorer, &t, &names, &valid_p, y)
        }) {
            Ok(c) => report.calibration = Some(c),
            Err(e) => {
                tracing::warn!(error = %e.with_sources(), "the churn champion is not calibrated")
            }
        }
    }

    // Refit on the latest windows: the logistic model always (champion or
    // explainer), the forest when it is champion.
    let latest = latest_windows(v, t, report.validation_scheme);
    let (xr, yr, _) = pooled(&latest, &names)?;
    let logistic = timed(&report.target, "logistic refit", yr.len(), || {
        LogisticChurnModel::fit(&xr, &yr, &logistic_params)
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
            let champion = if other == "pareto_nbd" {
                ChurnChampion::ParetoNbd
            } else if other == "forest" {
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
    if !matches!(champion, ChurnChampion::Bgnbd | ChurnChampion::ParetoNbd) {
        report.refit_as_of = refit_cutoffs(&latest);
    }
    Ok((report, champion, explainer))
}

/// The revenue level of the BTYD prediction on windows whose outcome is
/// known: actual over predicted revenue, summed over their buyers (the
/// error names the windows). The
/// `btyd_level` candidate multiplies BTYD by the level of the training
/// windows, and its champion by that of the latest windows.
fn btyd_level(windows: &[Fitted<'_>]) -> std::result::Result<f64, fidelis_models::ModelError> {
    let (mut actual, mut predicted) = (0.0, 0.0);
    for f in windows {
        actual += f.pop.revenue.iter().sum::<f64>();
        predicted += btyd_of(f, BtydPrediction::expected_revenue)
            .map_err(|e| fidelis_models::ModelError::InvalidInput {
                field: "btyd".into(),
                rule: e.to_string(),
            })?
            .iter()
            .sum::<f64>();
    }
    let level = actual / predicted;
    if level.is_finite() && level > 0.0 {
        Ok(level)
    } else {
        Err(fidelis_models::ModelError::InvalidInput {
            field: "revenue".into(),
            rule: format!(
                "no usable revenue level: actual {actual} over BTYD's {predicted} on the windows as of {}",
                windows
                    .iter()
                    .map(|f| f.w.as_of.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

/// Backtest one revenue target; the champion has the lowest decile WAPE on
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
    let Some((v, half)) = fit_validation(&mut report, valid, h) else {
        return Ok((report, RevenueChampion::Btyd));
    };
    let y = &v.pop.revenue;
    let bt = btyd_of(&v, BtydPrediction::expected_revenue)?;
    report
        .candidates
        .push(candidate("btyd", "btyd", true, revenue_metrics(y, &bt)));
    // Pareto/NBD's expected order days at Gamma-Gamma's value.
    let value = btyd_of(&v, |p| p.expected_value)?;
    let pareto = pareto_fit(&v, &report.target, &params.pareto_fits);
    report.candidates.push(candidate(
        "pareto_nbd",
        "btyd",
        true,
        pareto_of(&v, &pareto, |m, c| m.expected_transactions(c, h)).and_then(|orders| {
            let p: Vec<f64> = orders.iter().zip(&value).map(|(o, v)| o * v).collect();
            revenue_metrics(y, &p)
        }),
    ));
    let Some((t, names)) = fit_training(&mut report, train, half, h) else {
        report.champion = pick_revenue(&report.candidates).unwrap_or_else(|| "btyd".into());
        let champion = if report.champion == "pareto_nbd" {
            RevenueChampion::ParetoNbd
        } else {
            RevenueChampion::Btyd
        };
        return Ok((report, champion));
    };
    // BTYD at the revenue level of the training windows: out of time, each
    // window's BTYD fit predicted that window's horizon.
    report.candidates.push(candidate(
        "btyd_level",
        "btyd",
        true,
        btyd_level(&t).and_then(|level| {
            let p: Vec<f64> = bt.iter().map(|b| b * level).collect();
            revenue_metrics(y, &p)
        }),
    ));
    let (xt, _, yt) = pooled(&t, &names)?;
    let xv = design_matrix(v.w.features, &v.pop.rows, &names, &v.btyd)?;
    let glm_p = timed(&report.target, "glm", yt.len(), || {
        RevenueModel::fit(&xt, &yt, &params.revenue)
    })
    .and_then(|m| m.predict(&xv));
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
    report.champion = pick_revenue(&report.candidates).unwrap_or_else(|| "btyd".into());
    let latest = latest_windows(v, t, report.validation_scheme);
    // The refit's matrix only when a feature model is champion.
    let refit = || -> Result<RevenueModel> {
        let (xr, _, yr) = pooled(&latest, &names)?;
        timed(&report.target, "glm refit", yr.len(), || {
            RevenueModel::fit(&xr, &yr, &params.revenue)
        })
        .map_err(|e| Error::quality(format!("refitting the revenue champion: {e}")))
    };
    let champion = match report.champion.as_str() {
        "btyd_level" => RevenueChampion::BtydLevel {
            level: btyd_level(&latest)
                .map_err(|e| Error::quality(format!("the BTYD revenue level: {e}")))?,
        },
        "pareto_nbd" => RevenueChampion::ParetoNbd,
        "glm" => RevenueChampion::Glm { model: refit()? },
        "blend" => RevenueChampion::Blend { model: refit()? },
        _ => RevenueChampion::Btyd,
    };
    if !matches!(champion, RevenueChampion::Btyd | RevenueChampion::ParetoNbd) {
        report.refit_as_of = refit_cutoffs(&latest);
    }
    Ok((report, champion))
}
