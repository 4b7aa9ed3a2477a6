//! Churn models on customer features: P(no purchase in the next window).
//!
//! Two models share the [`Preprocessor`] (median imputation, then
//! standardization with the training statistics):
//!
//! * [`LogisticChurnModel`], the main model: an L2-penalized logistic
//!   regression on the standardized features, fitted by Newton's method on
//!   the objective `linfa-logistic` 0.8 minimises (its own L-BFGS is far too
//!   slow at 200k rows: see [`fit_logit_newton`]; a test checks that both
//!   give the same probabilities). The fitted coefficients and intercept are copied into this
//!   crate's own serializable struct, so scoring in another process needs
//!   neither linfa's types nor its serde support; it computes the sigmoid of
//!   the linear predictor itself (tested equal to linfa's
//!   `predict_probabilities`). It also explains each score
//!   ([`LogisticChurnModel::top_churn_drivers`]).
//! * [`ForestChurnModel`], the challenger: bagged decision trees
//!   (`linfa-trees` 0.8) whose P(churn) is the **vote share** of the trees
//!   for the churn class.
//!
//! # Why unweighted
//!
//! Both models are fitted on the data as it is: no class weights, no over-
//! or under-sampling of either class. Rebalancing moves the intercept (the
//! model then believes churn is as common as retention) and the scores stop
//! being probabilities: the expected number of churners in a segment, the
//! expected lost revenue `P(churn) x CLV` and the calibration tables all need
//! the real rate. Ranking (ROC AUC) is unaffected by rebalancing anyway. The
//! only sampling is the optional *stratified* subsample of large inputs
//! ([`LogisticParams::max_train_rows`]), which keeps the churn rate.
//!
//! # Why the vote share
//!
//! The challenger reports the share of trees voting "churn", a number in
//! `{0, 1/n_trees, ..., 1}`, not the majority label (a 0/1 score cannot rank
//! customers or be compared with the logistic probabilities). The vote share
//! of depth-limited bagged trees is a rough but usable probability; check its
//! calibration ([`crate::metrics::calibration_by_decile`]) before using it
//! as one.
//!
//! # Why our own bagging instead of `linfa-ensemble`
//!
//! `linfa-ensemble` 0.8 exposes the fitted trees, so the vote share could be
//! computed from its `RandomForest`, but the result is **not deterministic
//! for a seed**: `linfa-trees` labels a leaf with its modal class by folding
//! over a `std::collections::HashMap`, whose iteration order is randomized
//! per map, so a leaf holding equal weights of both classes predicts a
//! random class on every fit (measured: 110 vs 90 out of 200 refits of the
//! same tied data). Such leaves are common (duplicate customers with
//! different outcomes, depth-limited leaves). The fix needs sample weights,
//! which `linfa-ensemble`'s bootstrap drops; it also `unwrap()`s each tree's
//! fit and takes a `rand` 0.8 generator (this workspace is on `rand` 0.9).
//! So the bagging is done here with `linfa-trees`' `DecisionTree`:
//!
//! * per tree, a bootstrap sample (with replacement) of
//!   `min(n, max_samples_per_tree)` draws, given to the tree as distinct rows
//!   weighted by their multiplicity (the same tree as duplicated rows, less
//!   work); each tree has its own ChaCha8 generator, seeded in order from the
//!   forest's seed, so the trees are fitted in parallel (rayon) and the
//!   result does not depend on the number of threads;
//! * optionally a random subset of the features per tree
//!   ([`ForestParams::feature_fraction`], sampled without replacement);
//! * exact ties are broken without randomness from the hasher: per tree one
//!   class, chosen by the tree's generator, gets its weights multiplied by
//!   `1 + 2^-11`. The favoured class's weight in a leaf is then `M + M/2048`
//!   for an integer `M` (exact in `f32` up to `M < 8192`) against an integer
//!   for the other class, so the two can only be equal when `M` is a
//!   multiple of 2048; the perturbation changes the split scores by at most
//!   0.05 %, and since the favoured class alternates at random between
//!   trees, tie-breaking adds no systematic bias to the vote share.
//!
//! Cost: linfa-trees scans every row of the tree's sample for every feature
//! at every node, so a tree costs about `nodes x distinct rows x features`
//! hash-map updates: 0.1-0.2 s per depth-8 tree on a few thousand rows in
//! the unoptimised test build, hence the per-tree sample cap
//! ([`ForestParams::max_samples_per_tree`]) and the parallel fit.
//!
//! # Bad input
//!
//! Empty data, labels and rows of different lengths, a single class, missing
//! values that cannot be imputed, columns other than the fitted ones and
//! values that overflow when standardized are all [`ModelError`]s; a
//! probability is never NaN.

