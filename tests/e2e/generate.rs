//! `fidelis generate`: deterministic for a seed, readable by validate, and
//! the committed sample is what its recorded command makes.

use crate::support::*;

fn generate(out: &std::path::Path, seed: &str, extra: &[&str]) {
    let mut args = vec![
        "generate",
        "--customers",
        "600",
        "--seed",
        seed,
        "--start",
        "2024-01-01",
        "--end",
        "2025-06-30",
        "--customers-per-file",
        "250",
        "--out",
        out.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_exit(&o, 0);
}

fn file_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dir).expect("prefix").display().to_string(),
                std::fs::read(&p).expect("read"),
            )
        })
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_data() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    generate(&a, "7", &[]);
    generate(&b, "7", &[]);
    generate(&c, "8", &[]);
    let (fa, fb, fc) = (file_bytes(&a), file_bytes(&b), file_bytes(&c));
    // 600 customers at 250 a file: 3 parts of each of the 4 tables.
    assert_eq!(
        fa.len(),
        12,
        "{:?}",
        fa.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(fa, fb, "the same seed must give byte-identical files");
    assert_ne!(fa, fc, "another seed must give other data");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("generator.json")).expect("json"))
            .expect("parse");
    assert_eq!(meta["customers"], 600);
    assert!(
        meta["command"]
            .as_str()
            .expect("command")
            .contains("--seed 7")
    );
    let truth = read_parquet_dir(&a.join("truth"));
    assert_eq!(rows(&truth), 600, "one truth row per customer");
}

#[test]
fn generated_data_validates_and_dirty_rows_are_quarantined() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    generate(&data, "11", &["--dirty-share", "0.004"]);
    let cfg = write_config(
        dir.path(),
        &[
            ("purchases", "data/purchases"),
            ("interactions", "data/interactions"),
            ("customers", "data/customers"),
        ],
        "out",
        "",
    );
    let o = run(&[
        "run",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        "2025-06-30",
    ]);
    assert_exit(&o, 0);
    let report = validate_json(&dir.path().join("out"), "2025-06-30");
    let p = &report["tables"][0];
    assert_eq!(p["table"], "purchases");
    let rejected = p["rows_rejected"].as_u64().expect("n");
    assert!(rejected > 0, "dirty rows must be rejected: {p}");
    assert_eq!(
        p["rows_read"].as_u64().expect("n"),
        p["rows_accepted"].as_u64().expect("n") + rejected
    );
    let reasons = p["rejected_by_reason"].as_object().expect("reasons");
    assert!(
        reasons.keys().all(|k| [
            "duplicate_order_line",
            "non_finite_amount",
            "null_customer_id"
        ]
        .contains(&k.as_str())),
        "{reasons:?}"
    );
    // Validating an earlier date sees less: three months of rows are after
    // that run date. They are out of its scope (the lake cut at D), not
    // rejects: the run goes on (it used to stop with exit 3 here), they are
    // counted apart and the reject share is of the rows in scope.
    let o = run(&[
        "validate",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        "2025-03-31",
    ]);
    assert_exit(&o, 0);
    let early = validate_json(&dir.path().join("out"), "2025-03-31");
    let e = &early["tables"][0];
    let n = |k: &str| e[k].as_u64().unwrap_or_else(|| panic!("{k}: {e}"));
    assert!(n("rows_after_run_date") > rejected, "{early}");
    assert!(
        e["rejected_by_reason"].get("after_run_date").is_none(),
        "{early}"
    );
    assert_eq!(
        n("rows_read"),
        n("rows_accepted") + n("rows_rejected") + n("rows_after_run_date")
    );
    let share = e["reject_share"].as_f64().expect("share");
    let in_scope = (n("rows_read") - n("rows_after_run_date")) as f64;
    assert!(
        (share - n("rows_rejected") as f64 / in_scope).abs() < 1e-12,
        "{e}"
    );
}

#[test]
fn committed_sample_matches_its_generator_command() {
    let sample = repo().join("sample-data/retail");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sample.join("generator.json")).expect("generator.json"),
    )
    .expect("parse");
    let command = meta["command"].as_str().expect("command");
    let mut args: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect();
    let dir = tempfile::tempdir().expect("tmp");
    let out_pos = args.iter().position(|a| a == "--out").expect("--out") + 1;
    args[out_pos] = dir.path().display().to_string();
    let o = fidelis().args(&args).output().expect("runs");
    assert_exit(&o, 0);
    let committed = file_bytes(&sample);
    let regenerated = file_bytes(dir.path());
    assert!(!committed.is_empty());
    assert_eq!(
        committed, regenerated,
        "sample-data/retail is not what `{command}` makes"
    );
}
