//! Every path of a run, in one place: the staging area of a run date, the
//! Delta Lake tables, the published files and the stage records
//! (docs/contract.md, "Outputs and publishing"; docs/architecture.md).
//!
//! ```text
//! <out>/_staging/run_date=D/                 one run date's work in progress
//!     _run.json                              the run id validate last started
//!     run_id=R/                              one run (Airflow's run id, or drawn)
//!         attempt=T/                         one stage attempt's files:
//!             validate.json                  the validation report (validate)
//!             validated/<input table>/       accepted rows (validate)
//!             backtest_sample/<input table>/ the sampled rows of large runs (features)
//!             intermediate/as_of=C/<model>/  the intermediate SQL models of a cutoff (features)
//!             features/as_of=C/_report.json  the feature stage's report of a cutoff (features)
//!             _stages/features.json          the feature stage's plan (features)
//!             models/model.json, metrics.json  the trained models and their backtests (train)
//!             exports/audience=<slug>/       send and control CSV files, _summary.json beside (export)
//!             reports/report.html            the run report (report)
//!             _adds/<table>/<id>.json        the Delta add actions of the data files it wrote
//!             _duration.json                 the attempt's seconds, for the runs row
//!         _finished/<stage>/attempt=T.json   create-only marker of a finished attempt: its lineage
//! <out>/_leases/run_date=D/                  the date's leases (crate::lease)
//! <out>/<table>/                             a Delta Lake table (DELTA_TABLES; _delta_log/ inside)
//!     run_date=D/attempt=T/...               the data files attempt T wrote (uncommitted until
//!                                            publish commits their add actions)
//! <out>/runs/                                the Delta table of published runs: the commit point
//! <out>/files/run_date=D/run_id=P/           the published files that are not tables (P: a publish id)
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

/// A Delta Lake table fidelis publishes: its name (the folder below the
/// output root) and its partition columns (strings, not in the data files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    pub name: &'static str,
    pub partitions: &'static [&'static str],
}

const BY_DATE: &[&str] = &["run_date"];

/// The Delta tables of a run, in the order publish commits them. The
/// feature files carry their `as_of` column (the cutoff), so `as_of` is a
/// data column there and a partition column of the labels.
pub const DELTA_TABLES: &[TableSpec] = &[
    TableSpec {
        name: "rejects_purchases",
        partitions: BY_DATE,
    },
    TableSpec {
        name: "rejects_interactions",
        partitions: BY_DATE,
    },
    TableSpec {
        name: "rejects_customers",
        partitions: BY_DATE,
    },
    TableSpec {
        name: "features",
        partitions: BY_DATE,
    },
    TableSpec {
        name: "labels",
        partitions: &["run_date", "as_of", "horizon"],
    },
    TableSpec {
        name: "scores",
        partitions: BY_DATE,
    },
    TableSpec {
        name: "segments",
        partitions: &["run_date", "segment"],
    },
    TableSpec {
        name: "exports",
        partitions: &["run_date", "audience"],
    },
];

/// The Delta table of published runs, appended last: the commit point.
pub const RUNS_TABLE: &str = "runs";

/// The staged folders of files that are not tables (models, the campaign
/// CSVs and export summary, the feature reports, the HTML report), which
/// publish copies below `files/run_date=D/run_id=P/`.
pub const PUBLISHED_FILES: &[&str] = &["features", "models", "exports", "reports"];

/// The spec of a Delta table by name.
pub fn table_spec(name: &str) -> Option<&'static TableSpec> {
    DELTA_TABLES.iter().find(|t| t.name == name)
}

/// Where an attempt writes one partition of a Delta table: the data files
/// go below `root/prefix` (`run_date=D/attempt=T/...`), and the add actions
/// describing them into `adds` (a staging folder) until publish commits them.
#[derive(Debug, Clone)]
pub struct TableTarget {
    pub table: &'static str,
    /// The table's root (`<out>/<table>`).
    pub root: Location,
    /// The folder of the files, relative to the table root.
    pub prefix: String,
    /// The partition values of every file written here.
    pub partitions: Vec<(String, String)>,
    /// The staged add actions of the attempt's files of this table.
    pub adds: Location,
    /// Where a data file is closed and the next one started.
    pub max_file_bytes: u64,
}