use linfa::ParamGuard;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, Predict};
#[cfg(test)]
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::features::{FeatureMatrix, Preprocessor, exact_f64};
use crate::sampling::{self, TrainingSample};

const LOGIT: &str = "churn logistic regression";
const FOREST: &str = "churn bagged trees";

/// A fit whose max |gradient| of the per-row mean objective is above this is
/// reported as not converged.
const LOGIT_MAX_GRADIENT: f64 = 1e-3;

/// Checks lengths, emptiness and that both classes are present; returns the
/// number of churned customers.
fn check_labels(x: &FeatureMatrix, churned: &[bool]) -> Result<usize> {
    if x.nrows() != churned.len() {
        return Err(ModelError::invalid(
            "churned",
            format!(
                "length mismatch: {} feature rows vs {} labels",
                x.nrows(),
                churned.len()
            ),
        ));
    }
    let n = churned.len();
    if n == 0 {
        return Err(ModelError::invalid("inputs", "must not be empty"));
    }
    let n1 = churned.iter().filter(|&&c| c).count();
    if n1 == 0 {
        return Err(ModelError::SingleClass {
            n,
            class: "retained",
        });
    }
    if n1 == n {
        return Err(ModelError::SingleClass {
            n,
            class: "churned",
        });
    }
    Ok(n1)
}

/// Training rows: everything, or a stratified sample when there are more
/// than `max_rows`.
fn training_rows(
    x: &FeatureMatrix,
    churned: &[bool],
    max_rows: usize,
    seed: u64,
) -> Result<(FeatureMatrix, Vec<bool>, TrainingSample)> {
    check_labels(x, churned)?;
    let (xs, ys) = match sampling::stratified(churned, max_rows, seed) {
        None => (x.clone(), churned.to_vec()),
        Some(rows) => (
            x.select_rows(&rows)?,
            rows.iter().map(|&i| churned[i]).collect(),
        ),
    };
    let info = TrainingSample {
        n_input_rows: churned.len(),
        n_train_rows: ys.len(),
        n_positive: ys.iter().filter(|&&c| c).count(),
    };
    Ok((xs, ys, info))
}

/// The logistic function, written as linfa-logistic writes it (so the
/// probabilities agree bit for bit up to the dot product's summation
/// order); never NaN for a finite or infinite argument.
fn sigmoid(eta: f64) -> f64 {
    1.0 / (1.0 + (-eta).exp())
}

fn check_param(ok: bool, field: &str, rule: &str, value: impl std::fmt::Display) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(ModelError::invalid(
            field.to_string(),
            format!("{rule}, got {value}"),
        ))
    }
}

// ---------------------------------------------------------------------------
// Logistic regression
// ---------------------------------------------------------------------------

/// Hyper-parameters of [`LogisticChurnModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticParams {
    /// L2 penalty on the standardized coefficients (never on the intercept),
    /// on linfa's scale: the objective is the *summed* log-loss plus
    /// `alpha / 2 * |w|^2`, so `alpha` is scikit-learn's `1 / C`. Finite,
    /// `>= 0`. Default `1.0` (scikit-learn's default `C = 1`): a light
    /// ridge, negligible against thousands of rows, that keeps collinear
    /// features (e.g. orders in the last 180 and 365 days) identified.
    pub alpha: f64,
    /// Iteration limit, `>= 1`; Newton's method uses at most 100 of them.
    /// Default `1000` (standardized features converge in about eight).
    pub max_iterations: u64,
    /// Convergence tolerance on the L2 norm of the gradient of the per-row
    /// *mean* objective; Newton's method goes a thousand times below it.
    /// Finite, `> 0`. Default `1e-6`.
    pub gradient_tolerance: f64,
    /// Train on a stratified sample of at most this many rows (fixed seed),
    /// `>= 2`. Default `200_000`.
    pub max_train_rows: usize,
    /// Seed of the training sample. Default `42`.
    pub seed: u64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            max_iterations: 1000,
            gradient_tolerance: 1e-6,
            max_train_rows: 200_000,
            seed: 42,
        }
    }
}

