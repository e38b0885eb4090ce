use tonic::{Request, server::NamedService};
use tonic_health::{
    pb::{HealthCheckRequest, health_check_response::ServingStatus, health_server::Health},
    server::{HealthReporter, HealthService},
};

use crate::{
    actuator::tests::{poll, sqlite},
    service::Running,
};

struct Named;

impl NamedService for Named {
    const NAME: &'static str = "test.Named";
}

async fn status(health: &HealthService, service: &str) -> ServingStatus {
    let request = Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    let answer = health.check(request).await.expect("a known service");
    answer.into_inner().status()
}

#[tokio::test]
async fn not_serving_from_the_moment_draining_begins() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut running = Running::new(sqlite(&dir).await);
    let reporter = HealthReporter::new();
    let health = HealthService::from_health_reporter(reporter.clone());
    let follow = super::follow::<Named>(
        reporter,
        running.readiness().subscribe(),
        running.shutdown(),
    )
    .await;
    running.spawn_background(follow);
    for service in ["", Named::NAME] {
        assert_eq!(status(&health, service).await, ServingStatus::Serving);
    }
    running.draining().cancel();
    for service in ["", Named::NAME] {
        poll("NOT_SERVING", async || {
            status(&health, service).await == ServingStatus::NotServing
        })
        .await;
    }
    running.stop().await.expect("stops");
}
