//! BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way:
//! An Alternative to the Pareto/NBD Model", Marketing Science 24(2)) and the
//! modified MBG/NBD (Batislam, Denizel & Filiztekin 2007, "Empirical
//! validation and comparison of models for customer base analysis", IJRM 24).
//!
//! Model (BG/NBD): while alive a customer buys as a Poisson process with rate
//! `λ ~ Gamma(r, α)` (shape `r`, rate `α`); after each *repeat* purchase she
//! drops out with probability `p ~ Beta(a, b)`. MBG/NBD additionally allows
//! the drop-out right after the first purchase (time 0).
//!
//! Likelihood of `(x, t_x, T)` (FHL 2005, eq. 6), computed in log space:
//!
//! ```text
//! ln L = A1 + A2 + ln( exp(L3) + δ exp(L4) )                (log-sum-exp)
//! A1 = lnΓ(r+x) - lnΓ(r) + r ln α
//! A2 = lnΓ(a+b) + lnΓ(b+x+k) - lnΓ(b) - lnΓ(a+b+x+k)
//! L3 = -(r+x) ln(α+T)
//! L4 = ln a - ln(b+x-1+k) - (r+x) ln(α+t_x)
//! ```
//!
//! with `k = 0, δ = [x > 0]` for BG/NBD and `k = 1, δ = 1` for MBG/NBD. The
//! gradient is analytic (digamma from `statrs`) and the fit is by maximum
//! likelihood on the log-parameters with argmin's L-BFGS (see
//! [`crate::optim`]), weighted by group counts.
//!
//! Predictions (durations in days, converted to the fit's [`TimeUnit`]):
//!
//! * `P(alive | x, t_x, T) = 1 / (1 + δ a/(b+x-1+k) ((α+T)/(α+t_x))^(r+x))`
//!   (FHL eq. 11; Batislam et al. for MBG);
//! * conditional expectation (FHL eq. 10):
//!   `E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x)
//!   2F1(r+x, b+x; a+b+x-1; t/(α+T+t))] P(alive)`
//!   (MBG: `a+b+x` in place of `a+b+x-1`, `b+x+1` in place of `b+x`);
//! * unconditional `E[X(t)]` (FHL eq. 9): the same with `x = 0, T = 0`
//!   (MBG: `b/(a-1) [1 - (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))]`);
//! * `P(no purchase in (T, T+t]) = 1 - PA + PA ((α+T)/(α+T+t))^(r+x)`.
//!
//! The bracket `1 - (1-z)^A 2F1(A, B; C; z)` is evaluated after Euler's
//! transformation, `(1-z)^A 2F1(A,B;C;z) = (1-z)^(a-1) 2F1(C-A, a-1; C; z)`
//! (`C - B = a - 1` in both models), whose parameters stay small for large
//! `x` (no `(1-z)^-(r+x)` blow-up). The removable singularities at `a = 1`
//! (and at `C = 0`, possible for `x = 0` when `a + b = 1`) are handled by
//! linear interpolation in `a` through `a ± 1e-4` (error `O(1e-8)` relative).

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use crate::TransactionModel;
use crate::error::{ModelError, Result, check_positive};
use crate::hyp2f1::hyp2f1;
use crate::numeric::{log_add_exp, logistic_neg};
use crate::optim::{FitDiagnostics, FitOptions, LogLik, maximize};
use crate::summary::{Customer, GroupedSummary, TimeUnit, UnitRow, validate_rft};

/// Half-width of the interpolation used at the removable singularities.
const SING_H: f64 = 1e-4;

/// A fitted BG/NBD model: the parameters a fit estimated, with their time
/// unit. (In linfa's naming, which this crate follows, `*Params` are the
/// hyperparameters set before a fit; the fitted values are the model.)
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the Gamma purchase-rate distribution.
    pub r: f64,
    /// Rate (scale of time) of the Gamma purchase-rate distribution, in the
    /// fit's `unit`.
    pub alpha: f64,
    /// Beta drop-out parameter `a`.
    pub a: f64,
    /// Beta drop-out parameter `b`.
    pub b: f64,
    /// Time unit of `alpha` (and of the fit).
    pub unit: TimeUnit,
}

