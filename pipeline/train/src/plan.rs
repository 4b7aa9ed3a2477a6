//! The cutoff plan of a run: which cutoffs the backtests train and validate
//! on, and so which features and labels the feature stage computes.
//!
//! For a target with horizon `h` and run date `D`, the validation cutoff is
//! `D - h` (its labels end at `D`) and the training cutoffs are `D - 2h`,
//! `D - 3h`, ... (at most `models.training_windows`, most recent first).
//! A cutoff is used only when the order history behind it reaches
//! [`MIN_HISTORY_DAYS`] (30 days): with `h + 30` to `2h + 30` days of history
//! that is the validation cutoff alone, whose window the backtest splits by
//! customer ([`crate::backtest::ValidationScheme`]).

use std::collections::BTreeSet;

use chrono::Days;
use serde::{Deserialize, Serialize};

use fidelis_core::config::ModelsConfig;
use fidelis_core::sample::BacktestSample;
use fidelis_core::{Error, Result, RunDate};

use crate::backtest::MIN_HISTORY_DAYS;

fn minus(d: RunDate, days: u32) -> Result<RunDate> {
    d.0.checked_sub_days(Days::new(u64::from(days)))
        .map(RunDate)
        .ok_or_else(|| Error::config(format!("{d} minus {days} days is out of range")))
}

/// The cutoffs of a target with horizon `h`: the training cutoffs
/// `D - 2h, D - 3h, ...` (at most `windows`, most recent first) and the
/// validation cutoff `D - h`, each only when the history behind it reaches
/// [`MIN_HISTORY_DAYS`].
pub fn cutoffs(
    run_date: RunDate,
    h: u32,
    history_days: f64,
    windows: u32,
) -> Result<(Vec<RunDate>, Option<RunDate>)> {
    let hf = f64::from(h);
    let valid = (history_days >= hf + MIN_HISTORY_DAYS)
        .then(|| minus(run_date, h))
        .transpose()?;
    let mut train = Vec::new();
    for k in 2..2 + windows {
        if history_days >= f64::from(k) * hf + MIN_HISTORY_DAYS {
            train.push(minus(run_date, k * h)?);
        }
    }
    Ok((train, valid))
}

/// Every horizon a run trains for: churn first, then each revenue horizon.
pub fn horizons(models: &ModelsConfig) -> Vec<u32> {
    std::iter::once(models.churn_horizon_days)
        .chain(models.revenue_horizons_days.iter().copied())
        .collect()
}

/// What the feature stage computes for a run date: the features as of the
/// run date and every backtest cutoff, and the labels of every (cutoff,
/// horizon) pair the backtests need. Staged as `_stages/features.json`
/// when they are all staged, so that `train` (a later process under
/// Airflow) knows it can read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturePlan {
    pub history_days: f64,
    pub feature_cutoffs: BTreeSet<RunDate>,
    pub label_pairs: BTreeSet<(RunDate, u32)>,
    /// The customers the backtest cutoffs see, when sampled.
    #[serde(default)]
    pub backtest_sample: Option<BacktestSample>,
}

