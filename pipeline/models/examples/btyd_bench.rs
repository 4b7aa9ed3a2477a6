//! Benchmark: fit BG/NBD + Gamma-Gamma on N simulated customers (the
//! BG/NBD story with known parameters, at day resolution as real order data
//! has it), print the timings as one JSON line, and optionally write the
//! summary as CSV for the Python `lifetimes` peer (bench/btyd.sh).
//!
//!     cargo run --release -p fidelis-models --example btyd_bench -- \
//!         --customers 1000000 --seed 1 [--csv summary.csv]

use std::io::Write;
use std::time::Instant;

use fidelis_models::{BgNbd, Customer, FitOptions, GammaGamma, Summary, TimeUnit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Gamma};

/// The CDNOW estimates (weeks) as the truth: r, alpha (per day), a, b, and
/// Gamma-Gamma p, q, gamma.
const TRUTH: [f64; 7] = [
    0.2426,
    4.4136 * 7.0,
    0.7929,
    2.4259,
    6.2497,
    3.7442,
    15.4430,
];

fn simulate(n: usize, seed: u64) -> Vec<Customer> {
    let [r, alpha, a, b, p, q, gamma] = TRUTH;
    let lambda_d = Gamma::new(r, 1.0 / alpha).expect("gamma");
    let p_d = Beta::new(a, b).expect("beta");
    let nu_d = Gamma::new(q, 1.0 / gamma).expect("gamma");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // Observed for 1 to 3 years, in whole days.
        let big_t = rng.random_range(1..=3 * 365) as f64;
        let lambda: f64 = lambda_d.sample(&mut rng);
        let drop: f64 = p_d.sample(&mut rng);
        let nu: f64 = nu_d.sample(&mut rng);
        let spend = Gamma::new(p, 1.0 / nu).expect("gamma");
        let (mut t, mut x, mut t_x, mut total) = (0.0_f64, 0_u32, 0.0_f64, 0.0_f64);
        let mut last_day = 0.0;
        loop {
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            t += -u.ln() / lambda.max(1e-12);
            if t > big_t {
                break;
            }
            let day = t.floor();
            if day > last_day {
                // A new order day (same-day orders count once).
                x += 1;
                t_x = day;
                last_day = day;
                total += spend.sample(&mut rng);
            }
            if rng.random::<f64>() < drop {
                break;
            }
        }
        let m = if x > 0 { total / f64::from(x) } else { 0.0 };
        out.push(Customer::new(x, t_x, big_t, m).expect("valid customer"));
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: usize = arg("--customers").map_or(1_000_000, |s| s.parse().expect("--customers"));
    let seed: u64 = arg("--seed").map_or(1, |s| s.parse().expect("--seed"));
    let customers = simulate(n, seed);
    if let Some(path) = arg("--csv") {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("csv"));
        writeln!(w, "x,t_x,T,m").expect("write");
        for c in &customers {
            writeln!(w, "{},{},{},{}", c.x, c.t_x, c.t, c.m).expect("write");
        }
    }
    let started = Instant::now();
    let summary = Summary::new(customers).expect("summary");
    let grouped = summary.group();
    let grouping_s = started.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let bg = BgNbd::fit(&grouped, TimeUnit::Weeks, &FitOptions::default()).expect("BG/NBD");
    let bg_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let gg = GammaGamma::fit(&summary, &FitOptions::default()).expect("Gamma-Gamma");
    let gg_s = t1.elapsed().as_secs_f64();
    let total_s = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "customers": n,
            "distinct_rows": grouped.len(),
            "seconds_grouping": grouping_s,
            "seconds_bgnbd": bg_s,
            "seconds_gamma_gamma": gg_s,
            "seconds_total": total_s,
            "bgnbd": {"r": bg.params.r, "alpha": bg.params.alpha, "a": bg.params.a, "b": bg.params.b,
                      "log_likelihood_weeks": bg.diagnostics.log_likelihood, "iterations": bg.diagnostics.iterations},
            "gamma_gamma": {"p": gg.params.p, "q": gg.params.q, "gamma": gg.params.gamma,
                            "log_likelihood": gg.diagnostics.log_likelihood},
        })
    );
}
