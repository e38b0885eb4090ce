//! Many clients at once: exactly as many orders succeed as stock allows,
//! cancels return stock once, and the invariant holds, on both databases.

use futures::future::join_all;
use serde_json::{Value, json};
use support::testing::Backend;

use crate::common::TestSystem;

async fn many_orders_for_little_stock(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    // Monitor has 8. 48 clients want 1 each, some retrying with the same key.
    let requests = (0..48).map(|i| {
        let mut r = sys
            .http
            .post(sys.url("/orders"))
            .json(&json!({"product": "Monitor", "quantity": 1}));
        if i % 4 == 0 {
            r = r.header("Idempotency-Key", format!("client-{}", i / 8));
        }
        async move { r.send().await.unwrap() }
    });
    let answers = join_all(requests).await;
    let mut created = 0;
    for a in answers {
        // 409: the same Idempotency-Key is being processed right now.
        assert!(matches!(a.status().as_u16(), 200 | 409), "{}", a.status());
        if a.status() == 200 && a.json::<Value>().await.unwrap()["status"] == "CREATED" {
            created += 1;
        }
    }
    let orders = sys.all_orders().await;
    let created_rows = orders.iter().filter(|o| o["status"] == "CREATED").count();
    assert_eq!(created_rows, 8);
    assert!(
        created >= 8,
        "every CREATED order was answered as such at least once"
    );
    assert_eq!(sys.stock().await["Monitor"], 0);
    sys.assert_invariant().await;

    // Everyone cancels every created order twice at once: stock comes back once.
    let ids: Vec<i64> = orders
        .iter()
        .filter(|o| o["status"] == "CREATED")
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    let cancels = ids.iter().chain(ids.iter()).map(|id| {
        sys.http
            .post(sys.url(&format!("/orders/{id}/cancel")))
            .send()
    });
    let statuses: Vec<u16> = join_all(cancels)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 8);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 8);
    sys.settle().await;
    assert_eq!(sys.stock().await["Monitor"], 8);
    sys.assert_invariant().await;
    sys.stop().await;
}

support::both_backends!(many_orders_for_little_stock);
