//! The churn challenger: bagged decision trees (`linfa-trees`) whose
//! P(churn) is the trees' vote share (see the parent module).

#[allow(unused_imports)]
use super::*;

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
pub(super) struct BaggedTree {
    pub(super) tree: DecisionTree<f64, bool>,
    pub(super) features: Vec<usize>,
}

/// Bagged decision trees; P(churn) = share of trees voting churn.
/// Serializable through `linfa-trees`' `serde` feature (the trees' splits
/// and leaf labels), so a later process scores without refitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestChurnModel {
    pub(super) preprocessor: Preprocessor,
    pub(super) trees: Vec<BaggedTree>,
    pub(super) training: TrainingSample,
}

/// Weight multiplier of the favoured class of a tree (exact in `f32`).
pub(super) const TIE_BREAK: f32 = 1.0 + 1.0 / 2048.0;

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
            .map_err(|e| ModelError::fit_from(FOREST, &e))?;

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
