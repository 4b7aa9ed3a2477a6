//! What the users receive: the exports checked with SQL against the
//! inputs, the manifest that reconciles, crash safety of publishing (a real
//! SIGKILL at three points, on the local disk here and on the S3 server in
//! s3.rs), and the exit codes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use arrow::array::{Array, AsArray, RecordBatch};
use sha2::{Digest, Sha256};

use crate::support::*;

pub const RUN_DATE: &str = "2026-11-22";
const CONTROL_SHARE: f64 = 0.10;

/// The `[exports]` section of jobs/local.toml (the audiences users see).
pub fn exports_section() -> String {
    let s = std::fs::read_to_string(repo().join("jobs/local.toml")).expect("jobs/local.toml");
    s[s.find("[exports]").expect("[exports] in jobs/local.toml")..].to_string()
}

/// A config for the committed sample with the example audiences, writing to `out`.
pub fn sample_job(dir: &Path, out: &str) -> PathBuf {
    let s = repo().join("sample-data/retail");
    let p = |t: &str| s.join(t).to_string_lossy().into_owned();
    write_config(
        dir,
        &[
            ("purchases", &p("purchases")),
            ("interactions", &p("interactions")),
            ("customers", &p("customers")),
        ],
        out,
        &exports_section(),
    )
}

/// `fidelis sql --format json`, one JSON object per row.
fn sql_rows(cfg: &Path, query: &str) -> Vec<serde_json::Value> {
    let o = run(&[
        "sql",
        "--config",
        cfg.to_str().expect("utf8"),
        "--format",
        "json",
        query,
    ]);
    assert_exit(&o, 0);
    stdout(&o)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json row"))
        .collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The control rule of the contract, computed here independently.
fn in_control(id: &str, audience: &str) -> bool {
    let mut bytes = id.as_bytes().to_vec();
    bytes.push(0x1F);
    bytes.extend_from_slice(audience.as_bytes());
    let d = Sha256::digest(&bytes);
    let v = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (v as f64) / 2f64.powi(64) < CONTROL_SHARE
}

struct Customer {
    email: Option<String>,
    consent: HashMap<&'static str, Option<bool>>,
}

fn sample_customers() -> HashMap<String, Customer> {
    let batches = read_parquet_dir(&repo().join("sample-data/retail/customers"));
    let ids = strings(&batches, "customer_id");
    let emails = strings(&batches, "email");
    let mut consents: HashMap<&'static str, Vec<Option<bool>>> = HashMap::new();
    for (ch, col) in [
        ("email", "consent_email"),
        ("sms", "consent_sms"),
        ("push", "consent_push"),
        ("ads", "consent_ads"),
    ] {
        let mut v = Vec::new();
        for b in &batches {
            let c = b.column_by_name(col).expect("consent column").as_boolean();
            v.extend((0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i))));
        }
        consents.insert(ch, v);
    }
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            let consent = consents.iter().map(|(k, v)| (*k, v[i])).collect();
            (
                id.expect("id"),
                Customer {
                    email: emails[i].clone(),
                    consent,
                },
            )
        })
        .collect()
}

