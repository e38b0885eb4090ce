//! Telling writes from reads, and the handle's [`Db::writable`] on real
//! databases whose disk fills up.

use super::changes_data;

#[test]
fn writes_are_told_from_reads_by_their_first_word() {
    for sql in [
        "INSERT INTO t VALUES (1)",
        "  update t SET x = 1",
        "\n\tDELETE FROM t",
        "REPLACE INTO t VALUES (1)",
        "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE",
    ] {
        assert!(changes_data(sql), "{sql}");
    }
    for sql in [
        "SELECT 1",
        "select x from t for update",
        "PRAGMA wal_checkpoint(PASSIVE)",
        "INSERTED",
        "",
    ] {
        assert!(!changes_data(sql), "{sql}");
    }
}

#[cfg(feature = "testing")]
mod full_disk {
    use crate::{
        db::{Db, is_unavailable},
        testing::{Backend, SmallDisk},
        with_db,
    };

    /// Rows this big fill a 16 MiB disk in a few thousand inserts.
    const ROW: usize = 4096;
    /// More inserts than the disk can take once the filler is in.
    const TOO_MANY: i64 = 10_000;

    async fn insert(db: &Db) -> Result<(), sqlx::Error> {
        with_db!(db, write, |pool| {
            sqlx::query("INSERT INTO t (x) VALUES ($1)")
                .bind("x".repeat(ROW))
                .execute(pool)
                .await
                .map(drop)
        })
    }

    async fn insert_in_transaction(db: &Db) -> Result<(), sqlx::Error> {
        with_db!(db, write, |pool| {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO t (x) VALUES ($1)")
                    .bind("x".repeat(ROW))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await
        })
    }

    /// Inserts (in a transaction each, or not) until the storage refuses
    /// one: how many went through, and the error.
    async fn until_refused(db: &Db, in_transaction: bool) -> (i64, sqlx::Error) {
        for n in 0..TOO_MANY {
            let written = if in_transaction {
                insert_in_transaction(db).await
            } else {
                insert(db).await
            };
            if let Err(e) = written {
                return (n, e);
            }
            assert!(db.writable(), "a write went through");
        }
        panic!("{TOO_MANY} inserts went through on a full disk");
    }

    /// The rows committed, as a reader sees them.
    async fn committed(db: &Db) -> i64 {
        with_db!(db, read, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM t")
                .fetch_one(pool)
                .await
                .expect("count")
        })
    }

    /// What succeeds on a full disk but writes nothing: a read, a read on
    /// the writer, an UPDATE that matches nothing, a transaction that
    /// reads only. None of it may say that writes go through again.
    async fn succeed_without_writing(db: &Db) {
        let n: i64 = with_db!(db, read, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM t")
                .fetch_one(pool)
                .await
                .expect("read")
        });
        assert!(n > 0);
        with_db!(db, write, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM t")
                .fetch_optional(pool)
                .await
                .expect("read on the writer");
            sqlx::query("UPDATE t SET x = x WHERE x = 'none'")
                .execute(pool)
                .await
                .expect("an UPDATE of nothing");
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query("SELECT x FROM t LIMIT 1")
                .fetch_one(&mut *tx)
                .await
                .expect("read in a transaction");
            tx.commit().await.expect("commit");
        });
        db.ping().await.expect("ping");
    }

    async fn a_full_disk_makes_the_handle_unwritable_until_a_write_goes_through(backend: Backend) {
        let Some(disk) = SmallDisk::create(backend, "writable").await else {
            return;
        };
        let none = crate::testing::no_migrations();
        let db = Db::connect(&disk.url, &none).await.expect("database");
        with_db!(&db, write, |pool| {
            sqlx::query("CREATE TABLE t (x TEXT NOT NULL)")
                .execute(pool)
                .await
                .expect("create");
        });
        insert(&db).await.expect("a first row");
        let mut written = 1;
        let mut writable = db.watch_writable();
        assert!(*writable.borrow_and_update());

        // Statements on their own.
        disk.fill();
        let (n, e) = until_refused(&db, false).await;
        written += n;
        assert!(is_unavailable(&e), "{e:?}");
        assert!(!db.writable(), "after {e}");
        assert!(writable.has_changed().expect("open"));
        assert!(!*writable.borrow_and_update());
        succeed_without_writing(&db).await;
        assert!(!db.writable());
        disk.free();
        assert!(!db.writable(), "freeing space is not a write");
        insert_in_transaction(&db).await.expect("room again");
        written += 1;
        assert!(db.writable());
        assert!(*writable.borrow_and_update());
        assert_eq!(
            committed(&db).await,
            written,
            "every write answered OK is there"
        );

        // Transactions (refused at a statement or at the commit), then
        // transactions again once space is freed: every one answered OK
        // is committed (a refused commit must not leave the connection
        // in a transaction that never ends).
        disk.fill();
        let (n, e) = until_refused(&db, true).await;
        written += n;
        assert!(is_unavailable(&e), "{e:?}");
        assert!(!db.writable(), "after {e}");
        succeed_without_writing(&db).await;
        // (PostgreSQL may find room in a page an aborted row left.)
        let (n, e) = until_refused(&db, true).await;
        written += n;
        assert!(is_unavailable(&e), "{e:?}");
        assert!(!db.writable());
        disk.free();
        insert_in_transaction(&db).await.expect("room again");
        insert(&db).await.expect("room again");
        written += 2;
        assert!(db.writable());
        assert_eq!(
            committed(&db).await,
            written,
            "every write answered OK is there"
        );

        db.close().await;
    }

    crate::both_backends!(a_full_disk_makes_the_handle_unwritable_until_a_write_goes_through);
}
