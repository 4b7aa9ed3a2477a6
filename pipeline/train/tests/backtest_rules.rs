//! The backtest's rules on simulated windows: the logistic penalty is
//! chosen on the training windows alone, and a short history splits its
//! one window by customer (docs/models.md, "Short histories" and
//! "Regularisation").

use fidelis_train::backtest::{self, TrainParams, ValidationScheme, in_training_half};
use fidelis_train::table::{FeatureTable, LabelTable};

mod common;
use common::{labels, table, window};

/// Churned when the customer has been away long, with every seventh
/// outcome flipped: a signal the features carry, not a perfect one.
fn realistic(t: &FeatureTable) -> LabelTable {
    let recency = t.column("recency_days").expect("recency").to_vec();
    labels(t, |i| (recency[i] > 40.0) ^ (i % 7 == 0))
}

#[test]
fn the_logistic_penalty_does_not_depend_on_the_validation_labels() {
    let f = table(800, false);
    let l_train = realistic(&f);
    let l_valid = realistic(&f);
    // The same validation window with a third of its outcomes flipped.
    let l_other = labels(&f, |i| l_valid.churned[i] ^ (i % 3 == 0));
    let train = [window("2026-01-01", &f, &l_train)];
    let run = |l: &LabelTable| {
        let valid = window("2026-04-01", &f, l);
        backtest::churn(90, 1000.0, &train, Some(valid), &TrainParams::new(1))
            .expect("backtest")
            .0
    };
    let (a, b) = (run(&l_valid), run(&l_other));
    let choice = a.logistic_l2.clone().expect("a penalty was chosen");
    assert_eq!(a.logistic_l2, b.logistic_l2);
    assert_eq!(choice.folds, 3);
    assert_eq!(choice.rows, f.buyers().len());
    // The validation labels did reach the metrics: the test can tell.
    let auc = |r: &backtest::TargetReport<backtest::ChurnMetrics>| {
        r.candidates
            .iter()
            .find(|c| c.name == "logistic")
            .and_then(|c| c.metrics.as_ref())
            .expect("logistic metrics")
            .roc_auc
    };
    assert!((auc(&a) - auc(&b)).abs() > 0.01, "{} {}", auc(&a), auc(&b));
    // And the training labels do move it.
    let l_noise = labels(&f, |i| (i * 7919) % 5 < 2);
    let train_noise = [window("2026-01-01", &f, &l_noise)];
    let valid = window("2026-04-01", &f, &l_valid);
    let c = backtest::churn(90, 1000.0, &train_noise, Some(valid), &TrainParams::new(1))
        .expect("backtest")
        .0;
    let noise = c.logistic_l2.expect("a penalty");
    assert!(
        noise.l2_per_row > choice.l2_per_row,
        "labels unrelated to the features: {} vs {}",
        noise.l2_per_row,
        choice.l2_per_row
    );
}

#[test]
fn a_short_history_splits_its_one_window_by_customer() {
    let f = table(1200, false);
    let l = realistic(&f);
    let valid = window("2026-04-01", &f, &l);
    // 150 days for a 90-day horizon: between h + 30 and 2h + 30.
    let (report, champion, explainer) =
        backtest::churn(90, 150.0, &[], Some(valid), &TrainParams::new(1)).expect("backtest");
    assert_eq!(report.validation_scheme, ValidationScheme::CustomerSplit);
    assert!(report.fallback.is_none(), "{:?}", report.fallback);
    assert_eq!(report.train_as_of, vec!["2026-04-01".to_string()]);
    let buyers = f.buyers();
    let held_out = buyers
        .iter()
        .filter(|&&i| !in_training_half(&f.ids[i]))
        .count();
    assert!(held_out > 400 && held_out < 800, "{held_out}");
    for c in &report.candidates {
        let m = c
            .metrics
            .as_ref()
            .unwrap_or_else(|| panic!("{}: {:?}", c.name, c.error));
        assert_eq!(m.customers, held_out, "{}", c.name);
    }
    assert!(explainer.is_some(), "the logistic model was fitted");
    // The training half's rows were the penalty's rows.
    let choice = report.logistic_l2.as_ref().expect("penalty");
    assert_eq!(choice.rows, buyers.len() - held_out);
    if !matches!(champion, backtest::ChurnChampion::Bgnbd) {
        assert_eq!(report.refit_as_of, vec!["2026-04-01".to_string()]);
    }
    // Below h + 30: BTYD only, with the reason.
    let (short, _, _) =
        backtest::churn(90, 119.0, &[], Some(valid), &TrainParams::new(1)).expect("backtest");
    assert_eq!(short.validation_scheme, ValidationScheme::BtydOnly);
    assert!(
        short.fallback.as_deref().unwrap_or("").contains("h + 30"),
        "{:?}",
        short.fallback
    );
    // The split is by customer id alone: both halves among any 64 ids.
    assert!((0..64).any(|i| in_training_half(&format!("c{i:05}"))));
    assert!((0..64).any(|i| !in_training_half(&format!("c{i:05}"))));
}

