//! `fidelis features`: the feature stage (features as of the run date and
//! every backtest cutoff of the plan, with their labels), or with `--as-of`
//! the features (and labels) of one cutoff.

use std::time::Instant;

use anyhow::Context;
use fidelis_core::RunDate;
use fidelis_engine::Population;
use fidelis_storage::layout::Step;
use fidelis_train::plan::FeaturePlan;

use super::RunContext;
use crate::args::FeaturesArgs;

/// The features of one cutoff, and its labels for `label_horizon` days.
async fn cutoff_features(
    ctx: &RunContext,
    as_of: RunDate,
    label_horizon: Option<u32>,
    population: Population,
) -> anyhow::Result<fidelis_engine::FeatureReport> {
    let (settings, run) = (&ctx.settings, &ctx.run);
    tracing::info!(stage = "features", run_date = %ctx.run_date(), as_of = %as_of, sample = population == Population::BacktestSample, "starting");
    let f = fidelis_engine::build_features(settings, run, as_of, population)
        .await
        .context("features")?;
    tracing::info!(
        stage = "features",
        as_of = %f.as_of,
        rows_out = f.rows,
        customers_with_orders = f.customers_with_orders,
        columns = f.columns.len(),
        seconds = f.seconds,
        "features written"
    );
    for g in &f.groups_left_out {
        tracing::warn!(stage = "features", group = %g, "feature group left out: its table is not configured");
    }
    println!(
        "features as of {}: {} customers ({} with orders), {} columns -> {}",
        f.as_of,
        f.rows,
        f.customers_with_orders,
        f.columns.len(),
        f.url
    );
    if let Some(h) = label_horizon {
        let l = fidelis_engine::build_labels(settings, run, as_of, h, population)
            .await
            .context("labels")?;
        tracing::info!(stage = "features", as_of = %l.as_of, horizon_days = h, rows_out = l.rows, churn_rate = l.churn_rate, "labels written");
        println!(
            "labels as of {} for {} days: {} customers, churn rate {:.3} -> {}",
            l.as_of, h, l.rows, l.churn_rate, l.url
        );
    }
    Ok(f)
}

/// The feature stage (`fidelis features` without `--as-of`, the `features`
/// task of the DAG): features as of the run date tell how much history
/// there is, which decides the backtest cutoffs (the plan,
/// [`fidelis_train::plan`]); then the features and labels of every cutoff,
/// and the plan staged last for `train` to read.
pub(super) async fn stage(ctx: &RunContext) -> anyhow::Result<()> {
    let started = Instant::now();
    let (settings, run_date) = (&ctx.settings, ctx.run_date());
    let m = &settings.models;
    let current = cutoff_features(ctx, run_date, None, Population::All).await?;
    let (history, customers) = (current.history_days, current.rows);
    // Large runs: the backtest cutoffs see a fixed sample of customers
    // (docs/models.md, "Backtest sample"); the run date sees everyone.
    let sample =
        fidelis_engine::stage_backtest_sample(settings, &ctx.run, customers, m.backtest_customers)
            .await
            .context("backtest sample")?;
    let population = match &sample {
        Some(s) => {
            tracing::info!(stage = "features", customers = s.customers, sampled_customers = s.sampled_customers, share = s.share, rows = ?s.rows, "backtest sample staged");
            Population::BacktestSample
        }
        None => Population::All,
    };
    let plan = FeaturePlan::new(run_date, history, m, sample)?;
    let total = plan.feature_cutoffs.len() + plan.label_pairs.len();
    let progress = crate::progress::Steps::new("features", total as u64);
    for &c in &plan.feature_cutoffs {
        progress.step(&format!("features as of {c}"));
        cutoff_features(ctx, c, None, population).await?;
    }
    for &(c, h) in &plan.label_pairs {
        progress.step(&format!("labels as of {c}, {h} days"));
        let l = fidelis_engine::build_labels(settings, &ctx.run, c, h, population)
            .await
            .context("labels")?;
        tracing::info!(stage = "features", as_of = %l.as_of, horizon_days = h, rows_out = l.rows, churn_rate = l.churn_rate, "labels written");
    }
    progress.finish();
    ctx.run
        .feature_plan()
        .put(serde_json::to_vec_pretty(&plan)?)
        .await?;
    tracing::info!(stage = "features", run_date = %run_date, cutoffs = plan.feature_cutoffs.len(), label_sets = plan.label_pairs.len(), seconds = started.elapsed().as_secs_f64(), "done");
    ctx.record_duration(started).await
}

pub async fn command(a: FeaturesArgs) -> anyhow::Result<()> {
    let job = super::Job::new(&a.run, false).await?;
    match &a.as_of {
        Some(s) => {
            let as_of = RunDate::parse(s)?;
            super::in_attempt(&job, Some(Step::FeaturesAsOf), async |ctx: &RunContext| {
                cutoff_features(ctx, as_of, a.label_horizon, Population::All)
                    .await
                    .map(drop)
            })
            .await
        }
        None if a.label_horizon.is_some() => Err(fidelis_core::Error::config(
            "--label-horizon needs --as-of (the feature stage computes the labels the backtests need)",
        )
        .into()),
        None => super::run_stage(super::Stage::Features, &job).await,
    }
}
