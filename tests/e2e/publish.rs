//! What the users receive: the exports checked with SQL against the
//! inputs, the runs row that reconciles, crash safety of publishing (a real
//! SIGKILL between two table commits and before the runs row, on the local
//! disk here and on the S3 server in s3.rs), and the exit codes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
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

/// The customers of the input `dir`, a customer's consent on a channel
/// `Some(true)` only when every row of the customer grants it.
fn input_customers(dir: &Path) -> HashMap<String, Customer> {
    let batches = read_parquet_dir(dir);
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
    let mut customers: HashMap<String, Customer> = HashMap::new();
    for (i, id) in ids.into_iter().enumerate() {
        let Some(id) = id else { continue };
        let c = customers.entry(id).or_insert_with(|| Customer {
            email: emails[i].clone(),
            consent: consents.keys().map(|k| (*k, Some(true))).collect(),
        });
        for (k, v) in &consents {
            if v[i] != Some(true) {
                c.consent.insert(k, v[i].or(Some(false)));
            }
        }
    }
    customers
}

/// The committed sample's customers, with 15 of those who granted email
/// consent given a second row each: their own row now withdraws it, the
/// other (older: no signup date) still grants it. Returns the folder and
/// the 15 ids.
fn customers_with_consent_conflicts(dir: &Path) -> (PathBuf, Vec<String>) {
    use arrow::array::{BooleanArray, RecordBatch};
    let batches = read_parquet_dir(&repo().join("sample-data/retail/customers"));
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat");
    let ids = strings(std::slice::from_ref(&all), "customer_id");
    let emails = strings(std::slice::from_ref(&all), "email");
    let consent = all
        .column_by_name("consent_email")
        .expect("consent_email")
        .as_boolean()
        .clone();
    let mut chosen: Vec<usize> = (0..all.num_rows())
        .filter(|&i| consent.is_valid(i) && consent.value(i) && emails[i].is_some())
        .collect();
    chosen.sort_by_key(|&i| ids[i].clone());
    chosen.truncate(15);
    // The customers' own rows withdraw email consent.
    let withdrawn: BooleanArray = (0..all.num_rows())
        .map(|i| {
            if chosen.contains(&i) {
                Some(false)
            } else {
                consent.is_valid(i).then(|| consent.value(i))
            }
        })
        .collect();
    let schema = all.schema();
    let at = schema.index_of("consent_email").expect("column");
    let mut columns = all.columns().to_vec();
    columns[at] = Arc::new(withdrawn);
    let own = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    // The second rows: the same customers, no signup date, consent given.
    let picks =
        arrow::array::UInt32Array::from(chosen.iter().map(|&i| i as u32).collect::<Vec<_>>());
    let mut columns: Vec<Arc<dyn Array>> = all
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &picks, None).expect("take"))
        .collect();
    let ts = schema.index_of("signup_ts").expect("column");
    columns[ts] = arrow::array::new_null_array(schema.field(ts).data_type(), chosen.len());
    columns[at] = Arc::new(BooleanArray::from(vec![Some(true); chosen.len()]));
    let second = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    // Dirty rows, rejected with their emails: two with no customer id, two
    // with a negative acquisition cost.
    let picks = arrow::array::UInt32Array::from(
        chosen.iter().take(4).map(|&i| i as u32).collect::<Vec<_>>(),
    );
    let mut columns: Vec<Arc<dyn Array>> = all
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &picks, None).expect("take"))
        .collect();
    let id = schema.index_of("customer_id").expect("column");
    columns[id] = Arc::new(arrow::array::StringArray::from(vec![
        Some(""),
        None,
        Some("dirty-1"),
        Some("dirty-2"),
    ]));
    let cost = schema.index_of("acquisition_cost").expect("column");
    columns[cost] = arrow::compute::cast(
        &arrow::array::Float64Array::from(vec![1.0, 1.0, -5.0, -0.5]),
        schema.field(cost).data_type(),
    )
    .expect("cast");
    let dirty = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    let folder = dir.join("customers");
    write_parquet(&folder.join("part-00000.parquet"), &own);
    write_parquet(&folder.join("part-00001.parquet"), &second);
    write_parquet(&folder.join("part-00002.parquet"), &dirty);
    let chosen = chosen
        .iter()
        .map(|&i| ids[i].clone().expect("id"))
        .collect();
    (folder, chosen)
}