impl LogisticParams {
    /// Validates the parameters; the error names the field and the rule.
    pub fn check(&self) -> Result<()> {
        check_param(
            self.alpha.is_finite() && self.alpha >= 0.0,
            "alpha",
            "must be finite and >= 0",
            self.alpha,
        )?;
        check_param(
            self.max_iterations >= 1,
            "max_iterations",
            "must be >= 1",
            self.max_iterations,
        )?;
        check_param(
            self.gradient_tolerance.is_finite() && self.gradient_tolerance > 0.0,
            "gradient_tolerance",
            "must be finite and > 0",
            self.gradient_tolerance,
        )?;
        check_param(
            self.max_train_rows >= 2,
            "max_train_rows",
            "must be >= 2 (one row per class at least)",
            self.max_train_rows,
        )
    }
}

/// A fitted logistic churn model: preprocessor, coefficients per
/// standardized feature and intercept, all for P(churn). Serializable
/// (validated when read back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LogisticChurnModelData")]
pub struct LogisticChurnModel {
    preprocessor: Preprocessor,
    #[serde(with = "exact_f64::vec")]
    coefficients: Vec<f64>,
    #[serde(with = "exact_f64")]
    intercept: f64,
    training: TrainingSample,
    #[serde(with = "exact_f64")]
    max_abs_gradient: f64,
}

/// Unvalidated serialized form of [`LogisticChurnModel`].
#[derive(Deserialize)]
struct LogisticChurnModelData {
    preprocessor: Preprocessor,
    #[serde(with = "exact_f64::vec")]
    coefficients: Vec<f64>,
    #[serde(with = "exact_f64")]
    intercept: f64,
    training: TrainingSample,
    #[serde(with = "exact_f64")]
    max_abs_gradient: f64,
}

impl TryFrom<LogisticChurnModelData> for LogisticChurnModel {
    type Error = ModelError;

    fn try_from(d: LogisticChurnModelData) -> Result<Self> {
        check_coefficients(
            LOGIT,
            d.preprocessor.n_features(),
            &d.coefficients,
            d.intercept,
        )?;
        Ok(Self {
            preprocessor: d.preprocessor,
            coefficients: d.coefficients,
            intercept: d.intercept,
            training: d.training,
            max_abs_gradient: d.max_abs_gradient,
        })
    }
}

pub(crate) fn check_coefficients(
    model: &'static str,
    p: usize,
    coefficients: &[f64],
    intercept: f64,
) -> Result<()> {
    if coefficients.len() != p {
        return Err(ModelError::invalid(
            format!("{model} coefficients"),
            format!("{} coefficients for {p} features", coefficients.len()),
        ));
    }
    if !intercept.is_finite() || coefficients.iter().any(|b| !b.is_finite()) {
        return Err(ModelError::fit(
            model,
            "non-finite coefficient or intercept",
        ));
    }
    Ok(())
}

/// Output of the linfa fit: the tests' reference for [`fit_logit_newton`].
#[cfg(test)]
pub(crate) struct LinfaLogit {
    pub(crate) coefficients: Vec<f64>,
    pub(crate) intercept: f64,
    /// linfa's model (read by the tests that compare predictions).
    #[allow(dead_code)]
    pub(crate) fitted: FittedLogisticRegression<f64, bool>,
}

/// Fits linfa-logistic on standardized features `z` and returns the
/// coefficients oriented for P(churn = true) (the tests' reference).
#[cfg(test)]
pub(crate) fn fit_linfa_logit(
    z: ArrayView2<'_, f64>,
    churned: &[bool],
    params: &LogisticParams,
) -> Result<LinfaLogit> {
    let n = z.nrows() as f64;
    let valid = LogisticRegression::<f64>::default()
        .alpha(params.alpha)
        .max_iterations(params.max_iterations)
        .gradient_tolerance(params.gradient_tolerance * n)
        .check()
        .map_err(|e| ModelError::fit(LOGIT, e.to_string()))?;
    let dataset = DatasetBase::new(z, Array1::from(churned.to_vec()));
    let fitted = valid
        .fit(&dataset)
        .map_err(|e| ModelError::fit(LOGIT, e.to_string()))?;
    // linfa labels the *more frequent* class as its positive class (whose
    // probability `predict_probabilities` returns): flip the signs when
    // that is "retained".
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let coefficients: Vec<f64> = fitted.params().iter().map(|b| sign * b).collect();
    let intercept = sign * fitted.intercept();
    Ok(LinfaLogit {
        coefficients,
        intercept,
        fitted,
    })
}

