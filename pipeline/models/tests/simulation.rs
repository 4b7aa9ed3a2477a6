//! Parameter recovery on data simulated from known parameters (fixed seeds,
//! ChaCha8).
//!
//! Tolerance: each fitted log-parameter must lie within 4 standard errors of
//! the truth, the standard errors coming from the observed information of
//! the same fit (inverse Hessian of the log-likelihood). That is the sampling
//! precision the data size allows (for 20,000 BG/NBD customers about 2-10 %
//! per parameter); 4 SE makes a spurious failure a < 1e-4 event per
//! parameter while still catching any bias larger than a few per cent. The
//! SEs themselves are checked to be small so the test cannot pass vacuously.

use fidelis_models::{
    BgNbd, Customer, FitOptions, GammaGamma, MbgNbd, ParetoNbd, Summary, TimeUnit,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};

/// Simulates BG/NBD (`modified = false`) or MBG/NBD customers, in weeks,
/// acquired uniformly over the first 13 weeks of a 39-week window (integer
/// days), with Gamma-Gamma spend (p, q, γ) on every repeat transaction.
fn simulate_bg(
    n: usize,
    (r, alpha, a, b): (f64, f64, f64, f64),
    (p, q, gamma): (f64, f64, f64),
    modified: bool,
    seed: u64,
) -> Vec<Customer> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // rand_distr's Gamma takes (shape, scale): rate alpha -> scale 1/alpha.
    let lambda_dist = Gamma::new(r, 1.0 / alpha).expect("gamma");
    let p_dist = Beta::new(a, b).expect("beta");
    let nu_dist = Gamma::new(q, 1.0 / gamma).expect("gamma");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let first_day: u32 = rng.random_range(0..91);
        let t_days = f64::from(273 - first_day);
        let t_weeks = t_days / 7.0;
        let lambda: f64 = lambda_dist.sample(&mut rng);
        let drop: f64 = p_dist.sample(&mut rng);
        let nu: f64 = nu_dist.sample(&mut rng);
        let spend = Gamma::new(p, 1.0 / nu).expect("gamma");
        let mut x = 0u32;
        let mut t_x = 0.0;
        let mut total = 0.0;
        let mut alive = !(modified && rng.random::<f64>() < drop);
        let mut now = 0.0;
        if lambda > 0.0 {
            let gap = Exp::new(lambda).expect("exp");
            while alive {
                now += gap.sample(&mut rng);
                if now > t_weeks {
                    break;
                }
                x += 1;
                t_x = now;
                total += spend.sample(&mut rng);
                if rng.random::<f64>() < drop {
                    alive = false;
                }
            }
        }
        let m = if x > 0 { total / f64::from(x) } else { 0.0 };
        out.push(Customer::new(x, t_x * 7.0, t_days, m).expect("valid simulated customer"));
    }
    out
}

/// Simulates Pareto/NBD customers in weeks (same acquisition scheme).
fn simulate_pareto(
    n: usize,
    (r, alpha, s, beta): (f64, f64, f64, f64),
    seed: u64,
) -> Vec<Customer> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let lambda_dist = Gamma::new(r, 1.0 / alpha).expect("gamma");
    let mu_dist = Gamma::new(s, 1.0 / beta).expect("gamma");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let first_day: u32 = rng.random_range(0..91);
        let t_days = f64::from(273 - first_day);
        let t_weeks = t_days / 7.0;
        let lambda: f64 = lambda_dist.sample(&mut rng);
        let mu: f64 = mu_dist.sample(&mut rng);
        let lifetime = if mu > 0.0 {
            Exp::new(mu).expect("exp").sample(&mut rng)
        } else {
            f64::INFINITY
        };
        let end = lifetime.min(t_weeks);
        let (mut x, mut t_x, mut now) = (0u32, 0.0, 0.0);
        if lambda > 0.0 {
            let gap = Exp::new(lambda).expect("exp");
            loop {
                now += gap.sample(&mut rng);
                if now > end {
                    break;
                }
                x += 1;
                t_x = now;
            }
        }
        out.push(Customer::rft(x, t_x * 7.0, t_days).expect("valid simulated customer"));
    }
    out
}

