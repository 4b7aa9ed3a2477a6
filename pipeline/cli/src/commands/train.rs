//! `fidelis train` and `fidelis score`.
//!
//! `train` computes (with the feature stage) the features and labels of
//! every window the backtests need, hands them to `fidelis-train`, and stages
//! `models/model.json` (what scores the run date) and `models/metrics.json`
//! (every candidate's validation metrics and the champions). `score` loads
//! `model.json` in a later process and scores the features as of the run
//! date into `scores/`.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::Context;
use chrono::Days;
use fidelis_core::{Error, RunDate, Settings};
use fidelis_features::features::{features_location, labels_location};
use fidelis_features::validate::staging;
use fidelis_features::{BacktestSample, Population};
use fidelis_storage::{Location, read_parquet_columns};
use fidelis_train::backtest::{MIN_HISTORY_DAYS, Window};
use fidelis_train::table::{FeatureTable, LabelTable};
use fidelis_train::{ClvSettings, ModelSet, TargetWindows, TrainInputs, TrainReport};
use futures::StreamExt;

use crate::args::RunArgs;
use crate::commands::run::{load_settings, run_features};

/// Where a run's models are staged.
fn models_location(out: &Location, run_date: RunDate) -> Location {
    staging(out, run_date).child("models")
}

async fn read_all(loc: &Location) -> anyhow::Result<Vec<arrow::array::RecordBatch>> {
    read_columns(loc, None).await
}

async fn read_columns(
    loc: &Location,
    columns: Option<&[&str]>,
) -> anyhow::Result<Vec<arrow::array::RecordBatch>> {
    let mut batches = Vec::new();
    for meta in loc.list_parquet().await? {
        batches.extend(read_parquet_columns(loc, &meta, columns).await?);
    }
    Ok(batches)
}

/// What training needs of the run date's features: the history length and
/// the BTYD summaries (the feature models see only the backtest cutoffs).
/// Reading these columns only saves seconds and a gigabyte at 1M customers.
async fn load_current_summaries(out: &Location, run_date: RunDate) -> anyhow::Result<FeatureTable> {
    let loc = features_location(out, run_date, run_date);
    let batches = read_columns(
        &loc,
        Some(&[
            "customer_id",
            "has_orders",
            "tenure_days",
            "btyd_x",
            "btyd_t_x",
            "btyd_t",
            "btyd_m",
        ]),
    )
    .await?;
    Ok(FeatureTable::from_batches(&batches, &loc.url())?)
}

async fn load_features(
    out: &Location,
    run_date: RunDate,
    as_of: RunDate,
) -> anyhow::Result<FeatureTable> {
    let loc = features_location(out, run_date, as_of);
    let batches = read_all(&loc).await?;
    Ok(FeatureTable::from_batches(&batches, &loc.url())?)
}

async fn load_labels(
    out: &Location,
    run_date: RunDate,
    as_of: RunDate,
    horizon: u32,
) -> anyhow::Result<LabelTable> {
    let loc = labels_location(out, run_date, as_of, horizon);
    let batches = read_all(&loc).await?;
    Ok(LabelTable::from_batches(&batches, &loc.url())?)
}

fn minus(d: RunDate, days: u32) -> anyhow::Result<RunDate> {
    d.0.checked_sub_days(Days::new(u64::from(days)))
        .map(RunDate)
        .ok_or_else(|| Error::config(format!("{d} minus {days} days is out of range")).into())
}

/// The cutoffs of a target with horizon `h`: the training cutoffs
/// `D - 2h, D - 3h, ...` (at most `windows`, most recent first) and the
/// validation cutoff `D - h`, each only when the history behind it reaches
/// 90 days.
fn cutoffs(
    run_date: RunDate,
    h: u32,
    history_days: f64,
    windows: u32,
) -> anyhow::Result<(Vec<RunDate>, Option<RunDate>)> {
    let hf = f64::from(h);
    let valid = (history_days >= hf + MIN_HISTORY_DAYS)
        .then(|| minus(run_date, h))
        .transpose()?;
    let mut train = Vec::new();
    for k in 2..2 + windows {
        if history_days >= f64::from(k) * hf + MIN_HISTORY_DAYS {
            train.push(minus(run_date, k * h)?);
        }
    }
    Ok((train, valid))
}

/// What the feature stage computes for a run date: the features as of the
/// run date and every backtest cutoff, and the labels of every (cutoff,
/// horizon) pair the backtests need. Written to `_stages/features.json`
/// when they are all staged, so that `train` (a later process under
/// Airflow) knows it can read them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct FeaturePlan {
    history_days: f64,
    feature_cutoffs: BTreeSet<RunDate>,
    label_pairs: BTreeSet<(RunDate, u32)>,
    /// The customers the backtest cutoffs see, when sampled.
    #[serde(default)]
    backtest_sample: Option<BacktestSample>,
}

