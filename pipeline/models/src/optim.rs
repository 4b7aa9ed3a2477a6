//! Maximum-likelihood driver shared by the models: L-BFGS (argmin) on the
//! log-parameters, with a convergence check, a boundary check, fallback
//! starting points and a finite-difference Hessian for standard errors.
//!
//! The objective handed to argmin is the *per-customer mean* negative
//! log-likelihood (total weighted log-likelihood divided by the total weight),
//! so tolerances do not depend on the number of customers. Each log-parameter
//! is evaluated clamped to `[-BOUND, BOUND]` and a quadratic penalty
//! `(|θ| - BOUND)^2` is added outside, so the objective is finite and
//! continuously differentiable everywhere and the line search can never
//! produce `exp(θ) = inf`. A fit whose optimum sits near the bound (a
//! parameter ran to 0 or infinity: the data do not identify it) is an error.

use std::cell::RefCell;

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::Array1;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Log-parameters are clamped to `[-BOUND, BOUND]` (e^30 ≈ 1e13).
pub(crate) const BOUND: f64 = 30.0;
/// A fitted log-parameter beyond `BOUND - BOUNDARY_MARGIN` is "at the
/// boundary".
const BOUNDARY_MARGIN: f64 = 5.0;

/// Options for the maximum-likelihood fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Maximum L-BFGS iterations per starting point.
    pub max_iters: u64,
    /// argmin stops when the L2 norm of the gradient of the mean negative
    /// log-likelihood (w.r.t. the log-parameters) falls below this.
    pub tolerance_grad: f64,
    /// The fit is accepted as converged when the infinity norm of that
    /// gradient is below this at the end (otherwise the next starting point
    /// is tried, then [`ModelError::NotConverged`]).
    pub accept_grad: f64,
    /// Starting values on the natural scale (e.g. `[r, alpha, a, b]` in the
    /// fitting unit); `None` = model default plus fallbacks.
    pub initial: Option<Vec<f64>>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            max_iters: 1000,
            // 1e-8 (about argmin's default, sqrt(machine epsilon)): at 1M
            // customers a tighter 1e-10 cannot be met in floating point and
            // the line search burned 250 evaluations for a log-likelihood
            // gain of 2e-8 (docs/benchmarks.md).
            tolerance_grad: 1e-8,
            accept_grad: 1e-6,
            initial: None,
        }
    }
}

/// A log-likelihood in log-parameters.
pub(crate) trait LogLik {
    /// Total weighted log-likelihood at `exp(theta)`.
    fn ll(&self, theta: &[f64]) -> Result<f64>;
    /// Total weighted log-likelihood and its gradient w.r.t. `theta`.
    fn ll_grad(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)>;
    /// Whether `ll_grad` costs about the same as `ll` (analytic gradients).
    fn joint_is_cheap(&self) -> bool;
    /// Total weight (number of customers).
    fn total_weight(&self) -> f64;
    /// A systematic sample (every k-th row) of at most `max_rows` rows, for
    /// the warm start of [`maximize`]; `None` when there are no more rows
    /// than that, or when the likelihood cannot be sampled.
    fn sample(&self, _max_rows: usize) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// Above this many rows, [`maximize`] first fits a sample of this size (see
/// [`LogLik::sample`]) and starts the full fit from there: it lands near
/// the optimum, so the full fit needs a few iterations instead of tens.
pub(crate) const WARM_START_ROWS: usize = 20_000;

/// Every `ceil(len / max_rows)`-th item, or `None` when `len <= max_rows`.
pub(crate) fn systematic_sample<T: Copy>(rows: &[T], max_rows: usize) -> Option<Vec<T>> {
    if rows.len() <= max_rows {
        return None;
    }
    let step = rows.len().div_ceil(max_rows);
    Some(rows.iter().step_by(step).copied().collect())
}

/// Central finite-difference gradient of `ll` (used by Pareto/NBD). Step
/// `h = 1e-5` on the log-parameters: truncation error `O(h^2) ≈ 1e-10`,
/// round-off `O(ε/h) ≈ 1e-11` relative to the (per-customer) log-likelihood.
pub(crate) fn fd_gradient(ll: impl Fn(&[f64]) -> Result<f64>, theta: &[f64]) -> Result<Vec<f64>> {
    const H: f64 = 1e-5;
    let mut g = vec![0.0; theta.len()];
    let mut tp = theta.to_vec();
    for i in 0..theta.len() {
        tp[i] = theta[i] + H;
        let fp = ll(&tp)?;
        tp[i] = theta[i] - H;
        let fm = ll(&tp)?;
        tp[i] = theta[i];
        g[i] = (fp - fm) / (2.0 * H);
    }
    Ok(g)
}

/// Diagnostics of a maximum-likelihood fit (shared by all models).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitDiagnostics {
    /// Maximised total log-likelihood (depends on the time unit: durations
    /// enter as densities).
    pub log_likelihood: f64,
    /// Number of customers (sum of weights).
    pub n_customers: f64,
    /// Number of distinct rows the likelihood was evaluated on.
    pub n_rows: usize,
    /// L-BFGS iterations.
    pub iterations: u64,
    /// Infinity norm of the gradient of the mean log-likelihood
    /// (log-parameters) at the optimum.
    pub gradient_norm: f64,
    /// Standard errors of the log-parameters (same order as the
    /// parameters), from the observed information; `None` when the Hessian
    /// was not negative definite.
    pub log_param_std_errors: Option<Vec<f64>>,
}

