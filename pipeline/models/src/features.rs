//! Feature matrices for the feature models ([`crate::churn`],
//! [`crate::revenue`]) and the fitted [`Preprocessor`] they share.
//!
//! A [`FeatureMatrix`] is a dense `f64` matrix with one named column per
//! feature; `NaN` marks a missing value (e.g. the mean gap between purchases
//! of a customer with a single purchase). Infinite values are refused.
//!
//! The [`Preprocessor`] is fitted on the training matrix and applied, with
//! the training statistics, to every matrix scored later:
//!
//! 1. **Median imputation** of `NaN` with the training median of the column.
//!    The median, not the mean: spend and count features are heavily
//!    right-skewed (a few customers spend 100x the typical one), so the mean
//!    would impute a value that almost no customer has, and it moves with the
//!    outliers of each training window; the median is robust to both.
//! 2. **Standardization** `(v - mean) / std` with the mean and the population
//!    standard deviation of the *imputed* training column (the order of
//!    scikit-learn's `SimpleImputer` then `StandardScaler`). A constant column
//!    (all imputed training values equal) gets `std = 1`, so it maps to 0 and
//!    never divides by zero. Standardizing puts every coefficient on the same
//!    scale, so the L2 penalty treats the features alike, the optimisers are
//!    well conditioned, and "coefficient x standardized value" is a
//!    comparable per-customer contribution.
//!
//! The preprocessor records the feature names in order and refuses
//! ([`ModelError::FeatureMismatch`]) a matrix whose columns differ, so a model
//! can never silently score columns in the wrong order. It serializes to
//! JSON (validated again when read back).

use ndarray::{Array2, ArrayView1, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Shown for a missing column in [`ModelError::FeatureMismatch`].
const NONE: &str = "<none>";

/// A dense feature matrix with named columns; `NaN` = missing.
///
/// Invariants (checked by the constructors): at least one column, one
/// non-empty unique name per column, no infinite value. Zero rows are allowed
/// (scoring an empty batch), fitting needs at least one.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    names: Vec<String>,
    values: Array2<f64>,
}

impl FeatureMatrix {
    /// Builds a matrix from column names and a `rows x columns` array.
    pub fn new(names: Vec<String>, values: Array2<f64>) -> Result<Self> {
        if names.is_empty() {
            return Err(ModelError::invalid(
                "feature names",
                "need at least one feature",
            ));
        }
        if names.len() != values.ncols() {
            return Err(ModelError::invalid(
                "feature names",
                format!("{} names for {} columns", names.len(), values.ncols()),
            ));
        }
        for (j, name) in names.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(ModelError::invalid(
                    format!("feature names[{j}]"),
                    "must not be empty",
                ));
            }
            if names[..j].contains(name) {
                return Err(ModelError::invalid(
                    format!("feature `{name}`"),
                    "appears more than once",
                ));
            }
        }
        for ((i, j), v) in values.indexed_iter() {
            if v.is_infinite() {
                return Err(ModelError::invalid(
                    format!("feature `{}` (row {i})", names[j]),
                    format!("must be finite or NaN (missing), got {v}"),
                ));
            }
        }
        Ok(Self { names, values })
    }

    /// Builds a matrix from `(name, values)` columns of equal length.
    pub fn from_columns(columns: Vec<(String, Vec<f64>)>) -> Result<Self> {
        let n = columns.first().map_or(0, |(_, v)| v.len());
        if let Some((name, v)) = columns.iter().find(|(_, v)| v.len() != n) {
            return Err(ModelError::invalid(
                format!("feature `{name}`"),
                format!("has {} values, the first column has {n}", v.len()),
            ));
        }
        let p = columns.len();
        let mut values = Array2::zeros((n, p));
        let mut names = Vec::with_capacity(p);
        for (j, (name, col)) in columns.into_iter().enumerate() {
            values
                .column_mut(j)
                .iter_mut()
                .zip(col)
                .for_each(|(dst, v)| *dst = v);
            names.push(name);
        }
        Self::new(names, values)
    }

    /// Column names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The values (`NaN` = missing).
    pub fn values(&self) -> &Array2<f64> {
        &self.values
    }

    /// Number of rows (customers).
    pub fn nrows(&self) -> usize {
        self.values.nrows()
    }

    /// Number of columns (features).
    pub fn ncols(&self) -> usize {
        self.values.ncols()
    }

    /// The matrix restricted to `rows` (in that order); an out-of-range
    /// index is an error.
    pub fn select_rows(&self, rows: &[usize]) -> Result<Self> {
        if let Some(&i) = rows.iter().find(|&&i| i >= self.nrows()) {
            return Err(ModelError::invalid(
                "rows",
                format!("index {i} out of range for {} rows", self.nrows()),
            ));
        }
        Ok(Self {
            names: self.names.clone(),
            values: self.values.select(Axis(0), rows),
        })
    }
}

