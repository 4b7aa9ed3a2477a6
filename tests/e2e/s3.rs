//! The same job against a real S3-compatible server on 127.0.0.1 (started by
//! tests/run.sh): generate onto S3, validate from S3 into S3, and compare with
//! the same job on the local disk.

use std::process::Command;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::Digest as _;

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

/// The test bucket through object_store, with a runtime to block on.
struct Bucket {
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
}

impl Bucket {
    fn new(endpoint: &str) -> Self {
        Bucket {
            store: s3_store(endpoint),
            rt: tokio::runtime::Runtime::new().expect("rt"),
        }
    }

    fn get(&self, path: &str) -> bytes::Bytes {
        let p = ObjPath::from(path);
        self.rt
            .block_on(async { self.store.get(&p).await?.bytes().await })
            .unwrap_or_else(|e| panic!("s3://{BUCKET}/{path}: {e}"))
    }

    fn put(&self, path: &str, bytes: Vec<u8>) {
        self.rt
            .block_on(self.store.put(&ObjPath::from(path), bytes.into()))
            .expect("upload");
    }

    /// The committed sample below `prefix`, as a data team would land it;
    /// returns the files uploaded.
    fn upload_sample(&self, prefix: &str) -> usize {
        let sample = repo().join("sample-data/retail");
        let files = walk(&sample);
        for file in &files {
            let rel = file
                .strip_prefix(&sample)
                .expect("prefix")
                .display()
                .to_string();
            self.put(
                &format!("{prefix}/{rel}"),
                std::fs::read(file).expect("read"),
            );
        }
        files.len()
    }

    /// `support::staged_attempt` below the output prefix `out`: the key
    /// prefix of a stage's newest finished attempt.
    fn staged(&self, out: &str, run_date: &str, stage: &str) -> String {
        self.find(out, &|read, list| {
            crate::support::staged_attempt(read, list, run_date, stage)
        })
    }

    /// `support::staged_table_rel` below the output prefix `out`.
    fn staged_table(&self, out: &str, run_date: &str, stage: &str, table: &str) -> String {
        self.find(out, &|read, list| {
            crate::support::staged_table_rel(read, list, run_date, stage, table)
        })
    }

    fn find(&self, out: &str, find: crate::support::Find) -> String {
        let read = |p: &str| self.get(&format!("{out}/{p}")).to_vec();
        let list = |p: &str| -> Vec<String> {
            let skip = format!("{out}/");
            self.list(&format!("{out}/{p}"))
                .into_iter()
                .map(|m| m.location.as_ref().trim_start_matches(&skip).to_string())
                .collect()
        };
        format!("{out}/{}", find(&read, &list))
    }

    fn list(&self, prefix: &str) -> Vec<object_store::ObjectMeta> {
        use futures::TryStreamExt;
        let p = ObjPath::from(prefix);
        self.rt
            .block_on(self.store.list(Some(&p)).try_collect::<Vec<_>>())
            .expect("list")
    }
}

/// Run the nightly job with the three inputs under `data` (a URL or a path)
/// and the output at `out`, with the S3 environment when `endpoint` is given.
fn run_job(dir: &std::path::Path, data: &str, out: &str, run_date: &str, endpoint: Option<&str>) {
    run_stages(dir, data, out, run_date, endpoint, &["run"]);
}

/// Run the given stages, in order, like [`run_job`].
fn run_stages(
    dir: &std::path::Path,
    data: &str,
    out: &str,
    run_date: &str,
    endpoint: Option<&str>,
    stages: &[&str],
) {
    let cfg = job(dir, data, out, "");
    for stage in stages {
        let mut c = fidelis();
        if let Some(ep) = endpoint {
            with_s3_env(&mut c, ep);
        }
        let o = c
            .args([
                stage,
                "--config",
                cfg.to_str().expect("utf8"),
                "--run-date",
                run_date,
            ])
            .output()
            .expect("runs");
        assert_exit(&o, 0);
    }
}

/// Two validation reports count the same rows for every table.
fn assert_same_counts(a: &serde_json::Value, b: &serde_json::Value) {
    for i in 0..3 {
        for k in [
            "table",
            "rows_read",
            "rows_accepted",
            "rows_rejected",
            "rejected_by_reason",
        ] {
            assert_eq!(
                a["tables"][i][k], b["tables"][i][k],
                "{} {k}",
                a["tables"][i]["table"]
            );
        }
    }
}