fn horizons(settings: &Settings) -> Vec<u32> {
    let m = &settings.models;
    std::iter::once(m.churn_horizon_days)
        .chain(m.revenue_horizons_days.iter().copied())
        .collect()
}

fn plan_location(out: &Location, run_date: RunDate) -> Location {
    staging(out, run_date).child("_stages/features.json")
}

/// The feature stage (`fidelis features` without `--as-of`, the `features`
/// task of the DAG): features as of the run date tell how much history
/// there is, which decides the backtest cutoffs; then the features and
/// labels of every cutoff.
pub(crate) async fn run_feature_stage(
    settings: &Settings,
    run_date: RunDate,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = Location::parse(&settings.output_url, &settings.storage)?;
    let m = &settings.models;
    let current = run_features(settings, run_date, run_date, None, Population::All).await?;
    let (history, customers) = (current.history_days, current.rows);
    // Large runs: the backtest cutoffs see a fixed sample of customers
    // (docs/models.md, "Backtest sample"); the run date sees everyone.
    let sample = fidelis_features::stage_backtest_sample(
        settings,
        run_date,
        customers,
        m.backtest_customers,
    )
    .await
    .context("backtest sample")?;
    let population = match &sample {
        Some(s) => {
            tracing::info!(stage = "features", customers = s.customers, sampled_customers = s.sampled_customers, share = s.share, rows = ?s.rows, "backtest sample staged");
            Population::BacktestSample
        }
        None => Population::All,
    };
    let mut label_pairs: BTreeSet<(RunDate, u32)> = BTreeSet::new();
    for h in horizons(settings) {
        let (train, valid) = cutoffs(run_date, h, history, m.training_windows)?;
        for c in train.into_iter().chain(valid) {
            label_pairs.insert((c, h));
        }
    }
    let feature_cutoffs: BTreeSet<RunDate> = label_pairs.iter().map(|(c, _)| *c).collect();
    let total = feature_cutoffs.len() + label_pairs.len();
    let progress = crate::progress::Steps::new("features", total as u64);
    for &c in &feature_cutoffs {
        progress.step(&format!("features as of {c}"));
        run_features(settings, run_date, c, None, population).await?;
    }
    for &(c, h) in &label_pairs {
        progress.step(&format!("labels as of {c}, {h} days"));
        let l = fidelis_features::build_labels(settings, run_date, c, h, population)
            .await
            .context("labels")?;
        tracing::info!(stage = "features", as_of = %l.as_of, horizon_days = h, rows_out = l.rows, churn_rate = l.churn_rate, "labels written");
    }
    progress.finish();
    let plan = FeaturePlan {
        history_days: history,
        feature_cutoffs,
        label_pairs,
        backtest_sample: sample,
    };
    plan_location(&out, run_date)
        .put(serde_json::to_vec_pretty(&plan)?)
        .await?;
    tracing::info!(stage = "features", run_date = %run_date, cutoffs = plan.feature_cutoffs.len(), label_sets = plan.label_pairs.len(), seconds = started.elapsed().as_secs_f64(), "done");
    super::publish::record_duration(settings, run_date, "features", started).await
}

/// The staged plan of this run date, or the feature stage run now when it
/// is missing (train run on its own).
async fn feature_plan(
    settings: &Settings,
    out: &Location,
    run_date: RunDate,
) -> anyhow::Result<FeaturePlan> {
    let loc = plan_location(out, run_date);
    if loc.get_opt().await?.is_none() {
        tracing::info!(stage = "train", run_date = %run_date, "no staged features for this run date: running the feature stage first");
        run_feature_stage(settings, run_date).await?;
    }
    let bytes = loc.get_opt().await?.ok_or_else(|| {
        Error::internal(format!("{} vanished after the feature stage", loc.url()))
    })?;
    Ok(serde_json::from_slice(&bytes)
        .map_err(|e| Error::internal_with(format!("cannot read {}", loc.url()), e))?)
}

