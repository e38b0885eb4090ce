//! Starts the whole backend in one process, for a local run with nothing to
//! install: inventory-service (gRPC 9091, REST 8081) and order-service (REST,
//! page and `/ws-orders` on 8080, gRPC 9090), each on its own SQLite file
//! under `./data/`, talking to each other over real gRPC on loopback.
//!
//! The services' own variables (`HTTP_PORT`, `DATABASE_URL`, …) would apply
//! to both at once here, so this launcher has prefixed ones instead. To run
//! a service alone, use its own binary (`cargo run -p inventory-service`).
//!
//! Safe by default, as it is what a first `cargo run` starts: it listens on
//! loopback only (`BIND_ADDR` opens it up), and inventory's write RPCs
//! always need a token: `INVENTORY_TOKEN`, or one made at random for this
//! run, which both services share and nothing prints.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use clap::Parser;

/// Settings of the combined launcher.
#[derive(Debug, Parser)]
#[command(
    name = "order-system",
    version,
    about = "inventory-service and order-service in one process"
)]
struct Args {
    /// Address both services listen on: loopback unless told otherwise
    /// (`0.0.0.0` for every interface).
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1")]
    bind_addr: IpAddr,
    /// The token inventory's write RPCs require (`authorization: Bearer
    /// <token>`), which order-service sends; unset or empty: a random one
    /// for this run, so those RPCs are never open to whoever can connect.
    #[arg(long, env = "INVENTORY_TOKEN", hide_env_values = true)]
    inventory_token: Option<String>,
    /// inventory-service's database.
    #[arg(
        long,
        env = "INVENTORY_DATABASE_URL",
        default_value = "sqlite://data/inventory.db"
    )]
    inventory_database_url: String,
    /// order-service's database.
    #[arg(
        long,
        env = "ORDER_DATABASE_URL",
        default_value = "sqlite://data/orders.db"
    )]
    order_database_url: String,
    /// `pretty` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "pretty")]
    log_format: support::telemetry::LogFormat,
    /// How both services stop (the services' own variables, applied to
    /// both; their delays run together, not one after the other).
    #[command(flatten)]
    shutdown: support::service::ShutdownSettings,
}

/// Returns freed memory to the system (see `support::allocator`).
#[global_allocator]
static ALLOCATOR: support::allocator::Allocator = support::allocator::Allocator;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    // Off the main thread, whose stack would keep start-up's deep frames
    // (see `support::service::start_up`).
    let (telemetry, mut inventory, mut orders) = support::service::start_up(&runtime, || async {
        let args = Args::parse();
        // One process, one exporter: its spans are all "order-system"'s.
        let telemetry = support::telemetry::init(support::telemetry::Settings::from_env(
            "order-system",
            args.log_format,
        ));
        support::service::raise_open_file_limit();

        if args.inventory_token.as_deref().is_none_or(str::is_empty) {
            tracing::info!(
                "INVENTORY_TOKEN is not set: inventory's write RPCs take a random token made for \
                 this run; set INVENTORY_TOKEN to call them yourself"
            );
        }
        let (mut inventory_config, mut order_config) = configs(args);
        // Each service fits its connection caps under the open-file limit, but
        // here they share one process, hence one limit: fit them together.
        [
            inventory_config.http.max_http_connections,
            inventory_config.grpc.max_grpc_connections,
            order_config.http.max_http_connections,
            order_config.grpc.max_grpc_connections,
            order_config.max_live_connections,
            order_config.max_live_handshakes,
        ] = support::service::fit_to_open_files([
            inventory_config.http.max_http_connections,
            inventory_config.grpc.max_grpc_connections,
            order_config.http.max_http_connections,
            order_config.grpc.max_grpc_connections,
            order_config.max_live_connections,
            order_config.max_live_handshakes,
        ]);

        let inventory = inventory_service::Server::start(&inventory_config).await?;
        order_config.inventory_url = format!("http://{}", reachable(inventory.grpc_addr));
        let orders = order_service::Server::start(&order_config).await?;
        Ok((telemetry, inventory, orders))
    })?;

    runtime.block_on(async {
        tracing::info!("open http://localhost:8080 — grpcurl -plaintext localhost:9091 list");
        support::shutdown::signal().await;
        // Both go down for readiness at once and share one delay; then
        // orders first: its in-flight requests may still need inventory.
        orders.drain();
        inventory.drain();
        let stopped_orders = orders.stop().await;
        let stopped_inventory = inventory.stop().await;
        telemetry.shutdown().await;
        stopped_orders?;
        stopped_inventory?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Both services' settings: their own defaults and variables, under the
/// launcher's address, databases, fixed ports and one shared token.
fn configs(args: Args) -> (inventory_service::Config, order_service::Config) {
    let token = shared_token(args.inventory_token);
    let mut inventory_config = inventory_service::Config::parse_from(["inventory-service"]);
    inventory_config.bind_addr = args.bind_addr;
    inventory_config.database_url = args.inventory_database_url;
    inventory_config.http_port = 8081;
    inventory_config.grpc_port = 9091;
    inventory_config.inventory_token = Some(token.clone());
    inventory_config.shutdown = args.shutdown.clone();
    let mut order_config = order_service::Config::parse_from(["order-service"]);
    order_config.bind_addr = args.bind_addr;
    order_config.database_url = args.order_database_url;
    order_config.http_port = 8080;
    order_config.grpc_port = 9090;
    order_config.inventory_token = Some(token);
    order_config.shutdown = args.shutdown;
    (inventory_config, order_config)
}

/// `configured` if set, else a fresh random token: a v4 UUID, 122 bits
/// from the operating system's CSPRNG (`getrandom`), beyond guessing over
/// the network.
fn shared_token(configured: Option<String>) -> String {
    configured
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Where order-service reaches inventory listening on `bound`: that
/// address, or loopback when it listens on every interface.
fn reachable(bound: SocketAddr) -> SocketAddr {
    let ip: IpAddr = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(ip) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

#[cfg(test)]
mod tests;
