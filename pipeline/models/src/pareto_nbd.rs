//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987, "Counting Your
//! Customers: Who Are They and What Will They Do Next?", Management Science
//! 33), with the likelihood and expressions of Fader & Hardie (2005), "A Note
//! on Deriving the Pareto/NBD Model and Related Expressions".
//!
//! While alive a customer buys as a Poisson process with rate
//! `λ ~ Gamma(r, α)`; her lifetime is exponential with rate
//! `μ ~ Gamma(s, β)`.
//!
//! Likelihood (FH 2005 note, eq. 4-5), computed in log space:
//!
//! ```text
//! L = Γ(r+x) α^r β^s / Γ(r) [ 1 / ((α+T)^(r+x) (β+T)^s) + s/(r+s+x) A0 ]
//! α >= β: A0 = 2F1(r+s+x, s+1; r+s+x+1; (α-β)/(α+t_x)) / (α+t_x)^(r+s+x)
//!            - 2F1(r+s+x, s+1; r+s+x+1; (α-β)/(α+T))   / (α+T)^(r+s+x)
//! α <  β: A0 = 2F1(r+s+x, r+x; r+s+x+1; (β-α)/(β+t_x)) / (β+t_x)^(r+s+x)
//!            - 2F1(r+s+x, r+x; r+s+x+1; (β-α)/(β+T))   / (β+T)^(r+s+x)
//! ```
//!
//! Each `2F1` is evaluated after Euler's transformation,
//! `2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)` with `C - A = 1`,
//! i.e. `(1-z)^(-s) 2F1(1, r+x; r+s+x+1; z)` and
//! `(1-z)^(1-r-x) 2F1(1, s+1; r+s+x+1; z)`, so that no `(1-z)^(1-r-x)`
//! overflow happens inside the series for large `x`; `1 - z` is formed as
//! `(min(α,β) + t)/(max(α,β) + t)` without cancellation. The difference in
//! `A0` is taken in log space (`ln(e^u - e^v) = u + ln(-expm1(v-u))`).
//!
//! The gradient of this likelihood needs derivatives of `2F1` with respect
//! to its parameters, so the fit uses a **central finite-difference
//! gradient** on the log-parameters (step `1e-5`, see
//! [`crate::optim::fd_gradient`]) with argmin's L-BFGS.
//!
//! Predictions: `P(alive) = 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0)`
//! (FH note eq. 18) and
//! `E[Y(t) | x, t_x, T] = (r+x)(β+T) / ((α+T)(s-1)) [1 - ((β+T)/(β+T+t))^(s-1)] P(alive)`
//! (eq. 22), with `[1 - u^(s-1)]/(s-1)` computed as `-expm1((s-1) ln u)/(s-1)`
//! (limit `-ln u` at `s = 1`). The unconditional `E[X(t)]` is the same with
//! `x = 0, T = 0`.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::ln_gamma;

use crate::TransactionModel;
use crate::error::{ModelError, Result, check_non_negative, check_positive};
use crate::hyp2f1::hyp2f1;
use crate::numeric::{log_add_exp, logistic_neg};
use crate::optim::{FitDiagnostics, FitOptions, LogLik, fd_gradient, maximize};
use crate::summary::{Customer, GroupedSummary, TimeUnit, UnitRow, validate_rft};

const MODEL: &str = "Pareto/NBD";

/// Fitted Pareto/NBD parameters with their time unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbd {
    /// Shape of the Gamma purchase-rate distribution.
    pub r: f64,
    /// Rate of the Gamma purchase-rate distribution, in `unit`.
    pub alpha: f64,
    /// Shape of the Gamma drop-out-rate distribution.
    pub s: f64,
    /// Rate of the Gamma drop-out-rate distribution, in `unit`.
    pub beta: f64,
    /// Time unit of `alpha` and `beta`.
    pub unit: TimeUnit,
}

/// A Pareto/NBD fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdFit {
    /// Parameters (with unit).
    pub params: ParetoNbd,
    /// Fit diagnostics.
    pub diagnostics: FitDiagnostics,
}

#[derive(Debug, Clone, Copy)]
struct Core {
    r: f64,
    alpha: f64,
    s: f64,
    beta: f64,
}

