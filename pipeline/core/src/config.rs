//! The job configuration (TOML), read once and resolved into [`Settings`].
//!
//! Layering, as uv and ruff do it: the TOML file gives the job, the command line
//! gives the run (run date, overrides), and commands only ever see the resolved
//! settings. Unknown keys are errors, so a typo never silently falls back to a
//! default.
//!
//! Relative local paths in the file are resolved against the directory of the
//! config file (as Cargo and dbt do), so a job runs the same from any working
//! directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::contract::Table;
use crate::error::{Error, Result};
pub use crate::marketing::{ActionRule, Audience, ExportsConfig, RfmRule, SegmentsConfig};

/// The file as written by the user.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub inputs: InputsConfig,
    pub output: OutputConfig,
    /// Per table: contract column name = the user's column name.
    #[serde(default)]
    pub columns: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub validation: ValidationConfig,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub models: ModelsConfig,
    #[serde(default)]
    pub segments: SegmentsConfig,
    #[serde(default)]
    pub exports: ExportsConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct InputsConfig {
    /// URL or path of a Parquet file or of a folder of Parquet files.
    pub purchases: String,
    pub interactions: Option<String>,
    pub customers: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Root URL or path under which every output is published.
    pub url: String,
    /// How long a run's lease on its run date lasts without a heartbeat
    /// (docs/publishing.md, "Overlapping runs"): longer than the DAG's
    /// longest retry delay plus a quarter of itself. Fractions are allowed
    /// (tests use a few seconds).
    #[serde(default = "default_lease_minutes")]
    pub lease_minutes: f64,
    /// The size at which a table's data file is closed and the next one
    /// started, in MiB (docs/publishing.md).
    #[serde(default = "default_max_file_mb")]
    pub max_file_mb: u64,
    /// How many days the files of replaced runs, killed runs and earlier
    /// table versions are kept before a vacuum may remove them
    /// (docs/publishing.md, "Retention and earlier runs"). At least 1
    /// (0 only in tests, with [`ZERO_RETENTION_ENV`] set).
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
    /// Vacuum the output root after every publish (`fidelis vacuum` does
    /// it on demand).
    #[serde(default = "default_true")]
    pub vacuum: bool,
    /// Keep the staging folder of a published run (validated inputs,
    /// intermediates, the backtest sample) for debugging.
    #[serde(default)]
    pub keep_staging: bool,
}

fn default_lease_minutes() -> f64 {
    120.0
}

fn default_max_file_mb() -> u64 {
    1024
}

fn default_keep_days() -> u32 {
    7
}

fn default_true() -> bool {
    true
}

/// With this environment variable set to `1`, `[output] keep_days = 0` is
/// accepted: a vacuum then removes every file no current run needs at
/// once, even the uncommitted files of a run in progress. For tests only.
pub const ZERO_RETENTION_ENV: &str = "FIDELIS_TEST_ZERO_RETENTION";

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            url: String::new(),
            lease_minutes: default_lease_minutes(),
            max_file_mb: default_max_file_mb(),
            keep_days: default_keep_days(),
            vacuum: true,
            keep_staging: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationConfig {
    /// A table whose rejected share of rows passes this stops the run (exit 3).
    #[serde(default = "default_max_reject_share")]
    pub max_reject_share: f64,
}

