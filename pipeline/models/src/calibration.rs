//! Platt scaling of churn probabilities: `p' = sigmoid(slope logit(p) +
//! intercept)`, fitted by maximum likelihood on predictions whose outcome
//! is known and that the model did not see when it was fitted (the train
//! stage gives it out-of-time predictions of its training windows).
//!
//! Platt rather than isotonic regression: two parameters fit well on the
//! few thousand customers of a small retailer's window, the map is strictly
//! monotone (a calibrated score ranks exactly as the raw one: ROC AUC and
//! the champion's ranking are unchanged) and it never produces the ties and
//! steps an isotonic fit does on a small sample.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::features::exact_f64;

const PLATT: &str = "Platt calibration";

/// A fitted Platt map. In JSON the numbers are decimal strings (exact round
/// trip).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    #[serde(with = "exact_f64")]
    pub slope: f64,
    #[serde(with = "exact_f64")]
    pub intercept: f64,
}

/// The log-odds of `p` clipped to `[1e-6, 1 - 1e-6]`.
fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

impl Platt {
    /// The identity map.
    pub const IDENTITY: Platt = Platt {
        slope: 1.0,
        intercept: 0.0,
    };

    /// Fits the map on probabilities `p` and their outcomes `y` (`true` =
    /// churned) by Newton's method on the log loss (unpenalised). Needs both
    /// outcomes and at least two distinct probabilities.
    pub fn fit(p: &[f64], y: &[bool]) -> Result<Self> {
        if p.len() != y.len() || p.is_empty() {
            return Err(ModelError::invalid(
                "calibration inputs",
                format!("{} probabilities for {} outcomes", p.len(), y.len()),
            ));
        }
        if let Some(row) = p.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(ModelError::NonFinite {
                column: "probability to calibrate".into(),
                row,
                value: p[row],
            });
        }
        let n1 = y.iter().filter(|&&c| c).count();
        if n1 == 0 || n1 == y.len() {
            return Err(ModelError::SingleClass {
                n: y.len(),
                class: if n1 == 0 { "retained" } else { "churned" },
            });
        }
        if p.iter().all(|&v| logit(v) == logit(p[0])) {
            return Err(ModelError::fit(
                PLATT,
                "the probabilities to calibrate are all equal (no slope to fit)",
            ));
        }
        let z =
            ndarray::Array2::from_shape_vec((p.len(), 1), p.iter().map(|&v| logit(v)).collect())
                .map_err(|e| ModelError::invalid("calibration inputs", e.to_string()))?;
        let yf: Vec<f64> = y.iter().map(|&c| if c { 1.0 } else { 0.0 }).collect();
        let loss = |eta: f64, y: f64| {
            let mu = 1.0 / (1.0 + (-eta).exp());
            (
                eta.max(0.0) + (-eta.abs()).exp().ln_1p() - y * eta,
                mu - y,
                mu * (1.0 - mu),
            )
        };
        let theta = crate::newton::minimise(
            z.view(),
            &yf,
            vec![0.0, 1.0],
            0.0,
            &loss,
            1e-9 * p.len() as f64,
            100,
        )
        .ok_or_else(|| {
            ModelError::fit(
                PLATT,
                "Newton's method met a Hessian that is not positive definite (predictions that separate the outcomes perfectly?)",
            )
        })?;
        let fitted = Platt {
            slope: theta[1],
            intercept: theta[0],
        };
        if !(fitted.slope.is_finite() && fitted.intercept.is_finite()) {
            return Err(ModelError::fit(PLATT, "non-finite slope or intercept"));
        }
        Ok(fitted)
    }

    /// The calibrated probability of `p`.
    pub fn apply(&self, p: f64) -> f64 {
        1.0 / (1.0 + (-(self.slope * logit(p) + self.intercept)).exp())
    }

    /// [`apply`](Self::apply) to every probability.
    pub fn apply_all(&self, p: &[f64]) -> Vec<f64> {
        p.iter().map(|&v| self.apply(v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{brier, expected_calibration_error, roc_auc};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Outcomes drawn from true probabilities, and an overconfident score of
    /// them: the true log-odds doubled and shifted.
    fn overconfident(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut score, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let eta: f64 = rng.random_range(-3.0..2.0);
            y.push(rng.random::<f64>() < 1.0 / (1.0 + (-eta).exp()));
            score.push(1.0 / (1.0 + (-(2.0 * eta + 0.8)).exp()));
        }
        (score, y)
    }

    #[test]
    fn recovers_a_known_distortion_and_lowers_the_held_out_calibration_error() {
        let (p, y) = overconfident(20_000, 1);
        let platt = Platt::fit(&p, &y).expect("fit");
        // logit p = 2 eta + 0.8, so the truth is slope 1/2, intercept -0.4.
        assert!((platt.slope - 0.5).abs() < 0.03, "{platt:?}");
        assert!((platt.intercept + 0.4).abs() < 0.05, "{platt:?}");
        // On held-out data of the same distortion: the ECE and the Brier
        // score fall, the ranking stays.
        let (q, z) = overconfident(20_000, 2);
        let c = platt.apply_all(&q);
        let (before, after) = (
            expected_calibration_error(&z, &q).expect("ece"),
            expected_calibration_error(&z, &c).expect("ece"),
        );
        assert!(
            before > 0.05 && after < 0.015,
            "ECE {before:.4} -> {after:.4}"
        );
        assert!(brier(&z, &c).expect("b") < brier(&z, &q).expect("b"));
        let (a, b) = (roc_auc(&z, &q).expect("auc"), roc_auc(&z, &c).expect("auc"));
        assert!((a - b).abs() < 1e-12, "{a} {b}");
    }

    #[test]
    fn calibrated_probabilities_map_to_the_identity() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut p, mut y) = (Vec::new(), Vec::new());
        for _ in 0..50_000 {
            let v: f64 = rng.random_range(0.05..0.95);
            p.push(v);
            y.push(rng.random::<f64>() < v);
        }
        let platt = Platt::fit(&p, &y).expect("fit");
        assert!((platt.slope - 1.0).abs() < 0.05, "{platt:?}");
        assert!(platt.intercept.abs() < 0.05, "{platt:?}");
        assert!((Platt::IDENTITY.apply(0.3) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(Platt::fit(&[0.1, 0.2], &[true]).is_err());
        assert!(Platt::fit(&[0.1, 0.2], &[true, true]).is_err());
        assert!(Platt::fit(&[0.1, f64::NAN], &[true, false]).is_err());
        assert!(Platt::fit(&[0.3, 0.3, 0.3], &[true, false, true]).is_err());
        let json = serde_json::to_string(&Platt {
            slope: 0.1 + 0.2,
            intercept: -1.0 / 3.0,
        })
        .expect("json");
        let back: Platt = serde_json::from_str(&json).expect("back");
        assert_eq!(back.slope, 0.1 + 0.2);
        assert_eq!(back.intercept, -1.0 / 3.0);
    }
}
