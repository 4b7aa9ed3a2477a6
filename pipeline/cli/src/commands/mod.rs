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
mod validate;

use std::time::Instant;

use fidelis_core::{RunDate, Settings};
use fidelis_storage::layout::{Layout, RunLayout};
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

/// Run one stage for the context's run date.
pub(crate) async fn run_stage(stage: Stage, ctx: &RunContext) -> anyhow::Result<()> {
    match stage {
        Stage::Validate => validate::stage(ctx).await,
        Stage::Features => features::stage(ctx).await,
        Stage::Train => train::stage(ctx).await,
        Stage::Score => score::stage(ctx).await,
        Stage::Export => export::stage(ctx).await,
        Stage::Report => report::stage(ctx).await,
        Stage::Publish => publish::stage(ctx).await,
    }
}

/// Load the config and resolve it into settings (with the config's hash).
pub(crate) fn load_settings(path: &std::path::Path) -> anyhow::Result<Settings> {
    let (mut settings, bytes) = fidelis_core::config::load(path)?;
    settings.config_hash = hex::encode(Sha256::digest(&bytes));
    Ok(settings)
}

/// What every stage of one run date works with: the settings, the run date
/// and the paths of the run (the output root is resolved once, here).
#[derive(Debug)]
pub(crate) struct RunContext {
    pub settings: Settings,
    pub run: RunLayout,
}

impl RunContext {
    pub fn new(a: &RunArgs) -> anyhow::Result<Self> {
        let settings = load_settings(&a.config)?;
        let run_date = RunDate::parse(&a.run_date)?;
        let run = Layout::from_settings(&settings)?.run(run_date);
        Ok(RunContext { settings, run })
    }

    /// The run date (the staging area's).
    pub fn run_date(&self) -> RunDate {
        self.run.run_date()
    }

    /// The output root and every published table and manifest.
    pub fn layout(&self) -> &Layout {
        self.run.layout()
    }

    /// Record how long a stage took, for the manifest.
    pub async fn record_duration(&self, stage: &str, started: Instant) -> anyhow::Result<()> {
        self.run
            .duration(stage)
            .put(serde_json::to_vec(&started.elapsed().as_secs_f64())?)
            .await?;
        Ok(())
    }
}

/// The binary's version and the commit it was built from.
pub(crate) fn code_version() -> String {
    format!(
        "fidelis {} ({})",
        env!("CARGO_PKG_VERSION"),
        env!("FIDELIS_GIT_COMMIT")
    )
}