/// Fitted MBG/NBD parameters (same fields as [`BgNbd`], different
/// model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MbgNbd {
    /// Shape of the Gamma purchase-rate distribution.
    pub r: f64,
    /// Rate of the Gamma purchase-rate distribution, in `unit`.
    pub alpha: f64,
    /// Beta drop-out parameter `a`.
    pub a: f64,
    /// Beta drop-out parameter `b`.
    pub b: f64,
    /// Time unit of `alpha`.
    pub unit: TimeUnit,
}

/// A BG/NBD fit: parameters plus diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgNbdFit {
    /// Parameters (with unit).
    pub params: BgNbd,
    /// Fit diagnostics.
    pub diagnostics: FitDiagnostics,
}

/// An MBG/NBD fit: parameters plus diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MbgNbdFit {
    /// Parameters (with unit).
    pub params: MbgNbd,
    /// Fit diagnostics.
    pub diagnostics: FitDiagnostics,
}

/// Rows per parallel chunk of the likelihood.
const ROWS_PER_CHUNK: usize = 16_384;

/// The `x`-only terms of a row (see [`Core::x_terms`]).
#[derive(Debug, Clone, Copy)]
struct XTerms {
    x: f64,
    /// `ln Γ(r+x) - ln Γ(r) + r ln α + ln Γ(a+b) + ln Γ(b+x+k) - ln Γ(b) - ln Γ(a+b+x+k)`.
    a12: f64,
    with4: bool,
    bx: f64,
    l4_const: f64,
    d_r0: f64,
    d_a0: f64,
    d_b0: f64,
}

/// `ln(α + t)` and `1/(α + t)` of one distinct time `t`.
#[derive(Debug, Clone, Copy)]
struct AlphaPlus {
    ln: f64,
    inv: f64,
}

/// Rows with each `t_x` and `T` also given as an index into the sorted
/// distinct times. Real order data is at day resolution, so the times take
/// at most a few thousand values while the rows number hundreds of
/// thousands: a likelihood evaluation computes `ln(α + t)` once per
/// distinct time instead of twice per row.
#[derive(Debug, Clone)]
struct TimedRows {
    rows: Vec<UnitRow>,
    times: Vec<f64>,
    /// `[index of t_x, index of T]` per row.
    idx: Vec<[u32; 2]>,
}

impl TimedRows {
    fn new(rows: Vec<UnitRow>) -> Self {
        use rayon::prelude::*;
        let mut times: Vec<f64> = rows.iter().flat_map(|r| [r.t_x, r.t]).collect();
        times.par_sort_unstable_by(f64::total_cmp);
        times.dedup();
        let pos = |v: f64| times.partition_point(|&u| u < v) as u32;
        let idx = rows.par_iter().map(|r| [pos(r.t_x), pos(r.t)]).collect();
        TimedRows { rows, times, idx }
    }
}

/// The internal common representation; `k = 0` BG/NBD, `k = 1` MBG/NBD.
#[derive(Debug, Clone, Copy)]
struct Core {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
    k: f64,
    unit: TimeUnit,
}

