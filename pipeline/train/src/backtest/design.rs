//! The design matrix shared by training and scoring: the feature columns a
//! model sees, each through the symmetric log (or, for the BTYD
//! probabilities, the log-odds), then the BTYD outputs.

use fidelis_core::{Error, Result};
use fidelis_models::FeatureMatrix;

use crate::btyd::BtydPrediction;
use crate::table::FeatureTable;

/// The BTYD outputs given to the feature models as inputs.
pub const BTYD_FEATURES: [&str; 5] = [
    "btyd_p_alive",
    "btyd_expected_orders",
    "btyd_p_no_order",
    "btyd_expected_value",
    "btyd_expected_revenue",
];

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
pub(super) fn slog(v: f64) -> f64 {
    v.signum() * v.abs().ln_1p()
}

/// The log-odds of a probability clipped to `[1e-6, 1 - 1e-6]`: the scale on
/// which the BTYD probabilities enter a logistic model linearly.
pub(super) fn logit(p: f64) -> f64 {
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
