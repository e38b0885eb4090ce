//! The health service's statuses, kept following the service's readiness
//! (`crate::actuator::Readiness`): SERVING while it is `UP`, NOT_SERVING
//! while the database does not answer or refuses writes (when every call
//! that needs it fails UNAVAILABLE) and from the moment the service begins
//! to stop, so a balancer moves new calls elsewhere before the port closes.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::actuator::{ReadinessInputs, Status};

/// Sets the overall status (`""`) and `S`'s own to what `readiness` says
/// now, and returns the task that keeps them following it until `stop`.
pub(super) async fn follow<S: NamedService>(
    reporter: HealthReporter,
    mut readiness: watch::Receiver<ReadinessInputs>,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let now = readiness.borrow_and_update().status();
    set::<S>(&reporter, now).await;
    async move {
        loop {
            tokio::select! {
                // A change first: NOT_SERVING when draining begins is
                // published even if shutdown follows at once.
                biased;
                changed = readiness.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = stop.cancelled() => return,
            }
            let now = readiness.borrow_and_update().status();
            set::<S>(&reporter, now).await;
        }
    }
}

async fn set<S: NamedService>(reporter: &HealthReporter, readiness: Status) {
    let status = if readiness == Status::Up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for service in ["", S::NAME] {
        reporter.set_service_status(service, status).await;
    }
}

#[cfg(test)]
mod tests;