#[test]
fn generate_and_validate_round_trip_through_s3() {
    let ep = endpoint();
    let prefix = unique_prefix("roundtrip");
    let s3_root = format!("s3://{BUCKET}/{prefix}");

    // 1. Generate straight onto S3, and the same data on the local disk.
    let mut c = fidelis();
    with_s3_env(&mut c, &ep);
    assert_exit(
        &c.args(gen_args(&format!("{s3_root}/data")))
            .output()
            .expect("runs"),
        0,
    );
    let local = tempfile::tempdir().expect("tmp");
    let data = local.path().join("data");
    assert_exit(
        &fidelis()
            .args(gen_args(data.to_str().expect("utf8")))
            .output()
            .expect("runs"),
        0,
    );

    // 2. Run the job from S3 into S3, and on the disk.
    let dir = tempfile::tempdir().expect("tmp");
    run_job(
        dir.path(),
        &format!("{s3_root}/data"),
        &format!("{s3_root}/out"),
        "2025-06-30",
        Some(&ep),
    );
    run_job(
        local.path(),
        data.to_str().expect("utf8"),
        "out",
        "2025-06-30",
        None,
    );

    // 3. Read the S3 outputs back and compare.
    let bucket = Bucket::new(&ep);
    let stage = bucket.staged(&format!("{prefix}/out"), "2025-06-30", "validate");
    let s3_report: serde_json::Value =
        serde_json::from_slice(&bucket.get(&format!("{stage}/validate.json"))).expect("json");
    assert_same_counts(
        &s3_report,
        &validate_json(&local.path().join("out"), "2025-06-30"),
    );
    assert!(
        s3_report["tables"][0]["url"]
            .as_str()
            .expect("url")
            .starts_with("s3://")
    );
    assert!(s3_report["tables"][0]["rows_rejected"].as_u64().expect("n") > 0);
    // The validated purchases were written to S3 as Parquet: one part file
    // per engine partition, each a Parquet file.
    let listed = bucket.list(&format!("{stage}/validated/purchases"));
    assert!(!listed.is_empty());
    for meta in &listed {
        assert_eq!(meta.location.extension(), Some("parquet"), "{meta:?}");
        let head = bucket
            .rt
            .block_on(bucket.store.get_range(&meta.location, 0..4))
            .expect("range get");
        assert_eq!(&head[..], b"PAR1", "{meta:?}");
    }
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

/// The committed sample, uploaded to S3 as a data team would land it, runs
/// through the nightly job from S3 into S3 with the same counts and the same
/// features as on the local disk.
#[test]
fn committed_sample_runs_from_s3_like_from_disk() {
    let ep = endpoint();
    let prefix = unique_prefix("sample");
    let bucket = Bucket::new(&ep);
    let sample = repo().join("sample-data/retail");
    let uploaded = bucket.upload_sample(&format!("{prefix}/landing"));
    assert!(uploaded >= 4);

    let dir = tempfile::tempdir().expect("tmp");
    let s3_root = format!("s3://{BUCKET}/{prefix}");
    // Validation and features (the models on S3 are covered by the round
    // trip above; the full model stage on the sample runs in train.rs).
    let stages = ["validate", "features"];
    run_stages(
        dir.path(),
        &format!("{s3_root}/landing"),
        &format!("{s3_root}/out"),
        "2026-11-22",
        Some(&ep),
        &stages,
    );
    let local = tempfile::tempdir().expect("tmp");
    run_stages(
        local.path(),
        sample.to_str().expect("utf8"),
        "out",
        "2026-11-22",
        None,
        &stages,
    );

    let validated = bucket.staged(&format!("{prefix}/out"), "2026-11-22", "validate");
    let s3_report: serde_json::Value =
        serde_json::from_slice(&bucket.get(&format!("{validated}/validate.json"))).expect("json");
    assert_same_counts(
        &s3_report,
        &validate_json(&local.path().join("out"), "2026-11-22"),
    );

    // What the stages left on the S3 server holds no clear email: every
    // object is copied down and decoded (the validated customers and the
    // customers' rejects are there).
    let copy = tempfile::tempdir().expect("tmp");
    let mut customer_files = 0;
    for m in bucket.list(&format!("{prefix}/out")) {
        let key = m.location.to_string();
        customer_files += usize::from(key.contains("customers") && key.ends_with(".parquet"));
        let dest = copy.path().join(key.replace('/', "__"));
        std::fs::write(&dest, bucket.get(&key)).expect("copy");
    }
    assert!(customer_files >= 1, "no staged customers on the server");
    let clear = emails_in_files(copy.path());
    assert!(clear.is_empty(), "{:?}", &clear[..clear.len().min(10)]);

    // The feature SQL reads the same from S3 as from the disk.
    let features = format!(
        "{}/as_of=2026-11-22",
        bucket.staged_table(
            &format!("{prefix}/out"),
            "2026-11-22",
            "features",
            "features"
        )
    );
    let (listed, other): (Vec<_>, Vec<_>) = bucket
        .list(&features)
        .into_iter()
        .partition(|m| m.location.extension() == Some("parquet"));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        other.is_empty(),
        "only data files in a table's folder: {other:?}"
    );
    // The stage's report of the cutoff is a file of the attempt's staging.
    let report = format!(
        "{}/features/as_of=2026-11-22/_report.json",
        bucket.staged(&format!("{prefix}/out"), "2026-11-22", "features")
    );
    assert!(!bucket.get(&report).is_empty(), "{report}");
    let copy = tempfile::tempdir().expect("tmp");
    std::fs::write(
        copy.path().join("part-00000.parquet"),
        bucket.get(listed[0].location.as_ref()),
    )
    .expect("write");
    let from_s3 = crate::features::by_customer(copy.path());
    let from_disk = crate::features::by_customer(
        &crate::support::staged_table(
            &local.path().join("out"),
            "2026-11-22",
            "features",
            "features",
        )
        .join("as_of=2026-11-22"),
    );
    assert!(from_disk.len() > 4000, "{}", from_disk.len());
    crate::features::assert_same_features(&from_s3, &from_disk, "from S3", "from disk");
}

