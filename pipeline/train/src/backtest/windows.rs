//! Windows and their population: the features at a cutoff with the labels
//! of the horizon after it, the buyers matched to their labels, each window
//! fitted with its BTYD models, and training windows pooled.

use serde::{Deserialize, Serialize};

use fidelis_core::{Error, Result};
use fidelis_models::FeatureMatrix;

use super::design::design_matrix;
use super::timed;
use crate::btyd::{BtydFit, BtydPrediction};
use crate::table::{FeatureTable, LabelTable};

/// Days of order history a backtest cutoff needs behind it. Features over
/// longer windows (orders in the last 180 or 365 days) are computed on the
/// history there is; the tenure features say how much that is.
pub const MIN_HISTORY_DAYS: f64 = 30.0;

/// How a target's candidates are validated, decided by the order history
/// before the run date `D` for a horizon `h` ([`ValidationScheme::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValidationScheme {
    /// `2h + 30` days or more: trained on the windows at `D - 2h, D - 3h,
    /// ...`, validated on the window at `D - h`, out of time.
    #[default]
    OutOfTime,
    /// `h + 30` to `2h + 30` days: one window at `D - h`, its customers
    /// split by a fixed hash of the customer id ([`in_training_half`]) into
    /// a training and a validation half; the champion is refitted on the
    /// whole window.
    CustomerSplit,
    /// Less than `h + 30` days (no window with a known outcome), a window
    /// too small to split or one the BTYD models cannot be fitted on: the
    /// BTYD models only, unvalidated (the report's `fallback` says why).
    BtydOnly,
}

impl ValidationScheme {
    /// The scheme of a horizon of `horizon` days with `history_days` of
    /// order history before the run date.
    pub fn of(history_days: f64, horizon: u32) -> Self {
        let h = f64::from(horizon);
        if history_days >= 2.0 * h + MIN_HISTORY_DAYS {
            Self::OutOfTime
        } else if history_days >= h + MIN_HISTORY_DAYS {
            Self::CustomerSplit
        } else {
            Self::BtydOnly
        }
    }
}

/// Whether a customer falls in the training half when one window is split
/// ([`ValidationScheme::CustomerSplit`]): the first bit of
/// `SHA-256("fidelis-split:" || customer_id)` is 0. Fixed by the id alone,
/// so reruns and every horizon split the same customers, and independent of
/// the backtest sample's md5 rule.
pub fn in_training_half(customer_id: &str) -> bool {
    crate::id_hash("fidelis-split:", customer_id)[0] < 0x80
}

/// One window: the features at a cutoff and the labels of the horizon after it.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub as_of: &'a str,
    pub features: &'a FeatureTable,
    pub labels: &'a LabelTable,
}

/// The buyers of a window matched to their labels.
#[derive(Default)]
pub(super) struct Population {
    pub(super) rows: Vec<usize>,
    pub(super) churned: Vec<bool>,
    pub(super) revenue: Vec<f64>,
}

pub(super) fn population(w: &Window<'_>) -> Result<Population> {
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

/// A window with its BTYD fit and predictions for the horizon.
pub(super) struct Fitted<'a> {
    pub(super) w: Window<'a>,
    pub(super) pop: Population,
    pub(super) btyd: Vec<Option<BtydPrediction>>,
}

pub(super) fn fitted<'a>(w: Window<'a>, horizon: f64) -> Result<Fitted<'a>> {
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
pub(super) fn pooled(
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

/// One key per pooled row (the windows in the order [`pooled`] stacks
/// them): a hash of the customer id, so that cross-validation folds keep
/// every row of a customer together (`SHA-256("fidelis-fold:" || id)`, its
/// first eight bytes).
pub(super) fn fold_keys(windows: &[Fitted<'_>]) -> Vec<u64> {
    windows
        .iter()
        .flat_map(|f| {
            f.pop.rows.iter().map(|&i| {
                let d = crate::id_hash("fidelis-fold:", &f.w.features.ids[i]);
                u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
            })
        })
        .collect()
}

/// Fit the BTYD models of every training window; a window they cannot be
/// fitted on (too few or too uniform buyers, typically the oldest and
/// smallest) is left out and named in `skipped`.
pub(super) fn fit_all<'a>(
    windows: &[Window<'a>],
    horizon: f64,
    skipped: &mut Vec<String>,
) -> Vec<Fitted<'a>> {
    windows
        .iter()
        .filter_map(|w| match fitted(*w, horizon) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(as_of = w.as_of, error = %e, "training window left out");
                skipped.push(format!("{}: {}", w.as_of, e.with_sources()));
                None
            }
        })
        .collect()
}

