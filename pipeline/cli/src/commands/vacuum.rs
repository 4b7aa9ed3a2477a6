//! `fidelis vacuum`: retention on demand (fidelis_storage::vacuum); publish
//! runs the same after every run unless `[output] vacuum = false`
//! (both through `commands::vacuum_now`).

use crate::args::VacuumArgs;

pub async fn command(a: VacuumArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&a.config.config)?;
    let report = super::vacuum_now(&settings, a.dry_run).await?;
    println!("{}", super::vacuum_summary(&report));
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