impl Core {
    fn model(&self) -> &'static str {
        if self.k == 0.0 { "BG/NBD" } else { "MBG/NBD" }
    }

    fn validate(&self) -> Result<()> {
        check_positive("r", self.r)?;
        check_positive("alpha", self.alpha)?;
        check_positive("a", self.a)?;
        check_positive("b", self.b)?;
        self.unit.validate()
    }

    /// Whether the drop-out term L4 is present for this `x`.
    fn has_l4(&self, x: f64) -> bool {
        self.k == 1.0 || x > 0.0
    }

    /// The parts of a row's log-likelihood and gradient that depend on `x`
    /// only: every `ln Γ` and `ψ`. Rows come sorted by `x` (few distinct
    /// values), so a fit computes them once per distinct `x` and evaluation
    /// instead of once per row: the special functions were most of the time.
    fn x_terms(&self, x: f64) -> XTerms {
        let Core {
            r, alpha, a, b, k, ..
        } = *self;
        let with4 = self.has_l4(x);
        let bx = b + x - 1.0 + k;
        let psi_ab = digamma(a + b);
        let psi_abx = digamma(a + b + x + k);
        XTerms {
            x,
            a12: ln_gamma(r + x) - ln_gamma(r)
                + r * alpha.ln()
                + ln_gamma(a + b)
                + ln_gamma(b + x + k)
                - ln_gamma(b)
                - ln_gamma(a + b + x + k),
            with4,
            bx,
            l4_const: if with4 { a.ln() - bx.ln() } else { 0.0 },
            d_r0: digamma(r + x) - digamma(r) + alpha.ln(),
            d_a0: psi_ab - psi_abx,
            d_b0: psi_ab + digamma(b + x + k) - digamma(b) - psi_abx,
        }
    }

    /// Log-likelihood of one row (model units) and, optionally, its gradient
    /// w.r.t. `(ln r, ln α, ln a, ln b)`, with the `x` terms computed and
    /// `ln(α + T)`, `1/(α + T)`, `ln(α + t_x)`, `1/(α + t_x)` looked up.
    fn row_ll_x(
        &self,
        xt: &XTerms,
        at_x: AlphaPlus,
        at: AlphaPlus,
        grad: Option<&mut [f64; 4]>,
    ) -> f64 {
        let Core { r, alpha, a, b, .. } = *self;
        let x = xt.x;
        let l3 = -(r + x) * at.ln;
        let (lse, w3, w4) = if xt.with4 {
            let l4 = xt.l4_const - (r + x) * at_x.ln;
            log_add_exp(l3, l4)
        } else {
            (l3, 1.0, 0.0)
        };
        if let Some(g) = grad {
            let d_r = xt.d_r0 - w3 * at.ln - w4 * at_x.ln;
            let d_alpha = r / alpha - (r + x) * (w3 * at.inv + w4 * at_x.inv);
            let d_a = xt.d_a0 + w4 / a;
            // Without L4 (BG/NBD, x = 0) b + x - 1 can be 0: skip the 0/0.
            let w4_bx = if xt.with4 { w4 / xt.bx } else { 0.0 };
            let d_b = xt.d_b0 - w4_bx;
            g[0] = d_r * r;
            g[1] = d_alpha * alpha;
            g[2] = d_a * a;
            g[3] = d_b * b;
        }
        xt.a12 + lse
    }

    /// Weighted log-likelihood (and gradient) of `rows`, in fixed chunks on
    /// every core, summed in chunk order: the result does not depend on the
    /// number of threads.
    fn sum_rows(&self, rows: &TimedRows, with_grad: bool) -> (f64, [f64; 4]) {
        use rayon::prelude::*;
        // ln(α + t) and 1/(α + t) once per distinct time, not per row.
        let table: Vec<AlphaPlus> = rows
            .times
            .iter()
            .map(|&t| AlphaPlus {
                ln: (self.alpha + t).ln(),
                inv: 1.0 / (self.alpha + t),
            })
            .collect();
        let parts: Vec<(f64, [f64; 4])> = rows
            .rows
            .par_chunks(ROWS_PER_CHUNK)
            .zip(rows.idx.par_chunks(ROWS_PER_CHUNK))
            .map(|(chunk, idx)| {
                let mut cache: Option<XTerms> = None;
                let (mut total, mut grad, mut g) = (0.0, [0.0; 4], [0.0; 4]);
                for (u, &[i_tx, i_t]) in chunk.iter().zip(idx) {
                    let xt = match cache {
                        Some(c) if c.x == u.x => c,
                        _ => *cache.insert(self.x_terms(u.x)),
                    };
                    let (at_x, at) = (table[i_tx as usize], table[i_t as usize]);
                    if with_grad {
                        total += u.w * self.row_ll_x(&xt, at_x, at, Some(&mut g));
                        for i in 0..4 {
                            grad[i] += u.w * g[i];
                        }
                    } else {
                        total += u.w * self.row_ll_x(&xt, at_x, at, None);
                    }
                }
                (total, grad)
            })
            .collect();
        parts
            .into_iter()
            .fold((0.0, [0.0; 4]), |(t, mut g), (pt, pg)| {
                for i in 0..4 {
                    g[i] += pg[i];
                }
                (t + pt, g)
            })
    }

    fn log_likelihood_rows(&self, rows: &TimedRows) -> f64 {
        self.sum_rows(rows, false).0
    }

    /// `ln` of the odds term: `ln a - ln(b+x-1+k) + (r+x) ln((α+T)/(α+t_x))`.
    fn log_odds_dead(&self, x: f64, t_x: f64, t: f64) -> f64 {
        self.a.ln() - (self.b + x - 1.0 + self.k).ln()
            + (self.r + x) * ((self.alpha + t) / (self.alpha + t_x)).ln()
    }

    fn p_alive_units(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if !self.has_l4(x) {
            return 1.0;
        }
        logistic_neg(self.log_odds_dead(x, t_x, t))
    }

    /// `(C/(a-1)) [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x+k; C; z)]` with
    /// `C = a+b+x-1+k`, for `t > 0` (model units).
    fn bracket(&self, x: f64, t: f64, h: f64) -> Result<f64> {
        let eval = |a: f64| -> Result<f64> {
            let Core { r, alpha, b, k, .. } = *self;
            let c = a + b + x - 1.0 + k;
            let denom = alpha + t + h;
            let z = h / denom;
            let omz = (alpha + t) / denom;
            // (1-z)^(r+x) 2F1(r+x, b+x+k; c; z) = (1-z)^(a-1) 2F1(c-r-x, a-1; c; z)
            let f = hyp2f1(c - r - x, a - 1.0, c, z)?;
            let lomz = omz.ln();
            // 1 - (1-z)^(a-1) F = -expm1((a-1) ln(1-z)) - (1-z)^(a-1) (F - 1)
            let one_minus = -((a - 1.0) * lomz).exp_m1() - ((a - 1.0) * lomz).exp() * (f - 1.0);
            Ok(c / (a - 1.0) * one_minus)
        };
        let a = self.a;
        let c = a + self.b + x - 1.0 + self.k;
        let near_one = (a - 1.0).abs() < SING_H;
        let near_c0 = c.abs() < SING_H;
        if near_one || near_c0 {
            // Linear interpolation through a ± 2h (avoiding the singular point).
            let (lo, hi) = if near_one {
                (1.0 - 2.0 * SING_H, 1.0 + 2.0 * SING_H)
            } else {
                let a0 = a - c; // value of a where c = 0
                (a0 - 2.0 * SING_H, a0 + 2.0 * SING_H)
            };
            if lo > 0.0 {
                let flo = eval(lo)?;
                let fhi = eval(hi)?;
                return Ok(flo + (a - lo) / (hi - lo) * (fhi - flo));
            }
        }
        eval(a)
    }

    fn expected_conditional_units(&self, x: f64, t_x: f64, t: f64, h: f64) -> Result<f64> {
        if h == 0.0 {
            return Ok(0.0);
        }
        let br = self.bracket(x, t, h)?;
        Ok(br * self.p_alive_units(x, t_x, t))
    }

    fn expected_unconditional_units(&self, h: f64) -> Result<f64> {
        if h == 0.0 {
            return Ok(0.0);
        }
        // MBG/NBD: b/(a-1)[...] = (a+b)/(a-1)[...] * P(alive | 0, 0, 0) with
        // P(alive|0,0,0) = 1/(1 + a/b) = b/(a+b); BG/NBD: P(alive) = 1.
        self.expected_conditional_units(0.0, 0.0, 0.0, h)
    }

    fn prob_no_purchase_units(&self, x: f64, t_x: f64, t: f64, h: f64) -> f64 {
        let pa = self.p_alive_units(x, t_x, t);
        let lomz = ((self.alpha + t) / (self.alpha + t + h)).ln();
        // 1 - PA + PA (1-z)^(r+x) = 1 - PA (1 - (1-z)^(r+x)), and
        // 1 - (1-z)^(r+x) = -expm1((r+x) ln(1-z)) lies in [0, 1].
        let q = -((self.r + x) * lomz).exp_m1();
        1.0 - pa * q
    }
}

