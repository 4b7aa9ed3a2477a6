//! fidelis-train: the cutoff plan, out-of-time backtests, one champion per
//! target, the JSON model set and scoring. The train and score stages.
//! Never depends on: DataFusion, object stores (docs/architecture.md).
//!
//! This crate reads the feature and label tables the feature stage staged
//! (as Arrow record batches: it has no DataFusion dependency, so it builds
//! and tests in seconds) and uses `fidelis-models` for every model.
//!
//! * [`plan`]: the cutoff plan: which cutoffs the backtests train and
//!   validate on, so which features and labels the feature stage computes.
//! * [`table`]: feature and label tables, sorted by customer id.
//! * [`btyd`]: BG/NBD + Gamma-Gamma fitted at a cutoff.
//! * [`backtest`]: candidates, validation metrics and the champion of each
//!   target (churn, revenue per horizon), refitted on the latest window.
//! * [`ModelSet`]: everything needed to score the run date, serializable
//!   (JSON), with a content hash as its version; [`score`] applies it.

pub mod backtest;
pub mod btyd;
pub mod plan;
pub mod table;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use fidelis_core::{Error, Result};
use fidelis_models::clv::discounted_transactions;
use fidelis_models::{ClvConfig, Customer, LogisticChurnModel, ParetoNbd, Platt, TransactionModel};

use backtest::{
    ChurnChampion, ChurnMetrics, RevenueChampion, RevenueMetrics, TargetReport, TrainParams,
    Window, design_matrix,
};
use btyd::{BtydFit, BtydPrediction};
use table::FeatureTable;

/// CLV economics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvSettings {
    pub margin: f64,
    pub annual_discount_rate: f64,
}

/// The churn model of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnArtifact {
    pub horizon_days: u32,
    pub champion: ChurnChampion,
    /// The logistic model refitted on the champion's latest windows, kept to
    /// explain every churn score (coefficient x standardized value),
    /// whichever model is champion; `None` when there was no feature-model
    /// backtest.
    pub explainer: Option<LogisticChurnModel>,
    /// The Platt map applied to the champion's probability, when its check
    /// on validation held (`metrics.json`'s `churn.calibration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Platt>,
}

/// The revenue model of one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevenueArtifact {
    pub horizon_days: u32,
    pub champion: RevenueChampion,
}

/// Everything that scores the run date. Serialized as `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSet {
    pub run_date: String,
    /// SHA-256 (first 16 hex digits) of the JSON of every other field: the
    /// same models give the same version, whenever they were trained.
    pub model_version: String,
    /// BG/NBD + Gamma-Gamma fitted on the features as of the run date.
    pub btyd: BtydFit,
    /// Pareto/NBD fitted on the features as of the run date
    /// ([`btyd::fit_pareto`]), when a champion is Pareto/NBD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pareto_nbd: Option<ParetoNbd>,
    pub churn: ChurnArtifact,
    pub revenue: Vec<RevenueArtifact>,
    pub clv: ClvSettings,
}

/// The backtest reports of a run: `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub run_date: String,
    pub model_version: String,
    pub history_days: f64,
    /// Share of the customers the backtest windows saw: `1` unless the
    /// feature stage sampled them (`models.backtest_customers`); the
    /// validation metrics are then measured on that sample.
    #[serde(default = "one")]
    pub backtest_customer_share: f64,
    pub churn: TargetReport<ChurnMetrics>,
    pub revenue: Vec<TargetReport<RevenueMetrics>>,
}

fn one() -> f64 {
    1.0
}

/// The windows of one target: features and labels at `D - h` (validation)
/// and at `D - 2h, D - 3h, ...` (training, pooled, most recent first), as
/// far as the history reaches.
#[derive(Debug, Clone)]
pub struct TargetWindows<'a> {
    pub horizon_days: u32,
    pub train: Vec<Window<'a>>,
    pub valid: Option<Window<'a>>,
}

/// Inputs of [`train`].
#[derive(Debug, Clone)]
pub struct TrainInputs<'a> {
    pub run_date: &'a str,
    /// The features as of the run date (BTYD refit, history length).
    pub current: &'a FeatureTable,
    pub churn: TargetWindows<'a>,
    pub revenue: Vec<TargetWindows<'a>>,
    pub clv: ClvSettings,
    /// Quality floors: the churn champion's validation ROC AUC and each
    /// revenue champion's normalized Gini.
    pub min_churn_auc: f64,
    pub min_revenue_gini: f64,
    /// Share of the customers the backtest windows hold (1 = all).
    pub backtest_customer_share: f64,
    pub seed: u64,
}