impl FeaturePlan {
    /// The plan of a run date with `history_days` of order history.
    pub fn new(
        run_date: RunDate,
        history_days: f64,
        models: &ModelsConfig,
        backtest_sample: Option<BacktestSample>,
    ) -> Result<Self> {
        let mut label_pairs = BTreeSet::new();
        for h in horizons(models) {
            let (train, valid) = cutoffs(run_date, h, history_days, models.training_windows)?;
            for c in train.into_iter().chain(valid) {
                label_pairs.insert((c, h));
            }
        }
        let feature_cutoffs = label_pairs.iter().map(|(c, _)| *c).collect();
        Ok(FeaturePlan {
            history_days,
            feature_cutoffs,
            label_pairs,
            backtest_sample,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> RunDate {
        RunDate::parse(s).expect("date")
    }

    #[test]
    fn a_short_history_has_no_cutoff() {
        use crate::backtest::ValidationScheme;
        // 119 days: a 90-day horizon needs 90 + 30 for its validation cutoff.
        let (train, valid) = cutoffs(d("2026-11-22"), 90, 119.0, 4).expect("cutoffs");
        assert!(train.is_empty());
        assert_eq!(valid, None);
        assert_eq!(ValidationScheme::of(119.0, 90), ValidationScheme::BtydOnly);
        // Exactly 120: validation at D - 90, no training window yet
        // (2h + 30 = 210): that one window is split by customer.
        let (train, valid) = cutoffs(d("2026-11-22"), 90, 120.0, 4).expect("cutoffs");
        assert!(train.is_empty());
        assert_eq!(valid, Some(d("2026-08-24")));
        assert_eq!(
            ValidationScheme::of(120.0, 90),
            ValidationScheme::CustomerSplit
        );
        assert_eq!(
            ValidationScheme::of(209.0, 90),
            ValidationScheme::CustomerSplit
        );
        // 210: the first training window, at D - 180 with 30 days behind it.
        let (train, _) = cutoffs(d("2026-11-22"), 90, 210.0, 4).expect("cutoffs");
        assert_eq!(train, vec![d("2026-05-26")]);
        assert_eq!(ValidationScheme::of(210.0, 90), ValidationScheme::OutOfTime);
        // CDNOW nine months after the first order (the issue's case): 272
        // days, 92-day horizon: out of time (2h + 30 = 214), not BTYD only.
        assert_eq!(ValidationScheme::of(272.0, 92), ValidationScheme::OutOfTime);
    }

    #[test]
    fn training_windows_step_back_one_horizon_each_as_far_as_history_allows() {
        // 500 days: k h + 30 <= 500 for k = 2..5 (210, 300, 390, 480), not 6 (570).
        let (train, valid) = cutoffs(d("2026-11-22"), 90, 500.0, 10).expect("cutoffs");
        assert_eq!(valid, Some(d("2026-08-24")));
        assert_eq!(
            train,
            vec![
                d("2026-05-26"),
                d("2026-02-25"),
                d("2025-11-27"),
                d("2025-08-29")
            ]
        );
        // At most `windows` of them, most recent first.
        let (train, _) = cutoffs(d("2026-11-22"), 90, 500.0, 2).expect("cutoffs");
        assert_eq!(train, vec![d("2026-05-26"), d("2026-02-25")]);
        // A 365-day horizon on the same history: validation only (395 <= 500 < 760).
        let (train, valid) = cutoffs(d("2026-11-22"), 365, 500.0, 4).expect("cutoffs");
        assert!(train.is_empty());
        assert_eq!(valid, Some(d("2025-11-22")));
    }

    #[test]
    fn the_plan_is_the_union_of_every_horizon_s_cutoffs() {
        let models = ModelsConfig {
            churn_horizon_days: 90,
            revenue_horizons_days: vec![90, 365],
            training_windows: 4,
            ..ModelsConfig::default()
        };
        assert_eq!(horizons(&models), vec![90, 90, 365]);
        let plan = FeaturePlan::new(d("2026-11-22"), 500.0, &models, None).expect("plan");
        let pairs: Vec<(String, u32)> = plan
            .label_pairs
            .iter()
            .map(|(c, h)| (c.to_string(), *h))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("2025-08-29".to_string(), 90),
                ("2025-11-22".to_string(), 365),
                ("2025-11-27".to_string(), 90),
                ("2026-02-25".to_string(), 90),
                ("2026-05-26".to_string(), 90),
                ("2026-08-24".to_string(), 90),
            ]
        );
        // Features once per cutoff, whichever horizons share it.
        assert_eq!(plan.feature_cutoffs.len(), 6);
        assert_eq!(plan.history_days, 500.0);
    }

    #[test]
    fn the_sampling_decision_travels_with_the_plan() {
        let sample = BacktestSample {
            customers: 1_000_000,
            share: 0.25,
            md5_below: "40000000".into(),
            sampled_customers: 250_112,
            rows: Default::default(),
        };
        let plan = FeaturePlan::new(
            d("2026-11-22"),
            400.0,
            &ModelsConfig::default(),
            Some(sample.clone()),
        )
        .expect("plan");
        let json = serde_json::to_string(&plan).expect("json");
        let back: FeaturePlan = serde_json::from_str(&json).expect("back");
        assert_eq!(back, plan);
        assert_eq!(back.backtest_sample, Some(sample));
        // A plan staged before sampling existed reads as unsampled.
        let old = r#"{"history_days":100.0,"feature_cutoffs":[],"label_pairs":[]}"#;
        let old: FeaturePlan = serde_json::from_str(old).expect("old plan");
        assert_eq!(old.backtest_sample, None);
    }

    #[test]
    fn a_cutoff_before_the_calendar_is_a_config_error() {
        let e =
            cutoffs(RunDate(chrono::NaiveDate::MIN), 90, 10_000.0, 4).expect_err("out of range");
        assert_eq!(e.kind(), fidelis_core::ErrorKind::Config);
    }
}
