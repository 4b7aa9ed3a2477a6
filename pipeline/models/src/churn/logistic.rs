//! The main churn model: L2 logistic regression fitted by Newton's method on
//! linfa-logistic's objective, with per-customer drivers (see the parent
//! module).

#[allow(unused_imports)]
use super::*;

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
    /// The penalty per training row, usually chosen by [`choose_l2`]: when
    /// set, a fit on `n` training rows uses `alpha = l2_per_row * n` in
    /// place of [`alpha`](Self::alpha), so the same strength carries from
    /// the cross-validation to the fit and to a refit on more rows. Finite,
    /// `>= 0`. Default `None`.
    #[serde(default)]
    pub l2_per_row: Option<f64>,
}

impl Default for LogisticParams {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            max_iterations: 1000,
            gradient_tolerance: 1e-6,
            max_train_rows: 200_000,
            seed: 42,
            l2_per_row: None,
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
        )?;
        let per_row = self.l2_per_row.unwrap_or(0.0);
        check_param(
            per_row.is_finite() && per_row >= 0.0,
            "l2_per_row",
            "must be finite and >= 0",
            per_row,
        )
    }

    /// The penalty of a fit on `n` training rows.
    pub fn alpha_for(&self, n: usize) -> f64 {
        self.l2_per_row.map_or(self.alpha, |l| l * n as f64)
    }
}

/// The penalties per training row [`choose_l2`] tries, weakest first: from
/// practically none to very strong (a penalty of `lambda` per row adds
/// `lambda` to the per-row curvature of the log loss, at most 0.25, so `1`
/// shrinks every standardized coefficient to a fifth or less; on CDNOW the
/// search chose `0.1`, the end of an earlier grid that stopped there).
pub const L2_GRID: [f64; 9] = [1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0];

/// Folds of [`choose_l2`].
pub const L2_FOLDS: usize = 3;

/// Rows [`choose_l2`] cross-validates on at most (a stratified sample with
/// the training sample's seed). The search costs about six fits on all its
/// rows (27 warm-started fits on two thirds of them): 2.1 s on the
/// sample's 11,243 rows, where one fit took 0.35 s (measured with another
/// build running); 20,000 rows keep it near 4 s at any size, the cost of
/// two fits on the 200,000 rows the model trains on at most.
pub const L2_MAX_ROWS: usize = 20_000;

/// One penalty of the grid and its cross-validated log loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct L2Score {
    pub l2_per_row: f64,
    /// Mean log loss of the held-out rows over every fold.
    pub log_loss: f64,
}

/// The penalty [`choose_l2`] chose and what it was chosen on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct L2Choice {
    pub l2_per_row: f64,
    pub folds: usize,
    /// Rows cross-validated on.
    pub rows: usize,
    /// Every penalty tried, in grid order.
    pub grid: Vec<L2Score>,
}

/// Chooses the L2 penalty of the logistic model by `L2_FOLDS`-fold
/// cross-validation on the *training* rows only: the penalty of
/// [`L2_GRID`] with the lowest mean held-out log loss (the strongest of
/// equal ones). `fold_key[i]` puts row `i` in fold `fold_key[i] % L2_FOLDS`:
/// give one key per customer (a hash of the id), so that a customer's rows
/// of several pooled windows are held out together and the folds do not
/// leak a customer's own outcome into their validation.
///
/// The rows are imputed and standardized once, with the statistics of all
/// of them (no label enters those), and each penalty starts from the
/// previous one's solution, strongest first.
pub fn choose_l2(
    x: &FeatureMatrix,
    churned: &[bool],
    fold_key: &[u64],
    params: &LogisticParams,
) -> Result<L2Choice> {
    params.check()?;
    if fold_key.len() != churned.len() {
        return Err(ModelError::invalid(
            "fold_key",
            format!(
                "length mismatch: {} keys vs {} labels",
                fold_key.len(),
                churned.len()
            ),
        ));
    }
    check_labels(x, churned)?;
    let rows: Vec<usize> = sampling::stratified(churned, L2_MAX_ROWS, params.seed)
        .unwrap_or_else(|| (0..churned.len()).collect());
    let xs = x.select_rows(&rows)?;
    let ys: Vec<bool> = rows.iter().map(|&i| churned[i]).collect();
    let folds: Vec<usize> = rows
        .iter()
        .map(|&i| (fold_key[i] % L2_FOLDS as u64) as usize)
        .collect();
    let z = Preprocessor::fit(&xs)?.transform(&xs)?;
    let mut loss = vec![0.0; L2_GRID.len()];
    for k in 0..L2_FOLDS {
        let train: Vec<usize> = (0..ys.len()).filter(|&i| folds[i] != k).collect();
        let held: Vec<usize> = (0..ys.len()).filter(|&i| folds[i] == k).collect();
        if held.is_empty() {
            continue;
        }
        let zt = z.select(Axis(0), &train);
        let yt: Vec<bool> = train.iter().map(|&i| ys[i]).collect();
        if yt.iter().all(|&c| c) || yt.iter().all(|&c| !c) {
            return Err(ModelError::invalid(
                "churned",
                format!("fold {k} of the penalty search leaves one class to train on"),
            ));
        }
        let zh = z.select(Axis(0), &held);
        let mut start: Option<Vec<f64>> = None;
        for (g, &l2) in L2_GRID.iter().enumerate().rev() {
            let fit = LogisticParams {
                alpha: l2 * yt.len() as f64,
                l2_per_row: None,
                ..params.clone()
            };
            // A penalty whose fit fails (a Hessian that is not positive
            // definite: nearly separable rows and almost no penalty) scores
            // +inf and the search goes on; the next one starts afresh.
            let Ok((coefficients, intercept)) =
                fit_logit_newton_from(zt.view(), &yt, &fit, start.take())
            else {
                loss[g] = f64::INFINITY;
                continue;
            };
            let eta = linear_predictor(zh.view(), &coefficients, intercept);
            loss[g] += held
                .iter()
                .zip(&eta)
                .map(|(&i, &e)| softplus(e) - if ys[i] { e } else { 0.0 })
                .sum::<f64>();
            start = Some(std::iter::once(intercept).chain(coefficients).collect());
        }
    }
    let n = ys.len() as f64;
    let grid: Vec<L2Score> = L2_GRID
        .iter()
        .zip(&loss)
        .map(|(&l2_per_row, &l)| L2Score {
            l2_per_row,
            log_loss: l / n,
        })
        .collect();
    // The lowest loss; among equal ones the strongest penalty (last).
    let best = grid
        .iter()
        .fold(None::<&L2Score>, |b, s| match b {
            Some(b) if b.log_loss < s.log_loss => Some(b),
            _ => Some(s),
        })
        .map(|s| s.l2_per_row)
        .ok_or_else(|| ModelError::invalid("l2 grid", "is empty"))?;
    if grid.iter().any(|s| s.log_loss.is_nan()) {
        return Err(ModelError::fit(
            LOGIT,
            "the penalty search gave a NaN log loss",
        ));
    }
    if grid.iter().all(|s| s.log_loss == f64::INFINITY) {
        return Err(ModelError::fit(
            LOGIT,
            "no penalty of the search could be fitted (perfectly separable rows?)",
        ));
    }
    Ok(L2Choice {
        l2_per_row: best,
        folds: L2_FOLDS,
        rows: ys.len(),
        grid,
    })
}

