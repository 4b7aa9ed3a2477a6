//! fidelis-core: config and settings, data contract, time contract, errors
//! and exit codes, the backtest-sample record. Every stage reads it.
//! Never depends on: any other fidelis crate, DataFusion, object stores.
//!
//! No I/O beyond reading the config file.

pub mod config;
pub mod contract;
pub mod error;
pub mod marketing;
pub mod rules;
pub mod sample;
pub mod time;

pub use config::Settings;
pub use contract::{Column, ColumnType, Table};
pub use error::{Error, ErrorKind, Result, ResultExt};
pub use time::RunDate;