#[test]
fn exports_keep_to_consent_control_groups_and_one_audience_per_customer() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let cfg = sample_job(dir.path(), &out.to_string_lossy());
    let o = run(&[
        "run",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 0);

    let customers = sample_customers();
    let unsub: HashMap<String, serde_json::Value> = sql_rows(
        &cfg,
        &format!(
            "select customer_id, unsubscribed_email as email, unsubscribed_sms as sms, unsubscribed_push as push \
             from features where as_of = DATE '{RUN_DATE}'"
        ),
    )
    .into_iter()
    .map(|r| (r["customer_id"].as_str().expect("id").to_string(), r))
    .collect();
    let rows = sql_rows(
        &cfg,
        "select customer_id, audience, audience_name, channel, \"group\", email_sha256, email from exports",
    );
    assert!(rows.len() > 500, "{} exported rows", rows.len());
    let mut seen = HashSet::new();
    let mut per_audience: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in &rows {
        let id = r["customer_id"].as_str().expect("id");
        let channel = r["channel"].as_str().expect("channel");
        let name = r["audience_name"].as_str().expect("name");
        assert!(seen.insert(id.to_string()), "{id} is in two audiences");
        let c = customers
            .get(id)
            .unwrap_or_else(|| panic!("{id} has no customers row"));
        assert_eq!(
            c.consent[channel],
            Some(true),
            "{id} exported on {channel} without consent"
        );
        if channel != "ads" {
            assert_ne!(
                unsub[id][channel],
                serde_json::json!(true),
                "{id} unsubscribed from {channel}"
            );
        }
        let email = c
            .email
            .as_deref()
            .expect("exported customers have an email");
        assert_eq!(
            r["email_sha256"].as_str(),
            Some(sha256_hex(email.trim().to_lowercase().as_bytes()).as_str()),
            "{id}"
        );
        assert!(
            r.get("email").is_none_or(serde_json::Value::is_null),
            "clear email for {id}"
        );
        let control = r["group"] == "control";
        assert_eq!(control, in_control(id, name), "{id} in {name}: group");
        let e = per_audience.entry(name.to_string()).or_default();
        if control { e.1 += 1 } else { e.0 += 1 }
    }
    assert_eq!(per_audience.len(), 4, "{per_audience:?}");
    for (name, (send, control)) in &per_audience {
        let n = (send + control) as f64;
        let share = *control as f64 / n;
        let tolerance = 3.0 * (CONTROL_SHARE * (1.0 - CONTROL_SHARE) / n).sqrt() + 1.0 / n;
        assert!(
            (share - CONTROL_SHARE).abs() <= tolerance,
            "{name}: control share {share} of {n}"
        );
    }
    // The size cap of the win-back audience (max_size = 300) holds.
    assert!(per_audience["Win back lapsed"].0 <= 300);

    // The manifest reconciles: rows read = accepted + rejected, the
    // rejects files hold the rejected rows, and every file's checksum holds.
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join(format!("runs/run_date={RUN_DATE}/_manifest.json")))
            .expect("manifest"),
    )
    .expect("json");
    for t in manifest["inputs"]["tables"].as_array().expect("inputs") {
        let (read, ok, bad) = (
            t["rows_read"].as_u64().expect("n"),
            t["rows_accepted"].as_u64().expect("n"),
            t["rows_rejected"].as_u64().expect("n"),
        );
        assert_eq!(read, ok + bad, "{t}");
        let name = t["table"].as_str().expect("table");
        let in_files: u64 = manifest["tables"]["rejects"]
            .as_array()
            .expect("rejects")
            .iter()
            .filter(|f| {
                f["path"]
                    .as_str()
                    .expect("path")
                    .contains(&format!("table={name}/"))
            })
            .map(|f| f["rows"].as_u64().expect("rows"))
            .sum();
        assert_eq!(in_files, bad, "{name}: rejects files");
    }
    assert_eq!(manifest["config_hash"].as_str().map(str::len), Some(64));
    assert!(
        manifest["models"]["model_version"].is_string(),
        "{}",
        manifest["models"]
    );
    for f in all_files(&manifest) {
        let bytes = std::fs::read(out.join(&f.0)).expect("published file");
        assert_eq!(sha256_hex(&bytes), f.1, "{}", f.0);
    }
    // The summary counts agree with the files.
    for a in manifest["exports"]["audiences"]
        .as_array()
        .expect("audiences")
    {
        let (send, control) = per_audience[a["audience"].as_str().expect("name")];
        assert_eq!(a["send"].as_u64(), Some(send));
        assert_eq!(a["control"].as_u64(), Some(control));
    }
}

/// (path, sha256) of every file a manifest names.
pub fn all_files(m: &serde_json::Value) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for files in m["tables"].as_object().expect("tables").values() {
        for f in files.as_array().expect("files") {
            v.push((
                f["path"].as_str().expect("path").to_string(),
                f["sha256"].as_str().expect("sha").to_string(),
            ));
        }
    }
    v
}

/// Read access to an output root (the local disk or the S3 bucket).
pub struct Outputs<'a> {
    pub read: &'a dyn Fn(&str) -> Option<Vec<u8>>,
    pub list: &'a dyn Fn(&str) -> Vec<String>,
    pub env: &'a dyn Fn(&mut Command),
}

