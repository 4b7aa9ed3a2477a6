//! Golden tests of the SQL models (`pipeline/engine/golden/README.md`):
//! one given input (`golden/inputs/`: the validated tables, and the model
//! outputs the scores start from), run through the same code as the stages
//! (the staging views, the intermediate models materialized, the groups,
//! the final models), and per model the expected rows in
//! `golden/<model>.csv`.
//!
//! A golden file is the model's header (`name:type`) and its rows, sorted,
//! floats rounded to 1e-9, nulls as `NULL`; the `#` lines at its top are
//! kept as they are (where the expected rows are worked out by hand, the
//! arithmetic is there). Regenerate after an intended change with
//!
//! ```text
//! FIDELIS_UPDATE_GOLDEN=1 cargo test -p fidelis-engine golden
//! ```
//!
//! and read the diff: every changed row is a changed output.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::prelude::SessionContext;

use fidelis_core::config::{EngineConfig, StorageConfig};
use fidelis_core::marketing::SegmentsConfig;
use fidelis_core::{RunDate, Table};
use fidelis_storage::Location;
use fidelis_storage::layout::{Layout, RunLayout};

use crate::features::{feature_vars, features_frame, labels_frame, register_feature_models};
use crate::sql::{Layer, model_df, to_plain};
use crate::validate::canonical_schema;

/// The cutoff every golden is computed at, and the labels' horizon.
const CUTOFF: &str = "2026-03-10";
const HORIZON_DAYS: u32 = 30;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// The lines of a fixture file without its `#` comment lines.
fn data_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// A CSV fixture as one batch. With `schema`, its header names columns of
/// it (typed from it) and the other columns of `schema` are null; without,
/// its header types every column (`name:type`).
fn read_csv(path: &Path, schema: Option<&SchemaRef>) -> RecordBatch {
    let lines = data_lines(path);
    let header: Vec<String> = lines[0].split(',').map(|c| c.trim().to_string()).collect();
    let file_schema = Arc::new(Schema::new(
        header
            .iter()
            .map(|name| {
                let (name, ty) = match name.split_once(':') {
                    Some((n, t)) => (n, parse_type(t)),
                    None => (
                        name.as_str(),
                        schema
                            .unwrap_or_else(|| panic!("{}: `{name}` has no type", path.display()))
                            .field_with_name(name)
                            .unwrap_or_else(|_| panic!("{}: no column {name}", path.display()))
                            .data_type()
                            .clone(),
                    ),
                };
                Field::new(name, ty, true)
            })
            .collect::<Vec<_>>(),
    ));
    let body = lines[1..].join("\n");
    let mut reader = arrow::csv::ReaderBuilder::new(Arc::clone(&file_schema))
        .with_header(false)
        .build(std::io::Cursor::new(body))
        .expect("csv reader");
    let batch = reader
        .next()
        .unwrap_or_else(|| Ok(RecordBatch::new_empty(Arc::clone(&file_schema))))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Some(schema) = schema else {
        return batch;
    };
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) => Arc::clone(c),
            None => arrow::array::new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    RecordBatch::try_new(Arc::clone(schema), columns).expect("fixture batch")
}

fn parse_type(t: &str) -> DataType {
    match t {
        "utf8" => DataType::Utf8,
        "float64" => DataType::Float64,
        "int64" => DataType::Int64,
        "int32" => DataType::Int32,
        "bool" => DataType::Boolean,
        "date32" => DataType::Date32,
        other => {
            panic!("golden fixture type {other}: use utf8, float64, int64, int32, bool or date32")
        }
    }
}

/// A session with the golden input registered as the validated tables, and
/// a run layout in a temporary folder for the materialized models.
async fn session() -> (SessionContext, RunLayout, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let root = Location::parse(
        dir.path().to_str().expect("utf8"),
        &StorageConfig::default(),
    )
    .expect("root");
    let run = Layout::new(root)
        .run(cutoff(), "golden")
        .with_attempt(fidelis_storage::layout::Step::Features, "golden");
    let engine = EngineConfig {
        target_partitions: Some(2),
        ..EngineConfig::default()
    };
    let ctx = crate::session::new_session(&engine, &[run.layout().root()]).expect("session");
    for table in Table::ALL {
        let path = golden_dir().join(format!("inputs/{}.csv", table.name()));
        let batch = read_csv(&path, Some(&canonical_schema(table)));
        ctx.register_batch(table.name(), batch).expect("register");
    }
    (ctx, run, dir)
}

