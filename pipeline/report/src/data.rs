//! Everything the report shows, read from what the earlier stages of the run
//! date staged (and, for the drift figures, the previous published run).

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use serde::Serialize;

use fidelis_core::{Error, Result, ResultExt, RunDate, Settings};
use fidelis_engine::exports::ExportReport;
use fidelis_engine::features::{groups_left_out, staged_validation};
use fidelis_engine::{ValidationReport, new_session};
use fidelis_storage::Location;
use fidelis_storage::layout::{Layout, RunLayout};
use fidelis_storage::publish::current_runs;
use fidelis_train::TrainReport;

/// Summary statistics of one feature column.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureStat {
    pub name: String,
    pub non_null: u64,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<f64>,
    /// Distinct values, for text columns.
    pub distinct: Option<u64>,
}

/// One cell of the value x risk matrix.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Cell {
    pub customers: u64,
    pub clv_12m: f64,
}

/// The scores of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScoreData {
    pub rows: u64,
    /// Segment (prospects under their own name) -> customers, largest first.
    pub segments: Vec<(String, u64)>,
    pub next_actions: Vec<(String, u64)>,
    /// (value tier, risk tier) -> cell.
    pub value_risk: BTreeMap<(String, String), Cell>,
    pub churn: Vec<f64>,
    pub clv: Vec<f64>,
}

/// The previous published run, for drift.
#[derive(Debug, Clone, Serialize)]
pub struct PreviousRun {
    pub run_date: String,
    pub run_id: String,
    pub churn: Vec<f64>,
    pub clv: Vec<f64>,
}

/// Everything in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    pub run_date: String,
    pub generated_at: String,
    pub code_version: String,
    pub config_path: String,
    pub config_hash: String,
    pub validation: ValidationReport,
    pub groups_left_out: Vec<String>,
    pub feature_rows: u64,
    pub features: Vec<FeatureStat>,
    pub train: TrainReport,
    pub scores: ScoreData,
    pub previous: Option<PreviousRun>,
    pub exports: Option<ExportReport>,
}

/// The name prospects get in the segment figures.
pub const PROSPECTS: &str = "Prospects (no orders)";

async fn collect(ctx: &SessionContext, what: &str, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql)
        .await
        .internal(format!("report: {what}"))?
        .collect()
        .await
        .internal(format!("report: {what}"))
}

/// Column `i` of every batch as f64 (nulls as None).
fn f64s(batches: &[RecordBatch], i: usize) -> Result<Vec<Option<f64>>> {
    let mut out = Vec::new();
    for b in batches {
        let c = arrow::compute::cast(b.column(i), &DataType::Float64)
            .map_err(|e| Error::internal_with("report: casting to float", e))?;
        let c = c.as_primitive::<Float64Type>();
        out.extend((0..c.len()).map(|k| c.is_valid(k).then(|| c.value(k))));
    }
    Ok(out)
}

fn i64s(batches: &[RecordBatch], i: usize) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for b in batches {
        let c = arrow::compute::cast(b.column(i), &DataType::Int64)
            .map_err(|e| Error::internal_with("report: casting to integer", e))?;
        let c = c.as_primitive::<Int64Type>();
        out.extend((0..c.len()).map(|k| if c.is_valid(k) { c.value(k) } else { 0 }));
    }
    Ok(out)
}

fn strings(batches: &[RecordBatch], i: usize) -> Result<Vec<Option<String>>> {
    let mut out = Vec::new();
    for b in batches {
        let c = arrow::compute::cast(b.column(i), &DataType::Utf8)
            .map_err(|e| Error::internal_with("report: casting to text", e))?;
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|k| c.is_valid(k).then(|| c.value(k).to_string())));
    }
    Ok(out)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Per-column statistics of the features as of the run date, in one scan.
async fn feature_stats(ctx: &SessionContext) -> Result<(u64, Vec<FeatureStat>)> {
    let schema = ctx
        .table("features")
        .await
        .internal("report: reading the features")?
        .schema()
        .as_arrow()
        .clone();
    let mut exprs = vec!["count(*)".to_string()];
    let mut cols = Vec::new();
    for f in schema.fields() {
        let n = f.name();
        if n == "customer_id" || n == "as_of" {
            continue;
        }
        let q = quote(n);
        let numeric = f.data_type().is_numeric() || *f.data_type() == DataType::Boolean;
        let k = cols.len();
        let parts = if numeric {
            let d = format!("cast({q} as double)");
            [
                format!("count({q})"),
                format!("avg({d})"),
                format!("min({d})"),
                format!("approx_median({d})"),
                format!("max({d})"),
                "cast(null as bigint)".to_string(),
            ]
        } else {
            let null = "cast(null as double)".to_string();
            [
                format!("count({q})"),
                null.clone(),
                null.clone(),
                null.clone(),
                null,
                format!("count(distinct {q})"),
            ]
        };
        for (j, e) in parts.iter().enumerate() {
            exprs.push(format!("{e} as c{k}_{j}"));
        }
        cols.push(n.clone());
    }
    let sql = format!("select {} from features", exprs.join(", "));
    let b = collect(ctx, "feature statistics", &sql).await?;
    let rows = i64s(&b, 0)?.first().copied().unwrap_or(0);
    let mut stats = Vec::new();
    for (k, name) in cols.into_iter().enumerate() {
        let base = 1 + 6 * k;
        let one = |v: Vec<Option<f64>>| v.first().copied().flatten();
        stats.push(FeatureStat {
            name,
            non_null: u64::try_from(i64s(&b, base)?.first().copied().unwrap_or(0)).unwrap_or(0),
            mean: one(f64s(&b, base + 1)?),
            min: one(f64s(&b, base + 2)?),
            median: one(f64s(&b, base + 3)?),
            max: one(f64s(&b, base + 4)?),
            distinct: one(f64s(&b, base + 5)?).map(|v| v as u64),
        });
    }
    Ok((u64::try_from(rows).unwrap_or(0), stats))
}