/// `SHA-256(salt || customer_id)`: the fixed, engine-independent draws of
/// the backtest (the split halves, the cross-validation folds, the
/// Pareto/NBD fit sample), each with a salt of its own so that they are
/// independent of one another and of the backtest sample's md5 rule.
pub(crate) fn id_hash(salt: &str, customer_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(customer_id.as_bytes());
    h.finalize().into()
}

fn version_of<T: Serialize>(v: &T) -> Result<String> {
    let json = serde_json::to_vec(v).map_err(|e| Error::internal_with("hashing the models", e))?;
    Ok(hex::encode(Sha256::digest(&json))[..16].to_string())
}

/// Backtest every target, keep the champions, refit them, and check the
/// quality floors (an [`Error::Quality`], exit code 5, names the target).
pub fn train(inputs: &TrainInputs<'_>) -> Result<(ModelSet, TrainReport)> {
    let params = TrainParams::new(inputs.seed);
    let history_days = inputs.current.history_days();
    let btyd = BtydFit::fit(inputs.current, inputs.run_date)?;
    tracing::info!(
        r = btyd.bgnbd.r,
        alpha = btyd.bgnbd.alpha,
        a = btyd.bgnbd.a,
        b = btyd.bgnbd.b,
        log_likelihood = btyd.bgnbd_diagnostics.log_likelihood,
        "BG/NBD fitted on the run date"
    );
    let c = &inputs.churn;
    let (churn_report, churn_champion, explainer) =
        backtest::churn(c.horizon_days, history_days, &c.train, c.valid, &params)?;
    tracing::info!(
        target = churn_report.target,
        champion = churn_report.champion,
        "churn backtest done"
    );
    let mut revenue = Vec::new();
    let mut revenue_reports = Vec::new();
    for t in &inputs.revenue {
        let (r, champion) =
            backtest::revenue(t.horizon_days, history_days, &t.train, t.valid, &params)?;
        tracing::info!(
            target = r.target,
            champion = r.champion,
            "revenue backtest done"
        );
        revenue.push(RevenueArtifact {
            horizon_days: t.horizon_days,
            champion,
        });
        revenue_reports.push(r);
    }
    // Pareto/NBD at the run date only when a champion needs it.
    let pareto_nbd = if matches!(churn_champion, ChurnChampion::ParetoNbd)
        || revenue
            .iter()
            .any(|r| matches!(r.champion, RevenueChampion::ParetoNbd))
    {
        Some(btyd::fit_pareto(inputs.current, inputs.run_date)?)
    } else {
        None
    };
    let mut set = ModelSet {
        run_date: inputs.run_date.to_string(),
        model_version: String::new(),
        btyd,
        pareto_nbd,
        churn: ChurnArtifact {
            horizon_days: c.horizon_days,
            champion: churn_champion,
            explainer,
            calibration: churn_report
                .calibration
                .as_ref()
                .filter(|c| c.applied)
                .map(|c| c.platt),
        },
        revenue,
        clv: inputs.clv,
    };
    set.model_version = version_of(&set)?;
    let report = TrainReport {
        run_date: inputs.run_date.to_string(),
        model_version: set.model_version.clone(),
        history_days,
        backtest_customer_share: inputs.backtest_customer_share,
        churn: churn_report,
        revenue: revenue_reports,
    };
    check_floors(&report, inputs.min_churn_auc, inputs.min_revenue_gini)?;
    Ok((set, report))
}

fn check_floors(r: &TrainReport, min_auc: f64, min_gini: f64) -> Result<()> {
    if let Some(m) = r.churn.champion_metrics()
        && m.roc_auc < min_auc
    {
        return Err(Error::quality(format!(
            "{} champion {} has validation ROC AUC {:.4} < models.min_churn_auc {min_auc}",
            r.churn.target, r.churn.champion, m.roc_auc
        )));
    }
    for t in &r.revenue {
        if let Some(m) = t.champion_metrics()
            && m.normalized_gini < min_gini
        {
            return Err(Error::quality(format!(
                "{} champion {} has validation normalized Gini {:.4} < models.min_revenue_gini {min_gini}",
                t.target, t.champion, m.normalized_gini
            )));
        }
    }
    Ok(())
}

