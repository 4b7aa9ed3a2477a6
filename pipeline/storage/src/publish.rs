//! Publishing a run: Delta Lake commits, the `runs` row last
//! (docs/publishing.md).
//!
//! The stages wrote their tables' data files where the tables live and
//! staged the add actions ([`crate::lake`]). [`publish`]:
//!
//! 1. copies the run's files that are not tables (models, campaign CSVs,
//!    reports) to `files/run_date=D/run_id=P/` under a fresh publish id P,
//!    with their SHA-256 (new objects, never an overwrite);
//! 2. commits each table: the staged add actions and the removes of the
//!    date's current files, one commit per table (a predicate overwrite of
//!    `run_date = D`), with the application transaction
//!    `fidelis:<table>:<date>` (version: one more than the last one) and the
//!    run and publish ids in the commit metadata. A table whose date already
//!    holds exactly the staged files (a killed publish of the same attempts
//!    committed it) is not committed again;
//! 3. checks that the run still holds its leases and that the latest state
//!    of the date in every table is its own, then appends the `runs` row
//!    naming each table's version: **the commit point**. Readers read each
//!    table of a date at the version the date's current `runs` row names
//!    ([`current_runs`]), so a run killed between two commits, or before
//!    its row, is never seen.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{Action, Add, StructField, StructType, Transaction};
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError, TableProperty};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use fidelis_core::{Error, Result, RunDate};

use crate::attempt::Lineage;
use crate::lake::{TableSink, staged_adds, table_store};
use crate::layout::{
    DELTA_TABLES, Layout, PUBLISHED_FILES, RUNS_TABLE, RunLayout, TableSpec, TableTarget,
};
use crate::lease::Lease;
use crate::{Location, read_parquet_all};

/// The format of a `runs` row's record.
pub const RECORD_VERSION: u32 = 2;

/// One published file that is not a table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishedFile {
    /// Path relative to the output root.
    pub path: String,
    pub bytes: u64,
    /// SHA-256 (hex) of the object's bytes.
    pub sha256: String,
    /// Records of a CSV file; `None` for other files (JSON, HTML).
    pub rows: Option<u64>,
}

/// One data file of a committed table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableFile {
    /// Path relative to the table's root (as the Delta log has it).
    pub path: String,
    pub bytes: u64,
    pub rows: Option<u64>,
}

/// A table as a run committed it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommittedTable {
    /// The Delta version that holds the run's files of its date.
    pub version: i64,
    /// The application transaction `fidelis:<table>:<date>` at that version.
    pub txn: i64,
    pub files: Vec<TableFile>,
}

/// What a `runs` row holds (its `record` column, JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub record_version: u32,
    pub run_date: String,
    /// The publish id: the folder of the run's files, unique per publish.
    pub publish_id: String,
    /// The run (`--run-id`) and the stage attempts whose outputs were
    /// published.
    pub staged: Lineage,
    /// One more than the date's previous `runs` row (the current row of a
    /// date is its highest).
    pub publish_seq: i64,
    pub code_version: String,
    /// SHA-256 of the config file's bytes.
    pub config_hash: String,
    /// When the row was written (UTC, RFC 3339). Metadata only.
    pub published_at: String,
    /// Per input table: files, rows read = rows accepted + rows rejected.
    pub inputs: serde_json::Value,
    /// The models' version, champions and every candidate's metrics.
    pub models: serde_json::Value,
    /// The export summary (per audience: kept, excluded, control, capped).
    pub exports: serde_json::Value,
    /// Seconds per stage.
    pub durations: BTreeMap<String, f64>,
    /// Delta table -> the version this run's date is read at.
    pub tables: BTreeMap<String, CommittedTable>,
    /// The published files that are not tables.
    pub files: Vec<PublishedFile>,
}

/// What the caller knows about the run.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub publish_id: String,
    pub code_version: String,
    pub config_hash: String,
    pub inputs: serde_json::Value,
    pub models: serde_json::Value,
    pub exports: serde_json::Value,
    pub durations: BTreeMap<String, f64>,
}

/// The retention of a table's log and removed files.
fn retention(keep_days: u32) -> String {
    format!("interval {keep_days} days")
}

/// The log store of a Delta table below the output root, on the project's
/// own object store client (no cloud features of delta-rs).
pub fn log_store(root: &Location) -> Result<LogStoreRef> {
    crate::lake::register_log_stores();
    let url = url::Url::parse(&(root.url() + "/"))
        .map_err(|e| Error::internal_with(format!("the table URL {}", root.url()), e))?;
    Ok(default_logstore(
        table_store(root),
        Arc::clone(root.store()),
        &url,
        &StorageConfig::default(),
    ))
}

pub(crate) fn delta_err(what: String) -> impl FnOnce(DeltaTableError) -> Error {
    move |e| match e {
        DeltaTableError::ObjectStore { source } => Error::storage(what, source),
        e => Error::internal_with(what, e),
    }
}

