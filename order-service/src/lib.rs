//! # order-service
//!
//! Takes orders over REST (and the original gRPC `CreateOrder`), reserves
//! their stock at inventory-service over gRPC, stores them, and pushes every
//! change to browsers as STOMP frames over WebSocket or SockJS at `/ws-orders`.
//!
//! ```text
//!  REST :8080 ── api ──┬─► flow (place, cancel, reconcile) ─┬─► store ──► SQLite / PostgreSQL
//!  gRPC :9090 ── grpc ─┘                                    │   (orders + order log, appended
//!               api reads ─────► store, inventory           │    by triggers in each commit)
//!                                                           └─► inventory ─► inventory-service
//!                                                                               │ WatchStock
//!  events: order events (relay woken on commit and by NOTIFY) ◄── store      ▼
//!          stock events (window) ◄───────────────────────────────────── stock_relay
//!                                │ publish (seq)      ▲ history (from-seq)
//!                                ▼                    │
//!  /ws-orders ── live (WebSocket, SockJS transports; STOMP sessions, broker)
//! ```
//!
//! Dependencies run one way: `api` and `grpc` call `flow` for writes, and
//! read from `store` and `inventory` directly; `flow` changes orders in
//! `store` (new orders in batches: recorded, reserved and settled a batch at
//! a time, see `flow::batches`), whose database logs each change in the same transaction; the
//! store then wakes the relay in `events`, which publishes the log in order
//! through `live`'s `Publish` trait; `live`'s broker implements it and
//! serves resuming subscriptions from `events`' sources (`live::History`),
//! and `live`'s transports carry the sessions (see `ws_orders`). `flow`'s
//! module comment explains why no stock is ever lost or invented;
//! `support::event_log` why no event is. Errors by layer: `flow` and
//! `store` return `error::Error` (no transport in it); `api::error` adds
//! HTTP's own cases and maps both to a status and JSON, `grpc` maps it to a
//! status code; `api::schema` holds the wire types and their OpenAPI
//! schemas, so `domain` carries none.
//! [`Server::start`] wires the parts, binds every port and returns the
//! addresses, so tests run the real service on free ports; `main.rs` only
//! reads the configuration.

mod api;
mod config;
mod domain;
mod error;
mod events;
mod flow;
mod grpc;
mod inventory;
mod metrics;
mod stock_relay;
mod store;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use proto::order_service_server::OrderServiceServer;
use support::db::{Db, Migrations};
use support::event_log;
use support::service::{self, Listeners, Running};
use tokio_util::sync::CancellationToken;

pub use config::{Command, Config};
pub use flow::Round;

/// Kernel send buffer per HTTP/WebSocket connection. Left alone, Linux
/// grows it up to 4 MiB, so a browser that stops reading could sit on
/// ~15,000 queued events (and that much kernel memory) before the send
/// timeout notices; 64 KiB is ample for REST answers and event bursts.
const SOCKET_SEND_BUFFER: usize = 64 * 1024;

/// The embedded migrations for both backends.
pub fn migrations() -> Migrations {
    Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    }
}

/// Asks `GET /actuator/health/readiness` on `127.0.0.1:port` (plain
/// HTTP/1.0 over TCP, so the image needs no HTTP client); prints the
/// status line and returns the process exit code: 0 for a 200, when the
/// database answers and takes writes and the service is not stopping.
pub async fn healthcheck(port: u16) -> std::process::ExitCode {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    service::healthcheck(async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /actuator/health/readiness HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).await?;
        let status = String::from_utf8_lossy(&head[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok((status.split_whitespace().nth(1) == Some("200"), status))
    })
    .await
}

/// A running order-service.
pub struct Server {
    /// Where REST, the page and `/ws-orders` listen.
    pub http_addr: SocketAddr,
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    flow: flow::Flow,
    running: Running,
}

impl Server {
    /// Opens the database, binds both ports, starts serving, the
    /// reconciler and the stock relay.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let origins =
            live::AllowedOrigins::new(&config.allowed_origins).context("ALLOWED_ORIGINS")?;
        tracing::info!(allowed = %origins, "browser origins (CORS, WebSocket, SockJS)");
        let db = Db::connect(&config.database_url, &migrations())
            .await
            .context("opening the orders database")?;
        let Listeners {
            http: http_listener,
            grpc: grpc_listener,
        } = service::bind(config.bind_addr, config.http_port, config.grpc_port).await?;
        let http_addr = http_listener.local_addr()?;
        let grpc_addr = grpc_listener.local_addr()?;

        let mut running = Running::new(db.clone(), config.shutdown.clone());
        let shutdown = running.shutdown();
        let metrics = metrics::Metrics::new(&db);

