//! One module per subcommand.

mod generate;
mod run;
mod train;

use crate::args::Command;

pub async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Generate(a) => generate::generate(a).await,
        Command::Validate(a) => run::validate(a).await,
        Command::Features(a) => run::features(a).await,
        Command::Train(a) => train::train(a).await,
        Command::Score(a) => train::score(a).await,
        Command::Run(a) => run::run(a).await,
        Command::Settings(a) => run::settings(a),
    }
}
