//! The command line. Every stage takes `--config` and `--run-date`, so a
//! scheduler can run and retry stages one by one; `run` chains them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "fidelis",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("FIDELIS_GIT_COMMIT"), ")"),
    about = "Churn and customer-lifetime-value pipeline: validated reads, DataFusion features, BTYD + linfa models, consent-checked segments.",
    after_help = "Exit codes: 0 ok, 2 usage/config, 3 bad input data, 4 storage failure (retry), 5 model below its quality floor, 70 internal error, 75 another run holds the run date (retry later)."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "auto", env = crate::env::LOG_FORMAT)]
    pub log_format: LogFormat,
    /// Log filter (tracing syntax: info, debug, fidelis=debug, ...).
    #[arg(long, global = true, default_value = "info", env = crate::env::LOG)]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate a retailer's customers: purchases, interactions, customers and the ground truth.
    Generate(GenerateArgs),
    /// Check the inputs against the data contract; quarantine bad rows.
    Validate(RunArgs),
    /// The feature stage: features as of the run date and every backtest cutoff, with their labels; or, with --as-of, one cutoff.
    Features(FeaturesArgs),
    /// Backtest the churn and revenue models out of time, keep a champion per target, write the models and metrics.
    Train(RunArgs),
    /// Score every customer as of the run date with the trained models; stage scores and segments.
    Score(RunArgs),
    /// Stage the campaign audiences of [exports]: consented customers only, control groups held out.
    Export(RunArgs),
    /// Stage the run report (reports/report.html): data quality, features, backtests, segments, drift, audiences.
    Report(RunArgs),
    /// Publish the staged outputs of a run date: one Delta commit per table, the runs row last; then vacuum ([output] vacuum).
    Publish(RunArgs),
    /// The nightly job for one run date: validate, features, train, score, export, report, publish.
    Run(RunArgs),
    /// Run SQL over the published outputs (scores, segments, exports, features, labels, rejects_<input>, runs, run_files, run_history).
    Sql(SqlArgs),
    /// Remove what no retained run needs once [output] keep_days old: replaced and orphaned table files, expired log entries, old published files and staging.
    Vacuum(VacuumArgs),
    /// Print the resolved settings of a config file as JSON.
    Settings(ConfigArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The job's TOML config (see jobs/local.toml).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job's TOML config (see jobs/local.toml).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// The last complete day of data (YYYY-MM-DD, UTC). Airflow passes the day
    /// before its logical date.
    #[arg(long)]
    pub run_date: String,
    /// The run these stages belong to ([A-Za-z0-9_.-]; the DAG passes
    /// Airflow's run_id mapped onto these). Default: `run` and `validate`
    /// draw a fresh one; any other stage uses the one validate recorded for
    /// the run date.
    #[arg(long)]
    pub run_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The query, e.g. "SELECT rfm_segment, count(*) FROM scores GROUP BY 1".
    pub query: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: SqlFormat,
    /// Read this earlier run (a run id or a publish id, see the run_history
    /// table) in place of its date's current run; earlier runs stay readable
    /// for [output] keep_days after they are replaced.
    #[arg(long)]
    pub run_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SqlFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Only this cutoff C (YYYY-MM-DD): features see events up to the end of that day. Default: the whole feature stage.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Also compute the labels of the horizon (C, C + h] in days (needs C + h <= the run date).
    #[arg(long)]
    pub label_horizon: Option<u32>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of customers to simulate.
    #[arg(long, default_value_t = 10_000)]
    pub customers: u64,
    /// Random seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First day of data (YYYY-MM-DD).
    #[arg(long, default_value = "2023-11-23")]
    pub start: String,
    /// Last day of data, inclusive (YYYY-MM-DD); the truth covers the 365 days after it.
    #[arg(long, default_value = "2026-11-22")]
    pub end: String,
    /// Where to write: a URL (s3://, gs://, az://, file://) or a path.
    #[arg(long)]
    pub out: String,
    /// Customers per Parquet part file.
    #[arg(long, default_value_t = 1_000_000)]
    pub customers_per_file: u64,
    /// Share of rows followed by a bad row (duplicates, NaN amounts, empty ids), to exercise validation.
    #[arg(long, default_value_t = 0.0)]
    pub dirty_share: f64,
    /// Simulation parameters as a JSON file (keys of SimParams; missing keys keep their defaults).
    #[arg(long)]
    pub params: Option<PathBuf>,
}