        let inventory = inventory::Inventory::new(
            &config.inventory_url,
            config.reserve_timeout(),
            metrics.clone(),
            config.inventory_token.as_deref(),
        )
        .context("INVENTORY_URL or INVENTORY_TOKEN")?;
        // The order log's relay: woken by this process's commits and, on
        // PostgreSQL, by every replica's (LISTEN in place before we serve).
        let committed = event_log::wake_on_commit(&db, store::EVENT_LOG, &shutdown)
            .await
            .context("listening for order events")?;
        let store = store::Store::new(db.clone(), committed.clone());
        let hub = live::Broker::default();
        let sink: Arc<dyn live::Publish> = Arc::new(hub.clone());
        let orders = events::OrderEvents::new(store.clone());
        let products = events::StockEvents::new(sink.clone());
        let relay = orders
            .relay(
                sink,
                committed,
                config.abort_before_publish(),
                shutdown.clone(),
            )
            .await
            .context("reading the order log")?;
        let broker = hub.with_history(Arc::new(events::EventSources {
            orders,
            stock: products.clone(),
        }));
        let flow = flow::Flow::new(
            (store.clone(), inventory.clone(), metrics.clone()),
            config.reserve_timeout(),
            running.tracker(),
        );

        // Every connection is a descriptor: the caps must fit the limit.
        let [max_http, max_grpc, max_live, max_handshakes] = service::fit_to_open_files([
            config.http.max_http_connections,
            config.grpc.max_grpc_connections,
            config.max_live_connections,
            config.max_live_handshakes,
        ]);
        let grpc = support::grpc::GrpcLimits {
            max_grpc_connections: max_grpc,
            ..config.grpc.clone()
        };
        support::grpc::spawn(
            &mut running,
            grpc_listener,
            OrderServiceServer::new(grpc::Orders::new(flow.clone())),
            proto::ORDER_DESCRIPTOR_SET,
            (&config.http, &grpc, config.access),
            metrics.shared(),
        )
        .await?;

        let live = ws_orders(
            broker,
            origins.clone(),
            metrics.clone(),
            config,
            (max_live, max_handshakes),
            shutdown.clone(),
        );
        let actuator = support::actuator::Actuator::new(
            db.clone(),
            running.readiness(),
            support::actuator::Info::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
                db.system(),
            ),
            vec![(
                "inventory",
                api::inventory_component(inventory.clone(), &config.inventory_url),
            )],
        );
        let state = api::AppState {
            flow: flow.clone(),
            orders: store,
            inventory: inventory.clone(),
            products: products.clone(),
            metrics,
            actuator,
        };
        // Spring's fields on every JSON error (the live transport's too);
        // the access log outside them all, so it counts what is sent.
        let app = config.access.http(
            api::router(state, origins, &config.frontend_dir)
                .merge(live)
                .layer(axum::middleware::from_fn(support::error_body::complete)),
        );
        let limits = support::http::HttpLimits {
            max_http_connections: max_http,
            ..config.http.clone()
        };
        let stop = running.stopping();
        running.spawn(async move {
            let socket = support::http::SocketOptions {
                send_buffer: Some(SOCKET_SEND_BUFFER),
            };
            support::http::serve(http_listener, app, limits, socket, stop)
                .await
                .context("HTTP server")
        });

        // Background work: never fails the server; each logs its own trouble.
        if config.background_reconciler {
            running.spawn_background(
                flow.clone()
                    .reconcile_forever(config.reconcile_interval(), shutdown.clone()),
            );
        }
        running.spawn_background(relay);
        running.spawn_background(stock_relay::run(inventory, products, shutdown.clone()));
        running.spawn_background(event_log::prune_forever(
            db.clone(),
            store::EVENT_LOG,
            config.events.clone(),
            shutdown.clone(),
        ));

        tracing::info!(%http_addr, %grpc_addr, database = db.kind(), inventory = %support::actuator::without_credentials(&config.inventory_url), "ready");
        Ok(Self {
            http_addr,
            grpc_addr,
            flow,
            running,
        })
    }

    /// Runs one reconciliation round now, for tests that drive it directly
    /// instead of waiting for the background reconciler.
    pub async fn reconcile_once(&self) -> anyhow::Result<Round> {
        Ok(self.flow.reconcile_once().await?)
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

/// `/ws-orders`: every transport's connections run a STOMP session on `broker`.
fn ws_orders(
    broker: live::Broker,
    origins: live::AllowedOrigins,
    metrics: metrics::Metrics,
    config: &Config,
    (max_connections, max_handshakes): (usize, usize),
    shutdown: CancellationToken,
) -> axum::Router {
    let send_timeout = config.send_timeout();
    let transport = live::TransportConfig {
        allowed_origins: origins,
        send_timeout,
        send_buffer_bytes: config.live_send_buffer_bytes,
        max_connections,
        max_handshakes,
        max_connections_per_client: config.max_live_connections_per_client,
        max_handshakes_per_client: config.max_live_handshakes_per_client,
        ..Default::default()
    };
    let stomp_config = live::StompConfig {
        send_timeout,
        server: concat!("order-service/", env!("CARGO_PKG_VERSION")).to_owned(),
        ..Default::default()
    };
    let handler: live::Handler = Arc::new(move |connection| {
        let broker = broker.clone();
        let metrics = metrics.clone();
        let stomp_config = stomp_config.clone();
        Box::pin(async move {
            let _open = metrics.open_connection();
            live::serve(connection, broker, stomp_config).await;
        })
    });
    live::router("/ws-orders", transport, handler, shutdown)
}
