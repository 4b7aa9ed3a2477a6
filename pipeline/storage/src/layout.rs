//! Every path of a run, in one place: the staging area of a run date, the
//! published tables, the manifests, the reports and the stage records
//! (docs/contract.md, "Outputs and publishing"; docs/architecture.md).
//!
//! ```text
//! <out>/_staging/run_date=D/                 one run date's work in progress
//!     _run.json                              the run id validate last started
//!     run_id=R/                              one run (Airflow's run id, or drawn)
//!         attempt=T/                         one stage attempt's outputs:
//!             validate.json                  the validation report (validate)
//!             validated/<input table>/       accepted rows (validate)
//!             rejects/table=<input table>/   rejected rows with their reason (validate)
//!             backtest_sample/<input table>/ the sampled rows of large runs (features)
//!             features/as_of=C/              features per cutoff, _report.json beside (features)
//!             intermediate/as_of=C/<model>/  the intermediate SQL models of a cutoff (features)
//!             labels/as_of=C/horizon=H/      labels per cutoff and horizon (features)
//!             _stages/features.json          the feature stage's plan (features)
//!             models/model.json, metrics.json  the trained models and their backtests (train)
//!             scores/                        the run date's scores (score)
//!             segments/segment=<slug>/       one folder per named segment (score)
//!             exports/audience=<slug>/       send and control files, _summary.json beside (export)
//!             reports/report.html            the run report (report)
//!             _duration.json                 the attempt's seconds, for the manifest
//!         _finished/<stage>/attempt=T.json   create-only marker of a finished attempt: its lineage
//! <out>/_leases/run_date=D/                  the date's leases (crate::lease)
//! <out>/<table>/run_date=D/run_id=P/         a published copy of a staged table (P: a publish id)
//! <out>/runs/run_date=D/_manifest.json       the commit point of a published run
//! ```
//!
//! A [`RunLayout`] knows which attempt of each stage it reads (its lineage,
//! [`crate::attempt`]) and which one it writes: every path below asks the
//! attempt of the stage that produces it.
//!
//! No other code formats a path of a run: stages ask this module where to
//! read and write. The output root comes from the settings once, in
//! [`Layout::from_settings`].

use std::collections::BTreeMap;

use fidelis_core::{Result, RunDate, Settings, Table};

use crate::Location;
use crate::attempt::Lineage;