/// `log(1 + exp(eta))` without overflow.
fn softplus(eta: f64) -> f64 {
    eta.max(0.0) + (-eta.abs()).exp().ln_1p()
}

/// Fits the logistic regression by Newton's method (IRLS) on the objective
/// linfa-logistic minimises, and returns `(coefficients, intercept)` for
/// P(churn = true).
///
/// Why not linfa-logistic's own L-BFGS: each of its gradient evaluations
/// multiplies through ndarray's general matrix product, which packs the
/// whole `n x p` matrix again, and it needs hundreds of evaluations; on
/// 200k rows x 110 features one fit took minutes. Newton's method needs
/// about eight passes (each builds the `p x p` Hessian, in parallel), to a
/// gradient a thousand times below linfa's tolerance. A test checks that
/// both reach the same probabilities.
pub(crate) fn fit_logit_newton(
    z: ArrayView2<'_, f64>,
    churned: &[bool],
    params: &LogisticParams,
) -> Result<(Vec<f64>, f64)> {
    let (n, p) = z.dim();
    let rate = churned.iter().filter(|c| **c).count() as f64 / n.max(1) as f64;
    let mut theta = vec![0.0; p + 1];
    if rate > 0.0 && rate < 1.0 {
        theta[0] = (rate / (1.0 - rate)).ln();
    }
    let y: Vec<f64> = churned.iter().map(|&c| if c { 1.0 } else { 0.0 }).collect();
    let loss = |eta: f64, y: f64| {
        let mu = 1.0 / (1.0 + (-eta).exp());
        (softplus(eta) - y * eta, mu - y, mu * (1.0 - mu))
    };
    let mut theta = crate::newton::minimise(
        z,
        &y,
        theta,
        params.alpha,
        &loss,
        params.gradient_tolerance * 1e-3 * n as f64,
        params.max_iterations.min(100),
    )
    .ok_or_else(|| {
        ModelError::fit(
            LOGIT,
            "the Hessian is not positive definite (perfectly separable data? raise alpha)",
        )
    })?;
    let intercept = theta[0];
    Ok((theta.split_off(1), intercept))
}

/// `intercept + z . coefficients` per row (the dot product first, as linfa).
fn linear_predictor(z: ArrayView2<'_, f64>, coefficients: &[f64], intercept: f64) -> Vec<f64> {
    z.rows()
        .into_iter()
        .map(|row| {
            row.iter()
                .zip(coefficients)
                .map(|(v, b)| v * b)
                .sum::<f64>()
                + intercept
        })
        .collect()
}

impl LogisticChurnModel {
    /// Fits the preprocessor and the logistic regression on `x` and the
    /// churn labels (`true` = churned), unweighted. A fit whose max
    /// |gradient| of the per-row mean log-loss stays above `1e-3` (the
    /// optimiser stopped early) is [`ModelError::NotConverged`].
    pub fn fit(x: &FeatureMatrix, churned: &[bool], params: &LogisticParams) -> Result<Self> {
        params.check()?;
        let (xs, ys, training) = training_rows(x, churned, params.max_train_rows, params.seed)?;
        let preprocessor = Preprocessor::fit(&xs)?;
        let z = preprocessor.transform(&xs)?;
        let (coefficients, intercept) = fit_logit_newton(z.view(), &ys, params)?;
        check_coefficients(LOGIT, preprocessor.n_features(), &coefficients, intercept)?;

        // Gradient of the per-row mean objective at the solution.
        let eta = linear_predictor(z.view(), &coefficients, intercept);
        let n = ys.len() as f64;
        let resid: Vec<f64> = eta
            .iter()
            .zip(&ys)
            .map(|(e, &y)| sigmoid(*e) - if y { 1.0 } else { 0.0 })
            .collect();
        let mut max_abs_gradient = (resid.iter().sum::<f64>() / n).abs();
        for (col, b) in z.columns().into_iter().zip(&coefficients) {
            let g =
                (col.iter().zip(&resid).map(|(v, r)| v * r).sum::<f64>() + params.alpha * b) / n;
            max_abs_gradient = max_abs_gradient.max(g.abs());
        }
        if max_abs_gradient.is_nan() || max_abs_gradient > LOGIT_MAX_GRADIENT {
            return Err(ModelError::NotConverged {
                model: LOGIT,
                iterations: params.max_iterations,
                gradient_norm: max_abs_gradient,
                detail: format!(
                    "Newton's method stopped with max |gradient| of the mean \
                     log-loss {max_abs_gradient:e} > {LOGIT_MAX_GRADIENT:e} (iteration limit \
                     or a stalled step); raise max_iterations or alpha"
                ),
            });
        }
        Ok(Self {
            preprocessor,
            coefficients,
            intercept,
            training,
            max_abs_gradient,
        })
    }

