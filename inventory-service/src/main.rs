//! Reads the configuration, sets up logs and traces, serves until SIGINT/SIGTERM; or,
//! with `healthcheck`, checks a running instance.

use std::process::ExitCode;

use clap::Parser;
use inventory_service::{Command, Config, Server};

/// Returns freed memory to the system (see `support::allocator`).
#[global_allocator]
static ALLOCATOR: support::allocator::Allocator = support::allocator::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let config = Config::parse();
    if let Some(Command::Healthcheck) = config.command {
        return Ok(inventory_service::healthcheck(config.grpc_port).await);
    }
    let telemetry = support::telemetry::init(support::telemetry::Settings::from_env(
        "inventory-service",
        config.log_format,
    ));
    let server = Server::start(&config).await?;
    let served = server.run_until(support::shutdown::signal()).await;
    telemetry.shutdown().await;
    served?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
