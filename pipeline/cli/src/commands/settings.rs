//! `fidelis settings`: the resolved settings of a config file, as JSON.

use crate::args::ConfigArgs;

pub fn command(a: ConfigArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&a.config)?;
    println!("{}", serde_json::to_string_pretty(&settings)?);
    Ok(())
}