    /// The preprocessor (feature names, medians, means, stds).
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.preprocessor
    }

    /// Feature names, in order.
    pub fn feature_names(&self) -> Vec<String> {
        self.preprocessor.feature_names()
    }

    /// Coefficients per *standardized* feature (log-odds of churn per
    /// training standard deviation).
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    /// Intercept (log-odds of churn of a customer at the training means).
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// What the model was trained on.
    pub fn training(&self) -> TrainingSample {
        self.training
    }

    /// Max |gradient| of the per-row mean objective at the solution.
    pub fn max_abs_gradient(&self) -> f64 {
        self.max_abs_gradient
    }

    /// `(intercept, coefficients)` per raw unit of each feature:
    /// `b_j / std_j` and `intercept - sum_j b_j mean_j / std_j` (exact for
    /// rows without missing values).
    pub fn original_scale(&self) -> (f64, Vec<f64>) {
        original_scale(&self.preprocessor, &self.coefficients, self.intercept)
    }

    /// Linear predictor (log-odds of churn) per row of `x`.
    pub fn linear_predictor(&self, x: &FeatureMatrix) -> Result<Vec<f64>> {
        let z = self.preprocessor.transform(x)?;
        let eta = linear_predictor(z.view(), &self.coefficients, self.intercept);
        if let Some(row) = eta.iter().position(|e| e.is_nan()) {
            return Err(ModelError::NonFinite {
                column: "linear predictor".into(),
                row,
                value: f64::NAN,
            });
        }
        Ok(eta)
    }

    /// P(churn) per row of `x`: the sigmoid of the linear predictor, in
    /// `[0, 1]`, never NaN.
    pub fn predict_proba(&self, x: &FeatureMatrix) -> Result<Vec<f64>> {
        Ok(self.linear_predictor(x)?.into_iter().map(sigmoid).collect())
    }

    /// Per row and feature: `coefficient x standardized value`, the
    /// feature's contribution to the log-odds of churn relative to a
    /// customer at the training means.
    pub fn contributions(&self, x: &FeatureMatrix) -> Result<Array2<f64>> {
        let mut z = self.preprocessor.transform(x)?;
        for (mut col, b) in z.columns_mut().into_iter().zip(&self.coefficients) {
            col.mapv_inplace(|v| v * b);
        }
        Ok(z)
    }

    /// Per row, the names of the (at most) `k` features that push churn up
    /// most: the largest *positive* contributions, largest first (ties in
    /// feature order). A customer with no positive contribution gets an
    /// empty list.
    pub fn top_churn_drivers(&self, x: &FeatureMatrix, k: usize) -> Result<Vec<Vec<String>>> {
        let c = self.contributions(x)?;
        let names = self.preprocessor.columns();
        Ok(c.rows()
            .into_iter()
            .map(|row| {
                let mut pos: Vec<(usize, f64)> = row
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|(_, v)| *v > 0.0)
                    .collect();
                pos.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                pos.into_iter()
                    .take(k)
                    .map(|(j, _)| names[j].name.clone())
                    .collect()
            })
            .collect())
    }

    /// JSON form.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| ModelError::invalid(LOGIT, e.to_string()))
    }

    /// Reads (and validates) the JSON form.
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| ModelError::invalid("churn model JSON", e.to_string()))
    }
}

/// Coefficients per raw unit from coefficients per standardized unit.
pub(crate) fn original_scale(
    pre: &Preprocessor,
    coefficients: &[f64],
    intercept: f64,
) -> (f64, Vec<f64>) {
    let raw: Vec<f64> = pre
        .columns()
        .iter()
        .zip(coefficients)
        .map(|(c, b)| b / c.std)
        .collect();
    let shift: f64 = pre
        .columns()
        .iter()
        .zip(&raw)
        .map(|(c, b)| b * c.mean)
        .sum();
    (intercept - shift, raw)
}

