//! The feature stage: per-customer features as of a cutoff, computed by the
//! SQL models in `pipeline/features/sql/` (one feature group per file, dbt
//! style), and the training labels for a cutoff and a horizon.
//!
//! The SQL files are embedded in the binary (`include_str!`), so a binary
//! always runs the SQL it was tested with. They use three kinds of template
//! variables, `{{ name }}`, filled in by [`render`]: cutoff values
//! (`cutoff_end`, `cutoff_day`, `cutoff_date`), horizon values
//! (`horizon_end`, `horizon_days`) and the neutral values of interaction
//! counts and flags (`0`/`false` when the interactions table exists, `null`
//! when it does not).

use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{Days, NaiveDate};
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use fidelis_core::{Error, Result, RunDate, Settings, Table};
use fidelis_storage::{Location, ParquetSink};

use crate::validate::{ValidationReport, register_validated, staging};

/// One SQL model: a name (the table it defines) and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct SqlModel {
    pub name: &'static str,
    pub sql: &'static str,
}

/// Staging models, registered as views in this order.
pub const STAGING: &[SqlModel] = &[
    SqlModel {
        name: "stg_order_lines",
        sql: include_str!("../sql/stg_order_lines.sql"),
    },
    SqlModel {
        name: "stg_interactions",
        sql: include_str!("../sql/stg_interactions.sql"),
    },
];

/// Intermediate models, materialized in this order: each is computed once,
/// written as Parquet under `intermediate/as_of=C/<name>/` in the run's staging
/// area and read back as a table by the models after it. DataFusion inlines
/// a view wherever it is used, so a model that several groups read (the
/// orders, the customer-days, the interactions counted once) would
/// otherwise be recomputed from the event tables for each of them.
pub const INTERMEDIATE: &[SqlModel] = &[
    SqlModel {
        name: "int_orders",
        sql: include_str!("../sql/int_orders.sql"),
    },
    SqlModel {
        name: "int_order_days",
        sql: include_str!("../sql/int_order_days.sql"),
    },
    SqlModel {
        name: "int_customer_events",
        sql: include_str!("../sql/int_customer_events.sql"),
    },
    SqlModel {
        name: "int_survey_answers",
        sql: include_str!("../sql/int_survey_answers.sql"),
    },
    SqlModel {
        name: "int_customer_channels",
        sql: include_str!("../sql/int_customer_channels.sql"),
    },
    SqlModel {
        name: "int_customer_categories",
        sql: include_str!("../sql/int_customer_categories.sql"),
    },
];

/// Feature groups: each one row per customer, joined onto the spine by
/// `features.sql`.
pub const GROUPS: &[SqlModel] = &[
    SqlModel {
        name: "rfm",
        sql: include_str!("../sql/rfm.sql"),
    },
    SqlModel {
        name: "trends",
        sql: include_str!("../sql/trends.sql"),
    },
    SqlModel {
        name: "channel",
        sql: include_str!("../sql/channel.sql"),
    },
    SqlModel {
        name: "category",
        sql: include_str!("../sql/category.sql"),
    },
    SqlModel {
        name: "returns",
        sql: include_str!("../sql/returns.sql"),
    },
    SqlModel {
        name: "engagement",
        sql: include_str!("../sql/engagement.sql"),
    },
    SqlModel {
        name: "satisfaction",
        sql: include_str!("../sql/satisfaction.sql"),
    },
    SqlModel {
        name: "customer",
        sql: include_str!("../sql/customer.sql"),
    },
];

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

pub const FEATURES: SqlModel = SqlModel {
    name: "features",
    sql: include_str!("../sql/features.sql"),
};

pub const LABELS: SqlModel = SqlModel {
    name: "labels",
    sql: include_str!("../sql/labels.sql"),
};

/// Days since 1970-01-01 of a date.
fn day_number(d: NaiveDate) -> i64 {
    (d - NaiveDate::default()).num_days()
}

fn ts_literal(micros: i64) -> String {
    format!("arrow_cast({micros}, 'Timestamp(Microsecond, Some(\"UTC\"))')")
}

