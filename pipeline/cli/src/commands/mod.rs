//! One module per subcommand; what they share lives here: loading the
//! settings, the run context built from the arguments, the stage records
//! for the manifest, and the stages of the nightly job in their order.
//!
//! A command file never imports another: a command that runs other stages
//! (`run`, or `train` when the feature stage has not run) goes through
//! [`run_stage`].

mod export;
mod features;
mod generate;
mod publish;
mod report;
mod run;
mod score;
mod settings;
mod sql;
mod train;
mod vacuum;
mod validate;

use std::time::{Duration, Instant};

use fidelis_core::{ErrorKind, RunDate, Settings};
use fidelis_storage::attempt;
use fidelis_storage::layout::{Layout, RunLayout, Step};
use fidelis_storage::lease::{Lease, LeaseKind};
use sha2::{Digest, Sha256};

use crate::args::{Command, RunArgs};

pub async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Generate(a) => generate::command(a).await,
        Command::Validate(a) => validate::command(a).await,
        Command::Features(a) => features::command(a).await,
        Command::Train(a) => train::command(a).await,
        Command::Score(a) => score::command(a).await,
        Command::Export(a) => export::command(a).await,
        Command::Report(a) => report::command(a).await,
        Command::Publish(a) => publish::command(a).await,
        Command::Run(a) => run::command(a).await,
        Command::Sql(a) => sql::command(a).await,
        Command::Vacuum(a) => vacuum::command(a).await,
        Command::Settings(a) => settings::command(a),
    }
}

/// The stages of the nightly job, in the order `fidelis run` runs them;
/// each is also a subcommand (and a task of the Airflow DAG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Validate,
    Features,
    Train,
    Score,
    Export,
    Report,
    Publish,
}

impl Stage {
    pub const NIGHTLY: [Stage; 7] = [
        Stage::Validate,
        Stage::Features,
        Stage::Train,
        Stage::Score,
        Stage::Export,
        Stage::Report,
        Stage::Publish,
    ];
}

impl Stage {
    /// The attempt folder kind of the stage (publish stages nothing).
    fn step(self) -> Option<Step> {
        match self {
            Stage::Validate => Some(Step::Validate),
            Stage::Features => Some(Step::Features),
            Stage::Train => Some(Step::Train),
            Stage::Score => Some(Step::Score),
            Stage::Export => Some(Step::Export),
            Stage::Report => Some(Step::Report),
            Stage::Publish => None,
        }
    }
}

/// Run one stage of a run, as one attempt ([`in_attempt`]).
pub(crate) async fn run_stage(stage: Stage, job: &Job) -> anyhow::Result<()> {
    in_attempt(job, stage.step(), async |ctx: &RunContext| match stage {
        Stage::Validate => validate::stage(ctx).await,
        Stage::Features => features::stage(ctx).await,
        Stage::Train => train::stage(ctx).await,
        Stage::Score => score::stage(ctx).await,
        Stage::Export => export::stage(ctx).await,
        Stage::Report => report::stage(ctx).await,
        Stage::Publish => publish::stage(ctx).await,
    })
    .await
}

/// Load the config and resolve it into settings (with the config's hash).
pub(crate) fn load_settings(path: &std::path::Path) -> anyhow::Result<Settings> {
    let (mut settings, bytes) = fidelis_core::config::load(path)?;
    settings.config_hash = hex::encode(Sha256::digest(&bytes));
    Ok(settings)
}

/// One run of a run date, as the command line names it: the settings, the
/// output root (resolved once, here), the date and the run id.
#[derive(Debug)]
pub(crate) struct Job {
    pub settings: Settings,
    pub layout: Layout,
    pub run_date: RunDate,
    pub run_id: String,
}