/// A Delta table, loaded at its latest version, or `None` when none was
/// ever committed there.
pub async fn open_table(root: &Location) -> Result<Option<DeltaTable>> {
    let log = root.child("_delta_log");
    let first = log.store().list(Some(log.path())).next().await;
    match first {
        None => return Ok(None),
        Some(Err(e)) => return Err(Error::storage(log.url(), e)),
        Some(Ok(_)) => {}
    }
    let mut table = DeltaTable::new(log_store(root)?);
    table
        .load()
        .await
        .map_err(delta_err(format!("loading the Delta table {}", root.url())))?;
    Ok(Some(table))
}

/// The table at `root`, created (version 0: the schema, the partition
/// columns, the retention properties; the default protocol) if it does not
/// exist yet. Of two creators, one creates and the other loads.
async fn open_or_create(
    root: &Location,
    schema: impl std::future::Future<Output = Result<Schema>>,
    partitions: &[&str],
    keep_days: u32,
) -> Result<DeltaTable> {
    if let Some(t) = open_table(root).await? {
        return Ok(t);
    }
    let schema = schema.await?;
    let data: StructType = (&schema)
        .try_into_kernel()
        .map_err(|e| Error::internal_with(format!("the Delta schema of {}", root.url()), e))?;
    let mut fields: Vec<StructField> = data
        .fields()
        .filter(|f| !partitions.contains(&f.name().as_str()))
        .cloned()
        .collect();
    for p in partitions {
        fields.push(StructField::new(
            (*p).to_string(),
            deltalake_core::kernel::DataType::STRING,
            true,
        ));
    }
    let keep = retention(keep_days);
    let created = CreateBuilder::new()
        .with_log_store(log_store(root)?)
        .with_columns(fields)
        .with_partition_columns(partitions.iter().map(|p| (*p).to_string()))
        .with_configuration_property(TableProperty::LogRetentionDuration, Some(keep.clone()))
        .with_configuration_property(TableProperty::DeletedFileRetentionDuration, Some(keep))
        // A checkpoint every 10 commits: a reader replays at most 9 JSON
        // commits after it (one GET each), not 99.
        .with_configuration_property(TableProperty::CheckpointInterval, Some("10"))
        // The log is cleaned up by fidelis' vacuum, which keeps every
        // version a current run is read at (crate::vacuum).
        .with_configuration_property(TableProperty::EnableExpiredLogCleanup, Some("false"))
        .with_save_mode(SaveMode::ErrorIfExists)
        // Version 0 is created by one writer only: without retries, the
        // loser of a race fails (and loads what the winner created)
        // instead of committing a second protocol and metadata at 1.
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .await;
    match created {
        Ok(t) => Ok(t),
        Err(_) => open_table(root).await?.ok_or_else(|| {
            Error::internal(format!(
                "the Delta table {} could not be created",
                root.url()
            ))
        }),
    }
}

/// The current data files of one run date in a table, with the removes
/// that would replace them.
async fn date_files(
    table: &DeltaTable,
    run_date: &str,
) -> Result<Vec<deltalake_core::kernel::LogicalFileView>> {
    let files: Vec<_> = table
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await
        .map_err(delta_err(format!("listing {}", table.table_url())))?;
    Ok(files
        .into_iter()
        .filter(|f| file_date(f).as_deref() == Some(run_date))
        .collect())
}

fn file_date(f: &deltalake_core::kernel::LogicalFileView) -> Option<String> {
    f.partition_values_map().get("run_date").cloned().flatten()
}

/// The paths of the current data files of one run date in a table.
async fn date_paths(table: &DeltaTable, run_date: &str) -> Result<BTreeSet<String>> {
    Ok(date_files(table, run_date)
        .await?
        .iter()
        .map(|f| f.path().into_owned())
        .collect())
}

/// The paths of the current data files of a table, by run date.
pub async fn files_by_date(table: &DeltaTable) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let files: Vec<_> = table
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await
        .map_err(delta_err(format!("listing {}", table.table_url())))?;
    let mut by_date: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        if let Some(d) = file_date(&f) {
            by_date.entry(d).or_default().insert(f.path().into_owned());
        }
    }
    Ok(by_date)
}

/// **The reader rule's choice**: the version a date committed as `t` is
/// read at, given the date's files in the table's latest version: `None`
/// (the latest version) while they are still the ones `t` names, else the
/// version `t` names (a publish killed before its runs row replaced them
/// since). The readers and the vacuum (which keeps those versions) decide
/// with this one function.
pub fn read_version(t: &CommittedTable, latest_files: Option<&BTreeSet<String>>) -> Option<i64> {
    let same = latest_files.is_some_and(|now| {
        now.len() == t.files.len() && t.files.iter().all(|f| now.contains(&f.path))
    });
    (!same).then_some(t.version)
}

/// The application transaction of a table and date.
pub fn app_id(table: &str, run_date: &str) -> String {
    format!("fidelis:{table}:{run_date}")
}

