//! The feature stage: per-customer features as of a cutoff, computed by the
//! SQL models in `pipeline/engine/sql/` (run by [`crate::sql`], one feature
//! group per file, dbt style), and the training labels for a cutoff and a
//! horizon; [`sample`] stages the backtest sample of large runs.
//!
//! The SQL models use three kinds of template variables, `{{ name }}`,
//! filled in by [`crate::sql::render`]: cutoff values (`cutoff_end`,
//! `cutoff_day`, `cutoff_date`), the labels' `horizon_days` and the neutral
//! values of interaction counts and flags (`0`/`false` when the
//! interactions table exists, `null` when it does not). The labels' cut at
//! the end of the horizon is `stg_order_lines` rendered with the cutoff
//! values of that day ([`labels_frame`]).

pub mod sample;

use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::{Days, NaiveDate};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use fidelis_core::{Error, Result, RunDate, Settings, Table};
use fidelis_storage::layout::RunLayout;

use crate::sql::{
    Layer, ModelRun, collect_one_row, materialize, model, model_df, models, register_sql, render,
    write_df_table,
};
use crate::validate::{ValidationReport, register_validated};

/// The feature groups a validation report cannot feed, with the reason:
/// a missing optional table or column.
pub fn groups_left_out(report: &ValidationReport) -> Vec<String> {
    let mut out = Vec::new();
    if report.table(Table::Interactions).is_none() {
        out.push("engagement (no interactions table)".to_string());
        out.push("satisfaction (no interactions table)".to_string());
    }
    if report.table(Table::Customers).is_none() {
        out.push("customer (no customers table)".to_string());
    }
    if let Some(p) = report.table(Table::Purchases) {
        for (column, group) in [("channel", "channel"), ("category", "category")] {
            if p.missing_optional_columns.iter().any(|c| c == column) {
                out.push(format!("{group} (purchases has no {column} column)"));
            }
        }
    }
    out
}

/// Days since 1970-01-01 of a date.
fn day_number(d: NaiveDate) -> i64 {
    (d - NaiveDate::default()).num_days()
}

fn ts_literal(micros: i64) -> String {
    format!("arrow_cast({micros}, 'Timestamp(Microsecond, Some(\"UTC\"))')")
}

/// The template variables of a cutoff.
fn cutoff_vars(as_of: RunDate) -> Vec<(&'static str, String)> {
    vec![
        ("cutoff_end", ts_literal(as_of.end_exclusive_micros())),
        ("cutoff_day", day_number(as_of.0).to_string()),
        ("cutoff_date", format!("DATE '{as_of}'")),
    ]
}

/// The template variables of the feature models as of a cutoff: the cutoff
/// and the neutral values of interaction counts and flags (`0`/`false`
/// when the interactions table exists, `null` when it does not).
pub(crate) fn feature_vars(as_of: RunDate, has_interactions: bool) -> Vec<(&'static str, String)> {
    let mut vars = cutoff_vars(as_of);
    vars.push((
        "interactions_count_default",
        if has_interactions { "0" } else { "null" }.to_string(),
    ));
    vars.push((
        "interactions_flag_default",
        if has_interactions { "false" } else { "null" }.to_string(),
    ));
    vars
}

/// Every model below the final layer, as of a cutoff: the staging views,
/// the intermediate models materialized under the run's
/// `intermediate/as_of=C/`, the feature groups as views. Returns the
/// intermediate runs and the group names, in their layers' order.
pub(crate) async fn register_feature_models(
    ctx: &SessionContext,
    run: &RunLayout,
    as_of: RunDate,
    vars: &[(&str, String)],
) -> Result<(Vec<ModelRun>, Vec<String>)> {
    for m in models(Layer::Staging)? {
        register_sql(ctx, &m.name, &render(&m, vars)?).await?;
    }
    run.intermediate(as_of).delete_all().await?;
    let mut runs = Vec::new();
    for m in models(Layer::Intermediate)? {
        let loc = run.intermediate_model(as_of, &m.name);
        runs.push(materialize(ctx, &m, &render(&m, vars)?, &loc).await?);
    }
    let mut groups = Vec::new();
    for m in models(Layer::Groups)? {
        register_sql(ctx, &m.name, &render(&m, vars)?).await?;
        groups.push(m.name);
    }
    Ok((runs, groups))
}

