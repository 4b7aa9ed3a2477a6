//! The last step of `fidelis score`: the model outputs (computed by
//! fidelis-train) completed in SQL (`sql/scores.sql`) with the CLV decile,
//! the RFM quintile scores and segment, the value and risk tiers and the
//! next action, following the job's `[segments]` rules; then the segments
//! table, one folder per named segment.

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use serde::{Deserialize, Serialize};

use fidelis_core::config::SegmentsConfig;
use fidelis_core::marketing::slug;
use fidelis_core::{Error, Result, Settings};
use fidelis_storage::lake::TableSink;
use fidelis_storage::layout::RunLayout;

use futures::StreamExt;

use crate::sql::{Layer, model, plain_schema, render, to_plain};

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

/// The next-action CASE: each rule's condition as parsed at config load
/// (fidelis_core::rules), over the columns of `base` and those the SQL adds.
fn next_action_case(cfg: &SegmentsConfig, base: &arrow::datatypes::Schema) -> Result<String> {
    let columns: Vec<String> = base
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .chain(fidelis_core::contract::ADDED_SCORE_COLUMNS.map(str::to_string))
        .collect();
    let mut sql = String::from("case");
    for rule in &cfg.actions {
        let when = rule
            .when_sql(&columns)
            .map_err(|e| Error::config(format!("segments.actions `{}`: when: {e}", rule.action)))?;
        sql.push_str(&format!(
            "\n        when ({when}) then {}",
            sql_string(&rule.action)
        ));
    }
    sql.push_str("\n        else 'none'\n    end");
    Ok(sql)
}

/// Adds the counts of a string column's values in `batch` to `out`.
fn count(batch: &RecordBatch, column: &str, out: &mut BTreeMap<String, u64>) {
    let Some(col) = batch.column_by_name(column) else {
        return;
    };
    let Some(col) = col.as_string_opt::<i32>() else {
        return;
    };
    for v in col.iter().flatten() {
        // A handful of distinct values: allocate a key only for a new one.
        match out.get_mut(v) {
            Some(n) => *n += 1,
            None => {
                out.insert(v.to_string(), 1);
            }
        }
    }
}

/// `final/scores.sql` rendered for the `[segments]` rules of a job and the
/// columns of `base` (every one of them but `top_reasons` and
/// `model_version` leads the scores table, in its order).
pub fn scores_sql(cfg: &SegmentsConfig, base: &arrow::datatypes::Schema) -> Result<String> {
    let leading: Vec<String> = base
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != "top_reasons" && n != "model_version")
        .map(|n| format!("\"{n}\""))
        .collect();
    render(
        &model(Layer::Final, "scores")?,
        &[
            ("rfm_segment_case", rfm_segment_case(cfg)),
            ("next_action_case", next_action_case(cfg, base)?),
            ("value_top_deciles", cfg.value_top_deciles.to_string()),
            ("value_mid_deciles", cfg.value_mid_deciles.to_string()),
            ("risk_high", format!("{:?}", cfg.risk_high)),
            ("risk_medium", format!("{:?}", cfg.risk_medium)),
            ("leading_columns", leading.join(",\n    ")),
        ],
    )
}

