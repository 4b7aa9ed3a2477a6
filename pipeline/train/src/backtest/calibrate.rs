//! Calibration of the churn champion: a Platt map fitted on out-of-time
//! predictions of the newest training window, checked on the validation
//! window, and applied to `churn_probability` when it holds up there
//! (docs/models.md, "Calibration").

use serde::{Deserialize, Serialize};

use fidelis_core::{Error, Result};
use fidelis_models::metrics;
use fidelis_models::{FeatureMatrix, ModelError, Platt};

use super::design::design_matrix;
use super::windows::{Fitted, btyd_of, fold_keys, pooled};

/// What the calibration of a churn champion found (`metrics.json`,
/// `churn.calibration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChampionCalibration {
    /// `platt`.
    pub method: String,
    /// The champion calibrated.
    pub champion: String,
    /// The window whose predictions the map was fitted on.
    pub fitted_on: String,
    /// How those predictions were made: `out_of_time` (the champion fitted
    /// on the older training windows predicted the newest), `customer_folds`
    /// (one training window: each half of its customers predicted by a fit
    /// on the other) or `btyd` (BG/NBD's own predictions, out of time by
    /// construction).
    pub predictions: String,
    pub rows: usize,
    pub platt: Platt,
    /// The champion's validation metrics without and with the map.
    pub validation_brier_before: f64,
    pub validation_brier_after: f64,
    pub validation_ece_before: f64,
    pub validation_ece_after: f64,
    /// Whether `churn_probability` uses the map: only when it does not
    /// raise the validation Brier score.
    pub applied: bool,
}

/// A feature model's fit on `(x, y)` scoring `x_new`.
pub(super) type FitPredict<'p> = dyn Fn(&FeatureMatrix, &[bool], &FeatureMatrix) -> std::result::Result<Vec<f64>, ModelError>
    + 'p;

/// How a champion scores a window.
pub(super) enum Scorer<'p> {
    Bgnbd,
    /// Pareto/NBD's P(no order in the horizon of these days), fitted at the
    /// newest training window's cutoff (through the training's memo of
    /// fits): out of time by construction.
    Pareto(f64, &'p super::windows::ParetoFits),
    Model(&'p FitPredict<'p>),
    /// The mean of the model and BG/NBD.
    Blend(&'p FitPredict<'p>),
}

fn model_err(e: ModelError) -> Error {
    Error::internal_with("calibrating the churn champion", e)
}

/// The champion's predictions of the newest training window `t[0]` from
/// models that did not see it, and how they were made.
fn held_out(
    t: &[Fitted<'_>],
    names: &[String],
    fit: &FitPredict<'_>,
) -> Result<(Vec<f64>, &'static str)> {
    let newest = &t[0];
    let x0 = design_matrix(newest.w.features, &newest.pop.rows, names, &newest.btyd)?;
    if t.len() >= 2 {
        let (xo, yo, _) = pooled(&t[1..], names)?;
        return Ok((fit(&xo, &yo, &x0).map_err(model_err)?, "out_of_time"));
    }
    let keys = fold_keys(&t[..1]);
    let mut p = vec![f64::NAN; keys.len()];
    for fold in 0..2u64 {
        let (fit_rows, held): (Vec<usize>, Vec<usize>) =
            (0..keys.len()).partition(|&i| keys[i] % 2 != fold);
        let y: Vec<bool> = fit_rows.iter().map(|&i| newest.pop.churned[i]).collect();
        let q = fit(
            &x0.select_rows(&fit_rows).map_err(model_err)?,
            &y,
            &x0.select_rows(&held).map_err(model_err)?,
        )
        .map_err(model_err)?;
        for (&i, v) in held.iter().zip(q) {
            p[i] = v;
        }
    }
    Ok((p, "customer_folds"))
}

/// Fits the champion's Platt map on held-out predictions of the newest
/// training window and checks it on the validation window, where the
/// champion predicted `valid_p` for the outcomes `valid_y`.
pub(super) fn calibrate(
    champion: &str,
    scorer: Scorer<'_>,
    t: &[Fitted<'_>],
    names: &[String],
    valid_p: &[f64],
    valid_y: &[bool],
) -> Result<ChampionCalibration> {
    let newest = t
        .first()
        .ok_or_else(|| Error::internal("calibration needs a training window"))?;
    let bg = || btyd_of(newest, |p| p.p_no_order);
    let (p, how) = match scorer {
        Scorer::Bgnbd => (bg()?, "btyd"),
        Scorer::Pareto(h, fits) => {
            let fit = super::windows::pareto_fit(newest, "calibration", fits);
            let p = super::windows::pareto_of(newest, &fit, |m, c| m.prob_no_purchase(c, h))
                .map_err(model_err)?;
            (p, "btyd")
        }
        Scorer::Model(fit) => held_out(t, names, fit)?,
        Scorer::Blend(fit) => {
            let (m, how) = held_out(t, names, fit)?;
            let b = bg()?;
            (m.iter().zip(&b).map(|(a, b)| 0.5 * (a + b)).collect(), how)
        }
    };
    let platt = Platt::fit(&p, &newest.pop.churned).map_err(model_err)?;
    let after = platt.apply_all(valid_p);
    let m = |p: &[f64]| -> Result<(f64, f64)> {
        Ok((
            metrics::brier(valid_y, p).map_err(model_err)?,
            metrics::expected_calibration_error(valid_y, p).map_err(model_err)?,
        ))
    };
    let ((brier_before, ece_before), (brier_after, ece_after)) = (m(valid_p)?, m(&after)?);
    Ok(ChampionCalibration {
        method: "platt".into(),
        champion: champion.to_string(),
        fitted_on: newest.w.as_of.to_string(),
        predictions: how.into(),
        rows: p.len(),
        platt,
        validation_brier_before: brier_before,
        validation_brier_after: brier_after,
        validation_ece_before: ece_before,
        validation_ece_after: ece_after,
        applied: brier_after <= brier_before,
    })
}
