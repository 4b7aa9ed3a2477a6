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
pub fn write_config(dir: &Path, inputs: &[(&str, &str)], out: &str, extra: &str) -> PathBuf {
    let mut text = String::from("[inputs]\n");
    for (t, loc) in inputs {
        text.push_str(&format!("{t} = \"{loc}\"\n"));
    }
    text.push_str(&format!("\n[output]\nurl = \"{out}\"\n\n[engine]\ntarget_partitions = 2\nmemory_limit_mb = 2048\n{extra}\n"));
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
    format!(
        "{run}/attempt={}",
        lineage["attempts"][stage].as_str().expect("token")
    )
}

/// [`staged_attempt`] below a local output root.
pub fn staged(out: &Path, run_date: &str, stage: &str) -> PathBuf {
    let read = |p: &str| std::fs::read(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let list = |p: &str| -> Vec<String> {
        std::fs::read_dir(out.join(p))
            .map(|d| {
                d.map(|e| format!("{p}/{}", e.expect("entry").file_name().to_string_lossy()))
                    .collect()
            })
            .unwrap_or_default()
    };
    out.join(staged_attempt(&read, &list, run_date, stage))
}
