//! Retention: the full vacuum of an output root (docs/publishing.md,
//! "Retention and earlier runs").
//!
//! What a run no longer needs goes once it is `[output] keep_days` old, and
//! not before, so that a reader mid-read, a campaign tool importing
//! yesterday's files and `fidelis sql --run-id` on a recent earlier run
//! never lose a file:
//!
//! - **Table data files** (delta-rs' full vacuum): files removed from a
//!   table more than `keep_days` ago, and files no commit ever added (the
//!   orphans of killed or losing runs, of attempts that were retried)
//!   written more than `keep_days` ago. Never a file of a version that a
//!   **retained run** needs: the current run of every date, and every run
//!   superseded less than `keep_days` ago (`keep_versions`).
//! - **Table logs**: delta-rs' own clean-up of expired log entries is off
//!   (`delta.enableExpiredLogCleanup = false`: it would drop the log of a
//!   version a current run is read at, since a date published once a year
//!   ago is still read at the version it committed whenever a killed publish
//!   replaced it since). Here, entries older than `keep_days` go up to the
//!   newest checkpoint at or before the oldest version a retained run needs.
//! - **Published files** (`files/run_date=D/run_id=P/`): those of publishes
//!   that are not retained runs (superseded long enough ago, or killed
//!   before their runs row), once `keep_days` old.
//! - **Staging** (`_staging/run_date=D/run_id=R/`): runs whose newest
//!   staged object is `keep_days` old (killed, abandoned or published with
//!   `keep_staging`), unless `[output] keep_staging` keeps them.
//!
//! A run in progress writes its files hours before it publishes: with the
//! minimum `keep_days` of 1, a vacuum never takes them; publish checks that
//! every staged file is still there before it commits.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use deltalake_core::operations::vacuum::VacuumMode;
use deltalake_core::protocol::checkpoints::cleanup_expired_logs_for;
use serde::Serialize;

use fidelis_core::Result;

use crate::Location;
use crate::layout::{DELTA_TABLES, Layout, RUNS_TABLE};
use crate::publish::{
    RunRecord, all_runs, commit_properties, delta_err, files_by_date, open_table, read_version,
};

/// What one vacuum removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct VacuumReport {
    pub dry_run: bool,
    pub keep_days: u32,
    /// Per table: data files and log entries removed.
    pub tables: BTreeMap<String, TableVacuum>,
    /// Published files (not tables) removed.
    pub files: usize,
    /// Staged objects removed.
    pub staging: usize,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TableVacuum {
    pub data_files: usize,
    pub log_entries: usize,
    /// The versions kept readable for retained runs.
    pub kept_versions: Vec<i64>,
}

impl VacuumReport {
    /// Every object removed.
    pub fn removed(&self) -> usize {
        self.tables
            .values()
            .map(|t| t.data_files + t.log_entries)
            .sum::<usize>()
            + self.files
            + self.staging
    }
}

/// The runs whose files a vacuum keeps: the current run of every date and
/// every run superseded after `cutoff` (its successor published later).
pub fn retained_runs(rows: &[RunRecord], cutoff: DateTime<Utc>) -> Vec<&RunRecord> {
    let mut by_date: BTreeMap<&str, Vec<&RunRecord>> = BTreeMap::new();
    for r in rows {
        by_date.entry(r.run_date.as_str()).or_default().push(r);
    }
    let mut kept = Vec::new();
    for (_, mut runs) in by_date {
        runs.sort_by_key(|r| r.publish_seq);
        for (i, r) in runs.iter().enumerate() {
            let superseded = runs.get(i + 1).map(|next| published_at(next));
            // A row whose successor's time cannot be read counts as recent.
            if superseded.is_none_or(|t| t.is_none_or(|t| t > cutoff)) {
                kept.push(*r);
            }
        }
    }
    kept
}

