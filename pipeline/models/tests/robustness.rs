//! Bad inputs give errors; extreme but valid inputs give finite, in-range
//! predictions.

use fidelis_models::{
    BgNbd, Customer, FitOptions, GammaGamma, GroupedRow, GroupedSummary, MbgNbd, ParetoNbd,
    Summary, TimeUnit, TransactionModel,
};

fn bg() -> BgNbd {
    BgNbd {
        r: 0.2426,
        alpha: 4.4136,
        a: 0.7929,
        b: 2.4259,
        unit: TimeUnit::Weeks,
    }
}

fn mbg() -> MbgNbd {
    MbgNbd {
        r: 0.525,
        alpha: 6.183,
        a: 0.891,
        b: 1.614,
        unit: TimeUnit::Weeks,
    }
}

fn pareto() -> ParetoNbd {
    ParetoNbd {
        r: 0.5533,
        alpha: 10.578,
        s: 0.6062,
        beta: 11.668,
        unit: TimeUnit::Weeks,
    }
}

/// (x, t_x, T) in days: heavy buyers, t_x = T, x = 0, T = 0, long ago.
fn extreme_customers() -> Vec<Customer> {
    let c = |x, tx, t| Customer::rft(x, tx, t).expect("valid");
    vec![
        c(200, 1000.0, 1000.0),
        c(200, 999.0, 1000.0),
        c(200, 10.0, 1000.0),
        c(200, 1.0, 5000.0),
        c(1000, 3650.0, 3650.0),
        c(1, 1000.0, 1000.0),
        c(0, 0.0, 0.0),
        c(0, 0.0, 1000.0),
        c(0, 0.0, 36500.0),
        c(3, 1e-6, 1e-6),
        c(2, 0.5, 1e5),
    ]
}

fn check_model<M: TransactionModel>(name: &str, m: &M) {
    for c in extreme_customers() {
        let pa = m
            .p_alive(&c)
            .unwrap_or_else(|e| panic!("{name} p_alive {c:?}: {e}"));
        assert!((0.0..=1.0).contains(&pa), "{name} p_alive {c:?} = {pa}");
        let mut prev = 0.0;
        for h in [0.0, 1.0, 92.0, 365.0, 3650.0, 1e5] {
            let e = m
                .expected_transactions(&c, h)
                .unwrap_or_else(|e| panic!("{name} E {c:?} h={h}: {e}"));
            assert!(e.is_finite() && e >= -1e-9, "{name} E {c:?} h={h} = {e}");
            assert!(
                e >= prev - 1e-9 * (1.0 + prev),
                "{name} E not monotone in h for {c:?}"
            );
            prev = e;
        }
    }
    for h in [0.0, 1e-3, 7.0, 365.0, 36500.0, 1e6] {
        let e = m
            .expected_transactions_unconditional(h)
            .unwrap_or_else(|e| panic!("{name} E[X({h})]: {e}"));
        assert!(e.is_finite() && e >= 0.0, "{name} E[X({h})] = {e}");
    }
}

#[test]
fn predictions_are_finite_for_extreme_valid_inputs() {
    check_model("BG/NBD", &bg());
    check_model("MBG/NBD", &mbg());
    check_model("Pareto/NBD", &pareto());
    for c in extreme_customers() {
        for h in [0.0, 92.0, 1e5] {
            let p = bg().prob_no_purchase(&c, h).expect("prob");
            assert!((0.0..=1.0).contains(&p), "{c:?} {h}: {p}");
            let p = mbg().prob_no_purchase(&c, h).expect("prob");
            assert!((0.0..=1.0).contains(&p), "{c:?} {h}: {p}");
        }
    }
    // x = 0 customers are alive for sure under BG/NBD.
    let c = Customer::rft(0, 0.0, 1000.0).expect("valid");
    assert_eq!(bg().p_alive(&c).expect("pa"), 1.0);
}

#[test]
fn removable_singularities_in_a_are_smooth() {
    // a = 1 exactly (and a + b + x - 1 = 0 for x = 0: a = 0.5, b = 0.5).
    let c = Customer::rft(2, 100.0, 200.0).expect("valid");
    for (a, b) in [(1.0, 2.0), (0.5, 0.5)] {
        let at = |a: f64| BgNbd {
            r: 0.3,
            alpha: 5.0,
            a,
            b,
            unit: TimeUnit::Weeks,
        };
        for h in [30.0, 365.0] {
            let mid = at(a).expected_transactions(&c, h).expect("pred");
            let lo = at(a - 1e-3).expected_transactions(&c, h).expect("pred");
            let hi = at(a + 1e-3).expected_transactions(&c, h).expect("pred");
            assert!(mid.is_finite());
            assert!(
                (mid - 0.5 * (lo + hi)).abs() < 1e-5 * mid.abs().max(1e-3),
                "{lo} {mid} {hi}"
            );
            let u = at(a).expected_transactions_unconditional(h).expect("pred");
            let ul = at(a - 1e-3)
                .expected_transactions_unconditional(h)
                .expect("pred");
            let uh = at(a + 1e-3)
                .expected_transactions_unconditional(h)
                .expect("pred");
            assert!(
                (u - 0.5 * (ul + uh)).abs() < 1e-5 * u.abs().max(1e-3),
                "{ul} {u} {uh}"
            );
        }
    }
    // Pareto/NBD at s = 1 exactly.
    let p = ParetoNbd { s: 1.0, ..pareto() };
    let e = p.expected_transactions(&c, 365.0).expect("pred");
    let e2 = ParetoNbd {
        s: 1.0 + 1e-7,
        ..pareto()
    }
    .expected_transactions(&c, 365.0)
    .expect("pred");
    assert!((e - e2).abs() < 1e-6);
}

