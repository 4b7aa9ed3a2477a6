//! `fidelis publish`: the staged outputs of a run date published
//! (fidelis_storage::publish): one Delta commit per table, the files that
//! are not tables below a fresh publish id, and the `runs` row last, with
//! the run id, the code version, the inputs, models, exports and durations.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use fidelis_storage::Location;
use fidelis_storage::attempt::fresh_id;
use fidelis_storage::layout::RUNS_TABLE;
use fidelis_storage::layout::Step;
use fidelis_storage::lease::{Lease, LeaseKind};
use fidelis_storage::publish::{RunInfo, RunRecord, publish};

use super::{RunContext, code_version};
use crate::args::RunArgs;

async fn staged_json(loc: &Location) -> anyhow::Result<serde_json::Value> {
    Ok(match loc.get_opt().await? {
        Some(b) => serde_json::from_slice(&b).with_context(|| format!("reading {}", loc.url()))?,
        None => serde_json::Value::Null,
    })
}

/// The publish stage: under the date's lease and a publish lease of its
/// own (one publish of a date at a time), the outputs of the attempts that
/// report's newest finished attempt read, under a fresh publish id; then
/// both leases are freed (the run is over).
pub(super) async fn stage(ctx: &RunContext) -> anyhow::Result<()> {
    let started = Instant::now();
    let (run, run_date) = (&ctx.run, ctx.run_date());
    if run.scores().list_parquet().await?.is_empty() {
        return Err(fidelis_core::Error::config(format!(
            "nothing to publish for run date {run_date}: no staged scores at {} (run the stages first)",
            run.scores().url()
        ))
        .into());
    }
    let publishing = ctx
        .lease
        .acquire_beside(LeaseKind::Publish, &ctx.token)
        .await?;
    // Another publish of this run may have finished (and freed the date)
    // while this one waited: then there is nothing left to do.
    if let Err(e) = ctx.lease.check().await {
        let _ = publishing.release().await;
        return Err(e.into());
    }
    let published = super::renewing(&publishing, publish_staged(ctx, &publishing)).await;
    if let Err(e) = publishing.release().await {
        tracing::warn!(error = %e, "could not release the publish lease");
    }
    let r = published?;
    // The run is published: its staging (validated inputs, intermediates,
    // the backtest sample) goes, unless kept for debugging.
    if !ctx.settings.keep_staging
        && let Err(e) = ctx.run.run_staging().delete_all().await
    {
        tracing::warn!(error = %e, "could not remove the published run's staging");
    }
    if let Err(e) = ctx.lease.clone().release().await {
        tracing::warn!(error = %e, "could not release the run date's lease");
    }
    let files: usize = r.tables.values().map(|t| t.files.len()).sum::<usize>() + r.files.len();
    tracing::info!(stage = "publish", run_date = %run_date, run_id = %ctx.run.run_id(), publish_id = %r.publish_id, tables = r.tables.len(), files, seconds = started.elapsed().as_secs_f64(), "published");
    println!(
        "published run {} of {run_date} (publish id {}): {} tables, {files} files -> {}",
        ctx.run.run_id(),
        r.publish_id,
        r.tables.len(),
        ctx.layout().table(RUNS_TABLE).url()
    );
    // Retention after the commit point: the run is published whatever
    // the vacuum meets (the next publish, or `fidelis vacuum`, tries again).
    if ctx.settings.vacuum {
        match super::vacuum_now(&ctx.settings, false).await {
            Ok(v) => {
                tracing::info!(stage = "publish", removed = v.removed(), "vacuumed");
                println!("{}", super::vacuum_summary(&v));
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "the vacuum after publishing failed; the run is published (fidelis vacuum retries)");
            }
        }
    }
    Ok(())
}

async fn publish_staged(ctx: &RunContext, publishing: &Lease) -> anyhow::Result<RunRecord> {
    let run = &ctx.run;
    let mut durations = BTreeMap::new();
    for name in run.lineage().attempts.keys() {
        let Some(step) = Step::from_name(name) else {
            continue;
        };
        if let Some(s) = staged_json(&run.duration(step)).await?.as_f64() {
            durations.insert(name.clone(), s);
        }
    }
    let info = RunInfo {
        publish_id: fresh_id(),
        code_version: code_version(),
        config_hash: ctx.settings.config_hash.clone(),
        inputs: staged_json(&run.validation_report()).await?,
        models: staged_json(&run.metrics()).await?,
        exports: staged_json(&run.export_summary()).await?,
        durations,
    };
    let leases = [&ctx.lease, publishing];
    publish(
        run,
        info,
        ctx.settings.keep_days,
        &leases,
        &crate::env::pause_point,
    )
    .await
    .context("publish")
}

pub async fn command(a: RunArgs) -> anyhow::Result<()> {
    super::run_stage(super::Stage::Publish, &super::Job::new(&a, false).await?).await
}