/// Complete `base` (the model outputs, in the scores contract's order) with
/// the segment columns, stage it as `scores/part-00000.parquet`, and stage
/// the segments table.
///
/// The SQL is `final/scores.sql` over the tables `base` (the model outputs)
/// and `features` (the run date's), rendered by [`scores_sql`].
pub async fn finish_scores(
    settings: &Settings,
    run: &RunLayout,
    base: Vec<RecordBatch>,
) -> Result<ScoresReport> {
    let started = Instant::now();
    let ctx = crate::features::validated_session(settings, run).await?;
    let Some(first) = base.first() else {
        return Err(Error::internal("no model outputs to finish"));
    };
    let schema = first.schema();
    let sql = scores_sql(&settings.segments, &schema)?;
    // The model outputs in batches spread over the engine's partitions: one
    // giant batch cannot be sorted within the memory pool at 10M customers.
    let n_parts = ctx.state().config().target_partitions().max(1);
    let mut partitions = vec![Vec::new(); n_parts];
    for (i, b) in base.into_iter().enumerate() {
        partitions[i % n_parts].push(b);
    }
    let table = datafusion::datasource::MemTable::try_new(schema, partitions)
        .map_err(|e| Error::internal_with("the model outputs", e))?;
    ctx.register_table("base", std::sync::Arc::new(table))
        .map_err(|e| Error::internal_with("registering the model outputs", e))?;
    let features = run.features(run.run_date());
    ctx.register_parquet("features", features.url() + "/", Default::default())
        .await
        .map_err(|e| Error::internal_with(format!("registering {}", features.url()), e))?;
    // A condition that does not plan is the config's fault (exit 2).
    let df = ctx.sql(&sql).await.map_err(|e| {
        Error::config(format!(
            "{}: a [segments] rule is not valid SQL over the score columns: {e}",
            settings.config_path
        ))
    })?;
    let schema = plain_schema(df.schema().as_arrow());
    let mut stream = df
        .execute_stream()
        .await
        .map_err(|e| Error::internal_with("computing the scores", e))?;
    let target = run.scores_target();
    target.dir().delete_all().await?;
    let mut sink = TableSink::create(&target, std::sync::Arc::clone(&schema))?;
    // The scores stream out in customer order; each batch is written to the
    // scores file and its rows to their segment's file, so the segments are
    // in customer order too and nothing holds all the scores in memory.
    let mut segments = SegmentWriter::new(run, &schema).await?;
    let mut next_actions = BTreeMap::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| Error::internal_with("computing the scores", e))?;
        let batch = to_plain(&batch, &schema)?;
        sink.write(&batch).await?;
        count(&batch, "next_action", &mut next_actions);
        segments.write(&batch).await?;
    }
    let rows = sink.finish().await?;
    let segments = segments.finish().await?;
    Ok(ScoresReport {
        rows,
        segments,
        next_actions,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The segments table: one Parquet file per named RFM segment, holding the
/// [`SEGMENT_COLUMNS`] of its customers (customers without a segment, the
/// prospects, are in none).
struct SegmentWriter<'a> {
    run: &'a RunLayout,
    /// Indices of the segment columns in the scores schema.
    columns: Vec<usize>,
    schema: arrow::datatypes::SchemaRef,
    /// Index of `rfm_segment` in the segment columns.
    segment: usize,
    sinks: BTreeMap<String, (TableSink, u64)>,
}

impl<'a> SegmentWriter<'a> {
    async fn new(run: &'a RunLayout, scores: &arrow::datatypes::SchemaRef) -> Result<Self> {
        run.segments().delete_all().await?;
        let columns = SEGMENT_COLUMNS
            .split(',')
            .map(|name| {
                scores
                    .index_of(name.trim())
                    .map_err(|e| Error::internal_with("the segment columns", e))
            })
            .collect::<Result<Vec<_>>>()?;
        let schema = std::sync::Arc::new(
            scores
                .project(&columns)
                .map_err(|e| Error::internal_with("the segment columns", e))?,
        );
        let segment = schema
            .index_of("rfm_segment")
            .map_err(|e| Error::internal_with("the segment columns", e))?;
        Ok(Self {
            run,
            columns,
            schema,
            segment,
            sinks: BTreeMap::new(),
        })
    }

    async fn write(&mut self, scores: &RecordBatch) -> Result<()> {
        let batch = scores
            .project(&self.columns)
            .map_err(|e| Error::internal_with("the segment columns", e))?;
        let names = batch
            .column(self.segment)
            .as_string_opt::<i32>()
            .ok_or_else(|| Error::internal("rfm_segment is not a string column"))?;
        let present: std::collections::BTreeSet<&str> = names.iter().flatten().collect();
        for name in present {
            let mask = arrow::compute::kernels::cmp::eq(
                names,
                &arrow::array::StringArray::new_scalar(name),
            )
            .map_err(|e| Error::internal_with("selecting a segment", e))?;
            let rows = arrow::compute::filter_record_batch(&batch, &mask)
                .map_err(|e| Error::internal_with("selecting a segment", e))?;
            if !self.sinks.contains_key(name) {
                let part = self.run.segment_target(&slug(name));
                let sink = TableSink::create(&part, std::sync::Arc::clone(&self.schema))?;
                self.sinks.insert(name.to_string(), (sink, 0));
            }
            let Some((sink, n)) = self.sinks.get_mut(name) else {
                continue;
            };
            *n += rows.num_rows() as u64;
            sink.write(&rows).await?;
        }
        Ok(())
    }

    /// Closes every segment's file; segment name -> customers.
    async fn finish(self) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for (name, (sink, n)) in self.sinks {
            sink.finish().await?;
            out.insert(name, n);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_sql_quotes_names() {
        let cfg = SegmentsConfig::default();
        let sql = rfm_segment_case(&cfg);
        assert!(sql.contains("'Can''t Lose Them'"), "{sql}");
        let base = arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "churn_probability",
            arrow::datatypes::DataType::Float64,
            true,
        )]);
        let case = next_action_case(&cfg, &base).expect("the default rules");
        assert!(case.ends_with("else 'none'\n    end"), "{case}");
        // The parsed conditions, printed back: upper-case keywords.
        assert!(
            case.contains("when (r_score <= 2) then 'win_back'"),
            "{case}"
        );
    }
}
