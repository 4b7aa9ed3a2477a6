//! fidelis-models: BTYD models, linfa feature models, metrics, for train.
//! No stage of its own: fidelis-train calls it; it builds and tests in seconds.
//! Never depends on: DataFusion, object stores, async (docs/architecture.md).
//!
//! Probabilistic customer-lifetime-value models for fidelis.
//!
//! * [`summary`]: per-customer `(x, t_x, T, m)` in days, grouping, and the
//!   explicit [`TimeUnit`] a model is fitted in.
//! * [`hyp2f1`]: the Gauss hypergeometric function the models need.
//! * [`bgnbd`]: BG/NBD (Fader, Hardie & Lee 2005) and MBG/NBD (Batislam et
//!   al. 2007).
//! * [`pareto_nbd`]: Pareto/NBD (Schmittlein, Morrison & Colombo 1987; the
//!   likelihood of Fader & Hardie 2005).
//! * [`gamma_gamma`]: the Gamma-Gamma spend model (Fader, Hardie & Lee 2005,
//!   "RFM and CLV"; Colombo & Jiang 1999).
//! * [`clv`]: discounted customer lifetime value.
//! * [`metrics`]: evaluation metrics exactly as defined in
//!   `/work/shared/METRICS.md`.
//! * [`features`]: named feature matrices and the fitted [`Preprocessor`]
//!   (median imputation, standardization) of the feature models.
//! * [`churn`]: P(churn) from features: L2 logistic regression
//!   (`linfa-logistic`) with per-customer drivers, and a bagged-tree
//!   challenger (`linfa-trees`) scoring the trees' vote share; the
//!   logistic model's L2 penalty chosen by customer-fold cross-validation
//!   ([`choose_l2`]).
//! * [`calibration`]: Platt scaling of churn probabilities.
//! * [`revenue`]: revenue in a horizon from features: Tweedie / Poisson GLM
//!   with a log link (`linfa-linear`).
//!
//! All inputs are validated; nothing panics on bad data (errors are
//! [`ModelError`]). Raw durations are always days; fitted parameters record
//! their time unit and every prediction takes horizons in days.
//!
//! # Typical use
//!
//! ```
//! use fidelis_models::{
//!     BgNbd, ClvConfig, Customer, FitOptions, GammaGamma, Summary, TimeUnit,
//!     TransactionModel, customer_lifetime_value,
//! };
//!
//! # fn main() -> fidelis_models::Result<()> {
//! // (x, t_x, T, m) in days per customer, at the cutoff.
//! let summary = Summary::new(vec![
//!     Customer::new(2, 213.0, 272.0, 22.35)?,
//!     Customer::new(1, 12.0, 272.0, 11.77)?,
//!     Customer::new(0, 0.0, 272.0, 0.0)?,
//!     Customer::new(0, 0.0, 200.0, 0.0)?,
//!     Customer::new(4, 150.0, 190.0, 30.0)?,
//!     Customer::new(1, 100.0, 250.0, 18.0)?,
//! ])?;
//! let fit = BgNbd::fit(&summary.group(), TimeUnit::Weeks, &FitOptions::default())?;
//! let c = &summary.customers()[0];
//! let p_alive = fit.params.p_alive(c)?;
//! let next_quarter = fit.params.expected_transactions(c, 92.0)?; // horizon in days
//! assert!((0.0..=1.0).contains(&p_alive) && next_quarter >= 0.0);
//!
//! // Spend model (normally `GammaGamma::fit(&summary, ..)?.params` on
//! // enough repeat customers), then a one-year CLV at 10 % a year and a 30 %
//! // margin, net of a known acquisition cost.
//! let spend = GammaGamma { p: 6.25, q: 3.74, gamma: 15.44 };
//! let clv = customer_lifetime_value(
//!     &fit.params,
//!     &spend,
//!     c,
//!     &ClvConfig::monthly(365.0, 0.10, 0.30),
//!     Some(5.0),
//! )?;
//! assert!(clv.clv >= 0.0 && clv.net_clv.is_some());
//! # Ok(())
//! # }
//! ```
//!
//! # Feature models
//!
//! ```
//! use fidelis_models::{
//!     FeatureMatrix, LogisticChurnModel, LogisticParams, RevenueModel, RevenueParams,
//! };
//!
//! # fn main() -> fidelis_models::Result<()> {
//! // One row per customer at the training cutoff; NaN = missing.
//! let x = FeatureMatrix::from_columns(vec![
//!     ("recency".into(), vec![3.0, 40.0, 90.0, 10.0, 75.0, 60.0]),
//!     ("mean_gap".into(), vec![12.0, f64::NAN, 30.0, 8.0, f64::NAN, 45.0]),
//! ])?;
//! let churned = [false, true, true, false, true, false];
//! let revenue = [20.0, 0.0, 0.0, 35.5, 0.0, 12.0];
//!
//! let churn = LogisticChurnModel::fit(&x, &churned, &LogisticParams::default())?;
//! let p_churn = churn.predict_proba(&x)?; // P(churn) in [0, 1]
//! let why = churn.top_churn_drivers(&x, 1)?; // feature names per customer
//! let json = churn.to_json()?; // score later with LogisticChurnModel::from_json
//!
//! let spend = RevenueModel::fit(&x, &revenue, &RevenueParams::default())?;
//! let expected = spend.predict(&x)?; // >= 0, finite
//! assert!(p_churn[1] > p_churn[0] && expected[3] > expected[1]);
//! assert_eq!(LogisticChurnModel::from_json(&json)?, churn);
//! # let _ = why;
//! # Ok(())
//! # }
//! ```
//!
//! # Performance
//!
//! Fits cost per *distinct* `(x, t_x, T)` row ([`Summary::group`]). On the
//! CDNOW sample (2,357 customers, 1,016 distinct rows) measured on the shared
//! 2-core build machine (noisy): release build: grouping 0.2 ms, BG/NBD
//! ~7 ms (19 L-BFGS iterations), MBG/NBD ~14 ms, Gamma-Gamma ~3 ms (946
//! rows), Pareto/NBD ~0.4 s (27 iterations; finite-difference gradient, two
//! `2F1` per repeat row per evaluation); in the unoptimised test build about
//! 2x slower for BG/NBD (~15 ms) and 3x for Pareto/NBD (~1 s). Fitting 10 million
//! customers costs the grouping pass plus a fit on their distinct rows.
//!
//! # Conventions checked against published numbers
//!
//! `m` is the mean of the *repeat* transactions (first purchase day
//! excluded): that convention reproduces the published Gamma-Gamma fit on
//! CDNOW (p 6.25, q 3.74, γ 15.44); the mean over all purchase days does not
//! (p ≈ 14.3, γ ≈ 7.3). See `tests/cdnow.rs` for all reproduced values.