/// Scores of the run date, one entry per customer of the feature table (in
/// its order, sorted by id). `None` is a null: BTYD fields of prospects, a
/// churn probability for a prospect when the champion is BG/NBD.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub ids: Vec<String>,
    pub churn_probability: Vec<Option<f64>>,
    pub p_alive: Vec<Option<f64>>,
    pub p_order_30d: Vec<Option<f64>>,
    /// Days from the run date to the expected next order day (see
    /// [`next_order_in_days`]); `None` when P(alive) < 0.5 or unknown.
    pub next_order_in_days: Vec<Option<i32>>,
    /// Per revenue horizon: (horizon, expected order days, expected revenue).
    pub horizons: Vec<HorizonScores>,
    pub clv_12m: Vec<Option<f64>>,
    pub net_clv_12m: Vec<Option<f64>>,
    pub top_reasons: Vec<Vec<String>>,
}

const CLV_DAYS: f64 = 365.0;

/// One nullable score per customer.
pub type Column = Vec<Option<f64>>;

/// A revenue horizon's scores: (days, expected order days, expected revenue).
pub type HorizonScores = (u32, Column, Column);

/// Rows per chunk when scoring: each chunk's model matrix (~110 columns)
/// is built, used and dropped in parallel, so memory stays bounded however
/// many customers there are.
const SCORE_CHUNK: usize = 65_536;