/// A fitted logistic churn model: preprocessor, coefficients per
/// standardized feature and intercept, all for P(churn). Serializable
/// (validated when read back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LogisticChurnModelData")]
pub struct LogisticChurnModel {
    pub(super) preprocessor: Preprocessor,
    #[serde(with = "exact_f64::vec")]
    pub(super) coefficients: Vec<f64>,
    #[serde(with = "exact_f64")]
    pub(super) intercept: f64,
    pub(super) training: TrainingSample,
    #[serde(with = "exact_f64")]
    pub(super) max_abs_gradient: f64,
}

/// Unvalidated serialized form of [`LogisticChurnModel`].
#[derive(Deserialize)]
pub(super) struct LogisticChurnModelData {
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
        .map_err(|e| ModelError::fit_from(LOGIT, &e))?;
    let dataset = DatasetBase::new(z, Array1::from(churned.to_vec()));
    let fitted = valid
        .fit(&dataset)
        .map_err(|e| ModelError::fit_from(LOGIT, &e))?;
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
pub(super) fn softplus(eta: f64) -> f64 {
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
    fit_logit_newton_from(z, churned, params, None)
}

/// [`fit_logit_newton`] from a given start (intercept first), or from the
/// log-odds of the churn rate; the penalty is `params.alpha_for(n)`.
pub(crate) fn fit_logit_newton_from(
    z: ArrayView2<'_, f64>,
    churned: &[bool],
    params: &LogisticParams,
    start: Option<Vec<f64>>,
) -> Result<(Vec<f64>, f64)> {
    let (n, p) = z.dim();
    let rate = churned.iter().filter(|c| **c).count() as f64 / n.max(1) as f64;
    let mut theta = vec![0.0; p + 1];
    if rate > 0.0 && rate < 1.0 {
        theta[0] = (rate / (1.0 - rate)).ln();
    }
    let theta = match start {
        Some(s) if s.len() == p + 1 => s,
        _ => theta,
    };
    let y: Vec<f64> = churned.iter().map(|&c| if c { 1.0 } else { 0.0 }).collect();
    let loss = |eta: f64, y: f64| {
        let mu = 1.0 / (1.0 + (-eta).exp());
        (softplus(eta) - y * eta, mu - y, mu * (1.0 - mu))
    };
    let mut theta = crate::newton::minimise(
        z,
        &y,
        theta,
        params.alpha_for(n),
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
pub(super) fn linear_predictor(
    z: ArrayView2<'_, f64>,
    coefficients: &[f64],
    intercept: f64,
) -> Vec<f64> {
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
        let alpha = params.alpha_for(ys.len());
        for (col, b) in z.columns().into_iter().zip(&coefficients) {
            let g = (col.iter().zip(&resid).map(|(v, r)| v * r).sum::<f64>() + alpha * b) / n;
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
        serde_json::to_string(self).map_err(|e| ModelError::invalid_from(LOGIT, &e))
    }

    /// Reads (and validates) the JSON form.
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| ModelError::invalid_from("churn model JSON", &e))
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
