//! A SQLite database is held by the process that opened it: another
//! process cannot open it meanwhile (and is told why), and can once it is
//! closed. Each side is this test binary: the test runs itself as the
//! other process.

use std::process::Command;

use crate::{
    db::{Db, DbError},
    testing::{Backend, TestDatabase, no_migrations},
};

/// Set in the other process: the database's URL.
const URL: &str = "SUPPORT_TEST_OTHER_PROCESS_URL";
/// Set in the other process: `in-use` when it must be refused.
const EXPECT: &str = "SUPPORT_TEST_OTHER_PROCESS_EXPECT";
const THIS_TEST: &str = "db::tests::one_process::another_process_cannot_open_a_database_in_use";

/// Runs this test as another process that opens `url`; whether it did as
/// `expect` says.
fn other_process(url: &str, expect: &str) -> bool {
    let test_binary = std::env::current_exe().expect("the test binary");
    Command::new(test_binary)
        .args(["--exact", THIS_TEST, "--test-threads", "1"])
        .env(URL, url)
        .env(EXPECT, expect)
        .status()
        .expect("the test binary runs")
        .success()
}

#[tokio::test]
async fn another_process_cannot_open_a_database_in_use() {
    if let Ok(url) = std::env::var(URL) {
        // The other process.
        let opened = Db::connect(&url, &no_migrations()).await;
        match std::env::var(EXPECT).as_deref() {
            Ok("in-use") => {
                let e = opened.expect_err("the file is held by the first process");
                assert!(matches!(e, DbError::InUse(_)), "{e}");
                assert!(e.to_string().contains("in use by another process"), "{e}");
            }
            _ => opened.expect("the first process closed it").close().await,
        }
        return;
    }
    let test_db = TestDatabase::create(Backend::Sqlite, "one_process").await;
    let db = Db::connect(&test_db.url, &no_migrations())
        .await
        .expect("open");
    crate::with_db!(&db, write, |pool| {
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(pool)
            .await
            .map(drop)
            .expect("create");
    });
    // Held while open, readers and all; another handle in this process
    // shares it.
    let again = Db::connect(&test_db.url, &no_migrations())
        .await
        .expect("a second handle in the same process");
    let rows: i64 = crate::with_db!(&again, read, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM t"
    )
    .fetch_one(pool)
    .await
    .expect("read"));
    assert_eq!(rows, 0);
    assert!(other_process(&test_db.url, "in-use"));
    again.close().await;
    db.close().await;
    assert!(other_process(&test_db.url, "opens"));
    test_db.cleanup().await;
}