impl Core {
    /// `ln( F / (max+t)^(r+s+x) )` for the integral term at time `t`.
    fn log_term(&self, x: f64, t: f64) -> Result<f64> {
        let Core { r, alpha, s, beta } = *self;
        let rsx = r + s + x;
        if alpha >= beta {
            let z = (alpha - beta) / (alpha + t);
            let l_omz = (beta + t).ln() - (alpha + t).ln();
            let f = hyp2f1(1.0, r + x, rsx + 1.0, z)?;
            Ok(-s * l_omz + f.ln() - rsx * (alpha + t).ln())
        } else {
            let z = (beta - alpha) / (beta + t);
            let l_omz = (alpha + t).ln() - (beta + t).ln();
            let f = hyp2f1(1.0, s + 1.0, rsx + 1.0, z)?;
            Ok((1.0 - r - x) * l_omz + f.ln() - rsx * (beta + t).ln())
        }
    }

    /// `(L_first, L_second)`: logs of the two terms inside the bracket
    /// (without the common factor `Γ(r+x) α^r β^s / Γ(r)`).
    fn log_parts(&self, x: f64, t_x: f64, t: f64) -> Result<(f64, f64)> {
        let Core { r, alpha, s, beta } = *self;
        let first = -(r + x) * (alpha + t).ln() - s * (beta + t).ln();
        if t_x >= t {
            return Ok((first, f64::NEG_INFINITY));
        }
        let u = self.log_term(x, t_x)?;
        let v = self.log_term(x, t)?;
        let second = if v >= u {
            // Only possible through rounding when t_x ~ T: A0 ~ 0.
            f64::NEG_INFINITY
        } else {
            s.ln() - (r + s + x).ln() + u + (-(v - u).exp_m1()).ln()
        };
        Ok((first, second))
    }

    fn row_ll(&self, x: f64, t_x: f64, t: f64) -> Result<f64> {
        let Core { r, alpha, s, beta } = *self;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln();
        let (l1, l2) = self.log_parts(x, t_x, t)?;
        let lse = if l2 == f64::NEG_INFINITY {
            l1
        } else {
            log_add_exp(l1, l2).0
        };
        Ok(a1 + lse)
    }

    fn log_likelihood_rows(&self, rows: &[UnitRow]) -> Result<f64> {
        let mut ll = 0.0;
        for u in rows {
            ll += u.w * self.row_ll(u.x, u.t_x, u.t)?;
        }
        Ok(ll)
    }

    fn p_alive_units(&self, x: f64, t_x: f64, t: f64) -> Result<f64> {
        let (l1, l2) = self.log_parts(x, t_x, t)?;
        if l2 == f64::NEG_INFINITY {
            return Ok(1.0);
        }
        Ok(logistic_neg(l2 - l1))
    }

    /// P(no purchase in `(T, T + h]`) given `(x, t_x, T)`: a dead customer
    /// buys nothing; given alive at `T` the posterior of the purchase and
    /// dropout rates is `λ ~ Gamma(r + x, α + T)`, `μ ~ Gamma(s, β + T)`,
    /// independent, and `P(none | λ, μ) = e^{-(λ+μ)h} + ∫_0^h μ e^{-(λ+μ)u} du`
    /// (no purchase before the horizon ends or before dying). Its
    /// expectation is `((α+T)/(α+T+h))^(r+x) ((β+T)/(β+T+h))^s` plus
    /// `(α+T)^(r+x) (β+T)^s ∫_T^{T+h} s (α+τ)^-(r+x) (β+τ)^-(s+1) dτ`: the
    /// two terms of [`Core::log_parts`] at `(x, T, T + h)`.
    fn p_no_purchase_units(&self, x: f64, t_x: f64, t: f64, h: f64) -> Result<f64> {
        if h == 0.0 {
            return Ok(1.0);
        }
        let Core { r, alpha, s, beta } = *self;
        let pa = self.p_alive_units(x, t_x, t)?;
        let c = (r + x) * (alpha + t).ln() + s * (beta + t).ln();
        let (l1, l2) = self.log_parts(x, t, t + h)?;
        let alive = (c + l1).exp()
            + if l2 == f64::NEG_INFINITY {
                0.0
            } else {
                (c + l2).exp()
            };
        Ok((1.0 - pa + pa * alive.clamp(0.0, 1.0)).clamp(0.0, 1.0))
    }

    fn expected_conditional_units(&self, x: f64, t_x: f64, t: f64, h: f64) -> Result<f64> {
        if h == 0.0 {
            return Ok(0.0);
        }
        let Core { r, alpha, s, beta } = *self;
        let lu = -(h / (beta + t)).ln_1p(); // ln((β+T)/(β+T+t)) < 0
        let k = s - 1.0;
        let frac = if k == 0.0 {
            -lu
        } else {
            -(k * lu).exp_m1() / k
        };
        let pa = self.p_alive_units(x, t_x, t)?;
        Ok((r + x) * (beta + t) / (alpha + t) * frac * pa)
    }
}

struct ParetoLik {
    rows: Vec<UnitRow>,
    w: f64,
}