fn scores_of(
    outputs: &Outputs,
    manifest: &serde_json::Value,
) -> HashMap<String, (Option<f64>, Option<f64>)> {
    let path = manifest["tables"]["scores"][0]["path"]
        .as_str()
        .expect("scores file");
    let bytes = bytes::Bytes::from((outputs.read)(path).expect("scores"));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 8192)
        .expect("parquet");
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    let ids = strings(&batches, "customer_id");
    let f = |name: &str| -> Vec<Option<f64>> {
        let mut v = Vec::new();
        for b in &batches {
            let c = b
                .column_by_name(name)
                .expect(name)
                .as_primitive::<arrow::datatypes::Float64Type>();
            v.extend((0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i))));
        }
        v
    };
    let (churn, clv) = (f("churn_probability"), f("clv_12m"));
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| (id.expect("id"), (churn[i], clv[i])))
        .collect()
}

fn assert_intact(outputs: &Outputs, manifest_bytes: &[u8], what: &str) {
    let manifest_path = format!("runs/run_date={RUN_DATE}/_manifest.json");
    assert_eq!(
        (outputs.read)(&manifest_path).as_deref(),
        Some(manifest_bytes),
        "{what}: the manifest changed"
    );
    let m: serde_json::Value = serde_json::from_slice(manifest_bytes).expect("json");
    for (path, sha) in all_files(&m) {
        let bytes = (outputs.read)(&path).unwrap_or_else(|| panic!("{what}: {path} is gone"));
        assert_eq!(sha256_hex(&bytes), sha, "{what}: {path} changed");
    }
}

/// The lease of the SIGKILL test: short, so that the killed holder's lease
/// expires within the test.
const SHORT_LEASE_MINUTES: f64 = 0.1;

/// Wait until a lease of [`SHORT_LEASE_MINUTES`] taken now has expired.
fn wait_for_expiry() {
    std::thread::sleep(std::time::Duration::from_secs_f64(
        SHORT_LEASE_MINUTES * 60.0 + 0.5,
    ));
}

/// Run the job; kill `publish` with SIGKILL at each pause point (holding
/// the date's lease and the publish lease); check the first run's outputs
/// each time, and that the next publish is refused with exit 75 until the
/// killed one's lease expires; then a run with a new id is refused until
/// the lease expires, takes it over, and gives the same scores.
pub fn sigkill_leaves_the_published_run_intact(cfg: &Path, outputs: &Outputs) {
    let text = std::fs::read_to_string(cfg).expect("config");
    let text = text.replacen(
        "[output]\n",
        &format!("[output]\nlease_minutes = {SHORT_LEASE_MINUTES}\n"),
        1,
    );
    assert!(text.contains("lease_minutes"), "{text}");
    std::fs::write(cfg, text).expect("config");
    let cfg_s = cfg.to_str().expect("utf8");
    let job = |stage: &str| {
        let mut c = fidelis();
        (outputs.env)(&mut c);
        c.args([stage, "--config", cfg_s, "--run-date", RUN_DATE]);
        c
    };
    let o = job("run").output().expect("runs");
    assert_exit(&o, 0);
    let manifest_path = format!("runs/run_date={RUN_DATE}/_manifest.json");
    let first = (outputs.read)(&manifest_path).expect("manifest");
    let first_m: serde_json::Value = serde_json::from_slice(&first).expect("json");
    let first_scores = scores_of(outputs, &first_m);

    for point in [
        "publish.data",
        "publish.before_manifest",
        "publish.manifest",
    ] {
        let mut c = job("publish");
        c.env("FIDELIS_FAULT_PAUSE", point)
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        let mut child = c.spawn().expect("spawn");
        let pipe = child.stderr.take().expect("stderr");
        let mut paused = false;
        let mut log = String::new();
        for line in BufReader::new(pipe).lines() {
            let line = line.expect("line");
            log.push_str(&line);
            log.push('\n');
            if line.contains(&format!("paused at {point}")) {
                paused = true;
                break;
            }
        }
        assert!(paused, "publish never reached {point}:\n{log}");
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
        assert_intact(outputs, &first, point);
        // The killed publish still holds the publish lease: refused.
        let o = job("publish").output().expect("runs");
        assert_exit(&o, 75);
        assert!(
            stderr(&o).contains("another publish of run date"),
            "{}",
            stderr(&o)
        );
        assert_intact(outputs, &first, point);
        wait_for_expiry();
    }

    // The last killed publish held the date's lease too (for the run id
    // validate recorded): a run with a new id is refused until it expires,
    // then takes it over, replaces the date's outputs and cleans the
    // leftovers of the killed publishes; the scores are the same.
    let mut c = job("publish");
    c.env("FIDELIS_FAULT_PAUSE", "publish.data")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = c.spawn().expect("spawn");
    for line in BufReader::new(child.stderr.take().expect("stderr")).lines() {
        if line.expect("line").contains("paused at publish.data") {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let o = job("run").output().expect("runs");
    assert_exit(&o, 75);
    assert!(
        stderr(&o).contains("another run holds run date"),
        "{}",
        stderr(&o)
    );
    wait_for_expiry();
    let o = job("run").output().expect("runs");
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains("took over an expired lease"),
        "{}",
        stderr(&o)
    );
    let second = (outputs.read)(&manifest_path).expect("manifest");
    let second_m: serde_json::Value = serde_json::from_slice(&second).expect("json");
    assert_ne!(first_m["run_id"], second_m["run_id"]);
    assert_intact(outputs, &second, "rerun");
    let run_id = second_m["run_id"].as_str().expect("run id");
    for table in ["scores", "segments", "exports", "features", "models"] {
        for path in (outputs.list)(&format!("{table}/run_date={RUN_DATE}/")) {
            assert!(
                path.contains(&format!("run_id={run_id}/")),
                "leftover {path}"
            );
        }
    }
    let second_scores = scores_of(outputs, &second_m);
    assert_eq!(first_scores.len(), second_scores.len());
    for (id, (c1, v1)) in &first_scores {
        let (c2, v2) = second_scores[id];
        for (a, b) in [(c1, c2), (v1, v2)] {
            match (a, b) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-9, "{id}: {a} vs {b}"),
                (a, b) => assert_eq!(*a, b, "{id}"),
            }
        }
    }
}

