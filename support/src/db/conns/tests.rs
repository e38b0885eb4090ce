//! What PostgreSQL's connections go through between two borrowers, on one
//! connection, so that every borrower gets the one the last left: clean,
//! it is idle again at once; in doubt, it is tidied before anybody else
//! may have it, and closed if the server hung up on it.

use std::{pin::pin, time::Duration};

use sqlx::{Connection as _, Executor as _, PgConnection, Row as _, postgres::PgConnectOptions};

use super::postgres::PgConns;
use crate::{
    db::{
        Observed, is_unavailable,
        outcomes::{Outcomes, Role},
    },
    testing::{Backend, TestDatabase},
};

/// One connection, its outcomes, and a connection of the test's own.
struct One {
    test_db: TestDatabase,
    conns: PgConns,
    outcomes: Outcomes,
    admin: PgConnection,
}

impl One {
    async fn new(name: &str) -> Self {
        let test_db = TestDatabase::create(Backend::Postgres, name).await;
        let options: PgConnectOptions = test_db.url.parse().expect("url");
        let conns = PgConns::open(options, 1).await.expect("connect");
        let mut admin = PgConnection::connect(&test_db.url).await.expect("connect");
        admin
            .execute("CREATE TABLE t (x BIGINT PRIMARY KEY); INSERT INTO t VALUES (1)")
            .await
            .expect("create");
        Self {
            test_db,
            conns,
            outcomes: Outcomes::new(),
            admin,
        }
    }

    fn pool(&self) -> Observed<'_, sqlx::Postgres> {
        Observed::new(&self.conns, &self.outcomes, Role::Write)
    }

    async fn backend_pid(&self) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(self.pool())
            .await
            .expect("pid")
    }

    async fn end(self) {
        self.admin.close().await.expect("close");
        self.conns.close().await;
        self.test_db.cleanup().await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn a_clean_connection_is_idle_again_at_once_and_not_replaced() {
    let one = One::new("conns_clean").await;
    let pid = one.backend_pid().await;
    // No task in between: the statement's end puts it back.
    assert_eq!(
        one.conns.sizes().idle,
        1,
        "not idle right after its statement"
    );
    let mut tx = one.pool().begin().await.expect("begin");
    sqlx::query("UPDATE t SET x = x")
        .execute(&mut *tx)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(one.conns.sizes().idle, 1, "not idle right after its commit");
    assert_eq!(
        one.backend_pid().await,
        pid,
        "a clean connection was replaced"
    );
    one.end().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn a_transaction_dropped_open_lets_go_of_its_locks_without_a_next_borrower() {
    let mut one = One::new("conns_dropped").await;
    {
        let mut tx = one.pool().begin().await.expect("begin");
        sqlx::query("UPDATE t SET x = 2 WHERE x = 1")
            .execute(&mut *tx)
            .await
            .expect("update");
    }
    // Nothing more runs on the pool: the row's lock must go by itself.
    one.admin
        .execute("SET lock_timeout = '5s'")
        .await
        .expect("set");
    let updated = one
        .admin
        .execute("UPDATE t SET x = 3 WHERE x = 1")
        .await
        .expect("the dropped transaction still holds its lock");
    assert_eq!(updated.rows_affected(), 1, "the dropped update was kept");
    one.end().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn a_statement_dropped_half_way_leaves_nothing_for_the_next() {
    let one = One::new("conns_half_way").await;
    for _ in 0..3 {
        {
            let sleep = sqlx::query("SELECT pg_sleep(0.05), 1 AS n").fetch_optional(one.pool());
            let mut sleep = pin!(sleep);
            // One poll sends it; it is dropped before its answer.
            assert!(futures::poll!(sleep.as_mut()).is_pending());
        }
        let row = sqlx::query("SELECT 2 AS n")
            .fetch_one(one.pool())
            .await
            .expect("select");
        assert_eq!(row.get::<i32, _>("n"), 2);
    }
    one.end().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn a_connection_the_server_hung_up_on_is_closed_not_lent_again() {
    let mut one = One::new("conns_hung_up").await;
    let pid = one.backend_pid().await;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&mut one.admin)
        .await
        .expect("terminate");
    let gone = async {
        loop {
            let alive: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)")
                    .bind(pid)
                    .fetch_one(&mut one.admin)
                    .await
                    .expect("activity");
            if !alive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .expect("the backend did not end");
    // Used a moment ago, so it is lent without a ping: the statement
    // meets the closed connection.
    let e = sqlx::query("SELECT 1")
        .execute(one.pool())
        .await
        .expect_err("a statement on a terminated connection");
    assert!(is_unavailable(&e), "{e:?}");
    // At once, and again and again: a new connection each time after.
    let mut pids = Vec::new();
    for _ in 0..3 {
        pids.push(one.backend_pid().await);
    }
    assert!(
        pids.iter().all(|p| *p != pid && *p == pids[0]),
        "{pid} then {pids:?}"
    );
    one.end().await;
}