pub async fn txn_version(table: &DeltaTable, app: &str) -> Result<Option<i64>> {
    let snapshot = table
        .snapshot()
        .map_err(delta_err(format!("the snapshot of {}", table.table_url())))?;
    snapshot
        .transaction_version(table.log_store().as_ref(), app)
        .await
        .map_err(delta_err(format!(
            "reading the transactions of {}",
            table.table_url()
        )))
}

/// The rows of an add action (its statistics).
fn add_rows(add: &Add) -> Option<u64> {
    let stats: serde_json::Value = serde_json::from_str(add.stats.as_deref()?).ok()?;
    stats["numRecords"].as_u64()
}

/// Check that every data file of `adds` is where the add action says (a
/// run older than `[output] keep_days` may have lost its uncommitted files
/// to a vacuum), one listing per attempt folder; returns the first file.
async fn staged_files_present(root: &Location, adds: &[Add]) -> Result<object_store::ObjectMeta> {
    let mut folders: BTreeMap<&str, Vec<&Add>> = BTreeMap::new();
    for a in adds {
        let folder = a.path.rsplit_once('/').map_or("", |(f, _)| f);
        folders.entry(folder).or_default().push(a);
    }
    let mut first = None;
    for (folder, adds) in folders {
        let listed: HashMap<String, object_store::ObjectMeta> = root
            .child(folder)
            .list_all()
            .await?
            .into_iter()
            .map(|m| (m.location.to_string(), m))
            .collect();
        for a in adds {
            let loc = root.child(&a.path);
            let Some(meta) = listed.get(&loc.path().to_string()) else {
                return Err(Error::data(
                    loc.url(),
                    "a staged data file is missing (a vacuum removes uncommitted files older than [output] keep_days); run the stages of this run date again",
                ));
            };
            if first.is_none() {
                first = Some(meta.clone());
            }
        }
    }
    first.ok_or_else(|| Error::internal("no staged files to publish"))
}

/// The schema of a staged file (its footer).
async fn staged_schema(root: &Location, meta: object_store::ObjectMeta) -> Result<Schema> {
    let loc = Location::at(root, meta.location.clone());
    Ok(crate::read_parquet_info(&loc, &meta)
        .await?
        .schema
        .as_ref()
        .clone())
}

/// A commit of one run date of a table, as publish makes it.
struct DateCommit<'a> {
    spec: &'a TableSpec,
    run_date: String,
    adds: Vec<Add>,
    metadata: HashMap<String, serde_json::Value>,
    /// Called as `publish.commit.<table>` with the snapshot read and the
    /// commit about to be written (tests race it there).
    pause: &'a dyn Fn(&str),
}

/// Commit the staged files of one date of a table (see the module docs);
/// returns the version to read the date at.
async fn commit_date(
    layout: &Layout,
    c: DateCommit<'_>,
    keep_days: u32,
) -> Result<(CommittedTable, DeltaTable)> {
    let root = layout.table(c.spec.name);
    let first = staged_files_present(&root, &c.adds).await?;
    let table = open_or_create(
        &root,
        staged_schema(&root, first),
        c.spec.partitions,
        keep_days,
    )
    .await?;
    let files = |adds: &[Add]| -> Vec<TableFile> {
        adds.iter()
            .map(|a| TableFile {
                path: a.path.clone(),
                bytes: u64::try_from(a.size).unwrap_or(0),
                rows: add_rows(a),
            })
            .collect()
    };
    let app = app_id(c.spec.name, &c.run_date);
    let current = date_files(&table, &c.run_date).await?;
    let ours: BTreeSet<String> = c.adds.iter().map(|a| a.path.clone()).collect();
    let theirs: BTreeSet<String> = current.iter().map(|f| f.path().into_owned()).collect();
    let previous = txn_version(&table, &app).await?;
    if theirs == ours {
        // Committed already (by a publish of the same attempts that was
        // killed before its runs row): read it where it is.
        let committed = CommittedTable {
            version: table
                .version()
                .map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX)),
            txn: previous.unwrap_or(-1),
            files: files(&c.adds),
        };
        return Ok((committed, table));
    }
    let txn = previous.map_or(0, |v| v + 1);
    let mut actions: Vec<Action> = current
        .iter()
        .map(|f| Action::Remove(f.remove_action(true)))
        .collect();
    actions.extend(c.adds.iter().cloned().map(Action::Add));
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: Some(c.spec.partitions.iter().map(|p| (*p).to_string()).collect()),
        predicate: Some(format!("run_date = '{}'", c.run_date)),
    };
    let props = commit_properties()
        .with_metadata(c.metadata)
        .with_application_transaction(Transaction::new(&app, txn));
    let snapshot = table
        .snapshot()
        .map_err(delta_err(format!("the snapshot of {}", root.url())))?;
    (c.pause)(&format!("publish.commit.{}", c.spec.name));
    let done = CommitBuilder::from(props)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await;
    match done {
        Ok(done) => Ok((
            CommittedTable {
                version: i64::try_from(done.version()).unwrap_or(i64::MAX),
                txn,
                files: files(&c.adds),
            },
            table,
        )),
        Err(e) => {
            // A failed checkpoint after the commit landed is an error too:
            // the commit counts if the date is now this one's.
            if let Some(t) = open_table(&root).await? {
                let landed = txn_version(&t, &app).await? == Some(txn)
                    && date_paths(&t, &c.run_date).await? == ours;
                if landed {
                    tracing::warn!(table = %root.url(), error = %e, "committed, but the post-commit work failed");
                    let committed = CommittedTable {
                        version: t
                            .version()
                            .map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX)),
                        txn,
                        files: files(&c.adds),
                    };
                    return Ok((committed, t));
                }
            }
            Err(commit_error(&root, &c.run_date, e))
        }
    }
}