fn core_of(theta: &[f64]) -> Core {
    Core {
        r: theta[0].exp(),
        alpha: theta[1].exp(),
        s: theta[2].exp(),
        beta: theta[3].exp(),
    }
}

impl LogLik for ParetoLik {
    fn ll(&self, theta: &[f64]) -> Result<f64> {
        core_of(theta).log_likelihood_rows(&self.rows)
    }
    fn ll_grad(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        let v = self.ll(theta)?;
        let g = fd_gradient(|t| self.ll(t), theta)?;
        Ok((v, g))
    }
    fn joint_is_cheap(&self) -> bool {
        false
    }
    fn total_weight(&self) -> f64 {
        self.w
    }
}

fn finite(what: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ModelError::Numerical {
            function: MODEL,
            args: what.to_string(),
            detail: format!("non-finite result {v}"),
        })
    }
}

impl ParetoNbd {
    fn core(&self) -> Core {
        Core {
            r: self.r,
            alpha: self.alpha,
            s: self.s,
            beta: self.beta,
        }
    }

    /// Fits Pareto/NBD by maximum likelihood in `unit` (data in days).
    pub fn fit(data: &GroupedSummary, unit: TimeUnit, opts: &FitOptions) -> Result<ParetoNbdFit> {
        let rows = data.in_unit(unit, MODEL)?;
        if !rows.iter().any(|r| r.x > 0.0) {
            return Err(ModelError::fit(
                MODEL,
                "no repeat customers (every x = 0): the model is not identified",
            ));
        }
        let w = data.total_weight();
        let max_t = rows.iter().fold(0.0_f64, |m, r| m.max(r.t));
        let scale = if max_t > 0.0 { max_t } else { 1.0 };
        let starts = match &opts.initial {
            Some(v) => vec![v.clone()],
            None => vec![
                vec![1.0, scale / 10.0, 1.0, scale / 10.0],
                vec![0.5, scale / 4.0, 0.5, scale / 4.0],
                vec![0.2, scale, 2.0, scale],
            ],
        };
        let lik = ParetoLik { rows, w };
        let opt = maximize(MODEL, &["r", "alpha", "s", "beta"], &lik, &starts, opts)?;
        let c = core_of(&opt.theta);
        Ok(ParetoNbdFit {
            params: ParetoNbd {
                r: c.r,
                alpha: c.alpha,
                s: c.s,
                beta: c.beta,
                unit,
            },
            diagnostics: FitDiagnostics::from_optimum(&opt, w, lik.rows.len()),
        })
    }

    /// Checks that every parameter is finite and positive.
    pub fn validate(&self) -> Result<()> {
        check_positive("r", self.r)?;
        check_positive("alpha", self.alpha)?;
        check_positive("s", self.s)?;
        check_positive("beta", self.beta)?;
        self.unit.validate()
    }

    /// Total weighted log-likelihood of `data` (days) in this fit's unit.
    pub fn log_likelihood(&self, data: &GroupedSummary) -> Result<f64> {
        self.validate()?;
        finite(
            "log_likelihood",
            self.core()
                .log_likelihood_rows(&data.in_unit(self.unit, MODEL)?)?,
        )
    }

    /// P(no purchase in `(T, T + horizon_days]`) given the customer's
    /// history: the churn probability of a horizon (checked against
    /// lifetimes 0.11.3 and a direct integral over the posterior, see the
    /// tests).
    pub fn prob_no_purchase(&self, c: &Customer, horizon_days: f64) -> Result<f64> {
        self.validate()?;
        check_non_negative("horizon_days", horizon_days)?;
        let (x, tx, t) = self.units(c)?;
        finite(
            "prob_no_purchase",
            self.core()
                .p_no_purchase_units(x, tx, t, self.unit.from_days(horizon_days))?,
        )
    }

    fn units(&self, c: &Customer) -> Result<(f64, f64, f64)> {
        validate_rft(c.x, c.t_x, c.t, "")?;
        Ok((
            f64::from(c.x),
            self.unit.from_days(c.t_x),
            self.unit.from_days(c.t),
        ))
    }
}