impl TableTarget {
    /// The folder the files are written to (what later stages read).
    pub fn dir(&self) -> Location {
        self.root.child(&self.prefix)
    }
}

/// The file name of the `i`-th Parquet part of a table folder.
pub fn part_file(i: usize) -> String {
    format!("part-{i:05}.parquet")
}

/// The output root of a job and every path below it.
#[derive(Debug, Clone)]
pub struct Layout {
    root: Location,
    /// `[output] max_file_mb`: where a table's data file is closed.
    max_file_mb: u64,
}

impl Layout {
    /// The layout below an output root (data files of at most 1 GiB).
    pub fn new(root: Location) -> Self {
        Layout {
            root,
            max_file_mb: 1024,
        }
    }

    /// The layout of a job's output (`[output] url` with its `[storage]`
    /// settings).
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        let mut layout = Layout::new(Location::parse(&settings.output_url, &settings.storage)?);
        layout.max_file_mb = settings.max_file_mb.max(1);
        Ok(layout)
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
            tokens: BTreeMap::new(),
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

    /// A Delta table (`<out>/<table>`; the runs table too).
    pub fn table(&self, name: &str) -> Location {
        self.root.child(name)
    }

    /// The published files of one publication of a date.
    pub fn published_files(&self, run_date: RunDate, publish_id: &str) -> Location {
        self.root.child(&format!(
            "files/run_date={run_date}/{}",
            Self::run_id_folder(publish_id)
        ))
    }

    /// Every published file is below this folder.
    pub fn files_root(&self) -> Location {
        self.root.child("files")
    }

    /// The folder name of a run id: a run inside [`Layout::date_staging`],
    /// a publish id inside [`Layout::published_files`].
    pub fn run_id_folder(run_id: &str) -> String {
        format!("run_id={run_id}")
    }

