//! Error type shared by every model in this crate.
//!
//! Nothing in the crate panics on bad input: invalid or inconsistent data,
//! failed fits and numerical breakdowns are all reported as a [`ModelError`]
//! whose message names the rule that failed.

use thiserror::Error;

/// Everything that can go wrong when building summaries, fitting models,
/// predicting or computing metrics.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    /// An input value broke a validation rule (NaN, negative, inconsistent
    /// `(x, t_x, T)`, length mismatch, ...).
    #[error("invalid input `{field}`: {rule}")]
    InvalidInput {
        /// Which input (field name, with the row index when there is one).
        field: String,
        /// The rule that failed, in words.
        rule: String,
    },

    /// The data cannot identify the model (e.g. no repeat customers for
    /// Gamma-Gamma) or the fit ended somewhere unusable (a parameter ran off
    /// to 0 or infinity, `q <= 1` for Gamma-Gamma, ...).
    #[error("{model} fit failed: {detail}")]
    Fit {
        /// Model name, e.g. `"BG/NBD"`.
        model: &'static str,
        /// What went wrong.
        detail: String,
    },

    /// The optimiser stopped without meeting the convergence criterion.
    #[error(
        "{model} fit did not converge after {iterations} iterations \
         (max |gradient| of the mean log-likelihood = {gradient_norm:e}): {detail}"
    )]
    NotConverged {
        /// Model name.
        model: &'static str,
        /// Iterations used.
        iterations: u64,
        /// Infinity norm of the gradient (per-customer mean log-likelihood,
        /// log-parameters) at the best point found.
        gradient_norm: f64,
        /// Solver-specific detail (termination reason).
        detail: String,
    },

    /// A feature matrix does not have the columns (names, in order) the
    /// preprocessor or model was fitted on. `position` is the first column
    /// that differs; `<none>` stands for a missing column on either side.
    #[error(
        "feature mismatch at column {position}: the model was fitted on `{expected}`, \
         the matrix has `{found}`"
    )]
    FeatureMismatch {
        /// 0-based position of the first differing column.
        position: usize,
        /// The fitted column name at that position (`<none>` if the matrix has
        /// extra columns).
        expected: String,
        /// The matrix's column name at that position (`<none>` if the matrix
        /// has fewer columns).
        found: String,
    },

    /// A value is not finite after preprocessing (imputation and
    /// standardization), e.g. an input so large that standardizing it
    /// overflows.
    #[error("non-finite value {value} in feature `{column}` (row {row}) after preprocessing")]
    NonFinite {
        /// Feature name.
        column: String,
        /// 0-based row.
        row: usize,
        /// The offending value.
        value: f64,
    },

    /// The churn labels hold a single class, so no classifier can be fitted.
    #[error(
        "labels hold a single class: all {n} customers are {class}; \
         a churn model needs both churned and retained customers"
    )]
    SingleClass {
        /// Number of labels.
        n: usize,
        /// `"churned"` or `"retained"`.
        class: &'static str,
    },

    /// A special function could not be evaluated to the required accuracy
    /// (series did not converge, argument outside the domain, precision loss).
    #[error("{function}({args}): {detail}")]
    Numerical {
        /// Function name, e.g. `"hyp2f1"`.
        function: &'static str,
        /// The arguments, formatted.
        args: String,
        /// What went wrong.
        detail: String,
    },
}

impl ModelError {
    /// Shorthand for [`ModelError::InvalidInput`].
    pub(crate) fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// Shorthand for [`ModelError::Fit`].
    pub(crate) fn fit(model: &'static str, detail: impl Into<String>) -> Self {
        Self::Fit {
            model,
            detail: detail.into(),
        }
    }

    /// A library's error (linfa, serde) as a [`ModelError::Fit`] of `model`,
    /// the one conversion of the crate: the detail is the error with every
    /// source after it (`a: b`), so nothing of it is dropped. (`ModelError`
    /// is `Clone` and `PartialEq`, so it keeps the text, not the error.)
    pub(crate) fn fit_from(model: &'static str, e: &dyn std::error::Error) -> Self {
        Self::fit(model, chain(e))
    }

    /// A library's error (serde) as a [`ModelError::InvalidInput`] of `field`.
    pub(crate) fn invalid_from(field: impl Into<String>, e: &dyn std::error::Error) -> Self {
        Self::invalid(field, chain(e))
    }
}

/// An error and its sources, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, ModelError>;

/// Checks that `value` is finite and `>= 0`.
pub(crate) fn check_non_negative(field: &str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(ModelError::invalid(
            field,
            format!("must be a finite number, got {value}"),
        ));
    }
    if value < 0.0 {
        return Err(ModelError::invalid(
            field,
            format!("must be >= 0, got {value}"),
        ));
    }
    Ok(())
}

/// Checks that `value` is finite and `> 0`.
pub(crate) fn check_positive(field: &str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(ModelError::invalid(
            field,
            format!("must be a finite number, got {value}"),
        ));
    }
    if value <= 0.0 {
        return Err(ModelError::invalid(
            field,
            format!("must be > 0, got {value}"),
        ));
    }
    Ok(())
}
