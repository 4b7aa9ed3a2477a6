//! fidelis-features: everything that runs on DataFusion: the session, the
//! validation of the inputs and (next) the feature SQL.

pub mod catalog;
pub mod dedup;
pub mod exports;
pub mod features;
pub mod scoring;
pub mod session;
pub mod validate;

pub use features::{
    BacktestSample, FeatureReport, LabelReport, Population, build_features, build_labels,
    stage_backtest_sample,
};
pub use session::new_session;
pub use validate::{ValidationReport, validate};
