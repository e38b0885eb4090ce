//! The REST API as a client of the original sees it, over real HTTP, with
//! a real inventory-service behind it, on SQLite and PostgreSQL.

// Test helpers unwrap: a panic is a failed test with its backtrace.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestSystem;
use serde_json::{Value, json};
use support::testing::Backend;

async fn create_reserves_stock(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    let order = sys.order("Laptop", 2).await;
    assert_eq!(order["status"], "CREATED");
    assert_eq!(order["product"], "Laptop");
    assert_eq!(order["quantity"], 2);
    assert!(order["id"].as_i64().unwrap() > 0);
    assert!(order.get("reason").is_none());
    assert!(order["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(sys.stock().await["Laptop"], 8);
    let (_, products) = sys.get_json("/products").await;
    assert!(
        products
            .as_array()
            .unwrap()
            .contains(&json!({"id": 1, "name": "Laptop", "stockQuantity": 8}))
    );
    let (status, fetched) = sys.get_json(&format!("/orders/{}", order["id"])).await;
    assert_eq!((status, &fetched), (200, &order));
    sys.stop().await;
}

async fn rejections_carry_a_reason_and_hold_nothing(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    let short = sys.order("Monitor", 9).await;
    assert_eq!(short["status"], "REJECTED");
    assert_eq!(short["reason"], "Insufficient stock");
    let unknown = sys.order("Toaster", 1).await;
    assert_eq!(unknown["status"], "REJECTED");
    assert_eq!(unknown["reason"], "Unknown product");
    assert_eq!(sys.stock().await["Monitor"], 8);
    sys.assert_invariant().await;
    sys.stop().await;
}

async fn cancel_releases_stock_once(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    let order = sys.order("Phone", 5).await;
    assert_eq!(sys.stock().await["Phone"], 15);
    let cancel = |id: Value| {
        let url = sys.url(&format!("/orders/{id}/cancel"));
        let http = sys.http.clone();
        async move { http.post(url).send().await.unwrap() }
    };
    let first = cancel(order["id"].clone()).await;
    assert_eq!(first.status(), 200);
    let cancelled: Value = first.json().await.unwrap();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(sys.stock().await["Phone"], 20);
    let again = cancel(order["id"].clone()).await;
    assert_eq!(again.status(), 409);
    assert!(
        again.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("CANCELLED")
    );
    assert_eq!(sys.stock().await["Phone"], 20);
    let rejected = sys.order("Phone", 999).await;
    assert_eq!(cancel(rejected["id"].clone()).await.status(), 409);
    assert_eq!(cancel(json!(424242)).await.status(), 404);
    sys.assert_invariant().await;
    sys.stop().await;
}

async fn idempotency_key_makes_retries_safe(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    let post = |key: &'static str, quantity: i64| {
        sys.http
            .post(sys.url("/orders"))
            .header("Idempotency-Key", key)
            .json(&json!({"product": "Tablet", "quantity": quantity}))
            .send()
    };
    let first: Value = post("retry-1", 3).await.unwrap().json().await.unwrap();
    let second: Value = post("retry-1", 3).await.unwrap().json().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(sys.stock().await["Tablet"], 12);
    let other = post("retry-1", 4).await.unwrap();
    assert_eq!(other.status(), 422);
    assert_eq!(sys.all_orders().await.len(), 1);
    let bad_key = sys
        .http
        .post(sys.url("/orders"))
        .header("Idempotency-Key", "x".repeat(300))
        .json(&json!({"product": "Tablet", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_key.status(), 400);
    sys.stop().await;
}

async fn pagination_walks_backwards_by_id(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    for _ in 0..25 {
        sys.order("Headphones", 1).await;
    }
    let first = sys
        .http
        .get(sys.url("/orders?limit=10"))
        .send()
        .await
        .unwrap();
    let link = first.headers()["link"].to_str().unwrap().to_owned();
    let first: Vec<Value> = first.json().await.unwrap();
    assert_eq!(first.len(), 10);
    let ids: Vec<i64> = first.iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(
        link,
        format!("</orders?before={}&limit=10>; rel=\"next\"", ids[9])
    );
    let (_, second) = sys
        .get_json(&format!("/orders?limit=10&before={}", ids[9]))
        .await;
    assert_eq!(second[0]["id"].as_i64().unwrap(), ids[9] - 1);
    let (_, all) = sys.get_json("/orders").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        25,
        "default page holds all 25"
    );
    for bad in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "before=-1",
        "before=x",
        "limit=1&limit=2",
    ] {
        let (status, body) = sys.get_json(&format!("/orders?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["message"].is_string());
    }
    sys.stop().await;
}

async fn bad_input_is_refused_and_writes_nothing(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        (
            "malformed",
            Some("application/json"),
            b"{\"product\":".to_vec(),
            400,
        ),
        (
            "not an object",
            Some("application/json"),
            b"[1,2]".to_vec(),
            400,
        ),
        (
            "wrong type",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":"2"}"#.to_vec(),
            400,
        ),
        (
            "fraction",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":1.5}"#.to_vec(),
            400,
        ),
        (
            "huge number",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":1e30}"#.to_vec(),
            400,
        ),
        (
            "product number",
            Some("application/json"),
            br#"{"product":5,"quantity":1}"#.to_vec(),
            400,
        ),
        (
            "missing product",
            Some("application/json"),
            br#"{"quantity":1}"#.to_vec(),
            400,
        ),
        (
            "empty product",
            Some("application/json"),
            br#"{"product":"","quantity":1}"#.to_vec(),
            400,
        ),
        (
            "missing quantity",
            Some("application/json"),
            br#"{"product":"Laptop"}"#.to_vec(),
            400,
        ),
        (
            "zero",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":0}"#.to_vec(),
            400,
        ),
        (
            "negative",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":-1}"#.to_vec(),
            400,
        ),
        (
            "absurd",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":1000000}"#.to_vec(),
            400,
        ),
        ("empty body", Some("application/json"), Vec::new(), 400),
        (
            "text",
            Some("text/plain"),
            br#"{"product":"Laptop","quantity":1}"#.to_vec(),
            415,
        ),
        (
            "oversized",
            Some("application/json"),
            format!(r#"{{"product":"{}","quantity":1}}"#, "x".repeat(100_000)).into_bytes(),
            413,
        ),
    ];
    for (name, content_type, body, expected) in cases {
        let mut request = sys.http.post(sys.url("/orders")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{name}");
        if expected == 413 {
            // The body is left unread: the server closes this connection
            // and says so, so the next request goes on a fresh one.
            assert_eq!(response.headers()["connection"], "close", "{name}");
        }
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{name}: JSON error body: {e}"));
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: {body}"
        );
    }
    for (path, expected) in [
        ("/orders/abc", 400),
        ("/orders/0", 400),
        ("/orders/99999", 404),
        ("/nothing/here", 404),
    ] {
        let (status, body) = sys.get_json(path).await;
        assert_eq!(status, expected, "{path}");
        assert!(body["message"].is_string(), "{path}");
    }
    let delete = sys.http.delete(sys.url("/orders")).send().await.unwrap();
    assert_eq!(delete.status(), 405);
    assert!(sys.all_orders().await.is_empty(), "nothing was written");
    assert_eq!(sys.stock().await["Laptop"], 10);
    // The service is unaffected.
    assert_eq!(sys.order("Laptop", 1).await["status"], "CREATED");
    sys.stop().await;
}

async fn cors_allows_configured_origins_only(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
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
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
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
        r#"order_service_http_requests_total{method="POST",route="/orders",status="200"} 1"#,
        r#"order_service_orders_total{status="CREATED"} 1"#,
        "order_service_inventory_call_duration_seconds_count{method=\"reserve_batch\"} 1",
        r#"order_service_batch_size_count{stage="reserve"} 1"#,
        r#"order_service_batch_size_sum{stage="record"} 1.0"#,
        "order_service_http_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }
    sys.stop().await;
}

async fn grpc_create_order_shares_the_flow(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
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
    create_reserves_stock,
    rejections_carry_a_reason_and_hold_nothing,
    cancel_releases_stock_once,
    idempotency_key_makes_retries_safe,
    pagination_walks_backwards_by_id,
    bad_input_is_refused_and_writes_nothing,
    cors_allows_configured_origins_only,
    health_metrics_and_the_page,
    grpc_create_order_shares_the_flow,
);
