//! Property: segments are facts about a customer's values, never about
//! their id (docs/segments.md, "Scores"). Over 40 seeded cases of customers
//! drawn from a few values each (so that ties are the rule, and one value
//! often holds more than a fifth of the customers), the scores SQL of the
//! default `[segments]` config gives:
//! - every R, F and M score and every CLV decile as the rule computes it
//!   here independently: 1 + floor(k * b / n), b the number of customers
//!   with a strictly worse value, n the number scored;
//! - identical scores, decile, RFM segment and value tier to two customers
//!   with identical values;
//! - the same outputs to every customer after the ids are renamed (a
//!   random new name each, which reorders them) and the rows shuffled.
//!
//! The cases come from a seeded generator (splitmix64): the same cases on
//! every run, a failing case named in the message.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::prelude::SessionContext;
use fidelis_core::marketing::SegmentsConfig;

mod common;
use common::Cases;

/// One customer's values: has an order day, recency, order days, net
/// revenue, CLV (None: no CLV), churn probability.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Values {
    has_orders: bool,
    recency: i64,
    order_days: i64,
    revenue: f64,
    clv: Option<f64>,
    churn: f64,
}

/// What the scores give a customer: r, f, m, decile, segment, value tier.
type Out = (
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<String>,
);

impl Cases {
    /// 1 to 300 customers; each value from a handful, skewed towards the
    /// smallest (most customers order once).
    fn customers(&mut self) -> Vec<Values> {
        let n = 1 + self.below(300);
        let kinds = 1 + self.below(6);
        (0..n)
            .map(|_| {
                let skewed = |c: &mut Self| c.below(kinds).min(c.below(kinds));
                Values {
                    has_orders: self.below(10) > 0,
                    recency: self.below(kinds) as i64 * 30,
                    order_days: 1 + skewed(self) as i64,
                    revenue: skewed(self) as f64 * 12.5,
                    clv: (self.below(8) > 0).then(|| skewed(self) as f64 * 40.0),
                    churn: self.below(5) as f64 / 5.0,
                }
            })
            .collect()
    }
}

async fn scores(ids: &[String], values: &[Values]) -> BTreeMap<String, Out> {
    let ctx = SessionContext::new();
    let id = Arc::new(StringArray::from(ids.to_vec()));
    let mut reasons = ListBuilder::new(StringBuilder::new());
    for _ in values {
        reasons.values().append_value("recency_days");
        reasons.append(true);
    }
    let base = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("churn_probability", DataType::Float64, true),
            Field::new("clv_12m", DataType::Float64, true),
            Field::new(
                "top_reasons",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
            Field::new("model_version", DataType::Utf8, false),
        ])),
        vec![
            id.clone(),
            Arc::new(Float64Array::from_iter_values(
                values.iter().map(|v| v.churn),
            )),
            Arc::new(Float64Array::from_iter(values.iter().map(|v| v.clv))),
            Arc::new(reasons.finish()),
            Arc::new(StringArray::from(vec!["m"; values.len()])),
        ],
    )
    .expect("base");
    let ordered = |v: &Values, x: i64| v.has_orders.then_some(x);
    let features = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("has_orders", DataType::Boolean, false),
            Field::new("recency_days", DataType::Int64, true),
            Field::new("order_days", DataType::Int64, true),
            Field::new("net_revenue", DataType::Float64, true),
        ])),
        vec![
            id,
            Arc::new(BooleanArray::from_iter(
                values.iter().map(|v| Some(v.has_orders)),
            )),
            Arc::new(Int64Array::from_iter(
                values.iter().map(|v| ordered(v, v.recency)),
            )),
            Arc::new(Int64Array::from_iter(
                values.iter().map(|v| ordered(v, v.order_days)),
            )),
            Arc::new(Float64Array::from_iter(
                values.iter().map(|v| v.has_orders.then_some(v.revenue)),
            )),
        ],
    )
    .expect("features");
    let sql = fidelis_engine::scores::scores_sql(&SegmentsConfig::default(), &base.schema())
        .expect("sql");
    ctx.register_batch("base", base).expect("base");
    ctx.register_batch("features", features).expect("features");
    let batches = ctx
        .sql(&sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let mut out = BTreeMap::new();
    for b in &batches {
        let int = |name: &str| {
            arrow::compute::cast(b.column_by_name(name).expect(name), &DataType::Int32)
                .expect("int")
        };
        let text = |name: &str| {
            arrow::compute::cast(b.column_by_name(name).expect(name), &DataType::Utf8)
                .expect("text")
        };
        let (r, f, m, d) = (
            int("r_score"),
            int("f_score"),
            int("m_score"),
            int("clv_decile"),
        );
        let (seg, tier, ids) = (text("rfm_segment"), text("value_tier"), text("customer_id"));
        let i32s = |a: &Arc<dyn Array>, i: usize| {
            let a = a.as_primitive::<Int32Type>();
            a.is_valid(i).then(|| a.value(i))
        };
        let strs = |a: &Arc<dyn Array>, i: usize| {
            let a = a.as_string::<i32>();
            a.is_valid(i).then(|| a.value(i).to_string())
        };
        for i in 0..b.num_rows() {
            out.insert(
                strs(&ids, i).expect("id"),
                (
                    i32s(&r, i),
                    i32s(&f, i),
                    i32s(&m, i),
                    i32s(&d, i),
                    strs(&seg, i),
                    strs(&tier, i),
                ),
            );
        }
    }
    out
}

