//! Gamma-Gamma spend model (Colombo & Jiang 1999; Fader, Hardie & Lee 2005,
//! "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", JMR 42,
//! and Fader & Hardie's note "The Gamma-Gamma Model of Monetary Value", 2013).
//!
//! Each transaction value is `Gamma(p, ν)` (shape `p`, rate `ν`) and
//! `ν ~ Gamma(q, γ)` across customers. For a customer with `x` repeat
//! transactions of mean value `m` (the first transaction excluded, see
//! [`crate::summary`]) the likelihood of the mean is
//!
//! ```text
//! ln L = lnΓ(px+q) - lnΓ(px) - lnΓ(q) + q ln γ + (px-1) ln m + px ln x
//!        - (px+q) ln(γ + m x)
//! ```
//!
//! (the same expression as `lifetimes.GammaGammaFitter`). It is fitted by
//! maximum likelihood on `(ln p, ln q, ln γ)` with an analytic gradient, on
//! the repeat customers only (`x > 0`). Repeat customers whose mean value is
//! `0` (possible: orders of amount 0 are transactions) cannot enter a Gamma
//! likelihood; they are left out and counted in
//! [`GammaGammaFit::n_excluded_zero_value`].
//!
//! Conditional expected value per transaction:
//! `E[M | x, m] = (1 - w) p γ / (q - 1) + w m`, `w = p x / (p x + q - 1)`,
//! the population mean `p γ / (q - 1)` when `x = 0`; this needs `q > 1`, so a
//! fit ending at `q <= 1` is an error.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use crate::error::{ModelError, Result, check_non_negative, check_positive};
use crate::optim::{FitDiagnostics, FitOptions, LogLik, maximize};
use crate::summary::Summary;

const MODEL: &str = "Gamma-Gamma";

/// Fitted Gamma-Gamma parameters (monetary; no time unit).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of the per-transaction Gamma.
    pub p: f64,
    /// Shape of the Gamma distribution of the rate `ν`.
    pub q: f64,
    /// Rate of the Gamma distribution of `ν` (the paper's `γ`, lifetimes'
    /// `v`).
    pub gamma: f64,
}

/// A Gamma-Gamma fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    /// Parameters.
    pub params: GammaGamma,
    /// Fit diagnostics (`n_customers` = repeat customers used).
    pub diagnostics: FitDiagnostics,
    /// Repeat customers left out because their mean value was 0.
    pub n_excluded_zero_value: f64,
}

/// One weighted input row: `x > 0` repeat transactions with mean value `m`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpendRow {
    /// Repeat transactions (`> 0`).
    pub x: u32,
    /// Mean value of the repeat transactions (`> 0`).
    pub m: f64,
    /// Weight (number of customers), `> 0`.
    pub weight: f64,
}

/// One fitting row with its constant logs precomputed.
#[derive(Debug, Clone, Copy)]
struct GgRow {
    x: f64,
    m: f64,
    w: f64,
    ln_m: f64,
    ln_x: f64,
}

struct GgLik {
    /// Sorted by `x`, so the `x`-only terms are computed once per distinct
    /// `x` and evaluation.
    rows: Vec<GgRow>,
    w: f64,
}

/// Rows per parallel chunk of the likelihood.
const ROWS_PER_CHUNK: usize = 16_384;

impl GgLik {
    fn new(rows: Vec<(f64, f64, f64)>, w: f64) -> Self {
        let mut rows: Vec<GgRow> = rows
            .into_iter()
            .map(|(x, m, w)| GgRow {
                x,
                m,
                w,
                ln_m: m.ln(),
                ln_x: x.ln(),
            })
            .collect();
        {
            use rayon::prelude::*;
            rows.par_sort_unstable_by(|a, b| a.x.total_cmp(&b.x).then(a.m.total_cmp(&b.m)));
        }
        Self { rows, w }
    }

    /// [`row_ll`] summed over the rows, with the `ln Γ` and `ψ` terms
    /// computed once per distinct `x` (they were most of the time), in
    /// fixed chunks on every core, summed in chunk order.
    fn sum(&self, t: &[f64], with_grad: bool) -> (f64, [f64; 3]) {
        use rayon::prelude::*;
        let (p, q, g) = (t[0].exp(), t[1].exp(), t[2].exp());
        let (ln_g, lg_q, psi_q) = (g.ln(), ln_gamma(q), digamma(q));
        let parts: Vec<(f64, [f64; 3])> = self
            .rows
            .par_chunks(ROWS_PER_CHUNK)
            .map(|chunk| {
                // (x, ln Γ(px+q) - ln Γ(px), ψ(px+q), ψ(px))
                let mut cache: Option<(f64, f64, f64, f64)> = None;
                let (mut total, mut grad) = (0.0, [0.0; 3]);
                for r in chunk {
                    let px = p * r.x;
                    let (_, lg, psi, psi_px) = match cache {
                        Some(c) if c.0 == r.x => c,
                        _ => *cache.insert((
                            r.x,
                            ln_gamma(px + q) - ln_gamma(px),
                            if with_grad { digamma(px + q) } else { 0.0 },
                            if with_grad { digamma(px) } else { 0.0 },
                        )),
                    };
                    let lgm = (g + r.m * r.x).ln();
                    total += r.w
                        * (lg - lg_q + q * ln_g + (px - 1.0) * r.ln_m + px * r.ln_x
                            - (px + q) * lgm);
                    if with_grad {
                        grad[0] += r.w * px * (psi - psi_px + r.ln_m + r.ln_x - lgm);
                        grad[1] += r.w * q * (psi - psi_q + ln_g - lgm);
                        grad[2] += r.w * g * (q / g - (px + q) / (g + r.m * r.x));
                    }
                }
                (total, grad)
            })
            .collect();
        parts
            .into_iter()
            .fold((0.0, [0.0; 3]), |(t, mut gr), (pt, pg)| {
                for i in 0..3 {
                    gr[i] += pg[i];
                }
                (t + pt, gr)
            })
    }
}