#[test]
fn exports_keep_to_consent_control_groups_and_one_audience_per_customer() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    // Consent is conservative: 15 customers with two rows that disagree on
    // email consent are exported on no email audience.
    let (customers_dir, conflicted) = customers_with_consent_conflicts(dir.path());
    let s = repo().join("sample-data/retail");
    let p = |t: &str| s.join(t).to_string_lossy().into_owned();
    let cfg = write_config(
        dir.path(),
        &[
            ("purchases", &p("purchases")),
            ("interactions", &p("interactions")),
            ("customers", &customers_dir.to_string_lossy()),
        ],
        &out.to_string_lossy(),
        &exports_section(),
    );
    // The default: the staging of a published run goes.
    let text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(
        &cfg,
        text.replace("keep_staging = true", "keep_staging = false"),
    )
    .expect("config");
    let o = run(&[
        "run",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
        "--log-level",
        "debug",
    ]);
    assert_exit(&o, 0);
    // No clear email at rest or in the logs: not in a value of any file
    // under the output root (rejects, exports, report, logs of the tables),
    // not on stdout or in a debug log line; the scan does find the
    // inputs' addresses, duplicate and dirty rows included.
    let in_inputs: HashSet<String> = emails_in_files(&customers_dir)
        .into_iter()
        .filter_map(|f| Some(f.split_once(": ")?.0.to_string()))
        .collect();
    assert_eq!(in_inputs.len(), 3, "{in_inputs:?}");
    let at_rest = emails_in_files(&out);
    assert!(
        at_rest.is_empty(),
        "{} clear emails, the first: {:?}",
        at_rest.len(),
        &at_rest[..at_rest.len().min(10)]
    );
    for line in stdout(&o).lines().chain(stderr(&o).lines()) {
        assert_eq!(find_email(line), None, "{line}");
    }
    let record = current_record(&cfg, &|_| {}, RUN_DATE).expect("a current run");
    let staging = out.join(format!(
        "_staging/run_date={RUN_DATE}/run_id={}",
        record["staged"]["run_id"].as_str().expect("run id")
    ));
    assert!(
        walk(&staging).is_empty(),
        "the published run's staging is left: {:?}",
        walk(&staging)
    );

    let customers = input_customers(&customers_dir);
    for id in &conflicted {
        assert_eq!(customers[id].consent["email"], Some(false), "{id}");
    }
    let unsub: HashMap<String, serde_json::Value> = sql_rows(
        &cfg,
        &|_| {},
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
        &|_| {},
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

    // The runs row reconciles: rows read = accepted + rejected, the
    // rejects tables hold the rejected rows, every file's checksum holds.
    for t in record["inputs"]["tables"].as_array().expect("inputs") {
        let (read, ok, bad) = (
            t["rows_read"].as_u64().expect("n"),
            t["rows_accepted"].as_u64().expect("n"),
            t["rows_rejected"].as_u64().expect("n"),
        );
        assert_eq!(read, ok + bad, "{t}");
        let name = t["table"].as_str().expect("table");
        if name == "customers" {
            assert_eq!(t["consent_conflicts"].as_u64(), Some(15), "{t}");
            assert_eq!(t["rejected_by_reason"]["duplicate_customer"], 15, "{t}");
            assert_eq!(t["rejected_by_reason"]["null_customer_id"], 2, "{t}");
            assert_eq!(
                t["rejected_by_reason"]["negative_acquisition_cost"], 2,
                "{t}"
            );
        }
        let in_files: u64 = record["tables"][format!("rejects_{name}")]["files"]
            .as_array()
            .expect("rejects")
            .iter()
            .map(|f| f["rows"].as_u64().expect("rows"))
            .sum();
        assert_eq!(in_files, bad, "{name}: rejects files");
        let in_sql = sql_rows(
            &cfg,
            &|_| {},
            &format!("select count(*) as n from rejects_{name} where run_date = '{RUN_DATE}'"),
        );
        assert_eq!(in_sql[0]["n"].as_u64(), Some(bad), "{name}: rejects table");
    }
    assert_eq!(record["config_hash"].as_str().map(str::len), Some(64));
    assert!(
        record["models"]["model_version"].is_string(),
        "{}",
        record["models"]
    );
    for f in all_files(&record) {
        let bytes = std::fs::read(out.join(&f.0)).expect("published file");
        assert_eq!(sha256_hex(&bytes), f.1, "{}", f.0);
    }
    // The summary counts agree with the files.
    for a in record["exports"]["audiences"]
        .as_array()
        .expect("audiences")
    {
        let (send, control) = per_audience[a["audience"].as_str().expect("name")];
        assert_eq!(a["send"].as_u64(), Some(send));
        assert_eq!(a["control"].as_u64(), Some(control));
    }
    segments_are_facts(&cfg);
    sql_is_read_only(&cfg, &out);
}

