use super::fit;

#[test]
fn caps_fit_under_the_open_file_limit() {
    assert_eq!(fit([4096, 16_384, 1024], 1_048_576), [4096, 16_384, 1024]);
    let fitted = fit([4096, 16_384, 1024], 1100);
    assert!(fitted.iter().sum::<usize>() <= 1100 - 256, "{fitted:?}");
    assert!(fitted.iter().all(|&c| c >= 1), "{fitted:?}");
    assert_eq!(fit([10, 10], 0), [1, 1]);
}

/// Stopping, against a real (SQLite) database.
#[cfg(feature = "testing")]
mod stopping {
    use std::time::Duration;

    use sqlx::migrate::Migrator;
    use tokio::sync::oneshot;

    use super::super::{Running, ShutdownSettings};
    use crate::{
        db::{Db, Migrations},
        testing::{Backend, TestDatabase},
    };

    async fn database() -> (TestDatabase, Db) {
        let test_db = TestDatabase::create(Backend::Sqlite, "stopping").await;
        let none = Migrations {
            sqlite: Migrator::DEFAULT,
            postgres: Migrator::DEFAULT,
        };
        let db = Db::connect(&test_db.url, &none).await.expect("connect");
        (test_db, db)
    }

    #[tokio::test]
    async fn work_that_outlived_its_request_finishes_before_the_database_closes() {
        let (test_db, db) = database().await;
        let running = Running::new(db.clone(), ShutdownSettings::default());
        // A batch whose caller has gone: it still has a statement to run.
        let (release, gate) = oneshot::channel::<()>();
        let detached = running.tracker().spawn(async move {
            gate.await.expect("released");
            db.ping().await
        });
        let mut stopped = tokio::spawn(running.stop());
        // Stopping never ends while the batch is pending, so waiting here
        // cannot fail a correct build; without the wait, stop closes the
        // database and returns within milliseconds. The timeout is what is
        // tested: nothing to poll for stands for "not yet".
        let early = tokio::time::timeout(Duration::from_millis(500), &mut stopped).await;
        assert!(early.is_err(), "stop returned with the batch still to run");
        release.send(()).expect("the batch waits");
        detached
            .await
            .expect("the batch ran")
            .expect("the database was still open");
        stopped.await.expect("joined").expect("stopped cleanly");
        test_db.cleanup().await;
    }
}
