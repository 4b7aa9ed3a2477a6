//! `fidelis train`: hands the staged features and labels of every window of
//! the plan to `fidelis-train`, and stages `models/model.json` (what scores
//! the run date) and `models/metrics.json` (every candidate's validation
//! metrics and the champions).

use std::collections::BTreeMap;
use std::time::Instant;

use fidelis_core::{Error, RunDate};
use fidelis_storage::{Location, read_parquet_columns};
use fidelis_train::backtest::{TargetReport, ValidationScheme, Window};
use fidelis_train::plan::{FeaturePlan, cutoffs};
use fidelis_train::table::{FeatureTable, LabelTable};
use fidelis_train::{ClvSettings, TargetWindows, TrainInputs, TrainReport};

use super::RunContext;
use crate::args::RunArgs;

async fn read_columns(
    loc: &Location,
    columns: Option<&[&str]>,
) -> anyhow::Result<Vec<arrow::array::RecordBatch>> {
    let mut batches = Vec::new();
    for meta in loc.list_parquet().await? {
        batches.extend(read_parquet_columns(loc, &meta, columns).await?);
    }
    Ok(batches)
}

/// What training needs of the run date's features: the history length and
/// the BTYD summaries (the feature models see only the backtest cutoffs).
/// Reading these columns only saves seconds and a gigabyte at 1M customers.
async fn load_current_summaries(ctx: &RunContext) -> anyhow::Result<FeatureTable> {
    let loc = ctx.run.features(ctx.run_date());
    let batches = read_columns(
        &loc,
        Some(&[
            "customer_id",
            "has_orders",
            "tenure_days",
            "btyd_x",
            "btyd_t_x",
            "btyd_t",
            "btyd_m",
        ]),
    )
    .await?;
    Ok(FeatureTable::from_batches(&batches, &loc.url())?)
}

async fn load_features(ctx: &RunContext, as_of: RunDate) -> anyhow::Result<FeatureTable> {
    let loc = ctx.run.features(as_of);
    let batches = read_columns(&loc, None).await?;
    Ok(FeatureTable::from_batches(&batches, &loc.url())?)
}

async fn load_labels(ctx: &RunContext, as_of: RunDate, horizon: u32) -> anyhow::Result<LabelTable> {
    let loc = ctx.run.labels(as_of, horizon);
    let batches = read_columns(&loc, None).await?;
    Ok(LabelTable::from_batches(&batches, &loc.url())?)
}

/// The plan the feature stage of this run's lineage staged (when train
/// runs on its own before any feature stage, [`super::in_attempt`] runs
/// that stage first).
async fn feature_plan(ctx: &RunContext) -> anyhow::Result<FeaturePlan> {
    let loc = ctx.run.feature_plan();
    let bytes = loc.get_opt().await?.ok_or_else(|| {
        Error::internal(format!(
            "the finished feature stage staged no plan at {}",
            loc.url()
        ))
    })?;
    Ok(serde_json::from_slice(&bytes)
        .map_err(|e| Error::internal_with(format!("cannot read {}", loc.url()), e))?)
}