/// Equal values, equal scores: customers with the same recency have the
/// same R score, the same order days the same F score, the same net
/// revenue the same M score, the same recency and order days the same
/// segment (the default rules read R and F), the same CLV the same decile
/// and value tier (value thresholds, not ranks broken by customer id). The
/// sample has many such groups: the check is not empty.
fn segments_are_facts(cfg: &Path) {
    // The score columns the config rules are checked against at load are
    // the published table's (and its run_date).
    let o = sql_output(
        cfg,
        &|_| {},
        &["--format", "csv"],
        "select * from scores limit 1",
    );
    assert_exit(&o, 0);
    let mut published: Vec<String> = stdout(&o)
        .lines()
        .next()
        .expect("a CSV header")
        .split(',')
        .map(str::to_string)
        .collect();
    let mut contract = fidelis_core::contract::score_columns(&[90, 365]);
    contract.push("run_date".into());
    published.sort();
    contract.sort();
    assert_eq!(published, contract);

    for (key, outs, at_least) in [
        ("f.recency_days", "s.r_score", 100),
        ("f.order_days", "s.f_score", 20),
        ("f.net_revenue", "s.m_score", 50),
        ("f.recency_days, f.order_days", "s.rfm_segment", 100),
    ] {
        let r = sql_rows(
            cfg,
            &|_| {},
            &format!(
                "select count(*) as groups, coalesce(sum(case when outs > 1 then 1 else 0 end), 0) as split \
                 from (select {key}, count(*) as n, count(distinct {outs}) as outs \
                 from scores s join features f on f.customer_id = s.customer_id and f.as_of = s.run_date \
                 where s.r_score is not null group by {key}) where n > 1"
            ),
        );
        assert!(r[0]["groups"].as_u64() >= Some(at_least), "{key}: {}", r[0]);
        assert_eq!(r[0]["split"].as_u64(), Some(0), "{key} -> {outs}: {}", r[0]);
    }
    // Scores and deciles are disjoint value ranges, in order (so equal
    // values share one, ties or not): R by recency (5 = most recent), F by
    // order days, M by net revenue, the CLV decile by CLV (1 = highest).
    for (value, score, higher_is_better) in [
        ("f.recency_days", "s.r_score", false),
        ("f.order_days", "s.f_score", true),
        ("f.net_revenue", "s.m_score", true),
        ("s.clv_12m", "s.clv_decile", false),
    ] {
        let ranges: Vec<(i64, f64, f64)> = sql_rows(
            cfg,
            &|_| {},
            &format!(
                "select {score} as k, cast(min({value}) as double) as lo, cast(max({value}) as double) as hi \
                 from scores s join features f on f.customer_id = s.customer_id and f.as_of = s.run_date \
                 where {score} is not null group by {score} order by {score}"
            ),
        )
        .iter()
        .map(|r| {
            (
                r["k"].as_i64().expect("k"),
                r["lo"].as_f64().expect("lo"),
                r["hi"].as_f64().expect("hi"),
            )
        })
        .collect();
        assert!(ranges.len() >= 4, "{score}: {ranges:?}");
        for w in ranges.windows(2) {
            let ((_, lo_a, hi_a), (_, lo_b, hi_b)) = (w[0], w[1]);
            let disjoint = if higher_is_better {
                hi_a < lo_b
            } else {
                lo_a > hi_b
            };
            assert!(disjoint, "{score} over {value}: {ranges:?}");
        }
    }
}

