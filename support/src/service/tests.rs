use super::{fit, start_up};

#[test]
fn caps_fit_under_the_open_file_limit() {
    assert_eq!(fit([4096, 16_384, 1024], 1_048_576), [4096, 16_384, 1024]);
    let fitted = fit([4096, 16_384, 1024], 1100);
    assert!(fitted.iter().sum::<usize>() <= 1100 - 256, "{fitted:?}");
    assert!(fitted.iter().all(|&c| c >= 1), "{fitted:?}");
    assert_eq!(fit([10, 10], 0), [1, 1]);
}

#[test]
fn start_up_runs_on_a_thread_that_ends_and_its_tasks_run_on() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let main = std::thread::current().id();
    let (thread, name, later) = start_up(&runtime, || async {
        let (tx, later) = tokio::sync::oneshot::channel();
        // Still running when the start-up thread has ended.
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let _ = tx.send(std::thread::current().id());
        });
        let current = std::thread::current();
        Ok((current.id(), current.name().map(str::to_owned), later))
    })
    .expect("started");
    assert_ne!(thread, main);
    assert_eq!(name.as_deref(), Some("start-up"));
    let worker = runtime.block_on(later).expect("the task ran to its end");
    assert_ne!(worker, thread);
}

#[test]
fn start_up_passes_on_its_error_and_its_panic() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let failed = start_up(&runtime, || async {
        anyhow::Result::<()>::Err(anyhow::anyhow!("no database"))
    });
    assert_eq!(failed.expect_err("failed").to_string(), "no database");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        start_up::<(), _>(&runtime, || async { panic!("start-up broke") })
    }));
    let panic = panicked.expect_err("the panic reached the caller");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"start-up broke"));
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
