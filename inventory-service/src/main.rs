//! Reads the configuration, sets up logs and traces, serves until SIGINT/SIGTERM; or,
//! with `healthcheck`, checks a running instance.

use std::process::ExitCode;

use clap::Parser;
use inventory_service::{Command, Config, Server};

/// Returns freed memory to the system (see `support::allocator`).
#[global_allocator]
static ALLOCATOR: support::allocator::Allocator = support::allocator::Allocator;

fn main() -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    // Off the main thread, whose stack would keep start-up's deep frames
    // (see `support::service::start_up`).
    let started = support::service::start_up(&runtime, || async {
        let config = Config::parse();
        if let Some(Command::Healthcheck) = config.command {
            return Ok(Err(inventory_service::healthcheck(config.grpc_port).await));
        }
        let telemetry = support::telemetry::init(support::telemetry::Settings::from_env(
            "inventory-service",
            config.log_format,
        ));
        Ok(Ok((Server::start(&config).await?, telemetry)))
    })?;
    let (server, telemetry) = match started {
        Ok(started) => started,
        Err(checked) => return Ok(checked),
    };
    runtime.block_on(async {
        let served = server.run_until(support::shutdown::signal()).await;
        telemetry.shutdown().await;
        served?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}
