//! Every validation rule, each with a fixture row that breaks it; schema
//! errors, corrupt files, the reject threshold and the exit codes.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, TimeUnit};

use crate::support::*;

const RUN_DATE: &str = "2026-11-22";
/// 2026-11-22T23:59:59Z and 2026-11-23T00:00:00Z in seconds since the epoch.
const LAST_SECOND: i64 = 1_795_391_999;
const NEXT_DAY: i64 = 1_795_392_000;

/// order_id, line_id, customer_id, order_ts (ns), amount
type PurchaseRow<'a> = (
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
    Option<i64>,
    Option<f64>,
);
/// customer_id, event_ts (us), channel, event_type, value
type InteractionRow<'a> = (
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<f64>,
);
/// customer_id, signup_ts (us), consent_email, acquisition_cost
type CustomerRow = (Option<i64>, Option<i64>, Option<bool>, Option<f64>);

fn utc_micros(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

/// Purchases with one row per rule. Timestamps are naive nanoseconds (taken as
/// UTC), ids are strings and line ids integers, to exercise the casts.
fn purchases_fixture() -> RecordBatch {
    let s = |x: i64| Some(x * 1_000_000_000);
    let rows: Vec<PurchaseRow> = vec![
        (Some("o1"), Some(1), Some("c1"), s(LAST_SECOND), Some(10.0)), // ok: last second of the run date
        (
            Some("o1"),
            Some(2),
            Some("c1"),
            s(LAST_SECOND - 60),
            Some(-4.0),
        ), // ok: a return line
        (Some("o2"), Some(1), None, s(LAST_SECOND - 60), Some(1.0)),   // null_customer_id
        (
            Some("o3"),
            Some(1),
            Some("  "),
            s(LAST_SECOND - 60),
            Some(1.0),
        ), // null_customer_id (blank)
        (None, Some(1), Some("c2"), s(LAST_SECOND - 60), Some(1.0)),   // null_order_id
        (
            Some(""),
            Some(1),
            Some("c2"),
            s(LAST_SECOND - 60),
            Some(1.0),
        ), // null_order_id (empty)
        (Some("o4"), Some(1), Some("c2"), None, Some(1.0)),            // null_timestamp
        (Some("o5"), Some(1), Some("c2"), s(NEXT_DAY), Some(1.0)), // after the run date (midnight after): out of scope, not a reject
        (
            Some("o6"),
            Some(1),
            Some("c2"),
            s(LAST_SECOND - 60),
            Some(f64::NAN),
        ), // non_finite_amount
        (
            Some("o7"),
            Some(1),
            Some("c2"),
            s(LAST_SECOND - 60),
            Some(f64::INFINITY),
        ), // non_finite_amount
        (Some("o8"), Some(1), Some("c2"), s(LAST_SECOND - 60), None), // non_finite_amount (null)
        (Some("o1"), Some(1), Some("c1"), s(LAST_SECOND), Some(10.0)), // duplicate_order_line
        (
            Some("o9"),
            Some(1),
            Some("c3"),
            s(LAST_SECOND - 3600),
            Some(f64::NAN),
        ), // bad twin first...
        (
            Some("o9"),
            Some(1),
            Some("c3"),
            s(LAST_SECOND - 3600),
            Some(5.0),
        ), // ...the good twin is kept
    ];
    RecordBatch::try_new(
        schema_ref(vec![
            Field::new("order_id", DataType::Utf8, true),
            Field::new("line_id", DataType::Int64, true),
            Field::new("customer_id", DataType::Utf8, true),
            Field::new(
                "order_ts",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                true,
            ),
            Field::new("amount", DataType::Float64, true),
            Field::new("extra_column", DataType::Utf8, true),
        ]),
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(TimestampNanosecondArray::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![Some("ignored"); rows.len()])),
        ],
    )
    .expect("batch")
}