/// The SQL of a model: the embedded file, or, when `FIDELIS_SQL_DIR` is set
/// (a development override for trying a change to the SQL on real data
/// without rebuilding), `$FIDELIS_SQL_DIR/<name>.sql`. The override is
/// logged, so a run that used it says so.
fn model_sql(model: &SqlModel) -> Result<String> {
    let Some(dir) = std::env::var_os("FIDELIS_SQL_DIR") else {
        return Ok(model.sql.to_string());
    };
    let path = std::path::Path::new(&dir).join(format!("{}.sql", model.name));
    tracing::warn!(model = model.name, path = %path.display(), "SQL model read from FIDELIS_SQL_DIR, not the embedded file");
    std::fs::read_to_string(&path).map_err(|e| {
        Error::config(format!(
            "FIDELIS_SQL_DIR: cannot read {}: {e}",
            path.display()
        ))
    })
}

/// Fill the `{{ name }}` variables of a SQL model; a variable left unfilled
/// is an error naming the model (a bug, caught by every test).
pub fn render(model: &SqlModel, vars: &[(&str, String)]) -> Result<String> {
    let mut sql = model_sql(model)?;
    for (k, v) in vars {
        sql = sql.replace(&format!("{{{{ {k} }}}}"), v);
    }
    if let Some(pos) = sql.find("{{") {
        let rest: String = sql[pos..].chars().take(40).collect();
        return Err(Error::internal(format!(
            "SQL model {}: unfilled template variable at `{rest}`",
            model.name
        )));
    }
    Ok(sql)
}

fn cutoff_vars(as_of: RunDate) -> Vec<(&'static str, String)> {
    vec![
        ("cutoff_end", ts_literal(as_of.end_exclusive_micros())),
        ("cutoff_day", day_number(as_of.0).to_string()),
        ("cutoff_date", format!("DATE '{as_of}'")),
    ]
}

/// One materialized intermediate model: what it wrote and how long it took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelRun {
    pub name: String,
    pub rows: u64,
    pub seconds: f64,
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

/// Where the features of a cutoff are staged.
pub fn features_location(out: &Location, run_date: RunDate, as_of: RunDate) -> Location {
    staging(out, run_date).child(&format!("features/as_of={as_of}"))
}

/// Where the intermediate models of a cutoff are staged.
pub fn models_location(out: &Location, run_date: RunDate, as_of: RunDate) -> Location {
    staging(out, run_date).child(&format!("intermediate/as_of={as_of}"))
}

/// Where the labels of a cutoff and horizon are staged.
pub fn labels_location(
    out: &Location,
    run_date: RunDate,
    as_of: RunDate,
    horizon: u32,
) -> Location {
    staging(out, run_date).child(&format!("labels/as_of={as_of}/horizon={horizon}"))
}

/// Read the staged validation report of a run date: the feature stage needs
/// the validated tables of the same run date (a retried stage reads what an
/// earlier process staged).
pub async fn staged_validation(out: &Location, run_date: RunDate) -> Result<ValidationReport> {
    let loc = staging(out, run_date).child("validate.json");
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
    /// ([`stage_backtest_sample`]).
    BacktestSample,
}

/// Where the backtest sample of a table is staged.
pub fn backtest_sample_location(out: &Location, run_date: RunDate, table: Table) -> Location {
    staging(out, run_date).child(&format!("backtest_sample/{table}"))
}

/// The customers the backtest cutoffs of a run see, when there are too
/// many to need them all (`models.backtest_customers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestSample {
    /// Customers with a features row as of the run date.
    pub customers: u64,
    /// The target share of them (`backtest_customers / customers`).
    pub share: f64,
    /// The rule: `md5('fidelis-backtest:' || customer_id) < md5_below`
    /// (lower-case hex; the first 8 hex digits of the threshold encode
    /// `share x 2^32`), a rule any SQL engine can apply.
    pub md5_below: String,
    /// Customers in the sample (among those of the orders and customers
    /// tables).
    pub sampled_customers: u64,
    /// Rows staged per table.
    pub rows: std::collections::BTreeMap<String, u64>,
}

