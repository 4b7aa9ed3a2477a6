//! fidelis (the CLI): arguments, logging, progress, one file per subcommand
//! under `commands/`, exit codes. Runs every stage through its crate.
//! Nothing depends on it (docs/architecture.md).

pub mod args;
pub mod commands;
pub mod env;
pub mod logging;
pub mod progress;

use std::process::ExitCode;

use clap::Parser;
use fidelis_core::ErrorKind;

/// Parse the command line, run the command, and turn its outcome into the
/// exit code of the contract (docs/contract.md).
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    logging::init(cli.log_format, &cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    match runtime.block_on(commands::dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let kind = classify(&err);
            eprintln!("error: {err:#}");
            if let Some(hint) = err
                .chain()
                .find_map(|e| e.downcast_ref::<fidelis_core::Error>())
                .and_then(fidelis_core::Error::hint)
            {
                eprintln!("hint: {hint}");
            }
            tracing::error!(exit_code = kind.exit_code(), kind = ?kind, "run failed");
            ExitCode::from(u8::try_from(kind.exit_code()).unwrap_or(70))
        }
    }
}

/// The kind of the first fidelis error in the chain; anything else is a bug.
pub fn classify(err: &anyhow::Error) -> ErrorKind {
    err.chain()
        .find_map(|e| e.downcast_ref::<fidelis_core::Error>())
        .map(fidelis_core::Error::kind)
        .unwrap_or(ErrorKind::Internal)
}
