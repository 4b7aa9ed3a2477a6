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

mod forest;
mod logistic;

#[allow(unused_imports)]
use forest::*;
pub use forest::{ForestChurnModel, ForestParams};
#[allow(unused_imports)]
use logistic::*;
pub use logistic::{
    L2_FOLDS, L2_GRID, L2_MAX_ROWS, L2Choice, L2Score, LogisticChurnModel, LogisticParams,
    choose_l2,
};
pub(crate) use logistic::{check_coefficients, original_scale};

pub(super) const LOGIT: &str = "churn logistic regression";
pub(super) const FOREST: &str = "churn bagged trees";

/// A fit whose max |gradient| of the per-row mean objective is above this is
/// reported as not converged.
pub(super) const LOGIT_MAX_GRADIENT: f64 = 1e-3;

/// Checks lengths, emptiness and that both classes are present; returns the
/// number of churned customers.
pub(super) fn check_labels(x: &FeatureMatrix, churned: &[bool]) -> Result<usize> {
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
pub(super) fn training_rows(
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
pub(super) fn sigmoid(eta: f64) -> f64 {
    1.0 / (1.0 + (-eta).exp())
}

pub(super) fn check_param(
    ok: bool,
    field: &str,
    rule: &str,
    value: impl std::fmt::Display,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(ModelError::invalid(
            field.to_string(),
            format!("{rule}, got {value}"),
        ))
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
                .map(|j| (j, z[[i, j]] * model.coefficients()[j]))
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
