//! CDNOW sample loader for the integration tests (std only).
//!
//! The fixture is `tests/fixtures/CDNOW_sample.txt` (see the README next to
//! it): whitespace-separated `master_id sample_id YYYYMMDD cds dollars`.

#![allow(dead_code)]

use std::collections::BTreeMap;

use fidelis_models::Customer;

/// One order line.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    pub id: u32,
    pub day: i64,
    pub dollars: f64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYYMMDD` -> days since epoch.
pub fn parse_date(s: &str) -> i64 {
    let v: i64 = s.parse().expect("date");
    days_from_civil(v / 10_000, (v / 100) % 100, v % 100)
}

pub fn load_orders() -> Vec<Order> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/CDNOW_sample.txt"
    );
    let text = std::fs::read_to_string(path).expect("read CDNOW fixture");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "bad line {l:?}");
            Order {
                id: f[0].parse().expect("master id"),
                day: parse_date(f[2]),
                dollars: f[4].parse().expect("dollars"),
            }
        })
        .collect()
}

/// Per customer: day -> summed dollars, for orders on days <= `cutoff`.
pub fn day_totals(orders: &[Order], cutoff: i64) -> BTreeMap<u32, BTreeMap<i64, f64>> {
    let mut by: BTreeMap<u32, BTreeMap<i64, f64>> = BTreeMap::new();
    for o in orders.iter().filter(|o| o.day <= cutoff) {
        *by.entry(o.id).or_default().entry(o.day).or_insert(0.0) += o.dollars;
    }
    by
}

/// BTYD summary at `cutoff` (days): ids and customers. `m` = mean of the
/// repeat (non-first) day totals, 0 when x = 0.
pub fn summary(orders: &[Order], cutoff: i64) -> (Vec<u32>, Vec<Customer>) {
    let by = day_totals(orders, cutoff);
    let mut ids = Vec::new();
    let mut customers = Vec::new();
    for (id, days) in by {
        let first = *days.keys().next().expect("non-empty");
        let last = *days.keys().next_back().expect("non-empty");
        let x = (days.len() - 1) as u32;
        let m = if x == 0 {
            0.0
        } else {
            days.values().skip(1).sum::<f64>() / f64::from(x)
        };
        ids.push(id);
        customers.push(
            Customer::new(x, (last - first) as f64, (cutoff - first) as f64, m).expect("valid"),
        );
    }
    (ids, customers)
}

/// Labels in the window `(from, to]`: churned (no order day) and revenue
/// (max(0, sum of amounts)), aligned with `ids`.
pub fn window_labels(orders: &[Order], ids: &[u32], from: i64, to: i64) -> (Vec<bool>, Vec<f64>) {
    let mut rev: BTreeMap<u32, (bool, f64)> = BTreeMap::new();
    for o in orders.iter().filter(|o| o.day > from && o.day <= to) {
        let e = rev.entry(o.id).or_insert((false, 0.0));
        e.0 = true;
        e.1 += o.dollars;
    }
    ids.iter()
        .map(|id| match rev.get(id) {
            Some(&(_, r)) => (false, r.max(0.0)),
            None => (true, 0.0),
        })
        .unzip()
}

pub fn cutoff() -> i64 {
    days_from_civil(1997, 9, 30)
}
