//! The event log behind `/topic/orders` and `/topic/products`: every
//! MESSAGE carries its `seq`, a client that resumes with `from-seq` gets
//! exactly what it missed, and replicas on PostgreSQL deliver every event
//! to every subscriber exactly once and in order, even while their
//! listening connections are killed.

use std::{
    collections::HashSet,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use futures::{StreamExt, future::join_all};
use proto::{RestockRequest, WatchStockRequest, inventory_service_client::InventoryServiceClient};
use serde_json::Value;
use support::{
    db::Db,
    testing::{Backend, ws},
    with_db,
};

use crate::common::{
    self, TestSystem, eventually,
    stomp::{event_seq, header, next_event, products_reach, subscriber},
    wait_until,
};

async fn resuming_subscribers_get_exactly_what_they_missed(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    let addr = sys.orders.as_ref().unwrap().http_addr.to_string();
    let start = event_seq(&sys.http, &sys.url("/orders")).await.unwrap();
    let mut socket = subscriber(&addr, "/topic/orders", Some(start)).await;
    for i in 1..=3 {
        let order = sys.order("Headphones", 1).await;
        assert_eq!(next_event(&mut socket).await, (start + i, order));
    }
    drop(socket);

    // 100 orders while nobody listens (created and rejected alike).
    let mut missed = Vec::new();
    for _ in 0..100 {
        missed.push(sys.order("Headphones", 1).await);
    }
    let mut socket = subscriber(&addr, "/topic/orders", Some(start + 3)).await;
    for (i, order) in missed.into_iter().enumerate() {
        assert_eq!(next_event(&mut socket).await, (start + 4 + i as i64, order));
    }
    // Then live, with nothing repeated in between.
    let live = sys.order("Phone", 1).await;
    assert_eq!(next_event(&mut socket).await, (start + 104, live));
    assert_eq!(
        event_seq(&sys.http, &sys.url("/orders")).await,
        Some(start + 104)
    );

    // What retention removed cannot be replayed: the client is told to
    // reload, and live events follow.
    let db = Db::connect(&sys.order_config.database_url, &order_service::migrations())
        .await
        .unwrap();
    with_db!(&db, write, |pool| {
        sqlx::query("DELETE FROM order_events WHERE seq <= $1")
            .bind(start + 50)
            .execute(pool)
            .await
            .unwrap();
    });
    db.close().await;
    let mut stale = subscriber(&addr, "/topic/orders", Some(start + 10)).await;
    let resync = ws::next_frame(&mut stale).await;
    assert_eq!(header(&resync, "resync"), Some("required"), "{resync}");
    let live = sys.order("Phone", 1).await;
    assert_eq!(next_event(&mut stale).await, (start + 105, live.clone()));
    assert_eq!(next_event(&mut socket).await, (start + 105, live));

    // Stock events carry the seq of inventory's log, and resume the same way
    // (from where this replica's relay has got to: all of inventory's log).
    let mut watch = sys
        .inventory_grpc
        .clone()
        .watch_stock(WatchStockRequest::default())
        .await
        .unwrap()
        .into_inner();
    let inventory_last = watch.next().await.unwrap().unwrap().seq;
    drop(watch);
    products_reach(&sys.http, &addr, inventory_last).await;
    let from = event_seq(&sys.http, &sys.url("/products")).await.unwrap();
    assert_eq!(from, inventory_last);
    let mut products = subscriber(&addr, "/topic/products", Some(from)).await;
    sys.order("Tablet", 2).await;
    let (seq, stock) = next_event(&mut products).await;
    assert_eq!(seq, from + 1);
    assert_eq!(
        stock,
        serde_json::json!({"name": "Tablet", "stockQuantity": 13})
    );
    sys.stop().await;
}

support::both_backends!(resuming_subscribers_get_exactly_what_they_missed);

/// Pruning the whole log gives no number back: the log's newest seq stays
/// where it was, and the next event follows it. (On SQLite an event takes
/// one past the newest row's number, so this rests on the trigger that
/// moves the counter past the rows pruning deletes.)
async fn a_log_pruned_empty_hands_out_no_seq_twice(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    let addr = sys.orders.as_ref().unwrap().http_addr.to_string();
    for _ in 0..3 {
        sys.order("Headphones", 1).await;
    }
    let last = event_seq(&sys.http, &sys.url("/orders")).await.unwrap();
    let db = Db::connect(&sys.order_config.database_url, &order_service::migrations())
        .await
        .unwrap();
    with_db!(&db, write, |pool| {
        sqlx::query("DELETE FROM order_events")
            .execute(pool)
            .await
            .unwrap();
    });
    db.close().await;
    assert_eq!(event_seq(&sys.http, &sys.url("/orders")).await, Some(last));

    let mut socket = subscriber(&addr, "/topic/orders", Some(last)).await;
    let order = sys.order("Phone", 1).await;
    assert_eq!(next_event(&mut socket).await, (last + 1, order));
    assert_eq!(
        event_seq(&sys.http, &sys.url("/orders")).await,
        Some(last + 1)
    );
    sys.stop().await;
}

support::both_backends!(a_log_pruned_empty_hands_out_no_seq_twice);

/// Two inventory replicas and two order-service replicas on one PostgreSQL
/// server: 500 orders through both order replicas while every listening
/// connection is killed, again and again. Every subscriber of every replica
/// gets every order event and every stock change exactly once, in seq
/// order; so does a `WatchStock` stream on each inventory replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn replicas_deliver_every_event_once_in_order_through_lost_listeners() {
    const ORDERS: usize = 500;
    const PLACED_WITHIN: Duration = Duration::from_secs(60);
    let sys = TestSystem::spawn(Backend::Postgres).await;
    let mut inventory_config = sys.inventory_config.clone();
    inventory_config.grpc_port = 0;
    inventory_config.http_port = 0;
    let inventory_b = inventory_service::Server::start(&inventory_config)
        .await
        .unwrap();
    let mut order_config = sys.order_config.clone();
    order_config.inventory_url = format!("http://{}", inventory_b.grpc_addr);
    let orders_b = order_service::Server::start(&order_config).await.unwrap();
    let order_addrs = [
        sys.orders.as_ref().unwrap().http_addr.to_string(),
        orders_b.http_addr.to_string(),
    ];
    let inventory_addrs = [
        sys.inventory.as_ref().unwrap().grpc_addr,
        inventory_b.grpc_addr,
    ];

    // Enough stock for every order.
    let mut grpc = sys.inventory_grpc.clone();
    for (product, _) in common::SEED {
        grpc.restock(RestockRequest {
            product: product.into(),
            quantity: 1000,
        })
        .await
        .unwrap();
    }
    let mut snapshot = grpc
        .watch_stock(WatchStockRequest { from_seq: None })
        .await
        .unwrap()
        .into_inner();
    let stock_from = snapshot.next().await.unwrap().unwrap().seq;
    drop(snapshot);
    let orders_from = event_seq(&sys.http, &format!("http://{}/orders", order_addrs[0]))
        .await
        .unwrap();

    let mut order_subscribers = Vec::new();
    let mut stock_subscribers = Vec::new();
    for addr in &order_addrs {
        products_reach(&sys.http, addr, stock_from).await;
        order_subscribers.push(subscriber(addr, "/topic/orders", Some(orders_from)).await);
        stock_subscribers.push(subscriber(addr, "/topic/products", Some(stock_from)).await);
    }
    let mut watchers = Vec::new();
    for addr in inventory_addrs {
        let mut client = InventoryServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let stream = client
            .watch_stock(WatchStockRequest {
                from_seq: Some(stock_from),
            })
            .await
            .unwrap()
            .into_inner();
        watchers.push(stream);
    }

    // Kill every LISTEN connection of this test's two databases, six times
    // as the orders go in: after each seventh of them, as soon as there is
    // a listener (back) to kill.
    let databases: Vec<String> = sys
        .dbs
        .iter()
        .map(|db| db.url.rsplit('/').next().unwrap().to_owned())
        .collect();
    let admin = sqlx::PgPool::connect(&sys.order_config.database_url)
        .await
        .unwrap();
    let answered = AtomicUsize::new(0);
    let killing = async {
        let mut killed = 0;
        for seventh in 1..=6 {
            let what = format!("{seventh}/7 of the orders placed");
            wait_until(&what, PLACED_WITHIN, async || {
                answered.load(Ordering::SeqCst) >= seventh * ORDERS / 7
            })
            .await;
            killed += eventually("a listener to kill", PLACED_WITHIN, async || {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE query LIKE 'LISTEN%' AND datname = ANY($1)",
                )
                .bind(&databases)
                .fetch_one(&admin)
                .await
                .unwrap();
                (n > 0).then_some(n)
            })
            .await;
        }
        killed
    };

    let http = sys.http.clone();
    let placing = futures::stream::iter(0..ORDERS)
        .map(|i| {
            let (http, addr) = (http.clone(), order_addrs[i % 2].clone());
            let product = common::SEED[i % common::SEED.len()].0;
            let answered = &answered;
            async move {
                let response = http
                    .post(format!("http://{addr}/orders"))
                    .json(&serde_json::json!({"product": product, "quantity": 1}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                answered.fetch_add(1, Ordering::SeqCst);
                response.json::<Value>().await.unwrap()
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<Value>>();
    let (placed, killed) = tokio::join!(placing, killing);
    assert!(placed.iter().all(|o| o["status"] == "CREATED"));
    assert!(killed >= 6, "listeners were killed ({killed})");

    let ids: HashSet<i64> = placed.iter().map(|o| o["id"].as_i64().unwrap()).collect();
    let checks = order_subscribers.iter_mut().map(|socket| async {
        let mut seen = HashSet::new();
        for i in 1..=ORDERS as i64 {
            let (seq, order) = next_event(socket).await;
            assert_eq!(
                seq,
                orders_from + i,
                "order events in seq order, none missed"
            );
            assert!(seen.insert(order["id"].as_i64().unwrap()), "once each");
        }
        assert_eq!(seen, ids);
    });
    join_all(checks).await;
    // Stock changes come in batches (one per product and batch), so their
    // number is whatever the log holds: every one up to its newest seq,
    // ending at each product's stock now.
    let mut snapshot = grpc
        .watch_stock(WatchStockRequest { from_seq: None })
        .await
        .unwrap()
        .into_inner();
    let mut stock_now = std::collections::HashMap::new();
    let mut stock_to = stock_from;
    for _ in common::SEED {
        let s = snapshot.next().await.unwrap().unwrap();
        assert!(s.snapshot);
        stock_to = s.seq;
        stock_now.insert(s.product, s.stock_quantity);
    }
    drop(snapshot);
    assert!(stock_to > stock_from, "orders changed stock");
    let checks = stock_subscribers.iter_mut().map(|socket| async {
        let mut last = std::collections::HashMap::new();
        for seq in stock_from + 1..=stock_to {
            let (got, change) = next_event(socket).await;
            assert_eq!(got, seq, "stock events in seq order, none missed");
            last.insert(
                change["name"].as_str().unwrap().to_owned(),
                change["stockQuantity"].as_i64().unwrap() as i32,
            );
        }
        assert!(last.iter().all(|(p, s)| stock_now[p] == *s), "{last:?}");
    });
    join_all(checks).await;
    for watcher in &mut watchers {
        let mut versions = std::collections::HashMap::new();
        for seq in stock_from + 1..=stock_to {
            let change = tokio::time::timeout(ws::PATIENCE, watcher.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!((change.seq, change.snapshot), (seq, false));
            let last = versions.insert(change.product.clone(), change.version);
            assert!(last < Some(change.version), "versions rise per product");
        }
    }
    // Nothing more arrives afterwards.
    for socket in order_subscribers
        .iter_mut()
        .chain(stock_subscribers.iter_mut())
    {
        let more = tokio::time::timeout(Duration::from_millis(300), ws::next_frame(socket)).await;
        assert!(more.is_err(), "nothing twice: {more:?}");
    }
    orders_b.stop().await.unwrap();
    inventory_b.stop().await.unwrap();
    sys.stop().await;
}
