//! One module per subcommand.

mod generate;
mod publish;
mod run;
mod sql;
mod train;

use crate::args::Command;

pub async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Generate(a) => generate::generate(a).await,
        Command::Validate(a) => run::validate(a).await,
        Command::Features(a) => run::features(a).await,
        Command::Train(a) => train::train(a).await,
        Command::Score(a) => train::score(a).await,
        Command::Export(a) => publish::export(a).await,
        Command::Report(a) => publish::report(a).await,
        Command::Publish(a) => publish::publish_cmd(a).await,
        Command::Run(a) => run::run(a).await,
        Command::Sql(a) => sql::sql(a).await,
        Command::Settings(a) => run::settings(a),
    }
}