/// The properties of every commit fidelis makes: no clean-up of expired
/// log entries (the vacuum does it, keeping what current runs read).
pub(crate) fn commit_properties() -> CommitProperties {
    CommitProperties::default().with_cleanup_expired_logs(Some(false))
}

/// A commit that lost to another writer of the same date is a busy date
/// (exit 75): the other publish won.
fn commit_error(root: &Location, run_date: &str, e: DeltaTableError) -> Error {
    let lost = matches!(
        &e,
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(_)
        } | DeltaTableError::Transaction {
            source: TransactionError::VersionAlreadyExists(_)
        } | DeltaTableError::Transaction {
            source: TransactionError::MaxCommitAttempts(_)
        }
    );
    if lost {
        Error::busy(format!(
            "another publish of run date {run_date} committed {} first ({e}); retry later",
            root.url()
        ))
    } else {
        delta_err(format!("committing run date {run_date} to {}", root.url()))(e)
    }
}

/// Records of a CSV file (RFC 4180: quoted fields may hold newlines), less
/// the header.
fn csv_records(bytes: &[u8]) -> u64 {
    let (mut records, mut quoted, mut any) = (0u64, false, false);
    for &c in bytes {
        match c {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                records += 1;
                any = false;
                continue;
            }
            _ => {}
        }
        any = true;
    }
    if any {
        records += 1;
    }
    records.saturating_sub(1)
}

/// Copy the run's files that are not tables below its publish folder.
async fn publish_files(run: &RunLayout, publish_id: &str) -> Result<Vec<PublishedFile>> {
    let layout = run.layout();
    let out = layout.root();
    let dest = layout.published_files(run.run_date(), publish_id);
    let mut published = Vec::new();
    for name in PUBLISHED_FILES {
        let src = run.files(name);
        for meta in src.list_all().await? {
            let rel = format!("{name}/{}", src.relative_parts(&meta.location).join("/"));
            let bytes = Location::at(out, meta.location.clone())
                .get_opt()
                .await?
                .ok_or_else(|| {
                    Error::storage(
                        out.url_of(&meta.location),
                        "the staged file vanished while publishing",
                    )
                })?;
            let target = dest.child(&rel);
            published.push(PublishedFile {
                path: relative(out, target.path()),
                bytes: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
                rows: rel.ends_with(".csv").then(|| csv_records(&bytes)),
            });
            target.put(bytes).await?;
        }
    }
    Ok(published)
}

fn relative(out: &Location, path: &object_store::path::Path) -> String {
    out.relative_parts(path).join("/")
}

