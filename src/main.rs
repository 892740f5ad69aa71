//! `switchyard`: load settings, start telemetry, run the chosen subcommand.

use clap::Parser;
use switchyard::cli::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    switchyard::telemetry::init();
    match Cli::parse().run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("switchyard: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
