//! Every path of a run, in one place: the staging area of a run date, the
//! published tables, the manifests, the reports and the stage records
//! (docs/contract.md, "Outputs and publishing"; docs/architecture.md).
//!
//! ```text
//! <out>/_staging/run_date=D/            one run date's work in progress
//!     validate.json                     the validation report
//!     validated/<input table>/          accepted rows (part-NNNNN.parquet)
//!     rejects/table=<input table>/      rejected rows with their reason
//!     backtest_sample/<input table>/    the sampled rows of large runs
//!     features/as_of=C/                 features per cutoff (_report.json beside)
//!     intermediate/as_of=C/<model>/     the intermediate SQL models of a cutoff
//!     labels/as_of=C/horizon=H/         labels per cutoff and horizon
//!     models/model.json, metrics.json   the trained models and their backtests
//!     scores/                           the run date's scores
//!     segments/segment=<slug>/          one folder per named segment
//!     exports/audience=<slug>/          send and control files (_summary.json beside)
//!     reports/report.html               the run report
//!     _stages/features.json             the feature stage's plan
//!     _durations/<stage>.json           seconds per stage, for the manifest
//! <out>/<table>/run_date=D/run_id=R/    a published copy of a staged table
//! <out>/runs/run_date=D/_manifest.json  the commit point of a published run
//! ```
//!
//! No other code formats a path of a run: stages ask this module where to
//! read and write. The output root comes from the settings once, in
//! [`Layout::from_settings`].

use fidelis_core::{Result, RunDate, Settings, Table};

use crate::Location;

/// The tables a run publishes, in the order they are copied.
pub const PUBLISHED_TABLES: &[&str] = &[
    "rejects", "features", "labels", "models", "scores", "segments", "exports", "reports",
];

/// The file name of a run date's manifest (in `runs/run_date=D/`).
pub const MANIFEST_FILE: &str = "_manifest.json";

/// The file name of the `i`-th Parquet part of a table folder.
pub fn part_file(i: usize) -> String {
    format!("part-{i:05}.parquet")
}

/// The output root of a job and every path below it.
#[derive(Debug, Clone)]
pub struct Layout {
    root: Location,
}

impl Layout {
    /// The layout below an output root.
    pub fn new(root: Location) -> Self {
        Layout { root }
    }

    /// The layout of a job's output (`[output] url` with its `[storage]`
    /// settings).
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        Ok(Layout::new(Location::parse(
            &settings.output_url,
            &settings.storage,
        )?))
    }

    /// The output root.
    pub fn root(&self) -> &Location {
        &self.root
    }

    /// The paths of one run date.
    pub fn run(&self, run_date: RunDate) -> RunLayout {
        RunLayout {
            staging: self.root.child(&format!("_staging/run_date={run_date}")),
            layout: self.clone(),
            run_date,
        }
    }

    /// Every published manifest is below this folder.
    pub fn manifests(&self) -> Location {
        self.root.child("runs")
    }

    /// The manifest of a published run date.
    pub fn manifest(&self, run_date: RunDate) -> Location {
        self.manifests()
            .child(&format!("run_date={run_date}/{MANIFEST_FILE}"))
    }

    /// Every published run of a table (`<out>/<table>/`).
    pub fn published(&self, table: &str) -> Location {
        self.root.child(table)
    }

    /// Every published run of a table for one date.
    pub fn published_date(&self, table: &str, run_date: RunDate) -> Location {
        self.root.child(&format!("{table}/run_date={run_date}"))
    }

    /// The folder name of a run id inside [`Layout::published_date`].
    pub fn run_id_folder(run_id: &str) -> String {
        format!("run_id={run_id}")
    }

    /// One published run of a table.
    pub fn published_run(&self, table: &str, run_date: RunDate, run_id: &str) -> Location {
        self.published_date(table, run_date)
            .child(&Self::run_id_folder(run_id))
    }

    /// A published file named by its path relative to the root (as the
    /// manifest lists it).
    pub fn file(&self, relative: &str) -> Location {
        self.root.child(relative)
    }
}

