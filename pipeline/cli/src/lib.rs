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
            match fidelis_storage::storage_root(err.as_ref()) {
                // One short line naming the operation and the URL: the
                // stages' wrappers around it say nothing an operator needs.
                Some(root) => {
                    let at = err
                        .chain()
                        .find_map(|e| match e.downcast_ref::<fidelis_core::Error>() {
                            Some(fidelis_core::Error::Storage { url, .. }) => {
                                Some(format!(" at {url}"))
                            }
                            _ => None,
                        })
                        .unwrap_or_default();
                    eprintln!("error: storage failure{at} after the configured retries: {root}");
                    eprintln!(
                        "hint: check the URL, the network and the credentials in the environment (AWS_*, GOOGLE_*, AZURE_*); nothing was published, the run can be retried"
                    );
                }
                None => {
                    eprintln!("error: {err:#}");
                    if let Some(hint) = err
                        .chain()
                        .find_map(|e| e.downcast_ref::<fidelis_core::Error>())
                        .and_then(fidelis_core::Error::hint)
                    {
                        eprintln!("hint: {hint}");
                    }
                }
            }
            tracing::error!(exit_code = kind.exit_code(), kind = ?kind, "run failed");
            ExitCode::from(u8::try_from(kind.exit_code()).unwrap_or(70))
        }
    }
}

/// The exit code's kind: a storage failure anywhere in the chain
/// ([`fidelis_storage::storage_root`], whatever stage wrapped it) is
/// `Storage`; otherwise the kind of the first fidelis error in the chain;
/// anything else is a bug.
pub fn classify(err: &anyhow::Error) -> ErrorKind {
    if fidelis_storage::storage_root(err.as_ref()).is_some() {
        return ErrorKind::Storage;
    }
    err.chain()
        .find_map(|e| e.downcast_ref::<fidelis_core::Error>())
        .map(fidelis_core::Error::kind)
        .unwrap_or(ErrorKind::Internal)
}