impl LogLik for GgLik {
    fn ll(&self, t: &[f64]) -> Result<f64> {
        Ok(self.sum(t, false).0)
    }
    fn ll_grad(&self, t: &[f64]) -> Result<(f64, Vec<f64>)> {
        let (total, grad) = self.sum(t, true);
        Ok((total, grad.to_vec()))
    }
    fn joint_is_cheap(&self) -> bool {
        true
    }
    fn total_weight(&self) -> f64 {
        self.w
    }
    fn sample(&self, max_rows: usize) -> Option<Self> {
        let rows = crate::optim::systematic_sample(&self.rows, max_rows)?;
        Some(GgLik {
            w: rows.iter().map(|r| r.w).sum(),
            rows,
        })
    }
}

impl GammaGamma {
    /// Fits on the repeat customers (`x > 0`) of a summary; one-time buyers
    /// are ignored, repeat customers with `m = 0` are left out and counted.
    ///
    /// # Errors
    /// [`ModelError::Fit`] when there are no repeat customers with a positive
    /// mean value, or when the fit ends at `q <= 1`.
    pub fn fit(summary: &Summary, opts: &FitOptions) -> Result<GammaGammaFit> {
        let rows: Vec<SpendRow> = summary
            .customers()
            .iter()
            .filter(|c| c.x > 0)
            .map(|c| SpendRow {
                x: c.x,
                m: c.m,
                weight: 1.0,
            })
            .collect();
        if rows.is_empty() {
            return Err(ModelError::fit(
                MODEL,
                "no repeat customers (every x = 0): the spend model is fitted on repeat \
                 transactions only",
            ));
        }
        Self::fit_rows(&rows, opts)
    }

    /// Fits on weighted rows (validated: `x > 0`, `m` finite and `>= 0`,
    /// weights finite and `> 0`; rows with `m = 0` are left out and counted).
    pub fn fit_rows(rows: &[SpendRow], opts: &FitOptions) -> Result<GammaGammaFit> {
        let mut used = Vec::with_capacity(rows.len());
        let mut excluded = 0.0;
        for (i, r) in rows.iter().enumerate() {
            if r.x == 0 {
                return Err(ModelError::invalid(
                    format!("x[{i}]"),
                    "Gamma-Gamma rows must be repeat customers (x > 0)",
                ));
            }
            // The messages (with their field names) only for a bad row.
            if !(r.m.is_finite() && r.m >= 0.0 && r.weight.is_finite() && r.weight > 0.0) {
                check_non_negative(&format!("m[{i}]"), r.m)?;
                check_positive(&format!("weight[{i}]"), r.weight)?;
            }
            if r.m == 0.0 {
                excluded += r.weight;
            } else {
                used.push((f64::from(r.x), r.m, r.weight));
            }
        }
        if used.is_empty() {
            return Err(ModelError::fit(
                MODEL,
                "no repeat customers with a positive mean transaction value",
            ));
        }
        let w: f64 = used.iter().map(|r| r.2).sum();
        let mean_m = used.iter().map(|r| r.1 * r.2).sum::<f64>() / w;
        let starts = match &opts.initial {
            Some(v) => vec![v.clone()],
            None => vec![
                // p γ/(q-1) = mean m at the start.
                vec![2.0, 3.0, mean_m],
                vec![1.0, 1.5, mean_m],
                vec![5.0, 5.0, 2.0 * mean_m],
            ],
        };
        let n_rows = used.len();
        let lik = GgLik::new(used, w);
        let opt = maximize(MODEL, &["p", "q", "gamma"], &lik, &starts, opts)?;
        let params = GammaGamma {
            p: opt.theta[0].exp(),
            q: opt.theta[1].exp(),
            gamma: opt.theta[2].exp(),
        };
        if params.q <= 1.0 {
            return Err(ModelError::fit(
                MODEL,
                format!(
                    "q = {} <= 1 at the optimum: the population mean spend p γ / (q - 1) is not finite",
                    params.q
                ),
            ));
        }
        Ok(GammaGammaFit {
            params,
            diagnostics: FitDiagnostics::from_optimum(&opt, w, n_rows),
            n_excluded_zero_value: excluded,
        })
    }

