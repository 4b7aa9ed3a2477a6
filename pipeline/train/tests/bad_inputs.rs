//! Bad inputs to the model stage give a clear error or the documented
//! fallback (docs/models.md), never a panic or a NaN score.

use fidelis_core::ErrorKind;
use fidelis_train::backtest::{self, TrainParams};

mod common;
use common::{labels, table, window};

#[test]
fn a_single_class_leaves_the_feature_models_out_and_keeps_bgnbd() {
    let f = table(600, false);
    let l_one_class = labels(&f, |_| true);
    let l_valid = labels(&f, |i| i % 3 == 0);
    let train = [window("2026-01-01", &f, &l_one_class)];
    let valid = window("2026-04-01", &f, &l_valid);
    let (report, champion, _) =
        backtest::churn(90, 1000.0, &train, Some(valid), &TrainParams::new(1)).expect("backtest");
    let logistic = report
        .candidates
        .iter()
        .find(|c| c.name == "logistic")
        .expect("logistic");
    assert!(logistic.metrics.is_none());
    assert!(
        logistic.error.as_deref().unwrap_or("").contains("class"),
        "{:?}",
        logistic.error
    );
    assert_eq!(report.champion, "bgnbd");
    assert!(matches!(champion, backtest::ChurnChampion::Bgnbd));
}

#[test]
fn one_order_each_is_a_quality_error_or_a_named_fallback() {
    let f = table(300, true);
    let l = labels(&f, |i| i % 2 == 0);
    let valid = window("2026-04-01", &f, &l);
    // The BTYD fit itself: a quality error naming the cutoff (exit 5 when
    // it is the fit of the run date, which scores need).
    let err = fidelis_train::btyd::BtydFit::fit(&f, "2026-04-01")
        .expect_err("BG/NBD cannot be fitted without repeat buyers");
    assert_eq!(err.kind(), ErrorKind::Quality);
    assert!(err.to_string().contains("2026-04-01"), "{err}");
    // In a backtest window: the documented fallback, with the reason.
    let (report, champion, _) =
        backtest::churn(90, 1000.0, &[], Some(valid), &TrainParams::new(1)).expect("fallback");
    assert!(matches!(champion, backtest::ChurnChampion::Bgnbd));
    let why = report.fallback.expect("fallback reason");
    assert!(
        why.contains("2026-04-01") && why.contains("BG/NBD"),
        "{why}"
    );
}

#[test]
fn no_spend_falls_back_to_the_mean_value_and_nan_features_are_imputed() {
    let mut f = table(600, false);
    // Zero spend for everyone: Gamma-Gamma cannot be fitted.
    for (name, v) in &mut f.numeric {
        if name == "btyd_m" {
            v.iter_mut().for_each(|m| *m = 0.0);
        }
        if name == "orders" {
            v.iter_mut().step_by(3).for_each(|x| *x = f64::NAN);
        }
    }
    let fit = fidelis_train::btyd::BtydFit::fit(&f, "2026-04-01").expect("BG/NBD fits");
    assert!(fit.gamma_gamma.is_none());
    assert!(fit.gamma_gamma_note.is_some());
    for p in fit
        .predict_table(&f, 90.0)
        .expect("predict")
        .into_iter()
        .flatten()
    {
        assert!(p.expected_revenue().is_finite() && p.p_no_order.is_finite());
    }
    let l = labels(&f, |i| i % 3 == 0);
    let train = [window("2026-01-01", &f, &l)];
    let valid = window("2026-04-01", &f, &l);
    let (report, _, _) =
        backtest::churn(90, 1000.0, &train, Some(valid), &TrainParams::new(1)).expect("backtest");
    for c in &report.candidates {
        if let Some(m) = &c.metrics {
            assert!(m.roc_auc.is_finite(), "{}", c.name);
        }
    }
    assert!(
        report
            .candidates
            .iter()
            .any(|c| c.name == "logistic" && c.metrics.is_some())
    );
}

#[test]
fn a_training_window_that_cannot_be_fitted_is_left_out_and_named() {
    let good = table(600, false);
    let bad = table(300, true);
    let l_good = labels(&good, |i| i % 3 == 0);
    let l_bad = labels(&bad, |i| i % 2 == 0);
    let train = [
        window("2026-01-01", &good, &l_good),
        window("2025-10-01", &bad, &l_bad),
    ];
    let valid = window("2026-04-01", &good, &l_good);
    let (report, _, _) =
        backtest::churn(90, 1000.0, &train, Some(valid), &TrainParams::new(1)).expect("backtest");
    assert_eq!(report.train_as_of, vec!["2026-01-01".to_string()]);
    assert_eq!(report.skipped_windows.len(), 1);
    assert!(
        report.skipped_windows[0].starts_with("2025-10-01"),
        "{:?}",
        report.skipped_windows
    );
    assert!(report.fallback.is_none());
}
