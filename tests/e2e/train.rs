//! The model stage end to end on the committed sample, judged against the
//! generator's ground truth (what each customer really did in the 90 and 365
//! days after the run date), plus determinism and the quality floor.

use std::path::{Path, PathBuf};

use fidelis_models::metrics::roc_auc;
use fidelis_train::ModelSet;
use fidelis_train::table::FeatureTable;

use crate::support::{
    self, assert_exit, emails_in_files, read_parquet_dir, repo, rows, run, strings, walk,
    write_config,
};

const RUN_DATE: &str = "2026-11-22";

fn sample_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let s = repo().join("sample-data/retail");
    let p = |t: &str| s.join(t).to_string_lossy().into_owned();
    write_config(
        dir,
        &[
            ("purchases", &p("purchases")),
            ("interactions", &p("interactions")),
            ("customers", &p("customers")),
        ],
        &dir.join("out").to_string_lossy(),
        extra,
    )
}

fn floats(batches: &[arrow::array::RecordBatch], name: &str) -> Vec<Option<f64>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type};
    let mut out = Vec::new();
    for b in batches {
        let c = b
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"));
        let c = if c.data_type() == &DataType::Boolean {
            arrow::compute::cast(c, &DataType::Int8).expect("bool")
        } else {
            std::sync::Arc::clone(c)
        };
        let f = arrow::compute::cast(&c, &DataType::Float64).expect("cast");
        let f = f.as_primitive::<Float64Type>();
        out.extend((0..f.len()).map(|i| f.is_valid(i).then(|| f.value(i))));
    }
    out
}

/// `(id -> value)` of a column.
fn column_by_id(
    batches: &[arrow::array::RecordBatch],
    name: &str,
) -> std::collections::HashMap<String, Option<f64>> {
    strings(batches, "customer_id")
        .into_iter()
        .map(|id| id.expect("id"))
        .zip(floats(batches, name))
        .collect()
}

