//! `fidelis sql`: SQL over the published outputs, each date at the table
//! versions its current `runs` row names (see fidelis_engine::catalog).
//! Read-only: queries only (no DDL, no DML such as COPY or INSERT, no `SET`
//! statements); a query that does not plan or fails is exit 2 with
//! DataFusion's message.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use fidelis_core::Error;

use fidelis_storage::layout::Layout;

use crate::args::{SqlArgs, SqlFormat};

pub async fn command(a: SqlArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&a.config.config)?;
    let layout = Layout::from_settings(&settings)?;
    let (ctx, runs) =
        fidelis_engine::catalog::sql_session(&settings, &layout, a.run_id.as_deref()).await?;
    if runs.is_empty() {
        tracing::warn!(output = %settings.output_url, "no published run yet: only the empty runs and run_files tables exist");
    }
    let batches = fidelis_engine::catalog::read_only_query(&ctx, &a.query).await?;
    let mut stdout = std::io::stdout().lock();
    match a.format {
        SqlFormat::Table => {
            println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
        }
        SqlFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut stdout);
            for b in &batches {
                w.write(&nested_as_json(b)?)
                    .map_err(|e| Error::config(format!("writing CSV: {e}")))?;
            }
        }
        SqlFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut stdout);
            for b in &batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}

/// CSV has no lists or structs: such columns are written as JSON text
/// (a list as a JSON array), every other column as it is.
fn nested_as_json(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let nested = |t: &DataType| t.is_nested();
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| nested(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns: Vec<Arc<dyn Array>> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if !nested(f.data_type()) {
            fields.push(f.as_ref().clone());
            columns.push(Arc::clone(c));
            continue;
        }
        let one = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "v",
                f.data_type().clone(),
                true,
            )])),
            vec![Arc::clone(c)],
        )?;
        let mut buf = Vec::new();
        {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
            w.write(&one)?;
            w.finish()?;
        }
        let mut values: Vec<Option<String>> = Vec::with_capacity(c.len());
        for line in String::from_utf8(buf)?.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            values.push(v.get("v").map(serde_json::Value::to_string));
        }
        fields.push(Field::new(f.name(), DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from(values)));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