#[test]
fn the_champion_is_calibrated_on_held_out_predictions_of_the_newest_training_window() {
    let f = table(900, false);
    let (l1, l2, lv) = (realistic(&f), realistic(&f), realistic(&f));
    let train = [window("2026-01-01", &f, &l1), window("2025-10-03", &f, &l2)];
    let valid = window("2026-04-01", &f, &lv);
    // Two training windows: the champion fitted on the older predicts the
    // newest, out of time.
    let (report, _, _) =
        backtest::churn(90, 1000.0, &train, Some(valid), &TrainParams::new(1)).expect("backtest");
    let c = report.calibration.as_ref().expect("calibrated");
    assert_eq!(c.champion, report.champion);
    assert_eq!(c.fitted_on, "2026-01-01");
    let expect = if report.champion == "bgnbd" {
        "btyd"
    } else {
        "out_of_time"
    };
    assert_eq!(c.predictions, expect);
    assert_eq!(c.rows, f.buyers().len());
    // Checked on validation: applied exactly when the Brier score holds.
    assert_eq!(
        c.applied,
        c.validation_brier_after <= c.validation_brier_before
    );
    let champion = report.champion_metrics().expect("metrics");
    assert_eq!(Some(c.validation_brier_before), champion.brier);
    // One training window: held-out halves of its customers.
    let (one, _, _) =
        backtest::churn(90, 1000.0, &train[..1], Some(valid), &TrainParams::new(1)).expect("one");
    let c = one.calibration.as_ref().expect("calibrated");
    if one.champion != "bgnbd" {
        assert_eq!(c.predictions, "customer_folds");
    }
    assert!(c.platt.slope.is_finite() && c.platt.slope > 0.0, "{c:?}");
}

#[test]
fn pareto_nbd_is_a_candidate_of_both_targets() {
    let f = table(900, false);
    let (lt, lv) = (realistic(&f), realistic(&f));
    let train = [window("2026-01-01", &f, &lt)];
    let valid = window("2026-04-01", &f, &lv);
    let params = TrainParams::new(1);
    let (churn, _, _) = backtest::churn(90, 1000.0, &train, Some(valid), &params).expect("churn");
    let (revenue, _) =
        backtest::revenue(90, 1000.0, &train, Some(valid), &params).expect("revenue");
    for (target, m) in [
        (
            "churn",
            churn
                .candidates
                .iter()
                .find(|c| c.name == "pareto_nbd")
                .map(|c| {
                    (
                        c.eligible,
                        c.metrics.as_ref().map(|m| m.roc_auc),
                        c.error.clone(),
                    )
                }),
        ),
        (
            "revenue",
            revenue
                .candidates
                .iter()
                .find(|c| c.name == "pareto_nbd")
                .map(|c| {
                    (
                        c.eligible,
                        c.metrics.as_ref().map(|m| m.normalized_gini),
                        c.error.clone(),
                    )
                }),
        ),
    ] {
        let (eligible, metric, error) = m.unwrap_or_else(|| panic!("{target}: no pareto_nbd"));
        assert!(eligible, "{target}");
        let v = metric.unwrap_or_else(|| panic!("{target}: {error:?}"));
        assert!(v.is_finite() && v > 0.0, "{target}: {v}");
    }
    // Without a training window the rule still chooses between the two
    // probabilistic models (here on the validation window alone).
    let (only, champion, _) =
        backtest::churn(90, 1000.0, &[], Some(valid), &params).expect("no training window");
    assert!(only.champion == "bgnbd" || only.champion == "pareto_nbd");
    assert_eq!(
        matches!(champion, backtest::ChurnChampion::ParetoNbd),
        only.champion == "pareto_nbd"
    );
}

