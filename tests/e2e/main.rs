//! End-to-end tests: they drive the real `fidelis` binary, as a user or
//! Airflow would, against the local disk and a real S3-compatible server
//! (started by tests/run.sh; its endpoint arrives in FIDELIS_TEST_S3_ENDPOINT).
//!
//! Grouped into one test binary (as DataFusion and uv do) to link once.

mod backfill;
mod digest;
mod features;
mod generate;
mod overlap;
mod packaging;
mod publish;
mod s3;
mod support;
mod train;
mod validate;