/// Validates a customer and a horizon and converts them to model units.
fn to_units(
    unit: TimeUnit,
    c: &Customer,
    horizon_days: Option<f64>,
) -> Result<(f64, f64, f64, f64)> {
    validate_rft(c.x, c.t_x, c.t, "")?;
    let h = match horizon_days {
        Some(h) => {
            crate::error::check_non_negative("horizon_days", h)?;
            unit.from_days(h)
        }
        None => 0.0,
    };
    Ok((
        f64::from(c.x),
        unit.from_days(c.t_x),
        unit.from_days(c.t),
        h,
    ))
}

fn finite(model: &'static str, what: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ModelError::Numerical {
            function: model,
            args: what.to_string(),
            detail: format!("non-finite result {v}"),
        })
    }
}

struct BgLik {
    rows: TimedRows,
    k: f64,
    unit: TimeUnit,
    w: f64,
}

impl BgLik {
    fn core(&self, theta: &[f64]) -> Core {
        Core {
            r: theta[0].exp(),
            alpha: theta[1].exp(),
            a: theta[2].exp(),
            b: theta[3].exp(),
            k: self.k,
            unit: self.unit,
        }
    }
}

impl LogLik for BgLik {
    fn ll(&self, theta: &[f64]) -> Result<f64> {
        Ok(self.core(theta).log_likelihood_rows(&self.rows))
    }
    fn ll_grad(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        let (total, grad) = self.core(theta).sum_rows(&self.rows, true);
        Ok((total, grad.to_vec()))
    }
    fn joint_is_cheap(&self) -> bool {
        true
    }
    fn total_weight(&self) -> f64 {
        self.w
    }
    fn sample(&self, max_rows: usize) -> Option<Self> {
        // Rows are sorted by (x, t_x, T), so every k-th row spans them.
        let rows = crate::optim::systematic_sample(&self.rows.rows, max_rows)?;
        Some(BgLik {
            w: rows.iter().map(|r| r.w).sum(),
            rows: TimedRows::new(rows),
            k: self.k,
            unit: self.unit,
        })
    }
}

