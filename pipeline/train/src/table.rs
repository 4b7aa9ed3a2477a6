//! The staged feature and label tables, read into columns the models use.
//!
//! Rows are sorted by `customer_id` when read, so everything downstream
//! (training samples, seeds, sums) is independent of the order in which the
//! SQL engine happened to write them.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};

use fidelis_core::{Error, Result};
use fidelis_models::Customer;

/// Columns of the feature table that are not model inputs: the key, the
/// cutoff and the population flag.
const NOT_FEATURES: &[&str] = &["customer_id", "as_of", "has_orders"];

/// One feature table (one cutoff), by column.
#[derive(Debug, Clone, Default)]
pub struct FeatureTable {
    /// Customer ids, sorted.
    pub ids: Vec<String>,
    /// Numeric and boolean columns as `f64` (`NaN` = null), in file order.
    pub numeric: Vec<(String, Vec<f64>)>,
    /// String columns (preferred channel, top category, ...).
    pub text: Vec<(String, Vec<Option<String>>)>,
    /// `has_orders`: an order day on or before the cutoff (the population of
    /// labels, metrics and training).
    pub has_orders: Vec<bool>,
}

fn ids_of(col: &dyn Array, what: &str) -> Result<Vec<String>> {
    let s = cast(col, &DataType::Utf8)
        .map_err(|e| Error::internal_with(format!("{what}: customer_id as text"), e))?;
    let s = s.as_string::<i32>();
    (0..s.len())
        .map(|i| {
            if s.is_null(i) {
                Err(Error::internal(format!(
                    "{what}: null customer_id in row {i}"
                )))
            } else {
                Ok(s.value(i).to_string())
            }
        })
        .collect()
}

fn floats_of(col: &dyn Array, name: &str) -> Result<Vec<f64>> {
    let f = cast(col, &DataType::Float64)
        .map_err(|e| Error::internal_with(format!("column {name} as float"), e))?;
    let f = f.as_primitive::<Float64Type>();
    Ok((0..f.len())
        .map(|i| if f.is_null(i) { f64::NAN } else { f.value(i) })
        .collect())
}

fn is_numeric(dt: &DataType) -> bool {
    dt.is_numeric() || matches!(dt, DataType::Boolean)
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// The position of each id.
fn index_of(ids: &[String]) -> HashMap<&str, usize> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect()
}

/// The permutation that sorts `ids`.
fn sort_order(ids: &[String]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| ids[a].cmp(&ids[b]));
    order
}

fn permute<T: Clone>(v: &[T], order: &[usize]) -> Vec<T> {
    order.iter().map(|&i| v[i].clone()).collect()
}

