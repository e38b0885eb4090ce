//! Reads the configuration, sets up logs, serves until SIGINT/SIGTERM; or,
//! with `healthcheck`, checks a running instance.

use std::process::ExitCode;

use clap::Parser;
use order_service::{Command, Config, Server};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let config = Config::parse();
    if let Some(Command::Healthcheck) = config.command {
        return Ok(order_service::healthcheck(config.http_port).await);
    }
    support::telemetry::init(config.log_format);
    support::service::raise_open_file_limit();
    let server = Server::start(&config).await?;
    server.run_until(support::shutdown::signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