fn fit_core(
    data: &GroupedSummary,
    unit: TimeUnit,
    opts: &FitOptions,
    k: f64,
) -> Result<(Core, FitDiagnostics)> {
    let model = if k == 0.0 { "BG/NBD" } else { "MBG/NBD" };
    let rows = data.in_unit(unit, model)?;
    if !rows.iter().any(|r| r.x > 0.0) {
        return Err(ModelError::fit(
            model,
            "no repeat customers (every x = 0): the purchase and drop-out processes are not identified",
        ));
    }
    let w = data.total_weight();
    let max_t = rows.iter().fold(0.0_f64, |m, r| m.max(r.t));
    let mean_t = rows.iter().map(|r| r.w * r.t).sum::<f64>() / w;
    let scale = if max_t > 0.0 { max_t } else { 1.0 };
    let mean_scale = if mean_t > 0.0 { mean_t } else { 1.0 };
    let starts = match &opts.initial {
        Some(v) => vec![v.clone()],
        None => vec![
            // lifetimes' start (ones on the time scale max(T)/10).
            vec![1.0, scale / 10.0, 1.0, 1.0],
            vec![0.5, mean_scale, 0.5, 2.0],
            vec![0.2, mean_scale / 5.0, 2.0, 5.0],
        ],
    };
    let lik = BgLik {
        rows: TimedRows::new(rows),
        k,
        unit,
        w,
    };
    let opt = maximize(model, &["r", "alpha", "a", "b"], &lik, &starts, opts)?;
    let core = lik.core(&opt.theta);
    Ok((
        core,
        FitDiagnostics::from_optimum(&opt, w, lik.rows.rows.len()),
    ))
}

