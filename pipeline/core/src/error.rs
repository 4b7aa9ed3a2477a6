//! The error taxonomy shared by every fidelis crate.
//!
//! Errors are sorted by *who must act*, and each kind maps to one process exit
//! code (the exit-code contract in `docs/contract.md`), so that a scheduler such
//! as Airflow can tell "fix the input, do not retry" from "storage hiccup, retry".

use std::fmt;

/// Who has to act on an error, and therefore which exit code the CLI returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad command line or configuration: the operator fixes the job (exit 2).
    Config,
    /// Bad input data from upstream: fix the data, do not retry (exit 3).
    Data,
    /// Object storage failed after retries: retrying later may help (exit 4).
    Storage,
    /// A model is below its quality floor: nothing is published (exit 5).
    Quality,
    /// Another run holds the run date (its lease), or this run lost its
    /// lease: retry later (exit 75, `EX_TEMPFAIL`).
    Busy,
    /// A bug in fidelis (exit 70, `EX_SOFTWARE`).
    Internal,
}

impl ErrorKind {
    /// The process exit code for this kind. Never 99: Airflow's BashOperator
    /// treats 99 as "skip".
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Config => 2,
            ErrorKind::Data => 3,
            ErrorKind::Storage => 4,
            ErrorKind::Quality => 5,
            ErrorKind::Busy => 75,
            ErrorKind::Internal => 70,
        }
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The one error type of the library crates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration or the command line is wrong.
    #[error("configuration error: {message}")]
    Config { message: String },

    /// Input data breaks the data contract. `location` names the table, file,
    /// column or row so the upstream owner can find it.
    #[error("bad input data in {location}: {message}")]
    Data { location: String, message: String },

    /// Reading or writing object storage failed (after the store's retries).
    #[error("storage error at {url}: {source}")]
    Storage {
        url: String,
        #[source]
        source: Source,
    },

    /// A model did not reach its quality floor, or could not be fitted.
    #[error("quality floor not met: {message}")]
    Quality {
        message: String,
        #[source]
        source: Option<Source>,
    },

    /// Another run of the date holds its lease, or this run lost it
    /// (docs/publishing.md, "Overlapping runs").
    #[error("run date busy: {message}")]
    Busy { message: String },

    /// Anything that should not happen: a bug.
    #[error("internal error: {message}")]
    Internal {
        message: String,
        #[source]
        source: Option<Source>,
    },
}

impl Error {
    pub fn config(message: impl fmt::Display) -> Self {
        Error::Config {
            message: message.to_string(),
        }
    }

    pub fn data(location: impl fmt::Display, message: impl fmt::Display) -> Self {
        Error::Data {
            location: location.to_string(),
            message: message.to_string(),
        }
    }

    pub fn storage(
        url: impl fmt::Display,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Storage {
            url: url.to_string(),
            source: source.into(),
        }
    }

    pub fn quality(message: impl fmt::Display) -> Self {
        Error::Quality {
            message: message.to_string(),
            source: None,
        }
    }

    pub fn quality_with(
        message: impl fmt::Display,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Quality {
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    pub fn busy(message: impl fmt::Display) -> Self {
        Error::Busy {
            message: message.to_string(),
        }
    }

    pub fn internal(message: impl fmt::Display) -> Self {
        Error::Internal {
            message: message.to_string(),
            source: None,
        }
    }

    pub fn internal_with(
        message: impl fmt::Display,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Internal {
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    /// The message with every source after it, as the CLI prints an error
    /// (`a: b: c`): for errors that end up in a report (`metrics.json`)
    /// rather than on stderr.
    pub fn with_sources(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. } => ErrorKind::Config,
            Error::Data { .. } => ErrorKind::Data,
            Error::Storage { .. } => ErrorKind::Storage,
            Error::Quality { .. } => ErrorKind::Quality,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// A one-line suggestion printed after the error, where the fix is obvious.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Config { .. } => {
                Some("check the config file against jobs/local.toml and docs/contract.md")
            }
            Error::Data { .. } => Some(
                "fix the input (or map your column names in [columns.<table>] of the config); the rejected rows are in the rejects_<table> folder the error names",
            ),
            Error::Storage { .. } => Some(
                "check the URL and the credentials in the environment (AWS_*, GOOGLE_*, AZURE_*); the run can be retried",
            ),
            Error::Busy { .. } => Some(
                "nothing was changed; retry later (the Airflow DAG retries exit 75 with backoff)",
            ),
            Error::Quality { .. } | Error::Internal { .. } => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The one conversion of another library's error (DataFusion, Arrow,
/// Parquet, object_store, serde, the model crate) into a fidelis [`Error`]:
/// the call site says who must act, and the library's error is kept as the
/// source (`{:#}` and the CLI print the whole chain), never flattened or
/// dropped. Storage and data errors keep their own constructors
/// ([`Error::storage`], [`Error::data`]): they carry the URL or the location
/// the operator needs.
pub trait ResultExt<T> {
    /// A bug if it happens (exit 70); `what` says what fidelis was doing.
    fn internal(self, what: impl fmt::Display) -> Result<T>;
    /// A model that cannot be fitted or scored on this data (exit 5).
    fn quality(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E> ResultExt<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn internal(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::internal_with(what, e))
    }

    fn quality(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::quality_with(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Error::config("x").kind().exit_code(), 2);
        assert_eq!(Error::data("t", "x").kind().exit_code(), 3);
        assert_eq!(
            Error::storage("s3://b", std::io::Error::other("x"))
                .kind()
                .exit_code(),
            4
        );
        assert_eq!(Error::quality("x").kind().exit_code(), 5);
        assert_eq!(Error::internal("x").kind().exit_code(), 70);
        assert_eq!(Error::busy("x").kind().exit_code(), 75);
    }

    #[test]
    fn converted_errors_keep_their_source_and_the_kind_the_call_site_chose() {
        use std::error::Error as _;
        let io = || -> std::result::Result<(), std::io::Error> {
            Err(std::io::Error::other("disk on fire"))
        };
        let e = io().internal("reading the plan").expect_err("error");
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert_eq!(e.to_string(), "internal error: reading the plan");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("disk on fire")
        );
        let e = io().quality("BG/NBD at 2026-08-24").expect_err("error");
        assert_eq!(e.kind(), ErrorKind::Quality);
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("disk on fire")
        );
    }

    #[test]
    fn data_errors_name_the_location() {
        let e = Error::data("purchases file a.parquet column amount", "expected float64");
        assert_eq!(
            e.to_string(),
            "bad input data in purchases file a.parquet column amount: expected float64"
        );
    }
}
