//! Leases on a run date (docs/publishing.md, "Overlapping runs").
//!
//! A lease is a sequence of generations, one object each, in
//! `<out>/_leases/run_date=D/<kind>-<generation>.json`; the highest
//! generation is the lease's state. Every change of hands creates the next
//! generation with `PutMode::Create` (S3: a conditional write, `If-None-Match:
//! *`; a local disk: create-if-absent), so of two runs that race for the same
//! generation exactly one wins; nothing ever overwrites another owner's
//! generation. The owner alone rewrites its own generation to push the
//! expiry forward (the heartbeat); a rewrite that races a takeover is
//! harmless, since the takeover's generation is higher.
//!
//! Two kinds per run date:
//! - `date`, owned by a run id and re-entrant for it: every stage of the run
//!   (a separate process, an Airflow task each) joins it; a run with another
//!   id is refused until the lease is released or expires.
//! - `publish`, owned by one publish attempt: two publishes of the same run
//!   (a zombie task and its retry) never commit at once.
//!
//! Expiry is judged on the clock of the run that looks (the holder writes
//! `expires_at` on its own clock): clocks of the machines must agree to well
//! within a lease (minutes), as NTP keeps them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use fidelis_core::{Error, Result, RunDate};

use crate::Location;

/// The two kinds of lease of a run date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseKind {
    /// Held by a run id for the whole run (re-entrant for that id).
    Date,
    /// Held by one publish attempt.
    Publish,
}

impl LeaseKind {
    fn name(self) -> &'static str {
        match self {
            LeaseKind::Date => "date",
            LeaseKind::Publish => "publish",
        }
    }
}

/// One generation of a lease, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseRecord {
    pub generation: u64,
    pub run_date: String,
    /// The run id (a `date` lease) or the publish attempt (a `publish` lease).
    pub owner: String,
    /// The host and process that took this generation.
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    /// The last heartbeat.
    pub renewed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// A released lease is free for anyone.
    pub released: bool,
}

impl LeaseRecord {
    fn live(&self, now: DateTime<Utc>) -> bool {
        !self.released && self.expires_at > now
    }

    /// Who holds it and until when, for a refusal message.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}) since {}, last heartbeat {}, expires {} unless renewed",
            self.owner,
            self.holder,
            self.acquired_at.format("%Y-%m-%dT%H:%M:%SZ"),
            self.renewed_at.format("%Y-%m-%dT%H:%M:%SZ"),
            self.expires_at.format("%Y-%m-%dT%H:%M:%SZ"),
        )
    }
}

/// A held lease (one generation).
#[derive(Debug, Clone)]
pub struct Lease {
    dir: Location,
    kind: LeaseKind,
    run_date: RunDate,
    record: LeaseRecord,
    ttl: Duration,
}

fn this_process() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host} pid {}", std::process::id())
}

fn ttl_delta(ttl: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::MAX)
}

fn file_name(kind: LeaseKind, generation: u64) -> String {
    format!("{}-{generation:012}.json", kind.name())
}

/// Every stored generation of a lease: its number and its object.
async fn generations(
    dir: &Location,
    kind: LeaseKind,
) -> Result<Vec<(u64, object_store::path::Path)>> {
    let prefix = format!("{}-", kind.name());
    Ok(dir
        .list_all()
        .await?
        .into_iter()
        .filter_map(|meta| {
            let g = meta
                .location
                .filename()?
                .strip_prefix(&prefix)?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()?;
            Some((g, meta.location))
        })
        .collect())
}

/// The highest generation of a lease, if any.
async fn latest(dir: &Location, kind: LeaseKind) -> Result<Option<LeaseRecord>> {
    let Some((_, path)) = generations(dir, kind)
        .await?
        .into_iter()
        .max_by_key(|(g, _)| *g)
    else {
        return Ok(None);
    };
    let loc = Location::at(dir, path);
    match loc.get_opt().await? {
        // Pruned between the listing and the read: only older generations
        // are pruned, so a newer one exists; exit 75, and the retry looks
        // again.
        None => Err(Error::busy(format!(
            "the lease at {} changed while being read; retry",
            loc.url()
        ))),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::internal_with(format!("cannot read the lease {}", loc.url()), e)),
    }
}