fn cutoff() -> RunDate {
    RunDate::parse(CUTOFF).expect("cutoff")
}

async fn collect(df: datafusion::dataframe::DataFrame) -> (SchemaRef, Vec<RecordBatch>) {
    let schema = crate::sql::plain_schema(df.schema().as_arrow());
    let batches = df.collect().await.expect("the model runs");
    let batches = batches
        .iter()
        .map(|b| to_plain(b, &schema).expect("plain"))
        .collect();
    (schema, batches)
}

/// The rows of a model, computed as the stages compute them.
async fn run_model(name: &str) -> (SchemaRef, Vec<RecordBatch>) {
    let (ctx, run, _dir) = session().await;
    if name == "labels" {
        let df = labels_frame(&ctx, cutoff(), HORIZON_DAYS).await;
        return collect(df.expect("labels")).await;
    }
    let vars = feature_vars(cutoff(), true);
    register_feature_models(&ctx, &run, cutoff(), &vars)
        .await
        .expect("models");
    let df = match name {
        "features" => features_frame(&ctx, &vars).await,
        "scores" => {
            let features = features_frame(&ctx, &vars).await.expect("features");
            ctx.register_table("features", features.into_view())
                .expect("features view");
            let base = read_csv(&golden_dir().join("inputs/base.csv"), None);
            let sql = crate::scores::scores_sql(&SegmentsConfig::default(), &base.schema())
                .expect("scores sql");
            ctx.register_batch("base", base).expect("base");
            Ok(ctx.sql(&sql).await.expect("scores plan"))
        }
        _ => model_df(&ctx, name, &format!("select * from {name}")).await,
    };
    collect(df.expect("plan")).await
}

/// A value as the golden files write it.
fn cell(a: &dyn Array, i: usize) -> String {
    if a.is_null(i) {
        return "NULL".into();
    }
    match a.data_type() {
        DataType::Float64 => {
            let x = a.as_primitive::<Float64Type>().value(i);
            let r = (x * 1e9).round() / 1e9;
            format!("{}", if r == 0.0 { 0.0 } else { r })
        }
        _ => arrow::util::display::array_value_to_string(a, i).expect("display"),
    }
}

/// A model's output as golden text: the typed header, then the rows sorted.
fn golden_text(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<String> {
    let header = schema
        .fields()
        .iter()
        .map(|f| format!("{}:{}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(",");
    let mut rows = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| cell(c.as_ref(), i))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
    }
    rows.sort();
    std::iter::once(header).chain(rows).collect()
}

/// Compare a model's rows with its golden file (or rewrite the file, keeping
/// its `#` lines, when `FIDELIS_UPDATE_GOLDEN` is set).
async fn check(name: &str) {
    let (schema, batches) = run_model(name).await;
    let got = golden_text(&schema, &batches);
    let path = golden_dir().join(format!("{name}.csv"));
    if std::env::var_os("FIDELIS_UPDATE_GOLDEN").is_some() {
        let comments: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(str::to_string)
            .collect();
        let text = comments
            .into_iter()
            .chain(got)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        std::fs::write(&path, text).expect("write golden");
        return;
    }
    let want = data_lines(&path);
    if want != got {
        let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
        let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
        panic!(
            "SQL model {name} differs from golden/{name}.csv (regenerate with FIDELIS_UPDATE_GOLDEN=1 if intended)\n\
             expected, not produced:\n  {}\nproduced, not expected:\n  {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  "),
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}

macro_rules! golden {
    ($($model:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $model() {
                check(stringify!($model)).await;
            }
        )*

        /// Every model of `sql/` has its golden test (the list above).
        #[test]
        fn every_sql_model_has_a_golden() {
            let tested = [$(stringify!($model)),*];
            for layer in Layer::ALL {
                for m in crate::sql::models(layer).expect("models") {
                    assert!(tested.contains(&m.name.as_str()), "no golden test for sql/{}/{}", layer.folder(), m.file);
                    assert!(golden_dir().join(format!("{}.csv", m.name)).exists(), "no golden/{}.csv", m.name);
                }
            }
        }
    };
}

golden!(
    stg_order_lines,
    stg_interactions,
    stg_customers,
    int_orders,
    int_order_days,
    int_customer_events,
    int_survey_answers,
    int_customer_channels,
    int_customer_categories,
    rfm,
    trends,
    channel,
    category,
    returns,
    engagement,
    satisfaction,
    customer,
    features,
    labels,
    scores,
);
