//! Progress of long stages: a bar on a terminal (human logs), a structured
//! log line per step otherwise (JSON logs for Airflow and log shippers).

use indicatif::{ProgressBar, ProgressStyle};

/// A stage made of a known number of steps.
#[derive(Debug)]
pub struct Steps {
    stage: &'static str,
    total: u64,
    done: std::cell::Cell<u64>,
    bar: Option<ProgressBar>,
}

impl Steps {
    pub fn new(stage: &'static str, total: u64) -> Self {
        let bar = crate::logging::bars_enabled().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:30}] {pos}/{len} {wide_msg} ({elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(stage);
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Self {
            stage,
            total,
            done: std::cell::Cell::new(0),
            bar,
        }
    }

    /// Starts the next step, named `what`.
    pub fn step(&self, what: &str) {
        let done = self.done.get();
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(what.to_string());
            }
            None => tracing::info!(
                stage = self.stage,
                step = done + 1,
                steps = self.total,
                what,
                "progress"
            ),
        }
        self.done.set(done + 1);
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