/// Publish the staged outputs of a run (see the module docs): the attempts
/// of `run`'s lineage. Every lease of `leases` is checked before the runs
/// row is appended: a run that lost one publishes nothing a reader sees and
/// fails with exit 75. `pause` is called at the named points
/// (`publish.commit.<table>` before each table's commit,
/// `publish.table` after the first one, `publish.before_runs`) so that
/// tests can kill the process or race the commit there.
pub async fn publish(
    run: &RunLayout,
    info: RunInfo,
    keep_days: u32,
    leases: &[&Lease],
    pause: &dyn Fn(&str),
) -> Result<RunRecord> {
    let d = run.run_date().to_string();
    let layout = run.layout();
    let files = publish_files(run, &info.publish_id).await?;
    let metadata: HashMap<String, serde_json::Value> = [
        ("fidelis.run_date", d.clone()),
        ("fidelis.run_id", run.run_id().to_string()),
        ("fidelis.publish_id", info.publish_id.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
    .collect();
    let mut tables = BTreeMap::new();
    let mut opened = Vec::new();
    for spec in DELTA_TABLES {
        let adds = staged_adds(&run.staged_adds(spec.name)).await?;
        if adds.is_empty() {
            continue;
        }
        let commit = DateCommit {
            spec,
            run_date: d.clone(),
            adds,
            metadata: metadata.clone(),
            pause,
        };
        let (committed, table) = commit_date(layout, commit, keep_days).await?;
        tables.insert(spec.name.to_string(), committed);
        opened.push((spec.name, table));
        if tables.len() == 1 {
            pause("publish.table");
        }
    }
    pause("publish.before_runs");
    for lease in leases {
        lease.check().await?;
    }
    // The latest state of the date in every table must be this run's: a
    // publisher that raced past the leases finds the other's files here.
    for (name, mut table) in opened {
        let root = layout.table(name);
        table
            .update_state()
            .await
            .map_err(delta_err(format!("loading {}", root.url())))?;
        let t = &tables[name];
        let now = date_paths(&table, &d).await?;
        let ours: BTreeSet<String> = t.files.iter().map(|f| f.path.clone()).collect();
        if now != ours {
            return Err(Error::busy(format!(
                "another publish of run date {d} replaced {} after this one committed it; retry later",
                root.url()
            )));
        }
    }
    let runs_root = layout.table(RUNS_TABLE);
    let runs_app = app_id(RUNS_TABLE, &d);
    let previous = match open_table(&runs_root).await? {
        Some(t) => txn_version(&t, &runs_app).await?,
        None => None,
    };
    let record = RunRecord {
        record_version: RECORD_VERSION,
        run_date: d.clone(),
        publish_id: info.publish_id,
        staged: run.lineage().clone(),
        publish_seq: previous.map_or(0, |v| v + 1),
        code_version: info.code_version,
        config_hash: info.config_hash,
        published_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        inputs: info.inputs,
        models: info.models,
        exports: info.exports,
        durations: info.durations,
        tables,
        files,
    };
    append_run(layout, run, &record, metadata, keep_days).await?;
    Ok(record)
}

/// The schema of the `runs` table.
pub fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_date", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("publish_id", DataType::Utf8, false),
        Field::new("publish_seq", DataType::Int64, false),
        Field::new("published_at", DataType::Utf8, false),
        Field::new("code_version", DataType::Utf8, false),
        Field::new("config_hash", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, false),
    ]))
}

/// Runs records as rows of the `runs` table.
pub fn runs_batch(records: &[RunRecord]) -> Result<RecordBatch> {
    let s = |v: Vec<String>| -> Arc<dyn Array> { Arc::new(StringArray::from(v)) };
    let col = |f: fn(&RunRecord) -> String| s(records.iter().map(f).collect());
    let json = records
        .iter()
        .map(serde_json::to_string)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal_with("serialising a runs row", e))?;
    RecordBatch::try_new(
        runs_schema(),
        vec![
            col(|r| r.run_date.clone()),
            col(|r| r.staged.run_id.clone()),
            col(|r| r.publish_id.clone()),
            Arc::new(Int64Array::from(
                records.iter().map(|r| r.publish_seq).collect::<Vec<_>>(),
            )),
            col(|r| r.published_at.clone()),
            col(|r| r.code_version.clone()),
            col(|r| r.config_hash.clone()),
            s(json),
        ],
    )
    .map_err(|e| Error::internal_with("building runs rows", e))
}

/// Append the runs row: the commit point. The application transaction
/// `fidelis:runs:<date>` makes a second row of the same sequence a
/// conflict (exit 75) rather than a second current run.
async fn append_run(
    layout: &Layout,
    run: &RunLayout,
    record: &RunRecord,
    metadata: HashMap<String, serde_json::Value>,
    keep_days: u32,
) -> Result<()> {
    let batch = runs_batch(std::slice::from_ref(record))?;
    let root = layout.table(RUNS_TABLE);
    let target = TableTarget {
        table: RUNS_TABLE,
        root: root.clone(),
        prefix: format!("run_date={}", record.run_date),
        partitions: Vec::new(),
        adds: run
            .run_staging()
            .child(&format!("_adds/runs/{}", record.publish_id)),
        max_file_bytes: 1 << 30,
    };
    let mut sink = TableSink::create(&target, runs_schema())?;
    sink.write(&batch).await?;
    sink.finish().await?;
    let adds = staged_adds(&target.adds).await?;
    let schema = async { Ok(runs_schema().as_ref().clone()) };
    let table = open_or_create(&root, schema, &[], keep_days).await?;
    let props = commit_properties()
        .with_metadata(metadata)
        .with_application_transaction(Transaction::new(
            app_id(RUNS_TABLE, &record.run_date),
            record.publish_seq,
        ));
    let snapshot = table
        .snapshot()
        .map_err(delta_err(format!("the snapshot of {}", root.url())))?;
    CommitBuilder::from(props)
        .with_actions(adds.into_iter().map(Action::Add).collect())
        .build(
            Some(snapshot),
            table.log_store(),
            DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: None,
                predicate: None,
            },
        )
        .await
        .map_err(|e| commit_error(&root, &record.run_date, e))?;
    Ok(())
}

