//! `fidelis generate`: write a simulated data set and its truth.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use chrono::NaiveDate;
use fidelis_core::Error;
use fidelis_core::config::StorageConfig;
use fidelis_sim::{GenerateOptions, SimParams};
use fidelis_storage::Location;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::GenerateArgs;

fn date(flag: &str, s: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| Error::config(format!("{flag} `{s}` is not YYYY-MM-DD: {e}")))
}

pub async fn command(a: GenerateArgs) -> anyhow::Result<()> {
    let mut params = match &a.params {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::config(format!("cannot read {}: {e}", path.display())))?;
            serde_json::from_str::<SimParams>(&text)
                .map_err(|e| Error::config(format!("{}: {e}", path.display())))?
        }
        None => SimParams::default(),
    };
    params.dirty_share = a.dirty_share;
    let opts = GenerateOptions {
        customers: a.customers,
        seed: a.seed,
        start: date("--start", &a.start)?,
        end: date("--end", &a.end)?,
        params,
        customers_per_file: a.customers_per_file,
        chunk_size: 2_000,
        command: command_line(),
    };
    let out = Location::parse(&a.out, &StorageConfig::default())?;
    tracing::info!(stage = "generate", customers = a.customers, seed = a.seed, out = %out.url(), "simulating");

    let bar = crate::logging::bars_enabled().then(|| {
        let bar = ProgressBar::new(a.customers);
        bar.set_style(
            ProgressStyle::with_template("{spinner} generate [{bar:40}] {human_pos}/{human_len} customers ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let last_logged = AtomicU64::new(0);
    let total = a.customers.max(1);
    let on_progress = |done: u64| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        } else {
            // Without a terminal: a log line at every 10%.
            let decile = done * 10 / total;
            if decile > last_logged.swap(decile, Ordering::Relaxed) {
                tracing::info!(
                    stage = "generate",
                    customers_done = done,
                    customers = total,
                    "progress"
                );
            }
        }
    };
    let report = fidelis_sim::generate(&opts, &out, &on_progress)
        .await
        .context("generating the data set")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    tracing::info!(
        stage = "generate",
        purchases = report.rows["purchases"],
        interactions = report.rows["interactions"],
        customers = report.rows["customers"],
        seconds = report.seconds,
        "done"
    );
    println!(
        "generated {} customers in {:.1}s: {} purchase rows, {} interaction rows, {} customer rows, truth in {}/truth",
        report.customers,
        report.seconds,
        report.rows["purchases"],
        report.rows["interactions"],
        report.rows["customers"],
        out.url()
    );
    Ok(())
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("fidelis {}", args.join(" "))
}
