//! `fidelis vacuum`: retention on demand (fidelis_storage::vacuum); publish
//! runs the same after every run unless `[output] vacuum = false`.

use fidelis_core::Settings;
use fidelis_storage::layout::Layout;
use fidelis_storage::vacuum::{VacuumReport, vacuum};

use crate::args::VacuumArgs;

pub async fn command(a: VacuumArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&a.config.config)?;
    let report = run(&settings, a.dry_run).await?;
    println!("{}", summary(&report));
    for (table, t) in &report.tables {
        if t.data_files + t.log_entries > 0 || !t.kept_versions.is_empty() {
            println!(
                "  {table}: {} data files, {} log entries; versions kept for earlier runs: {:?}",
                t.data_files, t.log_entries, t.kept_versions
            );
        }
    }
    Ok(())
}

/// Vacuum the output root of `settings` now.
pub(super) async fn run(settings: &Settings, dry_run: bool) -> anyhow::Result<VacuumReport> {
    let layout = Layout::from_settings(settings)?;
    Ok(vacuum(
        &layout,
        settings.keep_days,
        settings.keep_staging,
        dry_run,
        chrono::Utc::now(),
    )
    .await?)
}

/// One line on what a vacuum removed.
pub(super) fn summary(r: &VacuumReport) -> String {
    let data: usize = r.tables.values().map(|t| t.data_files).sum();
    let logs: usize = r.tables.values().map(|t| t.log_entries).sum();
    format!(
        "vacuum ({} days kept){}: {data} table data files, {logs} log entries, {} published files, {} staged objects {}",
        r.keep_days,
        if r.dry_run { ", dry run" } else { "" },
        r.files,
        r.staging,
        if r.dry_run { "would go" } else { "removed" },
    )
}