/// `fidelis sql` runs queries only: COPY, INSERT, CREATE, DROP and SET are
/// exit 2 and write nothing anywhere; a query that does not plan or fails
/// is exit 2, not an internal error; the raw file listings are no tables;
/// list columns go to CSV as JSON arrays.
fn sql_is_read_only(cfg: &Path, out: &Path) {
    let cwd = tempfile::tempdir().expect("tmp");
    let before = walk(out);
    let sql = |q: &str, format: &str| {
        fidelis()
            .current_dir(cwd.path())
            .args([
                "sql",
                "--config",
                cfg.to_str().expect("utf8"),
                "--format",
                format,
                q,
            ])
            .output()
            .expect("runs")
    };
    let target = cwd.path().join("x.parquet");
    let copy_into = out.join(format!("scores/run_date={RUN_DATE}/copied.parquet"));
    for q in [
        "COPY (SELECT 1 AS x) TO 'x.parquet' STORED AS PARQUET".to_string(),
        format!(
            "COPY (SELECT * FROM scores) TO '{}' STORED AS PARQUET",
            copy_into.display()
        ),
        "INSERT INTO runs SELECT * FROM runs".to_string(),
        "CREATE TABLE t AS SELECT 1 AS x".to_string(),
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'x.parquet'".to_string(),
        "DROP TABLE scores".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
        "SELECT * FROM scores__all_files".to_string(),
        "SELECT no_such_column FROM scores".to_string(),
        "SELECT CAST('x' AS INT)".to_string(),
    ] {
        let o = sql(&q, "table");
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("query"), "{q}: {}", stderr(&o));
    }
    assert!(
        !target.exists() && !copy_into.exists(),
        "a query wrote a file"
    );
    assert_eq!(walk(cwd.path()), Vec::<PathBuf>::new());
    assert_eq!(walk(out), before, "the output root changed");

    let o = sql(
        "SELECT customer_id, top_reasons FROM scores WHERE cardinality(top_reasons) > 0",
        "csv",
    );
    assert_exit(&o, 0);
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("customer_id,top_reasons"));
    let mut n = 0;
    for line in lines {
        let (_, list) = line.split_once(',').expect("two columns");
        let unquoted = list.trim_matches('"').replace("\"\"", "\"");
        let v: serde_json::Value =
            serde_json::from_str(&unquoted).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{line}");
        n += 1;
    }
    assert!(n > 100, "{n} customers with reasons");
}

/// (path, sha256) of every published file of a runs record that is not a
/// table.
pub fn all_files(record: &serde_json::Value) -> Vec<(String, String)> {
    record["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("path").to_string(),
                f["sha256"].as_str().expect("sha").to_string(),
            )
        })
        .collect()
}

/// Every data file of a runs record's tables is there with its size, and
/// every other file with its checksum.
pub fn assert_files_of(outputs: &Outputs, record: &serde_json::Value, what: &str) {
    for (path, sha) in all_files(record) {
        let bytes = (outputs.read)(&path).unwrap_or_else(|| panic!("{what}: {path} is gone"));
        assert_eq!(sha256_hex(&bytes), sha, "{what}: {path} changed");
    }
    for (table, t) in record["tables"].as_object().expect("tables") {
        for f in t["files"].as_array().expect("files") {
            let path = format!("{table}/{}", f["path"].as_str().expect("path"));
            let bytes = (outputs.read)(&path).unwrap_or_else(|| panic!("{what}: {path} is gone"));
            assert_eq!(
                Some(bytes.len() as u64),
                f["bytes"].as_u64(),
                "{what}: {path}"
            );
        }
    }
}

/// Read access to an output root (the local disk or the S3 bucket).
pub struct Outputs<'a> {
    /// The job's config (what `fidelis sql` reads the outputs with).
    pub cfg: &'a Path,
    pub read: &'a dyn Fn(&str) -> Option<Vec<u8>>,
    pub list: &'a dyn Fn(&str) -> Vec<String>,
    /// Write an object (the winner's commit of the lost-race step).
    pub write: &'a dyn Fn(&str, &[u8]),
    pub env: &'a dyn Fn(&mut Command),
}