impl FitDiagnostics {
    pub(crate) fn from_optimum(o: &Optimum, n_customers: f64, n_rows: usize) -> Self {
        FitDiagnostics {
            log_likelihood: o.log_likelihood,
            n_customers,
            n_rows,
            iterations: o.iterations,
            gradient_norm: o.gradient_norm,
            log_param_std_errors: o.log_std_errors.clone(),
        }
    }
}

/// Outcome of a successful minimisation.
#[derive(Debug, Clone)]
pub(crate) struct Optimum {
    /// Log-parameters at the optimum.
    pub theta: Vec<f64>,
    /// Total weighted log-likelihood there.
    pub log_likelihood: f64,
    /// L-BFGS iterations (of the successful start).
    pub iterations: u64,
    /// Infinity norm of the gradient of the mean log-likelihood.
    pub gradient_norm: f64,
    /// Standard errors of the log-parameters (inverse observed information),
    /// when the Hessian is positive definite.
    pub log_std_errors: Option<Vec<f64>>,
    /// The observed information (minus the Hessian of the total
    /// log-likelihood in the log-parameters), when it could be evaluated.
    pub information: Option<Vec<Vec<f64>>>,
}

fn clamp_theta(theta: &[f64]) -> (Vec<f64>, f64, Vec<f64>) {
    let mut clamped = Vec::with_capacity(theta.len());
    let mut pen = 0.0;
    let mut pen_grad = Vec::with_capacity(theta.len());
    for &t in theta {
        let c = t.clamp(-BOUND, BOUND);
        let excess = t - c;
        pen += excess * excess;
        pen_grad.push(2.0 * excess);
        clamped.push(c);
    }
    (clamped, pen, pen_grad)
}

/// A cached evaluation: (log-parameters, cost, gradient).
type Evaluation = (Vec<f64>, f64, Vec<f64>);

struct Problem<'a, L: LogLik> {
    ll: &'a L,
    inv_w: f64,
    cache: RefCell<Option<Evaluation>>,
}

impl<L: LogLik> Problem<'_, L> {
    fn joint(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        if let Some((t, v, g)) = self.cache.borrow().as_ref()
            && t.as_slice() == theta
        {
            return Ok((*v, g.clone()));
        }
        let (c, pen, pen_grad) = clamp_theta(theta);
        let (ll, g) = self.ll.ll_grad(&c)?;
        let cost = -ll * self.inv_w + pen;
        let grad: Vec<f64> = g
            .iter()
            .zip(&pen_grad)
            .zip(theta.iter().zip(&c))
            .map(|((gi, pg), (t, ci))| {
                // Outside the clamp the likelihood does not move with theta.
                let inside = if t == ci { 1.0 } else { 0.0 };
                -gi * self.inv_w * inside + pg
            })
            .collect();
        if !cost.is_finite() || grad.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Numerical {
                function: "log-likelihood",
                args: format!("log-params {theta:?}"),
                detail: "non-finite value or gradient".into(),
            });
        }
        *self.cache.borrow_mut() = Some((theta.to_vec(), cost, grad.clone()));
        Ok((cost, grad))
    }
}

impl<L: LogLik> CostFunction for Problem<'_, L> {
    type Param = Array1<f64>;
    type Output = f64;
    fn cost(&self, p: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        let theta = p.to_vec();
        if self.ll.joint_is_cheap() {
            return Ok(self.joint(&theta)?.0);
        }
        let (c, pen, _) = clamp_theta(&theta);
        let v = -self.ll.ll(&c)? * self.inv_w + pen;
        if !v.is_finite() {
            return Err(ModelError::Numerical {
                function: "log-likelihood",
                args: format!("log-params {theta:?}"),
                detail: "non-finite value".into(),
            }
            .into());
        }
        Ok(v)
    }
}

