//! The SQL-model runner: every SQL model of `pipeline/engine/sql/` in its
//! layer (staging views, materialized intermediate models, feature groups,
//! the final joins), the `FIDELIS_SQL_DIR` override, template rendering,
//! and the helpers that plan, materialize and write a model's rows.
//!
//! The SQL files are embedded in the binary (`include_str!`), so a binary
//! always runs the SQL it was tested with.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use fidelis_core::{Error, Result};
use fidelis_storage::layout::part_file;
use fidelis_storage::{Location, ParquetSink};

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

pub const FEATURES: SqlModel = SqlModel {
    name: "features",
    sql: include_str!("../sql/features.sql"),
};

pub const LABELS: SqlModel = SqlModel {
    name: "labels",
    sql: include_str!("../sql/labels.sql"),
};

/// The scores SQL model (the score stage, `crate::scores`).
pub const SCORES: SqlModel = SqlModel {
    name: "scores",
    sql: include_str!("../sql/scores.sql"),
};

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

/// One materialized intermediate model: what it wrote and how long it took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelRun {
    pub name: String,
    pub rows: u64,
    pub seconds: f64,
}

/// Plan a SQL model; a planning error names the model and shows its SQL.
pub(crate) async fn model_df(ctx: &SessionContext, name: &str, sql: &str) -> Result<DataFrame> {
    ctx.sql(sql)
        .await
        .map_err(|e| Error::internal_with(format!("SQL model {name}:\n{sql}"), e))
}

pub(crate) async fn register_sql(ctx: &SessionContext, name: &str, sql: &str) -> Result<()> {
    let df = model_df(ctx, name, sql).await?;
    ctx.register_table(name, df.into_view())
        .map_err(|e| Error::internal_with(format!("registering {name}"), e))?;
    Ok(())
}

/// Run a model, write its rows as Parquet under `loc` and register them
/// under the model's name.
pub(crate) async fn materialize(
    ctx: &SessionContext,
    model: &SqlModel,
    sql: &str,
    loc: &Location,
) -> Result<ModelRun> {
    let started = Instant::now();
    let df = model_df(ctx, model.name, sql).await?;
    let rows = write_df(df, &loc.child(&part_file(0))).await?;
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

/// Run a query returning one row of integers.
pub(crate) async fn collect_one_row(ctx: &SessionContext, sql: &str) -> Result<Vec<i64>> {
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
