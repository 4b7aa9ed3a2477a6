//! The published outputs as SQL tables, for `fidelis sql`.
//!
//! Each table is a Hive-partitioned listing of `<out>/<table>/` (partition
//! columns `run_date`, `run_id` and the table's own: `as_of`, `horizon`,
//! `segment`, `audience`) restricted to the run ids the manifests
//! name: a reader resolves every date through its manifest, so files of a
//! run killed before its manifest, or of an older run of the same date not
//! yet cleaned up, are never seen. Two more tables come from the manifests
//! themselves: `runs` (one row per published date) and `run_files` (every
//! published file with its rows and checksum). Rejected rows keep one
//! schema per input table, so they are not one SQL table: `run_files` lists
//! their files.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::prelude::SessionContext;

use fidelis_core::{Error, Result, Settings};
use fidelis_storage::layout::Layout;
use fidelis_storage::publish::{Manifest, read_manifests};

use crate::scores::sql_string;

/// The Parquet tables and their partition columns below `run_id=`.
pub const TABLES: &[(&str, &[&str])] = &[
    ("scores", &[]),
    ("segments", &["segment"]),
    ("exports", &["audience"]),
    // The feature files carry their `as_of` column already.
    ("features", &[]),
    ("labels", &["as_of", "horizon"]),
];

/// A session with every published table registered; returns it with the
/// manifests it read.
pub async fn sql_session(
    settings: &Settings,
    layout: &Layout,
) -> Result<(SessionContext, Vec<Manifest>)> {
    let manifests = read_manifests(layout).await?;
    let ctx = crate::session::new_session(&settings.engine, &[layout.root()])?;
    for (table, parts) in TABLES {
        let ids: Vec<String> = manifests
            .iter()
            .filter(|m| {
                m.tables
                    .get(*table)
                    .is_some_and(|f| f.iter().any(|f| f.path.ends_with(".parquet")))
            })
            .map(|m| sql_string(&m.run_id))
            .collect();
        if ids.is_empty() {
            continue;
        }
        let mut cols = vec![
            ("run_date".to_string(), DataType::Utf8),
            ("run_id".to_string(), DataType::Utf8),
        ];
        cols.extend(parts.iter().map(|p| ((*p).to_string(), DataType::Utf8)));
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(cols);
        let all = format!("{table}__all_files");
        let url = layout.published(table).url() + "/";
        ctx.register_listing_table(&all, &url, options, None, None)
            .await
            .map_err(|e| Error::internal_with(format!("registering {url}"), e))?;
        let view = ctx
            .sql(&format!(
                "select * from {all} where run_id in ({})",
                ids.join(", ")
            ))
            .await
            .map_err(|e| Error::internal_with(format!("defining the {table} view"), e))?;
        ctx.register_table(*table, view.into_view())
            .map_err(|e| Error::internal_with(format!("registering {table}"), e))?;
    }
    register_manifest_tables(&ctx, &manifests)?;
    Ok((ctx, manifests))
}

fn register_manifest_tables(ctx: &SessionContext, manifests: &[Manifest]) -> Result<()> {
    let err = |e| Error::internal_with("building the manifest tables", e);
    let s = |v: Vec<String>| -> Arc<StringArray> { Arc::new(StringArray::from(v)) };
    let runs = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("run_date", DataType::Utf8, false),
            Field::new("run_id", DataType::Utf8, false),
            Field::new("code_version", DataType::Utf8, false),
            Field::new("config_hash", DataType::Utf8, false),
            Field::new("published_at", DataType::Utf8, false),
            Field::new("manifest", DataType::Utf8, false),
        ])),
        vec![
            s(manifests.iter().map(|m| m.run_date.clone()).collect()),
            s(manifests.iter().map(|m| m.run_id.clone()).collect()),
            s(manifests.iter().map(|m| m.code_version.clone()).collect()),
            s(manifests.iter().map(|m| m.config_hash.clone()).collect()),
            s(manifests.iter().map(|m| m.published_at.clone()).collect()),
            s(manifests
                .iter()
                .map(|m| serde_json::to_string(m).unwrap_or_default())
                .collect()),
        ],
    )
    .map_err(err)?;
    ctx.register_batch("runs", runs)
        .map_err(|e| Error::internal_with("registering runs", e))?;
    let files: Vec<(&Manifest, &str, &fidelis_storage::publish::PublishedFile)> = manifests
        .iter()
        .flat_map(|m| m.files().map(move |(t, f)| (m, t, f)))
        .collect();
    let run_files = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("run_date", DataType::Utf8, false),
            Field::new("run_id", DataType::Utf8, false),
            Field::new("table_name", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("rows", DataType::UInt64, true),
            Field::new("bytes", DataType::UInt64, false),
            Field::new("sha256", DataType::Utf8, false),
        ])),
        vec![
            s(files.iter().map(|(m, _, _)| m.run_date.clone()).collect()),
            s(files.iter().map(|(m, _, _)| m.run_id.clone()).collect()),
            s(files.iter().map(|(_, t, _)| (*t).to_string()).collect()),
            s(files.iter().map(|(_, _, f)| f.path.clone()).collect()),
            Arc::new(UInt64Array::from(
                files.iter().map(|(_, _, f)| f.rows).collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                files.iter().map(|(_, _, f)| f.bytes).collect::<Vec<_>>(),
            )),
            s(files.iter().map(|(_, _, f)| f.sha256.clone()).collect()),
        ],
    )
    .map_err(err)?;
    ctx.register_batch("run_files", run_files)
        .map_err(|e| Error::internal_with("registering run_files", e))?;
    Ok(())
}
