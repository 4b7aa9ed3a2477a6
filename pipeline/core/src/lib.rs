//! fidelis-core: the domain types every fidelis crate shares: the data
//! contract, the configuration, the time contract and the error taxonomy.
//! No I/O beyond reading the config file.

pub mod config;
pub mod contract;
pub mod error;
pub mod marketing;
pub mod sample;
pub mod time;

pub use config::Settings;
pub use contract::{Column, ColumnType, Table};
pub use error::{Error, ErrorKind, Result};
pub use time::RunDate;
