/// Real errors from real databases, so the downcasts are proven too.
#[cfg(feature = "testing")]
mod real {
    use sqlx::{ConnectOptions, Connection, Executor, PgConnection, sqlite::SqliteConnectOptions};

    use super::super::is_unavailable;
    use crate::testing::{Backend, TestDatabase};

    #[tokio::test]
    async fn a_locked_sqlite_database_is_unavailable() {
        let test_db = TestDatabase::create(Backend::Sqlite, "busy").await;
        let options: SqliteConnectOptions = test_db.url.parse().expect("url");
        let options = options.create_if_missing(true);
        let mut holder = options.connect().await.expect("connect");
        holder.execute("BEGIN IMMEDIATE").await.expect("lock");
        let mut other = options
            .busy_timeout(std::time::Duration::ZERO)
            .connect()
            .await
            .expect("connect");
        let e = other.execute("BEGIN IMMEDIATE").await.unwrap_err();
        assert!(is_unavailable(&e), "{e:?}");
        // A constraint violation on the same backend is not.
        holder
            .execute("CREATE TABLE t (x INTEGER CHECK (x > 0))")
            .await
            .expect("create");
        let e = holder
            .execute("INSERT INTO t VALUES (0)")
            .await
            .unwrap_err();
        assert!(!is_unavailable(&e), "{e:?}");
        holder.close().await.expect("close");
        other.close().await.expect("close");
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
    async fn a_terminated_postgres_connection_is_unavailable() {
        let test_db = TestDatabase::create(Backend::Postgres, "terminated").await;
        let mut victim = PgConnection::connect(&test_db.url).await.expect("connect");
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut victim)
            .await
            .expect("pid");
        let mut admin = PgConnection::connect(&test_db.url).await.expect("connect");
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&mut admin)
            .await
            .expect("terminate");
        let e = victim.execute("SELECT 1").await.unwrap_err();
        assert!(is_unavailable(&e), "{e:?}");
        // A NUL in text is the client's fault, not an outage.
        let e = sqlx::query("SELECT $1::text")
            .bind("a\0b")
            .execute(&mut admin)
            .await
            .unwrap_err();
        assert!(!is_unavailable(&e), "{e:?}");
        admin.close().await.expect("close");
        test_db.cleanup().await;
    }
}