fn published_at(r: &RunRecord) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&r.published_at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Vacuum the output root (see the module docs). `now` is the clock the
/// retention is measured against.
pub async fn vacuum(
    layout: &Layout,
    keep_days: u32,
    keep_staging: bool,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<VacuumReport> {
    let cutoff = now - Duration::days(i64::from(keep_days));
    let rows = all_runs(layout).await?;
    let retained = retained_runs(&rows, cutoff);
    let mut report = VacuumReport {
        dry_run,
        keep_days,
        ..VacuumReport::default()
    };
    let names = DELTA_TABLES
        .iter()
        .map(|s| s.name)
        .chain(std::iter::once(RUNS_TABLE));
    for name in names {
        if let Some(t) = vacuum_table(layout, name, &retained, keep_days, dry_run, cutoff).await? {
            report.tables.insert(name.to_string(), t);
        }
    }
    // An old publish folder goes unless a retained run names it: a run
    // superseded long enough ago, or a publish killed before its row.
    let kept: BTreeSet<&str> = retained.iter().map(|r| r.publish_id.as_str()).collect();
    report.files = remove_old_folders(&layout.files_root(), cutoff, dry_run, |id| {
        kept.contains(id)
    })
    .await?;
    if !keep_staging {
        let staging = layout.root().child("_staging");
        report.staging = remove_old_folders(&staging, cutoff, dry_run, |_| false).await?;
    }
    Ok(report)
}

/// One table: delta-rs' full vacuum keeping the versions retained runs
/// read, then the log entries no retained run needs.
async fn vacuum_table(
    layout: &Layout,
    name: &str,
    retained: &[&RunRecord],
    keep_days: u32,
    dry_run: bool,
    cutoff: DateTime<Utc>,
) -> Result<Option<TableVacuum>> {
    let root = layout.table(name);
    let Some(table) = open_table(&root).await? else {
        return Ok(None);
    };
    let latest = table
        .version()
        .map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX));
    let now_files = files_by_date(&table).await?;
    let mut needed: BTreeSet<i64> = BTreeSet::new();
    for r in retained {
        if let Some(t) = r.tables.get(name)
            && let Some(v) = read_version(t, now_files.get(&r.run_date))
        {
            needed.insert(v);
        }
    }
    let keep: Vec<u64> = needed
        .iter()
        .filter_map(|v| u64::try_from(*v).ok())
        .collect();
    let props = commit_properties();
    let log_store = table.log_store();
    let mut builder = table
        .vacuum()
        .with_mode(VacuumMode::Full)
        .with_retention_period(Duration::days(i64::from(keep_days)))
        .with_enforce_retention_duration(false)
        .with_dry_run(dry_run)
        .with_commit_properties(props);
    if !keep.is_empty() {
        builder = builder.with_keep_versions(&keep);
    }
    let (_, metrics) = builder
        .await
        .map_err(delta_err(format!("vacuuming {}", root.url())))?;
    let log_entries = if dry_run {
        0
    } else {
        let oldest = needed.first().copied().unwrap_or(latest).min(latest);
        cleanup_expired_logs_for(
            u64::try_from(oldest).unwrap_or(0),
            log_store.as_ref(),
            cutoff.timestamp_millis(),
            None,
        )
        .await
        .map_err(delta_err(format!("cleaning up the log of {}", root.url())))?
    };
    let data_files = metrics.files_deleted.len();
    if data_files + log_entries > 0 {
        tracing::info!(table = %root.url(), data_files, log_entries, dry_run, "vacuumed");
    }
    Ok(Some(TableVacuum {
        data_files,
        log_entries,
        kept_versions: needed.into_iter().collect(),
    }))
}

/// Remove the `run_date=D/run_id=X/` folders below `root` whose newest
/// object was written before `cutoff`, unless `keep(X)`; returns the
/// objects removed.
async fn remove_old_folders(
    root: &Location,
    cutoff: DateTime<Utc>,
    dry_run: bool,
    keep: impl Fn(&str) -> bool,
) -> Result<usize> {
    // (date folder, run folder) -> (newest write, objects)
    let mut folders: BTreeMap<(String, String), (DateTime<Utc>, Vec<object_store::ObjectMeta>)> =
        BTreeMap::new();
    for meta in root.list_all().await? {
        let parts = root.relative_parts(&meta.location);
        let [date, run, _, ..] = parts.as_slice() else {
            continue;
        };
        if !date.starts_with("run_date=") || !run.starts_with("run_id=") {
            continue;
        }
        let entry = folders
            .entry((date.clone(), run.clone()))
            .or_insert((meta.last_modified, Vec::new()));
        entry.0 = entry.0.max(meta.last_modified);
        entry.1.push(meta);
    }
    let mut removed = 0;
    for ((_, run), (newest, metas)) in folders {
        let id = run.trim_start_matches("run_id=");
        if newest >= cutoff || keep(id) {
            continue;
        }
        removed += metas.len();
        if !dry_run {
            root.delete_objects(metas).await?;
        }
    }
    Ok(removed)
}