/// The rule, computed here: 1 + floor(k * (customers worse than `x`) / n).
fn expected<T: PartialOrd + Copy>(all: &[T], x: T, k: u32, worse: impl Fn(T, T) -> bool) -> i32 {
    let b = all.iter().filter(|&&y| worse(y, x)).count();
    1 + (k as usize * b / all.len()) as i32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_follow_the_values_and_never_the_ids() {
    let mut cases = Cases(20_261_202);
    for case in 0..40 {
        let values = cases.customers();
        let ids: Vec<String> = (0..values.len()).map(|i| format!("c{i:05}")).collect();
        let got = scores(&ids, &values).await;
        assert_eq!(got.len(), values.len(), "case {case}");

        let ordered: Vec<&Values> = values.iter().filter(|v| v.has_orders).collect();
        let rec: Vec<i64> = ordered.iter().map(|v| v.recency).collect();
        let freq: Vec<i64> = ordered.iter().map(|v| v.order_days).collect();
        let rev: Vec<f64> = ordered.iter().map(|v| v.revenue).collect();
        let clvs: Vec<f64> = values.iter().filter_map(|v| v.clv).collect();
        for (id, v) in ids.iter().zip(&values) {
            let (r, f, m, d, seg, _) = &got[id];
            let ctx = format!("case {case}, {id}: {v:?}");
            if v.has_orders {
                assert_eq!(
                    *r,
                    Some(expected(&rec, v.recency, 5, |y, x| y > x)),
                    "{ctx}"
                );
                assert_eq!(
                    *f,
                    Some(expected(&freq, v.order_days, 5, |y, x| y < x)),
                    "{ctx}"
                );
                assert_eq!(
                    *m,
                    Some(expected(&rev, v.revenue, 5, |y, x| y < x)),
                    "{ctx}"
                );
                assert!(seg.is_some(), "{ctx}: no segment");
            } else {
                assert_eq!((r, f, m, seg), (&None, &None, &None, &None), "{ctx}");
            }
            let want = v.clv.map(|c| expected(&clvs, c, 10, |y, x| y > x));
            assert_eq!(*d, want, "{ctx}");
        }
        // Identical values, identical outputs.
        for (i, a) in values.iter().enumerate() {
            for (j, b) in values.iter().enumerate().skip(i + 1) {
                let same = Values { churn: 0.0, ..*a } == Values { churn: 0.0, ..*b };
                if same && a.churn == b.churn {
                    assert_eq!(got[&ids[i]], got[&ids[j]], "case {case}: {a:?}");
                }
            }
        }

        // Renamed ids in a shuffled order: the same outputs per customer.
        let mut order: Vec<usize> = (0..values.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, cases.below(i as u64 + 1) as usize);
        }
        let renamed: Vec<String> = order
            .iter()
            .map(|&i| format!("{:016x}-{i}", cases.next()))
            .collect();
        let shuffled: Vec<Values> = order.iter().map(|&i| values[i]).collect();
        let again = scores(&renamed, &shuffled).await;
        for (k, &i) in order.iter().enumerate() {
            assert_eq!(
                again[&renamed[k]], got[&ids[i]],
                "case {case}: {} renamed {}",
                ids[i], renamed[k]
            );
        }
    }
}
