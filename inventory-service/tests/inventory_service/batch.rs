//! `ReserveStockBatch` over real gRPC, on SQLite and PostgreSQL: entries
//! decided in order with their own answers, one product write per batch,
//! batches of one (claimed and taken in one go on SQLite) taking stock
//! once per key, and no oversell or double application when batches,
//! single calls and releases race over shared keys.

use std::collections::HashMap;

use futures::future::join_all;
use proto::{
    ReleaseStockRequest, ReservationOutcome, ReserveStockBatchRequest, ReserveStockRequest,
    ReserveStockResponse, RestockRequest, reserve_stock_result::Result as Entry,
};
use support::{testing::Backend, with_db};
use tonic::Code;

use crate::common::TestInventory;

fn reserve(key: &str, product: &str, quantity: i32) -> ReserveStockRequest {
    ReserveStockRequest {
        reservation_key: key.into(),
        product: product.into(),
        quantity,
    }
}

fn batch(reservations: Vec<ReserveStockRequest>) -> ReserveStockBatchRequest {
    ReserveStockBatchRequest { reservations }
}

/// Each entry's answer, or its error code.
async fn send(
    app: &TestInventory,
    reservations: Vec<ReserveStockRequest>,
) -> Vec<Result<ReserveStockResponse, Code>> {
    let n = reservations.len();
    let results = app
        .grpc
        .clone()
        .reserve_stock_batch(batch(reservations))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results.len(), n, "one result per entry");
    results
        .into_iter()
        .map(|r| match r.result.unwrap() {
            Entry::Answer(a) => Ok(a),
            Entry::Error(e) => {
                assert!(!e.message.is_empty());
                Err(Code::from(e.code))
            }
        })
        .collect()
}

/// (version, logged stock events) of a product.
async fn version_and_events(app: &TestInventory, product: &str) -> (i64, i64) {
    let db = app.sql().await;
    let found = with_db!(&db, read, |pool| {
        sqlx::query_as(
            "SELECT version, (SELECT COUNT(*) FROM stock_events WHERE product = $1) \
             FROM products WHERE name = $1",
        )
        .bind(product)
        .fetch_one(pool)
        .await
        .unwrap()
    });
    db.close().await;
    found
}

async fn a_batch_is_decided_in_order_with_one_write_per_product(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let (version, events) = version_and_events(&app, "Laptop").await;
    // Laptop has 10: twelve orders of 1, then one of 2 for Phone (20).
    let mut entries: Vec<_> = (0..12)
        .map(|i| reserve(&format!("l{i}"), "Laptop", 1))
        .collect();
    entries.push(reserve("p0", "Phone", 2));
    let answers = send(&app, entries).await;
    for (i, a) in answers[..12].iter().enumerate() {
        let a = a.as_ref().unwrap();
        if i < 10 {
            assert_eq!(a.outcome(), ReservationOutcome::Reserved, "entry {i}");
            assert_eq!(a.stock_quantity, 9 - i as i32, "stock after entry {i}");
        } else {
            assert_eq!(
                a.outcome(),
                ReservationOutcome::InsufficientStock,
                "entry {i}"
            );
            assert_eq!(a.stock_quantity, 0);
        }
    }
    assert_eq!(answers[12].as_ref().unwrap().stock_quantity, 18);
    assert_eq!(app.stock("Laptop").await, 0);
    assert_eq!(app.stock("Phone").await, 18);
    // One row write and one logged event for the ten reservations.
    assert_eq!(
        version_and_events(&app, "Laptop").await,
        (version + 1, events + 1)
    );
    app.assert_held_matches_reservations().await;

    // A retry of the whole batch answers the same and changes nothing.
    let mut again: Vec<_> = (0..12)
        .map(|i| reserve(&format!("l{i}"), "Laptop", 1))
        .collect();
    again.push(reserve("p0", "Phone", 2));
    let retried = send(&app, again).await;
    for (i, (a, b)) in answers.iter().zip(&retried).enumerate() {
        assert_eq!(
            a.as_ref().unwrap().outcome(),
            b.as_ref().unwrap().outcome(),
            "entry {i}"
        );
    }
    assert_eq!(app.stock("Phone").await, 18);
    assert_eq!(
        version_and_events(&app, "Laptop").await,
        (version + 1, events + 1)
    );
    app.stop().await;
}