impl BgNbd {
    fn core(&self) -> Core {
        Core {
            r: self.r,
            alpha: self.alpha,
            a: self.a,
            b: self.b,
            k: 0.0,
            unit: self.unit,
        }
    }

    /// Fits BG/NBD by maximum likelihood in `unit` (data in days).
    pub fn fit(data: &GroupedSummary, unit: TimeUnit, opts: &FitOptions) -> Result<BgNbdFit> {
        let (c, diagnostics) = fit_core(data, unit, opts, 0.0)?;
        Ok(BgNbdFit {
            params: BgNbd {
                r: c.r,
                alpha: c.alpha,
                a: c.a,
                b: c.b,
                unit,
            },
            diagnostics,
        })
    }

    /// Checks that every parameter is finite and positive.
    pub fn validate(&self) -> Result<()> {
        self.core().validate()
    }

    /// Total weighted log-likelihood of `data` (days) in this fit's unit.
    pub fn log_likelihood(&self, data: &GroupedSummary) -> Result<f64> {
        self.validate()?;
        let c = self.core();
        finite(
            c.model(),
            "log_likelihood",
            c.log_likelihood_rows(&TimedRows::new(data.in_unit(self.unit, c.model())?)),
        )
    }

    /// Probability of no purchase in `(T, T + horizon]`:
    /// `1 - PA + PA ((α+T)/(α+T+t))^(r+x)`.
    pub fn prob_no_purchase(&self, c: &Customer, horizon_days: f64) -> Result<f64> {
        self.validate()?;
        let (x, tx, t, h) = to_units(self.unit, c, Some(horizon_days))?;
        finite(
            "BG/NBD",
            "prob_no_purchase",
            self.core().prob_no_purchase_units(x, tx, t, h),
        )
    }
}

impl TransactionModel for BgNbd {
    fn time_unit(&self) -> TimeUnit {
        self.unit
    }
    fn p_alive(&self, c: &Customer) -> Result<f64> {
        self.validate()?;
        let (x, tx, t, _) = to_units(self.unit, c, None)?;
        finite("BG/NBD", "p_alive", self.core().p_alive_units(x, tx, t))
    }
    fn expected_transactions(&self, c: &Customer, horizon_days: f64) -> Result<f64> {
        self.validate()?;
        let (x, tx, t, h) = to_units(self.unit, c, Some(horizon_days))?;
        finite(
            "BG/NBD",
            "expected_transactions",
            self.core().expected_conditional_units(x, tx, t, h)?,
        )
    }
    fn expected_transactions_unconditional(&self, horizon_days: f64) -> Result<f64> {
        self.validate()?;
        crate::error::check_non_negative("horizon_days", horizon_days)?;
        let h = self.unit.from_days(horizon_days);
        finite(
            "BG/NBD",
            "expected_transactions_unconditional",
            self.core().expected_unconditional_units(h)?,
        )
    }
}

impl MbgNbd {
    fn core(&self) -> Core {
        Core {
            r: self.r,
            alpha: self.alpha,
            a: self.a,
            b: self.b,
            k: 1.0,
            unit: self.unit,
        }
    }

    /// Fits MBG/NBD by maximum likelihood in `unit` (data in days).
    pub fn fit(data: &GroupedSummary, unit: TimeUnit, opts: &FitOptions) -> Result<MbgNbdFit> {
        let (c, diagnostics) = fit_core(data, unit, opts, 1.0)?;
        Ok(MbgNbdFit {
            params: MbgNbd {
                r: c.r,
                alpha: c.alpha,
                a: c.a,
                b: c.b,
                unit,
            },
            diagnostics,
        })
    }