#[test]
fn champion_beats_the_baselines_on_the_truth_and_revenue_adds_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = sample_config(dir.path(), "");
    let cfg = cfg.to_string_lossy();
    let o = run(&["run", "--config", &cfg, "--run-date", RUN_DATE]);
    assert_exit(&o, 0);
    let out = dir.path().join("out");
    let staged = support::staged(&out, RUN_DATE, "train");
    let model_json = std::fs::read(staged.join("models/model.json")).expect("model.json");
    let set: ModelSet = serde_json::from_slice(&model_json).expect("model");
    let metrics: serde_json::Value = serde_json::from_slice(
        &std::fs::read(staged.join("models/metrics.json")).expect("metrics"),
    )
    .expect("json");
    // Three years of history: every target ran the feature-model backtest.
    assert!(
        metrics["churn"]["fallback"].is_null(),
        "{}",
        metrics["churn"]
    );
    for t in metrics["revenue"].as_array().expect("revenue") {
        assert!(t["fallback"].is_null(), "{t}");
    }

    let scores = read_parquet_dir(&support::staged_table(&out, RUN_DATE, "score", "scores"));
    let features = read_parquet_dir(
        &support::staged_table(&out, RUN_DATE, "features", "features")
            .join(format!("as_of={RUN_DATE}")),
    );
    let table = FeatureTable::from_batches(&features, "features").expect("features");
    let truth = read_parquet_dir(&repo().join("sample-data/retail/truth"));
    let truth_days = column_by_id(&truth, "order_days_90d");
    let truth_rev = column_by_id(&truth, "revenue_365d");
    let churn_p = column_by_id(&scores, "churn_probability");
    let revenue_365 = column_by_id(&scores, "expected_revenue_365d");
    let recency = column_by_id(&features, "recency_days");

    // The population: customers with an order day by the run date.
    let (mut labels, mut champion, mut bgnbd, mut days_since) = (vec![], vec![], vec![], vec![]);
    let (mut predicted, mut actual) = (0.0, 0.0);
    for i in table.buyers() {
        let id = &table.ids[i];
        let c = table.customer(i).expect("summary").expect("buyer");
        labels.push(truth_days[id].expect("truth") == 0.0);
        champion.push(churn_p[id].expect("churn probability"));
        bgnbd.push(set.btyd.predict(&c, 90.0).expect("bgnbd").p_no_order);
        days_since.push(recency[id].expect("recency"));
        predicted += revenue_365[id].expect("revenue");
        actual += truth_rev[id].expect("truth revenue");
    }
    assert!(labels.len() > 3000, "{} buyers", labels.len());
    let auc = roc_auc(&labels, &champion).expect("auc");
    let auc_bgnbd = roc_auc(&labels, &bgnbd).expect("auc");
    let auc_recency = roc_auc(&labels, &days_since).expect("auc");
    eprintln!(
        "truth: churn champion {} AUC {auc:.4}, BG/NBD {auc_bgnbd:.4}, recency {auc_recency:.4}; \
         365-day revenue predicted {predicted:.0} vs actual {actual:.0} ({:.3})",
        metrics["churn"]["champion"],
        predicted / actual
    );
    assert!(
        auc >= auc_bgnbd.max(auc_recency) + 0.02,
        "champion AUC {auc:.4} vs baselines {auc_bgnbd:.4} / {auc_recency:.4}"
    );
    assert!(
        (predicted / actual - 1.0).abs() <= 0.15,
        "365-day revenue: predicted {predicted:.0}, actual {actual:.0}"
    );
    // Probabilities, never NaN; prospects have no BTYD fields.
    assert!(champion.iter().all(|p| (0.0..=1.0).contains(p)));

    // Deterministic: training again gives byte-identical models.
    let o = run(&["train", "--config", &cfg, "--run-date", RUN_DATE]);
    assert_exit(&o, 0);
    let retrained = support::staged(&out, RUN_DATE, "train");
    assert_ne!(
        retrained, staged,
        "the second training is an attempt of its own"
    );
    let again = std::fs::read(retrained.join("models/model.json")).expect("model.json");
    assert!(
        model_json == again,
        "a second training gave different models"
    );

    // A quality floor nobody reaches: exit 5, naming the target.
    let strict = sample_config(dir.path(), "\n[models]\nmin_churn_auc = 0.99\n");
    let o = run(&[
        "train",
        "--config",
        &strict.to_string_lossy(),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 5);
    assert!(
        crate::support::stderr(&o).contains("churn_90d"),
        "{}",
        crate::support::stderr(&o)
    );
}