/// Every `runs` row (every publish of every date), oldest first.
pub async fn all_runs(layout: &Layout) -> Result<Vec<RunRecord>> {
    let root = layout.table(RUNS_TABLE);
    let Some(table) = open_table(&root).await? else {
        return Ok(Vec::new());
    };
    let files: Vec<_> = table
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await
        .map_err(delta_err(format!("listing {}", root.url())))?;
    let mut records = Vec::new();
    for f in files {
        let loc = root.child(&f.path());
        // The log knows the file's size: no listing per file.
        let meta = object_store::ObjectMeta {
            location: loc.path().clone(),
            last_modified: f.modification_datetime().unwrap_or_default(),
            size: u64::try_from(f.size()).unwrap_or(0),
            e_tag: None,
            version: None,
        };
        for batch in read_parquet_all(&loc, &meta).await? {
            let col = batch
                .column_by_name("record")
                .ok_or_else(|| Error::internal(format!("{}: no record column", loc.url())))?;
            for v in col.as_string::<i32>().iter().flatten() {
                records.push(serde_json::from_str::<RunRecord>(v).map_err(|e| {
                    Error::internal_with(format!("cannot read a runs row of {}", loc.url()), e)
                })?);
            }
        }
    }
    records.sort_by(|a, b| (&a.run_date, a.publish_seq).cmp(&(&b.run_date, b.publish_seq)));
    Ok(records)
}

/// The current run of every date (its highest `publish_seq`), by date.
pub async fn current_runs(layout: &Layout) -> Result<Vec<RunRecord>> {
    Ok(current_of(&all_runs(layout).await?))
}

/// The current rows of `rows` ([`all_runs`]' order): the last of each date.
pub fn current_of(rows: &[RunRecord]) -> Vec<RunRecord> {
    let mut by_date: BTreeMap<&str, &RunRecord> = BTreeMap::new();
    for r in rows {
        by_date.insert(r.run_date.as_str(), r);
    }
    by_date.into_values().cloned().collect()
}