async fn score_data(ctx: &SessionContext) -> Result<ScoreData> {
    let mut d = ScoreData::default();
    let b = collect(
        ctx,
        "segment sizes",
        &format!(
            "select coalesce(rfm_segment, '{PROSPECTS}'), count(*) from scores group by 1 order by 2 desc, 1"
        ),
    )
    .await?;
    let names = strings(&b, 0)?;
    let counts = i64s(&b, 1)?;
    d.segments = names
        .into_iter()
        .zip(counts)
        .map(|(n, c)| (n.unwrap_or_default(), u64::try_from(c).unwrap_or(0)))
        .collect();
    d.rows = d.segments.iter().map(|(_, c)| c).sum();
    let b = collect(
        ctx,
        "next actions",
        "select next_action, count(*) from scores group by 1 order by 2 desc, 1",
    )
    .await?;
    d.next_actions = strings(&b, 0)?
        .into_iter()
        .zip(i64s(&b, 1)?)
        .map(|(n, c)| (n.unwrap_or_default(), u64::try_from(c).unwrap_or(0)))
        .collect();
    let b = collect(
        ctx,
        "value x risk",
        "select value_tier, risk_tier, count(*), coalesce(sum(clv_12m), 0) from scores \
         where value_tier is not null and risk_tier is not null group by 1, 2",
    )
    .await?;
    let (v, r, c, m) = (strings(&b, 0)?, strings(&b, 1)?, i64s(&b, 2)?, f64s(&b, 3)?);
    for k in 0..c.len() {
        d.value_risk.insert(
            (
                v[k].clone().unwrap_or_default(),
                r[k].clone().unwrap_or_default(),
            ),
            Cell {
                customers: u64::try_from(c[k]).unwrap_or(0),
                clv_12m: m[k].unwrap_or(0.0),
            },
        );
    }
    (d.churn, d.clv) = score_columns(ctx, "scores").await?;
    Ok(d)
}

/// The churn probabilities and 12-month CLVs of a scores table (nulls out).
async fn score_columns(ctx: &SessionContext, table: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let b = collect(
        ctx,
        "score distributions",
        &format!("select churn_probability, clv_12m from {table}"),
    )
    .await?;
    let keep = |v: Vec<Option<f64>>| v.into_iter().flatten().filter(|x| x.is_finite()).collect();
    Ok((keep(f64s(&b, 0)?), keep(f64s(&b, 1)?)))
}

/// The latest published run before `run_date`, with its scores.
async fn previous_run(
    ctx: &SessionContext,
    layout: &Layout,
    run_date: RunDate,
) -> Result<Option<PreviousRun>> {
    let d = run_date.to_string();
    let runs = current_runs(layout).await?;
    let Some(r) = runs.into_iter().rev().find(|r| r.run_date < d) else {
        return Ok(None);
    };
    // The previous run's scores, by time travel to the version its runs
    // row names.
    let Some(df) =
        fidelis_engine::catalog::read_table(ctx, layout, "scores", std::slice::from_ref(&r))
            .await?
    else {
        return Ok(None);
    };
    ctx.register_table("previous_scores", df.into_view())
        .internal("report: registering the previous run's scores")?;
    let (churn, clv) = score_columns(ctx, "previous_scores").await?;
    Ok(Some(PreviousRun {
        run_date: r.run_date,
        run_id: r.staged.run_id,
        churn,
        clv,
    }))
}

async fn staged_json<T: serde::de::DeserializeOwned>(loc: &Location) -> Result<Option<T>> {
    match loc.get_opt().await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::internal_with(format!("cannot read {}", loc.url()), e)),
    }
}

/// Gather the report's data for `run_date`.
pub async fn gather(
    settings: &Settings,
    run: &RunLayout,
    code_version: &str,
) -> Result<ReportData> {
    let run_date = run.run_date();
    let validation = staged_validation(run).await?;
    let metrics = run.metrics();
    let train: TrainReport = staged_json(&metrics).await?.ok_or_else(|| {
        Error::config(format!(
            "no backtest metrics for run date {run_date} at {}: run `fidelis train` for that date first",
            metrics.url()
        ))
    })?;
    let ctx = new_session(&settings.engine, &[run.layout().root()])?;
    let features = run.features(run_date);
    let scores = run.scores();
    for (name, loc) in [("features", &features), ("scores", &scores)] {
        if loc.list_parquet().await?.is_empty() {
            return Err(Error::config(format!(
                "no staged {name} for run date {run_date} at {}: run the earlier stages first",
                loc.url()
            )));
        }
        ctx.register_parquet(name, loc.url() + "/", ParquetReadOptions::default())
            .await
            .internal("report: registering the staged outputs")?;
    }
    let (feature_rows, features) = feature_stats(&ctx).await?;
    let scores = score_data(&ctx).await?;
    let previous = previous_run(&ctx, run.layout(), run_date).await?;
    let exports = staged_json(&run.export_summary()).await?;
    Ok(ReportData {
        run_date: run_date.to_string(),
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        code_version: code_version.to_string(),
        config_path: settings.config_path.clone(),
        config_hash: settings.config_hash.clone(),
        groups_left_out: groups_left_out(&validation),
        validation,
        feature_rows,
        features,
        train,
        scores,
        previous,
        exports,
    })
}
