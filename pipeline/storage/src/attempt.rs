//! Stage attempts (docs/publishing.md, "Overlapping runs").
//!
//! Every run of a stage is an attempt with a fresh token; it writes only
//! below its own folder `_staging/run_date=D/run_id=R/attempt=T/`, so two
//! attempts never touch each other's files, whatever they share (a run id,
//! a date). An attempt that completes creates its finished marker
//! `run_id=R/_finished/<stage>/attempt=T.json` with `PutMode::Create`; the
//! marker holds the attempt's [`Lineage`]: which attempt of every earlier
//! stage it read. A later stage reads the newest finished attempt of the
//! stage before it, and through that one's lineage every stage before, so
//! what a stage reads is always one consistent chain of finished attempts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use fidelis_core::{Error, Result, RunDate};

use crate::Location;
use crate::layout::{Layout, RunLayout, Step};

/// Which attempt of each stage a run reads or wrote.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Lineage {
    pub run_id: String,
    /// Stage name -> attempt token.
    pub attempts: BTreeMap<String, String>,
}

/// A fresh id: milliseconds since the epoch (13 digits, so ids sort by
/// time) and 8 hex digits that make two ids of the same millisecond
/// differ. Attempt tokens, drawn run ids and publish ids are all of this
/// form; they only name folders: no output value depends on them.
pub fn fresh_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let salt = Sha256::digest(format!("{}-{}-{n}", now.as_nanos(), std::process::id()));
    format!("{:013}-{}", now.as_millis(), &hex::encode(salt)[..8])
}

/// A run id names folders and comes from the command line (Airflow's
/// `run_id` mapped by the DAG): letters, digits, `_`, `.` and `-` only.
pub fn check_run_id(run_id: &str) -> Result<()> {
    let ok = !run_id.is_empty()
        && run_id.len() <= 200
        && run_id != "."
        && run_id != ".."
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "--run-id {run_id:?}: a run id is 1 to 200 of [A-Za-z0-9_.-] (the DAG maps Airflow's run_id onto these)"
        )))
    }
}

/// The newest finished attempt of a stage in this run: its lineage.
pub async fn latest_finished(run: &RunLayout, step: Step) -> Result<Option<Lineage>> {
    let markers = run.finished_markers(step);
    // Tokens sort by their start time; the listing is sorted by path.
    let Some(newest) = markers
        .list_all()
        .await?
        .into_iter()
        .rfind(|m| m.location.filename().is_some_and(|f| f.ends_with(".json")))
    else {
        return Ok(None);
    };
    let loc = Location::at(&markers, newest.location);
    let bytes = loc
        .get_opt()
        .await?
        .ok_or_else(|| Error::internal(format!("the finished marker {} vanished", loc.url())))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::internal_with(format!("cannot read {}", loc.url()), e))
}

/// Mark this run's attempt of `step` finished (create-only: a token is
/// never reused, so the marker never exists yet).
pub async fn mark_finished(run: &RunLayout, step: Step) -> Result<()> {
    let lineage = run.lineage();
    let token = lineage.attempts.get(step.name()).ok_or_else(|| {
        Error::internal(format!("no attempt of {} to mark finished", step.name()))
    })?;
    let loc = run.finished_marker(step, token);
    let json = serde_json::to_vec_pretty(lineage)
        .map_err(|e| Error::internal_with("serialising a lineage", e))?;
    if loc.put_create(json.clone()).await? {
        return Ok(());
    }
    // A create retried after a lost response finds its own marker.
    if loc.get_opt().await?.is_some_and(|b| b == json) {
        return Ok(());
    }
    Err(Error::internal(format!(
        "the finished marker {} already exists",
        loc.url()
    )))
}

#[derive(Debug, Serialize, Deserialize)]
struct CurrentRun {
    run_id: String,
}

/// The run id validate last started for a date, if any.
pub async fn current_run(layout: &Layout, run_date: RunDate) -> Result<Option<String>> {
    let loc = layout.current_run(run_date);
    match loc.get_opt().await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice::<CurrentRun>(&b)
            .map(|c| Some(c.run_id))
            .map_err(|e| Error::internal_with(format!("cannot read {}", loc.url()), e)),
    }
}