/// Run `body` with a sample job writing to a fresh prefix of the test
/// bucket and read access to that output root.
fn with_s3_outputs(name: &str, body: &dyn Fn(&std::path::Path, &crate::publish::Outputs)) {
    let ep = endpoint();
    let dir = tempfile::tempdir().expect("tmp");
    let prefix = unique_prefix(name);
    let cfg = crate::publish::sample_job(dir.path(), &format!("s3://{BUCKET}/{prefix}/out"));
    let bucket = Bucket::new(&ep);
    let read = |p: &str| -> Option<Vec<u8>> {
        let path = ObjPath::from(format!("{prefix}/out/{p}"));
        bucket.rt.block_on(async {
            match bucket.store.get(&path).await {
                Ok(r) => Some(r.bytes().await.expect("body").to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("{path}: {e}"),
            }
        })
    };
    let list = |p: &str| -> Vec<String> {
        let skip = format!("{prefix}/out/");
        bucket
            .list(&format!("{prefix}/out/{p}"))
            .into_iter()
            .map(|m| m.location.to_string().trim_start_matches(&skip).to_string())
            .collect()
    };
    let write = |p: &str, bytes: &[u8]| {
        let path = ObjPath::from(format!("{prefix}/out/{p}"));
        bucket
            .rt
            .block_on(bucket.store.put(&path, bytes.to_vec().into()))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    };
    let env = |c: &mut Command| with_s3_env(c, &ep);
    body(
        &cfg,
        &crate::publish::Outputs {
            cfg: &cfg,
            read: &read,
            list: &list,
            write: &write,
            env: &env,
        },
    );
}

#[test]
fn sigkill_while_publishing_to_s3_leaves_the_published_run_intact() {
    with_s3_outputs(
        "publish",
        &crate::publish::sigkill_leaves_the_published_run_intact,
    );
}

#[test]
fn overlapping_runs_of_one_date_on_s3() {
    with_s3_outputs("overlap", &|cfg, outputs| {
        crate::overlap::overlapping_runs_of_one_date(cfg, outputs, crate::overlap::S3_PUBLISH_PAIRS)
    });
}

/// The leases and the finished markers rest on create-only writes: the
/// test server must refuse a second `PutMode::Create` (`If-None-Match: *`)
/// of the same key and keep the first object (some S3-compatible servers
/// ignore the header: garage, for one).
#[test]
fn the_s3_server_honours_if_none_match() {
    let bucket = Bucket::new(&endpoint());
    let key = ObjPath::from(format!("{}/create-only", unique_prefix("if-none-match")));
    let create = |body: &'static str| {
        let opts = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        bucket
            .rt
            .block_on(bucket.store.put_opts(&key, body.into(), opts))
    };
    create("first").expect("the first create-only write");
    match create("second") {
        Err(object_store::Error::AlreadyExists { .. }) => {}
        other => panic!(
            "the S3 test server does not honour If-None-Match: a second create-only write of {key} gave {other:?}; pick a server that does (docs/publishing.md)"
        ),
    }
    assert_eq!(bucket.get(key.as_ref()).as_ref(), b"first");
}