impl FeatureTable {
    /// Reads the batches of one feature file (`what` names it in errors).
    pub fn from_batches(batches: &[RecordBatch], what: &str) -> Result<Self> {
        let Some(first) = batches.first() else {
            return Ok(Self::default());
        };
        let schema = first.schema();
        let mut ids = Vec::new();
        let mut numeric: Vec<(String, Vec<f64>)> = Vec::new();
        let mut text: Vec<(String, Vec<Option<String>>)> = Vec::new();
        let mut has_orders = Vec::new();
        for f in schema.fields() {
            if NOT_FEATURES.contains(&f.name().as_str()) {
                continue;
            }
            if is_numeric(f.data_type()) {
                numeric.push((f.name().clone(), Vec::new()));
            } else if is_text(f.data_type()) {
                text.push((f.name().clone(), Vec::new()));
            }
        }
        for b in batches {
            let col = |name: &str| {
                b.column_by_name(name)
                    .ok_or_else(|| Error::internal(format!("{what}: no column {name}")))
            };
            ids.extend(ids_of(col("customer_id")?.as_ref(), what)?);
            let ho = floats_of(col("has_orders")?.as_ref(), "has_orders")?;
            has_orders.extend(ho.iter().map(|v| *v == 1.0));
            for (name, values) in &mut numeric {
                values.extend(floats_of(col(name)?.as_ref(), name)?);
            }
            for (name, values) in &mut text {
                let s = cast(col(name)?.as_ref(), &DataType::Utf8)
                    .map_err(|e| Error::internal_with(format!("{what}: {name} as text"), e))?;
                let s = s.as_string::<i32>();
                values
                    .extend((0..s.len()).map(|i| (!s.is_null(i)).then(|| s.value(i).to_string())));
            }
        }
        let order = sort_order(&ids);
        Ok(Self {
            ids: permute(&ids, &order),
            has_orders: permute(&has_orders, &order),
            numeric: numeric
                .into_iter()
                .map(|(n, v)| (n, permute(&v, &order)))
                .collect(),
            text: text
                .into_iter()
                .map(|(n, v)| (n, permute(&v, &order)))
                .collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// A numeric column by name.
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.numeric
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A numeric column that must exist.
    pub fn require(&self, name: &str) -> Result<&[f64]> {
        self.column(name)
            .ok_or_else(|| Error::internal(format!("the feature table has no column {name}")))
    }

    /// Row index of each customer id.
    pub fn index(&self) -> HashMap<&str, usize> {
        index_of(&self.ids)
    }

    /// The rows of customers with an order day (the model population).
    pub fn buyers(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.has_orders[i]).collect()
    }

    /// The BTYD summary `(x, t_x, T, m)` in days of row `i`, `None` for a
    /// prospect. A negative repeat mean (returns larger than purchases)
    /// counts as 0 spend.
    pub fn customer(&self, i: usize) -> Result<Option<Customer>> {
        self.customer_with(&self.summary_columns()?, i)
    }

    /// [`FeatureTable::customer`] of every row, the columns looked up once.
    pub fn customers(&self) -> Result<Vec<Option<Customer>>> {
        let cols = self.summary_columns()?;
        (0..self.len())
            .map(|i| self.customer_with(&cols, i))
            .collect()
    }

    fn summary_columns(&self) -> Result<[&[f64]; 4]> {
        Ok([
            self.require("btyd_x")?,
            self.require("btyd_t_x")?,
            self.require("btyd_t")?,
            self.require("btyd_m")?,
        ])
    }

    fn customer_with(&self, cols: &[&[f64]; 4], i: usize) -> Result<Option<Customer>> {
        if !self.has_orders[i] {
            return Ok(None);
        }
        let [x, t_x, t, m] = cols.map(|c| c[i]);
        if ![x, t_x, t].iter().all(|v| v.is_finite() && *v >= 0.0) {
            return Err(Error::internal(format!(
                "customer {}: BTYD summary x={x} t_x={t_x} T={t} is not a valid history",
                self.ids[i]
            )));
        }
        let m = if m.is_finite() { m.max(0.0) } else { 0.0 };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let x = x as u32;
        Customer::new(x, t_x, t, if x == 0 { 0.0 } else { m })
            .map(Some)
            .map_err(|e| Error::internal(format!("customer {}: {e}", self.ids[i])))
    }

    /// Days of order history before the cutoff: the longest tenure.
    pub fn history_days(&self) -> f64 {
        self.column("tenure_days")
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|x| x.is_finite())
                    .fold(0.0, f64::max)
            })
            .unwrap_or(0.0)
    }
}

/// One label table (a cutoff and a horizon).
#[derive(Debug, Clone, Default)]
pub struct LabelTable {
    pub ids: Vec<String>,
    pub churned: Vec<bool>,
    pub revenue: Vec<f64>,
}

impl LabelTable {
    pub fn from_batches(batches: &[RecordBatch], what: &str) -> Result<Self> {
        let mut ids = Vec::new();
        let mut churned = Vec::new();
        let mut revenue = Vec::new();
        for b in batches {
            let col = |name: &str| {
                b.column_by_name(name)
                    .ok_or_else(|| Error::internal(format!("{what}: no column {name}")))
            };
            ids.extend(ids_of(col("customer_id")?.as_ref(), what)?);
            churned.extend(
                floats_of(col("churned")?.as_ref(), "churned")?
                    .iter()
                    .map(|v| *v == 1.0),
            );
            revenue.extend(floats_of(col("revenue")?.as_ref(), "revenue")?);
        }
        let order = sort_order(&ids);
        Ok(Self {
            ids: permute(&ids, &order),
            churned: permute(&churned, &order),
            revenue: permute(&revenue, &order),
        })
    }

    /// Label row of each customer id.
    pub fn index(&self) -> HashMap<&str, usize> {
        index_of(&self.ids)
    }
}
