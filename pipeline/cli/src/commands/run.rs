//! `fidelis run`: the nightly job for one run date, every stage in order
//! ([`super::Stage::NIGHTLY`]), each as its own subcommand would run it.

use std::time::Instant;

use super::{RunContext, Stage, run_stage};
use crate::args::RunArgs;

pub async fn command(a: RunArgs) -> anyhow::Result<()> {
    let ctx = RunContext::new(&a)?;
    let started = Instant::now();
    for stage in Stage::NIGHTLY {
        run_stage(stage, &ctx).await?;
    }
    tracing::info!(stage = "run", run_date = %ctx.run_date(), seconds = started.elapsed().as_secs_f64(), "run finished");
    Ok(())
}
