//! `fidelis validate`, `fidelis run` and `fidelis settings`.

use std::time::Instant;

use anyhow::Context;
use fidelis_core::{RunDate, Settings};
use fidelis_features::Population;
use fidelis_features::validate::{TableReport, ValidationReport};
use sha2::{Digest, Sha256};

use crate::args::{ConfigArgs, FeaturesArgs, RunArgs};

/// Load the config and resolve it into settings (with the config's hash).
pub fn load_settings(path: &std::path::Path) -> anyhow::Result<Settings> {
    let (mut settings, bytes) = fidelis_core::config::load(path)?;
    settings.config_hash = hex::encode(Sha256::digest(&bytes));
    Ok(settings)
}

pub fn settings(a: ConfigArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.config)?;
    println!("{}", serde_json::to_string_pretty(&settings)?);
    Ok(())
}

fn log_table(t: &TableReport) {
    tracing::info!(
        stage = "validate",
        table = %t.table,
        files = t.files.len(),
        rows_read = t.rows_read,
        rows_accepted = t.rows_accepted,
        rows_rejected = t.rows_rejected,
        missing_optional_columns = ?t.missing_optional_columns,
        seconds = t.seconds,
        "table validated"
    );
    for (reason, n) in &t.rejected_by_reason {
        tracing::warn!(stage = "validate", table = %t.table, reason = %reason, rows = n, "rows rejected");
    }
}

async fn run_validate(settings: &Settings, run_date: RunDate) -> anyhow::Result<ValidationReport> {
    let started = Instant::now();
    tracing::info!(stage = "validate", run_date = %run_date, config = %settings.config_path, "starting");
    // The first stage of a run: whatever an earlier, unfinished run of this
    // date left in the staging area goes (published outputs are elsewhere).
    let out = fidelis_storage::Location::parse(&settings.output_url, &settings.storage)?;
    let left = fidelis_features::validate::staging(&out, run_date)
        .delete_all()
        .await?;
    if left > 0 {
        tracing::info!(
            stage = "validate",
            files = left,
            "removed the staging leftovers of an earlier run of this date"
        );
    }
    let report = fidelis_features::validate(settings, run_date, &log_table)
        .await
        .context("validate")?;
    for t in &report.absent_tables {
        tracing::warn!(stage = "validate", table = %t, "optional table not configured: its feature groups will be left out");
    }
    tracing::info!(stage = "validate", run_date = %run_date, seconds = started.elapsed().as_secs_f64(), "done");
    super::publish::record_duration(settings, run_date, "validate", started).await?;
    Ok(report)
}

fn print_report(report: &ValidationReport) {
    println!("validation of run date {}", report.run_date);
    println!(
        "{:<14} {:>12} {:>12} {:>10} {:>8}  rejected by reason",
        "table", "rows read", "accepted", "rejected", "share"
    );
    for t in &report.tables {
        let reasons: Vec<String> = t
            .rejected_by_reason
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        println!(
            "{:<14} {:>12} {:>12} {:>10} {:>7.3}%  {}",
            t.table,
            t.rows_read,
            t.rows_accepted,
            t.rows_rejected,
            100.0 * t.reject_share,
            reasons.join(" ")
        );
    }
    for t in &report.absent_tables {
        println!("{t:<14} not configured (its feature groups are left out)");
    }
}

pub async fn validate(a: RunArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.config)?;
    let run_date = RunDate::parse(&a.run_date)?;
    let report = run_validate(&settings, run_date).await?;
    print_report(&report);
    Ok(())
}

pub(crate) async fn run_features(
    settings: &Settings,
    run_date: RunDate,
    as_of: RunDate,
    label_horizon: Option<u32>,
    population: Population,
) -> anyhow::Result<fidelis_features::FeatureReport> {
    tracing::info!(stage = "features", run_date = %run_date, as_of = %as_of, sample = population == Population::BacktestSample, "starting");
    let f = fidelis_features::build_features(settings, run_date, as_of, population)
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
        let l = fidelis_features::build_labels(settings, run_date, as_of, h, population)
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

pub async fn features(a: FeaturesArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.run.config)?;
    let run_date = RunDate::parse(&a.run.run_date)?;
    match &a.as_of {
        Some(s) => {
            run_features(
                &settings,
                run_date,
                RunDate::parse(s)?,
                a.label_horizon,
                Population::All,
            )
            .await
            .map(drop)
        }
        None if a.label_horizon.is_some() => Err(fidelis_core::Error::config(
            "--label-horizon needs --as-of (the feature stage computes the labels the backtests need)",
        )
        .into()),
        None => super::train::run_feature_stage(&settings, run_date).await,
    }
}

pub async fn run(a: RunArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.config)?;
    let run_date = RunDate::parse(&a.run_date)?;
    let started = Instant::now();
    let report = run_validate(&settings, run_date).await?;
    print_report(&report);
    super::train::run_feature_stage(&settings, run_date).await?;
    super::train::run_train(&settings, run_date).await?;
    super::train::run_score(&settings, run_date).await?;
    super::publish::run_export(&settings, run_date).await?;
    super::publish::run_report(&settings, run_date).await?;
    super::publish::run_publish(&settings, run_date).await?;
    tracing::info!(stage = "run", run_date = %run_date, seconds = started.elapsed().as_secs_f64(), "run finished");
    Ok(())
}
