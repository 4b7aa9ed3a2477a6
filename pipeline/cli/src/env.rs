//! Every environment variable fidelis itself reads, in one place. (Cloud
//! credentials are read by `object_store`'s builders: `AWS_*`, `GOOGLE_*`,
//! `AZURE_*`.)

/// Log filter, in `tracing` syntax (`info`, `fidelis=debug`, ...).
pub const LOG: &str = "FIDELIS_LOG";
/// `auto` (human on a terminal, JSON lines otherwise), `human` or `json`.
pub const LOG_FORMAT: &str = "FIDELIS_LOG_FORMAT";
/// Any value turns colours off (https://no-color.org).
pub const NO_COLOR: &str = "NO_COLOR";
/// Fault injection for the crash tests: the process stops (sleeps forever)
/// at the named point (`publish.table`: after the first table commit,
/// `publish.before_runs`: before the runs row, `publish.commit.<table>`:
/// before that table's commit) after printing `fidelis: paused at <point>`
/// on stderr, so that a test can SIGKILL it exactly there.
pub const FAULT_PAUSE: &str = "FIDELIS_FAULT_PAUSE";

/// Stop here forever when [`FAULT_PAUSE`] names this point.
pub fn pause_point(point: &str) {
    if std::env::var(FAULT_PAUSE).is_ok_and(|p| p == point) {
        eprintln!("fidelis: paused at {point}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