/// The current run of one date.
pub async fn current_run(layout: &Layout, run_date: RunDate) -> Result<Option<RunRecord>> {
    let d = run_date.to_string();
    Ok(current_runs(layout)
        .await?
        .into_iter()
        .find(|r| r.run_date == d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Step;
    use fidelis_core::config::StorageConfig;

    #[test]
    fn csv_records_respect_quotes() {
        assert_eq!(csv_records(b"a,b\n1,2\n3,4\n"), 2);
        assert_eq!(csv_records(b"a,b\n1,\"x\ny\"\n3,4"), 2);
        assert_eq!(csv_records(b"a,b\n"), 0);
    }

    fn d(s: &str) -> RunDate {
        RunDate::parse(s).expect("date")
    }

    fn info() -> RunInfo {
        RunInfo {
            publish_id: crate::attempt::fresh_id(),
            code_version: "test".into(),
            config_hash: "0".repeat(64),
            inputs: serde_json::Value::Null,
            models: serde_json::Value::Null,
            exports: serde_json::Value::Null,
            durations: BTreeMap::new(),
        }
    }

    /// A staged score attempt of `date` in run `run` with these scores.
    async fn stage_scores(layout: &Layout, date: &str, run: &str, scores: &[f64]) -> RunLayout {
        let token = crate::attempt::fresh_id();
        let r = layout.run(d(date), run).with_attempt(Step::Score, &token);
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("clv", DataType::Float64, false),
        ]));
        let ids: Vec<String> = (0..scores.len()).map(|i| format!("c{i}")).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(arrow::array::Float64Array::from(scores.to_vec())),
            ],
        )
        .expect("batch");
        let mut sink = TableSink::create(&r.scores_target(), schema).expect("sink");
        sink.write(&batch).await.expect("write");
        assert_eq!(sink.finish().await.expect("finish"), scores.len() as u64);
        r
    }

    fn layout_in(dir: &std::path::Path) -> Layout {
        Layout::new(
            Location::parse(dir.to_str().expect("utf8"), &StorageConfig::default()).expect("root"),
        )
    }

    /// The files of a date in a table at a version.
    async fn files_at(layout: &Layout, table: &str, version: i64, date: &str) -> BTreeSet<String> {
        let mut t = DeltaTable::new(log_store(&layout.table(table)).expect("log store"));
        t.load_version(u64::try_from(version).expect("version"))
            .await
            .expect("load");
        date_paths(&t, date).await.expect("files")
    }

    /// A rerun of a date replaces its files (a new version, the date's
    /// old files removed, another date untouched); the runs table names
    /// the current run of each date; the earlier run's version still
    /// holds its files (time travel); publishing the same attempts again
    /// commits nothing new.
    #[tokio::test]
    async fn a_rerun_replaces_its_date_and_leaves_the_rest() {
        let dir = tempfile::tempdir().expect("tmp");
        let layout = layout_in(dir.path());
        let pause = |_: &str| {};
        let a = stage_scores(&layout, "2026-11-21", "A", &[1.0, 2.0]).await;
        let first = publish(&a, info(), 7, &[], &pause).await.expect("publish");
        let b = stage_scores(&layout, "2026-11-22", "B", &[3.0]).await;
        let other = publish(&b, info(), 7, &[], &pause).await.expect("publish");
        let c = stage_scores(&layout, "2026-11-21", "C", &[5.0, 6.0, 7.0]).await;
        let rerun = publish(&c, info(), 7, &[], &pause).await.expect("publish");

        let (v1, v3) = (
            first.tables["scores"].version,
            rerun.tables["scores"].version,
        );
        assert!(v3 > other.tables["scores"].version && other.tables["scores"].version > v1);
        assert_eq!(rerun.tables["scores"].txn, first.tables["scores"].txn + 1);
        assert_eq!(rerun.publish_seq, first.publish_seq + 1);
        let paths = |r: &RunRecord| -> BTreeSet<String> {
            r.tables["scores"]
                .files
                .iter()
                .map(|f| f.path.clone())
                .collect()
        };
        assert_eq!(
            files_at(&layout, "scores", v1, "2026-11-21").await,
            paths(&first)
        );
        assert_eq!(
            files_at(&layout, "scores", v3, "2026-11-21").await,
            paths(&rerun)
        );
        assert_eq!(
            files_at(&layout, "scores", v3, "2026-11-22").await,
            paths(&other)
        );
        assert_eq!(rerun.tables["scores"].files[0].rows, Some(3));

        let current = current_runs(&layout).await.expect("runs");
        assert_eq!(current.len(), 2);
        assert_eq!(current[0].publish_id, rerun.publish_id);
        assert_eq!(current[1].publish_id, other.publish_id);
        assert_eq!(all_runs(&layout).await.expect("runs").len(), 3);

        // The same attempts again: no new version of scores, a new row.
        let again = publish(&c, info(), 7, &[], &pause).await.expect("publish");
        assert_eq!(again.tables["scores"].version, v3);
        assert_eq!(again.publish_seq, rerun.publish_seq + 1);
    }

    /// Another writer commits the date between this publish's read of the
    /// table and its commit (the next log entry created first, as a
    /// racing publisher would): the commit is refused as busy (exit 75),
    /// and the runs table is not touched.
    #[tokio::test]
    async fn a_commit_that_loses_the_race_is_busy() {
        let dir = tempfile::tempdir().expect("tmp");
        let layout = layout_in(dir.path());
        let quiet = |_: &str| {};
        let a = stage_scores(&layout, "2026-11-21", "A", &[1.0]).await;
        let first = publish(&a, info(), 7, &[], &quiet).await.expect("publish");
        let b = stage_scores(&layout, "2026-11-21", "B", &[2.0]).await;
        let log = dir.path().join("scores/_delta_log");
        let next = first.tables["scores"].version + 1;
        let entry = log.join(format!("{next:020}.json"));
        let winner = serde_json::json!({"txn": {
            "appId": app_id("scores", "2026-11-21"),
            "version": first.tables["scores"].txn + 1,
        }})
        .to_string()
            + "\n"
            + &serde_json::json!({"commitInfo": {"operation": "WRITE", "timestamp": 0}})
                .to_string()
            + "\n";
        let race = |point: &str| {
            if point == "publish.commit.scores" {
                std::fs::write(&entry, &winner).expect("the winner's entry");
            }
        };
        let err = publish(&b, info(), 7, &[], &race).await.expect_err("lost");
        assert_eq!(err.kind(), fidelis_core::ErrorKind::Busy, "{err}");
        assert!(
            err.to_string()
                .contains("another publish of run date 2026-11-21"),
            "{err}"
        );
        let current = current_run(&layout, d("2026-11-21")).await.expect("runs");
        assert_eq!(current.map(|r| r.publish_id), Some(first.publish_id));
    }

    /// The files of a table's date at the latest version, as paths.
    async fn latest_paths(layout: &Layout, table: &str, date: &str) -> BTreeSet<String> {
        let t = open_table(&layout.table(table))
            .await
            .expect("open")
            .expect("a table");
        date_paths(&t, date).await.expect("files")
    }

    /// Commit a staged attempt's scores of its date without a runs row,
    /// as a publish killed between its table commits leaves it.
    async fn commit_without_row(layout: &Layout, r: &RunLayout) {
        let spec = crate::layout::table_spec("scores").expect("scores");
        let commit = DateCommit {
            spec,
            run_date: r.run_date().to_string(),
            adds: staged_adds(&r.staged_adds("scores")).await.expect("adds"),
            metadata: HashMap::new(),
            pause: &|_| {},
        };
        commit_date(layout, commit, 7).await.expect("commit");
    }

    /// The vacuum past retention (keep_days = 0): a replaced run's files
    /// go; the version a current run is read at stays readable while a
    /// killed publish's commit hides its files from the latest version
    /// (their files and the log up to it are kept); once the date is
    /// published again, the killed publish's files go, and so does the log
    /// before the newest checkpoint. A dry run removes nothing.
    #[tokio::test]
    async fn the_vacuum_keeps_what_current_runs_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let layout = layout_in(dir.path());
        let quiet = |_: &str| {};
        let day = "2026-11-21";
        let a = stage_scores(&layout, day, "A", &[1.0, 2.0]).await;
        let replaced = publish(&a, info(), 7, &[], &quiet).await.expect("publish");
        let c = stage_scores(&layout, day, "C", &[3.0]).await;
        let current = publish(&c, info(), 7, &[], &quiet).await.expect("publish");
        let k = stage_scores(&layout, day, "K", &[4.0, 5.0, 6.0]).await;
        commit_without_row(&layout, &k).await;
        // Ten more commits of another date: a checkpoint at version 10.
        for i in 0..10 {
            let other =
                stage_scores(&layout, "2026-11-22", &format!("O{i}"), &[f64::from(i)]).await;
            publish(&other, info(), 7, &[], &quiet)
                .await
                .expect("publish");
        }
        let file = |r: &RunRecord| {
            dir.path()
                .join("scores")
                .join(&r.tables["scores"].files[0].path)
        };
        let killed = latest_paths(&layout, "scores", day).await;
        assert!(file(&replaced).exists() && file(&current).exists());

        let dry = crate::vacuum::vacuum(&layout, 0, true, true, chrono::Utc::now())
            .await
            .expect("dry run");
        assert!(dry.tables["scores"].data_files >= 1, "{dry:?}");
        assert!(file(&replaced).exists(), "a dry run removed a file");

        let v = crate::vacuum::vacuum(&layout, 0, true, false, chrono::Utc::now())
            .await
            .expect("vacuum");
        assert_eq!(
            v.tables["scores"].kept_versions,
            vec![current.tables["scores"].version]
        );
        assert!(!file(&replaced).exists(), "the replaced run's file is left");
        assert!(file(&current).exists(), "the current run's file is gone");
        assert_eq!(
            files_at(&layout, "scores", current.tables["scores"].version, day).await,
            [current.tables["scores"].files[0].path.clone()]
                .into_iter()
                .collect()
        );
        for p in &killed {
            assert!(
                dir.path().join("scores").join(p).exists(),
                "{p}: an active file is gone"
            );
        }

        // Published again: the killed publish's files are replaced, the
        // old version is no longer needed.
        let again = publish(&c, info(), 7, &[], &quiet).await.expect("publish");
        assert!(again.tables["scores"].version > current.tables["scores"].version);
        let v = crate::vacuum::vacuum(&layout, 0, false, false, chrono::Utc::now())
            .await
            .expect("vacuum");
        assert!(v.tables["scores"].kept_versions.is_empty(), "{v:?}");
        assert!(v.tables["scores"].log_entries > 0, "{v:?}");
        // Without keep_staging, the staging of every run goes.
        assert!(v.staging > 0, "{v:?}");
        let staged = layout
            .root()
            .child("_staging")
            .list_all()
            .await
            .expect("list");
        assert!(
            staged
                .iter()
                .all(|m| !m.location.as_ref().contains("/run_id=")),
            "{staged:?}"
        );
        for p in &killed {
            assert!(
                !dir.path().join("scores").join(p).exists(),
                "{p}: the killed publish's file is left"
            );
        }
        assert!(file(&current).exists());
        let runs = current_runs(&layout).await.expect("runs");
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].publish_id, again.publish_id);
    }

    fn row(date: &str, seq: i64, at: &str) -> RunRecord {
        RunRecord {
            record_version: RECORD_VERSION,
            run_date: date.into(),
            publish_id: format!("{date}-{seq}"),
            staged: Lineage {
                run_id: "R".into(),
                attempts: BTreeMap::new(),
            },
            publish_seq: seq,
            code_version: String::new(),
            config_hash: String::new(),
            published_at: at.into(),
            inputs: serde_json::Value::Null,
            models: serde_json::Value::Null,
            exports: serde_json::Value::Null,
            durations: BTreeMap::new(),
            tables: BTreeMap::new(),
            files: Vec::new(),
        }
    }

    /// A run is retained while it is current, or until its successor is
    /// older than the cutoff.
    #[test]
    fn retained_runs_are_current_or_recently_replaced() {
        let rows = vec![
            row("2026-11-01", 0, "2026-11-02T01:00:00Z"),
            row("2026-11-01", 1, "2026-11-03T01:00:00Z"),
            row("2026-11-01", 2, "2026-11-20T01:00:00Z"),
            row("2026-11-10", 0, "2026-11-11T01:00:00Z"),
        ];
        let cutoff = chrono::DateTime::parse_from_rfc3339("2026-11-15T00:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let kept: Vec<&str> = crate::vacuum::retained_runs(&rows, cutoff)
            .iter()
            .map(|r| r.publish_id.as_str())
            .collect();
        // seq 0 was replaced on the 3rd (gone); seq 1 on the 20th (kept).
        assert_eq!(kept, vec!["2026-11-01-1", "2026-11-01-2", "2026-11-10-0"]);
    }
}