/// A job config whose three inputs are below `s3://fidelis-test/<landing>/`.
fn s3_job(dir: &std::path::Path, landing: &str, out: &str, extra: &str) -> std::path::PathBuf {
    job(dir, &format!("s3://{BUCKET}/{landing}"), out, extra)
}

/// A job config whose three inputs are below `data` (a URL or a path).
fn job(dir: &std::path::Path, data: &str, out: &str, extra: &str) -> std::path::PathBuf {
    let inputs: Vec<(String, String)> = ["purchases", "interactions", "customers"]
        .iter()
        .map(|t| (t.to_string(), format!("{data}/{t}/")))
        .collect();
    let inputs: Vec<(&str, &str)> = inputs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_config(dir, &inputs, out, extra)
}

/// An S3 server of one test's own (its own moto process and port), so that
/// pausing it stalls no other test. Killed when dropped.
struct OwnServer {
    child: std::process::Child,
    endpoint: String,
}

impl OwnServer {
    fn start() -> Self {
        let bin = std::env::var("FIDELIS_TEST_MOTO").expect(
            "FIDELIS_TEST_MOTO is not set: run the tests with `bash tests/run.sh`, which installs the S3 server",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let curl = |args: &[&str]| {
            Command::new("curl")
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let up = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            curl(&["-sf", "-o", "/dev/null", &format!("{endpoint}/moto-api/")])
        });
        assert!(up, "the test's own S3 server did not start on {endpoint}");
        assert!(curl(&["-sf", "-X", "PUT", &format!("{endpoint}/{BUCKET}")]));
        OwnServer { child, endpoint }
    }

    /// Send a signal (the shell's own `kill`: no procps needed).
    fn signal(&self, sig: &str) {
        let ok = Command::new("sh")
            .args(["-c", &format!("kill {sig} {}", self.child.id())])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig}");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // Never assert here: a panic while unwinding would abort the tests.
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -CONT {}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The S3 server paused (SIGSTOP) while a stage runs, for each of
/// `outages` in turn within one run of the date: that stage exits 4 after
/// the configured retries, with one short message; nothing is published
/// and the earlier run stays intact; resumed, the stage and the rest of the
/// run go through and publish. One server and one earlier run for all of
/// them (each outage is its own stage's attempt).
fn outages_during(outages: &[&str]) {
    const STAGES: [&str; 7] = [
        "validate", "features", "train", "score", "export", "report", "publish",
    ];
    let server = OwnServer::start();
    let bucket = Bucket::new(&server.endpoint);
    let prefix = unique_prefix("outage");
    bucket.upload_sample(&format!("{prefix}/landing"));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = s3_job(
        dir.path(),
        &format!("{prefix}/landing"),
        &format!("s3://{BUCKET}/{prefix}/out"),
        "[storage]\nmax_retries = 3\nretry_timeout_secs = 10\nrequest_timeout_secs = 2\nconnect_timeout_secs = 2\n",
    );
    let run_stage = |s: &str, date: &str| {
        let mut c = fidelis();
        with_s3_env(&mut c, &server.endpoint);
        c.args([
            s,
            "--config",
            cfg.to_str().expect("utf8"),
            "--run-date",
            date,
        ])
        .output()
        .expect("runs")
    };
    // An earlier published run of the date.
    assert_exit(&run_stage("run", "2026-11-22"), 0);
    let env = |c: &mut Command| with_s3_env(c, &server.endpoint);
    let before = current_record(&cfg, &env, "2026-11-22").expect("published");
    for stage in STAGES {
        if !outages.contains(&stage) {
            assert_exit(&run_stage(stage, "2026-11-22"), 0);
            continue;
        }
        server.signal("-STOP");
        let started = std::time::Instant::now();
        let o = run_stage(stage, "2026-11-22");
        let took = started.elapsed();
        server.signal("-CONT");
        assert_exit(&o, 4);
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{stage}: {err}");
        assert!(lines[0].contains("storage failure"), "{stage}: {err}");
        assert!(
            lines[0].contains(&server.endpoint) || lines[0].contains("s3://"),
            "{stage}: {err}"
        );
        assert!(lines[0].len() < 1_000, "a short message: {}", lines[0]);
        assert!(took.as_secs() < 120, "{stage} took {took:?} to give up");
        // Nothing published: the earlier run is the current one, with
        // every file it names.
        assert_eq!(
            current_record(&cfg, &env, "2026-11-22").as_ref(),
            Some(&before),
            "{stage}: the current run changed"
        );
        for f in before["files"].as_array().expect("files") {
            let bytes = bucket.get(&format!(
                "{prefix}/out/{}",
                f["path"].as_str().expect("path")
            ));
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&bytes)),
                f["sha256"].as_str().expect("sha"),
                "{}",
                f["path"]
            );
        }
        for (table, t) in before["tables"].as_object().expect("tables") {
            for f in t["files"].as_array().expect("files") {
                let bytes = bucket.get(&format!(
                    "{prefix}/out/{table}/{}",
                    f["path"].as_str().expect("path")
                ));
                assert_eq!(
                    Some(bytes.len() as u64),
                    f["bytes"].as_u64(),
                    "{table}: {f}"
                );
            }
        }
        // Resumed: the stage goes through.
        assert_exit(&run_stage(stage, "2026-11-22"), 0);
    }
    assert_ne!(
        current_record(&cfg, &env, "2026-11-22").as_ref(),
        Some(&before),
        "the rerun published"
    );
}