// ---------------------------------------------------------------------------
// Bagged trees
// ---------------------------------------------------------------------------

/// Hyper-parameters of [`ForestChurnModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees, `>= 1`. Default `100`.
    pub n_trees: usize,
    /// Maximum tree depth (`None` = grow until pure), `>= 1` when set.
    /// Default `Some(8)`: deep enough for interactions, shallow enough that
    /// leaves are not single customers.
    pub max_depth: Option<usize>,
    /// Minimum (bootstrap-weighted) number of rows in a leaf, `>= 1`.
    /// Default `10`.
    pub min_samples_leaf: usize,
    /// Share of the features each tree sees (random subset per tree, without
    /// replacement, at least one), in `(0, 1]`. Default `0.7`.
    pub feature_fraction: f64,
    /// Bootstrap draws per tree: `min(rows, max_samples_per_tree)`, `>= 1`.
    /// Default `20_000` (the tree fit costs O(rows x features) per node).
    pub max_samples_per_tree: usize,
    /// Train on a stratified sample of at most this many rows, `>= 2`.
    /// Default `200_000`.
    pub max_train_rows: usize,
    /// Seed of the training sample, the bootstraps, the feature subsets and
    /// the tie-breaking. Default `42`.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_depth: Some(8),
            min_samples_leaf: 10,
            feature_fraction: 0.7,
            max_samples_per_tree: 20_000,
            max_train_rows: 200_000,
            seed: 42,
        }
    }
}

impl ForestParams {
    /// Validates the parameters; the error names the field and the rule.
    pub fn check(&self) -> Result<()> {
        check_param(self.n_trees >= 1, "n_trees", "must be >= 1", self.n_trees)?;
        if let Some(d) = self.max_depth {
            check_param(d >= 1, "max_depth", "must be >= 1 when set", d)?;
        }
        check_param(
            self.min_samples_leaf >= 1,
            "min_samples_leaf",
            "must be >= 1",
            self.min_samples_leaf,
        )?;
        check_param(
            self.feature_fraction > 0.0 && self.feature_fraction <= 1.0,
            "feature_fraction",
            "must be in (0, 1]",
            self.feature_fraction,
        )?;
        check_param(
            self.max_samples_per_tree >= 1,
            "max_samples_per_tree",
            "must be >= 1",
            self.max_samples_per_tree,
        )?;
        check_param(
            self.max_train_rows >= 2,
            "max_train_rows",
            "must be >= 2 (one row per class at least)",
            self.max_train_rows,
        )
    }
}

/// One tree and the feature columns (indices into the preprocessor's) it
/// was fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BaggedTree {
    tree: DecisionTree<f64, bool>,
    features: Vec<usize>,
}

/// Bagged decision trees; P(churn) = share of trees voting churn.
/// Serializable through `linfa-trees`' `serde` feature (the trees' splits
/// and leaf labels), so a later process scores without refitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestChurnModel {
    preprocessor: Preprocessor,
    trees: Vec<BaggedTree>,
    training: TrainingSample,
}

/// Weight multiplier of the favoured class of a tree (exact in `f32`).
const TIE_BREAK: f32 = 1.0 + 1.0 / 2048.0;

