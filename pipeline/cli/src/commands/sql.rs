//! `fidelis sql`: SQL over the published outputs, each date at the table
//! versions its current `runs` row names (see fidelis_engine::catalog).

use arrow::array::RecordBatch;
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
    let df = ctx
        .sql(&a.query)
        .await
        .map_err(|e| Error::config(format!("the query does not plan: {e}")))?;
    let batches: Vec<RecordBatch> = df
        .collect()
        .await
        .map_err(|e| Error::config(format!("the query failed: {e}")))?;
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
                w.write(b)?;
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
