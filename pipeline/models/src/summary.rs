//! Per-customer RFM summaries `(x, t_x, T, m)` and their grouped (weighted)
//! form.
//!
//! Conventions (the BTYD convention, see `/work/shared/METRICS.md`):
//!
//! * a transaction is a customer-day with at least one order; all orders of one
//!   day are one transaction whose value is their sum;
//! * `x` = number of distinct purchase days - 1 (repeat transactions);
//! * `t_x` = last purchase day - first purchase day;
//! * `T` = cutoff - first purchase day;
//! * `m` = mean day-total over the repeat days (the first day excluded), `0`
//!   when `x = 0`.
//!
//! **All durations in this module are in days.** A model converts them to its
//! own [`TimeUnit`] when it is fitted and records the unit in its fitted
//! parameters; every prediction takes horizons in days. Daily and weekly fits
//! therefore cannot be mixed up by a caller.
//!
//! Fitting cost is proportional to the number of *distinct* `(x, t_x, T)`
//! triples, not to the number of customers: [`Summary::group`] collapses
//! identical rows into a [`GroupedSummary`] with weights, so 10 million
//! customers with day-resolution dates fit in about the time of a few tens of
//! thousands of rows.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result, check_non_negative, check_positive};

/// The time unit a model is fitted in. Raw data are always in days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum TimeUnit {
    /// One unit = one day.
    Days,
    /// One unit = seven days.
    Weeks,
    /// One unit = the given number of days (finite, `> 0`), e.g. `30.4375`
    /// for average months.
    CustomDays(f64),
}

impl TimeUnit {
    /// Number of days in one unit.
    pub fn days_per_unit(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
            TimeUnit::CustomDays(d) => d,
        }
    }

    /// Checks that a custom unit is finite and positive.
    pub fn validate(self) -> Result<()> {
        check_positive("time_unit.days_per_unit", self.days_per_unit())
    }

    /// Converts a duration in days to this unit.
    pub fn from_days(self, days: f64) -> f64 {
        days / self.days_per_unit()
    }
}

/// One customer's summary at the cutoff. Durations are in **days**.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Repeat transactions (distinct purchase days - 1).
    pub x: u32,
    /// Recency: last purchase day - first purchase day, in days.
    pub t_x: f64,
    /// Age: cutoff - first purchase day, in days (`T` in the papers).
    pub t: f64,
    /// Mean value of the repeat transactions (`0` when `x = 0`; ignored by
    /// the models when `x = 0`).
    pub m: f64,
}

impl Customer {
    /// Builds and validates a customer (see [`Customer::validate`]).
    pub fn new(x: u32, t_x: f64, t: f64, m: f64) -> Result<Self> {
        let c = Customer { x, t_x, t, m };
        c.validate()?;
        Ok(c)
    }

    /// A customer without monetary value (for the transaction models).
    pub fn rft(x: u32, t_x: f64, t: f64) -> Result<Self> {
        Self::new(x, t_x, t, 0.0)
    }

    /// Validation rules: `t_x`, `T`, `m` finite and `>= 0`; `t_x <= T`;
    /// `t_x = 0` when `x = 0`; `t_x > 0` when `x > 0` (repeat purchases are on
    /// later days than the first one).
    pub fn validate(&self) -> Result<()> {
        validate_rft(self.x, self.t_x, self.t, "")?;
        check_non_negative("m", self.m)
    }
}

/// Validates one `(x, t_x, T)` triple; `ctx` is appended to the field names
/// (e.g. `"[12]"` for row 12).
pub(crate) fn validate_rft(x: u32, t_x: f64, t: f64, ctx: &str) -> Result<()> {
    if rft_ok(x, t_x, t) {
        return Ok(());
    }
    check_non_negative(&format!("t_x{ctx}"), t_x)?;
    check_non_negative(&format!("T{ctx}"), t)?;
    if t_x > t {
        return Err(ModelError::invalid(
            format!("t_x{ctx}"),
            format!("recency t_x = {t_x} must be <= age T = {t}"),
        ));
    }
    if x == 0 && t_x != 0.0 {
        return Err(ModelError::invalid(
            format!("t_x{ctx}"),
            format!("must be 0 when x = 0 (no repeat purchase), got {t_x}"),
        ));
    }
    if x > 0 && t_x <= 0.0 {
        return Err(ModelError::invalid(
            format!("t_x{ctx}"),
            format!("must be > 0 when x = {x} > 0 (repeat purchases come after the first one)"),
        ));
    }
    Ok(())
}