pub(crate) async fn run_train(settings: &Settings, run_date: RunDate) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = Location::parse(&settings.output_url, &settings.storage)?;
    let m = &settings.models;
    tracing::info!(stage = "train", run_date = %run_date, "starting");
    let plan = feature_plan(settings, &out, run_date).await?;
    let FeaturePlan {
        history_days: history,
        feature_cutoffs,
        label_pairs,
        backtest_sample,
    } = plan;
    let current = load_current_summaries(&out, run_date).await?;
    let mut features = std::collections::BTreeMap::new();
    for &c in &feature_cutoffs {
        features.insert(c, load_features(&out, run_date, c).await?);
    }
    let mut labels = std::collections::BTreeMap::new();
    for &(c, h) in &label_pairs {
        labels.insert((c, h), load_labels(&out, run_date, c, h).await?);
    }
    let as_of_text: std::collections::BTreeMap<RunDate, String> = feature_cutoffs
        .iter()
        .map(|c| (*c, c.to_string()))
        .collect();
    let window = |c: Option<RunDate>, h: u32| -> Option<Window<'_>> {
        let c = c?;
        Some(Window {
            as_of: as_of_text.get(&c)?,
            features: features.get(&c)?,
            labels: labels.get(&(c, h))?,
        })
    };
    let target = |h: u32| -> anyhow::Result<TargetWindows<'_>> {
        let (train, valid) = cutoffs(run_date, h, history, m.training_windows)?;
        Ok(TargetWindows {
            horizon_days: h,
            train: train
                .into_iter()
                .filter_map(|c| window(Some(c), h))
                .collect(),
            valid: window(valid, h),
        })
    };
    let run_date_text = run_date.to_string();
    let inputs = TrainInputs {
        run_date: &run_date_text,
        current: &current,
        churn: target(m.churn_horizon_days)?,
        revenue: m
            .revenue_horizons_days
            .iter()
            .map(|&h| target(h))
            .collect::<anyhow::Result<_>>()?,
        clv: ClvSettings {
            margin: m.margin,
            annual_discount_rate: m.annual_discount_rate,
        },
        min_churn_auc: m.min_churn_auc,
        min_revenue_gini: m.min_revenue_gini,
        backtest_customer_share: backtest_sample.as_ref().map_or(1.0, |s| s.share),
        seed: m.seed,
    };
    let (set, report) = tokio::task::block_in_place(|| fidelis_train::train(&inputs))?;
    let loc = models_location(&out, run_date);
    loc.child("model.json")
        .put(serde_json::to_vec_pretty(&set)?)
        .await?;
    loc.child("metrics.json")
        .put(serde_json::to_vec_pretty(&report)?)
        .await?;
    print_report(&report);
    tracing::info!(stage = "train", run_date = %run_date, model_version = %set.model_version, seconds = started.elapsed().as_secs_f64(), "done");
    super::publish::record_duration(settings, run_date, "train", started).await
}

fn print_report(r: &TrainReport) {
    println!(
        "models for {} (version {}), {:.0} days of history",
        r.run_date, r.model_version, r.history_days
    );
    let c = &r.churn;
    println!("{}: champion {}", c.target, c.champion);
    if let Some(f) = &c.fallback {
        println!("  fallback: {f}");
    }
    for cand in &c.candidates {
        match &cand.metrics {
            Some(m) => println!(
                "  {:<10} ROC AUC {:.4}  PR AUC {:.4}  Brier {}",
                cand.name,
                m.roc_auc,
                m.pr_auc,
                m.brier.map_or("-".to_string(), |b| format!("{b:.4}"))
            ),
            None => println!(
                "  {:<10} not fitted: {}",
                cand.name,
                cand.error.as_deref().unwrap_or("")
            ),
        }
    }
    for t in &r.revenue {
        println!("{}: champion {}", t.target, t.champion);
        if let Some(f) = &t.fallback {
            println!("  fallback: {f}");
        }
        for cand in &t.candidates {
            match &cand.metrics {
                Some(m) => println!(
                    "  {:<10} Gini {:.4}  Spearman {:.4}  decile MAPE {:.3}  total ratio {:.3}",
                    cand.name, m.normalized_gini, m.spearman, m.decile_mape, m.total_ratio
                ),
                None => println!(
                    "  {:<10} not fitted: {}",
                    cand.name,
                    cand.error.as_deref().unwrap_or("")
                ),
            }
        }
    }
}

pub async fn train(a: RunArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.config)?;
    let run_date = RunDate::parse(&a.run_date)?;
    run_train(&settings, run_date).await
}

/// Feature rows per scoring batch (each is scored in parallel chunks).
const SCORE_BATCH: usize = 262_144;

pub(crate) async fn run_score(settings: &Settings, run_date: RunDate) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = Location::parse(&settings.output_url, &settings.storage)?;
    let model_loc = models_location(&out, run_date).child("model.json");
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
    let loc = features_location(&out, run_date, run_date);
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
    let report = fidelis_features::scoring::finish_scores(settings, run_date, parts)
        .await
        .context("score")?;
    tracing::info!(stage = "score", run_date = %run_date, rows_out = report.rows, model_version = %set.model_version, segments = ?report.segments, next_actions = ?report.next_actions, seconds = started.elapsed().as_secs_f64(), "scores and segments written");
    println!(
        "scores as of {run_date}: {} customers -> {}",
        report.rows,
        fidelis_features::scoring::scores_location(&out, run_date).url()
    );
    for (name, n) in &report.segments {
        println!("  segment {name:<20} {n:>9}");
    }
    for (name, n) in &report.next_actions {
        println!("  next action {name:<16} {n:>9}");
    }
    super::publish::record_duration(settings, run_date, "score", started).await
}

pub async fn score(a: RunArgs) -> anyhow::Result<()> {
    let settings = load_settings(&a.config)?;
    let run_date = RunDate::parse(&a.run_date)?;
    run_score(&settings, run_date).await
}
