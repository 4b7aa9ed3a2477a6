//! The same job against a real S3-compatible server on 127.0.0.1 (started by
//! tests/run.sh): generate onto S3, validate from S3 into S3, and compare with
//! the same job on the local disk.

use std::process::Command;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::*;

const BUCKET: &str = "fidelis-test";

fn endpoint() -> String {
    std::env::var("FIDELIS_TEST_S3_ENDPOINT").expect(
        "FIDELIS_TEST_S3_ENDPOINT is not set: run the tests with `bash tests/run.sh`, which starts the S3 server",
    )
}

fn with_s3_env(c: &mut Command, endpoint: &str) {
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
}

fn s3_store(endpoint: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .build()
            .expect("s3 store"),
    )
}

fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn gen_args(out: &str) -> Vec<String> {
    [
        "generate",
        "--customers",
        "400",
        "--seed",
        "5",
        "--start",
        "2024-01-01",
        "--end",
        "2025-06-30",
        "--dirty-share",
        "0.003",
        "--out",
        out,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn generate_and_validate_round_trip_through_s3() {
    let ep = endpoint();
    let prefix = unique_prefix("roundtrip");
    let s3_root = format!("s3://{BUCKET}/{prefix}");

    // 1. Generate straight onto S3.
    let mut c = fidelis();
    with_s3_env(&mut c, &ep);
    let o = c
        .args(gen_args(&format!("{s3_root}/data")))
        .output()
        .expect("runs");
    assert_exit(&o, 0);

    // 2. Run the job from S3 into S3.
    let dir = tempfile::tempdir().expect("tmp");
    let inputs: Vec<(String, String)> = ["purchases", "interactions", "customers"]
        .iter()
        .map(|t| (t.to_string(), format!("{s3_root}/data/{t}")))
        .collect();
    let inputs_ref: Vec<(&str, &str)> = inputs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let cfg = write_config(dir.path(), &inputs_ref, &format!("{s3_root}/out"), "");
    let mut c = fidelis();
    with_s3_env(&mut c, &ep);
    let o = c
        .args([
            "run",
            "--config",
            cfg.to_str().expect("utf8"),
            "--run-date",
            "2025-06-30",
        ])
        .output()
        .expect("runs");
    assert_exit(&o, 0);

    // 3. The same job on the local disk.
    let local = tempfile::tempdir().expect("tmp");
    let o = fidelis()
        .args(gen_args(local.path().join("data").to_str().expect("utf8")))
        .output()
        .expect("runs");
    assert_exit(&o, 0);
    let cfg = write_config(
        local.path(),
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
    let local_report = validate_json(&local.path().join("out"), "2025-06-30");

    // 4. Read the S3 outputs back and compare.
    let store = s3_store(&ep);
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let report_path = ObjPath::from(format!(
        "{prefix}/out/_staging/run_date=2025-06-30/validate.json"
    ));
    let bytes = rt
        .block_on(async { store.get(&report_path).await?.bytes().await })
        .expect("validate.json on S3");
    let s3_report: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    for i in 0..3 {
        let (s, l) = (&s3_report["tables"][i], &local_report["tables"][i]);
        assert_eq!(s["table"], l["table"]);
        for k in [
            "rows_read",
            "rows_accepted",
            "rows_rejected",
            "rejected_by_reason",
        ] {
            assert_eq!(s[k], l[k], "{} {k}", s["table"]);
        }
        assert!(s["url"].as_str().expect("url").starts_with("s3://"), "{s}");
    }
    assert!(s3_report["tables"][0]["rows_rejected"].as_u64().expect("n") > 0);
    // The validated purchases were written to S3 as Parquet.
    let listed: Vec<_> = rt
        .block_on(async {
            use futures::TryStreamExt;
            store
                .list(Some(&ObjPath::from(format!(
                    "{prefix}/out/_staging/run_date=2025-06-30/validated/purchases"
                ))))
                .try_collect::<Vec<_>>()
                .await
        })
        .expect("list");
    assert_eq!(listed.len(), 1);
    let head = rt
        .block_on(store.get_range(&listed[0].location, 0..4))
        .expect("range get");
    assert_eq!(&head[..], b"PAR1");
}

#[test]
fn unreachable_storage_exits_4_after_retries() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = write_config(
        dir.path(),
        &[("purchases", "s3://fidelis-test/nothing/purchases")],
        "out",
        "[storage]\nmax_retries = 1\nretry_timeout_secs = 5\n",
    );
    let mut c = fidelis();
    // Nothing listens on port 9 of the loopback: every request is refused.
    with_s3_env(&mut c, "http://127.0.0.1:9");
    let o = c
        .args([
            "validate",
            "--config",
            cfg.to_str().expect("utf8"),
            "--run-date",
            "2025-06-30",
        ])
        .output()
        .expect("runs");
    assert_exit(&o, 4);
    assert!(
        stderr(&o).contains("s3://fidelis-test/nothing/purchases"),
        "{}",
        stderr(&o)
    );
}