/// The rules of [`validate_rft`] as a test that allocates nothing (the
/// error message with its field name is only built for a bad row).
fn rft_ok(x: u32, t_x: f64, t: f64) -> bool {
    let non_negative = |v: f64| v.is_finite() && v >= 0.0;
    non_negative(t_x) && non_negative(t) && t_x <= t && ((x == 0) == (t_x == 0.0))
}

/// Per-customer summaries (one row per customer), validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    customers: Vec<Customer>,
}

impl Summary {
    /// Validates every row; the error names the first bad row.
    pub fn new(customers: Vec<Customer>) -> Result<Self> {
        for (i, c) in customers.iter().enumerate() {
            if !(rft_ok(c.x, c.t_x, c.t) && c.m.is_finite() && c.m >= 0.0) {
                validate_rft(c.x, c.t_x, c.t, &format!("[{i}]"))?;
                check_non_negative(&format!("m[{i}]"), c.m)?;
            }
        }
        Ok(Summary { customers })
    }

    /// The customers, in input order.
    pub fn customers(&self) -> &[Customer] {
        &self.customers
    }

    /// Number of customers.
    pub fn len(&self) -> usize {
        self.customers.len()
    }

    /// True when there are no customers.
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    /// Number of customers with at least one repeat purchase.
    pub fn repeat_customers(&self) -> usize {
        self.customers.iter().filter(|c| c.x > 0).count()
    }

    /// Collapses customers with identical `(x, t_x, T)` into weighted rows
    /// (weight = number of customers). Rows are sorted by `(x, t_x, T)` so the
    /// result does not depend on the input order.
    pub fn group(&self) -> GroupedSummary {
        // Sort the keys, then count runs: for 10M customers a sort of
        // 20-byte keys is several times faster than a (SipHash) hash map,
        // and the rows come out in order.
        let mut keys: Vec<(u32, u64, u64)> = self
            .customers
            .iter()
            // `+ 0.0` turns -0.0 into 0.0 so both land in the same group;
            // the bits of non-negative doubles sort like the values.
            .map(|c| (c.x, (c.t_x + 0.0).to_bits(), (c.t + 0.0).to_bits()))
            .collect();
        {
            use rayon::prelude::*;
            keys.par_sort_unstable();
        }
        let mut rows: Vec<GroupedRow> = Vec::new();
        for (x, tx, t) in keys {
            match rows.last_mut() {
                Some(last) if last.x == x && last.t_x.to_bits() == tx && last.t.to_bits() == t => {
                    last.weight += 1.0;
                }
                _ => rows.push(GroupedRow {
                    x,
                    t_x: f64::from_bits(tx),
                    t: f64::from_bits(t),
                    weight: 1.0,
                }),
            }
        }
        GroupedSummary { rows }
    }
}

/// One group of customers sharing `(x, t_x, T)` (days).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupedRow {
    /// Repeat transactions.
    pub x: u32,
    /// Recency in days.
    pub t_x: f64,
    /// Age in days.
    pub t: f64,
    /// Number of customers (or any positive weight).
    pub weight: f64,
}

/// Weighted `(x, t_x, T)` rows, in days. The input of the transaction-model
/// fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupedSummary {
    rows: Vec<GroupedRow>,
}

impl GroupedSummary {
    /// Builds from already weighted rows (validated: consistent `(x, t_x, T)`,
    /// weights finite and `> 0`).
    pub fn from_rows(rows: Vec<GroupedRow>) -> Result<Self> {
        for (i, r) in rows.iter().enumerate() {
            validate_rft(r.x, r.t_x, r.t, &format!("[{i}]"))?;
            check_positive(&format!("weight[{i}]"), r.weight)?;
        }
        Ok(GroupedSummary { rows })
    }

