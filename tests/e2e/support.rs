//! Helpers shared by the end-to-end tests.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The built binary, logging JSON lines.
pub fn fidelis() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fidelis"));
    c.env("FIDELIS_LOG_FORMAT", "json")
        .env_remove("FIDELIS_LOG");
    c
}

/// Run the binary and return its output, whatever the exit code.
pub fn run(args: &[&str]) -> Output {
    fidelis().args(args).output().expect("fidelis runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert the exit code, showing the output when it differs.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
        stdout(o),
        stderr(o)
    );
}

pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let f = File::create(path).expect("create");
    let mut w = ArrowWriter::try_new(f, batch.schema(), None).expect("writer");
    w.write(batch).expect("write");
    w.close().expect("close");
}

/// Every row of every Parquet file below `dir` (sorted by file name).
pub fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    let mut files: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&f).expect("open"))
            .expect("parquet")
            .build()
            .expect("reader");
        for b in reader {
            out.push(b.expect("batch"));
        }
    }
    out
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// The string values of a column across batches (nulls as None).
pub fn strings(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    use arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for b in batches {
        let c = arrow::compute::cast(
            b.column_by_name(name).expect("column"),
            &arrow::datatypes::DataType::Utf8,
        )
        .expect("cast");
        let s = c.as_string::<i32>();
        for i in 0..s.len() {
            out.push(s.is_valid(i).then(|| s.value(i).to_string()));
        }
    }
    out
}

