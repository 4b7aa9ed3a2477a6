//! The simulated truth agrees with the simulation's parameters, and the
//! signals the models should find are really in the data.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use fidelis_sim::{SimParams, Span, simulate_chunk};

const DAY: i64 = 86_400_000_000;

fn f64s(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = b.column_by_name(name).expect("column");
    let a = a.as_primitive::<Float64Type>();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect()
}

fn bools(b: &RecordBatch, name: &str) -> Vec<bool> {
    let a = b.column_by_name(name).expect("column").as_boolean();
    (0..a.len()).map(|i| a.value(i)).collect()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<String> {
    let a = b.column_by_name(name).expect("column").as_string::<i32>();
    (0..a.len()).map(|i| a.value(i).to_string()).collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

fn simulate(n: u64, params: &SimParams) -> fidelis_sim::ChunkBatches {
    let span = Span {
        start_micros: 0,
        data_days: 3.0 * 365.0,
    };
    simulate_chunk(0..n, 2024, params, &span)
}

/// The latent draws follow their distributions: lambda ~ Gamma(r, alpha) has
/// mean r/alpha and sd sqrt(r)/alpha; p0 ~ Beta(a, b) has mean a/(a+b).
/// Tolerance: 4 standard errors of the sample mean.
#[test]
fn latent_draws_match_their_distributions() {
    let p = SimParams::default();
    let b = simulate(20_000, &p).truth;
    let lambda: Vec<f64> = f64s(&b, "lambda_per_day").into_iter().flatten().collect();
    let p0: Vec<f64> = f64s(&b, "p0").into_iter().flatten().collect();
    let n = lambda.len() as f64;
    let (m_l, sd_l) = (p.r / p.alpha, p.r.sqrt() / p.alpha);
    assert!(
        (mean(&lambda) - m_l).abs() < 4.0 * sd_l / n.sqrt(),
        "lambda mean {} vs {m_l}",
        mean(&lambda)
    );
    assert!(
        (sd(&lambda) - sd_l).abs() / sd_l < 0.05,
        "lambda sd {} vs {sd_l}",
        sd(&lambda)
    );
    let m_p = p.a / (p.a + p.b);
    let sd_p = (p.a * p.b / ((p.a + p.b).powi(2) * (p.a + p.b + 1.0))).sqrt();
    assert!(
        (mean(&p0) - m_p).abs() < 4.0 * sd_p / n.sqrt(),
        "p0 mean {} vs {m_p}",
        mean(&p0)
    );
}

/// Dropout after the first purchase is exponential with rate lambda * p (the
/// number of repeat purchases before dropout is geometric), so each buyer is
/// alive at the end with probability exp(-lambda p T). The observed count of
/// alive customers must match the sum of those probabilities within 4
/// standard deviations of a sum of Bernoullis.
#[test]
fn share_alive_matches_the_bgnbd_process() {
    let p = SimParams::default();
    let b = simulate(20_000, &p).truth;
    let lambda = f64s(&b, "lambda_per_day");
    let dropout = f64s(&b, "dropout_p");
    let exposure = f64s(&b, "exposure_days");
    let alive = bools(&b, "alive_at_end");
    let (mut expected, mut var, mut observed, mut buyers) = (0.0, 0.0, 0.0, 0);
    for i in 0..b.num_rows() {
        let Some(t) = exposure[i] else {
            assert!(!alive[i], "a customer without a purchase is not alive");
            continue;
        };
        let q = (-lambda[i].expect("l") * dropout[i].expect("p") * t).exp();
        expected += q;
        var += q * (1.0 - q);
        observed += f64::from(u8::from(alive[i]));
        buyers += 1;
    }
    assert!(buyers > 15_000, "{buyers}");
    let z = (observed - expected) / var.sqrt();
    assert!(
        z.abs() < 4.0,
        "alive {observed} vs expected {expected:.1} (z = {z:.2})"
    );
    // The share alive is a real mix, not all or nothing.
    let share = observed / f64::from(buyers);
    assert!((0.15..0.85).contains(&share), "{share}");
}

/// Order values: the mean order (all lines of an order) is p * gamma / (q-1).
#[test]
fn order_values_follow_gamma_gamma() {
    let p = SimParams::default();
    let b = simulate(8_000, &p).purchases;
    let amount = f64s(&b, "amount");
    let order = strs(&b, "order_id");
    let mut totals: HashMap<String, f64> = HashMap::new();
    for (o, a) in order.iter().zip(&amount) {
        let a = a.expect("amount");
        if a > 0.0 {
            *totals.entry(o.clone()).or_default() += a;
        }
    }
    // Order values are heavy tailed (nu is gamma): compare the mean with a 10%
    // tolerance on many thousands of orders.
    let values: Vec<f64> = totals.values().copied().collect();
    let m = mean(&values);
    assert!(values.len() > 20_000, "{}", values.len());
    assert!(
        (m - p.mean_order_value()).abs() / p.mean_order_value() < 0.1,
        "mean order {m} vs {}",
        p.mean_order_value()
    );
}

/// Customers who dropped out open fewer emails in their last 90 days than
/// customers still alive, and unhappy customers complain more: the signal the
/// engagement features are meant to find.
#[test]
fn engagement_and_satisfaction_carry_signal_about_dropout() {
    let p = SimParams::default();
    let c = simulate(10_000, &p);
    let end = (3.0 * 365.0 * DAY as f64) as i64;
    let truth = &c.truth;
    let ids = strs(truth, "customer_id");
    let alive = bools(truth, "alive_at_end");
    let exposure = f64s(truth, "exposure_days");
    let sat = f64s(truth, "satisfaction");
    let status: HashMap<&str, (bool, bool, f64)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                id.as_str(),
                (exposure[i].is_some(), alive[i], sat[i].expect("s")),
            )
        })
        .collect();
    let ev = &c.interactions;
    let cid = strs(ev, "customer_id");
    let kind = strs(ev, "event_type");
    let chan = strs(ev, "channel");
    let ts = ev
        .column_by_name("event_ts")
        .expect("ts")
        .as_primitive::<TimestampMicrosecondType>();
    let mut per: HashMap<&str, [f64; 3]> = HashMap::new();
    for i in 0..ev.num_rows() {
        let e = per.entry(cid[i].as_str()).or_default();
        if chan[i] == "email" && ts.value(i) >= end - 90 * DAY {
            match kind[i].as_str() {
                "send" => e[0] += 1.0,
                "open" => e[1] += 1.0,
                _ => {}
            }
        }
        if kind[i] == "complaint" {
            e[2] += 1.0;
        }
    }
    let (mut open_alive, mut open_dead) = (vec![], vec![]);
    let (mut compl_happy, mut compl_unhappy) = (vec![], vec![]);
    for (id, (buyer, is_alive, s)) in &status {
        let e = per.get(id).copied().unwrap_or_default();
        if *buyer && e[0] >= 3.0 {
            let rate = e[1] / e[0];
            if *is_alive {
                open_alive.push(rate)
            } else {
                open_dead.push(rate)
            }
        }
        if *buyer {
            if *s > 0.5 {
                compl_happy.push(e[2])
            } else if *s < -0.5 {
                compl_unhappy.push(e[2])
            }
        }
    }
    assert!(open_alive.len() > 300 && open_dead.len() > 300);
    assert!(
        mean(&open_alive) > 2.0 * mean(&open_dead),
        "open rate alive {} dead {}",
        mean(&open_alive),
        mean(&open_dead)
    );
    assert!(
        mean(&compl_unhappy) > mean(&compl_happy),
        "complaints unhappy {} happy {}",
        mean(&compl_unhappy),
        mean(&compl_happy)
    );
}

