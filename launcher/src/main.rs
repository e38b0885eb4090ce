//! Starts the whole backend in one process, for a local run with nothing to
//! install: inventory-service (gRPC 9091, REST 8081) and order-service (REST,
//! page and `/ws-orders` on 8080, gRPC 9090), each on its own SQLite file
//! under `./data/`, talking to each other over real gRPC on loopback.
//!
//! The services' own variables (`HTTP_PORT`, `DATABASE_URL`, …) would apply
//! to both at once here, so this launcher has prefixed ones instead. To run
//! a service alone, use its own binary (`cargo run -p inventory-service`).

use std::net::IpAddr;

use clap::Parser;

/// Settings of the combined launcher.
#[derive(Debug, Parser)]
#[command(
    name = "order-system",
    version,
    about = "inventory-service and order-service in one process"
)]
struct Args {
    /// Address both services listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    bind_addr: IpAddr,
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
}

/// Returns freed memory to the system (see `support::allocator`).
#[global_allocator]
static ALLOCATOR: support::allocator::Allocator = support::allocator::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One process, one exporter: its spans are all "order-system"'s.
    let telemetry = support::telemetry::init(support::telemetry::Settings::from_env(
        "order-system",
        args.log_format,
    ));
    support::service::raise_open_file_limit();

    let mut inventory_config = inventory_service::Config::parse_from(["inventory-service"]);
    inventory_config.bind_addr = args.bind_addr;
    inventory_config.database_url = args.inventory_database_url;
    inventory_config.http_port = 8081;
    inventory_config.grpc_port = 9091;
    let mut order_config = order_service::Config::parse_from(["order-service"]);
    order_config.bind_addr = args.bind_addr;
    order_config.database_url = args.order_database_url;
    order_config.http_port = 8080;
    order_config.grpc_port = 9090;
    // Each service fits its connection caps under the open-file limit, but
    // here they share one process, hence one limit: fit them together.
    [
        inventory_config.http.max_http_connections,
        order_config.http.max_http_connections,
        order_config.max_live_connections,
        order_config.max_live_handshakes,
    ] = support::service::fit_to_open_files([
        inventory_config.http.max_http_connections,
        order_config.http.max_http_connections,
        order_config.max_live_connections,
        order_config.max_live_handshakes,
    ]);

    let inventory = inventory_service::Server::start(&inventory_config).await?;
    order_config.inventory_url = format!("http://127.0.0.1:{}", inventory.grpc_addr.port());
    let orders = order_service::Server::start(&order_config).await?;

    tracing::info!("open http://localhost:8080 — grpcurl -plaintext localhost:9091 list");
    support::shutdown::signal().await;
    // Orders first: its in-flight requests may still need inventory.
    let stopped_orders = orders.stop().await;
    let stopped_inventory = inventory.stop().await;
    telemetry.shutdown().await;
    stopped_orders?;
    stopped_inventory?;
    tracing::info!("stopped");
    Ok(())
}