impl ForestChurnModel {
    /// Fits the preprocessor and `n_trees` trees (see the [module
    /// docs](self)); deterministic for a given `seed`.
    pub fn fit(x: &FeatureMatrix, churned: &[bool], params: &ForestParams) -> Result<Self> {
        params.check()?;
        let (xs, ys, training) = training_rows(x, churned, params.max_train_rows, params.seed)?;
        let preprocessor = Preprocessor::fit(&xs)?;
        let z = preprocessor.transform(&xs)?;
        let (n, p) = z.dim();
        let draws = n.min(params.max_samples_per_tree);
        let n_feat = ((p as f64 * params.feature_fraction).ceil() as usize).clamp(1, p);
        let tree_params = DecisionTree::<f64, bool>::params()
            .max_depth(params.max_depth)
            .min_weight_leaf(params.min_samples_leaf as f32)
            .check()
            .map_err(|e| ModelError::fit(FOREST, e.to_string()))?;

        // One seed per tree, drawn in order from a generator seeded apart
        // from the training sample's (which used `seed` itself): the trees
        // are then fitted in parallel and the forest does not depend on the
        // number of threads.
        let mut master = ChaCha8Rng::seed_from_u64(params.seed ^ 0x9E37_79B9_7F4A_7C15);
        let tree_seeds: Vec<u64> = (0..params.n_trees).map(|_| master.random()).collect();
        let trees = tree_seeds
            .par_iter()
            .enumerate()
            .map(|(t, &tree_seed)| {
                let mut rng = ChaCha8Rng::seed_from_u64(tree_seed);
                let mut counts = vec![0u32; n];
                for _ in 0..draws {
                    counts[rng.random_range(0..n)] += 1;
                }
                let rows: Vec<usize> = (0..n).filter(|&i| counts[i] > 0).collect();
                let mut features = if n_feat == p {
                    (0..p).collect::<Vec<_>>()
                } else {
                    index::sample(&mut rng, p, n_feat).into_vec()
                };
                features.sort_unstable();
                let favoured: bool = rng.random();

                let records = z.select(Axis(0), &rows).select(Axis(1), &features);
                let targets: Array1<bool> = rows.iter().map(|&i| ys[i]).collect();
                let weights: Array1<f32> = rows
                    .iter()
                    .map(|&i| {
                        let m = counts[i] as f32;
                        if ys[i] == favoured { m * TIE_BREAK } else { m }
                    })
                    .collect();
                let dataset = DatasetBase::new(records, targets).with_weights(weights);
                let tree = tree_params
                    .fit(&dataset)
                    .map_err(|e| ModelError::fit(FOREST, format!("tree {t}: {e}")))?;
                Ok(BaggedTree { tree, features })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            preprocessor,
            trees,
            training,
        })
    }

    /// The preprocessor.
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.preprocessor
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// What the model was trained on.
    pub fn training(&self) -> TrainingSample {
        self.training
    }

    /// Number of trees voting churn, per row of `x`.
    pub fn churn_votes(&self, x: &FeatureMatrix) -> Result<Vec<usize>> {
        let z = self.preprocessor.transform(x)?;
        let mut votes = vec![0usize; z.nrows()];
        if z.nrows() == 0 {
            return Ok(votes);
        }
        // Trees in parallel; the votes are counts, so the sum does not
        // depend on the order.
        let preds: Vec<Array1<bool>> = self
            .trees
            .par_iter()
            .map(|t| t.tree.predict(&z.select(Axis(1), &t.features)))
            .collect();
        for pred in preds {
            for (v, &c) in votes.iter_mut().zip(pred.iter()) {
                *v += usize::from(c);
            }
        }
        Ok(votes)
    }

    /// P(churn) per row of `x`: the share of trees voting churn, in
    /// `[0, 1]`.
    pub fn predict_proba(&self, x: &FeatureMatrix) -> Result<Vec<f64>> {
        let n = self.trees.len() as f64;
        Ok(self
            .churn_votes(x)?
            .into_iter()
            .map(|v| v as f64 / n)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureMatrix;
    use ndarray::array;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Small data with some signal in `a`, missing values in `b`.
    fn small() -> (FeatureMatrix, Vec<bool>) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let v = (i % 20) as f64;
            a.push(v);
            b.push(if i % 7 == 0 { f64::NAN } else { (i % 3) as f64 });
            // churn more likely for large a, not deterministic
            y.push((i * 37 % 20) as f64 + v > 22.0);
        }
        let x = FeatureMatrix::from_columns(vec![("a".into(), a), ("b".into(), b)]).expect("valid");
        (x, y)
    }

