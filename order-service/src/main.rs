//! Reads the configuration, sets up logs, serves until SIGINT/SIGTERM.

use clap::Parser;
use order_service::{Config, Server, config::LogFormat};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    support::telemetry::init(config.log_format == LogFormat::Json);
    let server = Server::start(&config).await?;
    server.run_until(support::shutdown::signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
