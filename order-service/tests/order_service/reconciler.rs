//! The reconciler under a backlog: stock still to release for many orders
//! (as after an inventory outage) drains in full batches, and an order
//! whose release keeps failing backs off without holding up the others.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, stream};
use support::{db::Db, testing::Backend, with_db};

use crate::common::{TestSystem, wait_until};

/// Rounds are driven by the test; the service runs none of its own. (A
/// long interval is not enough: the service's first round runs at start,
/// and when a loaded machine delays it past the test's setup it releases
/// the orders the test just marked, so the test's round finds fewer.)
fn manual_rounds(config: &mut order_service::Config) {
    config.background_reconciler = false;
}

async fn orders_db(sys: &TestSystem) -> Db {
    Db::connect(&sys.dbs[1].url, &order_service::migrations())
        .await
        .unwrap()
}

async fn restock(sys: &TestSystem, product: &str, quantity: i32) {
    sys.inventory_grpc
        .clone()
        .restock(proto::RestockRequest {
            product: product.into(),
            quantity,
        })
        .await
        .unwrap();
}

/// Places `n` orders for one unit of `product`, 32 at a time.
async fn place(sys: &TestSystem, product: &str, n: usize) {
    let created = stream::iter(0..n)
        .map(|_| sys.order(product, 1))
        .buffer_unordered(32)
        .filter(|o| std::future::ready(o["status"] == "CREATED"))
        .count()
        .await;
    assert_eq!(created, n);
}

/// Marks every CREATED order cancelled with its stock still to release, as
/// cancels during an inventory outage leave them.
async fn cancel_during_outage(db: &Db) -> u64 {
    with_db!(db, write, |pool| {
        sqlx::query(
            "UPDATE orders SET status = 'CANCELLED', release_pending = TRUE WHERE status = 'CREATED'",
        )
        .execute(pool)
        .await
        .unwrap()
        .rows_affected()
    })
}

async fn a_backlog_drains_in_full_batches(backend: Backend) {
    let sys = TestSystem::spawn_with(backend, manual_rounds).await;
    const BACKLOG: usize = 1500;
    restock(&sys, "Laptop", 2000).await;
    place(&sys, "Laptop", BACKLOG).await;
    let db = orders_db(&sys).await;
    assert_eq!(cancel_during_outage(&db).await, BACKLOG as u64);

    let server = sys.orders.as_ref().unwrap();
    let started = Instant::now();
    let mut rounds = 0;
    loop {
        let round = server.reconcile_once().await.unwrap();
        rounds += 1;
        if round.awaiting_release == 0 {
            break;
        }
        assert!(
            round.more,
            "a round with work left asks for the next at once"
        );
        assert!(rounds < 3, "{BACKLOG} releases take 3 rounds of 512");
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{BACKLOG} releases in {rounds} rounds, {elapsed:?}: {:.0} orders/s ({backend:?}, debug build)",
        BACKLOG as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(
        sys.stock().await["Laptop"],
        10 + 2000,
        "every unit came back"
    );
    let metrics = sys.get_text("/metrics").await;
    assert!(
        metrics.contains("order_service_orders_awaiting_release 0"),
        "{metrics}"
    );
    db.close().await;
    sys.stop().await;
}

async fn a_release_that_keeps_failing_backs_off_and_blocks_nobody(backend: Backend) {
    let sys = TestSystem::spawn_with(backend, manual_rounds).await;
    let db = orders_db(&sys).await;
    // 600 orders inventory will never release: keys it refuses (too long),
    // which failed three times already, so the next failure backs off 8 s:
    // far longer than the rounds below take, however slow the machine.
    // They are older than everything else, so they come first.
    let now_ms = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    with_db!(&db, write, |pool| {
        let mut tx = pool.begin().await.unwrap();
        for i in 0..600 {
            sqlx::query(
                "INSERT INTO orders (order_key, product, quantity, status, release_pending, \
                 release_attempts, created_at_ms, updated_at_ms) \
                 VALUES ($1, 'Laptop', 1, 'CANCELLED', TRUE, 3, $2, $2)",
            )
            .bind(format!("poison-{i}-{}", "x".repeat(200)))
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    });
    place(&sys, "Laptop", 5).await;
    assert_eq!(cancel_during_outage(&db).await, 5);

    let server = sys.orders.as_ref().unwrap();
    // A full batch of poisoned releases: all refused, all backing off.
    let first = server.reconcile_once().await.unwrap();
    assert_eq!((first.released, first.more), (0, true), "{first:?}");
    // The next round reaches the real orders behind them.
    let second = server.reconcile_once().await.unwrap();
    assert_eq!(second.released, 5, "{second:?}");
    assert_eq!(second.awaiting_release, 600);
    assert_eq!(
        sys.stock().await["Laptop"],
        10,
        "the real orders' stock is back"
    );
    // The failing ones wait their turn, one more attempt counted each.
    let third = server.reconcile_once().await.unwrap();
    assert_eq!((third.released, third.more), (0, false), "{third:?}");
    let (attempts, later): (i64, i64) = with_db!(&db, read, |pool| {
        sqlx::query_as(
            "SELECT MIN(release_attempts), MIN(release_after_ms) FROM orders WHERE release_pending = TRUE",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    });
    assert_eq!(attempts, 4);
    assert!(later >= now_ms + 8_000, "backed off 2^3 s into the future");
    let metrics = sys.get_text("/metrics").await;
    assert!(
        metrics.contains("order_service_orders_awaiting_release 600"),
        "{metrics}"
    );
    db.close().await;
    sys.stop().await;
}

async fn an_unreachable_inventory_backs_nobody_off(backend: Backend) {
    let mut sys = TestSystem::spawn_with(backend, |c| {
        manual_rounds(c);
        c.reserve_timeout_ms = 300;
    })
    .await;
    place(&sys, "Laptop", 3).await;
    let db = orders_db(&sys).await;
    assert_eq!(cancel_during_outage(&db).await, 3);
    sys.stop_inventory().await;
    let down = sys.orders.as_ref().unwrap().reconcile_once().await.unwrap();
    assert_eq!(
        (down.released, down.awaiting_release, down.more),
        (0, 3, false)
    );
    let backed_off: i64 = with_db!(&db, read, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE release_attempts > 0")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(backed_off, 0, "no order is at fault for an outage");
    sys.start_inventory().await;
    let server = sys.orders.as_ref().unwrap();
    // Due at once when inventory is back.
    wait_until("releases resume", Duration::from_secs(10), async || {
        server.reconcile_once().await.unwrap().awaiting_release == 0
    })
    .await;
    assert_eq!(sys.stock().await["Laptop"], 10);
    db.close().await;
    sys.stop().await;
}

support::both_backends!(
    a_backlog_drains_in_full_batches,
    a_release_that_keeps_failing_backs_off_and_blocks_nobody,
    an_unreachable_inventory_backs_nobody_off,
);
