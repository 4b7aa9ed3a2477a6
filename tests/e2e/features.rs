//! The feature SQL on a hand-made fixture whose every expected value was
//! worked out by hand (the arithmetic is in the comments), with the edge cases:
//! an order at 23:59:59 on the cutoff day (in) and one at 00:00:00 the day
//! after (out), a single order, same-day orders, returns larger than the
//! purchase, a prospect with interactions but no orders, a signup after the
//! cutoff. Plus the no-leakage check on generated data.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};

use crate::support::*;

const RUN_DATE: &str = "2026-11-22";
const CUTOFF: &str = "2026-11-12";

/// Microseconds of `days` after the cutoff day's midnight plus a time of day.
fn at(days: i64, hms: (u32, u32, u32)) -> i64 {
    let c = NaiveDate::parse_from_str(CUTOFF, "%Y-%m-%d").expect("date");
    let d = c + chrono::Days::new(0);
    let t: NaiveDateTime = d.and_hms_opt(hms.0, hms.1, hms.2).expect("time");
    t.and_utc().timestamp_micros() + days * 86_400_000_000
}

fn ts(v: Vec<i64>) -> Arc<TimestampMicrosecondArray> {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn fixture() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().to_path_buf();
    // (order_id, line_id, customer_id, ts, amount, channel, category)
    let p: Vec<(&str, &str, &str, i64, f64, &str, &str)> = vec![
        ("a1", "1", "A", at(-100, (10, 0, 0)), 50.0, "store", "shoes"),
        (
            "a1",
            "2",
            "A",
            at(-100, (10, 0, 0)),
            30.0,
            "store",
            "apparel",
        ),
        ("a2", "1", "A", at(-40, (12, 0, 0)), 20.0, "web", "apparel"),
        ("a2", "2", "A", at(-35, (9, 0, 0)), -10.0, "web", "apparel"), // a return, 5 days later
        ("a5", "1", "A", at(-40, (18, 0, 0)), 5.0, "WEB", "beauty"), // same day as a2 (case folded)
        ("a3", "1", "A", at(0, (23, 59, 59)), 40.0, "app", "apparel"), // last second of the cutoff day: in
        ("a4", "1", "A", at(1, (0, 0, 0)), 1000.0, "app", "home"),     // first second after: out
        ("b1", "1", "B", at(-10, (0, 0, 0)), 15.0, "store", "home"), // a single order, at midnight
        (
            "c1",
            "1",
            "C",
            at(-20, (15, 0, 0)),
            30.0,
            "marketplace",
            "electronics",
        ),
        (
            "c1",
            "2",
            "C",
            at(-5, (15, 0, 0)),
            -50.0,
            "marketplace",
            "electronics",
        ), // returns > purchase
        (
            "c1",
            "3",
            "C",
            at(3, (15, 0, 0)),
            -7.0,
            "marketplace",
            "electronics",
        ), // refund in the label horizon
        ("d1", "1", "D", at(2, (8, 0, 0)), 99.0, "web", "kids"), // the prospect buys after the cutoff
    ];
    let purchases = RecordBatch::try_new(
        schema_ref(vec![
            Field::new("order_id", DataType::Utf8, false),
            Field::new("line_id", DataType::Utf8, false),
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("order_ts", ts_type(), false),
            Field::new("amount", DataType::Float64, false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("category", DataType::Utf8, false),
        ]),
        vec![
            Arc::new(StringArray::from(p.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(StringArray::from(p.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(StringArray::from(p.iter().map(|r| r.2).collect::<Vec<_>>())),
            ts(p.iter().map(|r| r.3).collect()),
            Arc::new(Float64Array::from(
                p.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(p.iter().map(|r| r.5).collect::<Vec<_>>())),
            Arc::new(StringArray::from(p.iter().map(|r| r.6).collect::<Vec<_>>())),
        ],
    )
    .expect("purchases");
    write_parquet(&root.join("in/purchases.parquet"), &purchases);

    // (customer_id, ts, channel, event_type, value)
    let i: Vec<(&str, i64, &str, &str, Option<f64>)> = vec![
        ("A", at(-5, (9, 0, 0)), "email", "send", None),
        ("A", at(-5, (10, 0, 0)), "email", "open", None),
        ("A", at(-20, (9, 0, 0)), "email", "send", None),
        ("A", at(-60, (9, 0, 0)), "email", "send", None),
        ("A", at(-60, (9, 30, 0)), "email", "open", None),
        ("A", at(-60, (9, 31, 0)), "email", "click", None),
        ("A", at(-10, (9, 0, 0)), "sms", "send", None),
        ("A", at(-50, (9, 0, 0)), "survey", "nps", Some(6.0)),
        ("A", at(-8, (9, 0, 0)), "survey", "nps", Some(9.0)),
        ("A", at(-8, (9, 5, 0)), "survey", "csat", Some(4.0)),
        ("A", at(-30, (9, 0, 0)), "support", "ticket", None),
        ("A", at(-30, (9, 1, 0)), "support", "complaint", None),
        ("A", at(-4, (9, 0, 0)), "email", "unsubscribe", None),
        ("A", at(-100, (9, 0, 0)), "social", "like", None),
        ("A", at(-1, (20, 0, 0)), "web", "visit", Some(3.0)),
        ("A", at(-1, (20, 5, 0)), "web", "cart_abandon", None),
        ("A", at(1, (0, 0, 0)), "app", "visit", None), // after the cutoff: out
        ("D", at(-2, (11, 0, 0)), "web", "visit", None),
        ("G", at(1, (0, 0, 0)), "web", "visit", None), // G exists only after the cutoff
    ];
    let interactions = RecordBatch::try_new(
        schema_ref(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("event_ts", ts_type(), false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
        ]),
        vec![
            Arc::new(StringArray::from(i.iter().map(|r| r.0).collect::<Vec<_>>())),
            ts(i.iter().map(|r| r.1).collect()),
            Arc::new(StringArray::from(i.iter().map(|r| r.2).collect::<Vec<_>>())),
            Arc::new(StringArray::from(i.iter().map(|r| r.3).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(
                i.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("interactions");
    write_parquet(&root.join("in/interactions.parquet"), &interactions);

    let customers = RecordBatch::try_new(
        schema_ref(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("signup_ts", ts_type(), false),
            Field::new("acquisition_channel", DataType::Utf8, false),
            Field::new("acquisition_cost", DataType::Float64, false),
        ]),
        vec![
            Arc::new(StringArray::from(vec!["A", "B", "C", "D", "F"])),
            ts(vec![
                at(-200, (9, 0, 0)),
                at(-10, (0, 0, 0)),
                at(-20, (9, 0, 0)),
                at(-3, (9, 0, 0)),
                at(1, (9, 0, 0)), // F signs up after the cutoff
            ]),
            Arc::new(StringArray::from(vec![
                "referral",
                "organic",
                "paid_search",
                "paid_social",
                "organic",
            ])),
            Arc::new(Float64Array::from(vec![15.0, 4.0, 38.0, 27.0, 1.0])),
        ],
    )
    .expect("customers");
    write_parquet(&root.join("in/customers.parquet"), &customers);
    (dir, root)
}

pub type Row = HashMap<String, Option<f64>>;

/// The features (or labels) of a staged folder, by customer id, every column
/// cast to float64 (booleans as 0/1); the date column is skipped.
pub fn by_customer(dir: &std::path::Path) -> HashMap<String, Row> {
    let batches = read_parquet_dir(dir);
    let mut out: HashMap<String, Row> = HashMap::new();
    for b in &batches {
        let ids = strings(std::slice::from_ref(b), "customer_id");
        for (ci, field) in b.schema().fields().iter().enumerate() {
            if field.name() == "customer_id" || field.name() == "as_of" {
                continue;
            }
            let col = b.column(ci);
            let col = if col.data_type() == &DataType::Boolean {
                arrow::compute::cast(col, &DataType::Int8).expect("bool")
            } else {
                Arc::clone(col)
            };
            let f = arrow::compute::cast(&col, &DataType::Float64).expect("float");
            let f = f.as_any().downcast_ref::<Float64Array>().expect("f64");
            for (ri, id) in ids.iter().enumerate() {
                let v = (!arrow::array::Array::is_null(f, ri)).then(|| f.value(ri));
                out.entry(id.clone().expect("id"))
                    .or_default()
                    .insert(field.name().clone(), v);
            }
        }
    }
    out
}

thread_local! {
    /// The columns a test has checked, so it can prove it checked them all.
    static CHECKED: std::cell::RefCell<std::collections::BTreeSet<String>> = Default::default();
}

#[track_caller]
fn check(rows: &HashMap<String, Row>, customer: &str, expected: &[(&str, Option<f64>)]) {
    CHECKED.with(|c| {
        c.borrow_mut()
            .extend(expected.iter().map(|(col, _)| col.to_string()))
    });
    let row = rows
        .get(customer)
        .unwrap_or_else(|| panic!("no row for {customer}"));
    for (col, want) in expected {
        let got = row
            .get(*col)
            .unwrap_or_else(|| panic!("no column {col}: {:?}", row.keys().collect::<Vec<_>>()));
        match (got, want) {
            (Some(g), Some(w)) => {
                assert!((g - w).abs() < 1e-9, "{customer}.{col}: got {g}, want {w}")
            }
            (None, None) => {}
            _ => panic!("{customer}.{col}: got {got:?}, want {want:?}"),
        }
    }
}

fn run_features(root: &std::path::Path, extra: &[&str]) {
    let cfg = write_config(
        root,
        &[
            ("purchases", "in/purchases.parquet"),
            ("interactions", "in/interactions.parquet"),
            ("customers", "in/customers.parquet"),
        ],
        "out",
        "",
    );
    let cfg = cfg.to_str().expect("utf8").to_string();
    let o = run(&["validate", "--config", &cfg, "--run-date", RUN_DATE]);
    assert_exit(&o, 0);
    let mut args = vec!["features", "--config", &cfg, "--run-date", RUN_DATE];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_exit(&o, 0);
}

#[test]
fn rfm_and_trends_match_hand_computed_values() {
    let (_dir, root) = fixture();
    run_features(&root, &["--as-of", CUTOFF]);
    let f = by_customer(
        &staged_table(&root.join("out"), RUN_DATE, "features-as-of", "features")
            .join(format!("as_of={CUTOFF}")),
    );
    // The spine: A, B, C bought; D signed up and visited; F signed up after
    // the cutoff and G only visited after it: neither exists yet.
    let mut ids: Vec<&String> = f.keys().collect();
    ids.sort();
    assert_eq!(ids, ["A", "B", "C", "D"]);

    // A: order days C-100 (a1: 50+30 = 80), C-40 (a2 20 + a5 5 = 25) and
    // C (a3 40); C-35 holds only a return, so it is no order day; a4 at
    // C+1 00:00:00 is out.
    check(
        &f,
        "A",
        &[
            ("has_orders", Some(1.0)),
            ("recency_days", Some(0.0)),  // last order day = C
            ("tenure_days", Some(100.0)), // C - (C-100)
            ("orders", Some(4.0)),        // a1, a2, a3, a5
            ("repeat_orders", Some(3.0)),
            ("order_days", Some(3.0)),
            ("net_revenue", Some(135.0)),      // 80 + (20 - 10) + 5 + 40
            ("mean_order_value", Some(33.75)), // 135 / 4
            ("max_order_value", Some(80.0)),   // a1
            ("mean_gap_days", Some(50.0)),     // gaps 60 and 40
            ("last_gap_days", Some(40.0)),
            ("btyd_x", Some(2.0)), // 3 order days - 1
            ("btyd_t_x", Some(100.0)),
            ("btyd_t", Some(100.0)),
            ("btyd_m", Some(32.5)),    // repeat days 25 and 40
            ("orders_30d", Some(1.0)), // a3 only: (C-30, C]
            ("revenue_30d", Some(40.0)),
            ("orders_90d", Some(3.0)),   // a2, a5, a3
            ("revenue_90d", Some(55.0)), // 20 + 5 - 10 + 40
            ("orders_180d", Some(4.0)),
            ("revenue_180d", Some(135.0)),
            ("orders_365d", Some(4.0)),
            ("revenue_365d", Some(135.0)),
            ("orders_90d_share_of_365d", Some(0.75)), // 3 / 4
            ("orders_30d_share_of_180d", Some(0.25)), // 1 / 4
            ("revenue_90d_share_of_365d", Some(55.0 / 135.0)),
        ],
    );
    // B: one order of 15 at C-10 00:00:00.
    check(
        &f,
        "B",
        &[
            ("recency_days", Some(10.0)),
            ("tenure_days", Some(10.0)),
            ("orders", Some(1.0)),
            ("repeat_orders", Some(0.0)),
            ("order_days", Some(1.0)),
            ("net_revenue", Some(15.0)),
            ("mean_order_value", Some(15.0)),
            ("max_order_value", Some(15.0)),
            ("mean_gap_days", None), // one order day: no gap
            ("last_gap_days", None),
            ("btyd_x", Some(0.0)),
            ("btyd_t_x", Some(0.0)),
            ("btyd_t", Some(10.0)),
            ("btyd_m", Some(0.0)), // 0 when x = 0
            ("orders_30d", Some(1.0)),
            ("revenue_30d", Some(15.0)),
            ("orders_90d_share_of_365d", Some(1.0)),
        ],
    );
    // C: bought 30 at C-20, returned 50 at C-5 (a return-only day); the
    // refund at C+3 is after the cutoff.
    check(
        &f,
        "C",
        &[
            ("recency_days", Some(20.0)),
            ("order_days", Some(1.0)),
            ("orders", Some(1.0)),
            ("net_revenue", Some(-20.0)), // 30 - 50
            ("mean_order_value", Some(-20.0)),
            ("max_order_value", Some(-20.0)), // c1 = 30 - 50
            ("btyd_x", Some(0.0)),
            ("btyd_t", Some(20.0)),
            ("revenue_30d", Some(-20.0)),
            ("revenue_90d_share_of_365d", None), // 365-day revenue is not positive
        ],
    );
    // Text features.
    let batches = read_parquet_dir(
        &staged_table(&root.join("out"), RUN_DATE, "features-as-of", "features")
            .join(format!("as_of={CUTOFF}")),
    );
    let ids = strings(&batches, "customer_id");
    let a = ids
        .iter()
        .position(|i| i.as_deref() == Some("A"))
        .expect("A");
    for (col, want) in [
        ("preferred_channel", "web"), // 2 orders (a2, a5: "WEB" folds to "web")
        ("top_category", "apparel"),  // 3 of 5 purchase lines
        ("nps_class", "promoter"),    // last NPS 9
        ("acquisition_channel", "referral"),
    ] {
        assert_eq!(strings(&batches, col)[a].as_deref(), Some(want), "A.{col}");
    }
    // A's channels (purchase lines to C): store a1 (80), web a2 + a5 (25),
    // app a3 (40): 4 orders, 145 of purchases.
    check(
        &f,
        "A",
        &[
            ("channels_used", Some(3.0)),
            ("is_omnichannel", Some(1.0)),
            ("order_share_store", Some(0.25)),
            ("order_share_web", Some(0.5)),
            ("order_share_app", Some(0.25)),
            ("order_share_marketplace", Some(0.0)),
            ("order_share_phone", Some(0.0)),
            ("revenue_share_store", Some(80.0 / 145.0)),
            ("revenue_share_web", Some(25.0 / 145.0)),
            ("revenue_share_app", Some(40.0 / 145.0)),
            ("revenue_share_marketplace", Some(0.0)),
            ("revenue_share_phone", Some(0.0)),
            // Categories of the 5 purchase lines: shoes 1, apparel 3, beauty 1.
            ("categories_bought", Some(3.0)),
            ("top_category_share", Some(0.6)),
            // -(0.2 ln 0.2 + 0.6 ln 0.6 + 0.2 ln 0.2) = 0.643775 + 0.306495
            (
                "category_entropy",
                Some(-(2.0 * 0.2 * 0.2f64.ln() + 0.6 * 0.6f64.ln())),
            ),
            // One return line (a2, -10) against 5 purchase lines worth 145.
            ("return_lines", Some(1.0)),
            ("return_rate", Some(0.2)),
            ("returned_value_share", Some(10.0 / 145.0)),
            // Email: sends C-5, C-20, C-60; opens C-5, C-60; a click at C-60.
            ("email_sends_30d", Some(2.0)),
            ("email_opens_30d", Some(1.0)),
            ("email_clicks_30d", Some(0.0)),
            ("email_sends_90d", Some(3.0)),
            ("email_opens_90d", Some(2.0)),
            ("email_clicks_90d", Some(1.0)),
            ("email_open_rate_30d", Some(0.5)),
            ("email_click_rate_30d", Some(0.0)),
            ("email_open_rate_90d", Some(2.0 / 3.0)),
            ("email_click_rate_90d", Some(1.0 / 3.0)),
            ("email_days_since_last_open", Some(5.0)),
            ("email_days_since_last_click", Some(60.0)),
            // SMS: one send at C-10, never opened or clicked.
            ("sms_sends_30d", Some(1.0)),
            ("sms_opens_30d", Some(0.0)),
            ("sms_clicks_30d", Some(0.0)),
            ("sms_sends_90d", Some(1.0)),
            ("sms_opens_90d", Some(0.0)),
            ("sms_clicks_90d", Some(0.0)),
            ("sms_open_rate_30d", Some(0.0)),
            ("sms_click_rate_30d", Some(0.0)),
            ("sms_open_rate_90d", Some(0.0)),
            ("sms_click_rate_90d", Some(0.0)),
            ("sms_days_since_last_open", None),
            ("sms_days_since_last_click", None),
            // Push: nothing sent, so no rates.
            ("push_sends_30d", Some(0.0)),
            ("push_opens_30d", Some(0.0)),
            ("push_clicks_30d", Some(0.0)),
            ("push_sends_90d", Some(0.0)),
            ("push_opens_90d", Some(0.0)),
            ("push_clicks_90d", Some(0.0)),
            ("push_open_rate_30d", None),
            ("push_click_rate_30d", None),
            ("push_open_rate_90d", None),
            ("push_click_rate_90d", None),
            ("push_days_since_last_open", None),
            ("push_days_since_last_click", None),
            // A web visit and a cart abandon at C-1; the app visit at C+1 is out.
            ("web_visits_30d", Some(1.0)),
            ("web_visits_90d", Some(1.0)),
            ("app_visits_30d", Some(0.0)),
            ("app_visits_90d", Some(0.0)),
            ("cart_abandons_30d", Some(1.0)),
            ("cart_abandons_90d", Some(1.0)),
            ("days_since_last_interaction", Some(1.0)),
            // Satisfaction: the like at C-100 is outside 90 days; a ticket and a
            // complaint at C-30; NPS 6 at C-50 then 9 at C-8; CSAT 4; the email
            // unsubscribe at C-4.
            ("social_interactions_90d", Some(0.0)),
            ("social_interactions", Some(1.0)),
            ("support_tickets_90d", Some(1.0)),
            ("complaints_90d", Some(1.0)),
            ("last_nps", Some(9.0)),
            ("last_csat", Some(4.0)),
            ("unsubscribed_email", Some(1.0)),
            ("unsubscribed_sms", Some(0.0)),
            ("unsubscribed_push", Some(0.0)),
            // Customer: signed up at C-200 09:00, through a referral that cost 15.
            ("signup_tenure_days", Some(200.0)),
            ("acquisition_cost", Some(15.0)),
        ],
    );
    // C's one purchase line and its larger return: rate 1, value share 50/30.
    check(
        &f,
        "C",
        &[
            ("channels_used", Some(1.0)),
            ("is_omnichannel", Some(0.0)),
            ("order_share_marketplace", Some(1.0)),
            ("revenue_share_marketplace", Some(1.0)),
            ("categories_bought", Some(1.0)),
            ("top_category_share", Some(1.0)),
            ("category_entropy", Some(0.0)),
            ("return_lines", Some(1.0)),
            ("return_rate", Some(1.0)),
            ("returned_value_share", Some(50.0 / 30.0)),
        ],
    );
    // B has no interactions at all (the table exists): counts 0, rates and
    // recencies null, flags false.
    check(
        &f,
        "B",
        &[
            ("email_sends_90d", Some(0.0)),
            ("email_open_rate_90d", None),
            ("days_since_last_interaction", None),
            ("last_nps", None),
            ("last_csat", None),
            ("unsubscribed_email", Some(0.0)),
            ("signup_tenure_days", Some(10.0)),
            ("return_lines", Some(0.0)),
            ("return_rate", Some(0.0)),
        ],
    );
    check(
        &f,
        "D",
        &[
            ("web_visits_30d", Some(1.0)),
            ("days_since_last_interaction", Some(2.0)),
            ("signup_tenure_days", Some(3.0)),
            ("acquisition_cost", Some(27.0)),
            ("channels_used", None),
            ("return_lines", Some(0.0)),
            ("return_rate", None),
        ],
    );
    // D: a prospect (signup, a visit, no order before the cutoff): neutral.
    check(
        &f,
        "D",
        &[
            ("has_orders", Some(0.0)),
            ("orders", Some(0.0)),
            ("order_days", Some(0.0)),
            ("net_revenue", Some(0.0)),
            ("orders_365d", Some(0.0)),
            ("revenue_365d", Some(0.0)),
            ("recency_days", None),
            ("tenure_days", None),
            ("btyd_x", None),
        ],
    );
    // Every numeric feature column was checked above against a hand-computed
    // value (text columns are checked separately, by value).
    let text = [
        "preferred_channel",
        "top_category",
        "nps_class",
        "acquisition_channel",
    ];
    let unchecked: Vec<String> = f["A"]
        .keys()
        .filter(|c| !CHECKED.with(|k| k.borrow().contains(*c)) && !text.contains(&c.as_str()))
        .cloned()
        .collect();
    assert!(
        unchecked.is_empty(),
        "features without a hand-computed check: {unchecked:?}"
    );
}

#[test]
fn labels_cover_the_horizon_after_the_cutoff() {
    let (_dir, root) = fixture();
    run_features(&root, &["--as-of", CUTOFF, "--label-horizon", "10"]);
    let l = by_customer(
        &staged_table(&root.join("out"), RUN_DATE, "features-as-of", "labels")
            .join(format!("as_of={CUTOFF}/horizon=10")),
    );
    // The population: customers with an order day on or before C (not D).
    let mut ids: Vec<&String> = l.keys().collect();
    ids.sort();
    assert_eq!(ids, ["A", "B", "C"]);
    // A: a4 (1000) at C+1 00:00:00, the first second of the horizon.
    check(
        &l,
        "A",
        &[
            ("churned", Some(0.0)),
            ("order_days", Some(1.0)),
            ("orders", Some(1.0)),
            ("revenue", Some(1000.0)),
        ],
    );
    check(
        &l,
        "B",
        &[
            ("churned", Some(1.0)),
            ("order_days", Some(0.0)),
            ("revenue", Some(0.0)),
        ],
    );
    // C: only a refund of 7 in the horizon: no order day, revenue max(0, -7).
    check(
        &l,
        "C",
        &[
            ("churned", Some(1.0)),
            ("order_days", Some(0.0)),
            ("revenue", Some(0.0)),
        ],
    );
    // A horizon past the run date is refused.
    let cfg = root.join("job.toml");
    let o = run(&[
        "features",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
        "--as-of",
        CUTOFF,
        "--label-horizon",
        "11",
    ]);
    assert_exit(&o, 2);
}

#[test]
fn later_events_change_no_feature() {
    // Generated data: every table has events after the cutoff (orders,
    // interactions, signups). Features as of C computed with data up to C and
    // with 120 more days of data must be identical.
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let o = run(&[
        "generate",
        "--customers",
        "1500",
        "--seed",
        "99",
        "--start",
        "2024-01-01",
        "--end",
        "2025-12-31",
        "--out",
        data.to_str().expect("utf8"),
    ]);
    assert_exit(&o, 0);
    let cutoff = "2025-09-02";
    let mut tables = Vec::new();
    for (run_date, name) in [(cutoff, "early"), ("2025-12-31", "late")] {
        let root = dir.path().join(name);
        std::fs::create_dir_all(&root).expect("mkdir");
        let p = |t: &str| data.join(t).display().to_string();
        let (pp, pi, pc) = (p("purchases"), p("interactions"), p("customers"));
        let cfg = write_config(
            &root,
            &[
                ("purchases", pp.as_str()),
                ("interactions", pi.as_str()),
                ("customers", pc.as_str()),
            ],
            "out",
            "[validation]\nmax_reject_share = 1.0\n",
        );
        let cfg = cfg.to_str().expect("utf8").to_string();
        assert_exit(
            &run(&["validate", "--config", &cfg, "--run-date", run_date]),
            0,
        );
        assert_exit(
            &run(&[
                "features",
                "--config",
                &cfg,
                "--run-date",
                run_date,
                "--as-of",
                cutoff,
            ]),
            0,
        );
        tables.push(by_customer(
            &staged_table(&root.join("out"), run_date, "features-as-of", "features")
                .join(format!("as_of={cutoff}")),
        ));
    }
    assert!(tables[0].len() > 500, "{}", tables[0].len());
    assert_same_features(
        &tables[0],
        &tables[1],
        "with data to the cutoff",
        "with later data",
    );
}

/// Two feature tables hold the same customers and values (to 1e-9 relative).
pub fn assert_same_features(
    a: &HashMap<String, Row>,
    b: &HashMap<String, Row>,
    what_a: &str,
    what_b: &str,
) {
    assert_eq!(a.len(), b.len(), "the spine differs: {what_a} vs {what_b}");
    for (id, row) in a {
        let other = b.get(id).unwrap_or_else(|| panic!("{id} missing {what_b}"));
        assert_eq!(row.len(), other.len(), "{id}: columns differ");
        for (col, v) in row {
            let w = other
                .get(col)
                .unwrap_or_else(|| panic!("{col} missing {what_b}"));
            let same = match (v, w) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                (None, None) => true,
                _ => false,
            };
            assert!(same, "{id}.{col}: {v:?} {what_a}, {w:?} {what_b}");
        }
    }
}

#[test]
fn time_zones_are_instants_and_days_are_utc() {
    // Timestamps stored with a +01:00 zone: 00:30 local on C+1 is 23:30 UTC
    // on C (in); 01:00 local on C+1 is midnight UTC (out).
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let zone = DataType::Timestamp(TimeUnit::Microsecond, Some("+01:00".into()));
    let batch = RecordBatch::try_new(
        schema_ref(vec![
            Field::new("order_id", DataType::Utf8, false),
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("order_ts", zone, false),
            Field::new("amount", DataType::Float64, false),
        ]),
        vec![
            Arc::new(StringArray::from(vec!["x0", "x1", "x2"])),
            Arc::new(StringArray::from(vec!["X", "X", "X"])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    at(-3, (12, 0, 0)),
                    at(0, (23, 30, 0)),
                    at(1, (0, 0, 0)),
                ])
                .with_timezone("+01:00"),
            ),
            Arc::new(Float64Array::from(vec![5.0, 10.0, 20.0])),
        ],
    )
    .expect("batch");
    write_parquet(&root.join("in/purchases.parquet"), &batch);
    let cfg = write_config(root, &[("purchases", "in/purchases.parquet")], "out", "");
    let cfg = cfg.to_str().expect("utf8").to_string();
    assert_exit(
        &run(&["validate", "--config", &cfg, "--run-date", RUN_DATE]),
        0,
    );
    let o = run(&[
        "features",
        "--config",
        &cfg,
        "--run-date",
        RUN_DATE,
        "--as-of",
        CUTOFF,
    ]);
    assert_exit(&o, 0);
    let f = by_customer(
        &staged_table(&root.join("out"), RUN_DATE, "features-as-of", "features")
            .join(format!("as_of={CUTOFF}")),
    );
    check(
        &f,
        "X",
        &[
            ("orders", Some(2.0)),       // x0 and x1
            ("net_revenue", Some(15.0)), // 5 + 10
            ("recency_days", Some(0.0)), // x1 is on C in UTC
            ("btyd_t_x", Some(3.0)),     // C - (C-3)
            // Purchases only: the engagement group is null, not 0.
            ("email_sends_30d", None),
            ("unsubscribed_email", None),
            ("signup_tenure_days", None),
        ],
    );
}
