//! `switchyard`: load settings, start telemetry, run the chosen subcommand.

use clap::Parser;
use switchyard::cli::Cli;
use switchyard::telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(err) => return fail(&err),
    };
    if let Err(err) = telemetry::start(&settings) {
        return fail(&err);
    }
    let result = cli.run(settings).await;
    telemetry::shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            fail(&err)
        }
    }
}

fn fail(err: &anyhow::Error) -> std::process::ExitCode {
    eprintln!("switchyard: {err:#}");
    std::process::ExitCode::FAILURE
}