/// The sampling threshold for a share in (0, 1): 8 lower-case hex digits.
pub fn md5_threshold(share: f64) -> String {
    let v = (share.clamp(0.0, 1.0) * 4_294_967_296.0)
        .floor()
        .min(4_294_967_295.0);
    format!("{:08x}", v as u64)
}

/// Stages the backtest sample of a run: when the run date has more than
/// `target` customers (and `target > 0`), the validated rows of the
/// customers whose `md5('fidelis-backtest:' || customer_id)` falls below
/// the share's threshold, table by table; `None` (and any earlier sample
/// removed) otherwise. The rule depends on the customer id only, so a
/// customer is in or out at every cutoff, and reruns pick the same
/// customers.
pub async fn stage_backtest_sample(
    settings: &Settings,
    run_date: RunDate,
    customers: u64,
    target: u64,
) -> Result<Option<BacktestSample>> {
    let out = Location::parse(&settings.output_url, &settings.storage)?;
    staging(&out, run_date)
        .child("backtest_sample")
        .delete_all()
        .await?;
    if target == 0 || customers <= target {
        return Ok(None);
    }
    let share = target as f64 / customers as f64;
    let md5_below = md5_threshold(share);
    let report = staged_validation(&out, run_date).await?;
    let ctx = session(settings, &out, run_date, &report, Population::All).await?;
    let ids = ctx
        .sql(&format!(
            "SELECT customer_id FROM (SELECT customer_id FROM purchases UNION SELECT customer_id FROM customers) \
             WHERE md5('fidelis-backtest:' || customer_id) < '{md5_below}'"
        ))
        .await
        .map_err(|e| Error::internal_with("selecting the backtest sample", e))?
        .collect()
        .await
        .map_err(|e| Error::internal_with("selecting the backtest sample", e))?;
    let sampled_customers = ids.iter().map(|b| b.num_rows() as u64).sum();
    ctx.register_batch(
        "backtest_ids",
        arrow::compute::concat_batches(
            &ids.first().map_or_else(
                || {
                    Arc::new(Schema::new(vec![Field::new(
                        "customer_id",
                        DataType::Utf8,
                        true,
                    )]))
                },
                RecordBatch::schema,
            ),
            &ids,
        )
        .map_err(|e| Error::internal_with("backtest sample ids", e))?,
    )
    .map_err(|e| Error::internal_with("registering the backtest sample ids", e))?;
    let mut rows = std::collections::BTreeMap::new();
    for t in &report.tables {
        let df = ctx
            .sql(&format!(
                "SELECT * FROM {0} WHERE customer_id IN (SELECT customer_id FROM backtest_ids)",
                t.table
            ))
            .await
            .map_err(|e| Error::internal_with(format!("sampling {}", t.table), e))?;
        let Some(table) = Table::ALL.into_iter().find(|x| x.name() == t.table) else {
            continue;
        };
        let n = write_df(
            df,
            &backtest_sample_location(&out, run_date, table).child("part-00000.parquet"),
        )
        .await?;
        rows.insert(t.table.clone(), n);
    }
    Ok(Some(BacktestSample {
        customers,
        share,
        md5_below,
        sampled_customers,
        rows,
    }))
}

/// The output location and a session over every validated table of the
/// run date (the score and export stages).
pub(crate) async fn validated_session(
    settings: &Settings,
    run_date: RunDate,
) -> Result<(Location, SessionContext)> {
    let out = Location::parse(&settings.output_url, &settings.storage)?;
    let report = staged_validation(&out, run_date).await?;
    let ctx = session(settings, &out, run_date, &report, Population::All).await?;
    Ok((out, ctx))
}