/// Exact JSON form of `f64` values for the fitted models (crate-internal).
///
/// serde_json prints the shortest decimal that round-trips, but without its
/// `float_roundtrip` feature (not enabled in this workspace: it would
/// rebuild every crate that uses serde_json) its parser may return the
/// neighbouring `f64` (measured: 3 of 20 fitted statistics moved by one
/// ulp). Fitted values are therefore written as decimal *strings*
/// (`"10.019471515055011"`, Rust's shortest round-trip formatting) and read
/// back with Rust's correctly rounded parser: a model read from JSON scores
/// bit for bit like the one that was written. Plain JSON numbers are
/// accepted on input too.
pub(crate) mod exact_f64 {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(f64),
        Str(String),
    }

    fn parse<E: Error>(v: NumOrStr) -> Result<f64, E> {
        match v {
            NumOrStr::Num(x) => Ok(x),
            NumOrStr::Str(s) => s
                .parse()
                .map_err(|e| E::custom(format!("invalid number {s:?}: {e}"))),
        }
    }

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:?}"))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        parse(NumOrStr::deserialize(d)?)
    }

    /// The same for a `Vec<f64>`.
    pub(crate) mod vec {
        use super::{NumOrStr, parse};
        use serde::ser::SerializeSeq;
        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for x in v {
                seq.serialize_element(&format!("{x:?}"))?;
            }
            seq.end()
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            Vec::<NumOrStr>::deserialize(d)?
                .into_iter()
                .map(parse)
                .collect()
        }
    }
}

/// The fitted transform of one column. In JSON the numbers are decimal
/// strings (exact round trip, see the module source).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnTransform {
    /// Feature name.
    pub name: String,
    /// Training median of the non-missing values (imputes `NaN`).
    #[serde(with = "exact_f64")]
    pub median: f64,
    /// Mean of the imputed training column.
    #[serde(with = "exact_f64")]
    pub mean: f64,
    /// Population standard deviation of the imputed training column; `1` for
    /// a constant column.
    #[serde(with = "exact_f64")]
    pub std: f64,
    /// Share of the training values that were missing (informative only).
    #[serde(with = "exact_f64")]
    pub missing_share: f64,
}

/// Median imputation then standardization, fitted on a training matrix (see
/// the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PreprocessorData")]
pub struct Preprocessor {
    columns: Vec<ColumnTransform>,
}

/// Unvalidated serialized form of [`Preprocessor`].
#[derive(Deserialize)]
struct PreprocessorData {
    columns: Vec<ColumnTransform>,
}

impl TryFrom<PreprocessorData> for Preprocessor {
    type Error = ModelError;

    fn try_from(d: PreprocessorData) -> Result<Self> {
        Self::from_columns(d.columns)
    }
}

/// Median of finite values (sorted in place); `None` when empty.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        // Halves first: no overflow for values near f64::MAX.
        v[n / 2 - 1] / 2.0 + v[n / 2] / 2.0
    })
}