/// The current record of the run date, as `fidelis sql` reads it.
pub fn record_of(outputs: &Outputs, what: &str) -> serde_json::Value {
    current_record(outputs.cfg, outputs.env, RUN_DATE)
        .unwrap_or_else(|| panic!("{what}: no published run of {RUN_DATE}"))
}

/// With `include_email` on the email audience, its rows carry the clear
/// address, the one the hash is of; the other audiences carry none.
fn clear_email_only_where_asked(outputs: &Outputs) {
    let rows = sql_rows(
        outputs.cfg,
        outputs.env,
        "select channel, email, email_sha256 from exports",
    );
    let mut clear = 0;
    for r in &rows {
        let hash = r["email_sha256"].as_str().expect("hash");
        match (r["channel"].as_str(), r["email"].as_str()) {
            (Some("email"), Some(email)) => {
                clear += 1;
                assert_eq!(hash, sha256_hex(email.trim().to_lowercase().as_bytes()));
            }
            (Some("email"), None) => panic!("no clear email on the email audience: {r}"),
            (_, email) => assert_eq!(email, None, "{r}"),
        }
    }
    assert!(clear > 10, "{clear} clear emails of {}", rows.len());
}

/// The published scores of the run date, read through `fidelis sql`.
fn scores_of(outputs: &Outputs) -> HashMap<String, (Option<f64>, Option<f64>)> {
    sql_rows(
        outputs.cfg,
        outputs.env,
        &format!(
            "select customer_id, churn_probability, clv_12m from scores where run_date = '{RUN_DATE}'"
        ),
    )
    .into_iter()
    .map(|r| {
        (
            r["customer_id"].as_str().expect("id").to_string(),
            (r["churn_probability"].as_f64(), r["clv_12m"].as_f64()),
        )
    })
    .collect()
}

/// The current run is still `first`: the same runs record, every file it
/// names, and the scores `fidelis sql` reads.
fn assert_intact(outputs: &Outputs, first: &serde_json::Value, scores: usize, what: &str) {
    let now = record_of(outputs, what);
    assert_eq!(&now, first, "{what}: the current run changed");
    assert_files_of(outputs, first, what);
    assert_eq!(
        scores_of(outputs).len(),
        scores,
        "{what}: the scores changed"
    );
}

