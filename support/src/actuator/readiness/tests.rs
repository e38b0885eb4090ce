use super::State;
use crate::{
    actuator::{
        Status,
        tests::{PATIENCE, sqlite},
    },
    service::Running,
};

async fn until(readiness: &super::Readiness, wanted: Status) {
    let mut states = readiness.subscribe();
    tokio::time::timeout(PATIENCE, states.wait_for(|s| s.status() == wanted))
        .await
        .unwrap_or_else(|_| panic!("readiness not {wanted:?} within {PATIENCE:?}"))
        .expect("readiness followed");
}

#[tokio::test]
async fn out_of_service_from_the_moment_draining_begins() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let running = Running::new(sqlite(&dir).await);
    let readiness = running.readiness();
    assert_eq!(readiness.state().status(), Status::Up);
    // What `Running::stop` does first, before the listeners close.
    running.draining().cancel();
    until(&readiness, Status::OutOfService).await;
    assert_eq!(readiness.state().readiness_state(), Status::OutOfService);
    assert_eq!(readiness.state().db(), Status::Up);
    running.stop().await.expect("stops");
    assert_eq!(readiness.state().status(), Status::OutOfService);
}

#[tokio::test]
async fn down_when_the_database_stops_answering() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = sqlite(&dir).await;
    let running = Running::new(db.clone());
    let readiness = running.readiness();
    assert_eq!(readiness.state().status(), Status::Up);
    // A closed pool answers nothing, as a database that went away: only
    // the periodic probe can notice, no statement of the service runs.
    db.close().await;
    until(&readiness, Status::Down).await;
    assert!(!readiness.state().db_answers);
    running.stop().await.expect("stops");
}

#[test]
fn the_database_down_outranks_draining() {
    let state = |draining, db_answers, db_writable| State {
        draining,
        db_answers,
        db_writable,
    };
    assert_eq!(state(false, true, true).status(), Status::Up);
    assert_eq!(state(true, true, true).status(), Status::OutOfService);
    assert_eq!(state(false, false, true).status(), Status::Down);
    assert_eq!(state(false, true, false).status(), Status::Down);
    assert_eq!(state(true, false, true).status(), Status::Down);
}
