//! `fidelis report`: the run report, one self-contained HTML page.

use std::time::Instant;

use anyhow::Context;

use super::{RunContext, code_version};
use crate::args::RunArgs;

pub(super) async fn stage(ctx: &RunContext) -> anyhow::Result<()> {
    let started = Instant::now();
    let run_date = ctx.run_date();
    tracing::info!(stage = "report", run_date = %run_date, "starting");
    let r = fidelis_report::build_report(&ctx.settings, &ctx.run, &code_version())
        .await
        .context("report")?;
    match &r.previous_run {
        Some(p) => {
            tracing::info!(stage = "report", previous_run_date = %p, "score drift against the previous published run")
        }
        None => tracing::warn!(
            stage = "report",
            "no earlier published run: the report has no drift figures"
        ),
    }
    tracing::info!(stage = "report", run_date = %run_date, bytes = r.bytes, charts = r.charts, seconds = started.elapsed().as_secs_f64(), "report written");
    println!("report for {run_date}: {} charts -> {}", r.charts, r.url);
    ctx.record_duration(started).await
}

pub async fn command(a: RunArgs) -> anyhow::Result<()> {
    super::run_stage(super::Stage::Report, &super::Job::new(&a, false).await?).await
}