impl Lease {
    /// Take or join the lease of `kind` in `dir` for `owner`: join when the
    /// live generation is the owner's (re-entrant), take the next
    /// generation when the lease is free (never held, released or expired),
    /// and refuse (exit 75, naming the holder) when someone else holds it.
    pub async fn acquire(
        dir: &Location,
        kind: LeaseKind,
        run_date: RunDate,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        for _ in 0..8 {
            let now = Utc::now();
            let current = latest(dir, kind).await?;
            if let Some(r) = current.as_ref().filter(|r| r.live(now) && r.owner != owner) {
                return Err(Error::busy(match kind {
                    LeaseKind::Date => format!(
                        "another run holds run date {run_date}: {}; retry later (or continue that run: --run-id {})",
                        r.describe(),
                        r.owner
                    ),
                    LeaseKind::Publish => format!(
                        "another publish of run date {run_date} is under way: {}; retry later",
                        r.describe()
                    ),
                }));
            }
            // Free, or live and ours (a join): either way the next
            // generation, created only if nobody created it first, so a
            // join and a takeover of the same generation never both win.
            let joined = current.as_ref().filter(|r| r.live(now));
            let record = LeaseRecord {
                generation: current.as_ref().map_or(1, |r| r.generation + 1),
                run_date: run_date.to_string(),
                owner: owner.to_string(),
                holder: this_process(),
                acquired_at: joined.map_or(now, |r| r.acquired_at),
                renewed_at: now,
                expires_at: now + ttl_delta(ttl),
                released: false,
            };
            let lease = Lease {
                dir: dir.clone(),
                kind,
                run_date,
                record,
                ttl,
            };
            if lease.location().put_create(lease.json()?).await? {
                if let Some(p) = current.filter(|p| !p.released && !p.live(now)) {
                    tracing::warn!(lease = %lease.location().url(), expired = %p.describe(), "took over an expired lease");
                }
                lease.prune().await;
                return Ok(lease);
            }
            // Another process created this generation first: look again.
        }
        Err(Error::busy(format!(
            "the {} lease of run date {run_date} at {} kept changing hands; retry later",
            kind.name(),
            dir.url()
        )))
    }

    fn location(&self) -> Location {
        self.dir
            .child(&file_name(self.kind, self.record.generation))
    }