/// The staging area of one run date.
#[derive(Debug, Clone)]
pub struct RunLayout {
    layout: Layout,
    run_date: RunDate,
    staging: Location,
}

impl RunLayout {
    /// The output root the run date belongs to.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn run_date(&self) -> RunDate {
        self.run_date
    }

    /// Everything the run date stages is below this folder.
    pub fn staging(&self) -> &Location {
        &self.staging
    }

    /// The staged copy of a published table (see [`PUBLISHED_TABLES`]).
    pub fn table(&self, table: &str) -> Location {
        self.staging.child(table)
    }

    /// The validation report.
    pub fn validation_report(&self) -> Location {
        self.staging.child("validate.json")
    }

    /// The accepted rows of an input table.
    pub fn validated(&self, table: Table) -> Location {
        self.staging.child(&format!("validated/{}", table.name()))
    }

    /// The rejected rows of an input table.
    pub fn rejects(&self, table: &str) -> Location {
        self.table("rejects").child(&format!("table={table}"))
    }

    /// Every backtest sample of the run date.
    pub fn backtest_samples(&self) -> Location {
        self.staging.child("backtest_sample")
    }

    /// The backtest sample of an input table.
    pub fn backtest_sample(&self, table: Table) -> Location {
        self.backtest_samples().child(table.name())
    }

    /// The features of a cutoff.
    pub fn features(&self, as_of: RunDate) -> Location {
        self.table("features").child(&format!("as_of={as_of}"))
    }

    /// The feature stage's report of a cutoff (beside its features, hidden
    /// from readers of the table).
    pub fn features_report(&self, as_of: RunDate) -> Location {
        self.features(as_of).child("_report.json")
    }

    /// The intermediate SQL models of a cutoff (one folder per model).
    pub fn intermediate(&self, as_of: RunDate) -> Location {
        self.staging.child(&format!("intermediate/as_of={as_of}"))
    }

    /// One intermediate SQL model of a cutoff.
    pub fn intermediate_model(&self, as_of: RunDate, model: &str) -> Location {
        self.intermediate(as_of).child(model)
    }

    /// The labels of a cutoff and horizon.
    pub fn labels(&self, as_of: RunDate, horizon_days: u32) -> Location {
        self.table("labels")
            .child(&format!("as_of={as_of}/horizon={horizon_days}"))
    }

    /// The feature stage's plan (what train reads).
    pub fn feature_plan(&self) -> Location {
        self.staging.child("_stages/features.json")
    }

    /// The trained models.
    pub fn model(&self) -> Location {
        self.table("models").child("model.json")
    }

    /// Every candidate's backtest metrics and the champions.
    pub fn metrics(&self) -> Location {
        self.table("models").child("metrics.json")
    }

    /// The scores folder.
    pub fn scores(&self) -> Location {
        self.table("scores")
    }

    /// The segments folder (`segment=<slug>/` below).
    pub fn segments(&self) -> Location {
        self.table("segments")
    }

    /// The file of one segment.
    pub fn segment_file(&self, slug: &str) -> Location {
        self.segments()
            .child(&format!("segment={slug}"))
            .child(&part_file(0))
    }

    /// The exports folder (`audience=<slug>/` below).
    pub fn exports(&self) -> Location {
        self.table("exports")
    }

    /// The export summary (per audience: kept, excluded, control, capped).
    pub fn export_summary(&self) -> Location {
        self.exports().child("_summary.json")
    }

    /// One file of an audience: `group` is `send` or `control`, `ext` the
    /// format (`csv`, `parquet`).
    pub fn audience_file(&self, slug: &str, group: &str, ext: &str) -> Location {
        self.exports()
            .child(&format!("audience={slug}/{group}.{ext}"))
    }

    /// The run report.
    pub fn report(&self) -> Location {
        self.table("reports").child("report.html")
    }

    /// Every stage's duration record.
    pub fn durations(&self) -> Location {
        self.staging.child("_durations")
    }

    /// How long a stage took.
    pub fn duration(&self, stage: &str) -> Location {
        self.durations().child(&format!("{stage}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fidelis_core::config::StorageConfig;

    fn layout() -> Layout {
        Layout::new(
            Location::parse("/tmp/fidelis-layout/out", &StorageConfig::default()).expect("root"),
        )
    }

    fn d(s: &str) -> RunDate {
        RunDate::parse(s).expect("date")
    }

    /// The layout is part of the contract (docs/contract.md): readers,
    /// notebooks and Airflow checks find the files by these paths.
    #[test]
    fn paths_of_a_run_are_the_contract() {
        let l = layout();
        let r = l.run(d("2026-11-22"));
        let base = "file:///tmp/fidelis-layout/out";
        let stg = format!("{base}/_staging/run_date=2026-11-22");
        let cases = [
            (r.staging().clone(), stg.clone()),
            (r.validation_report(), format!("{stg}/validate.json")),
            (
                r.validated(Table::Purchases),
                format!("{stg}/validated/purchases"),
            ),
            (
                r.rejects("customers"),
                format!("{stg}/rejects/table=customers"),
            ),
            (
                r.backtest_sample(Table::Interactions),
                format!("{stg}/backtest_sample/interactions"),
            ),
            (
                r.features(d("2026-08-24")),
                format!("{stg}/features/as_of=2026-08-24"),
            ),
            (
                r.features_report(d("2026-08-24")),
                format!("{stg}/features/as_of=2026-08-24/_report.json"),
            ),
            (
                r.intermediate(d("2026-08-24")),
                format!("{stg}/intermediate/as_of=2026-08-24"),
            ),
            (
                r.intermediate_model(d("2026-08-24"), "int_orders"),
                format!("{stg}/intermediate/as_of=2026-08-24/int_orders"),
            ),
            (
                r.labels(d("2026-08-24"), 90),
                format!("{stg}/labels/as_of=2026-08-24/horizon=90"),
            ),
            (r.feature_plan(), format!("{stg}/_stages/features.json")),
            (r.model(), format!("{stg}/models/model.json")),
            (r.metrics(), format!("{stg}/models/metrics.json")),
            (r.scores(), format!("{stg}/scores")),
            (
                r.segment_file("at-risk"),
                format!("{stg}/segments/segment=at-risk/part-00000.parquet"),
            ),
            (r.export_summary(), format!("{stg}/exports/_summary.json")),
            (
                r.audience_file("win-back", "send", "csv"),
                format!("{stg}/exports/audience=win-back/send.csv"),
            ),
            (r.report(), format!("{stg}/reports/report.html")),
            (r.duration("train"), format!("{stg}/_durations/train.json")),
            (
                l.manifest(d("2026-11-22")),
                format!("{base}/runs/run_date=2026-11-22/_manifest.json"),
            ),
            (
                l.published_run("scores", d("2026-11-22"), "17-ab"),
                format!("{base}/scores/run_date=2026-11-22/run_id=17-ab"),
            ),
        ];
        for (loc, want) in cases {
            assert_eq!(loc.url(), want);
        }
        assert_eq!(part_file(3), "part-00003.parquet");
    }

    /// Every staged folder of a published table is below `table()`, so
    /// publishing a table copies exactly what its stage wrote.
    #[test]
    fn published_tables_are_staged_under_their_name() {
        let r = layout().run(d("2026-11-22"));
        for (loc, table) in [
            (r.rejects("purchases"), "rejects"),
            (r.features(d("2026-11-22")), "features"),
            (r.labels(d("2026-11-22"), 365), "labels"),
            (r.model(), "models"),
            (r.scores(), "scores"),
            (r.segment_file("champions"), "segments"),
            (r.export_summary(), "exports"),
            (r.report(), "reports"),
        ] {
            assert!(PUBLISHED_TABLES.contains(&table));
            assert!(
                loc.url().starts_with(&(r.table(table).url() + "/"))
                    || loc.url() == r.table(table).url(),
                "{}",
                loc.url()
            );
        }
    }
}
