//! The command line: `serve` (default), `migrate`, `token` (PROTOCOL.md §8), and the
//! hidden `contract` (the namespaces and their events as JSON, for the AsyncAPI test).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{Settings, redact_url};
use crate::startup::Application;
use crate::store::Database;
use crate::{auth, secrets};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A real-time gateway speaking Socket.IO"
)]
pub struct Cli {
    /// Optional TOML settings file; SWITCHYARD_* variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print a token signed with the configured HS256 secret.
    Token {
        #[arg(long)]
        sub: String,
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Print the namespaces as served (path, client events with rate class and payload
    /// limit, emits) as JSON.
    #[command(hide = true)]
    Contract,
}

impl Cli {
    /// Defaults, the `--config` file, then the environment.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Settings::load(self.config.as_deref())
    }

    pub async fn run(self, settings: Settings) -> anyhow::Result<()> {
        match self.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(&settings).await,
            Command::Migrate => {
                Database::connect(&settings.database.url, settings.database.timeout)
                    .await?
                    .migrate()
                    .await?;
                tracing::info!(database = %redact_url(&settings.database.url), "migrations applied");
                Ok(())
            }
            Command::Token { sub, roles, ttl } => {
                let secret = settings.auth.jwt_secret.as_deref().ok_or_else(|| {
                    anyhow::anyhow!("`token` signs with SWITCHYARD_JWT_SECRET, which is not set")
                })?;
                println!("{}", auth::issue_token(secret, &sub, &roles, ttl)?);
                Ok(())
            }
            Command::Contract => {
                let contract = crate::startup::contract(&settings);
                println!("{}", serde_json::to_string_pretty(&contract)?);
                Ok(())
            }
        }
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let choice = secrets::choose(settings)?;
    let app = Application::build(settings, choice.secret.as_deref()).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, database = %redact_url(&settings.database.url), "switchyard listening on http://{addr}");
    if let Some(token) = choice.demo_token {
        tracing::warn!(
            "development mode: no SWITCHYARD_JWT_SECRET or SWITCHYARD_JWKS_URL, using a random secret"
        );
        tracing::info!("demo token for user `demo` (24 h): {token}");
        tracing::info!("demo page: http://{addr}/demo?token={token}");
    }
    app.run_until_stopped().await
}
