//! A new SQLite database gets the small pages `SQLITE_PAGE_SIZE` asks for;
//! one created before with other pages keeps them, and serves as well.

use sqlx::{ConnectOptions as _, Connection as _, Executor as _, sqlite::SqliteConnectOptions};

use crate::{
    db::{Db, sqlite::SQLITE_PAGE_SIZE},
    testing::{Backend, TestDatabase, no_migrations},
};

/// The page size every connection of `db` sees, after a write and a read.
async fn page_sizes(db: &Db) -> (i64, i64) {
    let write = with_db!(db, write, |pool| {
        sqlx::query("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)")
            .execute(pool)
            .await
            .expect("create");
        sqlx::query("INSERT INTO t DEFAULT VALUES")
            .execute(pool)
            .await
            .expect("insert");
        sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(pool)
            .await
            .expect("page size")
    });
    let read = with_db!(db, read, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(pool)
            .await
            .expect("count")
    });
    assert!(read >= 1_i64, "the write is read back");
    (write, read)
}

#[tokio::test]
async fn a_new_database_has_small_pages_and_an_old_one_keeps_its_own() {
    let fresh = TestDatabase::create(Backend::Sqlite, "pages_new").await;
    let db = Db::connect(&fresh.url, &no_migrations())
        .await
        .expect("database");
    assert_eq!(page_sizes(&db).await.0, i64::from(SQLITE_PAGE_SIZE));
    db.close().await;

    // Created by an earlier version, with SQLite's default pages.
    let old = TestDatabase::create(Backend::Sqlite, "pages_old").await;
    let options: SqliteConnectOptions = old.url.parse().expect("url");
    let mut conn = options
        .create_if_missing(true)
        .connect()
        .await
        .expect("connect");
    conn.execute("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER PRIMARY KEY)")
        .await
        .expect("create");
    conn.close().await.expect("close");
    let db = Db::connect(&old.url, &no_migrations())
        .await
        .expect("database");
    assert_eq!(page_sizes(&db).await.0, 4096);
    db.close().await;
}
