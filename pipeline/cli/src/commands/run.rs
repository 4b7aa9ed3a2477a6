//! `fidelis run`: the nightly job for one run date, every stage in order
//! ([`super::Stage::NIGHTLY`]), each as its own subcommand would run it.

use std::time::Instant;

use super::{Job, Stage, run_stage};
use crate::args::RunArgs;

pub async fn command(a: RunArgs) -> anyhow::Result<()> {
    let job = Job::new(&a, true).await?;
    let started = Instant::now();
    for stage in Stage::NIGHTLY {
        run_stage(stage, &job).await?;
    }
    tracing::info!(stage = "run", run_date = %job.run_date, run_id = %job.run_id, seconds = started.elapsed().as_secs_f64(), "run finished");
    Ok(())
}
