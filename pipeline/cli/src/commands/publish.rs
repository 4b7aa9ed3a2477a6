//! `fidelis export`, `fidelis publish` and the bookkeeping they share: the
//! durations each stage records in the staging area, the run id and the
//! code version that go into the manifest.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use fidelis_core::{RunDate, Settings};
use fidelis_features::validate::staging;
use fidelis_storage::Location;
use fidelis_storage::publish::{RunInfo, publish};
use sha2::{Digest, Sha256};

use crate::args::RunArgs;
use crate::commands::run::load_settings;

/// The binary's version and the commit it was built from.
pub fn code_version() -> String {
    format!(
        "fidelis {} ({})",
        env!("CARGO_PKG_VERSION"),
        env!("FIDELIS_GIT_COMMIT")
    )
}

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

/// Record how long a stage took, for the manifest.
pub(crate) async fn record_duration(
    settings: &Settings,
    run_date: RunDate,
    stage: &str,
    started: Instant,
) -> anyhow::Result<()> {
    let out = Location::parse(&settings.output_url, &settings.storage)?;
    let loc = staging(&out, run_date).child(&format!("_durations/{stage}.json"));
    loc.put(serde_json::to_vec(&started.elapsed().as_secs_f64())?)
        .await?;
    Ok(())
}

async fn staged_json(loc: &Location) -> anyhow::Result<serde_json::Value> {
    Ok(match loc.get_opt().await? {
        Some(b) => serde_json::from_slice(&b).with_context(|| format!("reading {}", loc.url()))?,
        None => serde_json::Value::Null,
    })
}

pub(crate) async fn run_export(settings: &Settings, run_date: RunDate) -> anyhow::Result<()> {
    let started = Instant::now();
    let r = fidelis_features::exports::export(settings, run_date)
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
    record_duration(settings, run_date, "export", started).await
}

pub async fn export(a: RunArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.config)?;
    let run_date = RunDate::parse(&a.run_date)?;
    run_export(&settings, run_date).await
}

pub(crate) async fn run_report(settings: &Settings, run_date: RunDate) -> anyhow::Result<()> {
    let started = Instant::now();
    tracing::info!(stage = "report", run_date = %run_date, "starting");
    let r = fidelis_report::build_report(settings, run_date, &code_version())
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
    record_duration(settings, run_date, "report", started).await
}

pub async fn report(a: RunArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.config)?;
    let run_date = RunDate::parse(&a.run_date)?;
    run_report(&settings, run_date).await
}

pub(crate) async fn run_publish(settings: &Settings, run_date: RunDate) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = Location::parse(&settings.output_url, &settings.storage)?;
    let stage = staging(&out, run_date);
    if stage.child("scores").list_parquet().await?.is_empty() {
        return Err(fidelis_core::Error::config(format!(
            "nothing to publish for run date {run_date}: no staged scores at {} (run the stages first)",
            stage.child("scores").url()
        ))
        .into());
    }
    let mut durations = BTreeMap::new();
    for meta in stage.child("_durations").list_all().await? {
        let name = meta
            .location
            .filename()
            .unwrap_or_default()
            .trim_end_matches(".json")
            .to_string();
        let v = staged_json(&Location::at(&out, meta.location.clone())).await?;
        if let Some(s) = v.as_f64() {
            durations.insert(name, s);
        }
    }
    let metrics = staged_json(&stage.child("models/metrics.json")).await?;
    let info = RunInfo {
        run_date,
        run_id: new_run_id(),
        code_version: code_version(),
        config_hash: settings.config_hash.clone(),
        inputs: staged_json(&stage.child("validate.json")).await?,
        models: metrics,
        exports: staged_json(&stage.child("exports/_summary.json")).await?,
        durations,
    };
    let m = publish(&out, info, &crate::env::pause_point)
        .await
        .context("publish")?;
    let files: usize = m.tables.values().map(Vec::len).sum();
    tracing::info!(stage = "publish", run_date = %run_date, run_id = %m.run_id, files, seconds = started.elapsed().as_secs_f64(), "published");
    println!(
        "published run {} of {run_date}: {files} files -> {}",
        m.run_id,
        fidelis_storage::publish::manifest_location(&out, run_date).url()
    );
    Ok(())
}

pub async fn publish_cmd(a: RunArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.config)?;
    let run_date = RunDate::parse(&a.run_date)?;
    run_publish(&settings, run_date).await
}
