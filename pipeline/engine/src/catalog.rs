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

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake_core::DeltaTable;

use fidelis_core::{Error, Result, Settings};
use fidelis_storage::layout::{DELTA_TABLES, Layout};
use fidelis_storage::publish::{
    CommittedTable, RunRecord, all_runs, current_of, files_by_date, log_store, open_table,
    read_version, runs_batch,
};

/// A session with every published table registered; returns it with the
/// runs it reads: the current run of every date, or with `run_id` (a run
/// id or a publish id) that run in place of its date's current one (its
/// latest publish), as long as `[output] keep_days` keeps it.
pub async fn sql_session(
    settings: &Settings,
    layout: &Layout,
    run_id: Option<&str>,
) -> Result<(SessionContext, Vec<RunRecord>)> {
    let history = all_runs(layout).await?;
    let mut runs = current_of(&history);
    if let Some(id) = run_id {
        let chosen = history
            .iter()
            .rfind(|r| r.staged.run_id == id || r.publish_id == id)
            .ok_or_else(|| {
                Error::config(format!(
                    "no published run has the run id or publish id {id} (SELECT run_date, run_id, publish_id FROM run_history lists them)"
                ))
            })?;
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(settings.keep_days));
        let retained = fidelis_storage::vacuum::retained_runs(&history, cutoff);
        if !retained.iter().any(|r| r.publish_id == chosen.publish_id) {
            return Err(Error::config(format!(
                "run {id} of {} was replaced more than [output] keep_days ({}) ago: a vacuum removes the files of such runs",
                chosen.run_date, settings.keep_days
            )));
        }
        for r in &mut runs {
            if r.run_date == chosen.run_date {
                *r = chosen.clone();
            }
        }
    }
    let ctx = crate::session::new_session(&settings.engine, &[layout.root()])?;
    for spec in DELTA_TABLES {
        if let Some(df) = read_table(&ctx, layout, spec.name, &runs).await? {
            ctx.register_table(spec.name, df.into_view())
                .map_err(|e| Error::internal_with(format!("registering {}", spec.name), e))?;
        }
    }
    register_run_tables(&ctx, &runs)?;
    ctx.register_batch("run_history", runs_batch(&history)?)
        .map_err(|e| Error::internal_with("registering run_history", e))?;
    Ok((ctx, runs))
}

/// Run one query, read-only: no DDL (`CREATE`, `DROP`), no DML (`COPY`,
/// `INSERT`), no statements (`SET`). Anything else, and a query that does
/// not plan or fails, is a usage error (exit 2) with DataFusion's message;
/// a storage failure is exit 4.
pub async fn read_only_query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx.sql_with_options(sql, options).await.map_err(|e| {
        Error::config(format!(
            "the query does not plan (fidelis sql runs read-only queries): {e}"
        ))
    })?;
    // A storage failure is not the query's fault: kept as the source, it
    // is exit 4 (fidelis_storage::storage_root).
    df.collect().await.map_err(|e| {
        if fidelis_storage::storage_root(&e).is_some() {
            Error::internal_with("reading the published tables", e)
        } else {
            Error::config(format!("the query failed: {e}"))
        }
    })
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
    let now = files_by_date(&latest).await?;
    // Version to read -> the dates read there (None: the latest).
    let mut groups: BTreeMap<Option<i64>, Vec<String>> = BTreeMap::new();
    for (date, t) in named {
        let at = read_version(t, now.get(date));
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