#[test]
fn nan_and_inconsistent_inputs_are_errors() {
    let bad = [
        Customer {
            x: 1,
            t_x: f64::NAN,
            t: 10.0,
            m: 0.0,
        },
        Customer {
            x: 1,
            t_x: 5.0,
            t: f64::NAN,
            m: 0.0,
        },
        Customer {
            x: 1,
            t_x: 11.0,
            t: 10.0,
            m: 0.0,
        },
        Customer {
            x: 0,
            t_x: 3.0,
            t: 10.0,
            m: 0.0,
        },
        Customer {
            x: 2,
            t_x: 0.0,
            t: 10.0,
            m: 0.0,
        },
        Customer {
            x: 1,
            t_x: -1.0,
            t: 10.0,
            m: 0.0,
        },
    ];
    for c in &bad {
        assert!(bg().p_alive(c).is_err(), "{c:?}");
        assert!(bg().expected_transactions(c, 10.0).is_err(), "{c:?}");
        assert!(mbg().prob_no_purchase(c, 10.0).is_err(), "{c:?}");
        assert!(pareto().p_alive(c).is_err(), "{c:?}");
        assert!(Summary::new(vec![*c]).is_err(), "{c:?}");
    }
    let ok = Customer::rft(1, 5.0, 10.0).expect("valid");
    for h in [f64::NAN, -1.0, f64::INFINITY] {
        assert!(bg().expected_transactions(&ok, h).is_err());
        assert!(pareto().expected_transactions(&ok, h).is_err());
        assert!(bg().expected_transactions_unconditional(h).is_err());
    }
    // Invalid parameters.
    let p = BgNbd {
        alpha: -1.0,
        ..bg()
    };
    assert!(p.p_alive(&ok).is_err());
    let p = BgNbd {
        r: f64::NAN,
        ..bg()
    };
    assert!(p.expected_transactions(&ok, 1.0).is_err());
    let p = BgNbd {
        unit: TimeUnit::CustomDays(-7.0),
        ..bg()
    };
    assert!(p.p_alive(&ok).is_err());
    // Monetary NaN.
    assert!(Customer::new(1, 5.0, 10.0, f64::NAN).is_err());
    assert!(
        GammaGamma {
            p: 6.0,
            q: 3.7,
            gamma: 15.0
        }
        .conditional_expected_value(2, f64::NAN)
        .is_err()
    );
    // Bad weights.
    assert!(
        GroupedSummary::from_rows(vec![GroupedRow {
            x: 1,
            t_x: 1.0,
            t: 2.0,
            weight: f64::NAN
        }])
        .is_err()
    );
}

#[test]
fn fits_fail_clearly_on_uninformative_data() {
    // Gamma-Gamma with only one-time buyers.
    let s = Summary::new(vec![
        Customer::new(0, 0.0, 30.0, 0.0).expect("valid"),
        Customer::new(0, 0.0, 60.0, 0.0).expect("valid"),
    ])
    .expect("valid");
    let err = GammaGamma::fit(&s, &FitOptions::default()).expect_err("no repeat buyers");
    assert!(err.to_string().contains("no repeat customers"), "{err}");
    // Transaction models with only one-time buyers.
    let g = s.group();
    assert!(BgNbd::fit(&g, TimeUnit::Weeks, &FitOptions::default()).is_err());
    assert!(MbgNbd::fit(&g, TimeUnit::Weeks, &FitOptions::default()).is_err());
    assert!(ParetoNbd::fit(&g, TimeUnit::Weeks, &FitOptions::default()).is_err());
    // Empty data.
    let empty = Summary::new(vec![]).expect("valid").group();
    assert!(BgNbd::fit(&empty, TimeUnit::Days, &FitOptions::default()).is_err());
    // Bad custom unit and bad starting values.
    let one = Summary::new(vec![Customer::rft(1, 3.0, 10.0).expect("valid")])
        .expect("valid")
        .group();
    assert!(BgNbd::fit(&one, TimeUnit::CustomDays(0.0), &FitOptions::default()).is_err());
    let opts = FitOptions {
        initial: Some(vec![1.0, f64::NAN, 1.0, 1.0]),
        ..FitOptions::default()
    };
    assert!(BgNbd::fit(&one, TimeUnit::Days, &opts).is_err());
}

#[test]
fn unidentified_spend_model_says_so() {
    // Four repeat customers: the Gamma-Gamma likelihood keeps increasing as
    // q, γ -> infinity (no detectable heterogeneity), so there is no interior
    // optimum; the error names the drifting parameters instead of returning
    // them as a "fit".
    let s = Summary::new(vec![
        Customer::new(2, 213.0, 272.0, 22.35).expect("valid"),
        Customer::new(1, 12.0, 272.0, 11.77).expect("valid"),
        Customer::new(4, 150.0, 190.0, 30.0).expect("valid"),
        Customer::new(1, 100.0, 250.0, 18.0).expect("valid"),
    ])
    .expect("valid");
    let err = GammaGamma::fit(&s, &FitOptions::default()).expect_err("not identified");
    assert!(err.to_string().contains("identify"), "{err}");
}