impl Job {
    /// The run of the arguments. Without `--run-id`, a run that starts
    /// with validate (`draw`: `fidelis run`, `fidelis validate`) draws a
    /// fresh id; any other stage takes the id validate recorded for the
    /// date.
    pub async fn new(a: &RunArgs, draw: bool) -> anyhow::Result<Job> {
        let settings = load_settings(&a.config)?;
        let run_date = RunDate::parse(&a.run_date)?;
        let layout = Layout::from_settings(&settings)?;
        let run_id = match &a.run_id {
            Some(id) => {
                attempt::check_run_id(id)?;
                id.clone()
            }
            None if draw => attempt::fresh_id(),
            None => attempt::current_run(&layout, run_date)
                .await?
                .ok_or_else(|| {
                    fidelis_core::Error::config(format!(
                        "no run of run date {run_date} has been validated at {}: run `fidelis validate` first, or pass --run-id",
                        layout.root().url()
                    ))
                })?,
        };
        Ok(Job {
            settings,
            layout,
            run_date,
            run_id,
        })
    }

    fn lease_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.settings.lease_minutes * 60.0)
    }

    /// Take or join a lease of the run date.
    pub async fn lease(&self, kind: LeaseKind, owner: &str) -> anyhow::Result<Lease> {
        Ok(Lease::acquire(
            &self.layout.leases(self.run_date),
            kind,
            self.run_date,
            owner,
            self.lease_ttl(),
        )
        .await?)
    }
}

/// What one stage attempt works with: the settings, the paths of the run
/// (the attempts it reads, the one it writes), the date's lease and the
/// attempt's token.
#[derive(Debug)]
pub(crate) struct RunContext {
    pub settings: Settings,
    pub run: RunLayout,
    pub step: Option<Step>,
    pub lease: Lease,
    pub token: String,
}

impl RunContext {
    /// The run date (the staging area's).
    pub fn run_date(&self) -> RunDate {
        self.run.run_date()
    }

    /// The output root and every published table and manifest.
    pub fn layout(&self) -> &Layout {
        self.run.layout()
    }

    /// Record how long the attempt took, for the manifest.
    pub async fn record_duration(&self, started: Instant) -> anyhow::Result<()> {
        if let Some(step) = self.step {
            self.run
                .duration(step)
                .put(serde_json::to_vec(&started.elapsed().as_secs_f64())?)
                .await?;
        }
        Ok(())
    }
}

/// Run `work` while a heartbeat renews `lease` (every quarter of it),
/// stopping the heartbeat when `work` ends.
pub(crate) async fn renewing<T>(lease: &Lease, work: impl Future<Output = T>) -> T {
    let beat = heartbeat(lease.clone());
    let out = work.await;
    beat.abort();
    out
}

/// Renew a lease every quarter of it until aborted; stops, saying so,
/// when the lease was lost.
fn heartbeat(mut lease: Lease) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = lease.heartbeat_interval();
        loop {
            tokio::time::sleep(every).await;
            match lease.heartbeat().await {
                Ok(true) => {
                    tracing::debug!(generation = lease.record().generation, "lease renewed")
                }
                Ok(false) => {
                    tracing::warn!(run_date = %lease.record().run_date, owner = %lease.record().owner, "this run lost its lease: its attempt will not be marked finished");
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "lease heartbeat failed; trying again"),
            }
        }
    })
}

/// One attempt of a stage (`step`; `None`: publish) of a run
/// (docs/publishing.md, "Overlapping runs"): take or join the date's lease
/// (exit 75 when another run holds it), read the newest finished attempt
/// of the stage before and its lineage, write into a fresh attempt folder
/// while a heartbeat renews the lease, and mark the attempt finished only
/// if the lease is still this run's. A failure a retry cannot mend (exit
/// 2, 3, 5) frees the date for the next run.
pub(crate) async fn in_attempt(
    job: &Job,
    step: Option<Step>,
    f: impl AsyncFnOnce(&RunContext) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (d, run_id) = (job.run_date, job.run_id.as_str());
    let lease = job.lease(LeaseKind::Date, run_id).await?;
    tracing::info!(run_date = %d, run_id, lease_generation = lease.record().generation, stage = step.map_or("publish", Step::name), "holding the run date");
    let result = attempt_holding(job, step, &lease, f).await;
    let Err(e) = result else {
        return Ok(());
    };
    // A run that lost its lease says so (exit 75), whatever the stage
    // tripped over meanwhile (another run may have cleared its staging).
    if let Err(lost) = lease.check().await {
        if matches!(lost.kind(), ErrorKind::Busy) {
            return Err(anyhow::Error::from(lost).context(format!("{e:#}")));
        }
        return Err(e);
    }
    if matches!(
        crate::classify(&e),
        ErrorKind::Config | ErrorKind::Data | ErrorKind::Quality
    ) && let Err(r) = lease.release().await
    {
        tracing::warn!(error = %r, "could not release the run date's lease");
    }
    Err(e)
}