/// A short history (docs/models.md, "Short histories"): 200 days of the
/// sample's orders before the run date are between `h + 30` and `2h + 30`
/// for the 90-day horizons, so their one window at `D - 90` is split by the
/// documented hash of the customer id, the feature models train on one half
/// and are validated on the other; the 365-day horizon (less than `h + 30`)
/// keeps the BTYD fallback with its reason.
#[test]
fn a_short_history_trains_feature_models_on_a_customer_split() {
    use sha2::{Digest, Sha256};
    const SHORT: &str = "2024-06-10";
    const CUTOFF: &str = "2024-03-12";
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = sample_config(
        dir.path(),
        "\n[models]\nmin_churn_auc = 0.0\nmin_revenue_gini = 0.0\n",
    );
    let o = run(&[
        "run",
        "--config",
        &cfg.to_string_lossy(),
        "--run-date",
        SHORT,
    ]);
    assert_exit(&o, 0);
    let out = dir.path().join("out");
    let staged = support::staged(&out, SHORT, "train");
    let metrics: serde_json::Value = serde_json::from_slice(
        &std::fs::read(staged.join("models/metrics.json")).expect("metrics"),
    )
    .expect("json");
    let history = metrics["history_days"].as_f64().expect("history");
    assert!((120.0..210.0).contains(&history), "{history} days");

    // The validation half, by an independent computation of the rule: the
    // buyers at the cutoff whose SHA-256("fidelis-split:" || id) starts
    // with a bit 1.
    let features = read_parquet_dir(
        &support::staged_table(&out, SHORT, "features", "features").join(format!("as_of={CUTOFF}")),
    );
    let table = FeatureTable::from_batches(&features, "features").expect("features");
    let buyers = table.buyers();
    let held_out = buyers
        .iter()
        .filter(|&&i| {
            let d = Sha256::digest(format!("fidelis-split:{}", table.ids[i]).as_bytes());
            d[0] >= 0x80
        })
        .count();
    assert!(
        held_out > 100 && held_out < buyers.len() - 100,
        "{held_out} of {} buyers held out",
        buyers.len()
    );

    let targets = std::iter::once(&metrics["churn"]).chain(
        metrics["revenue"]
            .as_array()
            .expect("revenue")
            .iter()
            .filter(|t| t["horizon_days"] == 90),
    );
    for t in targets {
        assert_eq!(t["validation_scheme"], "customer_split", "{t}");
        assert!(t["fallback"].is_null(), "{t}");
        assert_eq!(t["train_as_of"], serde_json::json!([CUTOFF]), "{t}");
        assert_eq!(t["validation_as_of"], CUTOFF, "{t}");
        let cands = t["candidates"].as_array().expect("candidates");
        for c in cands {
            let n = c["metrics"]["customers"].as_u64();
            assert_eq!(n, Some(held_out as u64), "{}: {c}", t["target"]);
        }
        // The feature models were trained and validated.
        let feature_model = if t["target"] == "churn_90d" {
            "logistic"
        } else {
            "glm"
        };
        assert!(
            cands
                .iter()
                .any(|c| c["name"] == feature_model && c["metrics"].is_object()),
            "{t}"
        );
        if t["champion"] != "bgnbd" && t["champion"] != "btyd" {
            assert_eq!(t["refit_as_of"], serde_json::json!([CUTOFF]), "{t}");
        }
    }
    let long = metrics["revenue"]
        .as_array()
        .expect("revenue")
        .iter()
        .find(|t| t["horizon_days"] == 365)
        .expect("365-day target");
    assert_eq!(long["validation_scheme"], "btyd_only", "{long}");
    let why = long["fallback"].as_str().expect("fallback");
    assert!(why.contains("h + 30"), "{why}");
    // The report says how the split target was validated.
    let report =
        std::fs::read_to_string(support::staged(&out, SHORT, "report").join("reports/report.html"))
            .expect("report");
    assert!(report.contains("split by a fixed hash"), "report");
}

/// Every column of a features table as text, by customer.
fn rows_as_text(
    batches: &[arrow::array::RecordBatch],
) -> std::collections::BTreeMap<String, Vec<String>> {
    use arrow::array::AsArray;
    let mut out = std::collections::BTreeMap::new();
    for b in batches {
        let cols: Vec<_> = b
            .columns()
            .iter()
            .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).expect("text"))
            .collect();
        let id = b.schema().index_of("customer_id").expect("customer_id");
        for r in 0..b.num_rows() {
            let row: Vec<String> = cols
                .iter()
                .map(|c| {
                    let c = c.as_string::<i32>();
                    if arrow::array::Array::is_null(c, r) {
                        "null".to_string()
                    } else {
                        c.value(r).to_string()
                    }
                })
                .collect();
            out.insert(row[id].clone(), row);
        }
    }
    out
}