/// The features table (`final/features.sql`) as a planned query over the
/// models [`register_feature_models`] registered with the same `vars`.
pub(crate) async fn features_frame(
    ctx: &SessionContext,
    vars: &[(&str, String)],
) -> Result<datafusion::dataframe::DataFrame> {
    let features = model(Layer::Final, "features")?;
    model_df(ctx, &features.name, &render(&features, vars)?).await
}

/// The labels of cutoff `as_of` for `horizon_days` as a planned query over
/// the validated tables registered in `ctx`. `stg_order_lines` is
/// registered rendered with its cut at the end of the horizon (the labels
/// look past the cutoff; nothing else does), then `final/labels.sql` reads
/// it.
pub(crate) async fn labels_frame(
    ctx: &SessionContext,
    as_of: RunDate,
    horizon_days: u32,
) -> Result<datafusion::dataframe::DataFrame> {
    let horizon_end = as_of
        .0
        .checked_add_days(Days::new(u64::from(horizon_days)))
        .map(RunDate)
        .ok_or_else(|| Error::config("horizon out of range"))?;
    let staging = model(Layer::Staging, "stg_order_lines")?;
    register_sql(
        ctx,
        &staging.name,
        &render(&staging, &cutoff_vars(horizon_end))?,
    )
    .await?;
    let mut vars = cutoff_vars(as_of);
    vars.push(("horizon_days", horizon_days.to_string()));
    let labels = model(Layer::Final, "labels")?;
    model_df(ctx, &labels.name, &render(&labels, &vars)?).await
}

/// What the feature stage wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureReport {
    pub as_of: String,
    pub url: String,
    pub rows: u64,
    pub customers_with_orders: u64,
    /// Days of order history behind the cutoff: the largest `tenure_days`
    /// (0 without orders).
    #[serde(default)]
    pub history_days: f64,
    pub columns: Vec<String>,
    /// Feature groups computed, and those left out for want of a table.
    pub groups: Vec<String>,
    pub groups_left_out: Vec<String>,
    /// The intermediate models, in the order they ran.
    pub models: Vec<ModelRun>,
    /// Seconds for the final join and write, after the intermediate models.
    pub final_seconds: f64,
    pub seconds: f64,
}

/// What the label step wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelReport {
    pub as_of: String,
    pub horizon_days: u32,
    pub url: String,
    pub rows: u64,
    pub churn_rate: f64,
}

/// Read the staged validation report of a run date: the feature stage needs
/// the validated tables of the same run date (a retried stage reads what an
/// earlier process staged).
pub async fn staged_validation(run: &RunLayout) -> Result<ValidationReport> {
    let run_date = run.run_date();
    let loc = run.validation_report();
    let bytes = loc.get_opt().await?.ok_or_else(|| {
        Error::config(format!(
            "no validated inputs for run date {run_date} at {}: run `fidelis validate` for that date first",
            loc.url()
        ))
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::internal_with(format!("cannot read {}", loc.url()), e))
}

/// Which customers a feature or label computation sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population {
    /// Every validated row.
    All,
    /// The rows of the customers in the staged backtest sample
    /// ([`sample::stage_backtest_sample`]).
    BacktestSample,
}

/// A session over every validated table of the run date (the score and
/// export stages).
pub(crate) async fn validated_session(
    settings: &Settings,
    run: &RunLayout,
) -> Result<SessionContext> {
    let report = staged_validation(run).await?;
    session(settings, run, &report, Population::All).await
}

/// A session with the validated tables of `run_date` registered (or their
/// backtest sample); a table that was not configured is registered empty
/// (with its canonical schema), so every SQL model runs and its group comes
/// out null.
pub(crate) async fn session(
    settings: &Settings,
    run: &RunLayout,
    report: &ValidationReport,
    population: Population,
) -> Result<SessionContext> {
    let ctx = crate::session::new_session(&settings.engine, &[run.layout().root()])?;
    match population {
        Population::All => register_validated(&ctx, run, report).await?,
        Population::BacktestSample => {
            crate::validate::register_tables(&ctx, report, |t| run.backtest_sample(t)).await?;
        }
    }
    for table in Table::ALL {
        if report.table(table).is_none() {
            let empty = RecordBatch::new_empty(crate::validate::validated_schema(
                table,
                settings.keeps_clear_email(),
            ));
            ctx.register_batch(table.name(), empty)
                .map_err(|e| Error::internal_with(format!("registering an empty {table}"), e))?;
        }
    }
    Ok(ctx)
}