/// The part of [`in_attempt`] that runs under the date's lease.
async fn attempt_holding(
    job: &Job,
    step: Option<Step>,
    lease: &Lease,
    f: impl AsyncFnOnce(&RunContext) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (d, run_id) = (job.run_date, job.run_id.as_str());
    let base = job.layout.run(d, run_id);
    if step == Some(Step::Validate) {
        // The first stage of a run: no other run of the date can be
        // running (this run holds the lease, checked again right before),
        // so what the others staged goes; this run's earlier attempts stay
        // until it is replaced.
        lease.check().await?;
        attempt::record_current_run(&job.layout, d, run_id).await?;
        let left = attempt::clear_other_runs(&job.layout, d, run_id).await?;
        if left > 0 {
            tracing::info!(
                stage = "validate",
                files = left,
                "removed what other runs of this date staged"
            );
        }
    }
    let upstream = match step {
        Some(s) => s.upstream(),
        None => Some(Step::Report),
    };
    let run = match upstream {
        None => base,
        Some(up) => {
            let mut found = attempt::latest_finished(&base, up).await?;
            if found.is_none() && step == Some(Step::Train) {
                tracing::info!(stage = "train", run_date = %d, run_id, "no finished feature stage in this run: running it first");
                // Boxed: `run_stage` also leads here.
                Box::pin(run_stage(Stage::Features, job)).await?;
                found = attempt::latest_finished(&base, up).await?;
            }
            let lineage = found.ok_or_else(|| {
                fidelis_core::Error::config(format!(
                    "nothing to {} for run date {d}: the {} stage has not finished in run {run_id} (run the stages before it first)",
                    step.map_or("publish", Step::name),
                    up.name()
                ))
            })?;
            base.with_lineage(lineage)
        }
    };
    let token = attempt::fresh_id();
    let run = match step {
        Some(s) => run.with_attempt(s, &token),
        None => run,
    };
    let ctx = RunContext {
        settings: job.settings.clone(),
        run,
        step,
        lease: lease.clone(),
        token,
    };
    renewing(lease, f(&ctx)).await?;
    if let Some(s) = step {
        lease.check().await?;
        attempt::mark_finished(&ctx.run, s).await?;
    }
    Ok(())
}

/// The binary's version and the commit it was built from.
pub(crate) fn code_version() -> String {
    format!(
        "fidelis {} ({})",
        env!("CARGO_PKG_VERSION"),
        env!("FIDELIS_GIT_COMMIT")
    )
}

/// Vacuum the output root of `settings` now.
pub(crate) async fn vacuum_now(
    settings: &Settings,
    dry_run: bool,
) -> anyhow::Result<fidelis_storage::vacuum::VacuumReport> {
    let layout = Layout::from_settings(settings)?;
    Ok(fidelis_storage::vacuum::vacuum(
        &layout,
        settings.keep_days,
        settings.keep_staging,
        dry_run,
        chrono::Utc::now(),
    )
    .await?)
}

/// One line on what a vacuum removed.
pub(crate) fn vacuum_summary(r: &fidelis_storage::vacuum::VacuumReport) -> String {
    let data: usize = r.tables.values().map(|t| t.data_files).sum();
    let logs: usize = r.tables.values().map(|t| t.log_entries).sum();
    format!(
        "vacuum ({} days kept){}: {data} table data files, {logs} log entries, {} published files, {} staged objects {}",
        r.keep_days,
        if r.dry_run { ", dry run" } else { "" },
        r.files,
        r.staging,
        if r.dry_run { "would go" } else { "removed" },
    )
}
