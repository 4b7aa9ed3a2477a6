//! `fidelis score`: loads `model.json` (staged by `train`, usually in an
//! earlier process) and scores every customer as of the run date into
//! `scores/` and `segments/`.

use std::time::Instant;

use anyhow::Context;
use fidelis_core::Error;
use fidelis_train::ModelSet;
use fidelis_train::table::FeatureTable;
use futures::StreamExt;

use super::RunContext;
use crate::args::RunArgs;

/// Feature rows per scoring batch (each is scored in parallel chunks).
const SCORE_BATCH: usize = 262_144;

pub(super) async fn stage(ctx: &RunContext) -> anyhow::Result<()> {
    let started = Instant::now();
    let run_date = ctx.run_date();
    let model_loc = ctx.run.model();
    let bytes = model_loc.get_opt().await?.ok_or_else(|| {
        Error::config(format!(
            "no models for run date {run_date} at {}: run `fidelis train` for that date first",
            model_loc.url()
        ))
    })?;
    let set: ModelSet = serde_json::from_slice(&bytes)
        .map_err(|e| Error::internal_with(format!("cannot read {}", model_loc.url()), e))?;
    // The run date's features are streamed: at 10M customers the whole
    // table (10M x 104 values, twice while converting) does not fit in
    // memory, and every score is a function of one customer's row.
    let days = i32::try_from((run_date.0 - chrono::NaiveDate::default()).num_days())?;
    let loc = ctx.run.features(run_date);
    let mut parts = Vec::new();
    let mut rows = 0usize;
    for meta in loc.list_parquet().await? {
        let mut stream =
            std::pin::pin!(fidelis_storage::parquet_batches(&loc, &meta, SCORE_BATCH).await?);
        while let Some(b) = stream.next().await {
            let features = FeatureTable::from_batches(&[b?], &loc.url())?;
            rows += features.len();
            let scores = tokio::task::block_in_place(|| fidelis_train::score(&set, &features))?;
            parts.push(scores.to_record_batch(days, set.churn.horizon_days, &set.model_version)?);
        }
    }
    tracing::info!(
        stage = "score",
        rows,
        model_seconds = started.elapsed().as_secs_f64(),
        "models applied"
    );
    let report = fidelis_engine::scores::finish_scores(&ctx.settings, &ctx.run, parts)
        .await
        .context("score")?;
    tracing::info!(stage = "score", run_date = %run_date, rows_out = report.rows, model_version = %set.model_version, segments = ?report.segments, next_actions = ?report.next_actions, seconds = started.elapsed().as_secs_f64(), "scores and segments written");
    println!(
        "scores as of {run_date}: {} customers -> {}",
        report.rows,
        ctx.run.scores().url()
    );
    for (name, n) in &report.segments {
        println!("  segment {name:<20} {n:>9}");
    }
    for (name, n) in &report.next_actions {
        println!("  next action {name:<16} {n:>9}");
    }
    ctx.record_duration(started).await
}

pub async fn command(a: RunArgs) -> anyhow::Result<()> {
    super::run_stage(super::Stage::Score, &super::Job::new(&a, false).await?).await
}