fn default_max_reject_share() -> f64 {
    0.01
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            max_reject_share: default_max_reject_share(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// DataFusion's target partitions (threads of parallel work). Default: the
    /// number of cores.
    pub target_partitions: Option<usize>,
    /// DataFusion's memory pool in MiB; operators spill to disk beyond it.
    #[serde(default = "default_memory_limit_mb")]
    pub memory_limit_mb: usize,
    /// Where DataFusion spills. Default: the system temp directory.
    pub spill_dir: Option<String>,
    /// Rows per record batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_memory_limit_mb() -> usize {
    4096
}

fn default_batch_size() -> usize {
    8192
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            target_partitions: None,
            memory_limit_mb: default_memory_limit_mb(),
            spill_dir: None,
            batch_size: default_batch_size(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Retries of a failed object-store request (with exponential backoff).
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,
    /// Give up retrying a request after this many seconds.
    #[serde(default = "default_retry_timeout_secs")]
    pub retry_timeout_secs: u64,
    /// One request (connect to the end of the body) fails after this many
    /// seconds, and is retried. Default 30 (object_store's default).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Connecting to the store fails after this many seconds, and is
    /// retried. Default 5 (object_store's default).
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
}

fn default_max_retries() -> usize {
    10
}

fn default_retry_timeout_secs() -> u64 {
    180
}

fn default_request_timeout_secs() -> u64 {
    30
}

fn default_connect_timeout_secs() -> u64 {
    5
}

/// The models: horizons, quality floors, CLV economics and the seed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Churn = no order day in (D, D + this many days]. Default 90.
    pub churn_horizon_days: u32,
    /// Revenue horizons in days, each with its own model. Default [90, 365].
    pub revenue_horizons_days: Vec<u32>,
    /// The churn champion's validation ROC AUC must reach this, or the run
    /// stops with exit code 5 and publishes nothing. Default 0.6.
    pub min_churn_auc: f64,
    /// Each revenue champion's validation normalized Gini must reach this
    /// (exit code 5 otherwise). Default 0.2.
    pub min_revenue_gini: f64,
    /// Gross margin on revenue, for CLV. Default 0.3.
    pub margin: f64,
    /// Annual discount rate for CLV. Default 0.10.
    pub annual_discount_rate: f64,
    /// Training windows pooled for the feature models: cutoffs `D - 2h`,
    /// `D - 3h`, ... as far as the history allows, at most this many.
    /// Default 4.
    pub training_windows: u32,
    /// Above this many customers (rows of the features as of the run
    /// date), the backtest cutoffs see a fixed sample of about this many
    /// customers (chosen by a hash of `customer_id`, docs/models.md); the
    /// run date itself always has every customer. `0` turns sampling off.
    /// Default 250000.
    pub backtest_customers: u64,
    /// Seed of every random choice in training. Default 42.
    pub seed: u64,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            churn_horizon_days: 90,
            revenue_horizons_days: vec![90, 365],
            min_churn_auc: 0.6,
            min_revenue_gini: 0.2,
            margin: 0.3,
            annual_discount_rate: 0.10,
            training_windows: 4,
            backtest_customers: 250_000,
            seed: 42,
        }
    }
}

impl ModelsConfig {
    fn check(&self, origin: &str) -> Result<()> {
        let bad = |what: String| Err(Error::config(format!("{origin}: models.{what}")));
        if self.training_windows == 0 {
            return bad("training_windows must be at least 1".into());
        }
        if self.churn_horizon_days == 0 {
            return bad("churn_horizon_days must be positive".into());
        }
        if self.revenue_horizons_days.is_empty() || self.revenue_horizons_days.contains(&0) {
            return bad("revenue_horizons_days must be a non-empty list of positive days".into());
        }
        for (name, v) in [
            ("min_churn_auc", self.min_churn_auc),
            ("min_revenue_gini", self.min_revenue_gini),
            ("margin", self.margin),
            ("annual_discount_rate", self.annual_discount_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        Ok(())
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            max_retries: default_max_retries(),
            retry_timeout_secs: default_retry_timeout_secs(),
            request_timeout_secs: default_request_timeout_secs(),
            connect_timeout_secs: default_connect_timeout_secs(),
        }
    }
}

/// A table's input: where it is and how its columns are named.
#[derive(Debug, Clone, Serialize)]
pub struct TableInput {
    pub table: Table,
    pub url: String,
    /// Contract column name -> the name in the user's files.
    pub rename: BTreeMap<String, String>,
}

impl TableInput {
    /// The name the user's files use for a contract column.
    pub fn source_name<'a>(&'a self, contract_name: &'a str) -> &'a str {
        self.rename
            .get(contract_name)
            .map(String::as_str)
            .unwrap_or(contract_name)
    }
}

/// The resolved settings every command receives.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Where the config was read from (for messages).
    pub config_path: String,
    /// SHA-256 of the config file's bytes, filled in by the caller that read it.
    pub config_hash: String,
    pub inputs: Vec<TableInput>,
    pub output_url: String,
    /// `[output] lease_minutes`.
    pub lease_minutes: f64,
    /// `[output] max_file_mb`, `keep_days`, `vacuum` and `keep_staging`.
    pub max_file_mb: u64,
    pub keep_days: u32,
    pub vacuum: bool,
    pub keep_staging: bool,
    pub validation: ValidationConfig,
    pub engine: EngineConfig,
    pub storage: StorageConfig,
    pub models: ModelsConfig,
    pub segments: SegmentsConfig,
    pub exports: ExportsConfig,
}