pub(super) async fn stage(ctx: &RunContext) -> anyhow::Result<()> {
    let started = Instant::now();
    let run_date = ctx.run_date();
    let m = &ctx.settings.models;
    tracing::info!(stage = "train", run_date = %run_date, "starting");
    let FeaturePlan {
        history_days: history,
        feature_cutoffs,
        label_pairs,
        backtest_sample,
    } = feature_plan(ctx).await?;
    let current = load_current_summaries(ctx).await?;
    let mut features = BTreeMap::new();
    for &c in &feature_cutoffs {
        features.insert(c, load_features(ctx, c).await?);
    }
    let mut labels = BTreeMap::new();
    for &(c, h) in &label_pairs {
        labels.insert((c, h), load_labels(ctx, c, h).await?);
    }
    let as_of_text: BTreeMap<RunDate, String> = feature_cutoffs
        .iter()
        .map(|c| (*c, c.to_string()))
        .collect();
    let window = |c: Option<RunDate>, h: u32| -> Option<Window<'_>> {
        let c = c?;
        Some(Window {
            as_of: as_of_text.get(&c)?,
            features: features.get(&c)?,
            labels: labels.get(&(c, h))?,
        })
    };
    let target = |h: u32| -> anyhow::Result<TargetWindows<'_>> {
        let (train, valid) = cutoffs(run_date, h, history, m.training_windows)?;
        Ok(TargetWindows {
            horizon_days: h,
            train: train
                .into_iter()
                .filter_map(|c| window(Some(c), h))
                .collect(),
            valid: window(valid, h),
        })
    };
    let run_date_text = run_date.to_string();
    let inputs = TrainInputs {
        run_date: &run_date_text,
        current: &current,
        churn: target(m.churn_horizon_days)?,
        revenue: m
            .revenue_horizons_days
            .iter()
            .map(|&h| target(h))
            .collect::<anyhow::Result<_>>()?,
        clv: ClvSettings {
            margin: m.margin,
            annual_discount_rate: m.annual_discount_rate,
        },
        min_churn_auc: m.min_churn_auc,
        min_revenue_gini: m.min_revenue_gini,
        backtest_customer_share: backtest_sample.as_ref().map_or(1.0, |s| s.share),
        seed: m.seed,
    };
    let (set, report) = tokio::task::block_in_place(|| fidelis_train::train(&inputs))?;
    ctx.run
        .model()
        .put(serde_json::to_vec_pretty(&set)?)
        .await?;
    ctx.run
        .metrics()
        .put(serde_json::to_vec_pretty(&report)?)
        .await?;
    print_report(&report);
    tracing::info!(stage = "train", run_date = %run_date, model_version = %set.model_version, seconds = started.elapsed().as_secs_f64(), "done");
    ctx.record_duration(started).await
}

/// How a target was validated, when not out of time.
fn print_scheme<M>(t: &TargetReport<M>) {
    if let Some(f) = &t.fallback {
        println!("  fallback: {f}");
    } else if t.validation_scheme == ValidationScheme::CustomerSplit {
        println!(
            "  short history: the window at {} split by customer into training and validation halves",
            t.validation_as_of.as_deref().unwrap_or("-")
        );
    }
}

fn print_report(r: &TrainReport) {
    println!(
        "models for {} (version {}), {:.0} days of history",
        r.run_date, r.model_version, r.history_days
    );
    let c = &r.churn;
    println!("{}: champion {}", c.target, c.champion);
    print_scheme(c);
    if let Some(l2) = &c.logistic_l2 {
        println!(
            "  logistic L2 penalty {} per row (cross-validated on {} training rows, {} customer folds)",
            l2.l2_per_row, l2.rows, l2.folds
        );
    }
    if let Some(cal) = &c.calibration {
        println!(
            "  {} calibrated (Platt, {} predictions at {}): validation Brier {:.4} -> {:.4}, ECE {:.4} -> {:.4}{}",
            cal.champion,
            cal.predictions.replace('_', " "),
            cal.fitted_on,
            cal.validation_brier_before,
            cal.validation_brier_after,
            cal.validation_ece_before,
            cal.validation_ece_after,
            if cal.applied { "" } else { " (not applied)" }
        );
    }
    for cand in &c.candidates {
        match &cand.metrics {
            Some(m) => println!(
                "  {:<10} ROC AUC {:.4}  PR AUC {:.4}  Brier {}  ECE {}",
                cand.name,
                m.roc_auc,
                m.pr_auc,
                m.brier.map_or("-".to_string(), |b| format!("{b:.4}")),
                m.ece.map_or("-".to_string(), |e| format!("{e:.4}"))
            ),
            None => println!(
                "  {:<10} not fitted: {}",
                cand.name,
                cand.error.as_deref().unwrap_or("")
            ),
        }
    }
    for t in &r.revenue {
        println!("{}: champion {}", t.target, t.champion);
        print_scheme(t);
        for cand in &t.candidates {
            match &cand.metrics {
                Some(m) => println!(
                    "  {:<10} Gini {:.4}  Spearman {:.4}  decile WAPE {:.3}  decile MAPE {:.3}  total ratio {:.3}",
                    cand.name,
                    m.normalized_gini,
                    m.spearman,
                    m.decile_wape,
                    m.decile_mape,
                    m.total_ratio
                ),
                None => println!(
                    "  {:<10} not fitted: {}",
                    cand.name,
                    cand.error.as_deref().unwrap_or("")
                ),
            }
        }
    }
}

pub async fn command(a: RunArgs) -> anyhow::Result<()> {
    super::run_stage(super::Stage::Train, &super::Job::new(&a, false).await?).await
}
