//! The last step of `fidelis score`: the model outputs (computed by
//! fidelis-train) completed in SQL (`sql/scores.sql`) with the CLV decile,
//! the RFM quintile scores and segment, the value and risk tiers and the
//! next action, following the job's `[segments]` rules; then the segments
//! table, one folder per named segment.

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use fidelis_core::config::SegmentsConfig;
use fidelis_core::marketing::slug;
use fidelis_core::{Error, Result, RunDate, Settings};
use fidelis_storage::{Location, ParquetSink};

use crate::features::{SqlModel, features_location, render, write_df};
use crate::validate::staging;

/// The scores SQL model.
pub const SCORES: SqlModel = SqlModel {
    name: "scores",
    sql: include_str!("../sql/scores.sql"),
};

/// Where a run stages its scores.
pub fn scores_location(out: &Location, run_date: RunDate) -> Location {
    staging(out, run_date).child("scores")
}

/// Where a run stages its segments (`segment=<slug>/` below).
pub fn segments_location(out: &Location, run_date: RunDate) -> Location {
    staging(out, run_date).child("segments")
}

/// The columns of the segments table.
const SEGMENT_COLUMNS: &str = "customer_id, as_of, rfm_segment, r_score, f_score, m_score, \
     clv_decile, value_tier, risk_tier, next_action, churn_probability, clv_12m";

/// What [`finish_scores`] wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoresReport {
    pub rows: u64,
    /// Segment name -> customers.
    pub segments: BTreeMap<String, u64>,
    /// Next action -> customers.
    pub next_actions: BTreeMap<String, u64>,
    pub seconds: f64,
}

/// A SQL string literal.
pub(crate) fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn rfm_segment_case(cfg: &SegmentsConfig) -> String {
    let mut sql = String::from("case\n            when r_score is null then null");
    for rule in &cfg.rfm {
        sql.push_str(&format!(
            "\n            when r_score between {} and {} and f_score between {} and {} and m_score between {} and {} then {}",
            rule.r[0],
            rule.r[1],
            rule.f[0],
            rule.f[1],
            rule.m[0],
            rule.m[1],
            sql_string(&rule.name)
        ));
    }
    sql.push_str("\n        end");
    sql
}

fn next_action_case(cfg: &SegmentsConfig) -> String {
    let mut sql = String::from("case");
    for rule in &cfg.actions {
        sql.push_str(&format!(
            "\n        when ({}) then {}",
            rule.when,
            sql_string(&rule.action)
        ));
    }
    sql.push_str("\n        else 'none'\n    end");
    sql
}

/// Counts of a string column's values.
fn counts(batches: &[RecordBatch], column: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for b in batches {
        let Some(col) = b.column_by_name(column) else {
            continue;
        };
        let Some(col) = col.as_string_opt::<i32>() else {
            continue;
        };
        for i in 0..col.len() {
            if col.is_valid(i) {
                *out.entry(col.value(i).to_string()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// Complete `base` (the model outputs, in the scores contract's order) with
/// the segment columns, stage it as `scores/part-00000.parquet`, and stage
/// the segments table.
pub async fn finish_scores(
    settings: &Settings,
    run_date: RunDate,
    base: RecordBatch,
) -> Result<ScoresReport> {
    let started = Instant::now();
    let (out, ctx) = crate::features::validated_session(settings, run_date).await?;
    let leading: Vec<String> = base
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != "top_reasons" && n != "model_version")
        .map(|n| format!("\"{n}\""))
        .collect();
    ctx.register_batch("base", base)
        .map_err(|e| Error::internal_with("registering the model outputs", e))?;
    let features = features_location(&out, run_date, run_date);
    ctx.register_parquet("features", features.url() + "/", Default::default())
        .await
        .map_err(|e| Error::internal_with(format!("registering {}", features.url()), e))?;
    let cfg = &settings.segments;
    let sql = render(
        &SCORES,
        &[
            ("rfm_segment_case", rfm_segment_case(cfg)),
            ("next_action_case", next_action_case(cfg)),
            ("value_top_deciles", cfg.value_top_deciles.to_string()),
            ("value_mid_deciles", cfg.value_mid_deciles.to_string()),
            ("risk_high", format!("{:?}", cfg.risk_high)),
            ("risk_medium", format!("{:?}", cfg.risk_medium)),
            ("leading_columns", leading.join(",\n    ")),
        ],
    )?;
    // A condition that does not plan is the config's fault (exit 2).
    let df = ctx.sql(&sql).await.map_err(|e| {
        Error::config(format!(
            "{}: a [segments] rule is not valid SQL over the score columns: {e}",
            settings.config_path
        ))
    })?;
    let schema = crate::features::plain_schema(df.schema().as_arrow());
    let batches = df
        .collect()
        .await
        .map_err(|e| Error::internal_with("computing the scores", e))?;
    let loc = scores_location(&out, run_date);
    loc.delete_all().await?;
    let mut sink = ParquetSink::create(
        &loc.child("part-00000.parquet"),
        std::sync::Arc::clone(&schema),
    )?;
    for b in &batches {
        sink.write(&crate::features::to_plain(b, &schema)?).await?;
    }
    let rows = sink.finish().await?;
    let segments = counts(&batches, "rfm_segment");
    let next_actions = counts(&batches, "next_action");
    write_segments(&ctx, &out, run_date, batches, &segments).await?;
    Ok(ScoresReport {
        rows,
        segments,
        next_actions,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn write_segments(
    ctx: &SessionContext,
    out: &Location,
    run_date: RunDate,
    batches: Vec<RecordBatch>,
    segments: &BTreeMap<String, u64>,
) -> Result<()> {
    let loc = segments_location(out, run_date);
    loc.delete_all().await?;
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Ok(());
    };
    let table = datafusion::datasource::MemTable::try_new(schema, vec![batches])
        .map_err(|e| Error::internal_with("registering the scores", e))?;
    ctx.register_table("scored", std::sync::Arc::new(table))
        .map_err(|e| Error::internal_with("registering the scores", e))?;
    for name in segments.keys() {
        let df = ctx
            .sql(&format!(
                "select {SEGMENT_COLUMNS} from scored where rfm_segment = {} order by customer_id",
                sql_string(name)
            ))
            .await
            .map_err(|e| Error::internal_with("planning a segment", e))?;
        let part = loc.child(&format!("segment={}/part-00000.parquet", slug(name)));
        write_df(df, &part).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_sql_quotes_names() {
        let cfg = SegmentsConfig::default();
        let sql = rfm_segment_case(&cfg);
        assert!(sql.contains("'Can''t Lose Them'"), "{sql}");
        assert!(next_action_case(&cfg).ends_with("else 'none'\n    end"));
    }
}
