//! The health service's statuses, kept saying whether the service's
//! database takes writes.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic_health::{ServingStatus, server::HealthReporter};

/// Sets the overall status (`""`) and `S`'s own to what `writable` says
/// now (SERVING, or NOT_SERVING while the storage refuses writes, when
/// every call that writes fails UNAVAILABLE), and returns the task that
/// keeps them following it until `stop`.
pub(super) async fn follow_writable<S: NamedService>(
    reporter: HealthReporter,
    mut writable: watch::Receiver<bool>,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let now = *writable.borrow_and_update();
    set::<S>(&reporter, now).await;
    async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                changed = writable.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            let now = *writable.borrow_and_update();
            set::<S>(&reporter, now).await;
        }
    }
}

async fn set<S: NamedService>(reporter: &HealthReporter, writable: bool) {
    let status = if writable {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for service in ["", S::NAME] {
        reporter.set_service_status(service, status).await;
    }
}
