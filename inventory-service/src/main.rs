//! Reads the configuration, sets up logs, serves until SIGINT/SIGTERM; or,
//! with `healthcheck`, checks a running instance.

use std::process::ExitCode;

use clap::Parser;
use inventory_service::{Command, Config, Server};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let config = Config::parse();
    if let Some(Command::Healthcheck) = config.command {
        return Ok(inventory_service::healthcheck(config.grpc_port).await);
    }
    support::telemetry::init(config.log_format);
    let server = Server::start(&config).await?;
    server.run_until(support::shutdown::signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