/// Compute the features as of `as_of` from the validated tables of
/// `run_date` and stage them as Parquet.
pub async fn build_features(
    settings: &Settings,
    run: &RunLayout,
    as_of: RunDate,
    population: Population,
) -> Result<FeatureReport> {
    let started = Instant::now();
    let run_date = run.run_date();
    if as_of > run_date {
        return Err(Error::config(format!(
            "--as-of {as_of} is after the run date {run_date}: features cannot see the future"
        )));
    }
    let report = staged_validation(run).await?;
    let ctx = session(settings, run, &report, population).await?;
    let has_interactions = report.table(Table::Interactions).is_some();
    let vars = feature_vars(as_of, has_interactions);
    let (models, groups) = register_feature_models(&ctx, run, as_of, &vars).await?;
    let final_started = Instant::now();
    let df = features_frame(&ctx, &vars).await?;
    let columns: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let target = run.features_target(as_of);
    let loc = target.dir();
    loc.delete_all().await?;
    let rows = write_df_table(df, &target).await?;

    // Invariants, checked on what was written: one row per customer.
    let check = crate::session::new_session(&settings.engine, &[run.layout().root()])?;
    check
        .register_parquet("f", loc.url() + "/", Default::default())
        .await
        .map_err(|e| Error::internal_with("reading back the features", e))?;
    let counts = collect_one_row(
        &check,
        "select count(*), count(distinct customer_id), count(case when has_orders then 1 end), \
         coalesce(max(tenure_days), 0) from f",
    )
    .await?;
    if counts[0] != counts[1] {
        return Err(Error::internal(format!(
            "features as of {as_of}: {} rows for {} customers: customer_id is not unique",
            counts[0], counts[1]
        )));
    }
    let feature_report = FeatureReport {
        as_of: as_of.to_string(),
        url: loc.url(),
        rows,
        customers_with_orders: u64::try_from(counts[2]).unwrap_or(0),
        history_days: counts[3] as f64,
        columns,
        groups,
        groups_left_out: groups_left_out(&report),
        models,
        final_seconds: final_started.elapsed().as_secs_f64(),
        seconds: started.elapsed().as_secs_f64(),
    };
    // A published file of the run (not part of the table).
    let json = serde_json::to_vec_pretty(&feature_report)
        .map_err(|e| Error::internal_with("cannot serialise the feature report", e))?;
    run.features_report(as_of).put(json).await?;
    Ok(feature_report)
}

/// Compute the labels for cutoff `as_of` and horizon `horizon_days` from the
/// validated tables of `run_date`; the horizon must end on or before it.
pub async fn build_labels(
    settings: &Settings,
    run: &RunLayout,
    as_of: RunDate,
    horizon_days: u32,
    population: Population,
) -> Result<LabelReport> {
    let run_date = run.run_date();
    let horizon_end_date = as_of
        .0
        .checked_add_days(Days::new(u64::from(horizon_days)))
        .ok_or_else(|| Error::config("horizon out of range"))?;
    if horizon_end_date > run_date.0 {
        return Err(Error::config(format!(
            "labels for {as_of} + {horizon_days} days need data up to {horizon_end_date}, after the run date {run_date}"
        )));
    }
    let report = staged_validation(run).await?;
    let ctx = session(settings, run, &report, population).await?;
    let df = labels_frame(&ctx, as_of, horizon_days).await?;
    let target = run.labels_target(as_of, horizon_days);
    let loc = target.dir();
    loc.delete_all().await?;
    let rows = write_df_table(df, &target).await?;
    let check = crate::session::new_session(&settings.engine, &[run.layout().root()])?;
    check
        .register_parquet("l", loc.url() + "/", Default::default())
        .await
        .map_err(|e| Error::internal_with("reading back the labels", e))?;
    let churned =
        collect_one_row(&check, "select count(case when churned then 1 end) from l").await?;
    Ok(LabelReport {
        as_of: as_of.to_string(),
        horizon_days,
        url: loc.url(),
        rows,
        churn_rate: if rows == 0 {
            0.0
        } else {
            churned[0] as f64 / rows as f64
        },
    })
}
