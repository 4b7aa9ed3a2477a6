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
use fidelis_storage::lake::TableSink;
use fidelis_storage::layout::{TableTarget, part_file};
use fidelis_storage::{Location, ParquetSink};

include!(concat!(env!("OUT_DIR"), "/sql_models.rs"));

/// A layer of the SQL models: its folder under `sql/` is the declaration
/// (which models exist, in which layer, in which order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The validated tables as a cutoff sees them: views, registered in
    /// file order (`stg_*`).
    Staging,
    /// Computed once per cutoff and read by several groups: materialized as
    /// Parquet under `intermediate/as_of=C/<name>/` in file order, then read
    /// back as tables (DataFusion inlines a view wherever it is used, so a
    /// model that several groups read would otherwise be recomputed from the
    /// event tables for each of them).
    Intermediate,
    /// Feature groups, one row per customer each: views, reported in file
    /// order and joined onto the spine by `final/features.sql`.
    Groups,
    /// The tables a stage writes: `features`, `labels`, `scores`.
    Final,
}

impl Layer {
    pub const ALL: [Layer; 4] = [
        Layer::Staging,
        Layer::Intermediate,
        Layer::Groups,
        Layer::Final,
    ];

    /// The layer's folder under `sql/`.
    pub fn folder(self) -> &'static str {
        match self {
            Layer::Staging => "staging",
            Layer::Intermediate => "intermediate",
            Layer::Groups => "groups",
            Layer::Final => "final",
        }
    }
}

/// One SQL model: the table it defines, its layer, its file and its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlModel {
    pub name: String,
    pub layer: Layer,
    /// The file name in the layer folder.
    pub file: String,
    pub sql: String,
}

/// A model's name: its file name without `.sql` and without the `NN_`
/// prefix that orders a layer (`01_rfm.sql` defines `rfm`).
pub fn model_name(file: &str) -> &str {
    let stem = file.strip_suffix(".sql").unwrap_or(file);
    match stem.split_once('_') {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => stem,
    }
}

/// The models of a layer, in file order: the files embedded at build time
/// or, when `FIDELIS_SQL_DIR` is set (a development override for trying a
/// change to the SQL on real data without rebuilding), the `.sql` files of
/// `$FIDELIS_SQL_DIR/<layer>/`, laid out as `pipeline/engine/sql/` is. The
/// override is logged, so a run that used it says so.
pub fn models(layer: Layer) -> Result<Vec<SqlModel>> {
    let model = |file: String, sql: String| SqlModel {
        name: model_name(&file).to_string(),
        layer,
        file,
        sql,
    };
    let Some(dir) = std::env::var_os("FIDELIS_SQL_DIR") else {
        return Ok(EMBEDDED
            .iter()
            .filter(|(l, _, _)| *l == layer.folder())
            .map(|(_, file, sql)| model((*file).to_string(), (*sql).to_string()))
            .collect());
    };
    let folder = std::path::Path::new(&dir).join(layer.folder());
    tracing::warn!(layer = layer.folder(), path = %folder.display(), "SQL models read from FIDELIS_SQL_DIR, not the embedded files");
    let cannot = |e: std::io::Error| {
        Error::config(format!(
            "FIDELIS_SQL_DIR: cannot read {}: {e}",
            folder.display()
        ))
    };
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&folder)
        .map_err(cannot)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(cannot)?;
    files.retain(|p| p.extension().is_some_and(|e| e == "sql"));
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let file = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sql = std::fs::read_to_string(&p).map_err(cannot)?;
            Ok(model(file, sql))
        })
        .collect()
}

/// One model of a layer by name (the final tables: `features`, `labels`,
/// `scores`; or a staging model).
pub fn model(layer: Layer, name: &str) -> Result<SqlModel> {
    models(layer)?
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::internal(format!("no SQL model {name} in sql/{}/", layer.folder())))
}

/// Fill the `{{ name }}` variables of a SQL model; a variable left unfilled
/// is an error naming the model (a bug, caught by every test).
pub fn render(model: &SqlModel, vars: &[(&str, String)]) -> Result<String> {
    let mut sql = model.sql.clone();
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
    let df = model_df(ctx, &model.name, sql).await?;
    let rows = write_df(df, &loc.child(&part_file(0))).await?;
    ctx.register_parquet(&model.name, loc.url() + "/", ParquetReadOptions::default())
        .await
        .map_err(|e| Error::internal_with(format!("registering {}", model.name), e))?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(model = %model.name, rows, seconds, "materialized");
    Ok(ModelRun {
        name: model.name.clone(),
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

/// Execute `df` into one partition of a Delta table (its data files and
/// staged add actions, fidelis_storage::lake); returns the rows written.
pub async fn write_df_table(df: DataFrame, target: &TableTarget) -> Result<u64> {
    let schema = plain_schema(df.schema().as_arrow());
    let mut sink = TableSink::create(target, Arc::clone(&schema))?;
    let url = target.dir().url();
    let mut stream = df
        .execute_stream()
        .await
        .map_err(|e| Error::internal_with(format!("executing the query for {url}"), e))?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| Error::internal_with(format!("computing {url}"), e))?;
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
