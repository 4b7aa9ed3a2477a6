//! fidelis-engine: everything that runs on DataFusion: the session, the
//! validate, features, scores and exports stages, the SQL-model runner, the catalog.
//! Never depends on: the model crates (docs/architecture.md).
//!
//! One module folder per stage (`validate/`, `features/`, `scores/`,
//! `exports/`); [`sql`] runs the SQL models of `pipeline/engine/sql/`;
//! [`catalog`] serves the published tables to `fidelis sql`.

pub mod catalog;
pub mod exports;
pub mod features;
#[cfg(test)]
mod golden;
pub mod scores;
pub mod session;
pub mod sql;
pub mod validate;

pub use features::sample::{md5_threshold, stage_backtest_sample};
pub use features::{FeatureReport, LabelReport, Population, build_features, build_labels};
pub use session::new_session;
pub use validate::{ValidationReport, validate};
