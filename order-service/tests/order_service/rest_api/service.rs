//! Around the orders: CORS, health, metrics and the page, and gRPC's
//! CreateOrder on the same flow.

use serde_json::json;
use support::testing::Backend;

use crate::common::TestSystem;

async fn cors_allows_configured_origins_only(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    let preflight = |origin: &'static str| {
        sys.http
            .request(reqwest::Method::OPTIONS, sys.url("/orders"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,idempotency-key",
            )
            .send()
    };
    for origin in ["http://localhost:4200", "http://localhost"] {
        let r = preflight(origin).await.unwrap();
        assert_eq!(r.headers()["access-control-allow-origin"], origin);
        let methods = r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(methods.contains("POST"), "{methods}");
        let headers = r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(headers.contains("idempotency-key"), "{headers}");
    }
    let evil = preflight("http://evil.example").await.unwrap();
    assert!(
        !evil
            .headers()
            .keys()
            .any(|k| k.as_str().starts_with("access-control-")),
        "{:?}",
        evil.headers()
    );
    let same = sys
        .http
        .get(sys.url("/orders"))
        .header("Origin", sys.base_url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        same.headers()["access-control-allow-origin"],
        sys.base_url.as_str()
    );
    sys.stop().await;
}

async fn health_metrics_and_the_page(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    sys.order("Laptop", 1).await;
    let (status, health) = sys.get_json("/health").await;
    assert_eq!(status, 200);
    assert_eq!(
        health,
        json!({"status": "UP", "database": "UP", "inventory": "UP"})
    );
    let (status, _) = sys.get_json("/health/ready").await;
    assert_eq!(status, 200);
    let metrics = sys.get_text("/metrics").await;
    for needle in [
        r#"http_server_requests_total{method="POST",route="/orders",status="200"} 1"#,
        r#"order_service_orders_total{status="CREATED",reason="none"} 1"#,
        r#"grpc_client_handled_total{grpc_service="InventoryService",grpc_method="ReserveStockBatch",grpc_code="OK"} 1"#,
        r#"order_service_batch_size_count{stage="reserve"} 1"#,
        r#"order_service_batch_size_sum{stage="record"} 1.0"#,
        "http_server_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }
    sys.stop().await;
}

async fn grpc_create_order_shares_the_flow(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    let addr = sys.orders.as_ref().unwrap().grpc_addr;
    let mut client =
        proto::order_service_client::OrderServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
    let created = client
        .create_order(proto::OrderRequest {
            product: "Laptop".into(),
            quantity: 3,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.status, "CREATED");
    let rejected = client
        .create_order(proto::OrderRequest {
            product: "Laptop".into(),
            quantity: 8,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (rejected.status.as_str(), rejected.reason.as_str()),
        ("REJECTED", "Insufficient stock")
    );
    let invalid = client
        .create_order(proto::OrderRequest {
            product: String::new(),
            quantity: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);
    let (_, order) = sys.get_json(&format!("/orders/{}", created.id)).await;
    assert_eq!(order["status"], "CREATED");
    assert_eq!(sys.stock().await["Laptop"], 7);
    sys.stop().await;
}

support::both_backends!(
    cors_allows_configured_origins_only,
    health_metrics_and_the_page,
    grpc_create_order_shares_the_flow,
);
