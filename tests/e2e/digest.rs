//! The values digest: proof that a change which should not change any
//! output did not.
//!
//! `fidelis run` on the committed sample with `jobs/local.toml` (its output
//! moved to a temporary folder), then, per published table of the runs row,
//! the row count and a SHA-256 of its values: every row as canonical text
//! (its partition folders first, then each column; floats rounded to 1e-9,
//! `-0` as `0`), the rows sorted, the schema hashed in front. `model.json`
//! counts with its model content only: run ids, timestamps, durations and
//! the code version are dropped, floats rounded the same way.
//!
//! The committed digest is `tests/digest/sample.json`. A change that alters
//! outputs on purpose regenerates it with `bash tests/digest.sh` (which sets
//! `FIDELIS_UPDATE_DIGEST=1`) and shows the diff of that file in its note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use arrow::util::display::array_value_to_string;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::publish::RUN_DATE;
use crate::support::*;

/// Where the committed digest lives.
fn digest_path() -> PathBuf {
    repo().join("tests/digest/sample.json")
}

/// Tables whose files are not values: the HTML report carries the code
/// version and run id by design (checked in a browser by tests/integration.sh).
const NOT_DIGESTED: &[&str] = &["reports"];

/// JSON keys that name a run, a place, a time or a build rather than a
/// value: the run id, the code version, URLs (the output root is a temporary
/// folder), timestamps (`*_at`) and durations (`*seconds`).
fn volatile(key: &str) -> bool {
    matches!(
        key,
        "run_id" | "code_version" | "url" | "durations" | "config_path"
    ) || key.ends_with("_at")
        || key.ends_with("seconds")
}

/// A float as the digest sees it: rounded to 1e-9.
fn round9(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let r = (x * 1e9).round() / 1e9;
    let r = if r == 0.0 { 0.0 } else { r };
    format!("{r:.9}")
}

/// One value of an array as canonical text.
fn cell(a: &dyn Array, i: usize) -> String {
    if a.is_null(i) {
        return "\u{2205}".into();
    }
    match a.data_type() {
        DataType::Float64 => round9(a.as_primitive::<Float64Type>().value(i)),
        DataType::Float32 => round9(f64::from(a.as_primitive::<Float32Type>().value(i))),
        DataType::List(_) => {
            let v = a.as_list::<i32>().value(i);
            let items: Vec<String> = (0..v.len()).map(|j| cell(v.as_ref(), j)).collect();
            format!("[{}]", items.join(","))
        }
        DataType::LargeList(_) => {
            let v = a.as_list::<i64>().value(i);
            let items: Vec<String> = (0..v.len()).map(|j| cell(v.as_ref(), j)).collect();
            format!("[{}]", items.join(","))
        }
        DataType::Struct(_) => {
            let s = a.as_struct();
            let items: Vec<String> = s.columns().iter().map(|c| cell(c.as_ref(), i)).collect();
            format!("{{{}}}", items.join(","))
        }
        _ => array_value_to_string(a, i).expect("displayable value"),
    }
}

/// A JSON value with the volatile keys removed and floats rounded.
fn canonical_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !volatile(k))
                .map(|(k, v)| (k.clone(), canonical_json(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(canonical_json).collect()),
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            Value::String(round9(n.as_f64().unwrap_or(f64::NAN)))
        }
        other => other.clone(),
    }
}

/// The canonical rows of one published file, each prefixed with the file's
/// folders below the run_id (the partition values). Returns (schema, rows).
fn file_rows(path: &Path, partition: &str) -> (String, Vec<String>) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if name.ends_with(".parquet") {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).expect("open"))
                .expect("parquet")
                .build()
                .expect("reader");
        let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
        let mut schema = String::new();
        let mut rows = Vec::new();
        for b in &batches {
            schema = b
                .schema()
                .fields()
                .iter()
                .map(|f| format!("{}:{}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(",");
            for i in 0..b.num_rows() {
                let cells: Vec<String> = b.columns().iter().map(|c| cell(c.as_ref(), i)).collect();
                rows.push(format!("{partition}|{}", cells.join("|")));
            }
        }
        // Parquet files are named by their writer (Delta Lake writers add
        // a uuid), so the name is not part of the digest: the partition
        // folders and the schema are.
        (format!("{partition}/*.parquet:{schema}"), rows)
    } else if name.ends_with(".csv") {
        let text = String::from_utf8(bytes).expect("utf8 csv");
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("").to_string();
        let rows = lines.map(|l| format!("{partition}|{l}")).collect();
        (format!("{partition}/{name}:{header}"), rows)
    } else if name.ends_with(".json") {
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        let rows = vec![format!(
            "{partition}|{}",
            serde_json::to_string(&canonical_json(&v)).expect("json")
        )];
        (format!("{partition}/{name}:json"), rows)
    } else {
        panic!(
            "{}: a published file the digest cannot read",
            path.display()
        );
    }
}

/// One published file as the digest sees it: its table, its folders below
/// the run (the partition values) and where it is.
pub struct DigestFile {
    pub table: String,
    pub partition: String,
    pub path: PathBuf,
}