fn interactions_fixture() -> RecordBatch {
    let t = |x: i64| Some(x * 1_000_000);
    let rows: Vec<InteractionRow> = vec![
        (
            Some("c1"),
            t(LAST_SECOND),
            Some("email"),
            Some("open"),
            None,
        ), // ok
        (
            Some("c1"),
            t(LAST_SECOND - 5),
            Some("survey"),
            Some("nps"),
            Some(9.0),
        ), // ok
        (None, t(LAST_SECOND), Some("email"), Some("open"), None), // null_customer_id
        (Some("c1"), None, Some("email"), Some("open"), None),     // null_timestamp
        (Some("c1"), t(NEXT_DAY), Some("email"), Some("open"), None), // after the run date: out of scope
        (
            Some("c1"),
            t(LAST_SECOND - 9),
            Some(" "),
            Some("open"),
            None,
        ), // null_channel
        (Some("c1"), t(LAST_SECOND - 9), Some("email"), None, None),  // null_event_type
        (
            Some("c1"),
            t(LAST_SECOND - 9),
            Some("web"),
            Some("visit"),
            Some(f64::NAN),
        ), // non_finite_value
        (
            Some("c1"),
            t(LAST_SECOND - 9),
            Some("web"),
            Some("visit"),
            Some(f64::NEG_INFINITY),
        ), // non_finite_value
        (
            Some("c1"),
            t(LAST_SECOND - 5),
            Some("survey"),
            Some("nps"),
            Some(9.0),
        ), // duplicate_event
    ];
    RecordBatch::try_new(
        schema_ref(vec![
            Field::new("customer_id", DataType::Utf8, true),
            Field::new(
                "event_ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("channel", DataType::Utf8, true),
            Field::new("event_type", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
        ]),
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            utc_micros(rows.iter().map(|r| r.1).collect()),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("batch")
}

/// Customers with integer ids (cast to strings) and every customer rule.
fn customers_fixture() -> RecordBatch {
    let t = |x: i64| Some(x * 1_000_000);
    let rows: Vec<CustomerRow> = vec![
        (Some(1), t(LAST_SECOND - 86_400), Some(true), Some(12.5)), // ok
        (Some(2), None, None, None),                                // ok: nulls are allowed
        (None, t(LAST_SECOND), Some(true), Some(1.0)),              // null_customer_id
        (Some(3), t(NEXT_DAY), Some(true), Some(1.0)), // after the run date: out of scope
        (Some(4), t(LAST_SECOND), Some(true), Some(-1.0)), // negative_acquisition_cost
        (Some(5), t(LAST_SECOND), Some(true), Some(f64::NAN)), // negative_acquisition_cost (NaN)
        (Some(1), t(LAST_SECOND), Some(false), Some(3.0)), // duplicate_customer
    ];
    RecordBatch::try_new(
        schema_ref(vec![
            Field::new("customer_id", DataType::Int64, true),
            Field::new(
                "signup_ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("consent_email", DataType::Boolean, true),
            Field::new("acquisition_cost", DataType::Float64, true),
        ]),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            utc_micros(rows.iter().map(|r| r.1).collect()),
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("batch")
}

fn reasons(report: &serde_json::Value, table: &str) -> BTreeMap<String, u64> {
    let t = report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["table"] == table)
        .expect("table in report");
    t["rejected_by_reason"]
        .as_object()
        .expect("reasons")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
        .collect()
}

fn table<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["table"] == name)
        .expect("table in report")
}

fn fixture_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().to_path_buf();
    write_parquet(
        &root.join("in/purchases/part-0.parquet"),
        &purchases_fixture(),
    );
    write_parquet(
        &root.join("in/interactions/part-0.parquet"),
        &interactions_fixture(),
    );
    write_parquet(
        &root.join("in/customers/part-0.parquet"),
        &customers_fixture(),
    );
    (dir, root)
}

fn all_inputs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("purchases", "in/purchases"),
        ("interactions", "in/interactions"),
        ("customers", "in/customers"),
    ]
}