impl Settings {
    pub fn input(&self, table: Table) -> Option<&TableInput> {
        self.inputs.iter().find(|i| i.table == table)
    }

    /// The columns of the scores table this config's runs stage.
    pub fn score_columns(&self) -> Vec<String> {
        crate::contract::score_columns(&self.models.revenue_horizons_days)
    }

    /// Whether the clear email is staged at all: only when an audience
    /// exports it (`include_email = true`); otherwise only its hash is.
    pub fn keeps_clear_email(&self) -> bool {
        self.exports.audiences.iter().any(|a| a.include_email)
    }
}

/// True when `s` names a URL with a scheme (`s3://`, `file:///`, ...), false for
/// a plain path.
pub fn is_url(s: &str) -> bool {
    match s.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
        }
        None => false,
    }
}

/// Resolve a location from the config: URLs are kept, relative paths are
/// joined to `base` (the config file's directory).
pub fn resolve_location(s: &str, base: &Path) -> String {
    if is_url(s) || Path::new(s).is_absolute() {
        s.to_string()
    } else {
        base.join(s).to_string_lossy().into_owned()
    }
}

impl ConfigFile {
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::config(format!("{origin}: {e}")))
    }

    /// Check the values and resolve them into settings. `base` is the directory
    /// relative paths are resolved against.
    pub fn resolve(self, origin: &str, base: &Path) -> Result<Settings> {
        let v = &self.validation;
        if !(0.0..=1.0).contains(&v.max_reject_share) || v.max_reject_share.is_nan() {
            return Err(Error::config(format!(
                "{origin}: validation.max_reject_share must be between 0 and 1, got {}",
                v.max_reject_share
            )));
        }
        if self.engine.memory_limit_mb == 0 {
            return Err(Error::config(format!(
                "{origin}: engine.memory_limit_mb must be positive"
            )));
        }
        if self.engine.batch_size == 0 {
            return Err(Error::config(format!(
                "{origin}: engine.batch_size must be positive"
            )));
        }
        if self.engine.target_partitions == Some(0) {
            return Err(Error::config(format!(
                "{origin}: engine.target_partitions must be positive"
            )));
        }
        self.models.check(origin)?;
        self.segments.check(origin)?;
        self.exports.check(origin)?;
        let columns = crate::contract::score_columns(&self.models.revenue_horizons_days);
        self.segments.check_rules(origin, &columns)?;
        self.exports.check_rules(origin, &columns)?;
        if self.output.url.trim().is_empty() {
            return Err(Error::config(format!("{origin}: output.url is empty")));
        }
        if !(self.output.lease_minutes > 0.0 && self.output.lease_minutes <= 10_080.0) {
            return Err(Error::config(format!(
                "{origin}: output.lease_minutes must be more than 0 and at most 10080 (a week), got {}",
                self.output.lease_minutes
            )));
        }
        if self.output.max_file_mb == 0 {
            return Err(Error::config(format!(
                "{origin}: output.max_file_mb must be at least 1"
            )));
        }
        if self.output.keep_days == 0 && std::env::var(ZERO_RETENTION_ENV).as_deref() != Ok("1") {
            return Err(Error::config(format!(
                "{origin}: output.keep_days must be at least 1: a vacuum keeps replaced files that long, so that a reader mid-read and a campaign tool importing yesterday's files never lose them"
            )));
        }
        for (table, map) in &self.columns {
            let Some(t) = Table::ALL.into_iter().find(|t| t.name() == table) else {
                return Err(Error::config(format!(
                    "{origin}: [columns.{table}]: unknown table (expected purchases, interactions or customers)"
                )));
            };
            for contract_name in map.keys() {
                if t.column(contract_name).is_none() {
                    let known: Vec<_> = t.columns().iter().map(|c| c.name).collect();
                    return Err(Error::config(format!(
                        "{origin}: [columns.{table}]: `{contract_name}` is not a column of the {table} contract (columns: {})",
                        known.join(", ")
                    )));
                }
            }
        }
        let mut inputs = Vec::new();
        let urls = [
            (Table::Purchases, Some(self.inputs.purchases.clone())),
            (Table::Interactions, self.inputs.interactions.clone()),
            (Table::Customers, self.inputs.customers.clone()),
        ];
        for (table, url) in urls {
            let Some(url) = url else { continue };
            if url.trim().is_empty() {
                return Err(Error::config(format!("{origin}: inputs.{table} is empty")));
            }
            inputs.push(TableInput {
                table,
                url: resolve_location(&url, base),
                rename: self.columns.get(table.name()).cloned().unwrap_or_default(),
            });
        }
        let mut engine = self.engine;
        engine.spill_dir = engine.spill_dir.map(|d| resolve_location(&d, base));
        Ok(Settings {
            config_path: origin.to_string(),
            config_hash: String::new(),
            inputs,
            output_url: resolve_location(&self.output.url, base),
            lease_minutes: self.output.lease_minutes,
            max_file_mb: self.output.max_file_mb,
            keep_days: self.output.keep_days,
            vacuum: self.output.vacuum,
            keep_staging: self.output.keep_staging,
            validation: self.validation,
            engine,
            storage: self.storage,
            models: self.models,
            segments: self.segments,
            exports: self.exports,
        })
    }
}

