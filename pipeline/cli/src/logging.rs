//! Logs go to stderr through `tracing`: human lines on a terminal, JSON lines
//! otherwise (Airflow, Kubernetes and log shippers read those). stdout is kept
//! for data.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human lines on a terminal, JSON lines otherwise.
    Auto,
    Human,
    Json,
}

/// True when progress bars and colours make sense.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

static BARS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Progress bars only with human logs on a terminal.
pub fn bars_enabled() -> bool {
    *BARS.get_or_init(stderr_is_terminal)
}

/// Crates whose info logs are not fidelis' progress.
const NOISY: &[&str] = &[
    "deltalake_core",
    "buoyant_kernel",
    "buoyant_kernel_engine",
    "delta_kernel",
];

/// Crates whose debug and trace logs print data: DataFusion logs the
/// Parquet statistics of a scan, with the min and max value of every column
/// (an email among them). Capped at info unless the filter names them.
const SHOW_DATA: &[&str] = &[
    "datafusion",
    "parquet",
    "arrow",
    "object_store",
    "sqlparser",
];

pub fn init(format: LogFormat, filter: &str) {
    let json = match format {
        LogFormat::Auto => !stderr_is_terminal(),
        LogFormat::Human => false,
        LogFormat::Json => true,
    };
    let _ = BARS.set(!json && stderr_is_terminal());
    let mut directives = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // delta-rs and its kernel log every snapshot load at info (with the
    // whole log segment): warnings only, unless the filter names them.
    for quiet in NOISY {
        if !filter.contains(quiet)
            && let Ok(d) = format!("{quiet}=warn").parse()
        {
            directives = directives.add_directive(d);
        }
    }
    for data in SHOW_DATA {
        if !filter.contains(data)
            && let Ok(d) = format!("{data}=info").parse()
        {
            directives = directives.add_directive(d);
        }
    }
    let filter = directives;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_target(false)
            .try_init()
    } else {
        let color = std::env::var_os(crate::env::NO_COLOR).is_none() && stderr_is_terminal();
        builder
            .with_ansi(color)
            .with_target(false)
            .compact()
            .try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
