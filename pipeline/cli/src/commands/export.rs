//! `fidelis export`: the campaign audiences of `[exports]`: consented
//! customers only, control groups held out, one audience per customer.

use std::time::Instant;

use anyhow::Context;

use super::RunContext;
use crate::args::RunArgs;

pub(super) async fn stage(ctx: &RunContext) -> anyhow::Result<()> {
    let started = Instant::now();
    let run_date = ctx.run_date();
    let r = fidelis_engine::exports::export(&ctx.settings, &ctx.run)
        .await
        .context("export")?;
    if r.audiences.is_empty() {
        tracing::warn!(
            stage = "export",
            "no audiences configured in [exports]: nothing exported"
        );
    }
    println!(
        "exports for {run_date} (control share {}):",
        r.control_share
    );
    println!(
        "  {:<28} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8}",
        "audience", "send", "control", "matched", "no consent", "unsub", "capped"
    );
    for a in &r.audiences {
        println!(
            "  {:<28} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8}",
            a.slug,
            a.send,
            a.control,
            a.matched,
            a.excluded_no_consent,
            a.excluded_unsubscribed,
            a.capped
        );
    }
    ctx.record_duration(started).await
}

pub async fn command(a: RunArgs) -> anyhow::Result<()> {
    super::run_stage(super::Stage::Export, &super::Job::new(&a, false).await?).await
}
