//! Simulated feature and label tables shared by the model-stage tests.

#![allow(dead_code)]

use fidelis_train::backtest::Window;
use fidelis_train::table::{FeatureTable, LabelTable};

/// A simulated BG/NBD population (CDNOW-like parameters, days), observed
/// for 100-365 days; `one_order` keeps only first orders.
pub fn table(n: usize, one_order: bool) -> FeatureTable {
    use rand::{Rng, SeedableRng};
    use rand_distr::{Beta, Distribution, Gamma};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let lambda = Gamma::new(0.5, 1.0 / 20.0).expect("gamma");
    let drop = Beta::new(0.8, 2.4).expect("beta");
    let ids: Vec<String> = (0..n).map(|i| format!("c{i:05}")).collect();
    let names = [
        "btyd_x",
        "btyd_t_x",
        "btyd_t",
        "btyd_m",
        "recency_days",
        "tenure_days",
        "orders",
    ];
    let mut cols: Vec<(String, Vec<f64>)> =
        names.iter().map(|c| (c.to_string(), Vec::new())).collect();
    for _ in 0..n {
        let t = rng.random_range(100..=365) as f64;
        let (l, p): (f64, f64) = (lambda.sample(&mut rng), drop.sample(&mut rng));
        let (mut now, mut x, mut t_x) = (0.0_f64, 0.0, 0.0);
        loop {
            if one_order {
                break;
            }
            now += -rng.random::<f64>().max(1e-300).ln() / l.max(1e-9);
            if now > t {
                break;
            }
            if now.floor() > t_x {
                x += 1.0;
                t_x = now.floor();
            }
            if rng.random::<f64>() < p {
                break;
            }
        }
        let m = if x > 0.0 {
            20.0 + rng.random_range(0.0..10.0)
        } else {
            0.0
        };
        let values = [x, t_x, t, m, t - t_x, t, x + 1.0];
        for (c, v) in cols.iter_mut().zip(values) {
            c.1.push(v);
        }
    }
    FeatureTable {
        ids,
        numeric: cols,
        text: Vec::new(),
        has_orders: vec![true; n],
    }
}

pub fn labels(t: &FeatureTable, churned: impl Fn(usize) -> bool) -> LabelTable {
    LabelTable {
        ids: t.ids.clone(),
        churned: (0..t.len()).map(&churned).collect(),
        revenue: (0..t.len())
            .map(|i| if churned(i) { 0.0 } else { 30.0 })
            .collect(),
    }
}

/// A backtest window: the features at `as_of` and the labels after it.
pub fn window<'a>(
    as_of: &'a str,
    features: &'a FeatureTable,
    labels: &'a LabelTable,
) -> Window<'a> {
    Window {
        as_of,
        features,
        labels,
    }
}