async fn each_entry_gets_its_own_answer(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let mut c = app.grpc.clone();
    c.reserve_stock(reserve("held", "Phone", 3)).await.unwrap();
    c.release_stock(ReleaseStockRequest {
        reservation_key: "tombstone".into(),
    })
    .await
    .unwrap();
    let answers = send(
        &app,
        vec![
            reserve("a", "Laptop", 2),
            reserve("b", "Nope", 1),
            reserve("c", "Laptop", 0),
            reserve("", "Laptop", 1),
            reserve("held", "Phone", 4),
            reserve("held", "Phone", 3),
            reserve("tombstone", "Laptop", 1),
            reserve("a", "Laptop", 2),
            reserve("a", "Laptop", 5),
            reserve("d", "Laptop", 1),
        ],
    )
    .await;
    let outcome = |i: usize| answers[i].as_ref().unwrap().outcome();
    assert_eq!(outcome(0), ReservationOutcome::Reserved);
    assert_eq!(answers[0].as_ref().unwrap().stock_quantity, 8);
    assert_eq!(answers[1], Err(Code::NotFound));
    assert_eq!(answers[2], Err(Code::InvalidArgument));
    assert_eq!(answers[3], Err(Code::InvalidArgument));
    assert_eq!(answers[4], Err(Code::FailedPrecondition));
    assert_eq!(outcome(5), ReservationOutcome::Reserved);
    assert_eq!(outcome(6), ReservationOutcome::Released);
    // A repeat of "a" within the batch gets the first answer, once; "a"
    // for another quantity is refused.
    assert_eq!(outcome(7), ReservationOutcome::Reserved);
    assert_eq!(answers[8], Err(Code::FailedPrecondition));
    assert_eq!(outcome(9), ReservationOutcome::Reserved);
    assert_eq!(answers[9].as_ref().unwrap().stock_quantity, 7);
    assert_eq!(app.stock("Laptop").await, 7);
    assert_eq!(app.stock("Phone").await, 17);
    app.assert_held_matches_reservations().await;

    // An empty batch is answered; an oversized one refused whole.
    assert!(send(&app, Vec::new()).await.is_empty());
    let huge: Vec<_> = (0..1025)
        .map(|i| reserve(&format!("x{i}"), "Laptop", 1))
        .collect();
    let e = c.reserve_stock_batch(batch(huge)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(app.stock("Laptop").await, 7);
    app.stop().await;
}

async fn batches_single_calls_and_releases_racing_never_oversell(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let mut c = app.grpc.clone();
    // Monitor: 8 + 292 = 300 units for 400 keys of 1.
    c.restock(RestockRequest {
        product: "Monitor".into(),
        quantity: 292,
    })
    .await
    .unwrap();
    // Twenty callers send batches over shared keys in different orders
    // (deadlock bait on PostgreSQL), singles and releases interleave.
    let keys = 400;
    let calls = (0..20).map(|caller| {
        let mut c = app.grpc.clone();
        async move {
            let mut seen: Vec<(String, ReservationOutcome)> = Vec::new();
            for round in 0..6 {
                let start = (caller * 37 + round * 53) % keys;
                let mut entries: Vec<_> = (0..40)
                    .map(|j| format!("k{}", (start + j * 7) % keys))
                    .collect();
                if caller % 2 == 1 {
                    entries.reverse();
                }
                if caller % 5 == 0 {
                    for key in &entries[..5] {
                        c.release_stock(ReleaseStockRequest {
                            reservation_key: key.clone(),
                        })
                        .await
                        .unwrap();
                    }
                }
                if caller % 3 == 0 {
                    let key = entries[0].clone();
                    let r = c
                        .reserve_stock(reserve(&key, "Monitor", 1))
                        .await
                        .unwrap()
                        .into_inner();
                    seen.push((key, r.outcome()));
                }
                let request = entries.iter().map(|k| reserve(k, "Monitor", 1)).collect();
                let results = c
                    .reserve_stock_batch(batch(request))
                    .await
                    .unwrap()
                    .into_inner()
                    .results;
                for (key, r) in entries.into_iter().zip(results) {
                    match r.result.unwrap() {
                        Entry::Answer(a) => seen.push((key, a.outcome())),
                        Entry::Error(e) => panic!("{key}: {e:?}"),
                    }
                }
            }
            seen
        }
    });
    // A key's outcome never changes, except that a reservation may be
    // released later (a Released answer then follows Reserved answers).
    let mut outcomes: HashMap<String, Vec<ReservationOutcome>> = HashMap::new();
    for seen in join_all(calls).await {
        for (key, o) in seen {
            outcomes.entry(key).or_default().push(o);
        }
    }
    for (key, seen) in &outcomes {
        let shortage = seen.contains(&ReservationOutcome::InsufficientStock);
        assert!(
            !shortage
                || seen
                    .iter()
                    .all(|o| *o == ReservationOutcome::InsufficientStock),
            "{key}: {seen:?}"
        );
    }
    // Conservation: every unit is in stock or held by a RESERVED key.
    let db = app.sql().await;
    let (stock, held, reserved): (i64, i64, i64) = with_db!(&db, read, |pool| {
        sqlx::query_as(
            "SELECT p.stock, p.held, (SELECT COUNT(*) FROM reservations r \
               WHERE r.product_id = p.id AND r.state = 'RESERVED') \
             FROM products p WHERE p.name = 'Monitor'",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    });
    db.close().await;
    assert_eq!(stock + held, 300);
    assert_eq!(held, reserved);
    assert!(stock >= 0);
    app.assert_held_matches_reservations().await;
    app.stop().await;
}

/// Batches of one, one after the other, as order-service sends them for a
/// client alone: a key takes its stock once, whatever is retried.
async fn batches_of_one_take_stock_once_per_key(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let (version, events) = version_and_events(&app, "Laptop").await;
    let one = |key: &'static str, quantity: i32| send(&app, vec![reserve(key, "Laptop", quantity)]);
    let answer = |answers: Vec<Result<ReserveStockResponse, Code>>| {
        let a = answers[0].as_ref().unwrap();
        (a.outcome(), a.stock_quantity)
    };
    // Laptop has 10.
    assert_eq!(answer(one("a", 4).await), (ReservationOutcome::Reserved, 6));
    assert_eq!(answer(one("a", 4).await), (ReservationOutcome::Reserved, 6));
    assert_eq!(
        answer(one("short", 7).await),
        (ReservationOutcome::InsufficientStock, 6)
    );
    assert_eq!(
        answer(one("short", 7).await),
        (ReservationOutcome::InsufficientStock, 6)
    );
    assert_eq!(answer(one("b", 6).await), (ReservationOutcome::Reserved, 0));
    assert_eq!(answer(one("b", 6).await), (ReservationOutcome::Reserved, 0));
    assert_eq!(one("a", 5).await[0], Err(Code::FailedPrecondition));
    assert_eq!(
        send(&app, vec![reserve("c", "Nope", 1)]).await[0],
        Err(Code::NotFound)
    );
    // Two takes, each one row write and one logged event.
    assert_eq!(
        version_and_events(&app, "Laptop").await,
        (version + 2, events + 2)
    );
    app.grpc
        .clone()
        .release_stock(ReleaseStockRequest {
            reservation_key: "a".into(),
        })
        .await
        .unwrap();
    assert_eq!(answer(one("a", 4).await), (ReservationOutcome::Released, 4));
    assert_eq!(app.stock("Laptop").await, 4);
    app.assert_held_matches_reservations().await;
    app.stop().await;
}

support::both_backends!(
    a_batch_is_decided_in_order_with_one_write_per_product,
    each_entry_gets_its_own_answer,
    batches_of_one_take_stock_once_per_key,
    batches_single_calls_and_releases_racing_never_oversell,
);