    #[test]
    fn our_probabilities_equal_linfas() {
        let (x, y) = small();
        let params = LogisticParams::default();
        let model = LogisticChurnModel::fit(&x, &y, &params).expect("fit");
        let z = model.preprocessor().transform(&x).expect("t");
        let linfa = fit_linfa_logit(z.view(), &y, &params).expect("fit");
        let theirs = linfa.fitted.predict_probabilities(&z);
        let ours = model.predict_proba(&x).expect("p");
        // linfa's probability is for its positive class (the larger one).
        let churn_is_pos = linfa.fitted.labels().pos.class;
        let n_churn = y.iter().filter(|&&c| c).count();
        assert_eq!(churn_is_pos, 2 * n_churn >= y.len());
        // Two solvers of one objective: linfa's L-BFGS stops at a mean
        // gradient of 1e-6, Newton's method far below it.
        for (o, t) in ours.iter().zip(theirs.iter()) {
            let t = if churn_is_pos { *t } else { 1.0 - t };
            assert!((o - t).abs() < 1e-5, "{o} vs {t}");
        }
        assert!(model.coefficients()[0] > 0.0, "churn rises with a");
        for (o, t) in model.coefficients().iter().zip(&linfa.coefficients) {
            assert!((o - t).abs() < 1e-4, "coefficient {o} vs linfa's {t}");
        }
        assert!((model.intercept() - linfa.intercept).abs() < 1e-4);

        // Flip the labels: churn becomes the other class; the coefficients
        // change sign, the probabilities complement.
        let flipped: Vec<bool> = y.iter().map(|c| !c).collect();
        let m2 = LogisticChurnModel::fit(&x, &flipped, &params).expect("fit");
        for (b1, b2) in model.coefficients().iter().zip(m2.coefficients()) {
            assert!((b1 + b2).abs() < 1e-5, "{b1} vs {b2}");
        }
        let p2 = m2.predict_proba(&x).expect("p");
        for (a, b) in ours.iter().zip(&p2) {
            assert!((a + b - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn top_drivers_are_the_largest_positive_contributions() {
        let x = FeatureMatrix::new(
            names(&["a", "b", "c"]),
            array![
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 1.0],
                [-1.0, -1.0, 0.0],
                [0.0, 0.0, -1.0]
            ],
        )
        .expect("valid");
        let pre = Preprocessor::fit(&x).expect("fit");
        let model = LogisticChurnModel {
            preprocessor: pre.clone(),
            coefficients: vec![2.0, -1.0, 0.5],
            intercept: 0.0,
            training: TrainingSample {
                n_input_rows: 4,
                n_train_rows: 4,
                n_positive: 2,
            },
            max_abs_gradient: 0.0,
        };
        let z = pre.transform(&x).expect("t");
        let drivers = model.top_churn_drivers(&x, 2).expect("drivers");
        for (i, d) in drivers.iter().enumerate() {
            let mut want: Vec<(usize, f64)> = (0..3)
                .map(|j| (j, z[[i, j]] * model.coefficients[j]))
                .filter(|(_, c)| *c > 0.0)
                .collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1));
            let want: Vec<String> = want
                .iter()
                .take(2)
                .map(|(j, _)| ["a", "b", "c"][*j].to_string())
                .collect();
            assert_eq!(d, &want, "row {i}");
        }
        // Row 0: only `a` is away from its mean (b and c sit at theirs).
        assert_eq!(drivers[0][0], "a");
        assert!(
            model
                .top_churn_drivers(&x, 0)
                .expect("k=0")
                .iter()
                .all(Vec::is_empty)
        );
    }

    #[test]
    fn tree_tie_break_is_deterministic() {
        // Identical rows, 2 vs 2 labels: an unsplittable, exactly tied root.
        // Without the weights linfa-trees predicts a random class per fit.
        let x = FeatureMatrix::new(names(&["a"]), Array2::zeros((4, 1))).expect("valid");
        let y = vec![true, false, true, false];
        let params = ForestParams {
            n_trees: 25,
            min_samples_leaf: 1,
            ..ForestParams::default()
        };
        let first = ForestChurnModel::fit(&x, &y, &params)
            .expect("fit")
            .churn_votes(&x)
            .expect("votes");
        for _ in 0..20 {
            let again = ForestChurnModel::fit(&x, &y, &params)
                .expect("fit")
                .churn_votes(&x)
                .expect("votes");
            assert_eq!(again, first);
        }
    }

    #[test]
    fn params_are_checked_by_name() {
        let e = LogisticParams {
            alpha: -1.0,
            ..LogisticParams::default()
        }
        .check()
        .expect_err("alpha");
        assert!(e.to_string().contains("`alpha`"), "{e}");
        for (p, field) in [
            (
                ForestParams {
                    n_trees: 0,
                    ..ForestParams::default()
                },
                "n_trees",
            ),
            (
                ForestParams {
                    feature_fraction: 1.5,
                    ..ForestParams::default()
                },
                "feature_fraction",
            ),
            (
                ForestParams {
                    max_depth: Some(0),
                    ..ForestParams::default()
                },
                "max_depth",
            ),
        ] {
            let e = p.check().expect_err(field);
            assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
        }
        assert!(LogisticParams::default().check().is_ok());
        assert!(ForestParams::default().check().is_ok());
    }
}