/// Every table of the date, as `fidelis sql` reads it, holds exactly the
/// rows of the files the runs record names (no killed or replaced run's
/// rows, none missing).
pub fn assert_reader_matches(outputs: &Outputs, record: &serde_json::Value, what: &str) {
    let tables = record["tables"].as_object().expect("tables");
    // One query for every table (each `fidelis sql` loads every table).
    let query = tables
        .keys()
        .map(|t| format!("select '{t}' as t, count(*) as n from {t} where run_date = '{RUN_DATE}'"))
        .collect::<Vec<_>>()
        .join(" union all ");
    let got: HashMap<String, u64> = sql_rows(outputs.cfg, outputs.env, &query)
        .into_iter()
        .map(|r| {
            (
                r["t"].as_str().expect("t").to_string(),
                r["n"].as_u64().expect("n"),
            )
        })
        .collect();
    for (table, t) in tables {
        let want: u64 = t["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["rows"].as_u64().expect("rows"))
            .sum();
        assert_eq!(got.get(table), Some(&want), "{what}: {table}");
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

/// Run the job; stage a second run; let its `publish` lose the race for
/// the scores table (another writer's commit of the next version created
/// while it is paused before its commit: exit 75); kill its `publish` with
/// SIGKILL at each pause point (between two table commits, before the runs
/// row; holding the date's lease and the publish lease); check that
/// readers see the first run, whole, each time, and that the next publish
/// is refused with exit 75 until the killed one's lease expires; then a
/// run with a new id is refused until the lease expires, takes it over,
/// and gives the same scores; `fidelis sql --run-id` reads the first run
/// by time travel; a vacuum past retention (`keep_days = 0`) leaves
/// exactly the files of the current run, and the first run is no longer
/// readable.
pub fn sigkill_leaves_the_published_run_intact(cfg: &Path, outputs: &Outputs) {
    let text = std::fs::read_to_string(cfg).expect("config");
    let text = text.replacen(
        "[output]\n",
        &format!("[output]\nlease_minutes = {SHORT_LEASE_MINUTES}\n"),
        1,
    );
    assert!(text.contains("lease_minutes"), "{text}");
    // The email audience carries the clear address (include_email): the
    // only case that stages it.
    let text = text.replacen(
        "channel = \"email\"\n",
        "channel = \"email\"\ninclude_email = true\n",
        1,
    );
    assert!(text.contains("include_email = true"), "{text}");
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
    let first = record_of(outputs, "the first run");
    assert_reader_matches(outputs, &first, "the first run");
    let first_scores = scores_of(outputs);
    clear_email_only_where_asked(outputs);
    // A second run staged stage by stage (validate draws its id), to be
    // published below and killed on the way.
    for stage in ["validate", "features", "train", "score", "export", "report"] {
        assert_exit(&job(stage).output().expect("runs"), 0);
    }
    lose_the_race_for_scores(outputs, &job, &first, first_scores.len());

    for point in ["publish.table", "publish.before_runs"] {
        kill_at(job("publish"), point);
        // The killed publish still holds the publish lease: refused (at
        // once, before the short lease runs out).
        let o = job("publish").output().expect("runs");
        assert_exit(&o, 75);
        assert!(
            stderr(&o).contains("another publish of run date"),
            "{}",
            stderr(&o)
        );
        assert_intact(outputs, &first, first_scores.len(), point);
        wait_for_expiry();
    }

    // The last killed publish held the date's lease too (for the run id
    // validate recorded): a run with a new id is refused until it expires,
    // then takes it over, replaces the date's outputs and cleans the
    // leftovers of the killed publishes; the scores are the same.
    kill_at(job("publish"), "publish.table");
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
    let second = record_of(outputs, "the rerun");
    assert_ne!(first["publish_id"], second["publish_id"]);
    assert_ne!(first["staged"]["run_id"], second["staged"]["run_id"]);
    assert_files_of(outputs, &second, "rerun");
    assert_reader_matches(outputs, &second, "rerun");
    let second_scores = scores_of(outputs);
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
    // The first run, replaced, by time travel: its own rows, all of them.
    let first_run = first["staged"]["run_id"].as_str().expect("run id");
    let count = "select count(*) as n, count(distinct customer_id) as ids from scores";
    let o = sql_output(outputs.cfg, outputs.env, &["--run-id", first_run], count);
    assert_exit(&o, 0);
    let n = first_scores.len() as u64;
    assert_eq!(json_lines(&o)[0]["n"].as_u64(), Some(n), "{}", stderr(&o));
    assert_eq!(json_lines(&o)[0]["ids"].as_u64(), Some(n));

    vacuum_leaves_the_current_run(cfg, outputs, &second, first_run);
}

/// A paused stage: the child, the rest of its stderr, and the log so far.
struct Paused {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
    log: String,
}

/// Spawn `c` with `FIDELIS_FAULT_PAUSE=point` and read its stderr until it
/// says it paused there (with `resume_on_stdin`, a line on its stdin
/// resumes it). Panics with the log when it ends without pausing.
fn spawn_paused(mut c: Command, point: &str, resume_on_stdin: bool) -> Paused {
    c.env("FIDELIS_FAULT_PAUSE", point)
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    if resume_on_stdin {
        c.env("FIDELIS_FAULT_RESUME", "stdin").stdin(Stdio::piped());
    }
    let mut child = c.spawn().expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = String::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        log.push_str(&line);
        log.push('\n');
        if line.contains(&format!("paused at {point}")) {
            return Paused { child, lines, log };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("never paused at {point}:\n{log}");
}

/// Spawn `c`, let it reach `point`, and kill it there with SIGKILL.
fn kill_at(c: Command, point: &str) {
    let mut p = spawn_paused(c, point, false);
    p.child.kill().expect("SIGKILL");
    p.child.wait().expect("wait");
}

/// Publish the staged run, paused before its commit of the scores table
/// while the test writes the next log entry of that table as another
/// writer would (a commit of the same application transaction): the
/// publish loses, exits 75, and the first run stays the current one.
fn lose_the_race_for_scores(
    outputs: &Outputs,
    job: &dyn Fn(&str) -> Command,
    first: &serde_json::Value,
    scores: usize,
) {
    let Paused {
        mut child,
        lines,
        mut log,
    } = spawn_paused(job("publish"), "publish.commit.scores", true);
    let latest = (outputs.list)("scores/_delta_log")
        .iter()
        .filter_map(|p| {
            p.rsplit('/')
                .next()?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .expect("a scores log");
    let txn = first["tables"]["scores"]["txn"].as_i64().expect("txn") + 1;
    let winner = format!(
        "{}\n{}\n",
        serde_json::json!({"txn": {"appId": format!("fidelis:scores:{RUN_DATE}"), "version": txn}}),
        serde_json::json!({"commitInfo": {"operation": "WRITE", "timestamp": 0}}),
    );
    (outputs.write)(
        &format!("scores/_delta_log/{:020}.json", latest + 1),
        winner.as_bytes(),
    );
    use std::io::Write;
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("resume");
    drop(stdin);
    for line in lines {
        log.push_str(&line.expect("line"));
        log.push('\n');
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(75), "{log}");
    assert!(log.contains("another publish of run date"), "{log}");
    assert_intact(outputs, first, scores, "the lost race");
}

/// `fidelis vacuum` with `keep_days = 0` (allowed in tests only, refused
/// without the tests' switch): what is left of every table is exactly the
/// files of the current run (the runs table keeps one file per publish),
/// every published file that is not a table is the current run's, the
/// readers still read it whole, and the replaced run `replaced` is no
/// longer readable.
fn vacuum_leaves_the_current_run(
    cfg: &Path,
    outputs: &Outputs,
    current: &serde_json::Value,
    replaced: &str,
) {
    let text = std::fs::read_to_string(cfg).expect("config");
    std::fs::write(
        cfg,
        text.replacen("[output]\n", "[output]\nkeep_days = 0\n", 1),
    )
    .expect("config");
    let vacuum = |env: &dyn Fn(&mut Command)| {
        let mut c = fidelis();
        env(&mut c);
        c.args(["vacuum", "--config", cfg.to_str().expect("utf8")])
            .output()
            .expect("runs")
    };
    let o = vacuum(outputs.env);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("keep_days must be at least 1"),
        "{}",
        stderr(&o)
    );
    let env = |c: &mut Command| {
        (outputs.env)(c);
        c.env("FIDELIS_TEST_ZERO_RETENTION", "1");
    };
    let outputs = &Outputs {
        env: &env,
        ..*outputs
    };
    let o = vacuum(outputs.env);
    assert_exit(&o, 0);
    let mut want: std::collections::BTreeSet<String> =
        all_files(current).into_iter().map(|(p, _)| p).collect();
    for (table, t) in current["tables"].as_object().expect("tables") {
        for f in t["files"].as_array().expect("files") {
            want.insert(format!("{table}/{}", f["path"].as_str().expect("path")));
        }
    }
    let publishes = sql_rows(
        outputs.cfg,
        outputs.env,
        "select count(*) as n from run_history",
    );
    let mut runs_files = 0;
    let mut left = std::collections::BTreeSet::new();
    for path in (outputs.list)("") {
        let top = path.split('/').next().unwrap_or("");
        if path.contains("/_delta_log/") || top.starts_with('_') {
            continue;
        }
        if top == "runs" {
            runs_files += 1;
        } else {
            left.insert(path);
        }
    }
    assert_eq!(left, want, "{}", stdout(&o));
    assert_eq!(Some(runs_files), publishes[0]["n"].as_u64());
    assert_files_of(outputs, current, "after the vacuum");
    assert_reader_matches(outputs, current, "after the vacuum");
    let o = sql_output(
        outputs.cfg,
        outputs.env,
        &["--run-id", replaced],
        "select 1",
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("keep_days"), "{}", stderr(&o));
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
    let write = |p: &str, bytes: &[u8]| {
        let path = out.join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    };
    body(
        &cfg,
        &Outputs {
            cfg: &cfg,
            read: &read,
            list: &list,
            write: &write,
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