#[test]
fn every_rule_quarantines_its_rows_with_a_reason() {
    let (_dir, root) = fixture_dir();
    let cfg = write_config(
        &root,
        &all_inputs(),
        "out",
        "[validation]\nmax_reject_share = 1.0\n",
    );
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 0);
    let report = validate_json(&root.join("out"), RUN_DATE);

    let expect = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!(
        reasons(&report, "purchases"),
        expect(&[
            ("null_customer_id", 2),
            ("null_order_id", 2),
            ("null_timestamp", 1),
            ("non_finite_amount", 4),
            ("duplicate_order_line", 1),
        ])
    );
    assert_eq!(
        reasons(&report, "interactions"),
        expect(&[
            ("null_customer_id", 1),
            ("null_timestamp", 1),
            ("null_channel", 1),
            ("null_event_type", 1),
            ("non_finite_value", 2),
            ("duplicate_event", 1),
        ])
    );
    assert_eq!(
        reasons(&report, "customers"),
        expect(&[
            ("null_customer_id", 1),
            ("negative_acquisition_cost", 2),
            ("duplicate_customer", 1),
        ])
    );
    // The row at the midnight after the run date (one per table; for
    // customers a signup then) is out of the run's scope: counted apart,
    // never a reject. Reconciliation: rows read = accepted + rejected +
    // after the run date, for every table.
    for (name, read, accepted) in [
        ("purchases", 14, 3),
        ("interactions", 10, 2),
        ("customers", 7, 2),
    ] {
        let t = table(&report, name);
        assert_eq!(t["rows_read"], read, "{name}");
        assert_eq!(t["rows_accepted"], accepted, "{name}");
        assert_eq!(t["rows_after_run_date"], 1, "{name}");
        assert_eq!(t["rows_rejected"], read - accepted - 1, "{name}");
        let share = t["reject_share"].as_f64().expect("share");
        assert!(
            (share - (read - accepted - 1) as f64 / (read - 1) as f64).abs() < 1e-12,
            "{name}"
        );
    }
    assert_eq!(
        table(&report, "purchases")["missing_optional_columns"],
        serde_json::json!(["category", "channel", "quantity"])
    );

    // The accepted purchases: the canonical schema, the last second of the run
    // date is in (naive taken as UTC), the good twin of o9 is kept.
    let stage = staged(&root.join("out"), RUN_DATE, "validate");
    let valid = read_parquet_dir(&stage.join("validated/purchases"));
    assert_eq!(rows(&valid), 3);
    let schema = valid[0].schema();
    assert_eq!(
        schema.field_with_name("order_ts").expect("ts").data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(
        schema.field_with_name("line_id").expect("line").data_type(),
        &DataType::Utf8
    );
    assert!(schema.field_with_name("extra_column").is_err());
    let mut ids: Vec<String> = strings(&valid, "order_id").into_iter().flatten().collect();
    ids.sort();
    assert_eq!(ids, ["o1", "o1", "o9"]);

    // Rejects carry the canonical columns and the reason.
    let rejects = read_parquet_dir(&staged_table(
        &root.join("out"),
        RUN_DATE,
        "validate",
        "rejects_purchases",
    ));
    assert_eq!(rows(&rejects), 10);
    let r = strings(&rejects, "reject_reason");
    assert!(r.iter().all(Option::is_some));

    // Integer customer ids arrive as strings.
    let customers = read_parquet_dir(&stage.join("validated/customers"));
    let mut ids: Vec<String> = strings(&customers, "customer_id")
        .into_iter()
        .flatten()
        .collect();
    ids.sort();
    assert_eq!(ids, ["1", "2"]);
    // Of customer 1's two rows the one with the latest signup is kept
    // (acquisition cost 3.0), and it grants email consent only if both
    // rows do: one does not. The report counts the disagreement.
    let all = arrow::compute::concat_batches(&customers[0].schema(), &customers).expect("concat");
    let i = strings(std::slice::from_ref(&all), "customer_id")
        .iter()
        .position(|id| id.as_deref() == Some("1"))
        .expect("customer 1");
    let cost = all
        .column_by_name("acquisition_cost")
        .expect("cost")
        .as_primitive::<arrow::datatypes::Float64Type>();
    assert_eq!(cost.value(i), 3.0);
    let consent = all
        .column_by_name("consent_email")
        .expect("consent")
        .as_boolean();
    assert!(consent.is_valid(i) && !consent.value(i));
    assert_eq!(table(&report, "customers")["consent_conflicts"], 1);
    // Neither the validated customers nor their rejects keep a clear email
    // (no audience of this config exports one): its hash stands in.
    let rejects = read_parquet_dir(&staged_table(
        &root.join("out"),
        RUN_DATE,
        "validate",
        "rejects_customers",
    ));
    assert!(rows(&rejects) > 0);
    for batches in [&customers, &rejects] {
        let schema = batches[0].schema();
        assert!(schema.field_with_name("email").is_err(), "{schema:?}");
        assert!(schema.field_with_name("email_sha256").is_ok(), "{schema:?}");
    }
}

