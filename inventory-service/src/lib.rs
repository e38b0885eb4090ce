//! # inventory-service
//!
//! Owns products and their stock. Other services (order-service, `grpcurl`)
//! talk to it over gRPC on port 9091; the original REST listing stays on 8081.
//!
//! ```text
//!  gRPC :9091 ─► auth::RequireToken ─► grpc::Inventory ─┐
//!  (reflection, health: open)                           │
//!  REST :8081 ─► http::router ──────────────────────────┤
//!                                                       ▼
//!  products, reservations, stock_events ◄── store::Store (SQLite/PG)
//!    │ (the log: appended by triggers, in each change's transaction)
//!    ▼
//!  relay (woken on commit, NOTIFY) ──► watch::StockWatch ──► WatchStock streams
//! ```
//!
//! - `domain` holds validated request types; the transports parse into them.
//! - `auth` guards every RPC but the reads with a shared token, when one is
//!   configured: a tower layer around the whole gRPC service, applied once in
//!   [`Server::start`] and keyed by method, deny by default. A method is open
//!   only if [`READ_METHODS`] lists it, so a new RPC needs the token without
//!   anyone remembering to check it (the check in each handler it replaces
//!   could be forgotten, and a new RPC that forgot it was open).
//! - `store` has all SQL. Its comments explain why stock can never go below
//!   zero and why a reservation key is applied at most once, including in a
//!   `ReserveStockBatch` (`store::batch`: many reservations, one transaction).
//! - `watch` serves `WatchStock` from the stock log: every change exactly
//!   once and in order, whichever replica on the same database made it.
//! - [`Server::start`] binds both listeners and returns their addresses, so
//!   tests run the real service on free ports; `main.rs` only reads the
//!   configuration and waits for a signal.
//!
//! The crate exports only what runs the service: [`Config`] (with its
//! [`Command`]), [`Server`], [`migrations`] and [`healthcheck`], and the
//! list of methods open without the token, [`READ_METHODS`] (part of the
//! service's contract; the tests hold it to what reflection describes).
//! Everything else is private, so the compiler can tell when code is no
//! longer used.

mod auth;
mod config;
mod domain;
mod error;
mod grpc;
mod http;
mod metrics;
mod retention;
mod store;
mod watch;

use std::net::SocketAddr;

use anyhow::Context;
use proto::inventory_service_server::InventoryServiceServer;
use support::db::{Db, Migrations};
use support::event_log;
use support::service::{self, Listeners, Running};
use tower::ServiceBuilder;

pub use auth::READ_METHODS;
pub use config::{Command, Config};

/// The embedded migrations for both backends.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// Asks the gRPC health service on `127.0.0.1:port` whether it is serving
/// (it follows readiness: the database answers and takes writes, and the
/// service is not stopping); prints the answer and returns the process
/// exit code.
pub async fn healthcheck(port: u16) -> std::process::ExitCode {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    service::healthcheck(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
            .connect()
            .await?;
        let request = HealthCheckRequest {
            service: String::new(),
        };
        let status = HealthClient::new(channel)
            .check(request)
            .await?
            .into_inner()
            .status();
        Ok((
            status == ServingStatus::Serving,
            status.as_str_name().to_owned(),
        ))
    })
    .await
}

/// A running inventory-service.
pub struct Server {
    /// Where REST listens.
    pub http_addr: SocketAddr,
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    running: Running,
}

impl Server {
    /// Opens the database, binds both ports and starts serving.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url, &migrations())
            .await
            .context("opening the inventory database")?;
        let Listeners {
            http: http_listener,
            grpc: grpc_listener,
        } = service::bind(config.bind_addr, config.http_port, config.grpc_port).await?;
        let http_addr = http_listener.local_addr()?;
        let grpc_addr = grpc_listener.local_addr()?;

        let mut running = Running::new(db.clone(), config.shutdown.clone());
        let shutdown = running.shutdown();
        let auth = auth::Auth::new(config.inventory_token.as_deref());
        let token_required = auth.is_required();

        // The stock log's relay: woken by this process's commits and, on
        // PostgreSQL, by every replica's (LISTEN in place before we serve).
        let committed = event_log::wake_on_commit(&db, store::EVENT_LOG, &shutdown)
            .await
            .context("listening for stock events")?;
        let store = store::Store::new(db.clone(), committed.clone());
        let metrics = metrics::Metrics::new(&db, store.clone());
        let watchers = support::budget::Budget::new(
            config.max_watch_streams,
            config.max_watch_streams_per_client,
        );
        let watch = watch::StockWatch::new(store.clone(), watchers);
        running.spawn_background(watch.relay(committed, shutdown.clone()).await?);
        running.spawn_background(event_log::prune_forever(
            db.clone(),
            store::EVENT_LOG,
            config.events.clone(),
            shutdown.clone(),
        ));
        let inventory =
            grpc::Inventory::new(store.clone(), watch, shutdown.clone(), metrics.clone());
        // The one place the token is required: around the whole service,
        // keyed by method (see `auth`). Health and reflection, beside it
        // on the port, stay open.
        let inventory = ServiceBuilder::new()
            .layer(auth::RequireToken::new(auth))
            .service(InventoryServiceServer::new(inventory));

        // Every connection is a descriptor: the caps must fit the limit.
        let [max_http, max_grpc] = service::fit_to_open_files([
            config.http.max_http_connections,
            config.grpc.max_grpc_connections,
        ]);
        let grpc = support::grpc::GrpcLimits {
            max_grpc_connections: max_grpc,
            ..config.grpc.clone()
        };

        support::grpc::spawn(
            &mut running,
            grpc_listener,
            inventory,
            proto::INVENTORY_DESCRIPTOR_SET,
            (&config.http, &grpc, config.access),
            metrics.shared(),
        )
        .await?;
        if let Some(retention) = config.reservation_retention() {
            running.spawn_background(retention::run(store.clone(), retention, shutdown.clone()));
        }
        let stop = running.stopping();
        let actuator = support::actuator::Actuator::new(
            db.clone(),
            running.readiness(),
            support::actuator::Info::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
                db.system(),
            ),
            Vec::new(),
        );
        let app = config
            .access
            .http(http::router(store, actuator, metrics.shared().clone()));
        let limits = support::http::HttpLimits {
            max_http_connections: max_http,
            ..config.http.clone()
        };
        running.spawn(async move {
            let socket = support::http::SocketOptions::default();
            support::http::serve(http_listener, app, limits, socket, stop)
                .await
                .context("HTTP server")
        });

        if !token_required {
            // Alone (the launcher always sets a token), on every interface by
            // default: anyone who can connect could set stock to 0.
            tracing::warn!(
                %grpc_addr,
                open = auth::GUARDED_RPCS,
                "INVENTORY_TOKEN is not set: anyone who can reach the gRPC port can call \
                 the RPCs that change stock and reservations"
            );
        }
        tracing::info!(
            %http_addr,
            %grpc_addr,
            database = db.kind(),
            token_required,
            "ready"
        );
        Ok(Self {
            http_addr,
            grpc_addr,
            running,
        })
    }

    /// Begins stopping without waiting (readiness down, serving on): see
    /// `support::service::Running::drain`.
    pub fn drain(&mut self) {
        self.running.drain();
    }

    /// Drains for `SHUTDOWN_DELAY_MS`, stops accepting, lets in-flight
    /// requests finish (up to `SHUTDOWN_TIMEOUT_MS`), then closes the
    /// database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.stop().await
    }

    /// Serves until `signal` resolves or a server fails, then stops gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        self.running.run_until(signal).await
    }
}
