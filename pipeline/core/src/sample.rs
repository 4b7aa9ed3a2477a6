//! The backtest sample of a large run: the decision the feature stage takes
//! and every later stage reads (docs/models.md, "Backtest sample").

use serde::{Deserialize, Serialize};

/// The customers the backtest cutoffs of a run see, when there are too
/// many to need them all (`models.backtest_customers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestSample {
    /// Customers with a features row as of the run date.
    pub customers: u64,
    /// The target share of them (`backtest_customers / customers`).
    pub share: f64,
    /// The rule: `md5('fidelis-backtest:' || customer_id) < md5_below`
    /// (lower-case hex; the first 8 hex digits of the threshold encode
    /// `share x 2^32`), a rule any SQL engine can apply.
    pub md5_below: String,
    /// Customers in the sample (among those of the orders and customers
    /// tables).
    pub sampled_customers: u64,
    /// Rows staged per table.
    pub rows: std::collections::BTreeMap<String, u64>,
}
