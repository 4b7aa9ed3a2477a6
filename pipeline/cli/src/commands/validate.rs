//! `fidelis validate`: the inputs against the data contract; bad rows are
//! quarantined with their reason.

use std::time::Instant;

use anyhow::Context;
use fidelis_engine::validate::{TableReport, ValidationReport};

use super::RunContext;
use crate::args::RunArgs;

fn log_table(t: &TableReport) {
    tracing::info!(
        stage = "validate",
        table = %t.table,
        files = t.files.len(),
        rows_read = t.rows_read,
        rows_accepted = t.rows_accepted,
        rows_rejected = t.rows_rejected,
        rows_after_run_date = t.rows_after_run_date,
        missing_optional_columns = ?t.missing_optional_columns,
        seconds = t.seconds,
        "table validated"
    );
    for (reason, n) in &t.rejected_by_reason {
        tracing::warn!(stage = "validate", table = %t.table, reason = %reason, rows = n, "rows rejected");
    }
}

/// The validate stage: validates every configured table and prints the
/// report (what other runs of the date staged was cleared before, in
/// [`super::in_attempt`]).
pub(super) async fn stage(ctx: &RunContext) -> anyhow::Result<()> {
    let started = Instant::now();
    let (settings, run_date) = (&ctx.settings, ctx.run_date());
    tracing::info!(stage = "validate", run_date = %run_date, config = %settings.config_path, "starting");
    let report = fidelis_engine::validate(settings, &ctx.run, &log_table)
        .await
        .context("validate")?;
    for t in &report.absent_tables {
        tracing::warn!(stage = "validate", table = %t, "optional table not configured: its feature groups will be left out");
    }
    tracing::info!(stage = "validate", run_date = %run_date, seconds = started.elapsed().as_secs_f64(), "done");
    ctx.record_duration(started).await?;
    print_report(&report);
    Ok(())
}

fn print_report(report: &ValidationReport) {
    println!("validation of run date {}", report.run_date);
    println!(
        "{:<14} {:>12} {:>12} {:>10} {:>10} {:>8}  rejected by reason",
        "table", "rows read", "accepted", "rejected", "after D", "share"
    );
    for t in &report.tables {
        let reasons: Vec<String> = t
            .rejected_by_reason
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        println!(
            "{:<14} {:>12} {:>12} {:>10} {:>10} {:>7.3}%  {}",
            t.table,
            t.rows_read,
            t.rows_accepted,
            t.rows_rejected,
            t.rows_after_run_date,
            100.0 * t.reject_share,
            reasons.join(" ")
        );
    }
    for t in &report.absent_tables {
        println!("{t:<14} not configured (its feature groups are left out)");
    }
}

pub async fn command(a: RunArgs) -> anyhow::Result<()> {
    super::run_stage(super::Stage::Validate, &super::Job::new(&a, true).await?).await
}