#[test]
fn too_many_rejects_stop_the_run_with_exit_3() {
    let (_dir, root) = fixture_dir();
    let cfg = write_config(&root, &all_inputs(), "out", "");
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("max_reject_share"), "{err}");
    assert!(err.contains("table purchases"), "{err}");
    // The rejects are written for the operator to look at, where the
    // error says (the attempt did not finish: nothing commits them).
    let at = err
        .split("the rejected rows are in file://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("the error names the rejects: {err}"));
    assert_eq!(
        rows(&read_parquet_dir(std::path::Path::new(at))),
        10,
        "{at}"
    );
}

#[test]
fn missing_required_column_names_file_and_column() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let batch = purchases_fixture();
    let idx = batch.schema().index_of("amount").expect("amount");
    let mut batch = batch;
    batch.remove_column(idx);
    write_parquet(&root.join("in/purchases/part-7.parquet"), &batch);
    let cfg = write_config(root, &[("purchases", "in/purchases")], "out", "");
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("part-7.parquet"), "{err}");
    assert!(err.contains("column `amount`"), "{err}");
    assert!(err.contains("required column is missing"), "{err}");
}

#[test]
fn wrong_type_names_file_and_column_and_renames_are_honoured() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let n = 3;
    let t = LAST_SECOND * 1_000_000;
    let batch = RecordBatch::try_new(
        schema_ref(vec![
            Field::new("order_number", DataType::Utf8, false),
            Field::new("cust", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("price", DataType::Utf8, false),
        ]),
        vec![
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(StringArray::from(vec!["x"; n])),
            Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![t; n])),
            Arc::new(StringArray::from(vec!["1.0"; n])),
        ],
    )
    .expect("batch");
    write_parquet(&root.join("in/p.parquet"), &batch);
    let mapping = "[columns.purchases]\norder_id = \"order_number\"\ncustomer_id = \"cust\"\norder_ts = \"ts\"\namount = \"price\"\n";
    let cfg = write_config(root, &[("purchases", "in/p.parquet")], "out", mapping);
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("p.parquet"), "{err}");
    assert!(
        err.contains("column `amount` (mapped from `price`)"),
        "{err}"
    );
    assert!(err.contains("has type Utf8"), "{err}");
}

#[test]
fn corrupt_and_truncated_files_are_named() {
    let (_dir, root) = fixture_dir();
    // A truncated copy of a real file: the footer is gone.
    let good = std::fs::read(root.join("in/purchases/part-0.parquet")).expect("read");
    std::fs::write(
        root.join("in/purchases/part-1.parquet"),
        &good[..good.len() / 2],
    )
    .expect("write");
    let cfg = write_config(
        &root,
        &[("purchases", "in/purchases")],
        "out",
        "[validation]\nmax_reject_share = 1.0\n",
    );
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("part-1.parquet"), "{err}");
    assert!(err.contains("corrupt or truncated"), "{err}");
}

