//! The launcher's defaults, with the real services started from them:
//! loopback only, and inventory's write RPCs closed by a token that
//! order-service has and nobody else does.

use proto::{
    OrderRequest, UpdateStockRequest, inventory_service_client::InventoryServiceClient,
    order_service_client::OrderServiceClient,
};
use tonic::Code;

use super::*;

/// The launcher's settings with nothing set (the environment ignored).
fn defaults() -> Args {
    support::config::defaults()
}

#[test]
fn listens_on_loopback_unless_told_otherwise() {
    let args = defaults();
    assert_eq!(args.bind_addr, IpAddr::from(Ipv4Addr::LOCALHOST));
    let (inventory, orders) = configs(args);
    assert!(inventory.bind_addr.is_loopback() && orders.bind_addr.is_loopback());
    let open = Args::try_parse_from(["order-system", "--bind-addr", "0.0.0.0"]).unwrap();
    assert!(open.bind_addr.is_unspecified());
}

#[test]
fn both_services_share_a_token_made_for_the_run_unless_one_is_set() {
    let (inventory, orders) = configs(defaults());
    let token = inventory.inventory_token.clone().expect("a token");
    assert_eq!(token.len(), 32, "{} hex digits", token.len());
    assert_eq!(orders.inventory_token.as_ref(), Some(&token));
    let (again, _) = configs(defaults());
    assert_ne!(again.inventory_token, Some(token), "a new one per run");
    // Empty is how deployments unset a variable: a token is made then too.
    assert_eq!(shared_token(Some(String::new())).len(), 32);
    assert_eq!(shared_token(Some("mine".into())), "mine");
    let (inventory, orders) = configs(Args {
        inventory_token: Some("mine".into()),
        ..defaults()
    });
    assert_eq!(inventory.inventory_token.as_deref(), Some("mine"));
    assert_eq!(orders.inventory_token.as_deref(), Some("mine"));
}

#[test]
fn order_service_reaches_inventory_where_it_listens() {
    let reach = |bound: &str| reachable(bound.parse().unwrap()).to_string();
    assert_eq!(reach("0.0.0.0:9091"), "127.0.0.1:9091");
    assert_eq!(reach("[::]:9091"), "[::1]:9091");
    assert_eq!(reach("127.0.0.1:9091"), "127.0.0.1:9091");
    assert_eq!(reach("192.0.2.7:9091"), "192.0.2.7:9091");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_rpcs_need_the_token_and_order_service_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let (mut inventory_config, mut order_config) = configs(Args {
        inventory_database_url: sqlite("inventory.db"),
        order_database_url: sqlite("orders.db"),
        ..defaults()
    });
    // Free ports: the launcher's fixed ones may be taken where tests run.
    (inventory_config.http_port, inventory_config.grpc_port) = (0, 0);
    (order_config.http_port, order_config.grpc_port) = (0, 0);
    let inventory = inventory_service::Server::start(&inventory_config)
        .await
        .unwrap();
    assert!(inventory.grpc_addr.ip().is_loopback());
    order_config.inventory_url = format!("http://{}", reachable(inventory.grpc_addr));
    let orders = order_service::Server::start(&order_config).await.unwrap();
    assert!(orders.http_addr.ip().is_loopback());

    // Anyone who can connect cannot set stock to 0.
    let mut client = InventoryServiceClient::connect(format!("http://{}", inventory.grpc_addr))
        .await
        .unwrap();
    let refused = client
        .update_stock(UpdateStockRequest {
            product: "Laptop".into(),
            quantity: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");
    // order-service has the token: its reservation goes through.
    let mut orders_client = OrderServiceClient::connect(format!("http://{}", orders.grpc_addr))
        .await
        .unwrap();
    let placed = orders_client
        .create_order(OrderRequest {
            product: "Laptop".into(),
            quantity: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(placed.status, "CREATED", "{placed:?}");

    orders.stop().await.unwrap();
    inventory.stop().await.unwrap();
}