#[test]
fn s3_paused_during_features_score_and_export_exits_4_and_the_rerun_publishes() {
    outages_during(&["features", "score", "export"]);
}

/// The backfill test of tests/e2e/backfill.rs with the inputs and the
/// outputs on the S3 server: a run of a date sixty days back on the lake as
/// it is gives every published value of a run on the lake cut at that date.
#[test]
fn a_backfill_from_s3_equals_a_run_on_the_lake_cut_at_that_date() {
    let ep = endpoint();
    let bucket = Bucket::new(&ep);
    let prefix = unique_prefix("backfill");
    let dir = tempfile::tempdir().expect("tmp");
    bucket.upload_sample(&format!("{prefix}/today/landing"));
    let cut = dir.path().join("cut-landing");
    crate::backfill::cut_sample(&cut);
    for file in walk(&cut) {
        let rel = file
            .strip_prefix(&cut)
            .expect("prefix")
            .display()
            .to_string();
        bucket.put(
            &format!("{prefix}/cut/landing/{rel}"),
            std::fs::read(&file).expect("read"),
        );
    }
    for lake in ["today", "cut"] {
        let cfg_dir = dir.path().join(lake);
        std::fs::create_dir_all(&cfg_dir).expect("mkdir");
        let cfg = s3_job(
            &cfg_dir,
            &format!("{prefix}/{lake}/landing"),
            &format!("s3://{BUCKET}/{prefix}/{lake}/out"),
            &crate::publish::exports_section(),
        );
        let mut c = fidelis();
        with_s3_env(&mut c, &ep);
        let o = c
            .args([
                "run",
                "--config",
                cfg.to_str().expect("utf8"),
                "--run-date",
                crate::backfill::BACKFILL_DATE,
            ])
            .output()
            .expect("runs");
        assert_exit(&o, 0);
        // A local mirror of the output root, for the comparison.
        let root = format!("{prefix}/{lake}/out/");
        for meta in bucket.list(&root) {
            let key = meta.location.to_string();
            let rel = key.strip_prefix(&root).expect("below the root");
            let local = dir.path().join(format!("{lake}-out")).join(rel);
            std::fs::create_dir_all(local.parent().expect("parent")).expect("mkdir");
            std::fs::write(&local, bucket.get(&key)).expect("write");
        }
    }
    crate::backfill::assert_same_outputs(
        &dir.path().join("today-out"),
        &dir.path().join("cut-out"),
    );
}
