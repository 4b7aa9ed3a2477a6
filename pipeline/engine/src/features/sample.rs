//! The backtest sample of a large run (docs/models.md, "Backtest sample"):
//! above `models.backtest_customers` the backtest cutoffs see the validated
//! rows of a fixed md5 sample of customers, staged once per run date.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};

use fidelis_core::sample::BacktestSample;
use fidelis_core::{Error, Result, Settings, Table};
use fidelis_storage::layout::{RunLayout, part_file};

use super::{Population, session, staged_validation};
use crate::sql::write_df;

/// The sampling threshold for a share in (0, 1): 8 lower-case hex digits.
pub fn md5_threshold(share: f64) -> String {
    let v = (share.clamp(0.0, 1.0) * 4_294_967_296.0)
        .floor()
        .min(4_294_967_295.0);
    format!("{:08x}", v as u64)
}

/// Stages the backtest sample of a run: when the run date has more than
/// `target` customers (and `target > 0`), the validated rows of the
/// customers whose `md5('fidelis-backtest:' || customer_id)` falls below
/// the share's threshold, table by table; `None` (and any earlier sample
/// removed) otherwise. The rule depends on the customer id only, so a
/// customer is in or out at every cutoff, and reruns pick the same
/// customers.
pub async fn stage_backtest_sample(
    settings: &Settings,
    run: &RunLayout,
    customers: u64,
    target: u64,
) -> Result<Option<BacktestSample>> {
    run.backtest_samples().delete_all().await?;
    if target == 0 || customers <= target {
        return Ok(None);
    }
    let share = target as f64 / customers as f64;
    let md5_below = md5_threshold(share);
    let report = staged_validation(run).await?;
    let ctx = session(settings, run, &report, Population::All).await?;
    let ids = ctx
        .sql(&format!(
            "SELECT customer_id FROM (SELECT customer_id FROM purchases UNION SELECT customer_id FROM customers) \
             WHERE md5('fidelis-backtest:' || customer_id) < '{md5_below}'"
        ))
        .await
        .map_err(|e| Error::internal_with("selecting the backtest sample", e))?
        .collect()
        .await
        .map_err(|e| Error::internal_with("selecting the backtest sample", e))?;
    let sampled_customers = ids.iter().map(|b| b.num_rows() as u64).sum();
    ctx.register_batch(
        "backtest_ids",
        arrow::compute::concat_batches(
            &ids.first().map_or_else(
                || {
                    Arc::new(Schema::new(vec![Field::new(
                        "customer_id",
                        DataType::Utf8,
                        true,
                    )]))
                },
                RecordBatch::schema,
            ),
            &ids,
        )
        .map_err(|e| Error::internal_with("backtest sample ids", e))?,
    )
    .map_err(|e| Error::internal_with("registering the backtest sample ids", e))?;
    let mut rows = std::collections::BTreeMap::new();
    for t in &report.tables {
        let df = ctx
            .sql(&format!(
                "SELECT * FROM {0} WHERE customer_id IN (SELECT customer_id FROM backtest_ids)",
                t.table
            ))
            .await
            .map_err(|e| Error::internal_with(format!("sampling {}", t.table), e))?;
        let Some(table) = Table::ALL.into_iter().find(|x| x.name() == t.table) else {
            continue;
        };
        let n = write_df(df, &run.backtest_sample(table).child(&part_file(0))).await?;
        rows.insert(t.table.clone(), n);
    }
    Ok(Some(BacktestSample {
        customers,
        share,
        md5_below,
        sampled_customers,
        rows,
    }))
}
