//! Overlapping runs of one date (docs/publishing.md, "Overlapping runs"):
//! pairs of `fidelis publish` and of full runs started together, with
//! random delays either way, on the local disk here and on the S3 server
//! in s3.rs (one body, [`overlapping_runs_of_one_date`]). The SIGKILL of a
//! lease holder is in publish.rs (`sigkill_leaves_the_published_run_intact`).

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::publish::{Outputs, RUN_DATE, assert_files_of, assert_reader_matches, record_of};
use crate::support::*;

/// Pairs of `fidelis publish` of one staged run, on the local disk (the
/// race loop); the S3 server, where each publish takes seconds, runs
/// fewer (`S3_PUBLISH_PAIRS`).
pub const PUBLISH_PAIRS: usize = 20;
pub const S3_PUBLISH_PAIRS: usize = 5;
/// Pairs of full runs (`fidelis run`, each drawing its own run id).
const RUN_PAIRS: usize = 2;

/// A small deterministic generator (xorshift), seeded from the clock and
/// printed, so a failing sequence of delays can be replayed.
struct Delays(u64);

impl Delays {
    fn new() -> Self {
        let seed = std::env::var("FIDELIS_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("overlap: delays seeded with FIDELIS_TEST_SEED={seed}");
        Delays(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A delay of up to `max_ms` (both commands of a pair are the same, so
    /// the delay alone decides who starts first).
    fn pick(&mut self, max_ms: u64) -> Duration {
        Duration::from_millis(self.next() % (max_ms + 1))
    }
}

/// Start two copies of a command, the second `delay` after the first,
/// and wait for both (their outputs in start order).
fn pair(make: &dyn Fn() -> Command, delay: Duration) -> (Output, Output) {
    let spawn = || -> Child {
        make()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let first = spawn();
    std::thread::sleep(delay);
    let second = spawn();
    (
        first.wait_with_output().expect("wait"),
        second.wait_with_output().expect("wait"),
    )
}

/// The current run as `fidelis sql` reads it: every file its runs row
/// names is there, and every table of the date holds exactly its rows.
fn assert_one_current_run(outputs: &Outputs, what: &str) -> serde_json::Value {
    let record = record_of(outputs, what);
    assert_files_of(outputs, &record, what);
    assert_reader_matches(outputs, &record, what);
    record
}

/// An exit of an overlapping pair: 0, or 75 with the documented message.
/// Returns whether it published.
#[track_caller]
fn assert_won_or_refused(o: &Output, what: &str) -> bool {
    match o.status.code() {
        Some(0) => true,
        Some(75) => {
            let err = stderr(o);
            assert!(
                [
                    "another publish of run date",
                    "another run holds run date",
                    "lost its"
                ]
                .iter()
                .any(|m| err.contains(m))
                    && err.contains("retry later"),
                "{what}: exit 75 without saying who holds the date:\n{err}"
            );
            false
        }
        _ => {
            assert_exit(o, 0);
            unreachable!()
        }
    }
}

/// The body of the overlap tests: `cfg` writes to the output root that
/// `outputs` reads.
pub fn overlapping_runs_of_one_date(
    cfg: &std::path::Path,
    outputs: &Outputs,
    publish_pairs: usize,
) {
    // The staging stays after publishing (keep_staging, as in every
    // test config), so that one staged run is published again and again.
    assert!(
        std::fs::read_to_string(cfg)
            .expect("config")
            .contains("keep_staging = true")
    );
    let cfg = cfg.to_str().expect("utf8").to_string();
    let job = |stage: &str| {
        let mut c = fidelis();
        (outputs.env)(&mut c);
        c.args([stage, "--config", &cfg, "--run-date", RUN_DATE]);
        c
    };
    let started = Instant::now();
    let mut delays = Delays::new();

    // Pairs of full runs, each with its own run id: one runs, the other is
    // refused at its first stage; what is published is one whole run.
    for i in 0..RUN_PAIRS {
        let delay = delays.pick(3000);
        let (a, b) = pair(&|| job("run"), delay);
        let what = format!("run pair {i} ({delay:?} apart)");
        let won = [
            assert_won_or_refused(&a, &what),
            assert_won_or_refused(&b, &what),
        ];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "{what}: exactly one of two overlapping runs publishes"
        );
        let loser = if won[0] { &b } else { &a };
        assert!(
            stderr(loser).contains("another run holds run date"),
            "{what}: {}",
            stderr(loser)
        );
        assert_one_current_run(outputs, &what);
    }

    // Pairs of publishes of the staging of the last winner.
    let mut ids = std::collections::HashSet::new();
    let mut refused = 0;
    for i in 0..publish_pairs {
        let delay = delays.pick(150);
        let (a, b) = pair(&|| job("publish"), delay);
        let what = format!("publish pair {i} ({delay:?} apart)");
        let won = [
            assert_won_or_refused(&a, &what),
            assert_won_or_refused(&b, &what),
        ];
        assert!(won.iter().any(|w| *w), "{what}: neither published");
        refused += won.iter().filter(|w| !**w).count();
        let m = assert_one_current_run(outputs, &what);
        // Every publish draws a fresh publish id: no pair writes into a
        // live run_id= folder.
        assert!(
            ids.insert(m["publish_id"].as_str().expect("id").to_string()),
            "{what}: a publish id was used twice"
        );
    }
    eprintln!("overlap: {publish_pairs} publish pairs, {refused} refused with exit 75");

    // A third run afterwards publishes cleanly.
    assert_exit(&job("run").output().expect("run"), 0);
    let m = assert_one_current_run(outputs, "the third run");
    assert_eq!(
        m["staged"]["attempts"].as_object().expect("lineage").len(),
        6
    );
    // Its validate removed what the earlier runs staged.
    let run = format!("run_id={}/", m["staged"]["run_id"].as_str().expect("run"));
    for path in (outputs.list)(&format!("_staging/run_date={RUN_DATE}/")) {
        assert!(
            path.contains(&run) || path.ends_with("/_run.json"),
            "the third run left another run's {path}"
        );
    }
    eprintln!("overlap: done in {:?}", started.elapsed());
}

#[test]
fn overlapping_runs_of_one_date_on_the_local_disk() {
    crate::publish::with_local_outputs(&|cfg, outputs| {
        overlapping_runs_of_one_date(cfg, outputs, PUBLISH_PAIRS)
    });
}