    fn json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(&self.record).map_err(|e| Error::internal_with("a lease", e))
    }

    fn renew_record(&mut self, now: DateTime<Utc>) {
        self.record.renewed_at = now;
        self.record.expires_at = now + ttl_delta(self.ttl);
    }

    async fn write(&self) -> Result<()> {
        self.location().put(self.json()?).await
    }

    /// Generations older than the one before this one go (best effort:
    /// they only make the listing longer).
    async fn prune(&self) {
        let Ok(all) = generations(&self.dir, self.kind).await else {
            return;
        };
        for (g, path) in all {
            if g + 1 < self.record.generation {
                let _ = Location::at(&self.dir, path).delete().await;
            }
        }
    }

    /// The stored record of this generation.
    pub fn record(&self) -> &LeaseRecord {
        &self.record
    }

    /// Take or join the lease of another kind of the same run date (the
    /// same folder and length), for `owner`.
    pub async fn acquire_beside(&self, kind: LeaseKind, owner: &str) -> Result<Lease> {
        Lease::acquire(&self.dir, kind, self.run_date, owner, self.ttl).await
    }

    /// How often a holder renews: a quarter of the lease.
    pub fn heartbeat_interval(&self) -> Duration {
        self.ttl / 4
    }

    /// Renew the lease while it is live and still this owner's (the
    /// newest generation may be a later join of the same run: renewing it
    /// renews the run's hold); `Ok(false)` when it was lost (expired, taken
    /// over, or released by another stage of the same run).
    pub async fn heartbeat(&mut self) -> Result<bool> {
        let now = Utc::now();
        match latest(&self.dir, self.kind).await? {
            Some(r) if r.live(now) && r.owner == self.record.owner => {
                self.record = r;
                self.renew_record(now);
                self.write().await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Fails with exit 75 unless the live generation is this owner's:
    /// asked before anything a lost lease must not do (mark a stage
    /// finished, write a manifest).
    pub async fn check(&self) -> Result<()> {
        let now = Utc::now();
        match latest(&self.dir, self.kind).await? {
            Some(r) if r.owner == self.record.owner && r.live(now) => Ok(()),
            Some(r) => Err(Error::busy(format!(
                "this run lost its {} lease of run date {} (generation {}): {}; nothing more was done, retry later",
                self.kind.name(),
                self.record.run_date,
                self.record.generation,
                if r.released {
                    format!(
                        "{} released it at {} (its run or publish ended)",
                        r.owner,
                        r.renewed_at.format("%Y-%m-%dT%H:%M:%SZ")
                    )
                } else {
                    format!("now held by {}", r.describe())
                }
            ))),
            None => Err(Error::busy(format!(
                "this run lost its {} lease of run date {}: the lease at {} is gone; retry later",
                self.kind.name(),
                self.record.run_date,
                self.dir.url()
            ))),
        }
    }

    /// Free the lease: the generation after the newest, marked released,
    /// created only while the newest is this owner's (a lease taken over
    /// meanwhile is left to its new owner).
    pub async fn release(self) -> Result<()> {
        let now = Utc::now();
        let Some(newest) = latest(&self.dir, self.kind).await? else {
            return Ok(());
        };
        if newest.owner != self.record.owner || newest.released {
            return Ok(());
        }
        let released = Lease {
            record: LeaseRecord {
                generation: newest.generation + 1,
                released: true,
                renewed_at: now,
                expires_at: now,
                ..newest
            },
            ..self
        };
        // AlreadyExists: someone took the lease over meanwhile; it is theirs.
        released.location().put_create(released.json()?).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fidelis_core::config::StorageConfig;

    fn dir(t: &tempfile::TempDir) -> Location {
        Location::parse(
            t.path().join("leases").to_str().expect("utf8"),
            &StorageConfig::default(),
        )
        .expect("dir")
    }

    fn d() -> RunDate {
        RunDate::parse("2026-11-22").expect("date")
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_lease_is_reentrant_for_its_owner_and_refuses_others() {
        let t = tempfile::tempdir().expect("tmp");
        let dir = dir(&t);
        let a = Lease::acquire(&dir, LeaseKind::Date, d(), "run-a", HOUR)
            .await
            .expect("a");
        assert_eq!(a.record().generation, 1);
        let again = Lease::acquire(&dir, LeaseKind::Date, d(), "run-a", HOUR)
            .await
            .expect("re-entrant");
        // A join is the next generation of the same owner; the first
        // handle still holds the run's lease.
        assert_eq!(again.record().generation, 2);
        assert_eq!(again.record().acquired_at, a.record().acquired_at);
        a.check().await.expect("the first handle still holds it");
        let err = Lease::acquire(&dir, LeaseKind::Date, d(), "run-b", HOUR)
            .await
            .expect_err("b is refused");
        assert_eq!(err.kind().exit_code(), 75);
        assert!(err.to_string().contains("run-a"), "{err}");
        // The publish lease is independent of the date lease.
        Lease::acquire(&dir, LeaseKind::Publish, d(), "attempt-1", HOUR)
            .await
            .expect("publish lease");
        a.check().await.expect("still held");
        a.release().await.expect("release");
        assert_eq!(
            again
                .check()
                .await
                .expect_err("released")
                .kind()
                .exit_code(),
            75
        );
        let b = Lease::acquire(&dir, LeaseKind::Date, d(), "run-b", HOUR)
            .await
            .expect("b after the release");
        assert_eq!(b.record().generation, 4);
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_with_the_next_generation() {
        let t = tempfile::tempdir().expect("tmp");
        let dir = dir(&t);
        let mut a = Lease::acquire(
            &dir,
            LeaseKind::Date,
            d(),
            "run-a",
            Duration::from_millis(200),
        )
        .await
        .expect("a");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b = Lease::acquire(&dir, LeaseKind::Date, d(), "run-b", HOUR)
            .await
            .expect("takeover");
        assert_eq!(b.record().generation, 2);
        assert!(!a.heartbeat().await.expect("heartbeat"), "a lost it");
        assert_eq!(a.check().await.expect_err("lost").kind().exit_code(), 75);
        // The loser's release creates nothing over the winner's generation.
        a.release().await.expect("release is a no-op");
        b.check().await.expect("b still holds it");
    }

    #[tokio::test]
    async fn racing_acquirers_get_one_generation_each_and_one_wins() {
        let t = tempfile::tempdir().expect("tmp");
        let dir = dir(&t);
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let dir = dir.clone();
                tokio::spawn(async move {
                    Lease::acquire(&dir, LeaseKind::Date, d(), &format!("run-{i}"), HOUR).await
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(_) => won += 1,
                Err(e) => assert_eq!(e.kind().exit_code(), 75, "{e}"),
            }
        }
        assert_eq!(won, 1);
    }
}