/// Run `body` with a sample job writing to a temporary local output root
/// and read access to it (the local twin of `s3::with_s3_outputs`).
pub fn with_local_outputs(body: &dyn Fn(&Path, &Outputs)) {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let cfg = sample_job(dir.path(), &out.to_string_lossy());
    let read = |p: &str| std::fs::read(out.join(p)).ok();
    let list = |p: &str| {
        walk(&out.join(p))
            .into_iter()
            .map(|f| {
                f.strip_prefix(&out)
                    .expect("below")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    body(
        &cfg,
        &Outputs {
            read: &read,
            list: &list,
            env: &|_| {},
        },
    );
}

#[test]
fn sigkill_while_publishing_to_the_local_disk() {
    with_local_outputs(&sigkill_leaves_the_published_run_intact);
}

#[test]
fn a_corrupt_staged_artifact_is_an_internal_error_70() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let cfg = sample_job(dir.path(), &out.to_string_lossy());
    // A finished train attempt of run R whose model file is corrupt.
    let run_dir = out.join(format!("_staging/run_date={RUN_DATE}/run_id=R"));
    let models = run_dir.join("attempt=T/models");
    std::fs::create_dir_all(&models).expect("mkdir");
    std::fs::write(models.join("model.json"), b"{ not json").expect("write");
    std::fs::create_dir_all(run_dir.join("_finished/train")).expect("mkdir");
    std::fs::write(
        run_dir.join("_finished/train/attempt=T.json"),
        br#"{"run_id": "R", "attempts": {"train": "T"}}"#,
    )
    .expect("marker");
    std::fs::write(run_dir.join("../_run.json"), br#"{"run_id": "R"}"#).expect("current run");
    let o = run(&[
        "score",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 70);
    assert!(stderr(&o).contains("model.json"), "{}", stderr(&o));
}

#[test]
fn publishing_without_staged_outputs_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = sample_job(dir.path(), &dir.path().join("out").to_string_lossy());
    let o = run(&[
        "publish",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 2);
    assert!(!dir.path().join("out/runs").exists());
}