impl TransactionModel for ParetoNbd {
    fn time_unit(&self) -> TimeUnit {
        self.unit
    }
    fn p_alive(&self, c: &Customer) -> Result<f64> {
        self.validate()?;
        let (x, tx, t) = self.units(c)?;
        finite("p_alive", self.core().p_alive_units(x, tx, t)?)
    }
    fn expected_transactions(&self, c: &Customer, horizon_days: f64) -> Result<f64> {
        self.validate()?;
        check_non_negative("horizon_days", horizon_days)?;
        let (x, tx, t) = self.units(c)?;
        let h = self.unit.from_days(horizon_days);
        finite(
            "expected_transactions",
            self.core().expected_conditional_units(x, tx, t, h)?,
        )
    }
    fn expected_transactions_unconditional(&self, horizon_days: f64) -> Result<f64> {
        self.validate()?;
        check_non_negative("horizon_days", horizon_days)?;
        let h = self.unit.from_days(horizon_days);
        finite(
            "expected_transactions_unconditional",
            self.core().expected_conditional_units(0.0, 0.0, 0.0, h)?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `P(no purchase in (T, T + t])` at the published CDNOW parameters
    /// (weeks): lifetimes 0.11.3's `conditional_probability_of_n_purchases_
    /// up_to_time(0, ...)`, which a direct double integral over the
    /// posterior of `(λ, μ)` given alive matched to 10 digits
    /// (`tests/fixtures/pareto_nbd_no_purchase.py`).
    #[test]
    fn no_purchase_probability_matches_lifetimes() {
        let fit = ParetoNbd {
            r: 0.5533,
            alpha: 10.578,
            s: 0.6062,
            beta: 11.669,
            unit: TimeUnit::Weeks,
        };
        // (x, t_x, T, horizon) in weeks, lifetimes' value.
        let cases = [
            (0, 0.0, 38.86, 39.0, 0.9307256676),
            (2, 30.43, 38.86, 39.0, 0.4080833638),
            (1, 2.0, 38.86, 13.0, 0.9500503772),
            (7, 35.0, 38.86, 52.0, 0.1347188925),
            (0, 0.0, 20.0, 4.0, 0.9706347690),
            (15, 37.5, 38.0, 26.0, 0.0440950739),
        ];
        for (x, tx, t, h, want) in cases {
            let c = Customer::new(x, tx * 7.0, t * 7.0, 0.0).expect("customer");
            let got = fit.prob_no_purchase(&c, h * 7.0).expect("p0");
            assert!(
                (got - want).abs() < 1e-8,
                "{x} {tx} {t} {h}: {got} vs {want}"
            );
        }
        // No horizon, no purchase; a longer horizon, never more likely.
        let c = Customer::new(2, 213.0, 272.0, 0.0).expect("customer");
        assert_eq!(fit.prob_no_purchase(&c, 0.0).expect("p0"), 1.0);
        let p = |h: f64| fit.prob_no_purchase(&c, h).expect("p0");
        assert!(
            p(30.0) >= p(90.0)
                && p(90.0) >= p(365.0)
                && p(365.0) > 1.0 - fit.p_alive(&c).expect("pa")
        );
    }

    #[test]
    fn both_a0_branches_agree_near_alpha_equal_beta() {
        // The likelihood is continuous across alpha = beta although the two
        // branches use different 2F1 forms.
        let lo = Core {
            r: 0.55,
            alpha: 10.0 - 1e-9,
            s: 0.6,
            beta: 10.0,
        };
        let hi = Core {
            r: 0.55,
            alpha: 10.0 + 1e-9,
            s: 0.6,
            beta: 10.0,
        };
        for &(x, tx, t) in &[(0.0, 0.0, 30.0), (3.0, 12.0, 30.0), (20.0, 29.0, 30.0)] {
            let a = lo.row_ll(x, tx, t).expect("ok");
            let b = hi.row_ll(x, tx, t).expect("ok");
            assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        }
    }

    #[test]
    fn a0_matches_numerical_integral() {
        // s/(r+s+x) A0 = ∫_{t_x}^{T} s (α+τ)^-(r+x) (β+τ)^-(s+1) dτ; check
        // against Simpson's rule with 20k panels, in both branches.
        for &(alpha, beta) in &[(10.0, 3.0), (2.0, 12.0)] {
            let c = Core {
                r: 0.7,
                alpha,
                s: 0.8,
                beta,
            };
            let (x, tx, t) = (4.0_f64, 5.0_f64, 40.0_f64);
            let f =
                |tau: f64| c.s * (alpha + tau).powf(-(c.r + x)) * (beta + tau).powf(-(c.s + 1.0));
            let n = 20_000;
            let h = (t - tx) / n as f64;
            let mut acc = f(tx) + f(t);
            for i in 1..n {
                let w = if i % 2 == 1 { 4.0 } else { 2.0 };
                acc += w * f(tx + i as f64 * h);
            }
            let integral = acc * h / 3.0;
            let (_, l2) = c.log_parts(x, tx, t).expect("ok");
            assert!(
                ((l2.exp() - integral) / integral).abs() < 1e-9,
                "{} vs {integral}",
                l2.exp()
            );
        }
    }
}
