//! Placing, rejecting, cancelling and listing orders.

use serde_json::{Value, json};
use support::testing::Backend;

use crate::common::TestSystem;

async fn create_reserves_stock(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
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
    let sys = TestSystem::spawn(backend).await;
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
    let sys = TestSystem::spawn(backend).await;
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
    let sys = TestSystem::spawn(backend).await;
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
    let sys = TestSystem::spawn(backend).await;
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

support::both_backends!(
    create_reserves_stock,
    rejections_carry_a_reason_and_hold_nothing,
    cancel_releases_stock_once,
    idempotency_key_makes_retries_safe,
    pagination_walks_backwards_by_id,
);
