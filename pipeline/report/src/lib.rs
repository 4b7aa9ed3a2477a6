//! fidelis-report: the run report, one self-contained HTML page. The report
//! stage; reads what the earlier stages staged and the previous published run.
//! Never depends on: the CLI (docs/architecture.md).
//!
//! `fidelis report`, the run report. One self-contained HTML
//! file (`reports/report.html`) for the people who look at a run: data
//! quality, the feature summary, every candidate model's backtest with the
//! champion marked, charts as inline SVG, segments, score drift against the
//! previous published run, and the audiences exported. docs/report.md
//! lists the charts.

pub mod data;
pub mod html;
pub mod svg;

use fidelis_core::{Result, Settings};
use fidelis_storage::layout::RunLayout;

pub use html::CHARTS;

/// What [`build_report`] wrote.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    pub url: String,
    pub bytes: usize,
    pub charts: usize,
    pub previous_run: Option<String>,
}

/// Gather, render and stage the report of `run_date`.
pub async fn build_report(
    settings: &Settings,
    run: &RunLayout,
    code_version: &str,
) -> Result<ReportSummary> {
    let data = data::gather(settings, run, code_version).await?;
    let page = html::render(&data);
    let loc = run.report();
    let bytes = page.len();
    let charts = page.matches("<figure data-chart=").count();
    loc.put(page).await?;
    Ok(ReportSummary {
        url: loc.url(),
        bytes,
        charts,
        previous_run: data.previous.map(|p| p.run_date),
    })
}
