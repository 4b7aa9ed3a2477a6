//! The published outputs as SQL tables, for `fidelis sql` and the report.
//!
//! **The reader rule** (docs/publishing.md): for each run date D, a table T
//! is read at the Delta version that D's current `runs` row names, filtered
//! to `run_date = D`, and the dates are unioned. Reading T's latest version
//! instead would show a killed run's commit; reading every table at the
//! latest row's versions would show another date's uncommitted partition.
//! Dates whose files in T's latest version are still the ones their row
//! names are read from the latest version together (one pass over its
//! file list tells), so a lake of a year of nightly runs loads one or two
//! versions per table, not one per date.
//!
//! Besides the Delta tables (`features`, `labels`, `scores`, `segments`,
//! `exports`, `rejects_<input>`): `runs` (the current row of every date)
//! and `run_files` (every file of those runs: the tables' data files and
//! the files that are not tables, with rows, bytes and checksums).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake_core::DeltaTable;

use fidelis_core::{Error, Result, Settings};
use fidelis_storage::layout::{DELTA_TABLES, Layout};
use fidelis_storage::publish::{
    CommittedTable, RunRecord, current_runs, log_store, open_table, runs_batch,
};
use futures::TryStreamExt;

/// A session with every published table registered; returns it with the
/// runs it reads (the current run of every date).
pub async fn sql_session(
    settings: &Settings,
    layout: &Layout,
) -> Result<(SessionContext, Vec<RunRecord>)> {
    let runs = current_runs(layout).await?;
    let ctx = crate::session::new_session(&settings.engine, &[layout.root()])?;
    for spec in DELTA_TABLES {
        if let Some(df) = read_table(&ctx, layout, spec.name, &runs).await? {
            ctx.register_table(spec.name, df.into_view())
                .map_err(|e| Error::internal_with(format!("registering {}", spec.name), e))?;
        }
    }
    register_run_tables(&ctx, &runs)?;
    Ok((ctx, runs))
}

/// Table `name` as `runs` see it (the reader rule), or `None` when none of
/// them committed it.
pub async fn read_table(
    ctx: &SessionContext,
    layout: &Layout,
    name: &str,
    runs: &[RunRecord],
) -> Result<Option<DataFrame>> {
    let named: Vec<(&str, &CommittedTable)> = runs
        .iter()
        .filter_map(|r| r.tables.get(name).map(|t| (r.run_date.as_str(), t)))
        .collect();
    if named.is_empty() {
        return Ok(None);
    }
    let root = layout.table(name);
    let latest = open_table(&root).await?.ok_or_else(|| {
        Error::storage(
            root.url(),
            "a published run names this Delta table, but it has no log (was it deleted?)",
        )
    })?;
    // The latest version's files, by run date.
    let mut now: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files: Vec<_> = latest
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await
        .map_err(|e| Error::storage(root.url(), e))?;
    for f in files {
        if let Some(Some(d)) = f.partition_values_map().get("run_date") {
            now.entry(d.clone())
                .or_default()
                .insert(f.path().into_owned());
        }
    }
    // Version to read -> the dates read there (None: the latest).
    let mut groups: BTreeMap<Option<i64>, Vec<String>> = BTreeMap::new();
    for (date, t) in named {
        let theirs: BTreeSet<String> = t.files.iter().map(|f| f.path.clone()).collect();
        let at = (now.get(date) != Some(&theirs)).then_some(t.version);
        groups.entry(at).or_default().push(date.to_string());
    }
    let mut frames = Vec::new();
    for (version, dates) in groups {
        let table = match version {
            None => latest.clone(),
            Some(v) => {
                let mut t = DeltaTable::new(log_store(&root)?);
                t.load_version(u64::try_from(v).unwrap_or(0))
                    .await
                    .map_err(|e| {
                        Error::storage(
                            root.url(),
                            format!("cannot read version {v}, which a published run names: {e}"),
                        )
                    })?;
                t
            }
        };
        frames.push(provider_frame(ctx, &table, &dates).await?);
    }
    let mut frames = frames.into_iter();
    let Some(mut df) = frames.next() else {
        return Ok(None);
    };
    for other in frames {
        df = df
            .union_by_name(other)
            .map_err(|e| Error::internal_with(format!("the versions of {name}"), e))?;
    }
    Ok(Some(df))
}

/// One version of a table, restricted to `dates`.
async fn provider_frame(
    ctx: &SessionContext,
    table: &DeltaTable,
    dates: &[String],
) -> Result<DataFrame> {
    let url = table.table_url().to_string();
    let err = |e: &dyn std::fmt::Display| Error::internal(format!("reading {url}: {e}"));
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| err(&e))?;
    let provider = table.table_provider().await.map_err(|e| err(&e))?;
    ctx.read_table(provider)
        .map_err(|e| err(&e))?
        .filter(col("run_date").in_list(dates.iter().map(|d| lit(d.clone())).collect(), false))
        .map_err(|e| err(&e))
}

fn register_run_tables(ctx: &SessionContext, runs: &[RunRecord]) -> Result<()> {
    let err = |e| Error::internal_with("building the runs tables", e);
    let s = |v: Vec<String>| -> Arc<StringArray> { Arc::new(StringArray::from(v)) };
    let batch = runs_batch(runs)?;
    ctx.register_batch("runs", batch)
        .map_err(|e| Error::internal_with("registering runs", e))?;
    // (run date, publish id, table, path, rows, bytes, sha256)
    type Row = (
        String,
        String,
        String,
        String,
        Option<u64>,
        u64,
        Option<String>,
    );
    let mut rows: Vec<Row> = Vec::new();
    for r in runs {
        for (t, c) in &r.tables {
            for f in &c.files {
                rows.push((
                    r.run_date.clone(),
                    r.publish_id.clone(),
                    t.clone(),
                    format!("{t}/{}", f.path),
                    f.rows,
                    f.bytes,
                    None,
                ));
            }
        }
        for f in &r.files {
            let table = f.path.split('/').nth(3).unwrap_or("").to_string();
            rows.push((
                r.run_date.clone(),
                r.publish_id.clone(),
                table,
                f.path.clone(),
                f.rows,
                f.bytes,
                Some(f.sha256.clone()),
            ));
        }
    }
    let run_files = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("run_date", DataType::Utf8, false),
            Field::new("publish_id", DataType::Utf8, false),
            Field::new("table_name", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("rows", DataType::UInt64, true),
            Field::new("bytes", DataType::UInt64, false),
            Field::new("sha256", DataType::Utf8, true),
        ])),
        vec![
            s(rows.iter().map(|r| r.0.clone()).collect()),
            s(rows.iter().map(|r| r.1.clone()).collect()),
            s(rows.iter().map(|r| r.2.clone()).collect()),
            s(rows.iter().map(|r| r.3.clone()).collect()),
            Arc::new(UInt64Array::from(
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                rows.iter().map(|r| r.5).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.6.clone()).collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(err)?;
    ctx.register_batch("run_files", run_files)
        .map_err(|e| Error::internal_with("registering run_files", e))?;
    Ok(())
}