impl<L: LogLik> Gradient for Problem<'_, L> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;
    fn gradient(&self, p: &Self::Param) -> std::result::Result<Array1<f64>, argmin::core::Error> {
        Ok(Array1::from(self.joint(&p.to_vec())?.1))
    }
}

fn inf_norm(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// A non-converged log-parameter beyond this (e^12 ≈ 1.6e5) is reported as
/// drifting.
const DRIFT: f64 = 12.0;

/// L-BFGS restarts per starting point.
const MAX_RESTARTS: usize = 5;

/// One L-BFGS run (memory 10, Moré-Thuente line search) from `theta0`;
/// returns the best parameters, the iterations and the termination reason.
fn run_lbfgs<L: LogLik>(
    model: &'static str,
    problem: Problem<'_, L>,
    theta0: &[f64],
    opts: &FitOptions,
) -> Result<(Vec<f64>, u64, String)> {
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(opts.tolerance_grad)
        .map_err(|e| ModelError::fit(model, format!("solver setup: {e}")))?;
    let res = Executor::new(problem, solver)
        .configure(|state| {
            state
                .param(Array1::from(theta0.to_vec()))
                .max_iters(opts.max_iters)
        })
        .run()
        .map_err(|e| ModelError::fit(model, format!("optimiser error: {e}")))?;
    let state = res.state();
    let reason = state
        .get_termination_reason()
        .map(TerminationReason::text)
        .unwrap_or("not terminated")
        .to_string();
    let best = state
        .get_best_param()
        .ok_or_else(|| ModelError::fit(model, "optimiser returned no parameters"))?
        .to_vec();
    Ok((best, state.get_iter(), reason))
}

/// Maximises the log-likelihood from each start in turn (natural-scale
/// starting values) until one converges.
pub(crate) fn maximize<L: LogLik>(
    model: &'static str,
    names: &[&str],
    ll: &L,
    starts: &[Vec<f64>],
    opts: &FitOptions,
) -> Result<Optimum> {
    let w = ll.total_weight();
    if !(w.is_finite() && w > 0.0) {
        return Err(ModelError::fit(model, "total customer weight must be > 0"));
    }
    let mut warm: Vec<Vec<f64>> = Vec::new();
    // The inverse of the sample's information per unit weight: the Newton
    // matrix that polishes the warm start on the full data.
    let mut polish: Option<Vec<Vec<f64>>> = None;
    if opts.initial.is_none()
        && let Some(small) = ll.sample(WARM_START_ROWS)
        && let Ok(o) = maximize(model, names, &small, starts, opts)
    {
        let per_weight = 1.0 / small.total_weight();
        polish = o.information.and_then(|info| {
            invert(
                info.into_iter()
                    .map(|row| row.into_iter().map(|v| v * per_weight).collect())
                    .collect(),
            )
        });
        warm.push(o.theta.iter().map(|t| t.exp()).collect());
    }
    let polish = polish.filter(|_| !warm.is_empty());
    let starts: Vec<Vec<f64>> = warm.into_iter().chain(starts.iter().cloned()).collect();
    let starts = starts.as_slice();
    let problem_for = || Problem {
        ll,
        inv_w: 1.0 / w,
        cache: RefCell::new(None),
    };
    let mut last_err: Option<ModelError> = None;
    for (si, start) in starts.iter().enumerate() {
        if start.len() != names.len() || start.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(ModelError::invalid(
                "initial",
                format!(
                    "{model} needs {} finite positive starting values ({}), got {start:?}",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
        // L-BFGS from this start; when it stops short of the convergence
        // criterion (typically a line-search failure near the optimum, where
        // the quasi-Newton direction is spoiled by rounding), restart it with
        // a fresh memory from the best point, as long as that still improves
        // the objective.
        let mut theta: Vec<f64> = start.iter().map(|v| v.ln()).collect();
        let mut iterations = 0;
        let mut prev_cost = f64::INFINITY;
        let mut outcome: Option<(f64, f64)> = None; // (cost, gradient norm) when converged
        let mut failure: Option<ModelError> = None;
        if si == 0
            && let Some(cov) = &polish
            && let Ok((t, cost, grad, iters)) =
                newton_polish(&problem_for(), theta.clone(), cov, opts)
        {
            iterations += iters;
            theta = t;
            let gnorm = inf_norm(&grad);
            if l2_norm(&grad) <= opts.tolerance_grad && gnorm <= opts.accept_grad {
                outcome = Some((cost, gnorm));
            }
        }
        for _ in 0..if outcome.is_some() { 0 } else { MAX_RESTARTS } {
            let (best, iters, reason) = match run_lbfgs(model, problem_for(), &theta, opts) {
                Ok(v) => v,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            iterations += iters;
            // Check convergence with a fresh evaluation at the best point.
            let (cost, grad) = match problem_for().joint(&best) {
                Ok(v) => v,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            theta = best;
            let gnorm = inf_norm(&grad);
            if gnorm <= opts.accept_grad {
                outcome = Some((cost, gnorm));
                break;
            }
            let at: Vec<String> = names
                .iter()
                .zip(&theta)
                .map(|(n, t)| format!("{n}={:.6e}", t.exp()))
                .collect();
            failure = Some(ModelError::NotConverged {
                model,
                iterations,
                gradient_norm: gnorm,
                detail: format!(
                    "{reason}; stopped at {}{}",
                    at.join(", "),
                    if theta.iter().any(|t| t.abs() > DRIFT) {
                        " (parameters drifting to 0 or infinity: the data may not identify the model)"
                    } else {
                        ""
                    }
                ),
            });
            let improved = cost < prev_cost - 1e-15 * cost.abs();
            if !improved {
                break;
            }
            prev_cost = cost;
        }
        let Some((cost, gnorm)) = outcome else {
            last_err = failure;
            continue;
        };
        // A converged point far above e^DRIFT is a likelihood still rising
        // towards infinity, flat enough to pass the gradient test (the
        // Gamma-Gamma q and γ of data without heterogeneity): the data do
        // not identify that parameter. (Small parameters, e.g. BG/NBD's a
        // when nobody drops out, are a legitimate limit.)
        if let Some((i, t)) = theta
            .iter()
            .enumerate()
            .find(|(_, t)| **t > DRIFT || t.abs() > BOUND - BOUNDARY_MARGIN)
        {
            return Err(ModelError::fit(
                model,
                format!(
                    "parameter {} ran to the boundary ({:e}): the data do not identify it",
                    names.get(i).copied().unwrap_or("?"),
                    t.exp()
                ),
            ));
        }
        let information = observed_information(ll, &theta);
        let log_std_errors = information.clone().and_then(std_errors);
        return Ok(Optimum {
            log_likelihood: -cost * w,
            theta,
            iterations,
            gradient_norm: gnorm,
            log_std_errors,
            information,
        });
    }
    Err(last_err.unwrap_or_else(|| ModelError::fit(model, "no starting point")))
}

/// Newton steps from a warm start with a fixed matrix `cov`: the inverse of
/// the information per unit weight of the warm start's sample fit, which
/// is close to the full data's. Each step costs one evaluation (halved up
/// to three times when it does not lower the cost); it stops at the
/// gradient tolerance, after [`NEWTON_STEPS`] steps, or when no step helps,
/// and returns `(theta, cost, gradient, steps)`. The L-BFGS run that
/// follows when it has not converged starts without curvature memory and
/// took 15 iterations (58 evaluations) at 1M customers; this takes 3 or 4.
fn newton_polish<L: LogLik>(
    problem: &Problem<'_, L>,
    mut theta: Vec<f64>,
    cov: &[Vec<f64>],
    opts: &FitOptions,
) -> Result<(Vec<f64>, f64, Vec<f64>, u64)> {
    let (mut cost, mut grad) = problem.joint(&theta)?;
    let mut steps = 0;
    while steps < NEWTON_STEPS && l2_norm(&grad) > opts.tolerance_grad {
        steps += 1;
        let step: Vec<f64> = cov
            .iter()
            .map(|row| -row.iter().zip(&grad).map(|(c, g)| c * g).sum::<f64>())
            .collect();
        let mut scale = 1.0;
        let mut moved = false;
        for _ in 0..4 {
            let candidate: Vec<f64> = theta
                .iter()
                .zip(&step)
                .map(|(t, d)| t + scale * d)
                .collect();
            match problem.joint(&candidate) {
                Ok((c, g)) if c <= cost => {
                    (theta, cost, grad, moved) = (candidate, c, g, true);
                    break;
                }
                _ => scale *= 0.5,
            }
        }
        if !moved {
            break;
        }
    }
    Ok((theta, cost, grad, steps))
}

/// At most this many Newton steps polish a warm start.
const NEWTON_STEPS: u64 = 10;

fn l2_norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The observed information of the log-parameters: minus the Hessian of
/// the total log-likelihood, by central differences of its gradient (step
/// 1e-4), symmetrised. `None` when evaluation fails.
fn observed_information<L: LogLik>(ll: &L, theta: &[f64]) -> Option<Vec<Vec<f64>>> {
    const H: f64 = 1e-4;
    let n = theta.len();
    let mut hess = vec![vec![0.0; n]; n];
    let mut tp = theta.to_vec();
    for j in 0..n {
        tp[j] = theta[j] + H;
        let gp = ll.ll_grad(&tp).ok()?.1;
        tp[j] = theta[j] - H;
        let gm = ll.ll_grad(&tp).ok()?.1;
        tp[j] = theta[j];
        for i in 0..n {
            hess[i][j] = (gp[i] - gm[i]) / (2.0 * H);
        }
    }
    let mut info = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..n {
            info[i][j] = -0.5 * (hess[i][j] + hess[j][i]);
        }
    }
    Some(info)
}

/// Standard errors of the log-parameters: square roots of the diagonal of
/// the inverse information (Gauss-Jordan). `None` when the information is
/// not positive definite.
fn std_errors(info: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let cov = invert(info)?;
    let mut se = Vec::with_capacity(cov.len());
    for (i, row) in cov.iter().enumerate() {
        let v = row[i];
        if !(v.is_finite() && v > 0.0) {
            return None;
        }
        se.push(v.sqrt());
    }
    Some(se)
}

/// Gauss-Jordan inversion with partial pivoting (small matrices).
pub(crate) fn invert(mut a: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-300 || !a[piv][col].is_finite() {
            return None;
        }
        a.swap(col, piv);
        inv.swap(col, piv);
        let d = a[col][col];
        for j in 0..n {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for i in 0..n {
            if i != col {
                let f = a[i][col];
                if f != 0.0 {
                    for j in 0..n {
                        a[i][j] -= f * a[col][j];
                        inv[i][j] -= f * inv[col][j];
                    }
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ll(θ) = -Σ w (θ_i - i)^2 / 2 scaled, optimum at θ_i = i * 0.1.
    struct Quad;
    impl LogLik for Quad {
        fn ll(&self, t: &[f64]) -> Result<f64> {
            Ok(self.ll_grad(t)?.0)
        }
        fn ll_grad(&self, t: &[f64]) -> Result<(f64, Vec<f64>)> {
            let mut v = 0.0;
            let mut g = vec![];
            for (i, ti) in t.iter().enumerate() {
                let d = ti - 0.1 * i as f64;
                v -= 50.0 * d * d * (i + 1) as f64;
                g.push(-100.0 * d * (i + 1) as f64);
            }
            Ok((v, g))
        }
        fn joint_is_cheap(&self) -> bool {
            true
        }
        fn total_weight(&self) -> f64 {
            100.0
        }
    }

    #[test]
    fn maximize_quadratic_and_standard_errors() {
        let opt = maximize(
            "quad",
            &["p0", "p1", "p2"],
            &Quad,
            &[vec![2.0, 2.0, 2.0]],
            &FitOptions::default(),
        )
        .expect("converges");
        for (i, t) in opt.theta.iter().enumerate() {
            assert!((t - 0.1 * i as f64).abs() < 1e-8, "{t}");
        }
        // Information diag = 100 (i+1) -> se = 1/sqrt(100 (i+1)).
        let se = opt.log_std_errors.expect("positive definite");
        for (i, s) in se.iter().enumerate() {
            assert!((s - 1.0 / (100.0 * (i + 1) as f64).sqrt()).abs() < 1e-6);
        }
        assert!(
            maximize(
                "quad",
                &["p0"],
                &Quad,
                &[vec![-1.0]],
                &FitOptions::default()
            )
            .is_err()
        );
    }

    #[test]
    fn invert_small_matrix() {
        // [[4, 7], [2, 6]]^-1 = [[0.6, -0.7], [-0.2, 0.4]] (det = 10).
        let inv = invert(vec![vec![4.0, 7.0], vec![2.0, 6.0]]).expect("invertible");
        let want = [[0.6, -0.7], [-0.2, 0.4]];
        for i in 0..2 {
            for j in 0..2 {
                assert!((inv[i][j] - want[i][j]).abs() < 1e-14);
            }
        }
        assert!(invert(vec![vec![1.0, 2.0], vec![2.0, 4.0]]).is_none());
    }
}
