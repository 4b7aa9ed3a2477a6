//! Backfills: a run of a past date D on the lake as it is today gives what a
//! run on the lake cut at D gives (docs/contract.md, "The lake cut at D"):
//! rows stamped at or after D+1 00:00 UTC, and customers who signed up
//! then, are out of the run's scope, not rejects.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};

use crate::support::*;

/// Sixty days before the sample's last day (2026-11-22).
pub const BACKFILL_DATE: &str = "2026-09-23";
/// 2026-09-24 00:00:00 UTC in microseconds: the end of the backfill date.
const CUT_MICROS: i64 = 1_790_208_000_000_000;

/// Rows of `batch` whose `column` is before the cut (and, with `keep_null`,
/// those without a value).
fn before_cut(batch: &RecordBatch, column: &str, keep_null: bool) -> RecordBatch {
    let ts = batch.column_by_name(column).expect("timestamp column");
    let micros = arrow::compute::cast(
        &arrow::compute::cast(ts, &DataType::Timestamp(TimeUnit::Microsecond, None)).expect("cast"),
        &DataType::Int64,
    )
    .expect("cast");
    let micros = micros.as_primitive::<Int64Type>();
    let keep: BooleanArray = (0..micros.len())
        .map(|i| {
            Some(if micros.is_null(i) {
                keep_null
            } else {
                micros.value(i) < CUT_MICROS
            })
        })
        .collect();
    arrow::compute::filter_record_batch(batch, &keep).expect("filter")
}

/// The committed sample cut at the backfill date, one file per table, as a
/// lake that only ever received the rows up to that day.
pub fn cut_sample(dst: &Path) {
    let sample = repo().join("sample-data/retail");
    for (table, column, keep_null) in [
        ("purchases", "order_ts", false),
        ("interactions", "event_ts", false),
        ("customers", "signup_ts", true),
    ] {
        let batches = read_parquet_dir(&sample.join(table));
        let schema = batches[0].schema();
        let kept: Vec<RecordBatch> = batches
            .iter()
            .map(|b| before_cut(b, column, keep_null))
            .collect();
        let one = arrow::compute::concat_batches(&Arc::clone(&schema), &kept).expect("concat");
        assert!(
            one.num_rows() < rows(&batches),
            "{table}: nothing after the cut?"
        );
        write_parquet(&dst.join(format!("{table}/part-00000.parquet")), &one);
    }
}

fn run_date(cfg: &Path) -> std::time::Duration {
    let started = std::time::Instant::now();
    let o = run(&[
        "run",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        BACKFILL_DATE,
    ]);
    assert_exit(&o, 0);
    started.elapsed()
}

#[test]
fn a_backfill_sixty_days_back_equals_a_run_on_the_lake_cut_at_that_date() {
    let dir = tempfile::tempdir().expect("tmp");
    // The lake as it is today.
    let today = dir.path().join("today");
    std::fs::create_dir_all(&today).expect("mkdir");
    let cfg_today = crate::publish::sample_job(&today, &today.join("out").display().to_string());
    let took = run_date(&cfg_today);
    eprintln!(
        "backfill of {BACKFILL_DATE} on the sample: {:.1} s",
        took.as_secs_f64()
    );
    // The same lake cut at the backfill date.
    let cut = dir.path().join("cut");
    cut_sample(&cut.join("data"));
    let p = |t: &str| cut.join("data").join(t).display().to_string();
    let cfg_cut = write_config(
        &cut,
        &[
            ("purchases", &p("purchases")),
            ("interactions", &p("interactions")),
            ("customers", &p("customers")),
        ],
        &cut.join("out").display().to_string(),
        &crate::publish::exports_section(),
    );
    run_date(&cfg_cut);
    assert_same_outputs(&today.join("out"), &cut.join("out"));
}

/// The backfill's outputs (`today`) against the cut lake's (`cut`), both
/// output roots on the local disk (the S3 variant mirrors its bucket).
pub fn assert_same_outputs(today: &Path, cut: &Path) {
    // Every published value is the same (scores, segments, exports,
    // features, labels, models, rejects), to 1e-9.
    let a = crate::digest::digest(today, BACKFILL_DATE);
    let b = crate::digest::digest(cut, BACKFILL_DATE);
    assert!(
        a.contains_key("scores") && a.contains_key("exports"),
        "{a:?}"
    );
    assert_eq!(a, b, "the backfill differs from the run on the cut lake");

    // What validation says of the rows after the date: counted apart, in
    // no reject; the cut lake has none.
    let today_report = validate_json(today, BACKFILL_DATE);
    let cut_report = validate_json(cut, BACKFILL_DATE);
    for (t, c) in today_report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .zip(cut_report["tables"].as_array().expect("tables"))
    {
        let name = t["table"].as_str().expect("name");
        let n =
            |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{name} {k}"));
        assert!(n(t, "rows_after_run_date") > 0, "{name}: {t}");
        assert_eq!(n(c, "rows_after_run_date"), 0, "{name}: {c}");
        assert_eq!(n(t, "rows_accepted"), n(c, "rows_accepted"), "{name}");
        assert_eq!(n(t, "rows_rejected"), n(c, "rows_rejected"), "{name}");
        assert_eq!(t["rejected_by_reason"], c["rejected_by_reason"], "{name}");
        assert_eq!(
            n(t, "rows_read"),
            n(t, "rows_accepted") + n(t, "rows_rejected") + n(t, "rows_after_run_date"),
            "{name}"
        );
    }
}