impl Preprocessor {
    /// Validates and builds a preprocessor from explicit column transforms
    /// (also used when deserializing).
    pub fn from_columns(columns: Vec<ColumnTransform>) -> Result<Self> {
        if columns.is_empty() {
            return Err(ModelError::invalid(
                "preprocessor",
                "needs at least one column",
            ));
        }
        for (j, c) in columns.iter().enumerate() {
            let field = format!("preprocessor column `{}`", c.name);
            if c.name.trim().is_empty() {
                return Err(ModelError::invalid(
                    format!("preprocessor columns[{j}]"),
                    "name must not be empty",
                ));
            }
            if columns[..j].iter().any(|o| o.name == c.name) {
                return Err(ModelError::invalid(field, "appears more than once"));
            }
            if !(c.median.is_finite() && c.mean.is_finite()) {
                return Err(ModelError::invalid(field, "median and mean must be finite"));
            }
            if !(c.std.is_finite() && c.std > 0.0) {
                return Err(ModelError::invalid(
                    field,
                    format!("std must be finite and > 0, got {}", c.std),
                ));
            }
            if !(0.0..=1.0).contains(&c.missing_share) {
                return Err(ModelError::invalid(
                    field,
                    "missing_share must be in [0, 1]",
                ));
            }
        }
        Ok(Self { columns })
    }

    /// Fits the per-column median, mean and std on `x` (at least one row;
    /// every column needs at least one non-missing value).
    pub fn fit(x: &FeatureMatrix) -> Result<Self> {
        let n = x.nrows();
        if n == 0 {
            return Err(ModelError::invalid(
                "features",
                "cannot fit a preprocessor on zero rows",
            ));
        }
        let columns = x
            .names()
            .iter()
            .zip(x.values().columns())
            .map(|(name, col)| fit_column(name, col))
            .collect::<Result<Vec<_>>>()?;
        Self::from_columns(columns)
    }

    /// The fitted columns, in order.
    pub fn columns(&self) -> &[ColumnTransform] {
        &self.columns
    }

    /// Feature names, in order.
    pub fn feature_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.columns.len()
    }

    /// Checks that `names` are exactly the fitted feature names, in order.
    pub fn check_names(&self, names: &[String]) -> Result<()> {
        let p = self.columns.len().max(names.len());
        for position in 0..p {
            let expected = self.columns.get(position).map(|c| c.name.as_str());
            let found = names.get(position).map(String::as_str);
            if expected != found {
                return Err(ModelError::FeatureMismatch {
                    position,
                    expected: expected.unwrap_or(NONE).to_string(),
                    found: found.unwrap_or(NONE).to_string(),
                });
            }
        }
        Ok(())
    }

    /// Imputes and standardizes `x` with the training statistics. Refuses a
    /// matrix whose columns differ from the training ones
    /// ([`ModelError::FeatureMismatch`]) and any value that is not finite
    /// after the transform ([`ModelError::NonFinite`]).
    pub fn transform(&self, x: &FeatureMatrix) -> Result<Array2<f64>> {
        self.check_names(x.names())?;
        let mut z = x.values().clone();
        for (c, mut col) in self.columns.iter().zip(z.columns_mut()) {
            for (row, v) in col.iter_mut().enumerate() {
                let raw = if v.is_nan() { c.median } else { *v };
                let t = (raw - c.mean) / c.std;
                if !t.is_finite() {
                    return Err(ModelError::NonFinite {
                        column: c.name.clone(),
                        row,
                        value: t,
                    });
                }
                *v = t;
            }
        }
        Ok(z)
    }

    /// JSON form.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| ModelError::invalid("preprocessor", e.to_string()))
    }

    /// Reads (and validates) the JSON form.
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| ModelError::invalid("preprocessor JSON", e.to_string()))
    }
}