fn check_recovery(
    model: &str,
    names: &[&str],
    fitted: &[f64],
    truth: &[f64],
    se: &[f64],
    max_se: f64,
) {
    for i in 0..names.len() {
        let z = (fitted[i].ln() - truth[i].ln()) / se[i];
        assert!(
            se[i] < max_se,
            "{model} {}: standard error {} too large for a meaningful test",
            names[i],
            se[i]
        );
        assert!(
            z.abs() < 4.0,
            "{model} {}: fitted {} vs true {} is {z:.2} standard errors away (se of log = {})",
            names[i],
            fitted[i],
            truth[i],
            se[i]
        );
    }
}

#[test]
fn bgnbd_and_gamma_gamma_recover_known_parameters() {
    let truth = (0.25, 4.0, 0.8, 2.5);
    let spend = (6.0, 4.0, 15.0);
    let customers = simulate_bg(20_000, truth, spend, false, 20_240_601);
    let summary = Summary::new(customers).expect("valid");
    let fit = BgNbd::fit(&summary.group(), TimeUnit::Weeks, &FitOptions::default()).expect("fit");
    let p = fit.params;
    let se = fit
        .diagnostics
        .log_param_std_errors
        .clone()
        .expect("standard errors");
    check_recovery(
        "BG/NBD",
        &["r", "alpha", "a", "b"],
        &[p.r, p.alpha, p.a, p.b],
        &[truth.0, truth.1, truth.2, truth.3],
        &se,
        0.2,
    );

    let gg = GammaGamma::fit(&summary, &FitOptions::default()).expect("fit");
    let se = gg
        .diagnostics
        .log_param_std_errors
        .clone()
        .expect("standard errors");
    let g = gg.params;
    check_recovery(
        "Gamma-Gamma",
        &["p", "q", "gamma"],
        &[g.p, g.q, g.gamma],
        &[spend.0, spend.1, spend.2],
        &se,
        0.2,
    );
}

#[test]
fn mbgnbd_recovers_known_parameters() {
    let truth = (0.5, 6.0, 0.9, 1.6);
    let customers = simulate_bg(20_000, truth, (6.0, 4.0, 15.0), true, 7);
    let summary = Summary::new(customers).expect("valid");
    let fit = MbgNbd::fit(&summary.group(), TimeUnit::Weeks, &FitOptions::default()).expect("fit");
    let p = fit.params;
    let se = fit
        .diagnostics
        .log_param_std_errors
        .clone()
        .expect("standard errors");
    check_recovery(
        "MBG/NBD",
        &["r", "alpha", "a", "b"],
        &[p.r, p.alpha, p.a, p.b],
        &[truth.0, truth.1, truth.2, truth.3],
        &se,
        0.2,
    );
}

#[test]
fn pareto_nbd_recovers_known_parameters() {
    // Smaller sample: the Pareto/NBD fit uses a finite-difference gradient.
    let truth = (0.55, 10.0, 0.6, 12.0);
    let customers = simulate_pareto(8_000, truth, 42);
    let summary = Summary::new(customers).expect("valid");
    let fit =
        ParetoNbd::fit(&summary.group(), TimeUnit::Weeks, &FitOptions::default()).expect("fit");
    let p = fit.params;
    let se = fit
        .diagnostics
        .log_param_std_errors
        .clone()
        .expect("standard errors");
    check_recovery(
        "Pareto/NBD",
        &["r", "alpha", "s", "beta"],
        &[p.r, p.alpha, p.s, p.beta],
        &[truth.0, truth.1, truth.2, truth.3],
        &se,
        0.6,
    );
}