/// The stages that stage outputs, each in attempt folders of its own
/// (publish stages nothing: it copies what report's lineage names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Validate,
    Features,
    /// `fidelis features --as-of C`: one cutoff, outside the nightly chain.
    FeaturesAsOf,
    Train,
    Score,
    Export,
    Report,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Validate,
        Step::Features,
        Step::FeaturesAsOf,
        Step::Train,
        Step::Score,
        Step::Export,
        Step::Report,
    ];

    /// The name in paths, markers and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::Features => "features",
            Step::FeaturesAsOf => "features-as-of",
            Step::Train => "train",
            Step::Score => "score",
            Step::Export => "export",
            Step::Report => "report",
        }
    }

    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The stage whose finished attempt this one reads (and, through its
    /// lineage, every stage before it).
    pub fn upstream(self) -> Option<Step> {
        match self {
            Step::Validate => None,
            Step::Features | Step::FeaturesAsOf => Some(Step::Validate),
            Step::Train => Some(Step::Features),
            Step::Score => Some(Step::Train),
            Step::Export => Some(Step::Score),
            Step::Report => Some(Step::Export),
        }
    }

    /// Whose paths an attempt of this step writes (`features --as-of`
    /// writes features and labels, as the feature stage does).
    fn outputs(self) -> Step {
        match self {
            Step::FeaturesAsOf => Step::Features,
            s => s,
        }
    }
}

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

    /// The paths of one run of a run date, before it knows any attempt
    /// (see [`RunLayout::with_lineage`], [`RunLayout::with_attempt`]).
    pub fn run(&self, run_date: RunDate, run_id: &str) -> RunLayout {
        RunLayout {
            run_staging: self
                .date_staging(run_date)
                .child(&Self::run_id_folder(run_id)),
            layout: self.clone(),
            run_date,
            dirs: BTreeMap::new(),
            lineage: Lineage {
                run_id: run_id.to_string(),
                attempts: BTreeMap::new(),
            },
        }
    }

    /// Everything a run date stages, every run of it, is below this folder.
    pub fn date_staging(&self, run_date: RunDate) -> Location {
        self.root.child(&format!("_staging/run_date={run_date}"))
    }

    /// The run id validate last started for a date (what single stages
    /// use without `--run-id`).
    pub fn current_run(&self, run_date: RunDate) -> Location {
        self.date_staging(run_date).child("_run.json")
    }

    /// The leases of a run date (crate::lease).
    pub fn leases(&self, run_date: RunDate) -> Location {
        self.root.child(&format!("_leases/run_date={run_date}"))
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

    /// The folder name of a run id: a run inside [`Layout::date_staging`],
    /// a publish id inside [`Layout::published_date`].
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

/// The staging area of one run of a run date: the attempts it reads and
/// the one it writes.
#[derive(Debug, Clone)]
pub struct RunLayout {
    layout: Layout,
    run_date: RunDate,
    run_staging: Location,
    /// The attempt folder of each stage whose outputs this run sees.
    dirs: BTreeMap<Step, Location>,
    lineage: Lineage,
}

impl RunLayout {
    /// The output root the run date belongs to.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn run_date(&self) -> RunDate {
        self.run_date
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.lineage.run_id
    }

    /// Everything this run stages is below this folder.
    pub fn run_staging(&self) -> &Location {
        &self.run_staging
    }

    /// The folder of one attempt.
    pub fn attempt_dir(&self, token: &str) -> Location {
        self.run_staging.child(&format!("attempt={token}"))
    }

    /// The finished markers of a stage's attempts.
    pub fn finished_markers(&self, step: Step) -> Location {
        self.run_staging
            .child(&format!("_finished/{}", step.name()))
    }

    /// The finished marker of one attempt of a stage.
    pub fn finished_marker(&self, step: Step, token: &str) -> Location {
        self.finished_markers(step)
            .child(&format!("attempt={token}.json"))
    }

    /// This run reads the attempts a lineage names (a finished attempt's
    /// marker).
    pub fn with_lineage(mut self, lineage: Lineage) -> Self {
        for (name, token) in &lineage.attempts {
            if let Some(step) = Step::from_name(name) {
                let dir = self.attempt_dir(token);
                self.dirs.insert(step.outputs(), dir);
            }
        }
        self.lineage = lineage;
        self
    }

    /// This run writes the outputs of `step` into attempt `token`.
    pub fn with_attempt(mut self, step: Step, token: &str) -> Self {
        let dir = self.attempt_dir(token);
        self.dirs.insert(step.outputs(), dir);
        self.lineage
            .attempts
            .insert(step.name().to_string(), token.to_string());
        self
    }

    /// The attempts this run reads and writes.
    pub fn lineage(&self) -> &Lineage {
        &self.lineage
    }

    /// The attempt folder of a stage's outputs. A stage the lineage does
    /// not name resolves to a folder that never exists (named so in the
    /// error that reading it gives).
    fn dir(&self, step: Step) -> Location {
        self.dirs.get(&step.outputs()).cloned().unwrap_or_else(|| {
            self.run_staging
                .child(&format!("attempt=unfinished-{}", step.name()))
        })
    }

    /// The staged copy of a published table (see [`PUBLISHED_TABLES`]).
    pub fn table(&self, table: &str) -> Location {
        let step = match table {
            "rejects" => Step::Validate,
            "features" | "labels" => Step::Features,
            "models" => Step::Train,
            "scores" | "segments" => Step::Score,
            "exports" => Step::Export,
            _ => Step::Report,
        };
        self.dir(step).child(table)
    }

    /// The validation report.
    pub fn validation_report(&self) -> Location {
        self.dir(Step::Validate).child("validate.json")
    }

    /// The accepted rows of an input table.
    pub fn validated(&self, table: Table) -> Location {
        self.dir(Step::Validate)
            .child(&format!("validated/{}", table.name()))
    }

    /// The rejected rows of an input table.
    pub fn rejects(&self, table: &str) -> Location {
        self.table("rejects").child(&format!("table={table}"))
    }

    /// Every backtest sample of the run date.
    pub fn backtest_samples(&self) -> Location {
        self.dir(Step::Features).child("backtest_sample")
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
        self.dir(Step::Features)
            .child(&format!("intermediate/as_of={as_of}"))
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
        self.dir(Step::Features).child("_stages/features.json")
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

    /// How long a stage's attempt took.
    pub fn duration(&self, step: Step) -> Location {
        self.dir(step).child("_duration.json")
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
    /// A run that read validate's attempt `v`, features' `f` and so on.
    fn run_of_every_stage(l: &Layout) -> RunLayout {
        let attempts = Step::ALL
            .iter()
            .filter(|s| **s != Step::FeaturesAsOf)
            .map(|s| (s.name().to_string(), format!("t-{}", s.name())))
            .collect();
        l.run(d("2026-11-22"), "R").with_lineage(Lineage {
            run_id: "R".into(),
            attempts,
        })
    }

    #[test]
    fn paths_of_a_run_are_the_contract() {
        let l = layout();
        let r = run_of_every_stage(&l);
        let base = "file:///tmp/fidelis-layout/out";
        let date = format!("{base}/_staging/run_date=2026-11-22");
        let run = format!("{date}/run_id=R");
        let a = |step: &str| format!("{run}/attempt=t-{step}");
        let (val, fea, tra, sco, exp, rep) = (
            a("validate"),
            a("features"),
            a("train"),
            a("score"),
            a("export"),
            a("report"),
        );
        let cases = [
            (l.date_staging(d("2026-11-22")), date.clone()),
            (l.current_run(d("2026-11-22")), format!("{date}/_run.json")),
            (
                l.leases(d("2026-11-22")),
                format!("{base}/_leases/run_date=2026-11-22"),
            ),
            (r.run_staging().clone(), run.clone()),
            (
                r.finished_marker(Step::Train, "t9"),
                format!("{run}/_finished/train/attempt=t9.json"),
            ),
            (r.validation_report(), format!("{val}/validate.json")),
            (
                r.validated(Table::Purchases),
                format!("{val}/validated/purchases"),
            ),
            (
                r.rejects("customers"),
                format!("{val}/rejects/table=customers"),
            ),
            (
                r.backtest_sample(Table::Interactions),
                format!("{fea}/backtest_sample/interactions"),
            ),
            (
                r.features(d("2026-08-24")),
                format!("{fea}/features/as_of=2026-08-24"),
            ),
            (
                r.features_report(d("2026-08-24")),
                format!("{fea}/features/as_of=2026-08-24/_report.json"),
            ),
            (
                r.intermediate(d("2026-08-24")),
                format!("{fea}/intermediate/as_of=2026-08-24"),
            ),
            (
                r.intermediate_model(d("2026-08-24"), "int_orders"),
                format!("{fea}/intermediate/as_of=2026-08-24/int_orders"),
            ),
            (
                r.labels(d("2026-08-24"), 90),
                format!("{fea}/labels/as_of=2026-08-24/horizon=90"),
            ),
            (r.feature_plan(), format!("{fea}/_stages/features.json")),
            (r.model(), format!("{tra}/models/model.json")),
            (r.metrics(), format!("{tra}/models/metrics.json")),
            (r.scores(), format!("{sco}/scores")),
            (
                r.segment_file("at-risk"),
                format!("{sco}/segments/segment=at-risk/part-00000.parquet"),
            ),
            (r.export_summary(), format!("{exp}/exports/_summary.json")),
            (
                r.audience_file("win-back", "send", "csv"),
                format!("{exp}/exports/audience=win-back/send.csv"),
            ),
            (r.report(), format!("{rep}/reports/report.html")),
            (r.duration(Step::Train), format!("{tra}/_duration.json")),
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

    /// An attempt writes its own folder and reads the lineage's others;
    /// `features --as-of` writes features like the feature stage; a stage
    /// the lineage does not name resolves to a folder that never exists.
    #[test]
    fn an_attempt_writes_its_folder_and_reads_its_lineage() {
        let l = layout();
        let up = Lineage {
            run_id: "R".into(),
            attempts: [("validate".to_string(), "v1".to_string())].into(),
        };
        let r = l
            .run(d("2026-11-22"), "R")
            .with_lineage(up)
            .with_attempt(Step::FeaturesAsOf, "c1");
        let run = "file:///tmp/fidelis-layout/out/_staging/run_date=2026-11-22/run_id=R";
        assert_eq!(
            r.validation_report().url(),
            format!("{run}/attempt=v1/validate.json")
        );
        assert_eq!(
            r.features(d("2026-11-01")).url(),
            format!("{run}/attempt=c1/features/as_of=2026-11-01")
        );
        assert_eq!(
            r.model().url(),
            format!("{run}/attempt=unfinished-train/models/model.json")
        );
        assert_eq!(r.lineage().attempts.len(), 2);
        assert_eq!(r.lineage().attempts["features-as-of"], "c1");
        for s in Step::ALL {
            assert_eq!(Step::from_name(s.name()), Some(s));
        }
    }

    /// Every staged folder of a published table is below `table()`, so
    /// publishing a table copies exactly what its stage wrote.
    #[test]
    fn published_tables_are_staged_under_their_name() {
        let r = run_of_every_stage(&layout());
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