    /// Checks that every parameter is finite and positive.
    pub fn validate(&self) -> Result<()> {
        self.core().validate()
    }

    /// Total weighted log-likelihood of `data` (days) in this fit's unit.
    pub fn log_likelihood(&self, data: &GroupedSummary) -> Result<f64> {
        self.validate()?;
        let c = self.core();
        finite(
            c.model(),
            "log_likelihood",
            c.log_likelihood_rows(&TimedRows::new(data.in_unit(self.unit, c.model())?)),
        )
    }

    /// Probability of no purchase in `(T, T + horizon]`.
    pub fn prob_no_purchase(&self, c: &Customer, horizon_days: f64) -> Result<f64> {
        self.validate()?;
        let (x, tx, t, h) = to_units(self.unit, c, Some(horizon_days))?;
        finite(
            "MBG/NBD",
            "prob_no_purchase",
            self.core().prob_no_purchase_units(x, tx, t, h),
        )
    }
}

impl TransactionModel for MbgNbd {
    fn time_unit(&self) -> TimeUnit {
        self.unit
    }
    fn p_alive(&self, c: &Customer) -> Result<f64> {
        self.validate()?;
        let (x, tx, t, _) = to_units(self.unit, c, None)?;
        finite("MBG/NBD", "p_alive", self.core().p_alive_units(x, tx, t))
    }
    fn expected_transactions(&self, c: &Customer, horizon_days: f64) -> Result<f64> {
        self.validate()?;
        let (x, tx, t, h) = to_units(self.unit, c, Some(horizon_days))?;
        finite(
            "MBG/NBD",
            "expected_transactions",
            self.core().expected_conditional_units(x, tx, t, h)?,
        )
    }
    fn expected_transactions_unconditional(&self, horizon_days: f64) -> Result<f64> {
        self.validate()?;
        crate::error::check_non_negative("horizon_days", horizon_days)?;
        let h = self.unit.from_days(horizon_days);
        finite(
            "MBG/NBD",
            "expected_transactions_unconditional",
            self.core().expected_unconditional_units(h)?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::fd_gradient;

    fn rows() -> Vec<UnitRow> {
        [
            (0.0, 0.0, 30.0, 5.0),
            (0.0, 0.0, 0.0, 1.0),
            (1.0, 3.0, 30.0, 2.0),
            (2.0, 20.0, 25.0, 1.0),
            (7.0, 29.0, 30.0, 3.0),
            (40.0, 10.0, 38.0, 1.0),
        ]
        .into_iter()
        .map(|(x, t_x, t, w)| UnitRow { x, t_x, t, w })
        .collect()
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        for k in [0.0, 1.0] {
            let lik = BgLik {
                rows: TimedRows::new(rows()),
                k,
                unit: TimeUnit::Weeks,
                w: 13.0,
            };
            // Includes r = alpha = a = b = 1 (b + x - 1 = 0 for x = 0).
            for theta in [
                [0.0, 0.0, 0.0, 0.0],
                [-1.4, 1.5, -0.2, 0.9],
                [0.5, -1.0, 1.2, -0.7],
            ] {
                let (_, g) = lik.ll_grad(&theta).expect("ok");
                let fd = fd_gradient(|t| lik.ll(t), &theta).expect("ok");
                for (a, b) in g.iter().zip(&fd) {
                    assert!(
                        (a - b).abs() < 1e-6 * (1.0 + b.abs()),
                        "k={k} {theta:?}: {a} vs {b}"
                    );
                }
            }
        }
    }

    fn params() -> Core {
        Core {
            r: 0.25,
            alpha: 4.0,
            a: 0.8,
            b: 2.4,
            k: 0.0,
            unit: TimeUnit::Weeks,
        }
    }

    #[test]
    fn p_alive_by_hand() {
        let c = params();
        // x = 2, t_x = 20, T = 30: odds = a/(b+x-1) ((α+T)/(α+t_x))^(r+x)
        // = 0.8/3.4 * (34/24)^2.25 = 0.235294 * 2.189585 = 0.515196,
        // P(alive) = 1/1.515196 = 0.659980.
        let want = 1.0 / (1.0 + 0.8 / 3.4 * (34.0_f64 / 24.0).powf(2.25));
        assert!((want - 0.659_98).abs() < 1e-5);
        assert!((c.p_alive_units(2.0, 20.0, 30.0) - want).abs() < 1e-14);
        assert_eq!(c.p_alive_units(0.0, 0.0, 30.0), 1.0);
        // MBG/NBD: x = 0 still has the drop-out term: 1/(1 + a/b) at T = 0,
        // 1/(1 + (a/b) ((α+T)/α)^r) = 1/(1 + (0.8/2.4) 8.5^0.25) at T = 30.
        let m = Core { k: 1.0, ..c };
        assert!((m.p_alive_units(0.0, 0.0, 0.0) - 1.0 / (1.0 + 0.8 / 2.4)).abs() < 1e-14);
        let want = 1.0 / (1.0 + 0.8 / 2.4 * 8.5_f64.powf(0.25));
        assert!((m.p_alive_units(0.0, 0.0, 30.0) - want).abs() < 1e-14);
    }

    #[test]
    fn euler_form_equals_the_published_form() {
        // FHL eq. 10 computed literally with 2F1(r+x, b+x; a+b+x-1; z).
        let c = params();
        for &(x, t_x, t, h) in &[
            (2.0, 20.0, 30.0, 39.0),
            (0.0, 0.0, 30.0, 10.0),
            (5.0, 1.0, 38.0, 52.0),
        ] {
            let (r, alpha, a, b) = (c.r, c.alpha, c.a, c.b);
            let z = h / (alpha + t + h);
            let f = hyp2f1(r + x, b + x, a + b + x - 1.0, z).expect("2F1");
            let bracket = (a + b + x - 1.0) / (a - 1.0)
                * (1.0 - ((alpha + t) / (alpha + t + h)).powf(r + x) * f);
            let want = bracket * c.p_alive_units(x, t_x, t);
            let got = c.expected_conditional_units(x, t_x, t, h).expect("pred");
            assert!(((got - want) / want).abs() < 1e-11, "{got} vs {want}");
        }
        // Unconditional, FHL eq. 9.
        let (r, alpha, a, b) = (c.r, c.alpha, c.a, c.b);
        let h = 32.0;
        let f = hyp2f1(r, b, a + b - 1.0, h / (alpha + h)).expect("2F1");
        let want = (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + h)).powf(r) * f);
        let got = c.expected_unconditional_units(h).expect("pred");
        assert!(((got - want) / want).abs() < 1e-11);
        // MBG/NBD unconditional (lifetimes): b/(a-1) [1 - (α/(α+t))^r 2F1(r, b+1; a+b; z)].
        let m = Core { k: 1.0, ..c };
        let f = hyp2f1(r, b + 1.0, a + b, h / (alpha + h)).expect("2F1");
        let want = b / (a - 1.0) * (1.0 - (alpha / (alpha + h)).powf(r) * f);
        let got = m.expected_unconditional_units(h).expect("pred");
        assert!(((got - want) / want).abs() < 1e-11);
    }

    #[test]
    fn short_horizon_rate_is_posterior_mean_rate() {
        // E[Y(t)] / t -> P(alive) (r+x)/(α+T) as t -> 0.
        for k in [0.0, 1.0] {
            let c = Core { k, ..params() };
            let (x, t_x, t) = (3.0, 12.0, 30.0);
            let h = 1e-6;
            let rate = c.expected_conditional_units(x, t_x, t, h).expect("pred") / h;
            let want = c.p_alive_units(x, t_x, t) * (c.r + x) / (c.alpha + t);
            assert!(((rate - want) / want).abs() < 1e-5, "{rate} vs {want}");
        }
    }
}
