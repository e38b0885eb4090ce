//! How a test waits for something: poll for it with a deadline. A fixed
//! sleep would be too short on a loaded machine and too long everywhere
//! else.

use std::time::Duration;

/// How often [`eventually`] tries again.
const POLL: Duration = Duration::from_millis(20);

/// Tries `attempt` until it gives `Some`, and returns that; fails the test,
/// saying `what` did not happen, if that takes longer than `within` (a
/// slow attempt included).
pub async fn eventually<T>(
    what: &str,
    within: Duration,
    mut attempt: impl AsyncFnMut() -> Option<T>,
) -> T {
    let polling = async {
        loop {
            if let Some(done) = attempt().await {
                return done;
            }
            tokio::time::sleep(POLL).await;
        }
    };
    tokio::time::timeout(within, polling)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {within:?}"))
}

/// Waits until `condition` holds, as [`eventually`] does.
pub async fn wait_until(what: &str, within: Duration, mut condition: impl AsyncFnMut() -> bool) {
    eventually(what, within, async || condition().await.then_some(())).await;
}