#[test]
fn pareto_nbd_is_fitted_on_a_fixed_sample_of_ten_thousand_buyers() {
    use fidelis_train::btyd::{PARETO_FIT_CUSTOMERS, fit_pareto};
    use sha2::{Digest, Sha256};
    let f = table(PARETO_FIT_CUSTOMERS + 1500, false);
    let fit = fit_pareto(&f, "2026-01-01").expect("fit");
    // The same fit on the 10,000 buyers with the smallest hash, picked
    // here independently, as a table of their own.
    let mut keyed: Vec<(Vec<u8>, usize)> = (0..f.len())
        .map(|i| {
            let d = Sha256::digest(format!("fidelis-pareto:{}", f.ids[i]).as_bytes());
            (d.to_vec(), i)
        })
        .collect();
    keyed.sort();
    let mut keep: Vec<usize> = keyed[..PARETO_FIT_CUSTOMERS].iter().map(|k| k.1).collect();
    keep.sort_unstable();
    let sub = FeatureTable {
        ids: keep.iter().map(|&i| f.ids[i].clone()).collect(),
        numeric: f
            .numeric
            .iter()
            .map(|(n, v)| (n.clone(), keep.iter().map(|&i| v[i]).collect()))
            .collect(),
        text: Vec::new(),
        has_orders: vec![true; keep.len()],
    };
    assert_eq!(fit_pareto(&sub, "2026-01-01").expect("fit"), fit);
}

#[test]
fn a_pareto_nbd_champion_scores_with_the_run_date_fit() {
    use fidelis_models::TransactionModel;
    use fidelis_train::backtest::{ChurnChampion, RevenueChampion};
    use fidelis_train::btyd::fit_pareto;
    use fidelis_train::{ClvSettings, TargetWindows, TrainInputs};
    let f = table(900, false);
    let (lt, lv) = (realistic(&f), realistic(&f));
    let windows = |h: u32| TargetWindows {
        horizon_days: h,
        train: vec![window("2026-01-01", &f, &lt)],
        valid: Some(window("2026-04-01", &f, &lv)),
    };
    let inputs = TrainInputs {
        run_date: "2026-07-01",
        current: &f,
        churn: windows(90),
        revenue: vec![windows(90)],
        clv: ClvSettings {
            margin: 0.3,
            annual_discount_rate: 0.1,
        },
        min_churn_auc: 0.0,
        min_revenue_gini: 0.0,
        backtest_customer_share: 1.0,
        seed: 1,
    };
    let (mut set, _) = fidelis_train::train(&inputs).expect("train");
    // Whatever won here, score as if Pareto/NBD had won both targets.
    set.churn.champion = ChurnChampion::ParetoNbd;
    set.churn.calibration = None;
    set.revenue[0].champion = RevenueChampion::ParetoNbd;
    let pareto = fit_pareto(&f, "2026-07-01").expect("fit");
    set.pareto_nbd = Some(pareto);
    let scores = fidelis_train::score(&set, &f).expect("score");
    let (_, orders, revenue) = &scores.horizons[0];
    for i in 0..f.len() {
        let c = f.customer(i).expect("summary").expect("buyer");
        let p0 = pareto.prob_no_purchase(&c, 90.0).expect("p0");
        assert_eq!(scores.churn_probability[i], Some(p0), "row {i}");
        let e = pareto.expected_transactions(&c, 90.0).expect("orders");
        let value = set.btyd.predict(&c, 90.0).expect("btyd").expected_value;
        assert_eq!(orders[i], Some(e), "row {i}");
        assert_eq!(revenue[i], Some(e * value), "row {i}");
    }
    // A model set that names Pareto/NBD without its fit is an error.
    set.pareto_nbd = None;
    let e = fidelis_train::score(&set, &f).expect_err("no fit");
    assert!(e.to_string().contains("Pareto/NBD"), "{e}");
}

#[test]
fn a_window_too_small_to_split_takes_the_btyd_models() {
    // 150 buyers: about 75 in each half, fewer than MIN_SPLIT_BUYERS.
    let f = table(150, false);
    let l = realistic(&f);
    let valid = window("2026-04-01", &f, &l);
    let (report, champion, explainer) =
        backtest::churn(90, 150.0, &[], Some(valid), &TrainParams::new(1)).expect("backtest");
    assert_eq!(report.validation_scheme, ValidationScheme::BtydOnly);
    let why = report.fallback.as_deref().expect("the reason");
    assert!(
        why.contains("2026-04-01") && why.contains(&backtest::MIN_SPLIT_BUYERS.to_string()),
        "{why}"
    );
    assert!(
        report.candidates.is_empty(),
        "nothing validated on a few dozen customers"
    );
    assert_eq!(report.validation_as_of, None);
    assert!(matches!(champion, backtest::ChurnChampion::Bgnbd));
    assert!(explainer.is_none());
}