fn fit_column(name: &str, col: ArrayView1<'_, f64>) -> Result<ColumnTransform> {
    let n = col.len();
    let mut present: Vec<f64> = col.iter().copied().filter(|v| !v.is_nan()).collect();
    let n_present = present.len();
    let med = median(&mut present).ok_or_else(|| {
        ModelError::invalid(
            format!("feature `{name}`"),
            "has no non-missing value in the training data: its median cannot be imputed",
        )
    })?;
    let nf = n as f64;
    let n_missing = (n - n_present) as f64;
    // `present` is sorted: the imputed column is constant iff its extremes
    // (and the median, when something is missing) coincide.
    let lo = present.first().copied().unwrap_or(med);
    let hi = present.last().copied().unwrap_or(med);
    let (mean, std) = if lo == hi {
        (lo, 1.0)
    } else {
        // Two-pass mean and population variance of the imputed column. The
        // values are pre-scaled by 1/n (the mean cannot overflow) and the
        // deviations by their largest magnitude (the squares can neither
        // overflow nor underflow).
        let mean = present.iter().map(|v| v / nf).sum::<f64>() + n_missing * (med / nf);
        let scale = present
            .iter()
            .map(|v| (v - mean).abs())
            .fold((med - mean).abs(), f64::max);
        let ss = present
            .iter()
            .map(|v| ((v - mean) / scale).powi(2) / nf)
            .sum::<f64>()
            + n_missing * (((med - mean) / scale).powi(2) / nf);
        let std = scale * ss.sqrt();
        if !(mean.is_finite() && std.is_finite()) {
            return Err(ModelError::NonFinite {
                column: name.to_string(),
                row: 0,
                value: if mean.is_finite() { std } else { mean },
            });
        }
        // Distinct values whose spread underflows: treat as constant.
        (mean, if std > 0.0 { std } else { 1.0 })
    };
    Ok(ColumnTransform {
        name: name.to_string(),
        median: med,
        mean,
        std,
        missing_share: n_missing / nf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn median_imputation_and_standardization() {
        // a: [1, NaN, 3, 10] -> median of {1, 3, 10} = 3 -> [1, 3, 3, 10],
        //    mean 17/4 = 4.25, var = (3.25² + 1.25² + 1.25² + 5.75²)/4
        //    = (10.5625 + 1.5625 + 1.5625 + 33.0625)/4 = 11.6875.
        // b: constant 5 -> std 1, maps to 0.
        let x = FeatureMatrix::new(
            names(&["a", "b"]),
            array![[1.0, 5.0], [f64::NAN, 5.0], [3.0, 5.0], [10.0, 5.0]],
        )
        .expect("valid");
        let p = Preprocessor::fit(&x).expect("fit");
        let a = &p.columns()[0];
        assert_eq!(a.median, 3.0);
        assert!((a.mean - 4.25).abs() < 1e-12);
        assert!((a.std - 11.6875f64.sqrt()).abs() < 1e-12);
        assert!((a.missing_share - 0.25).abs() < 1e-12);
        let b = &p.columns()[1];
        assert_eq!((b.mean, b.std), (5.0, 1.0));

        let z = p.transform(&x).expect("transform");
        assert!((z[[1, 0]] - (3.0 - 4.25) / 11.6875f64.sqrt()).abs() < 1e-12);
        assert!(z.column(1).iter().all(|&v| v == 0.0));
        // Standardized training column: mean 0, population std 1.
        let m = z.column(0).sum() / 4.0;
        let s = (z.column(0).mapv(|v| (v - m).powi(2)).sum() / 4.0).sqrt();
        assert!(m.abs() < 1e-12 && (s - 1.0).abs() < 1e-12);

        // Even count median: [1, 2, 3, 4] -> 2.5.
        let x =
            FeatureMatrix::new(names(&["c"]), array![[4.0], [1.0], [3.0], [2.0]]).expect("valid");
        assert_eq!(Preprocessor::fit(&x).expect("fit").columns()[0].median, 2.5);
    }

    #[test]
    fn refuses_other_columns_naming_them() {
        let x =
            FeatureMatrix::new(names(&["a", "b"]), array![[1.0, 2.0], [2.0, 1.0]]).expect("valid");
        let p = Preprocessor::fit(&x).expect("fit");

        let swapped = FeatureMatrix::new(names(&["b", "a"]), array![[1.0, 2.0]]).expect("valid");
        let e = p.transform(&swapped).expect_err("swapped columns");
        assert_eq!(
            e,
            ModelError::FeatureMismatch {
                position: 0,
                expected: "a".into(),
                found: "b".into()
            }
        );
        assert!(e.to_string().contains("`a`") && e.to_string().contains("`b`"));

        let fewer = FeatureMatrix::new(names(&["a"]), array![[1.0]]).expect("valid");
        let e = p.transform(&fewer).expect_err("missing column");
        assert!(
            matches!(e, ModelError::FeatureMismatch { position: 1, ref expected, ref found }
            if expected == "b" && found == NONE)
        );

        let more =
            FeatureMatrix::new(names(&["a", "b", "c"]), array![[1.0, 2.0, 3.0]]).expect("valid");
        let e = p.transform(&more).expect_err("extra column");
        assert!(
            matches!(e, ModelError::FeatureMismatch { position: 2, ref expected, ref found }
            if expected == NONE && found == "c")
        );
    }

    #[test]
    fn bad_matrices_are_errors() {
        assert!(FeatureMatrix::new(names(&["a"]), array![[f64::INFINITY]]).is_err());
        assert!(FeatureMatrix::new(names(&["a", "a"]), array![[1.0, 2.0]]).is_err());
        assert!(FeatureMatrix::new(names(&["a"]), array![[1.0, 2.0]]).is_err());
        assert!(FeatureMatrix::new(vec![], Array2::zeros((1, 0))).is_err());
        assert!(
            FeatureMatrix::from_columns(vec![("a".into(), vec![1.0]), ("b".into(), vec![])])
                .is_err()
        );

        // No rows to fit on.
        let empty = FeatureMatrix::new(names(&["a"]), Array2::zeros((0, 1))).expect("valid");
        assert!(Preprocessor::fit(&empty).is_err());

        // A column without any value cannot be imputed: the error names it.
        let x = FeatureMatrix::new(
            names(&["a", "gap"]),
            array![[1.0, f64::NAN], [2.0, f64::NAN]],
        )
        .expect("valid");
        let e = Preprocessor::fit(&x).expect_err("all missing");
        assert!(e.to_string().contains("`gap`"), "{e}");

        // Overflow while standardizing a scored value: NonFinite naming the
        // column and row, never a NaN/inf in the output.
        let x = FeatureMatrix::new(names(&["a"]), array![[0.0], [1e-150]]).expect("valid");
        let p = Preprocessor::fit(&x).expect("fit");
        let big = FeatureMatrix::new(names(&["a"]), array![[0.0], [1e300]]).expect("valid");
        match p.transform(&big) {
            Err(ModelError::NonFinite { column, row, .. }) => {
                assert_eq!((column.as_str(), row), ("a", 1));
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }

    #[test]
    fn json_round_trip_and_validation() {
        let x = FeatureMatrix::new(
            names(&["recency", "frequency"]),
            array![[1.0, f64::NAN], [5.0, 2.0], [9.0, 4.0]],
        )
        .expect("valid");
        let p = Preprocessor::fit(&x).expect("fit");
        let json = p.to_json().expect("json");
        let back = Preprocessor::from_json(&json).expect("read back");
        assert_eq!(back, p);
        assert_eq!(back.transform(&x).expect("t"), p.transform(&x).expect("t"));
        assert_eq!(back.feature_names(), names(&["recency", "frequency"]));

        // Exact, also for values serde_json's default parser rounds wrongly.
        let awkward = Preprocessor::from_columns(vec![ColumnTransform {
            name: "v".into(),
            median: 10.015054738462249,
            mean: 0.1 + 0.2,
            std: 20.07362072200034,
            missing_share: 0.0,
        }])
        .expect("valid");
        let back = Preprocessor::from_json(&awkward.to_json().expect("json")).expect("read");
        assert_eq!(back, awkward);

        // Plain numbers are accepted; a tampered file (std 0) is refused.
        let plain =
            r#"{"columns":[{"name":"v","median":1.5,"mean":2,"std":0.5,"missing_share":0}]}"#;
        let p = Preprocessor::from_json(plain).expect("plain numbers");
        assert_eq!(p.columns()[0].std, 0.5);
        let bad = plain.replace("\"std\":0.5", "\"std\":0");
        let e = Preprocessor::from_json(&bad).expect_err("std 0");
        assert!(e.to_string().contains("std"), "{e}");
    }
}