    /// A published file named by its path relative to the root (as the
    /// runs table lists it).
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
    /// The attempt of each stage whose outputs this run sees.
    tokens: BTreeMap<Step, String>,
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
                self.tokens.insert(step.outputs(), token.clone());
            }
        }
        self.lineage = lineage;
        self
    }

    /// This run writes the outputs of `step` into attempt `token`.
    pub fn with_attempt(mut self, step: Step, token: &str) -> Self {
        self.tokens.insert(step.outputs(), token.to_string());
        self.lineage
            .attempts
            .insert(step.name().to_string(), token.to_string());
        self
    }

    /// The attempts this run reads and writes.
    pub fn lineage(&self) -> &Lineage {
        &self.lineage
    }

    /// The attempt of a stage's outputs. A stage the lineage does not name
    /// resolves to an attempt that never exists (named so in the error that
    /// reading it gives).
    fn token(&self, step: Step) -> String {
        self.tokens
            .get(&step.outputs())
            .cloned()
            .unwrap_or_else(|| format!("unfinished-{}", step.name()))
    }

    /// The staging folder of a stage's attempt.
    fn dir(&self, step: Step) -> Location {
        self.attempt_dir(&self.token(step))
    }

    /// The stage that writes a table or a folder of published files.
    fn owner(name: &str) -> Step {
        match name {
            "features" | "labels" => Step::Features,
            "models" => Step::Train,
            "scores" | "segments" => Step::Score,
            "exports" => Step::Export,
            "reports" => Step::Report,
            _ => Step::Validate,
        }
    }

    /// Where an attempt writes a Delta table's files below `inner` (a
    /// folder inside the attempt's, `""` for none), with the partition
    /// values after `run_date`.
    fn target(&self, table: &'static str, inner: &str, values: &[(&str, String)]) -> TableTarget {
        let step = Self::owner(table.strip_prefix("rejects_").map_or(table, |_| "rejects"));
        let mut prefix = format!("run_date={}/attempt={}", self.run_date, self.token(step));
        if !inner.is_empty() {
            prefix = format!("{prefix}/{inner}");
        }
        let mut partitions = vec![("run_date".to_string(), self.run_date.to_string())];
        partitions.extend(values.iter().map(|(k, v)| ((*k).to_string(), v.clone())));
        TableTarget {
            table,
            root: self.layout.table(table),
            prefix,
            partitions,
            adds: self.staged_adds(table),
            max_file_bytes: self.layout.max_file_mb.saturating_mul(1 << 20),
        }
    }

    /// The staged add actions of a table (one JSON file per writer).
    pub fn staged_adds(&self, table: &str) -> Location {
        let step = Self::owner(table.strip_prefix("rejects_").map_or(table, |_| "rejects"));
        self.dir(step).child(&format!("_adds/{table}"))
    }

    /// The staged folder of published files that are not tables (see
    /// [`PUBLISHED_FILES`]).
    pub fn files(&self, name: &str) -> Location {
        self.dir(Self::owner(name)).child(name)
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

    /// Where the rejected rows of an input table go (`rejects_<table>`).
    pub fn rejects(&self, table: Table) -> TableTarget {
        let name = table_spec(&format!("rejects_{}", table.name()))
            .map_or("rejects_purchases", |t| t.name);
        self.target(name, "", &[])
    }

    /// Every backtest sample of the run date.
    pub fn backtest_samples(&self) -> Location {
        self.dir(Step::Features).child("backtest_sample")
    }

    /// The backtest sample of an input table.
    pub fn backtest_sample(&self, table: Table) -> Location {
        self.backtest_samples().child(table.name())
    }

    /// Where the features of a cutoff go.
    pub fn features_target(&self, as_of: RunDate) -> TableTarget {
        self.target("features", &format!("as_of={as_of}"), &[])
    }

    /// The features of a cutoff.
    pub fn features(&self, as_of: RunDate) -> Location {
        self.features_target(as_of).dir()
    }

    /// The feature stage's report of a cutoff.
    pub fn features_report(&self, as_of: RunDate) -> Location {
        self.files("features")
            .child(&format!("as_of={as_of}/_report.json"))
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

    /// Where the labels of a cutoff and horizon go.
    pub fn labels_target(&self, as_of: RunDate, horizon_days: u32) -> TableTarget {
        self.target(
            "labels",
            &format!("as_of={as_of}/horizon={horizon_days}"),
            &[
                ("as_of", as_of.to_string()),
                ("horizon", horizon_days.to_string()),
            ],
        )
    }

    /// The labels of a cutoff and horizon.
    pub fn labels(&self, as_of: RunDate, horizon_days: u32) -> Location {
        self.labels_target(as_of, horizon_days).dir()
    }

    /// The feature stage's plan (what train reads).
    pub fn feature_plan(&self) -> Location {
        self.dir(Step::Features).child("_stages/features.json")
    }

    /// The trained models.
    pub fn model(&self) -> Location {
        self.files("models").child("model.json")
    }

    /// Every candidate's backtest metrics and the champions.
    pub fn metrics(&self) -> Location {
        self.files("models").child("metrics.json")
    }

    /// Where the scores go.
    pub fn scores_target(&self) -> TableTarget {
        self.target("scores", "", &[])
    }

    /// The scores folder.
    pub fn scores(&self) -> Location {
        self.scores_target().dir()
    }

    /// The segments folder (`segment=<slug>/` below).
    pub fn segments(&self) -> Location {
        self.target("segments", "", &[]).dir()
    }

    /// Where one segment's rows go.
    pub fn segment_target(&self, slug: &str) -> TableTarget {
        self.target(
            "segments",
            &format!("segment={slug}"),
            &[("segment", slug.to_string())],
        )
    }

    /// The export files folder (`audience=<slug>/` below).
    pub fn exports(&self) -> Location {
        self.files("exports")
    }

    /// The Parquet side of the exports (`audience=<slug>/` below).
    pub fn exports_table(&self) -> Location {
        self.target("exports", "", &[]).dir()
    }

    /// Where an audience's rows go (the send and the control group, with
    /// their `group` column).
    pub fn audience_target(&self, slug: &str) -> TableTarget {
        self.target(
            "exports",
            &format!("audience={slug}"),
            &[("audience", slug.to_string())],
        )
    }

    /// The export summary (per audience: kept, excluded, control, capped).
    pub fn export_summary(&self) -> Location {
        self.exports().child("_summary.json")
    }

    /// One CSV file of an audience: `group` is `send` or `control`.
    pub fn audience_csv(&self, slug: &str, group: &str) -> Location {
        self.exports()
            .child(&format!("audience={slug}/{group}.csv"))
    }

    /// The run report.
    pub fn report(&self) -> Location {
        self.files("reports").child("report.html")
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
        let t = |table: &str, step: &str| {
            format!("{base}/{table}/run_date=2026-11-22/attempt=t-{step}")
        };
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
                r.rejects(Table::Customers).dir(),
                t("rejects_customers", "validate"),
            ),
            (
                r.staged_adds("rejects_customers"),
                format!("{val}/_adds/rejects_customers"),
            ),
            (
                r.backtest_sample(Table::Interactions),
                format!("{fea}/backtest_sample/interactions"),
            ),
            (
                r.features(d("2026-08-24")),
                format!("{}/as_of=2026-08-24", t("features", "features")),
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
                format!("{}/as_of=2026-08-24/horizon=90", t("labels", "features")),
            ),
            (r.staged_adds("labels"), format!("{fea}/_adds/labels")),
            (r.feature_plan(), format!("{fea}/_stages/features.json")),
            (r.model(), format!("{tra}/models/model.json")),
            (r.metrics(), format!("{tra}/models/metrics.json")),
            (r.scores(), t("scores", "score")),
            (r.staged_adds("scores"), format!("{sco}/_adds/scores")),
            (
                r.segment_target("at-risk").dir(),
                format!("{}/segment=at-risk", t("segments", "score")),
            ),
            (r.export_summary(), format!("{exp}/exports/_summary.json")),
            (
                r.audience_csv("win-back", "send"),
                format!("{exp}/exports/audience=win-back/send.csv"),
            ),
            (
                r.audience_target("win-back").dir(),
                format!("{}/audience=win-back", t("exports", "export")),
            ),
            (r.report(), format!("{rep}/reports/report.html")),
            (r.duration(Step::Train), format!("{tra}/_duration.json")),
            (l.table("runs"), format!("{base}/runs")),
            (
                l.published_files(d("2026-11-22"), "17-ab"),
                format!("{base}/files/run_date=2026-11-22/run_id=17-ab"),
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
            "file:///tmp/fidelis-layout/out/features/run_date=2026-11-22/attempt=c1/as_of=2026-11-01"
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

    /// Every file folder of a run is below `files()`, so publishing copies
    /// exactly what its stage wrote; every table target names the table's
    /// partition columns, in order, and lies below the table.
    #[test]
    fn targets_and_files_are_where_publish_looks() {
        let r = run_of_every_stage(&layout());
        for (loc, name) in [
            (r.features_report(d("2026-11-22")), "features"),
            (r.model(), "models"),
            (r.export_summary(), "exports"),
            (r.audience_csv("a", "send"), "exports"),
            (r.report(), "reports"),
        ] {
            assert!(PUBLISHED_FILES.contains(&name));
            assert!(
                loc.url().starts_with(&(r.files(name).url() + "/")),
                "{}",
                loc.url()
            );
        }
        let targets = [
            r.rejects(Table::Purchases),
            r.rejects(Table::Interactions),
            r.rejects(Table::Customers),
            r.features_target(d("2026-11-01")),
            r.labels_target(d("2026-11-01"), 90),
            r.scores_target(),
            r.segment_target("champions"),
            r.audience_target("win-back"),
        ];
        for (target, spec) in targets.iter().zip(DELTA_TABLES) {
            assert_eq!(target.table, spec.name);
            let cols: Vec<&str> = target.partitions.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(cols, spec.partitions, "{}", spec.name);
            assert_eq!(target.partitions[0].1, "2026-11-22");
            assert!(target.dir().url().starts_with(&(target.root.url() + "/")));
            assert_eq!(target.max_file_bytes, 1 << 30);
        }
        assert_eq!(
            r.labels_target(d("2026-11-01"), 90).partitions[1..],
            [
                ("as_of".to_string(), "2026-11-01".to_string()),
                ("horizon".to_string(), "90".to_string())
            ]
        );
    }
}