/// A session with the validated tables of `run_date` registered (or their
/// backtest sample); a table that was not configured is registered empty
/// (with its canonical schema), so every SQL model runs and its group comes
/// out null.
pub(crate) async fn session(
    settings: &Settings,
    out: &Location,
    run_date: RunDate,
    report: &ValidationReport,
    population: Population,
) -> Result<SessionContext> {
    let ctx = crate::session::new_session(&settings.engine, &[out])?;
    match population {
        Population::All => register_validated(&ctx, out, run_date, report).await?,
        Population::BacktestSample => {
            crate::validate::register_tables(&ctx, report, |t| {
                backtest_sample_location(out, run_date, t)
            })
            .await?;
        }
    }
    for table in Table::ALL {
        if report.table(table).is_none() {
            let empty = RecordBatch::new_empty(crate::validate::canonical_schema(table));
            ctx.register_batch(table.name(), empty)
                .map_err(|e| Error::internal_with(format!("registering an empty {table}"), e))?;
        }
    }
    Ok(ctx)
}

/// Plan a SQL model; a planning error names the model and shows its SQL.
async fn model_df(ctx: &SessionContext, name: &str, sql: &str) -> Result<DataFrame> {
    ctx.sql(sql)
        .await
        .map_err(|e| Error::internal_with(format!("SQL model {name}:\n{sql}"), e))
}

async fn register_sql(ctx: &SessionContext, name: &str, sql: &str) -> Result<()> {
    let df = model_df(ctx, name, sql).await?;
    ctx.register_table(name, df.into_view())
        .map_err(|e| Error::internal_with(format!("registering {name}"), e))?;
    Ok(())
}

/// Run a model, write its rows as Parquet under `loc` and register them
/// under the model's name.
async fn materialize(
    ctx: &SessionContext,
    model: &SqlModel,
    sql: &str,
    loc: &Location,
) -> Result<ModelRun> {
    let started = Instant::now();
    let df = model_df(ctx, model.name, sql).await?;
    let rows = write_df(df, &loc.child("part-00000.parquet")).await?;
    ctx.register_parquet(model.name, loc.url() + "/", ParquetReadOptions::default())
        .await
        .map_err(|e| Error::internal_with(format!("registering {}", model.name), e))?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(model = model.name, rows, seconds, "materialized");
    Ok(ModelRun {
        name: model.name.to_string(),
        rows,
        seconds,
    })
}

/// Compute the features as of `as_of` from the validated tables of
/// `run_date` and stage them as Parquet.
pub async fn build_features(
    settings: &Settings,
    run_date: RunDate,
    as_of: RunDate,
    population: Population,
) -> Result<FeatureReport> {
    let started = Instant::now();
    if as_of > run_date {
        return Err(Error::config(format!(
            "--as-of {as_of} is after the run date {run_date}: features cannot see the future"
        )));
    }
    let out = Location::parse(&settings.output_url, &settings.storage)?;
    let report = staged_validation(&out, run_date).await?;
    let ctx = session(settings, &out, run_date, &report, population).await?;
    let mut vars = cutoff_vars(as_of);
    let has_interactions = report.table(Table::Interactions).is_some();
    vars.push((
        "interactions_count_default",
        if has_interactions { "0" } else { "null" }.to_string(),
    ));
    vars.push((
        "interactions_flag_default",
        if has_interactions { "false" } else { "null" }.to_string(),
    ));
    for m in STAGING {
        register_sql(&ctx, m.name, &render(m, &vars)?).await?;
    }
    let models_loc = models_location(&out, run_date, as_of);
    models_loc.delete_all().await?;
    let mut models = Vec::new();
    for m in INTERMEDIATE {
        models.push(materialize(&ctx, m, &render(m, &vars)?, &models_loc.child(m.name)).await?);
    }
    for m in GROUPS {
        register_sql(&ctx, m.name, &render(m, &vars)?).await?;
    }
    let final_started = Instant::now();
    let sql = render(&FEATURES, &vars)?;
    let df = model_df(&ctx, FEATURES.name, &sql).await?;
    let columns: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let loc = features_location(&out, run_date, as_of);
    loc.delete_all().await?;
    let rows = write_df(df, &loc.child("part-00000.parquet")).await?;

    // Invariants, checked on what was written: one row per customer.
    let check = crate::session::new_session(&settings.engine, &[&out])?;
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
        groups: GROUPS.iter().map(|g| g.name.to_string()).collect(),
        groups_left_out: groups_left_out(&report),
        models,
        final_seconds: final_started.elapsed().as_secs_f64(),
        seconds: started.elapsed().as_secs_f64(),
    };
    // Beside the data, hidden from readers of the folder (leading `_`).
    let json = serde_json::to_vec_pretty(&feature_report)
        .map_err(|e| Error::internal_with("cannot serialise the feature report", e))?;
    loc.child("_report.json").put(json).await?;
    Ok(feature_report)
}