/// The truth counts only what happens after the end, and revenue is never
/// negative; no data row is after the end.
#[test]
fn data_stops_at_the_end_and_truth_starts_after_it() {
    let p = SimParams::default();
    let c = simulate(3_000, &p);
    let end = (3.0 * 365.0 * DAY as f64) as i64;
    for (b, col) in [(&c.purchases, "order_ts"), (&c.interactions, "event_ts")] {
        let ts = b
            .column_by_name(col)
            .expect("ts")
            .as_primitive::<TimestampMicrosecondType>();
        assert!(ts.iter().flatten().all(|t| t < end), "{col} after the end");
    }
    let r90 = f64s(&c.truth, "revenue_90d");
    let r365 = f64s(&c.truth, "revenue_365d");
    let d90 = c
        .truth
        .column_by_name("order_days_90d")
        .expect("c")
        .as_primitive::<Int64Type>();
    let d365 = c
        .truth
        .column_by_name("order_days_365d")
        .expect("c")
        .as_primitive::<Int64Type>();
    for i in 0..c.truth.num_rows() {
        assert!(
            r90[i].expect("r") >= 0.0 && r365[i].expect("r") >= r90[i].expect("r") - 1e-9
                || d365.value(i) >= d90.value(i)
        );
        assert!(d365.value(i) >= d90.value(i));
    }
    assert!(d90.iter().flatten().sum::<i64>() > 0);
}
