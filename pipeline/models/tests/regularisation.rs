//! The logistic model's L2 penalty chosen by cross-validation
//! (`choose_l2`), on simulated data with a known truth: a few informative
//! features among many of pure noise.

use fidelis_models::{FeatureMatrix, L2Choice, LogisticChurnModel, LogisticParams, choose_l2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` rows of `informative` features with log-odds coefficient 1 each and
/// `noise` features that carry nothing; standard normal columns.
fn simulate(n: usize, informative: usize, noise: usize, seed: u64) -> (FeatureMatrix, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let p = informative + noise;
    let mut normal = || -> f64 {
        // Box-Muller.
        let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut values = ndarray::Array2::<f64>::zeros((n, p));
    let mut y = Vec::with_capacity(n);
    let mut draws = Vec::with_capacity(n);
    for i in 0..n {
        let mut eta = -0.5;
        for j in 0..p {
            let v = normal();
            values[[i, j]] = v;
            if j < informative {
                eta += v;
            }
        }
        draws.push(eta);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    for eta in draws {
        y.push(rng.random::<f64>() < 1.0 / (1.0 + (-eta).exp()));
    }
    let names = (0..p).map(|j| format!("x{j}")).collect();
    (FeatureMatrix::new(names, values).expect("matrix"), y)
}

fn keys(n: usize) -> Vec<u64> {
    (0..n as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect()
}

fn log_loss(model: &LogisticChurnModel, x: &FeatureMatrix, y: &[bool]) -> f64 {
    let p = model.predict_proba(x).expect("predict");
    p.iter()
        .zip(y)
        .map(|(&p, &c)| {
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            -if c { p.ln() } else { (1.0 - p).ln() }
        })
        .sum::<f64>()
        / y.len() as f64
}

fn fit_with(choice: &L2Choice, x: &FeatureMatrix, y: &[bool]) -> LogisticChurnModel {
    let params = LogisticParams {
        l2_per_row: Some(choice.l2_per_row),
        ..LogisticParams::default()
    };
    LogisticChurnModel::fit(x, y, &params).expect("fit")
}

#[test]
fn few_rows_and_many_noise_columns_get_a_strong_penalty_that_generalises_better() {
    let (x, y) = simulate(300, 2, 80, 1);
    let choice = choose_l2(&x, &y, &keys(300), &LogisticParams::default()).expect("choice");
    assert_eq!(choice.rows, 300);
    assert_eq!(choice.grid.len(), fidelis_models::churn::L2_GRID.len());
    assert!(
        choice.l2_per_row >= 1e-2,
        "80 noise columns on 300 rows: chose {} ({:?})",
        choice.l2_per_row,
        choice.grid
    );
    // Judged on fresh data of the same truth: the chosen penalty beats the
    // weakest of the grid (practically unpenalised).
    let (xf, yf) = simulate(20_000, 2, 80, 2);
    let chosen = fit_with(&choice, &x, &y);
    let weak = LogisticChurnModel::fit(
        &x,
        &y,
        &LogisticParams {
            l2_per_row: Some(1e-5),
            ..LogisticParams::default()
        },
    )
    .expect("fit");
    let (lc, lw) = (log_loss(&chosen, &xf, &yf), log_loss(&weak, &xf, &yf));
    assert!(
        lc < lw - 0.02,
        "fresh log loss: chosen {lc:.4}, weak {lw:.4}"
    );
}

#[test]
fn many_rows_and_no_noise_get_a_weak_penalty() {
    let (x, y) = simulate(20_000, 4, 0, 3);
    let choice = choose_l2(&x, &y, &keys(20_000), &LogisticParams::default()).expect("choice");
    assert!(
        choice.l2_per_row <= 1e-3,
        "4 informative columns on 20,000 rows: chose {} ({:?})",
        choice.l2_per_row,
        choice.grid
    );
}

#[test]
fn the_folds_follow_the_keys_and_the_choice_is_deterministic() {
    let (x, y) = simulate(600, 2, 20, 4);
    let k = keys(600);
    let a = choose_l2(&x, &y, &k, &LogisticParams::default()).expect("choice");
    let b = choose_l2(&x, &y, &k, &LogisticParams::default()).expect("choice");
    assert_eq!(a, b);
    // Rows given the same key are held out together: duplicating every row
    // with its own key changes nothing but the scale (each fold's training
    // rows and held-out rows are both doubled), so the losses stay equal.
    let (x2, y2) = {
        let v = ndarray::concatenate(ndarray::Axis(0), &[x.values().view(), x.values().view()])
            .expect("stack");
        let y2: Vec<bool> = y.iter().chain(&y).copied().collect();
        (FeatureMatrix::new(x.names().to_vec(), v).expect("m"), y2)
    };
    let k2: Vec<u64> = k.iter().chain(&k).copied().collect();
    let c = choose_l2(&x2, &y2, &k2, &LogisticParams::default()).expect("choice");
    for (s, t) in a.grid.iter().zip(&c.grid) {
        assert!(
            (s.log_loss - t.log_loss).abs() < 1e-4,
            "{} vs {} at {}",
            s.log_loss,
            t.log_loss,
            s.l2_per_row
        );
    }
    // Keys of the wrong length are an error naming them.
    let e = choose_l2(&x, &y, &k[1..], &LogisticParams::default()).expect_err("length");
    assert!(e.to_string().contains("fold_key"), "{e}");
}