/// Large runs backtest on a fixed sample of customers
/// (`models.backtest_customers`): the sample follows the documented md5
/// rule, each sampled customer's features and labels at a backtest cutoff
/// are exactly those of the full computation, and the run date keeps every
/// customer.
#[test]
fn backtest_sample_is_a_subset_with_identical_features_and_labels() {
    use md5::{Digest, Md5};
    let dir = tempfile::tempdir().expect("tmp");
    let mut staged = Vec::new();
    for (name, target) in [("full", 0), ("sampled", 1500)] {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).expect("dir");
        let cfg = sample_config(&d, &format!("\n[models]\nbacktest_customers = {target}\n"));
        let cfg = cfg.to_string_lossy();
        assert_exit(
            &run(&["validate", "--config", &cfg, "--run-date", RUN_DATE]),
            0,
        );
        assert_exit(
            &run(&["features", "--config", &cfg, "--run-date", RUN_DATE]),
            0,
        );
        staged.push(d.join("out"));
    }
    let plan = |out: &Path| -> serde_json::Value {
        let d = support::staged(out, RUN_DATE, "features");
        serde_json::from_slice(&std::fs::read(d.join("_stages/features.json")).expect("plan"))
            .expect("json")
    };
    // The staged copies of the customers (validated, and the backtest
    // sample) keep the email only as its hash: no config here exports it.
    let customer_copies: Vec<PathBuf> = walk(&staged[1])
        .into_iter()
        .filter(|p| {
            let p = p.to_string_lossy();
            p.ends_with(".parquet")
                && p.contains("customers")
                && (p.contains("validated") || p.contains("backtest"))
        })
        .collect();
    assert!(customer_copies.len() >= 2, "{customer_copies:?}");
    let clear = emails_in_files(&staged[1]);
    assert!(clear.is_empty(), "{:?}", &clear[..clear.len().min(10)]);
    for copy in &customer_copies {
        let batches = read_parquet_dir(copy.parent().expect("folder"));
        let hashes: Vec<String> = strings(&batches, "email_sha256")
            .into_iter()
            .flatten()
            .collect();
        assert!(hashes.len() * 10 > rows(&batches) * 9, "{copy:?}");
        assert!(
            hashes
                .iter()
                .all(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())),
            "{copy:?}"
        );
    }
    assert!(plan(&staged[0])["backtest_sample"].is_null());
    let sample = plan(&staged[1])["backtest_sample"].clone();
    let customers = sample["customers"].as_u64().expect("customers");
    let share = sample["share"].as_f64().expect("share");
    let below = sample["md5_below"].as_str().expect("md5_below").to_string();
    assert!(
        (share - 1500.0 / customers as f64).abs() < 1e-12,
        "{sample}"
    );

    // `what`: a table and the folder below its attempt's.
    let read = |out: &Path, what: &str| {
        let (table, inner) = what.split_once('/').expect("table/folder");
        let dir = support::staged_table(out, RUN_DATE, "features", table).join(inner);
        rows_as_text(&read_parquet_dir(&dir))
    };
    // The run date: every customer in both runs, identical.
    let now = format!("features/as_of={RUN_DATE}");
    assert_eq!(read(&staged[0], &now), read(&staged[1], &now));
    assert_eq!(read(&staged[0], &now).len() as u64, customers);

    let in_sample = |id: &str| {
        let h = hex::encode(Md5::digest(format!("fidelis-backtest:{id}").as_bytes()));
        h.as_str() < below.as_str()
    };
    for what in [
        "features/as_of=2026-08-24".to_string(),
        "labels/as_of=2026-08-24/horizon=90".to_string(),
        "features/as_of=2024-11-22".to_string(),
    ] {
        let full = read(&staged[0], &what);
        let sampled = read(&staged[1], &what);
        assert!(full.len() > 1000, "{what}: {} rows", full.len());
        let expected: Vec<&String> = full.keys().filter(|id| in_sample(id)).collect();
        assert_eq!(
            sampled.keys().collect::<Vec<_>>(),
            expected,
            "{what}: the sample is the customers the md5 rule picks"
        );
        for (id, row) in &sampled {
            assert_eq!(row, &full[id], "{what}: customer {id}");
        }
        // About the share of the customers (binomial, 5 sigma).
        let n = full.len() as f64;
        let sd = (n * share * (1.0 - share)).sqrt();
        assert!(
            (sampled.len() as f64 - n * share).abs() < 5.0 * sd,
            "{what}: {} of {n} sampled, share {share}",
            sampled.len()
        );
    }
}
