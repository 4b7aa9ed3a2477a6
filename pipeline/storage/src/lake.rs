//! The Delta Lake side of the outputs (docs/publishing.md).
//!
//! Stages write a table's data files where the table lives, below
//! `<table>/run_date=D/attempt=T/`, with delta-rs' own partition writer
//! ([`TableSink`]): a streaming multipart upload per file, files closed at
//! `[output] max_file_mb`, and add actions with their statistics, which the
//! sink stages as JSON in the attempt's staging folder. The files are
//! invisible to every Delta reader until publish commits their add actions
//! ([`crate::publish`]); the files of attempts that are never committed are
//! orphans a vacuum removes once they are past retention.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use delta_kernel::expressions::Scalar;
use delta_kernel::table_properties::DataSkippingNumIndexedCols;
use deltalake_core::datafile::writer::{PartitionWriter, PartitionWriterConfig};
use deltalake_core::kernel::Add;
use indexmap::IndexMap;
use object_store::ObjectStore;
use object_store::path::Path as ObjPath;
use object_store::prefix::PrefixStore;

use fidelis_core::{Error, Result};

use crate::attempt::fresh_id;
use crate::layout::TableTarget;
use crate::{Location, ParquetSink, writer_properties};

/// Registers delta-rs' default log store (create-only commits through the
/// object store) for `s3://`, `gs://` and `az://`, whose factories come
/// with delta-rs' cloud features, which fidelis leaves out: every table is
/// opened with the project's own object store clients
/// ([`crate::publish::log_store`]). Once per process.
pub fn register_log_stores() {
    use deltalake_core::logstore::{
        LogStoreFactory, LogStoreRef, ObjectStoreRef, StorageConfig, default_logstore,
        logstore_factories,
    };
    #[derive(Debug)]
    struct Default;
    impl LogStoreFactory for Default {
        fn with_options(
            &self,
            prefixed: ObjectStoreRef,
            root: ObjectStoreRef,
            location: &url::Url,
            options: &StorageConfig,
        ) -> deltalake_core::DeltaResult<LogStoreRef> {
            Ok(default_logstore(prefixed, root, location, options))
        }
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://", "gs://", "az://", "abfs://", "abfss://"] {
            if let Ok(u) = url::Url::parse(scheme) {
                logstore_factories().insert(u, Arc::new(Default));
            }
        }
    });
}

/// The object store of a table, rooted at the table's folder (what
/// delta-rs' writers and log expect).
pub fn table_store(root: &Location) -> Arc<dyn ObjectStore> {
    Arc::new(PrefixStore::new(
        Arc::clone(root.store()),
        root.path().clone(),
    ))
}

/// A streaming writer of one partition of a Delta table (see the module
/// docs). Every sink writes at least one file, empty or not, so that a
/// table always has a schema to create it from.
pub struct TableSink {
    writer: PartitionWriter,
    target: TableTarget,
    schema: SchemaRef,
    rows: u64,
}

impl std::fmt::Debug for TableSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSink")
            .field("target", &self.target.dir().url())
            .field("rows", &self.rows)
            .finish()
    }
}

impl TableSink {
    /// Start writing the partition `target` with batches of `schema` (the
    /// data columns: the partition columns are not in the files).
    pub fn create(target: &TableTarget, schema: SchemaRef) -> Result<Self> {
        let values: IndexMap<String, Scalar> = target
            .partitions
            .iter()
            .map(|(k, v)| (k.clone(), Scalar::String(v.clone())))
            .collect();
        let err = |e| Error::internal_with(format!("cannot start {}", target.dir().url()), e);
        let config = PartitionWriterConfig::try_new(
            Arc::clone(&schema),
            values,
            Some(writer_properties()),
            NonZeroU64::new(target.max_file_bytes),
            None,
            None,
            Some(ObjPath::from(target.prefix.as_str())),
        )
        .map_err(err)?;
        let writer = PartitionWriter::try_with_config(
            table_store(&target.root),
            config,
            DataSkippingNumIndexedCols::default(),
            None,
        )
        .map_err(err)?;
        Ok(TableSink {
            writer,
            target: target.clone(),
            schema,
            rows: 0,
        })
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        let url = self.target.dir().url();
        self.writer
            .write(batch)
            .await
            .map_err(|e| Error::storage(&url, e))
    }

    /// Finish the files and stage their add actions; returns the rows
    /// written.
    pub async fn finish(self) -> Result<u64> {
        let url = self.target.dir().url();
        let mut adds = self
            .writer
            .close()
            .await
            .map_err(|e| Error::storage(&url, e))?;
        if self.rows == 0 {
            // delta-rs' writer skips empty batches: the empty file (the
            // table's schema, and a date with no rows) is written here.
            adds.push(empty_file(&self.target, &self.schema).await?);
        }
        stage_adds(&self.target, &adds).await?;
        Ok(self.rows)
    }
}

/// A Parquet file with no rows in `target`, and its add action.
async fn empty_file(target: &TableTarget, schema: &SchemaRef) -> Result<Add> {
    let name = format!("part-00000-{}-c000.zstd.parquet", fresh_id());
    let loc = target.dir().child(&name);
    ParquetSink::create(&loc, Arc::clone(schema))?
        .finish()
        .await?;
    let meta = loc
        .list_parquet()
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::storage(loc.url(), "the file just written is not there"))?;
    Ok(Add {
        path: format!("{}/{name}", target.prefix),
        partition_values: target
            .partitions
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect(),
        size: i64::try_from(meta.size).unwrap_or(i64::MAX),
        modification_time: meta.last_modified.timestamp_millis(),
        data_change: true,
        stats: Some(r#"{"numRecords":0}"#.to_string()),
        ..Default::default()
    })
}

/// The add actions of one sink, staged for publish.
async fn stage_adds(target: &TableTarget, adds: &[Add]) -> Result<()> {
    let json =
        serde_json::to_vec(adds).map_err(|e| Error::internal_with("serialising add actions", e))?;
    target
        .adds
        .child(&format!("{}.json", fresh_id()))
        .put(json)
        .await
}

/// Every add action an attempt staged for a table (its `_adds/<table>/`
/// folder), in path order.
pub async fn staged_adds(adds: &Location) -> Result<Vec<Add>> {
    let mut out = Vec::new();
    for meta in adds.list_all().await? {
        let loc = Location::at(adds, meta.location.clone());
        let Some(bytes) = loc.get_opt().await? else {
            continue;
        };
        let mut some: Vec<Add> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal_with(format!("cannot read {}", loc.url()), e))?;
        out.append(&mut some);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The partition values of an add action as plain strings.
pub fn partition_values(add: &Add) -> HashMap<String, String> {
    add.partition_values
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect()
}
