//! Configuration from environment variables and the equivalent CLI flags
//! (flags win), with the defaults the original system used (ports, paths).

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::Parser;
pub(crate) use support::telemetry::LogFormat;

/// order-service settings.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "order-service",
    version,
    about = "Orders: REST + STOMP on 8080, gRPC on 9090"
)]
pub struct Config {
    /// `sqlite://path` (created if missing) or `postgres://user:pass@host/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/orders.db")]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    pub bind_addr: IpAddr,
    /// REST, WebSocket and page port (0 picks a free one).
    #[arg(long, env = "HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,
    /// gRPC port (0 picks a free one).
    #[arg(long, env = "GRPC_PORT", default_value_t = 9090)]
    pub grpc_port: u16,
    /// inventory-service's gRPC address.
    #[arg(long, env = "INVENTORY_URL", default_value = "http://127.0.0.1:9091")]
    pub inventory_url: String,
    /// The shared secret inventory's mutating RPCs require (sent as
    /// `authorization: Bearer <token>`); unset or empty: none sent.
    #[arg(long, env = "INVENTORY_TOKEN", hide_env_values = true)]
    pub inventory_token: Option<String>,
    /// Browser origins allowed besides the page's own, comma-separated
    /// (exact origins, or patterns such as `https://*.example.com`,
    /// `http://localhost:[*]`, `https://*.example.com:[8443,9443]`, `*`).
    /// Split by `origins`, not here: a comma between brackets separates
    /// ports, not entries. The flag may be given more than once.
    #[arg(
        long,
        env = "ALLOWED_ORIGINS",
        default_value = "http://localhost:4200,http://localhost"
    )]
    pub allowed_origins: Vec<String>,
    /// Directory of the single-page frontend served at `/`.
    #[arg(long, env = "FRONTEND_DIR", default_value = "./frontend")]
    pub frontend_dir: PathBuf,
    /// How long an order waits for inventory's answer before it is rejected
    /// as "Inventory unavailable" (503), in milliseconds.
    #[arg(long, env = "RESERVE_TIMEOUT_MS", default_value_t = 1500)]
    pub reserve_timeout_ms: u64,
    /// How often unsettled orders (abandoned pending orders, stock still to
    /// release) are retried, in milliseconds.
    #[arg(long, env = "RECONCILE_INTERVAL_MS", default_value_t = 1000)]
    pub reconcile_interval_ms: u64,
    /// Whether the service reconciles by itself (a round at start, then
    /// every `reconcile_interval_ms`). Not a setting (no flag, no variable):
    /// only in-process tests that drive every round through
    /// [`crate::Server::reconcile_once`] turn it off, so that no round of
    /// the service's own, delayed past their setup on a loaded machine,
    /// races theirs.
    #[arg(skip = true)]
    pub background_reconciler: bool,
    /// How long a write to a live-event client (WebSocket, SockJS) may wait
    /// for it to read before the client is dropped, in milliseconds (Spring's
    /// default send time limit).
    #[arg(long, env = "SEND_TIMEOUT_MS", default_value_t = 10_000)]
    pub send_timeout_ms: u64,
    /// Bytes of frames queued per live-event client (every transport; a
    /// SockJS client's between two polls): a client whose queue would pass
    /// it is not reading and is dropped at once. 64 KiB holds ~200 order
    /// events, more than a reading client ever falls behind by, and bounds
    /// what a stalled client costs whatever the time.
    #[arg(long, env = "LIVE_SEND_BUFFER_BYTES", default_value_t = 64 * 1024)]
    pub live_send_buffer_bytes: usize,
    /// Live-event clients (STOMP over WebSocket or SockJS, CONNECTed) at
    /// most; beyond it a new client is refused.
    #[arg(long, env = "MAX_LIVE_CONNECTIONS", default_value_t = 16_384)]
    pub max_live_connections: usize,
    /// Live-event connections that have not sent STOMP CONNECT yet, at
    /// most: their own budget, so they cannot take a CONNECTed client's seat.
    #[arg(long, env = "MAX_LIVE_HANDSHAKES", default_value_t = 1024)]
    pub max_live_handshakes: usize,
    /// Live-event clients one address may have CONNECTed (behind a trusted
    /// proxy, the address it names): many people behind one NAT fit, and
    /// one address cannot take everyone's seats.
    #[arg(long, env = "MAX_LIVE_CONNECTIONS_PER_CLIENT", default_value_t = 1024)]
    pub max_live_connections_per_client: usize,
    /// Live-event connections without CONNECT one address may hold: a page
    /// needs one at a time, SockJS's fallbacks a few.
    #[arg(long, env = "MAX_LIVE_HANDSHAKES_PER_CLIENT", default_value_t = 64)]
    pub max_live_handshakes_per_client: usize,
    /// `pretty` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "pretty")]
    pub log_format: LogFormat,
    /// Timeouts and the connection caps of the HTTP port (the timeouts and
    /// `TRUSTED_PROXIES` apply to the gRPC port too).
    #[command(flatten)]
    pub http: support::http::HttpLimits,
    /// Connection and stream caps of the gRPC port.
    #[command(flatten)]
    pub grpc: support::grpc::GrpcLimits,
    /// `ACCESS_LOG`: a line per HTTP request and gRPC call.
    #[command(flatten)]
    pub access: support::access_log::AccessLog,
    /// How much of the order log is kept for clients that resume.
    #[command(flatten)]
    pub events: support::event_log::Retention,
    /// Test builds only: a crash to inject. `abort-before-publish` aborts
    /// the process after an order event's commit, before its publication.
    #[cfg(debug_assertions)]
    #[arg(long, env = "FAULT_POINT", hide = true)]
    pub fault_point: Option<String>,
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
    /// Exits 0 when `GET /actuator/health/readiness` on HTTP_PORT answers
    /// 200 (a container health check that needs no tools in the image).
    Healthcheck,
}

impl Config {
    /// Defaults for an in-process test: loopback, free ports, the given
    /// database and inventory; nothing from the environment.
    pub fn for_tests(database_url: impl Into<String>, inventory_url: impl Into<String>) -> Self {
        let mut config: Self = support::config::defaults();
        config.database_url = database_url.into();
        config.inventory_url = inventory_url.into();
        config.bind_addr = IpAddr::from([127, 0, 0, 1]);
        config.http_port = 0;
        config.grpc_port = 0;
        config.frontend_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../frontend"));
        config
    }

    /// The reservation deadline.
    pub fn reserve_timeout(&self) -> Duration {
        Duration::from_millis(self.reserve_timeout_ms)
    }

    /// The live-event send timeout.
    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }

    /// The reconciler's period.
    pub fn reconcile_interval(&self) -> Duration {
        Duration::from_millis(self.reconcile_interval_ms)
    }

    /// Whether the test-only fault point before publishing is armed.
    pub(crate) fn abort_before_publish(&self) -> bool {
        #[cfg(debug_assertions)]
        return self.fault_point.as_deref() == Some("abort-before-publish");
        #[cfg(not(debug_assertions))]
        false
    }
}

#[cfg(test)]
mod tests;