/// `f` over chunks of `0..n` in parallel, concatenated in order.
fn by_chunks<T: Send>(n: usize, f: impl Fn(&[usize]) -> Result<Vec<T>> + Sync) -> Result<Vec<T>> {
    use rayon::prelude::*;
    let chunks: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(SCORE_CHUNK)
        .map(<[usize]>::to_vec)
        .collect();
    let parts: Vec<Vec<T>> = chunks
        .par_iter()
        .map(|rows| f(rows))
        .collect::<Result<_>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// Score every customer of `features` (the features as of the run date).
pub fn score(set: &ModelSet, features: &FeatureTable) -> Result<Scores> {
    let n = features.len();
    // The BTYD summaries are read once and serve every horizon and the CLV.
    let customers = features.customers()?;
    let btyd_h = |h: u32| set.btyd.predict_all(&customers, f64::from(h));
    let churn_h = set.churn.horizon_days;
    let churn_btyd = btyd_h(churn_h)?;
    let model_err = |what: &str, e: fidelis_models::ModelError| {
        Error::internal_with(format!("scoring with the {what}"), e)
    };
    let pareto = || {
        set.pareto_nbd.as_ref().ok_or_else(|| {
            Error::internal("a Pareto/NBD champion without the run date's Pareto/NBD fit")
        })
    };
    // A Pareto/NBD prediction of every buyer (`None` for prospects).
    let pareto_all = |f: &(dyn Fn(&ParetoNbd, &Customer) -> fidelis_models::Result<f64> + Sync)| {
        let m = pareto()?;
        use rayon::prelude::*;
        customers
            .par_iter()
            .map(|c| {
                c.as_ref()
                    .map(|c| f(m, c).map_err(|e| model_err("Pareto/NBD", e)))
                    .transpose()
            })
            .collect::<Result<Vec<Option<f64>>>>()
    };
    let churn_probability: Vec<Option<f64>> = match &set.churn.champion {
        ChurnChampion::Bgnbd => churn_btyd.iter().map(|p| p.map(|p| p.p_no_order)).collect(),
        ChurnChampion::ParetoNbd => pareto_all(&|m, c| m.prob_no_purchase(c, f64::from(churn_h)))?,
        ChurnChampion::Logistic { model } => by_chunks(n, |rows| {
            let x = design_matrix(features, rows, &model.feature_names(), &churn_btyd)?;
            let p = model
                .predict_proba(&x)
                .map_err(|e| model_err("logistic model", e))?;
            Ok(p.into_iter().map(Some).collect())
        })?,
        ChurnChampion::Forest { model } => by_chunks(n, |rows| {
            let x = design_matrix(
                features,
                rows,
                &model.preprocessor().feature_names(),
                &churn_btyd,
            )?;
            let p = model
                .predict_proba(&x)
                .map_err(|e| model_err("forest", e))?;
            Ok(p.into_iter().map(Some).collect())
        })?,
        ChurnChampion::Blend { model } => by_chunks(n, |rows| {
            let x = design_matrix(features, rows, &model.feature_names(), &churn_btyd)?;
            let p = model
                .predict_proba(&x)
                .map_err(|e| model_err("logistic model", e))?;
            Ok(p.into_iter()
                .zip(rows)
                .map(|(l, &i)| Some(churn_btyd[i].map_or(l, |b| 0.5 * (l + b.p_no_order))))
                .collect())
        })?,
    };
    let churn_probability = match &set.churn.calibration {
        Some(platt) => churn_probability
            .into_iter()
            .map(|p| p.map(|p| platt.apply(p)))
            .collect(),
        None => churn_probability,
    };
    let top_reasons = match &set.churn.explainer {
        Some(model) => by_chunks(n, |rows| {
            let x = design_matrix(features, rows, &model.feature_names(), &churn_btyd)?;
            model
                .top_churn_drivers(&x, 3)
                .map_err(|e| model_err("churn explainer", e))
        })?,
        None => vec![Vec::new(); n],
    };
    let next_order = next_order_in_days(&set.btyd.bgnbd, &customers, &churn_btyd);
    let p_alive = churn_btyd.iter().map(|p| p.map(|p| p.p_alive)).collect();
    let p_order_30d = btyd_h(30)?
        .iter()
        .map(|p| p.map(|p| 1.0 - p.p_no_order))
        .collect();
    let mut horizons = Vec::new();
    for r in &set.revenue {
        let preds = btyd_h(r.horizon_days)?;
        let mut orders: Vec<Option<f64>> =
            preds.iter().map(|p| p.map(|p| p.expected_orders)).collect();
        let revenue: Vec<Option<f64>> = match &r.champion {
            RevenueChampion::ParetoNbd => {
                let h = f64::from(r.horizon_days);
                orders = pareto_all(&|m, c| m.expected_transactions(c, h))?;
                orders
                    .iter()
                    .zip(&preds)
                    .map(|(o, p)| o.zip(p.as_ref()).map(|(o, p)| o * p.expected_value))
                    .collect()
            }
            RevenueChampion::Btyd => preds
                .iter()
                .map(|p| p.map(|p| p.expected_revenue()))
                .collect(),
            RevenueChampion::BtydLevel { level } => preds
                .iter()
                .map(|p| p.map(|p| p.expected_revenue() * level))
                .collect(),
            RevenueChampion::Glm { model } => by_chunks(n, |rows| {
                let x = design_matrix(features, rows, &model.feature_names(), &preds)?;
                let p = model.predict(&x).map_err(|e| model_err("revenue GLM", e))?;
                Ok(p.into_iter().map(Some).collect())
            })?,
            RevenueChampion::Blend { model } => by_chunks(n, |rows| {
                let x = design_matrix(features, rows, &model.feature_names(), &preds)?;
                let p = model.predict(&x).map_err(|e| model_err("revenue GLM", e))?;
                Ok(p.into_iter()
                    .zip(rows)
                    .map(|(g, &i)| Some(preds[i].map_or(g, |b| 0.5 * (g + b.expected_revenue()))))
                    .collect())
            })?,
        };
        horizons.push((r.horizon_days, orders, revenue));
    }
    let (clv_12m, net_clv_12m) = clv(set, features, &customers, &horizons)?;
    Ok(Scores {
        ids: features.ids.clone(),
        churn_probability,
        p_alive,
        p_order_30d,
        next_order_in_days: next_order,
        horizons,
        clv_12m,
        net_clv_12m,
        top_reasons,
    })
}

/// The expected next order day of a customer likely still active
/// (P(alive) >= 0.5): given alive, BG/NBD's posterior purchase rate is
/// Gamma(r + x, alpha + T), whose mean `(r + x) / (alpha + T)` orders per
/// day is taken as the customer's rate; the next order is expected one
/// mean gap `(alpha + T) / (r + x)` after the run date, rounded to whole
/// days (at least 1). A point estimate for timing messages, not a
/// promise: the posterior gap is wide for customers with few orders.
pub fn next_order_in_days(
    bgnbd: &fidelis_models::BgNbd,
    customers: &[Option<Customer>],
    preds: &[Option<BtydPrediction>],
) -> Vec<Option<i32>> {
    let k = bgnbd.unit.days_per_unit();
    customers
        .iter()
        .zip(preds)
        .map(|(c, p)| {
            let (c, p) = (c.as_ref()?, p.as_ref()?);
            if p.p_alive < 0.5 {
                return None;
            }
            let gap_days = (bgnbd.alpha * k + c.t) / (bgnbd.r + f64::from(c.x));
            (gap_days.is_finite() && gap_days < 36_500.0).then(|| (gap_days.round() as i32).max(1))
        })
        .collect()
}

/// CLV over 12 months: the margin on the expected revenue of the 365-day
/// champion (BG/NBD x Gamma-Gamma when no 365-day target is configured),
/// discounted with the timing of the customer's expected orders under
/// BG/NBD (the ratio of discounted to undiscounted expected order days;
/// a mid-year discount for prospects). Net CLV subtracts the acquisition
/// cost where it is known.
fn clv(
    set: &ModelSet,
    features: &FeatureTable,
    customers: &[Option<Customer>],
    horizons: &[HorizonScores],
) -> Result<(Column, Column)> {
    let cfg = ClvConfig::monthly(CLV_DAYS, set.clv.annual_discount_rate, set.clv.margin);
    let mid_year = (1.0 + set.clv.annual_discount_rate).powf(-0.5);
    let year: Option<&Vec<Option<f64>>> = horizons
        .iter()
        .find(|(h, _, _)| f64::from(*h) == CLV_DAYS)
        .map(|(_, _, r)| r);
    let fallback: Vec<Option<BtydPrediction>> = if year.is_none() {
        set.btyd.predict_all(customers, CLV_DAYS)?
    } else {
        Vec::new()
    };
    let cost = features.column("acquisition_cost");
    use rayon::prelude::*;
    let both: Vec<(Option<f64>, Option<f64>)> = (0..features.len())
        .into_par_iter()
        .map(|i| {
            let revenue = match year {
                Some(r) => r[i],
                None => fallback[i].map(|p| p.expected_revenue()),
            };
            let discount = match &customers[i] {
                Some(c) => {
                    let (d, u) = discounted_transactions(&set.btyd.bgnbd, c, &cfg)
                        .map_err(|e| Error::internal(format!("CLV discounting: {e}")))?;
                    if u > 0.0 { d / u } else { mid_year }
                }
                None => mid_year,
            };
            let v = revenue.map(|r| set.clv.margin * r * discount);
            let c = cost.map(|c| c[i]).filter(|c| c.is_finite());
            Ok((v, v.zip(c).map(|(v, c)| v - c)))
        })
        .collect::<Result<_>>()?;
    Ok(both.into_iter().unzip())
}

impl Scores {
    /// The scores as one Arrow batch in the column order of the scores
    /// contract (`docs/contract.md`); `as_of_days` is the run date in days
    /// since 1970-01-01.
    pub fn to_record_batch(
        &self,
        as_of_days: i32,
        churn_horizon_days: u32,
        model_version: &str,
    ) -> Result<arrow::array::RecordBatch> {
        use std::sync::Arc;

        use arrow::array::{
            Array, ArrayRef, Date32Array, Float64Array, Int32Array, ListBuilder, StringArray,
            StringBuilder,
        };
        use arrow::datatypes::{DataType, Field, Schema};

        let n = self.ids.len();
        let horizon = i32::try_from(churn_horizon_days)
            .map_err(|_| Error::config("churn horizon out of range"))?;
        let f64s = |v: &[Option<f64>]| -> ArrayRef { Arc::new(Float64Array::from(v.to_vec())) };
        let mut fields = vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("as_of", DataType::Date32, false),
            Field::new("churn_probability", DataType::Float64, true),
            Field::new("churn_horizon_days", DataType::Int32, false),
            Field::new("p_alive", DataType::Float64, true),
            Field::new("p_order_30d", DataType::Float64, true),
            Field::new("expected_next_order_date", DataType::Date32, true),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(&self.ids)),
            Arc::new(Date32Array::from(vec![as_of_days; n])),
            f64s(&self.churn_probability),
            Arc::new(Int32Array::from(vec![horizon; n])),
            f64s(&self.p_alive),
            f64s(&self.p_order_30d),
            Arc::new(Date32Array::from(
                self.next_order_in_days
                    .iter()
                    .map(|d| d.map(|d| as_of_days + d))
                    .collect::<Vec<_>>(),
            )),
        ];
        for (h, orders, _) in &self.horizons {
            fields.push(Field::new(
                format!("expected_orders_{h}d"),
                DataType::Float64,
                true,
            ));
            columns.push(f64s(orders));
        }
        for (h, _, revenue) in &self.horizons {
            fields.push(Field::new(
                format!("expected_revenue_{h}d"),
                DataType::Float64,
                true,
            ));
            columns.push(f64s(revenue));
        }
        fields.push(Field::new("clv_12m", DataType::Float64, true));
        columns.push(f64s(&self.clv_12m));
        fields.push(Field::new("net_clv_12m", DataType::Float64, true));
        columns.push(f64s(&self.net_clv_12m));
        let mut reasons = ListBuilder::new(StringBuilder::new());
        for r in &self.top_reasons {
            for s in r {
                reasons.values().append_value(s);
            }
            reasons.append(true);
        }
        let reasons = reasons.finish();
        fields.push(Field::new("top_reasons", reasons.data_type().clone(), true));
        columns.push(Arc::new(reasons));
        fields.push(Field::new("model_version", DataType::Utf8, false));
        columns.push(Arc::new(StringArray::from(vec![model_version; n])));
        arrow::array::RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| Error::internal_with("building the scores batch", e))
    }
}