pub(super) fn btyd_of(f: &Fitted<'_>, pick: impl Fn(&BtydPrediction) -> f64) -> Result<Vec<f64>> {
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

/// A Pareto/NBD prediction (`pick`) of every buyer of a window, with the
/// model fitted at the window's cutoff ([`crate::btyd::fit_pareto`]); an
/// error is a model error, so that a window Pareto/NBD cannot be fitted on
/// leaves its candidate without metrics and names why.
pub(super) fn pareto_of(
    f: &Fitted<'_>,
    model: &std::result::Result<fidelis_models::ParetoNbd, String>,
    pick: impl Fn(&fidelis_models::ParetoNbd, &fidelis_models::Customer) -> fidelis_models::Result<f64>
    + Sync,
) -> fidelis_models::Result<Vec<f64>> {
    let model = model
        .as_ref()
        .map_err(|e| fidelis_models::ModelError::InvalidInput {
            field: "pareto_nbd".into(),
            rule: e.clone(),
        })?;
    use rayon::prelude::*;
    let customers =
        f.w.features
            .customers()
            .map_err(|e| fidelis_models::ModelError::InvalidInput {
                field: "pareto_nbd".into(),
                rule: e.to_string(),
            })?;
    f.pop
        .rows
        .par_iter()
        .map(|&i| {
            let c =
                customers[i]
                    .as_ref()
                    .ok_or_else(|| fidelis_models::ModelError::InvalidInput {
                        field: "pareto_nbd".into(),
                        rule: format!("buyer {} has no BTYD summary", f.w.features.ids[i]),
                    })?;
            pick(model, c)
        })
        .collect()
}

/// Pareto/NBD fits by cutoff, each computed once per training
/// ([`pareto_fit`]); cloning shares the memo.
#[derive(Debug, Clone, Default)]
pub struct ParetoFits(
    std::sync::Arc<
        std::sync::Mutex<
            std::collections::BTreeMap<
                String,
                std::result::Result<fidelis_models::ParetoNbd, String>,
            >,
        >,
    >,
);

/// Pareto/NBD fitted at a window's cutoff, the error as text (it is
/// reported with the candidate); fitted once per cutoff and training.
pub(super) fn pareto_fit(
    f: &Fitted<'_>,
    target: &str,
    fits: &ParetoFits,
) -> std::result::Result<fidelis_models::ParetoNbd, String> {
    let mut memo = fits
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // The cutoff and the table's shape: one feature table per cutoff in a
    // training, and a table given under a cutoff already seen is not
    // mistaken for it.
    let ids = &f.w.features.ids;
    let key = format!(
        "{}|{}|{}|{}",
        f.w.as_of,
        ids.len(),
        ids.first().map_or("", String::as_str),
        ids.last().map_or("", String::as_str)
    );
    memo.entry(key)
        .or_insert_with(|| {
            super::timed(target, "pareto_nbd", f.w.features.len(), || {
                crate::btyd::fit_pareto(f.w.features, f.w.as_of)
            })
            .map_err(|e| e.with_sources())
        })
        .clone()
}

pub(super) fn fallback_reason(history_days: f64, horizon: u32) -> Option<String> {
    let need = f64::from(horizon) + MIN_HISTORY_DAYS;
    (ValidationScheme::of(history_days, horizon) == ValidationScheme::BtydOnly).then(|| {
        format!(
            "{history_days:.0} days of order history before the run date; the feature models of a {horizon}-day horizon need {need:.0} (h + {MIN_HISTORY_DAYS:.0}): BTYD models only"
        )
    })
}

/// One fitted window split into its training and validation halves by
/// [`in_training_half`] (same features and BTYD fit, the buyers divided).
pub(super) fn split_halves(f: Fitted<'_>) -> (Fitted<'_>, Fitted<'_>) {
    let (mut train, mut valid) = (Population::default(), Population::default());
    for (k, &i) in f.pop.rows.iter().enumerate() {
        let half = if in_training_half(&f.w.features.ids[i]) {
            &mut train
        } else {
            &mut valid
        };
        half.rows.push(i);
        half.churned.push(f.pop.churned[k]);
        half.revenue.push(f.pop.revenue[k]);
    }
    (
        Fitted {
            w: f.w,
            pop: train,
            btyd: f.btyd.clone(),
        },
        Fitted {
            w: f.w,
            pop: valid,
            btyd: f.btyd,
        },
    )
}

/// The windows a champion is refitted on: out of time, the validation
/// window and all but the oldest training window (as many as in training,
/// moved forward by h); split, both halves of the one window.
pub(super) fn latest_windows<'a>(
    v: Fitted<'a>,
    t: Vec<Fitted<'a>>,
    scheme: ValidationScheme,
) -> Vec<Fitted<'a>> {
    let keep = match scheme {
        ValidationScheme::CustomerSplit => t.len(),
        _ => t.len() - 1,
    };
    std::iter::once(v).chain(t.into_iter().take(keep)).collect()
}