/// The files of the published run of `run_date` under `out`: the data
/// files of every table at the version the date's runs row names, and the
/// files that are not tables. The partition of a data file is its folder
/// below the attempt's (as it was below the run id before the tables were
/// Delta tables), the rejects of every input one table with `table=`.
fn published_files(out: &Path, run_date: &str) -> Vec<DigestFile> {
    use fidelis_storage::Location;
    use fidelis_storage::layout::Layout;
    let root = Location::parse(
        out.to_str().expect("utf8"),
        &fidelis_core::config::StorageConfig::default(),
    )
    .expect("root");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let record = rt
        .block_on(fidelis_storage::publish::current_run(
            &Layout::new(root),
            fidelis_core::RunDate::parse(run_date).expect("date"),
        ))
        .expect("the runs table")
        .expect("a published run");
    let dir = |p: &str| p.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    let mut files = Vec::new();
    for (name, t) in &record.tables {
        for f in &t.files {
            let inner = f
                .path
                .strip_prefix(&format!("run_date={run_date}/"))
                .and_then(|p| p.split_once('/'))
                .map_or_else(
                    || panic!("{}: not in an attempt folder", f.path),
                    |(_, p)| p,
                );
            let (table, partition) = match name.strip_prefix("rejects_") {
                Some(input) => ("rejects".to_string(), format!("table={input}")),
                None => (name.clone(), dir(inner)),
            };
            files.push(DigestFile {
                table,
                partition,
                path: out.join(name).join(&f.path),
            });
        }
    }
    let base = format!("files/run_date={run_date}/run_id={}/", record.publish_id);
    for f in &record.files {
        let rel = f
            .path
            .strip_prefix(&base)
            .unwrap_or_else(|| panic!("{} outside {base}", f.path));
        let (table, inner) = rel.split_once('/').expect("a folder of files");
        files.push(DigestFile {
            table: table.to_string(),
            partition: dir(inner),
            path: out.join(&f.path),
        });
    }
    files
}

/// The digest of a published run under `out`: table -> {rows, sha256}.
pub fn digest(out: &Path, run_date: &str) -> BTreeMap<String, Value> {
    let mut by_table: BTreeMap<String, Vec<DigestFile>> = BTreeMap::new();
    for f in published_files(out, run_date) {
        by_table.entry(f.table.clone()).or_default().push(f);
    }
    let mut result = BTreeMap::new();
    for (table, files) in by_table {
        if NOT_DIGESTED.contains(&table.as_str()) {
            continue;
        }
        let mut schemas = Vec::new();
        let mut rows = Vec::new();
        for f in &files {
            let (schema, r) = file_rows(&f.path, &f.partition);
            schemas.push(schema);
            rows.extend(r);
        }
        schemas.sort();
        rows.sort();
        let mut h = Sha256::new();
        for s in &schemas {
            h.update(s.as_bytes());
            h.update(b"\n");
        }
        h.update(b"--\n");
        for r in &rows {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        result.insert(
            table.clone(),
            serde_json::json!({ "files": schemas.len(), "rows": rows.len(), "sha256": hex::encode(h.finalize()) }),
        );
    }
    result
}

/// jobs/local.toml with absolute inputs and its output in `out`.
fn local_job(dir: &Path, out: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("jobs/local.toml")).expect("jobs/local.toml");
    let sample = repo().join("sample-data");
    let text = text
        .replace("\"../sample-data/", &format!("\"{}/", sample.display()))
        .replace("\"../out/local\"", &format!("\"{}\"", out.display()));
    assert!(
        text.contains(&out.display().to_string()),
        "jobs/local.toml no longer writes to ../out/local: update the digest's config"
    );
    let p = dir.join("local.toml");
    std::fs::write(&p, text).expect("config");
    p
}

#[test]
fn the_sample_run_matches_the_committed_values_digest() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let cfg = local_job(dir.path(), &out);
    let o = run(&[
        "run",
        "--config",
        cfg.to_str().expect("utf8"),
        "--run-date",
        RUN_DATE,
    ]);
    assert_exit(&o, 0);
    let got = digest(&out, RUN_DATE);
    assert!(
        got.contains_key("scores") && got.contains_key("models"),
        "{got:?}"
    );
    let text = serde_json::to_string_pretty(&got).expect("json") + "\n";
    if std::env::var_os("FIDELIS_UPDATE_DIGEST").is_some() {
        std::fs::create_dir_all(digest_path().parent().expect("parent")).expect("mkdir");
        std::fs::write(digest_path(), &text).expect("write digest");
        eprintln!("wrote {}", digest_path().display());
        return;
    }
    let committed = std::fs::read_to_string(digest_path()).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with `bash tests/digest.sh`",
            digest_path().display()
        )
    });
    let want: BTreeMap<String, Value> = serde_json::from_str(&committed).expect("digest json");
    let differ: Vec<String> = want
        .keys()
        .chain(got.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|t| want.get(*t) != got.get(*t))
        .map(|t| format!("{t}: committed {:?}, now {:?}", want.get(t), got.get(t)))
        .collect();
    assert!(
        differ.is_empty(),
        "the published values differ from tests/digest/sample.json (if intended, run `bash tests/digest.sh` and show the diff):\n{}",
        differ.join("\n")
    );
}

#[test]
fn the_digest_sees_a_changed_float_past_1e9_and_not_below() {
    assert_eq!(round9(0.123_456_789_4), round9(0.123_456_789_1));
    assert_ne!(round9(0.123_456_789), round9(0.123_456_790));
    assert_eq!(round9(-0.0), round9(0.0));
    let v: Value = serde_json::json!({"a": 1.5, "run_id": "x", "b": {"seconds": 3.0, "c": [0.1]}});
    assert_eq!(
        canonical_json(&v),
        serde_json::json!({"a": "1.500000000", "b": {"c": ["0.100000000"]}})
    );
}
