//! Duplicate detection for validation without sorting every row.
//!
//! The contract rejects every row of a duplicate group but the first
//! (`row_number() OVER (PARTITION BY key ORDER BY ...)`, see
//! `validate::rules_sql`). Run on every row, that window sorts the whole
//! table by all its columns: 101M interactions took 6.5 minutes at 1M
//! customers, nearly all of the validate stage, to find a handful of
//! duplicates. Instead, validation makes two passes:
//!
//! 1. [`duplicate_hashes`]: one scan computes a 64-bit hash of each row's
//!    duplicate key (DataFusion's own `create_hashes`, a fixed seed), sorts
//!    the hashes (8 bytes a row, both cores) and keeps those seen more than
//!    once;
//! 2. the rules SQL ranks only the rows whose key hashes to one of them
//!    ([`DupCandidate`], `fidelis_dup_candidate(key...)`): rows with equal
//!    keys have equal hashes, so every true duplicate is a candidate and the
//!    exact `row_number` decides among them. A hash collision only makes a
//!    few unique rows candidates, which the window then keeps: the result is
//!    exactly the full window's, whatever the hashes.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::{DataType, UInt64Type};
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::DataFrame;
use futures::StreamExt;

/// Seed of the key hash: both passes must hash alike.
const SEED: u64 = 0x6669_6465_6c69_7321;

fn key_hashes(args: &[ColumnarValue], rows: usize) -> DfResult<Vec<u64>> {
    // A key DataFusion hands over as a scalar stands for the whole batch:
    // `values_to_arrays` makes it one row long when every argument is a
    // scalar, and hashing panicked (the consent property test met it with
    // a file of two rows of one customer).
    let arrays: Vec<ArrayRef> = args
        .iter()
        .map(|a| a.to_array(rows))
        .collect::<DfResult<_>>()?;
    let mut hashes = vec![0u64; rows];
    create_hashes(&arrays, &RandomState::with_seed(SEED), &mut hashes)?;
    Ok(hashes)
}

/// `fidelis_row_hash(key...)`: the 64-bit hash of the key columns (pass 1).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowHash {
    signature: Signature,
}

impl RowHash {
    /// The UDF.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for RowHash {
    fn name(&self) -> &str {
        "fidelis_row_hash"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::UInt64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let h = key_hashes(&args.args, args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(
            arrow::array::UInt64Array::from(h),
        )))
    }
}

/// `fidelis_dup_candidate(key...)`: whether the key's hash is one of the
/// hashes pass 1 saw more than once (pass 2).
#[derive(Debug)]
pub struct DupCandidate {
    signature: Signature,
    hashes: Arc<HashSet<u64>>,
}

impl PartialEq for DupCandidate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.hashes, &other.hashes)
    }
}
impl Eq for DupCandidate {}
impl Hash for DupCandidate {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.hashes), state);
    }
}

impl DupCandidate {
    /// The UDF for a set of repeated hashes.
    pub fn udf(hashes: HashSet<u64>) -> ScalarUDF {
        ScalarUDF::from(Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            hashes: Arc::new(hashes),
        })
    }
}

impl ScalarUDFImpl for DupCandidate {
    fn name(&self) -> &str {
        "fidelis_dup_candidate"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let h = key_hashes(&args.args, args.number_rows)?;
        let mask: BooleanArray = h.iter().map(|v| Some(self.hashes.contains(v))).collect();
        Ok(ColumnarValue::Array(Arc::new(mask)))
    }
}

/// Pass 1: the key hashes that occur more than once among the rows of
/// `hashes` (a one-column frame of `fidelis_row_hash`), reading
/// `expected_rows` rows (the Parquet footers' count, to size the buffer).
pub async fn duplicate_hashes(hashes: DataFrame, expected_rows: u64) -> DfResult<HashSet<u64>> {
    let mut all: Vec<u64> = Vec::with_capacity(usize::try_from(expected_rows).unwrap_or(0));
    let mut stream = hashes.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let col = batch.column(0).as_primitive::<UInt64Type>();
        if col.null_count() > 0 {
            return Err(datafusion::error::DataFusionError::Internal(
                "null key hash".into(),
            ));
        }
        all.extend_from_slice(col.values());
    }
    tokio::task::block_in_place(|| {
        use rayon::slice::ParallelSliceMut;
        all.par_sort_unstable();
        Ok(all
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn equal_keys_hash_alike_and_repeats_are_found() {
        let ctx = SessionContext::new();
        ctx.register_udf(RowHash::udf());
        let df = ctx
            .sql(
                "SELECT fidelis_row_hash(a, b) FROM (VALUES ('x', 1), ('y', 1), ('x', 1), \
                 (NULL, 2), (NULL, 2), ('z', NULL)) AS t(a, b)",
            )
            .await
            .expect("sql");
        let dups = duplicate_hashes(df, 6).await.expect("pass 1");
        assert_eq!(dups.len(), 2, "('x', 1) and (NULL, 2) repeat: {dups:?}");

        ctx.register_udf(DupCandidate::udf(dups));
        let batches = ctx
            .sql(
                "SELECT a, b FROM (VALUES ('x', 1), ('y', 1), ('x', 1), (NULL, 2), \
                 (NULL, 2), ('z', NULL)) AS t(a, b) WHERE fidelis_dup_candidate(a, b) \
                 ORDER BY a NULLS FIRST",
            )
            .await
            .expect("sql")
            .collect()
            .await
            .expect("run");
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(n, 4, "the two ('x', 1) and the two (NULL, 2) rows");
    }
}
