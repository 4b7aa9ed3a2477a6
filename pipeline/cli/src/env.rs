//! Every environment variable fidelis itself reads, in one place. (Cloud
//! credentials are read by `object_store`'s builders: `AWS_*`, `GOOGLE_*`,
//! `AZURE_*`.)

/// Log filter, in `tracing` syntax (`info`, `fidelis=debug`, ...).
pub const LOG: &str = "FIDELIS_LOG";
/// `auto` (human on a terminal, JSON lines otherwise), `human` or `json`.
pub const LOG_FORMAT: &str = "FIDELIS_LOG_FORMAT";
/// Any value turns colours off (https://no-color.org).
pub const NO_COLOR: &str = "NO_COLOR";