/// Read and resolve a config file from the local disk.
pub fn load(path: &Path) -> Result<(Settings, Vec<u8>)> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::config(format!("cannot read config {}: {e}", path.display())))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::config(format!("{} is not UTF-8: {e}", path.display())))?;
    let origin = path.display().to_string();
    let base: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let settings = ConfigFile::parse(text, &origin)?.resolve(&origin, &base)?;
    Ok((settings, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [inputs]
        purchases = "data/purchases"
        [output]
        url = "s3://bucket/fidelis"
    "#;

    #[test]
    fn minimal_config_gets_defaults_and_resolves_relative_paths() {
        let s = ConfigFile::parse(MINIMAL, "t.toml")
            .and_then(|c| c.resolve("t.toml", Path::new("/jobs")))
            .expect("valid");
        assert_eq!(s.inputs.len(), 1);
        assert_eq!(s.inputs[0].url, "/jobs/data/purchases");
        assert_eq!(s.output_url, "s3://bucket/fidelis");
        assert_eq!(s.validation.max_reject_share, 0.01);
        assert_eq!(s.engine.memory_limit_mb, 4096);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = format!("{MINIMAL}\n[validation]\nmax_reject_shar = 0.5\n");
        let err = ConfigFile::parse(&text, "t.toml").expect_err("typo must fail");
        assert!(err.to_string().contains("max_reject_shar"), "{err}");
    }

    #[test]
    fn column_mapping_must_name_contract_columns() {
        let text = format!("{MINIMAL}\n[columns.purchases]\nprice = \"amt\"\n");
        let err = ConfigFile::parse(&text, "t.toml")
            .and_then(|c| c.resolve("t.toml", Path::new(".")))
            .expect_err("unknown contract column");
        assert!(err.to_string().contains("`price`"), "{err}");
        let text = format!("{MINIMAL}\n[columns.purchases]\namount = \"price\"\n");
        let s = ConfigFile::parse(&text, "t.toml")
            .and_then(|c| c.resolve("t.toml", Path::new(".")))
            .expect("valid mapping");
        let p = s.input(Table::Purchases).expect("purchases");
        assert_eq!(p.source_name("amount"), "price");
        assert_eq!(p.source_name("order_id"), "order_id");
    }

    #[test]
    fn reject_share_is_checked() {
        let text = format!("{MINIMAL}\n[validation]\nmax_reject_share = 1.5\n");
        let err = ConfigFile::parse(&text, "t.toml")
            .and_then(|c| c.resolve("t.toml", Path::new(".")))
            .expect_err("out of range");
        assert!(err.to_string().contains("max_reject_share"));
    }

    #[test]
    fn urls_and_paths_are_told_apart() {
        assert!(is_url("s3://b/k"));
        assert!(is_url("file:///tmp/x"));
        assert!(is_url("az://c/p"));
        assert!(!is_url("/tmp/x"));
        assert!(!is_url("data/x"));
    }
}