/// Record the run id that validate starts (what single stages without
/// `--run-id` then use).
pub async fn record_current_run(layout: &Layout, run_date: RunDate, run_id: &str) -> Result<()> {
    let json = serde_json::to_vec(&CurrentRun {
        run_id: run_id.to_string(),
    })
    .map_err(|e| Error::internal_with("serialising the current run", e))?;
    layout.current_run(run_date).put(json).await
}

/// Delete what other runs of the date staged (and the files of the layout
/// before attempts), keeping `keep`'s folder and the current-run record.
/// Called by validate under the date's lease, when no other run of the
/// date can be running. Returns the number of files removed.
pub async fn clear_other_runs(layout: &Layout, run_date: RunDate, keep: &str) -> Result<usize> {
    let date = layout.date_staging(run_date);
    let prefix = date.path().parts().count();
    let keep = Layout::run_id_folder(keep);
    let current = layout.current_run(run_date);
    let mut removed = 0;
    for meta in date.list_all().await? {
        let first = meta.location.parts().nth(prefix);
        if first.as_ref().map(|p| p.as_ref()) == Some(keep.as_str())
            || &meta.location == current.path()
        {
            continue;
        }
        Location::at(&date, meta.location).delete().await?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fidelis_core::config::StorageConfig;

    #[test]
    fn fresh_ids_sort_by_time_and_differ() {
        let a = fresh_id();
        let b = fresh_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 13 + 1 + 8);
        check_run_id(&a).expect("a fresh id is a valid run id");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(fresh_id()[..13] > a[..13]);
    }

    #[test]
    fn run_ids_name_folders_safely() {
        for ok in ["manual__2026-11-23T02_00_00_00_00", "scheduled.1", "a"] {
            check_run_id(ok).expect(ok);
        }
        for bad in ["", "a/b", "..", "x:y", "a+b", "a b", &"x".repeat(201)] {
            let e = check_run_id(bad).expect_err(bad);
            assert_eq!(e.kind().exit_code(), 2);
        }
    }

    #[tokio::test]
    async fn the_newest_finished_attempt_is_read_and_markers_are_create_only() {
        let t = tempfile::tempdir().expect("tmp");
        let layout = Layout::new(
            Location::parse(t.path().to_str().expect("utf8"), &StorageConfig::default())
                .expect("root"),
        );
        let d = RunDate::parse("2026-11-22").expect("date");
        let run = layout.run(d, "R");
        assert_eq!(
            latest_finished(&run, Step::Validate).await.expect("none"),
            None
        );
        let first = run.clone().with_attempt(Step::Validate, "0000000000001-aa");
        let second = run.clone().with_attempt(Step::Validate, "0000000000002-bb");
        // The newer one finishes first; then the older one: the newer wins.
        mark_finished(&second, Step::Validate).await.expect("mark");
        mark_finished(&first, Step::Validate).await.expect("mark");
        let got = latest_finished(&run, Step::Validate)
            .await
            .expect("read")
            .expect("some");
        assert_eq!(got.attempts["validate"], "0000000000002-bb");
        // A retried create finds its own marker; another's content is an error.
        mark_finished(&second, Step::Validate)
            .await
            .expect("the same marker again");
        let mut other = second.clone();
        other = other.with_attempt(Step::Features, "0000000000003-cc");
        let e = mark_finished(&other, Step::Validate)
            .await
            .expect_err("create-only");
        assert_eq!(e.kind().exit_code(), 70);

        record_current_run(&layout, d, "R").await.expect("record");
        assert_eq!(
            current_run(&layout, d).await.expect("read").as_deref(),
            Some("R")
        );
        layout
            .run(d, "OLD")
            .attempt_dir("x")
            .child("validate.json")
            .put("{}")
            .await
            .expect("old run");
        layout
            .date_staging(d)
            .child("validate.json")
            .put("{}")
            .await
            .expect("old layout");
        assert_eq!(clear_other_runs(&layout, d, "R").await.expect("clear"), 2);
        assert!(
            latest_finished(&run, Step::Validate)
                .await
                .expect("kept")
                .is_some()
        );
        assert_eq!(
            current_run(&layout, d).await.expect("kept").as_deref(),
            Some("R")
        );
    }
}
