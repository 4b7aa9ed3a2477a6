//! Windows and their population: the features at a cutoff with the labels
//! of the horizon after it, the buyers matched to their labels, each window
//! fitted with its BTYD models, and training windows pooled.

use fidelis_core::{Error, Result};
use fidelis_models::FeatureMatrix;

use super::design::design_matrix;
use super::timed;
use crate::btyd::{BtydFit, BtydPrediction};
use crate::table::{FeatureTable, LabelTable};

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

pub(super) fn fallback_reason(history_days: f64, horizon: u32) -> Option<String> {
    let need = 2.0 * f64::from(horizon) + MIN_HISTORY_DAYS;
    (history_days < need).then(|| {
        format!(
            "{history_days:.0} days of order history before the run date; the feature-model backtest for a {horizon}-day horizon needs {need:.0} (2h + {MIN_HISTORY_DAYS:.0}): BTYD models only"
        )
    })
}

/// The windows a champion is refitted on: the validation window and all but
/// the oldest training window (as many as in training, moved forward by h).
pub(super) fn latest_windows<'a>(v: Fitted<'a>, t: Vec<Fitted<'a>>) -> Vec<Fitted<'a>> {
    let keep = t.len() - 1;
    std::iter::once(v).chain(t.into_iter().take(keep)).collect()
}
