//! `fidelis validate`, `fidelis run` and `fidelis settings`.

use std::time::Instant;

use anyhow::Context;
use fidelis_core::{RunDate, Settings};
use fidelis_features::validate::{TableReport, ValidationReport};
use sha2::{Digest, Sha256};

use crate::args::{ConfigArgs, RunArgs};

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
    let report = fidelis_features::validate(settings, run_date, &log_table)
        .await
        .context("validate")?;
    for t in &report.absent_tables {
        tracing::warn!(stage = "validate", table = %t, "optional table not configured: its feature groups will be left out");
    }
    tracing::info!(stage = "validate", run_date = %run_date, seconds = started.elapsed().as_secs_f64(), "done");
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

pub async fn run(a: RunArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.config)?;
    let run_date = RunDate::parse(&a.run_date)?;
    let started = Instant::now();
    let report = run_validate(&settings, run_date).await?;
    print_report(&report);
    tracing::info!(stage = "run", run_date = %run_date, seconds = started.elapsed().as_secs_f64(), "run finished");
    Ok(())
}