/// Compute the labels for cutoff `as_of` and horizon `horizon_days` from the
/// validated tables of `run_date`; the horizon must end on or before it.
pub async fn build_labels(
    settings: &Settings,
    run_date: RunDate,
    as_of: RunDate,
    horizon_days: u32,
    population: Population,
) -> Result<LabelReport> {
    let horizon_end_date = as_of
        .0
        .checked_add_days(Days::new(u64::from(horizon_days)))
        .ok_or_else(|| Error::config("horizon out of range"))?;
    if horizon_end_date > run_date.0 {
        return Err(Error::config(format!(
            "labels for {as_of} + {horizon_days} days need data up to {horizon_end_date}, after the run date {run_date}"
        )));
    }
    let out = Location::parse(&settings.output_url, &settings.storage)?;
    let report = staged_validation(&out, run_date).await?;
    let ctx = session(settings, &out, run_date, &report, population).await?;
    let mut vars = cutoff_vars(as_of);
    vars.push((
        "horizon_end",
        ts_literal(RunDate(horizon_end_date).end_exclusive_micros()),
    ));
    vars.push(("horizon_days", horizon_days.to_string()));
    let sql = render(&LABELS, &vars)?;
    let df = model_df(&ctx, LABELS.name, &sql).await?;
    let loc = labels_location(&out, run_date, as_of, horizon_days);
    loc.delete_all().await?;
    let rows = write_df(df, &loc.child("part-00000.parquet")).await?;
    let check = crate::session::new_session(&settings.engine, &[&out])?;
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

/// Run a query returning one row of integers.
async fn collect_one_row(ctx: &SessionContext, sql: &str) -> Result<Vec<i64>> {
    let batches = ctx
        .sql(sql)
        .await
        .map_err(|e| Error::internal_with(sql.to_string(), e))?
        .collect()
        .await
        .map_err(|e| Error::internal_with(sql.to_string(), e))?;
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::internal(format!("no row from {sql}")))?;
    (0..batch.num_columns())
        .map(|i| {
            let c = arrow::compute::cast(batch.column(i), &DataType::Int64)
                .map_err(|e| Error::internal_with("cast", e))?;
            Ok(c.as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .map(|a| a.value(0))
                .unwrap_or(0))
        })
        .collect()
}

/// Strings as plain utf8 in every file fidelis writes (DataFusion works with
/// string views inside; readers everywhere understand utf8).
pub(crate) fn plain_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                let dt = match f.data_type() {
                    DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                    other => other.clone(),
                };
                Field::new(f.name(), dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// Stream a DataFrame into one Parquet object; returns the rows written.
pub async fn write_df(df: DataFrame, loc: &Location) -> Result<u64> {
    let schema = plain_schema(df.schema().as_arrow());
    let mut sink = ParquetSink::create(loc, Arc::clone(&schema))?;
    let mut stream = df
        .execute_stream()
        .await
        .map_err(|e| Error::internal_with(format!("executing the query for {}", loc.url()), e))?;
    while let Some(batch) = stream.next().await {
        let batch =
            batch.map_err(|e| Error::internal_with(format!("computing {}", loc.url()), e))?;
        sink.write(&to_plain(&batch, &schema)?).await?;
    }
    sink.finish().await
}

/// A batch cast to the plain types of `schema` (see [`plain_schema`]).
pub(crate) fn to_plain(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let cols = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal_with("casting to plain types", e))?;
    RecordBatch::try_new(Arc::clone(schema), cols)
        .map_err(|e| Error::internal_with("building a batch", e))
}