    /// The rows.
    pub fn rows(&self) -> &[GroupedRow] {
        &self.rows
    }

    /// Number of distinct rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Sum of the weights (number of customers).
    pub fn total_weight(&self) -> f64 {
        self.rows.iter().map(|r| r.weight).sum()
    }

    /// Rows converted to `unit`, as `(x, t_x, T, weight)`; errors when there
    /// are no rows.
    pub(crate) fn in_unit(&self, unit: TimeUnit, model: &'static str) -> Result<Vec<UnitRow>> {
        unit.validate()?;
        if self.rows.is_empty() {
            return Err(ModelError::fit(model, "no customers to fit"));
        }
        let k = unit.days_per_unit();
        Ok(self
            .rows
            .iter()
            .map(|r| UnitRow {
                x: f64::from(r.x),
                t_x: r.t_x / k,
                t: r.t / k,
                w: r.weight,
            })
            .collect())
    }
}

impl From<&Summary> for GroupedSummary {
    fn from(s: &Summary) -> Self {
        s.group()
    }
}

/// A grouped row in model units (internal).
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitRow {
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
    pub w: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_inconsistent_rows() {
        assert!(Customer::rft(0, 3.0, 10.0).is_err(), "x = 0 needs t_x = 0");
        assert!(Customer::rft(2, 0.0, 10.0).is_err(), "x > 0 needs t_x > 0");
        assert!(Customer::rft(2, 11.0, 10.0).is_err(), "t_x <= T");
        assert!(Customer::rft(1, f64::NAN, 10.0).is_err());
        assert!(Customer::rft(1, 1.0, f64::INFINITY).is_err());
        assert!(Customer::rft(1, -1.0, 10.0).is_err());
        assert!(Customer::new(1, 1.0, 10.0, f64::NAN).is_err());
        assert!(Customer::new(1, 1.0, 10.0, -2.0).is_err());
        assert!(Customer::rft(0, 0.0, 0.0).is_ok());
        let err = Summary::new(vec![
            Customer::rft(1, 1.0, 2.0).expect("valid"),
            Customer {
                x: 1,
                t_x: f64::NAN,
                t: 2.0,
                m: 0.0,
            },
        ])
        .expect_err("NaN must be rejected");
        assert!(err.to_string().contains("t_x[1]"), "{err}");
    }

    #[test]
    fn grouping_collapses_identical_rows() {
        let c = |x, tx, t| Customer::rft(x, tx, t).expect("valid");
        let s = Summary::new(vec![
            c(0, 0.0, 10.0),
            c(1, 3.0, 10.0),
            c(0, 0.0, 10.0),
            c(0, -0.0, 10.0),
            c(1, 3.0, 12.0),
        ])
        .expect("valid");
        let g = s.group();
        assert_eq!(g.len(), 3);
        assert_eq!(g.total_weight(), 5.0);
        assert_eq!(g.rows()[0].weight, 3.0);
        assert_eq!(g.rows()[1].t, 10.0);
        assert!(
            GroupedSummary::from_rows(vec![GroupedRow {
                x: 0,
                t_x: 0.0,
                t: 1.0,
                weight: 0.0
            }])
            .is_err()
        );
    }

    #[test]
    fn time_unit_conversion_and_serde() {
        assert_eq!(TimeUnit::Weeks.from_days(14.0), 2.0);
        assert_eq!(TimeUnit::CustomDays(30.0).from_days(60.0), 2.0);
        assert!(TimeUnit::CustomDays(0.0).validate().is_err());
        assert!(TimeUnit::CustomDays(f64::NAN).validate().is_err());
        for u in [
            TimeUnit::Days,
            TimeUnit::Weeks,
            TimeUnit::CustomDays(30.4375),
        ] {
            let s = serde_json::to_string(&u).expect("serialize");
            let back: TimeUnit = serde_json::from_str(&s).expect("deserialize");
            assert_eq!(u, back);
        }
    }
}
