use sqlx::{Connection, Executor, PgConnection};

use super::PrivatePostgres;
use crate::db::is_unavailable;

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn a_private_postgres_stops_restarts_keeps_its_data_and_cleans_up() {
    let pg = PrivatePostgres::new().await;
    let url = pg.url();
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    conn.execute("CREATE TABLE kept (x INT); INSERT INTO kept VALUES (7)")
        .await
        .expect("write");

    pg.stop().await;
    let e = conn.execute("SELECT 1").await.unwrap_err();
    assert!(is_unavailable(&e), "{e:?}");
    let e = PgConnection::connect(&url).await.unwrap_err();
    assert!(is_unavailable(&e), "{e:?}");

    pg.start().await;
    let mut conn = PgConnection::connect(&url).await.expect("reconnect");
    let x: i32 = sqlx::query_scalar("SELECT x FROM kept")
        .fetch_one(&mut conn)
        .await
        .expect("read");
    assert_eq!(x, 7);
    conn.close().await.expect("close");

    let dir = pg.dir.path().to_owned();
    drop(pg);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert!(PgConnection::connect(&url).await.is_err());
}
