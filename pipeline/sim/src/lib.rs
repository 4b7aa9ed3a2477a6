//! fidelis-sim: the simulated retailer behind `fidelis generate`, with truth.
//! No stage of the nightly job: it writes inputs (and the committed sample).
//! Never depends on: DataFusion, the model crates (docs/architecture.md).
//!
//! A behavioural simulation of a multichannel retailer's
//! customers, written as the three input tables of the data contract plus the
//! ground truth the models are judged against.
//!
//! Deterministic for a seed: customer `i` draws from its own random stream
//! (ChaCha8 seeded from the seed and `i`), so the output does not depend on the
//! number of threads or the chunking. Streaming: customers are simulated in
//! chunks, in parallel, and written chunk by chunk, so memory stays bounded
//! whatever the number of customers.

pub mod params;
pub mod simulate;

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use fidelis_core::{Error, Result};
use fidelis_storage::layout::part_file;
use fidelis_storage::{Location, ParquetSink};

pub use params::SimParams;
use simulate::Buffers;
pub use simulate::{ChunkBatches, Span};

/// The tables the generator writes, in the order of [`ChunkBatches`].
pub const TABLES: [&str; 4] = ["purchases", "interactions", "customers", "truth"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub customers: u64,
    pub seed: u64,
    /// First day of data.
    pub start: NaiveDate,
    /// Last day of data, inclusive.
    pub end: NaiveDate,
    pub params: SimParams,
    /// Customers per Parquet part file.
    pub customers_per_file: u64,
    /// Customers per parallel work unit.
    pub chunk_size: u64,
    /// The command line that asked for this, recorded in `generator.json`.
    pub command: String,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    pub customers: u64,
    pub seed: u64,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub truth_horizons_days: [u32; 2],
    pub rows: std::collections::BTreeMap<String, u64>,
    /// The files written, relative to the output location.
    pub files: Vec<String>,
    pub params: SimParams,
    pub command: String,
    pub generator_version: String,
    #[serde(skip)]
    pub seconds: f64,
}

/// SplitMix64: turns (seed, customer index) into a well-mixed 64-bit seed.
fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Simulate the customers of `range` into record batches (the unit of parallel work).
pub fn simulate_chunk(
    range: std::ops::Range<u64>,
    seed: u64,
    params: &SimParams,
    span: &Span,
) -> ChunkBatches {
    let mut buf = Buffers::default();
    for i in range {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, i));
        simulate::simulate_customer(i, &mut rng, params, span, &mut buf);
    }
    buf.finish()
}

fn schemas() -> [SchemaRef; 4] {
    [
        simulate::purchases_schema(),
        simulate::interactions_schema(),
        simulate::customers_schema(),
        simulate::truth_schema(),
    ]
}

/// Generate the data set under `out`: `purchases/`, `interactions/`,
/// `customers/`, `truth/` (Parquet parts) and `generator.json`.
/// `on_progress` is called with the number of customers done so far.
pub async fn generate(
    opts: &GenerateOptions,
    out: &Location,
    on_progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<GenerateReport> {
    let started = Instant::now();
    opts.params.check().map_err(Error::config)?;
    if opts.end < opts.start {
        return Err(Error::config(format!(
            "--end {} is before --start {}",
            opts.end, opts.start
        )));
    }
    if opts.customers_per_file == 0 || opts.chunk_size == 0 {
        return Err(Error::config(
            "customers per file and chunk size must be positive",
        ));
    }
    let span = Span {
        start_micros: opts
            .start
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
            .ok_or_else(|| Error::config("bad --start"))?,
        data_days: (opts.end - opts.start).num_days() as f64 + 1.0,
    };
    // A rerun into the same place replaces the data set whole.
    for t in TABLES {
        out.child(t).delete_all().await?;
    }

    let schemas = schemas();
    let threads = rayon::current_num_threads().max(1) as u64;
    let params = Arc::new(opts.params.clone());
    let mut rows = [0u64; 4];
    let mut files = Vec::new();
    let n_parts = opts.customers.div_ceil(opts.customers_per_file).max(1);
    for part in 0..n_parts {
        let lo = part * opts.customers_per_file;
        let hi = ((part + 1) * opts.customers_per_file).min(opts.customers);
        let mut sinks = Vec::with_capacity(4);
        for (t, schema) in TABLES.iter().zip(schemas.iter()) {
            let name = format!(
                "{t}/{}",
                part_file(usize::try_from(part).unwrap_or(usize::MAX))
            );
            let loc = out.child(&name);
            files.push(name);
            sinks.push(ParquetSink::create(&loc, Arc::clone(schema))?);
        }
        // Simulate a group of chunks in parallel while the previous group is
        // being written.
        let group = opts.chunk_size * threads * 2;
        let spawn_group = |from: u64| {
            let to = (from + group).min(hi);
            let params = Arc::clone(&params);
            let chunk = opts.chunk_size;
            let seed = opts.seed;
            tokio::task::spawn_blocking(move || {
                let starts: Vec<u64> = (from..to).step_by(chunk as usize).collect();
                let batches: Vec<ChunkBatches> = starts
                    .par_iter()
                    .map(|&s| simulate_chunk(s..(s + chunk).min(to), seed, &params, &span))
                    .collect();
                (to, batches)
            })
        };
        let mut pending = (lo < hi).then(|| spawn_group(lo));
        while let Some(handle) = pending.take() {
            let (to, batches) = handle
                .await
                .map_err(|e| Error::internal_with("simulation task failed", e))?;
            if to < hi {
                pending = Some(spawn_group(to));
            }
            for b in batches {
                for (k, batch) in [&b.purchases, &b.interactions, &b.customers, &b.truth]
                    .into_iter()
                    .enumerate()
                {
                    rows[k] += batch.num_rows() as u64;
                    sinks[k].write(batch).await?;
                }
            }
            on_progress(to);
        }
        for sink in sinks {
            sink.finish().await?;
        }
    }

    let report = GenerateReport {
        customers: opts.customers,
        seed: opts.seed,
        start: opts.start,
        end: opts.end,
        truth_horizons_days: [90, 365],
        rows: TABLES
            .iter()
            .zip(rows)
            .map(|(t, n)| (t.to_string(), n))
            .collect(),
        files,
        params: opts.params.clone(),
        command: opts.command.clone(),
        generator_version: env!("CARGO_PKG_VERSION").to_string(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::internal_with("cannot serialise generator.json", e))?;
    out.child("generator.json").put(json).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_customer_seeds_differ() {
        let a: std::collections::HashSet<u64> = (0..10_000).map(|i| mix(7, i)).collect();
        assert_eq!(a.len(), 10_000);
        assert_ne!(mix(1, 0), mix(2, 0));
    }

    #[test]
    fn chunking_does_not_change_the_data() {
        let p = SimParams {
            dirty_share: 0.01,
            ..SimParams::default()
        };
        let span = Span {
            start_micros: 0,
            data_days: 700.0,
        };
        let whole = simulate_chunk(0..40, 3, &p, &span);
        let a = simulate_chunk(0..17, 3, &p, &span);
        let b = simulate_chunk(17..40, 3, &p, &span);
        let joined =
            arrow::compute::concat_batches(&a.purchases.schema(), [&a.purchases, &b.purchases])
                .expect("concat");
        assert_eq!(joined, whole.purchases);
        let joined = arrow::compute::concat_batches(
            &a.interactions.schema(),
            [&a.interactions, &b.interactions],
        )
        .expect("concat");
        assert_eq!(joined, whole.interactions);
        assert!(whole.purchases.num_rows() > 40);
    }
}
