//! Configuration from environment variables and the equivalent CLI flags
//! (flags win), with the defaults the original system used (ports, paths).

use std::net::IpAddr;

use clap::Parser;
use support::telemetry::LogFormat;

/// inventory-service settings.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "inventory-service",
    version,
    about = "Products and stock: gRPC on 9091, REST on 8081"
)]
pub struct Config {
    /// `sqlite://path` (created if missing) or `postgres://user:pass@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/inventory.db"
    )]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    pub bind_addr: IpAddr,
    /// REST port (0 picks a free one).
    #[arg(long, env = "HTTP_PORT", default_value_t = 8081)]
    pub http_port: u16,
    /// gRPC port (0 picks a free one).
    #[arg(long, env = "GRPC_PORT", default_value_t = 9091)]
    pub grpc_port: u16,
    /// `pretty` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "pretty")]
    pub log_format: LogFormat,
    /// Hours a settled reservation (released, or refused for stock) is kept
    /// to answer retries of its key before it is pruned; 0 keeps them
    /// forever. Held reservations are never pruned.
    #[arg(long, env = "RESERVATION_RETENTION_HOURS", default_value_t = 168)]
    pub reservation_retention_hours: u64,
    /// Shared token for the RPCs that change stock (UpdateStock,
    /// ReserveStock, ReserveStockBatch, ReleaseStock, Restock): when set, they need gRPC
    /// metadata `authorization: Bearer <token>`. Reads, health and
    /// reflection stay open. Unset or empty: no token needed.
    #[arg(long, env = "INVENTORY_TOKEN", hide_env_values = true)]
    pub inventory_token: Option<String>,
    /// Timeouts and the connection caps of the REST port (the timeouts
    /// and `TRUSTED_PROXIES` apply to the gRPC port too).
    #[command(flatten)]
    pub http: support::http::HttpLimits,
    /// Connection and stream caps of the gRPC port.
    #[command(flatten)]
    pub grpc: support::grpc::GrpcLimits,
    /// `ACCESS_LOG`: a line per HTTP request and gRPC call.
    #[command(flatten)]
    pub access: support::access_log::AccessLog,
    /// `WatchStock` streams open at once, from all clients: each holds a
    /// task and a queue (~17 KiB; 10,000 of them cost 170 MB and slowed
    /// every reservation). order-service opens one per replica.
    #[arg(long, env = "MAX_WATCH_STREAMS", default_value_t = 1024)]
    pub max_watch_streams: usize,
    /// `WatchStock` streams one client address may hold.
    #[arg(long, env = "MAX_WATCH_STREAMS_PER_CLIENT", default_value_t = 64)]
    pub max_watch_streams_per_client: usize,
    /// How much of the stock log is kept for watchers that resume.
    #[command(flatten)]
    pub events: support::event_log::Retention,
    /// How it stops on SIGTERM: the pre-stop delay and the drain timeout.
    #[command(flatten)]
    pub shutdown: support::service::ShutdownSettings,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands besides serving.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Exits 0 when the service on GRPC_PORT reports SERVING through the
    /// standard gRPC health service (a container health check that needs no
    /// tools in the image).
    Healthcheck,
}

impl Config {
    /// How long settled reservations are kept; `None` is forever.
    pub(crate) fn reservation_retention(&self) -> Option<std::time::Duration> {
        (self.reservation_retention_hours > 0).then(|| {
            std::time::Duration::from_secs(self.reservation_retention_hours.saturating_mul(3600))
        })
    }

    /// Defaults for an in-process test: loopback, free ports, the given
    /// database; nothing from the environment.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        let mut config: Self = support::config::defaults();
        config.database_url = database_url.into();
        config.bind_addr = IpAddr::from([127, 0, 0, 1]);
        config.http_port = 0;
        config.grpc_port = 0;
        config
    }
}

#[cfg(test)]
mod tests;
