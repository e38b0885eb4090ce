//! The write path's statements on a real database, on both backends. On
//! SQLite an order's answer is built from what its statements wrote rather
//! than read back (the new rows' ids from the INSERT's count and last id, a
//! settled order from the UPDATE's count), so each answer is compared with
//! the row as stored: a wrong id or a stale field shows here.

use support::{
    db::Db,
    event_log::Wake,
    testing::{Backend, TestDatabase},
};

use super::{Pending, Settlement, Store};
use crate::{
    domain::{IdempotencyKey, NewOrder, Order, Status, reason},
    migrations,
};

fn pending(product: &str, quantity: i64, idempotency: Option<&str>) -> Pending {
    Pending {
        new: NewOrder::parse(Some(product.to_owned()), Some(quantity)).unwrap(),
        key: uuid::Uuid::now_v7().to_string(),
        idempotency: idempotency.map(|k| IdempotencyKey::parse(k).unwrap()),
        trace_id: None,
    }
}

const CREATED: Settlement = Settlement {
    status: Status::Created,
    reason: None,
    release_pending: false,
    forget_idempotency_key: false,
};

const NO_STOCK: Settlement = Settlement {
    status: Status::Rejected,
    reason: Some(reason::INSUFFICIENT_STOCK),
    release_pending: false,
    forget_idempotency_key: false,
};

/// What an order whose reservation went unanswered settles as.
const UNAVAILABLE: Settlement = Settlement {
    status: Status::Rejected,
    reason: Some(reason::INVENTORY_UNAVAILABLE),
    release_pending: true,
    forget_idempotency_key: true,
};

/// Each answer of a batch is the row as stored.
async fn assert_stored(store: &Store, answers: &[Option<Order>]) {
    for order in answers.iter().flatten() {
        assert_eq!(store.get(order.id).await.unwrap().as_ref(), Some(order));
    }
}

async fn answers_are_the_rows_as_stored(backend: Backend) {
    let test_db = TestDatabase::create(backend, "store").await;
    let db = Db::connect(&test_db.url, &migrations()).await.unwrap();
    let store = Store::new(db.clone(), Wake::default());

    let alone = store
        .insert_pending(&[pending("Laptop", 2, Some("earlier"))])
        .await
        .unwrap();
    assert_stored(&store, &alone).await;
    let [Some(alone)] = alone.as_slice() else {
        panic!("a new key is recorded: {alone:?}")
    };
    assert_eq!(alone.status, Status::Pending);

    // Every entry new: consecutive ids, in the order given.
    let fresh = [
        pending("Phone", 1, None),
        pending("Tablet", 3, Some("fresh")),
        pending("Laptop", 5, None),
    ];
    let recorded = store.insert_pending(&fresh).await.unwrap();
    assert!(recorded.iter().all(Option::is_some), "{recorded:?}");
    assert_stored(&store, &recorded).await;
    for (p, o) in fresh.iter().zip(recorded.iter().flatten()) {
        assert_eq!(
            (o.key.as_str(), o.quantity),
            (p.key.as_str(), p.new.quantity())
        );
    }

    // Keys recorded before, and a key given twice: only the new entries
    // are written, each answered with its own row.
    let mixed = [
        pending("Phone", 1, None),
        pending("Laptop", 2, Some("earlier")),
        pending("Monitor", 4, Some("twice")),
        pending("Monitor", 4, Some("twice")),
        pending("Tablet", 6, None),
    ];
    let recorded = store.insert_pending(&mixed).await.unwrap();
    let new: Vec<bool> = recorded.iter().map(Option::is_some).collect();
    assert_eq!(new, [true, false, true, false, true]);
    assert_stored(&store, &recorded).await;
    for (p, o) in mixed.iter().zip(&recorded) {
        if let Some(o) = o {
            assert_eq!(
                (o.key.as_str(), o.product.as_str()),
                (p.key.as_str(), p.new.product())
            );
        }
    }

    // A settle of one order answers with the settled row; a second finds
    // it no longer pending.
    let settled = store
        .settle_batch(&[(alone.clone(), NO_STOCK)])
        .await
        .unwrap();
    assert_stored(&store, &settled).await;
    let [Some(rejected)] = settled.as_slice() else {
        panic!("a pending order settles: {settled:?}")
    };
    assert_eq!(
        (rejected.status, rejected.reason.as_deref()),
        (Status::Rejected, Some(reason::INSUFFICIENT_STOCK))
    );
    let again = store
        .settle_batch(&[(alone.clone(), CREATED)])
        .await
        .unwrap();
    assert_eq!(again, [None]);
    assert_eq!(store.get(alone.id).await.unwrap().as_ref(), Some(rejected));

    // A batch with one order settled before: only the others change.
    let batch: Vec<(Order, Settlement)> = recorded
        .iter()
        .flatten()
        .map(|o| (o.clone(), CREATED))
        .chain([(alone.clone(), CREATED)])
        .collect();
    let settled = store.settle_batch(&batch).await.unwrap();
    assert_stored(&store, &settled).await;
    let changed: Vec<bool> = settled.iter().map(Option::is_some).collect();
    assert_eq!(changed, [true, true, true, false]);

    // A settle of one that forgets the order's Idempotency-Key: the key is
    // free again, so a retry is a new attempt.
    let keyed = store
        .insert_pending(&[pending("Phone", 1, Some("forgotten"))])
        .await
        .unwrap();
    let [Some(keyed)] = keyed.as_slice() else {
        panic!("a new key is recorded: {keyed:?}")
    };
    let settled = store
        .settle_batch(&[(keyed.clone(), UNAVAILABLE)])
        .await
        .unwrap();
    assert_stored(&store, &settled).await;
    assert!(
        matches!(settled.as_slice(), [Some(o)] if o.release_pending && o.status == Status::Rejected),
        "{settled:?}"
    );
    let retry = store
        .insert_pending(&[pending("Phone", 1, Some("forgotten"))])
        .await
        .unwrap();
    assert!(
        matches!(retry.as_slice(), [Some(o)] if o.id != keyed.id),
        "{retry:?}"
    );
    db.close().await;
}