#[test]
fn missing_inputs_and_bad_configs_have_their_exit_codes() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    // No files at the purchases location: bad input (3).
    let cfg = write_config(root, &[("purchases", "nothing-here")], "out", "");
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 3);
    assert!(
        stderr(&o).contains("no Parquet files found"),
        "{}",
        stderr(&o)
    );
    // A typo in the config: usage/config error (2).
    let cfg = write_config(
        root,
        &[("purchases", "x")],
        "out",
        "[validation]\nmax_rejects = 0.1\n",
    );
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("max_rejects"), "{}", stderr(&o));
    // A bad run date: 2.
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        "22.11.2026",
    ]);
    assert_exit(&o, 2);
    // Unknown flag: clap's usage error, also 2.
    let o = run(&["validate", "--no-such-flag"]);
    assert_exit(&o, 2);
}

#[test]
fn logs_are_json_lines_with_stage_and_counts() {
    let (_dir, root) = fixture_dir();
    let cfg = write_config(
        &root,
        &all_inputs(),
        "out",
        "[validation]\nmax_reject_share = 1.0\n",
    );
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 0);
    let err = stderr(&o);
    let mut stages = 0;
    for line in err.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        if v["stage"] == "validate" {
            stages += 1;
        }
    }
    assert!(stages >= 3, "{err}");
    assert!(err.contains("\"rows_read\""), "{err}");
}

/// An audience's filter and order_by and a next action's condition are one
/// SQL expression each, over the score columns: a statement, a UNION, a
/// subquery, a second clause or an unknown column is exit 2 when the config
/// loads (before validate reads anything), naming the audience or action
/// and the field; audience columns must be score columns.
#[test]
fn config_rules_are_single_expressions_over_the_scores() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let audience = |field: &str| {
        let filter = if field.starts_with("filter") {
            ""
        } else {
            "filter = \"next_action = 'retain'\"\n"
        };
        format!("[[exports.audiences]]\nname = \"A\"\nchannel = \"email\"\n{filter}{field}\n")
    };
    let cases = [
        (
            audience("filter = \"true) UNION SELECT customer_id FROM customers WHERE (true\""),
            "exports.audiences `A`: filter: one expression only",
        ),
        (
            audience("filter = \"true; COPY (SELECT 1) TO 'x.parquet'\""),
            "exports.audiences `A`: filter: one expression only",
        ),
        (
            audience("filter = \"customer_id IN (SELECT customer_id FROM customers)\""),
            "exports.audiences `A`: filter: a subquery is not allowed",
        ),
        (
            audience("filter = \"consent_email OR true\""),
            "exports.audiences `A`: filter: unknown column `consent_email`",
        ),
        (
            audience("order_by = \"clv_12m DESC LIMIT 1\""),
            "exports.audiences `A`: order_by: one expression only",
        ),
        (
            audience("order_by = \"(SELECT 1)\""),
            "exports.audiences `A`: order_by: a subquery is not allowed",
        ),
        (
            audience("columns = [\"clv_12m\", \"email\"]"),
            "exports.audiences `A`: columns: `email` is not a score column",
        ),
        (
            "[[segments.actions]]\naction = \"retain\"\nwhen = \"EXISTS (SELECT 1 FROM customers)\"\n"
                .to_string(),
            "segments.actions `retain`: when: a subquery is not allowed",
        ),
        (
            "[[segments.actions]]\naction = \"retain\"\nwhen = \"next_action = 'retain'\"\n"
                .to_string(),
            "segments.actions `retain`: when: unknown column `next_action`",
        ),
    ];
    let validate = |extra: &str| {
        let cfg = write_config(root, &[("purchases", "nothing-here")], "out", extra);
        run(&[
            "validate",
            "--config",
            cfg.to_str().expect("utf8"),
            "--run-date",
            RUN_DATE,
        ])
    };
    for (extra, says) in cases {
        let o = validate(&extra);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains(says), "{extra}\n{}", stderr(&o));
        assert!(!root.join("out").exists(), "{extra}: something was written");
    }
    // The same config with a plain filter and order loads: the validate
    // stage runs (and finds no purchases: 3).
    let o = validate(&audience(
        "order_by = \"p_order_30d DESC NULLS LAST, expected_revenue_365d\"",
    ));
    assert_exit(&o, 3);
}