    /// Checks `p, γ > 0` and `q > 1`.
    pub fn validate(&self) -> Result<()> {
        check_positive("p", self.p)?;
        check_positive("gamma", self.gamma)?;
        if !(self.q.is_finite() && self.q > 1.0) {
            return Err(ModelError::invalid(
                "q",
                format!(
                    "must be finite and > 1 for a finite mean spend, got {}",
                    self.q
                ),
            ));
        }
        Ok(())
    }

    /// Population mean spend per transaction, `p γ / (q - 1)`.
    pub fn population_mean(&self) -> Result<f64> {
        self.validate()?;
        Ok(self.p * self.gamma / (self.q - 1.0))
    }

    /// Conditional expected value per transaction,
    /// `(1 - w) p γ/(q-1) + w m` with `w = p x / (p x + q - 1)`; the
    /// population mean when `x = 0` (`m` ignored).
    pub fn conditional_expected_value(&self, x: u32, m: f64) -> Result<f64> {
        self.validate()?;
        check_non_negative("m", m)?;
        let pop = self.p * self.gamma / (self.q - 1.0);
        if x == 0 {
            return Ok(pop);
        }
        let px = self.p * f64::from(x);
        let w = px / (px + self.q - 1.0);
        Ok((1.0 - w) * pop + w * m)
    }

    /// Total log-likelihood of weighted rows (rows with `m = 0` skipped).
    pub fn log_likelihood(&self, rows: &[SpendRow]) -> Result<f64> {
        check_positive("p", self.p)?;
        check_positive("q", self.q)?;
        check_positive("gamma", self.gamma)?;
        let mut used = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            // The messages (with their field names) only for a bad row.
            if !(r.m.is_finite() && r.m >= 0.0 && r.weight.is_finite() && r.weight > 0.0) {
                check_non_negative(&format!("m[{i}]"), r.m)?;
                check_positive(&format!("weight[{i}]"), r.weight)?;
            }
            if r.x > 0 && r.m > 0.0 {
                used.push((f64::from(r.x), r.m, r.weight));
            }
        }
        let w = used.iter().map(|r| r.2).sum();
        let theta = [self.p.ln(), self.q.ln(), self.gamma.ln()];
        Ok(GgLik::new(used, w).sum(&theta, false).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Customer;

    #[test]
    fn all_one_time_buyers_is_a_clear_error() {
        let s = Summary::new(vec![
            Customer::new(0, 0.0, 30.0, 0.0).expect("valid"),
            Customer::new(0, 0.0, 10.0, 0.0).expect("valid"),
        ])
        .expect("valid");
        let err = GammaGamma::fit(&s, &FitOptions::default()).expect_err("must fail");
        assert!(err.to_string().contains("no repeat customers"), "{err}");
    }

    #[test]
    fn zero_values_are_left_out_and_nan_rejected() {
        let rows = [
            SpendRow {
                x: 1,
                m: 0.0,
                weight: 2.0,
            },
            SpendRow {
                x: 2,
                m: 0.0,
                weight: 1.0,
            },
        ];
        assert!(GammaGamma::fit_rows(&rows, &FitOptions::default()).is_err());
        let bad = [SpendRow {
            x: 1,
            m: f64::NAN,
            weight: 1.0,
        }];
        assert!(GammaGamma::fit_rows(&bad, &FitOptions::default()).is_err());
    }

    #[test]
    fn conditional_value_formula() {
        let g = GammaGamma {
            p: 6.0,
            q: 4.0,
            gamma: 15.0,
        };
        // population mean = 6 * 15 / 3 = 30
        assert!((g.population_mean().expect("q>1") - 30.0).abs() < 1e-12);
        assert!((g.conditional_expected_value(0, 99.0).expect("ok") - 30.0).abs() < 1e-12);
        // x = 2: w = 12 / (12 + 3) = 0.8 ; 0.2 * 30 + 0.8 * 50 = 46
        assert!((g.conditional_expected_value(2, 50.0).expect("ok") - 46.0).abs() < 1e-12);
        let bad = GammaGamma {
            p: 6.0,
            q: 1.0,
            gamma: 15.0,
        };
        assert!(bad.conditional_expected_value(2, 50.0).is_err());
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let lik = GgLik::new(
            vec![(1.0, 20.0, 2.0), (3.0, 35.5, 1.0), (7.0, 12.0, 4.0)],
            7.0,
        );
        let theta = [1.2_f64, 0.9, 2.1];
        let (_, g) = lik.ll_grad(&theta).expect("ok");
        let fd = crate::optim::fd_gradient(|t| lik.ll(t), &theta).expect("ok");
        for (a, b) in g.iter().zip(&fd) {
            assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
