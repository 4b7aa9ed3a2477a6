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

/// With [`FAULT_PAUSE`]: `stdin` makes the paused process go on once a line
/// arrives on its standard input (the lost-race tests write the winner's
/// commit meanwhile) instead of sleeping forever.
pub const FAULT_RESUME: &str = "FIDELIS_FAULT_RESUME";
/// `1` allows `[output] keep_days = 0` (tests only; see
/// fidelis_core::config::ZERO_RETENTION_ENV).
pub const ZERO_RETENTION: &str = fidelis_core::config::ZERO_RETENTION_ENV;

/// Stop here when [`FAULT_PAUSE`] names this point: forever, or until a
/// line on stdin ([`FAULT_RESUME`]).
pub fn pause_point(point: &str) {
    if std::env::var(FAULT_PAUSE).is_ok_and(|p| p == point) {
        eprintln!("fidelis: paused at {point}");
        if std::env::var(FAULT_RESUME).is_ok_and(|r| r == "stdin") {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            eprintln!("fidelis: resumed at {point}");
            return;
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
