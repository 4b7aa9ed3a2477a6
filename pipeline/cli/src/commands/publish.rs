//! `fidelis publish`: the staged outputs of a run date published atomically
//! (fidelis_storage::publish): new run_id folders, the manifest last, with
//! the run id, the code version, the inputs, models, exports and durations.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use fidelis_storage::Location;
use fidelis_storage::publish::{RunInfo, publish};
use sha2::{Digest, Sha256};

use super::{RunContext, code_version};
use crate::args::RunArgs;

/// A new run id: UTC time of the publish and 8 hex digits that make two
/// publishes in the same second differ. Ids only name folders: no output
/// value depends on them.
fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let salt = Sha256::digest(format!("{}-{}", now.as_nanos(), std::process::id()));
    format!("{}-{}", now.as_secs(), &hex::encode(salt)[..8])
}

async fn staged_json(loc: &Location) -> anyhow::Result<serde_json::Value> {
    Ok(match loc.get_opt().await? {
        Some(b) => serde_json::from_slice(&b).with_context(|| format!("reading {}", loc.url()))?,
        None => serde_json::Value::Null,
    })
}

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
    let out = ctx.layout().root();
    let mut durations = BTreeMap::new();
    for meta in run.durations().list_all().await? {
        let name = meta
            .location
            .filename()
            .unwrap_or_default()
            .trim_end_matches(".json")
            .to_string();
        let v = staged_json(&Location::at(out, meta.location.clone())).await?;
        if let Some(s) = v.as_f64() {
            durations.insert(name, s);
        }
    }
    let info = RunInfo {
        run_id: new_run_id(),
        code_version: code_version(),
        config_hash: ctx.settings.config_hash.clone(),
        inputs: staged_json(&run.validation_report()).await?,
        models: staged_json(&run.metrics()).await?,
        exports: staged_json(&run.export_summary()).await?,
        durations,
    };
    let m = publish(run, info, &crate::env::pause_point)
        .await
        .context("publish")?;
    let files: usize = m.tables.values().map(Vec::len).sum();
    tracing::info!(stage = "publish", run_date = %run_date, run_id = %m.run_id, files, seconds = started.elapsed().as_secs_f64(), "published");
    println!(
        "published run {} of {run_date}: {files} files -> {}",
        m.run_id,
        ctx.layout().manifest(run_date).url()
    );
    Ok(())
}

pub async fn command(a: RunArgs) -> anyhow::Result<()> {
    stage(&RunContext::new(&a)?).await
}