support::both_backends!(answers_are_the_rows_as_stored);

/// Every change of an order's status to one clients see is in the log,
/// once, numbered without gaps; nothing else is. On PostgreSQL the log is
/// written per statement (migration 0007), so a batch settled with mixed
/// outcomes is one statement logging all of them.
async fn the_log_has_each_status_change_once(backend: Backend) {
    let test_db = TestDatabase::create(backend, "store_log").await;
    let db = Db::connect(&test_db.url, &migrations()).await.unwrap();
    let store = Store::new(db.clone(), Wake::default());
    let logged = |after| {
        let store = &store;
        async move {
            store
                .events_after(after, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|(seq, (o, trace))| (seq, o.id, o.status, o.reason, trace))
                .collect::<Vec<_>>()
        }
    };

    let recorded: Vec<Order> = store
        .insert_pending(&[
            pending("Phone", 1, None),
            pending("Tablet", 2, Some("mixed")),
            pending("Laptop", 3, None),
            pending("Monitor", 4, None),
        ])
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(logged(0).await, [], "PENDING is not logged");

    let outcomes = [CREATED, NO_STOCK, UNAVAILABLE, CREATED];
    let batch: Vec<(Order, Settlement)> = recorded.iter().cloned().zip(outcomes).collect();
    let settled = store.settle_batch(&batch).await.unwrap();
    assert!(settled.iter().all(Option::is_some), "{settled:?}");
    assert_stored(&store, &settled).await;
    let mut events = logged(0).await;
    let seqs: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(seqs, [1, 2, 3, 4], "numbered from 1 without gaps");
    events.sort_by_key(|e| e.1);
    let expected: Vec<_> = settled
        .iter()
        .flatten()
        .map(|o| (o.id, o.status, o.reason.clone(), None))
        .collect();
    let got: Vec<_> = events
        .into_iter()
        .map(|(_, id, status, reason, trace)| (id, status, reason, trace))
        .collect();
    assert_eq!(got, expected);

    // Updates that change no status log nothing: a settle of orders no
    // longer pending, the release bookkeeping.
    assert_eq!(
        store.settle_batch(&batch).await.unwrap(),
        [None, None, None, None]
    );
    store.releases_done(&[recorded[2].id]).await.unwrap();
    assert_eq!(logged(4).await, []);

    let cancelled = store
        .cancel(recorded[0].id, Some("4bf92f3577b34da6a3ce929d0e0e4736"))
        .await
        .unwrap()
        .expect("a created order cancels");
    assert_eq!(
        logged(4).await,
        [(
            5,
            cancelled.id,
            Status::Cancelled,
            None,
            Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned())
        )]
    );
    db.close().await;
    test_db.cleanup().await;
}

support::both_backends!(the_log_has_each_status_change_once);

/// On PostgreSQL a transaction that logs several events sends one NOTIFY,
/// not one per event (migration 0006): each listening replica is woken
/// once per commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn a_settled_batch_notifies_once() {
    let test_db = TestDatabase::create(Backend::Postgres, "notify_once").await;
    let db = Db::connect(&test_db.url, &migrations()).await.unwrap();
    let store = Store::new(db.clone(), Wake::default());
    let pool = db.postgres().expect("a PostgreSQL test database");
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .unwrap();
    listener.listen("order_events").await.unwrap();

    let recorded = store
        .insert_pending(&[
            pending("Phone", 1, None),
            pending("Tablet", 2, None),
            pending("Laptop", 3, None),
        ])
        .await
        .unwrap();
    let batch: Vec<(Order, Settlement)> = recorded
        .iter()
        .flatten()
        .map(|o| (o.clone(), CREATED))
        .collect();
    let settled = store.settle_batch(&batch).await.unwrap();
    assert!(settled.iter().all(Option::is_some), "{settled:?}");
    // Notifications arrive in commit order: this one ends the count.
    sqlx::query("SELECT pg_notify('order_events', 'end')")
        .execute(pool)
        .await
        .unwrap();
    let mut before_end = 0;
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
            .await
            .expect("notified within 10 s")
            .unwrap();
        if n.payload() == "end" {
            break;
        }
        before_end += 1;
    }
    assert_eq!(before_end, 1, "one NOTIFY for a batch of three events");
    drop(listener);
    db.close().await;
    test_db.cleanup().await;
}
