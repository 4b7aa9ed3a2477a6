//! The memory of publishing a large table (bench/publish-memory.sh, README
//! "Benchmarks"): one process stages a table of a given size with the
//! stages' own writer, another publishes it, so that each process's peak
//! memory is its own step's.
//!
//! ```text
//! publish_memory stage ROOT MB     write MB MiB of a scores-like table (staged, uncommitted)
//! publish_memory publish ROOT      commit it (fidelis' publish: the add actions, no copy)
//! publish_memory copy ROOT         the peer: read every staged file whole and PUT it
//!                                  elsewhere, as publishing did before the Delta tables
//! ```

use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use fidelis_core::RunDate;
use fidelis_core::config::StorageConfig;
use fidelis_storage::Location;
use fidelis_storage::lake::TableSink;
use fidelis_storage::layout::{Layout, RunLayout, Step};
use fidelis_storage::publish::{RunInfo, publish};

const RUN_DATE: &str = "2026-11-22";
const ROWS_PER_BATCH: usize = 65_536;
const FLOAT_COLUMNS: usize = 6;

fn run_layout(root: &str) -> RunLayout {
    let loc = Location::parse(root, &StorageConfig::default()).expect("root");
    let token = std::fs::read_to_string(format!("{root}/.bench-token"))
        .unwrap_or_else(|_| "bench".to_string());
    Layout::new(loc)
        .run(RunDate::parse(RUN_DATE).expect("date"), "bench")
        .with_attempt(Step::Score, token.trim())
}

/// A batch of incompressible rows (random doubles): the file is about as
/// large as the data.
fn batch(schema: &Arc<Schema>, start: u64, state: &mut u64) -> RecordBatch {
    let ids: Vec<String> = (0..ROWS_PER_BATCH as u64)
        .map(|i| format!("c{:010}", start + i))
        .collect();
    let mut cols: Vec<Arc<dyn arrow::array::Array>> = vec![Arc::new(StringArray::from(ids))];
    for _ in 0..FLOAT_COLUMNS {
        let v: Vec<f64> = (0..ROWS_PER_BATCH)
            .map(|_| {
                // xorshift64*
                *state ^= *state >> 12;
                *state ^= *state << 25;
                *state ^= *state >> 27;
                (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect();
        cols.push(Arc::new(Float64Array::from(v)));
    }
    RecordBatch::try_new(Arc::clone(schema), cols).expect("batch")
}

async fn stage(root: &str, mb: u64) {
    std::fs::create_dir_all(root).expect("root");
    std::fs::write(
        format!("{root}/.bench-token"),
        fidelis_storage::attempt::fresh_id(),
    )
    .expect("token");
    let run = run_layout(root);
    let mut fields = vec![Field::new("customer_id", DataType::Utf8, false)];
    fields
        .extend((0..FLOAT_COLUMNS).map(|i| Field::new(format!("x{i}"), DataType::Float64, false)));
    let schema = Arc::new(Schema::new(fields));
    let mut sink = TableSink::create(&run.scores_target(), Arc::clone(&schema)).expect("sink");
    // 47 bytes a row in the Parquet file (measured: the doubles do not
    // compress, the ids do).
    let row_bytes = 47;
    let rows = mb * 1024 * 1024 / row_bytes;
    let (mut written, mut state) = (0u64, 0x9E37_79B9_7F4A_7C15u64);
    while written < rows {
        sink.write(&batch(&schema, written, &mut state))
            .await
            .expect("write");
        written += ROWS_PER_BATCH as u64;
    }
    let n = sink.finish().await.expect("finish");
    let bytes: u64 = run
        .scores()
        .list_parquet()
        .await
        .expect("list")
        .iter()
        .map(|m| m.size)
        .sum();
    println!(
        "staged {n} rows, {:.0} MiB of Parquet",
        bytes as f64 / 1048576.0
    );
}

async fn publish_it(root: &str) {
    let run = run_layout(root);
    let info = RunInfo {
        publish_id: fidelis_storage::attempt::fresh_id(),
        code_version: "bench".into(),
        config_hash: "0".repeat(64),
        inputs: serde_json::Value::Null,
        models: serde_json::Value::Null,
        exports: serde_json::Value::Null,
        durations: Default::default(),
    };
    let r = publish(&run, info, 7, &[], &|_| {}).await.expect("publish");
    let t = &r.tables["scores"];
    println!(
        "committed scores version {}: {} files, {:.0} MiB",
        t.version,
        t.files.len(),
        t.files.iter().map(|f| f.bytes).sum::<u64>() as f64 / 1048576.0
    );
}

async fn copy(root: &str) {
    let run = run_layout(root);
    let dest = Location::parse(root, &StorageConfig::default())
        .expect("root")
        .child("copy");
    let mut bytes = 0;
    for meta in run.scores().list_parquet().await.expect("list") {
        let src = Location::at(&dest, meta.location.clone());
        let body = src.get_opt().await.expect("get").expect("a staged file");
        bytes += body.len();
        let name = meta.location.filename().expect("name").to_string();
        dest.child(&name).put(body).await.expect("put");
    }
    println!("copied {:.0} MiB", bytes as f64 / 1048576.0);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("stage") => {
            let mb = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1024);
            stage(&args[2], mb).await;
        }
        Some("publish") => publish_it(&args[2]).await,
        Some("copy") => copy(&args[2]).await,
        _ => {
            eprintln!("usage: publish_memory stage ROOT MB | publish ROOT | copy ROOT");
            std::process::exit(2);
        }
    }
}
