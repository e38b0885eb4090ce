//! Order events across replicas, on PostgreSQL: every replica sends its
//! order events through `pg_notify` and publishes what it hears on `LISTEN`
//! to its own STOMP clients, so a browser sees every order whichever replica
//! placed it. (On SQLite there is one instance and events stay local.)
//!
//! Publishing stays non-blocking: events go into a bounded queue that one
//! task turns into NOTIFYs. If the queue is full or the database refuses,
//! the event is published locally instead, so this replica's clients still
//! get it. Events sent while a listener is reconnecting are lost to that
//! replica's clients; the page reloads its list whenever it reconnects.

use std::sync::Arc;

use bytes::Bytes;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{ORDERS_TOPIC, Publish};

/// The notification channel.
const CHANNEL: &str = "order_events";
/// Events waiting to be sent as NOTIFY.
const QUEUE: usize = 4096;

/// Routes `/topic/orders` through PostgreSQL, everything else straight to
/// this replica's own sink.
pub(crate) struct PgBus {
    local: Arc<dyn Publish>,
    outbox: mpsc::Sender<Bytes>,
}

impl PgBus {
    /// Starts LISTENing, then the notifier and the listener tasks; both
    /// end at `shutdown`. What this replica hears goes to `local` (its STOMP
    /// broker). Returns once LISTEN is in place, so no event published after
    /// start-up is missed by this replica's clients.
    pub(crate) async fn start(
        pool: PgPool,
        local: Arc<dyn Publish>,
        shutdown: CancellationToken,
    ) -> Result<Self, sqlx::Error> {
        let listener = subscribe(&pool).await?;
        let (outbox, rx) = mpsc::channel(QUEUE);
        tokio::spawn(notify(pool.clone(), local.clone(), rx, shutdown.clone()));
        tokio::spawn(listen(pool, listener, local.clone(), shutdown));
        Ok(Self { local, outbox })
    }
}

impl Publish for PgBus {
    fn publish(&self, destination: &str, body: Bytes) {
        if destination != ORDERS_TOPIC {
            return self.local.publish(destination, body);
        }
        if let Err(e) = self.outbox.try_send(body) {
            tracing::warn!("order event queue full; publishing locally only");
            self.local.publish(destination, e.into_inner());
        }
    }
}

async fn notify(
    pool: PgPool,
    local: Arc<dyn Publish>,
    mut rx: mpsc::Receiver<Bytes>,
    shutdown: CancellationToken,
) {
    loop {
        let body = tokio::select! {
            () = shutdown.cancelled() => return,
            body = rx.recv() => match body { Some(b) => b, None => return },
        };
        let payload = String::from_utf8_lossy(&body).into_owned();
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "NOTIFY failed; publishing the order event locally");
            local.publish(ORDERS_TOPIC, body);
        }
    }
}

/// A connection LISTENing on [`CHANNEL`].
async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn listen(
    pool: PgPool,
    mut listener: PgListener,
    local: Arc<dyn Publish>,
    shutdown: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            n = listener.recv() => n,
        };
        match next {
            Ok(n) => local.publish(ORDERS_TOPIC, Bytes::from(n.payload().to_owned())),
            Err(e) => {
                tracing::warn!(error = %e, "order event listener lost its connection; reconnecting");
                listener = loop {
                    match subscribe(&pool).await {
                        Ok(l) => break l,
                        Err(e) => tracing::warn!(error = %e, "cannot LISTEN for order events yet"),
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                };
            }
        }
    }
}
