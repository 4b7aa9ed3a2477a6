//! BG/NBD + Gamma-Gamma at one cutoff: the probabilistic baseline of every
//! target, and the source of the BTYD input features of the feature models.

use serde::{Deserialize, Serialize};

use fidelis_core::{Error, Result, ResultExt};
use fidelis_models::{
    BgNbd, Customer, FitDiagnostics, FitOptions, GammaGamma, ParetoNbd, Summary, TimeUnit,
    TransactionModel,
};

use crate::table::FeatureTable;

/// BG/NBD and Gamma-Gamma fitted on the buyers of one feature table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BtydFit {
    /// The cutoff the fit used (the feature table's `as_of`).
    pub as_of: String,
    pub bgnbd: BgNbd,
    pub bgnbd_diagnostics: FitDiagnostics,
    /// `None` when the spend model cannot be fitted (no repeat buyer with a
    /// positive spend, or `q <= 1`); `gamma_gamma_note` says why, and every
    /// customer's expected order-day value is then `fallback_value`.
    pub gamma_gamma: Option<GammaGamma>,
    pub gamma_gamma_note: Option<String>,
    /// Mean repeat order-day value of the repeat buyers (0 without any).
    pub fallback_value: f64,
}

/// What the BTYD models say about one customer for one horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BtydPrediction {
    pub p_alive: f64,
    /// Expected order days in `(C, C + h]`.
    pub expected_orders: f64,
    /// P(no order day in `(C, C + h]`).
    pub p_no_order: f64,
    /// Expected value of an order day (Gamma-Gamma).
    pub expected_value: f64,
}

impl BtydPrediction {
    pub fn expected_revenue(&self) -> f64 {
        self.expected_orders * self.expected_value
    }
}

impl BtydFit {
    /// Fits on the buyers of `table` (weeks as the fitting unit: the
    /// parameters are then on the scale practitioners quote; data stay in
    /// days).
    pub fn fit(table: &FeatureTable, as_of: &str) -> Result<Self> {
        let customers: Vec<Customer> = table.customers()?.into_iter().flatten().collect();
        if customers.is_empty() {
            return Err(Error::data(
                format!("features as of {as_of}"),
                "no customer has an order day: nothing to fit the BTYD models on",
            ));
        }
        let summary = Summary::new(customers).quality("BTYD summary")?;
        let fit = BgNbd::fit(&summary.group(), TimeUnit::Weeks, &FitOptions::default())
            .quality(format!("BG/NBD as of {as_of}"))?;
        let repeat: Vec<f64> = summary
            .customers()
            .iter()
            .filter(|c| c.x > 0)
            .map(|c| c.m)
            .collect();
        let fallback_value = if repeat.is_empty() {
            0.0
        } else {
            repeat.iter().sum::<f64>() / repeat.len() as f64
        };
        let (gamma_gamma, gamma_gamma_note) = match GammaGamma::fit(
            &summary,
            &FitOptions::default(),
        ) {
            Ok(f) => (Some(f.params), None),
            Err(e) => (
                None,
                Some(format!(
                    "Gamma-Gamma not fitted ({e}); every order day is valued at the mean repeat value {fallback_value:.4}"
                )),
            ),
        };
        Ok(Self {
            as_of: as_of.to_string(),
            bgnbd: fit.params,
            bgnbd_diagnostics: fit.diagnostics,
            gamma_gamma,
            gamma_gamma_note,
            fallback_value,
        })
    }

    /// Predictions for one customer over `horizon_days`.
    pub fn predict(&self, c: &Customer, horizon_days: f64) -> Result<BtydPrediction> {
        let e = |what: &str, err: fidelis_models::ModelError| {
            Error::internal(format!("BTYD {what}: {err}"))
        };
        let p_alive = self.bgnbd.p_alive(c).map_err(|x| e("P(alive)", x))?;
        let expected_orders = self
            .bgnbd
            .expected_transactions(c, horizon_days)
            .map_err(|x| e("expected orders", x))?;
        let p_no_order = self
            .bgnbd
            .prob_no_purchase(c, horizon_days)
            .map_err(|x| e("P(no order)", x))?;
        let expected_value = match &self.gamma_gamma {
            Some(g) => g
                .conditional_expected_value(c.x, c.m)
                .map_err(|x| e("expected value", x))?,
            None => self.fallback_value,
        };
        Ok(BtydPrediction {
            p_alive,
            expected_orders,
            p_no_order: p_no_order.clamp(0.0, 1.0),
            expected_value: expected_value.max(0.0),
        })
    }

    /// Predictions for every row of `table` (`None` for prospects).
    pub fn predict_table(
        &self,
        table: &FeatureTable,
        horizon_days: f64,
    ) -> Result<Vec<Option<BtydPrediction>>> {
        self.predict_all(&table.customers()?, horizon_days)
    }

    /// Predictions for summaries already read ([`FeatureTable::customers`]).
    pub fn predict_all(
        &self,
        customers: &[Option<Customer>],
        horizon_days: f64,
    ) -> Result<Vec<Option<BtydPrediction>>> {
        use rayon::prelude::*;
        customers
            .par_iter()
            .map(|c| {
                c.as_ref()
                    .map(|c| self.predict(c, horizon_days))
                    .transpose()
            })
            .collect()
    }
}

/// Customers a Pareto/NBD fit uses at most ([`fit_pareto`]).
pub const PARETO_FIT_CUSTOMERS: usize = 10_000;

/// Pareto/NBD fitted on the buyers of `table` (weeks, like BG/NBD), or on
/// the [`PARETO_FIT_CUSTOMERS`] of them with the smallest
/// `SHA-256("fidelis-pareto:" || customer_id)` when there are more. Its
/// likelihood needs two hypergeometric functions per distinct customer
/// history and its gradient is by finite differences: 1.6 s on 10,000
/// customers (release-optimised model code), so it is fitted on a fixed
/// sample rather than on a million customers; its four parameters are
/// population-level and a sample of 10,000 estimates them well.
pub fn fit_pareto(table: &FeatureTable, as_of: &str) -> Result<ParetoNbd> {
    let customers = table.customers()?;
    let mut buyers: Vec<([u8; 32], usize, Customer)> = customers
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| (crate::id_hash("fidelis-pareto:", &table.ids[i]), i, c)))
        .collect();
    if buyers.is_empty() {
        return Err(Error::data(
            format!("features as of {as_of}"),
            "no customer has an order day: nothing to fit Pareto/NBD on",
        ));
    }
    if buyers.len() > PARETO_FIT_CUSTOMERS {
        buyers.select_nth_unstable_by(PARETO_FIT_CUSTOMERS, |a, b| a.0.cmp(&b.0));
        buyers.truncate(PARETO_FIT_CUSTOMERS);
        // In table order, as without sampling.
        buyers.sort_unstable_by_key(|b| b.1);
    }
    let summary = Summary::new(buyers.into_iter().map(|(_, _, c)| c).collect())
        .quality("Pareto/NBD summary")?;
    Ok(
        ParetoNbd::fit(&summary.group(), TimeUnit::Weeks, &FitOptions::default())
            .quality(format!("Pareto/NBD as of {as_of}"))?
            .params,
    )
}