pub mod bgnbd;
pub mod calibration;
pub mod churn;
pub mod clv;
pub mod error;
pub mod features;
pub mod gamma_gamma;
pub mod hyp2f1;
pub mod metrics;
mod newton;
mod numeric;
pub mod optim;
pub mod pareto_nbd;
pub mod revenue;
mod sampling;
pub mod summary;

pub use bgnbd::{BgNbd, BgNbdFit, MbgNbd, MbgNbdFit};
pub use calibration::Platt;
pub use churn::{
    ForestChurnModel, ForestParams, L2Choice, L2Score, LogisticChurnModel, LogisticParams,
    choose_l2,
};
pub use clv::{ClvConfig, ClvEstimate, customer_lifetime_value};
pub use error::{ModelError, Result};
pub use features::{ColumnTransform, FeatureMatrix, Preprocessor};
pub use gamma_gamma::{GammaGamma, GammaGammaFit, SpendRow};
pub use optim::{FitDiagnostics, FitOptions};
pub use pareto_nbd::{ParetoNbd, ParetoNbdFit};
pub use revenue::{RevenueModel, RevenueParams};
pub use sampling::TrainingSample;
pub use summary::{Customer, GroupedRow, GroupedSummary, Summary, TimeUnit};

/// A fitted model of the transaction process (BG/NBD, MBG/NBD, Pareto/NBD).
///
/// Customers and horizons are in **days**; implementations convert to their
/// own fitted unit.
pub trait TransactionModel {
    /// The unit the model was fitted in.
    fn time_unit(&self) -> TimeUnit;
    /// Probability that the customer is still alive at `T`.
    fn p_alive(&self, c: &Customer) -> Result<f64>;
    /// Expected number of transactions in `(T, T + horizon]` given the
    /// customer's history.
    fn expected_transactions(&self, c: &Customer, horizon_days: f64) -> Result<f64>;
    /// Expected number of repeat transactions in `(0, horizon]` for a
    /// customer who just made a first purchase (no history).
    fn expected_transactions_unconditional(&self, horizon_days: f64) -> Result<f64>;
}