/// Write a config file with the given inputs (table, location) and output.
/// The staging of a published run is kept (`keep_staging = true`: the
/// tests look at what the stages wrote); `publish.rs` checks that it goes
/// without it.
pub fn write_config(dir: &Path, inputs: &[(&str, &str)], out: &str, extra: &str) -> PathBuf {
    let mut text = String::from("[inputs]\n");
    for (t, loc) in inputs {
        text.push_str(&format!("{t} = \"{loc}\"\n"));
    }
    text.push_str(&format!("\n[output]\nurl = \"{out}\"\nkeep_staging = true\n\n[engine]\ntarget_partitions = 2\nmemory_limit_mb = 2048\n{extra}\n"));
    let path = dir.join("job.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// The validation report a run staged.
pub fn validate_json(out: &Path, run_date: &str) -> serde_json::Value {
    let p = staged(out, run_date, "validate").join("validate.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .expect("json")
}

pub fn schema_ref(fields: Vec<arrow::datatypes::Field>) -> Arc<arrow::datatypes::Schema> {
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// Where the newest finished attempt of `stage` (`validate`, `features`,
/// `features-as-of`, `train`, ...) of the run that validated `run_date`
/// last keeps its outputs (docs/publishing.md, "Overlapping runs"), as a
/// path relative to the output root; `read` reads a file and `list` names
/// the files in a folder, both relative to the root (the local disk and
/// the S3 bucket each bring theirs).
pub fn staged_attempt(
    read: &dyn Fn(&str) -> Vec<u8>,
    list: &dyn Fn(&str) -> Vec<String>,
    run_date: &str,
    stage: &str,
) -> String {
    let (run, token) = staged_token(read, list, run_date, stage);
    format!("{run}/attempt={token}")
}

/// The folder of a Delta table's data files that the newest finished
/// attempt of `stage` wrote (see [`staged_attempt`]), relative to the root.
pub fn staged_table_rel(
    read: &dyn Fn(&str) -> Vec<u8>,
    list: &dyn Fn(&str) -> Vec<String>,
    run_date: &str,
    stage: &str,
    table: &str,
) -> String {
    let (_, token) = staged_token(read, list, run_date, stage);
    format!("{table}/run_date={run_date}/attempt={token}")
}

/// The run folder and the token of a stage's newest finished attempt.
fn staged_token(
    read: &dyn Fn(&str) -> Vec<u8>,
    list: &dyn Fn(&str) -> Vec<String>,
    run_date: &str,
    stage: &str,
) -> (String, String) {
    let json = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&read(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let date = format!("_staging/run_date={run_date}");
    let current = json(&format!("{date}/_run.json"));
    let run = format!(
        "{date}/run_id={}",
        current["run_id"].as_str().expect("run_id")
    );
    let mut markers = list(&format!("{run}/_finished/{stage}"));
    markers.sort();
    let newest = markers
        .last()
        .unwrap_or_else(|| panic!("no finished {stage} in {run}"));
    let lineage = json(newest);
    let token = lineage["attempts"][stage]
        .as_str()
        .expect("token")
        .to_string();
    (run, token)
}

/// [`staged_attempt`] below a local output root.
pub fn staged(out: &Path, run_date: &str, stage: &str) -> PathBuf {
    local_staged(out, &|read, list| {
        staged_attempt(read, list, run_date, stage)
    })
}

/// [`staged_table_rel`] below a local output root.
pub fn staged_table(out: &Path, run_date: &str, stage: &str, table: &str) -> PathBuf {
    local_staged(out, &|read, list| {
        staged_table_rel(read, list, run_date, stage, table)
    })
}

/// Finds a folder given read and list access to an output root.
pub type Find<'a> = &'a dyn Fn(&dyn Fn(&str) -> Vec<u8>, &dyn Fn(&str) -> Vec<String>) -> String;

fn local_staged(out: &Path, find: Find) -> PathBuf {
    let read = |p: &str| std::fs::read(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let list = |p: &str| -> Vec<String> {
        std::fs::read_dir(out.join(p))
            .map(|d| {
                d.map(|e| format!("{p}/{}", e.expect("entry").file_name().to_string_lossy()))
                    .collect()
            })
            .unwrap_or_default()
    };
    out.join(find(&read, &list))
}

/// The rows of a `fidelis sql` query (JSON lines) against `cfg`, the
/// command prepared by `env` (the S3 tests' credentials).
pub fn sql_rows(cfg: &Path, env: &dyn Fn(&mut Command), query: &str) -> Vec<serde_json::Value> {
    let o = sql_output(cfg, env, &[], query);
    assert_exit(&o, 0);
    json_lines(&o)
}

/// `fidelis sql --format json [extra] query`, as it exited.
pub fn sql_output(cfg: &Path, env: &dyn Fn(&mut Command), extra: &[&str], query: &str) -> Output {
    let mut c = fidelis();
    env(&mut c);
    c.args(["sql", "--config", cfg.to_str().expect("utf8")]);
    if !extra.contains(&"--format") {
        c.args(["--format", "json"]);
    }
    c.args(extra).arg(query).output().expect("fidelis sql runs")
}

/// The JSON lines a command printed.
pub fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The current `runs` row of a date, as `fidelis sql` reads it: its
/// record (docs/publishing.md), or `None` before the first publish.
pub fn current_record(
    cfg: &Path,
    env: &dyn Fn(&mut Command),
    run_date: &str,
) -> Option<serde_json::Value> {
    let rows = sql_rows(
        cfg,
        env,
        &format!("select record from runs where run_date = '{run_date}'"),
    );
    assert!(rows.len() <= 1, "two current runs of {run_date}: {rows:?}");
    rows.first()
        .map(|r| serde_json::from_str(r["record"].as_str().expect("record")).expect("record json"))
}

/// The first substring of `s` that looks like an email address
/// (`local@domain.tld`: a local part of letters, digits and `._%+-`, a
/// domain with a dot and a top-level name of two letters or more).
pub fn find_email(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
    for (at, _) in s.match_indices('@') {
        let start = (0..at).rev().take_while(|&i| local(b[i])).last();
        let end = (at + 1..b.len())
            .take_while(|&i| domain(b[i]))
            .last()
            .map(|i| i + 1);
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        let host = s[at + 1..end].trim_end_matches(['.', '-']);
        if let Some((name, tld)) = host.rsplit_once('.')
            && !name.is_empty()
            && tld.len() >= 2
            && tld.bytes().all(|c| c.is_ascii_alphabetic())
        {
            return Some(&s[start..at + 1 + host.len()]);
        }
    }
    None
}

/// Every value that looks like an email address in the files below `dir`,
/// as `file: value`. Parquet files are decoded (a byte search cannot see
/// inside compressed pages): every value of every column, nested ones
/// included, in its display form, and the footer's key-value metadata;
/// every other file is read as text.
pub fn emails_in_files(dir: &Path) -> Vec<String> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let mut found = Vec::new();
    for f in walk(dir) {
        let mut hit = |v: &str| {
            if let Some(e) = find_email(v) {
                found.push(format!("{}: {e}", f.display()));
            }
        };
        if f.extension().is_some_and(|e| e == "parquet") {
            let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&f).expect("open"))
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if let Some(kv) = builder.metadata().file_metadata().key_value_metadata() {
                for k in kv {
                    hit(&k.key);
                    hit(k.value.as_deref().unwrap_or_default());
                }
            }
            let options = FormatOptions::default();
            for b in builder.build().expect("reader") {
                let b = b.expect("batch");
                for c in b.columns() {
                    let fmt = ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter");
                    for r in 0..b.num_rows() {
                        hit(&fmt.value(r).to_string());
                    }
                }
            }
        } else {
            hit(&String::from_utf8_lossy(&std::fs::read(&f).expect("read")));
        }
    }
    found
}
