//! fidelis-engine: everything that runs on DataFusion. Validation, the
//! SQL-model runner and the feature SQL, the scores SQL and segments, the
//! exports, and the catalog of published tables behind `fidelis sql`.
//! It never depends on the model crates (docs/architecture.md).

pub mod catalog;
pub mod exports;
pub mod features;
pub mod scores;
pub mod session;
pub mod sql;
pub mod validate;

pub use features::sample::{md5_threshold, stage_backtest_sample};
pub use features::{FeatureReport, LabelReport, Population, build_features, build_labels};
pub use session::new_session;
pub use validate::{ValidationReport, validate};
