//! `WatchStock`: every committed stock change, in log order, to every
//! watcher, whichever replica made it.
//!
//! One relay per process reads the stock log (see `support::event_log`)
//! and broadcasts each change with its seq. A watcher first catches up from
//! the log itself (a snapshot, or the changes after the seq it resumes
//! from), then follows the broadcast, skipping what it already sent. A
//! watcher that falls behind the broadcast, or sees a gap, goes back to the
//! log for what it missed, so it never skips a change and never sends one
//! twice; only when the log no longer has them does it send a fresh
//! snapshot.

use std::sync::Arc;

use proto::StockChange as PbStockChange;
use support::{
    budget::{Budget, Claim, Refused},
    event_log::{Wake, relay},
};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::{
    domain::StockChange,
    error::{Error, Result},
    store::Store,
};

/// Changes buffered for a watcher before it must catch up from the log.
const CAPACITY: usize = 1024;

/// A change and its place in the log.
#[derive(Debug)]
struct Logged {
    seq: i64,
    change: StockChange,
}

/// The relay's broadcast, the store watchers catch up from, and the
/// budget of open watches. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct StockWatch {
    store: Store,
    tx: broadcast::Sender<Arc<Logged>>,
    watchers: Budget,
}

impl StockWatch {
    /// A watch over `store`'s log, with at most `watchers`' seats of
    /// watchers at once; [`StockWatch::relay`] feeds it.
    pub(crate) fn new(store: Store, watchers: Budget) -> Self {
        Self {
            store,
            tx: broadcast::channel(CAPACITY).0,
            watchers,
        }
    }

    /// The relay, ready to run: it publishes every change committed after
    /// this call, until `shutdown`.
    pub(crate) async fn relay(
        &self,
        wake: Wake,
        shutdown: CancellationToken,
    ) -> Result<impl Future<Output = ()> + use<>> {
        let start = self.store.log_bounds().await?.last;
        let (store, tx) = (self.store.clone(), self.tx.clone());
        Ok(relay::run(
            start,
            move |after, limit| {
                let store = store.clone();
                async move { store.changes_after(after, limit).await }
            },
            move |seq, change| {
                // An error only means nobody is watching.
                let _ = tx.send(Arc::new(Logged { seq, change }));
            },
            wake,
            shutdown,
        ))
    }

    /// Starts feeding one watcher, `claim`ed by its client, into `out`,
    /// resuming after `from_seq` when the log still reaches back that far;
    /// refused when the client or everyone holds all the seats.
    pub(crate) fn watch(
        &self,
        claim: Claim,
        from_seq: Option<i64>,
        out: mpsc::Sender<Result<PbStockChange, Status>>,
        shutdown: CancellationToken,
    ) -> Result<(), Refused> {
        // A watch is a stream in use: never shed for another client.
        let seat = self.watchers.enter_fixed(claim)?;
        // Subscribed before the log is read, so every change is in one or
        // the other.
        let live = self.tx.subscribe();
        let store = self.store.clone();
        tokio::spawn(async move {
            let _seat = seat;
            let mut watcher = Watcher {
                store,
                out: out.clone(),
            };
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = out.closed() => {}
                end = watcher.feed(from_seq, live) => {
                    if let Err(End::Failed(e)) = end {
                        let _ = out.send(Err(e.into())).await;
                    }
                }
            }
        });
        Ok(())
    }
}

/// One watcher's task.
struct Watcher {
    store: Store,
    out: mpsc::Sender<Result<PbStockChange, Status>>,
}

/// Why a watcher's feed ends.
enum End {
    /// The watcher went away.
    Gone,
    /// The log could not be read; the watcher is told.
    Failed(Error),
}

impl From<Error> for End {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

impl Watcher {
    /// Feeds until the watcher goes away or the log cannot be read.
    async fn feed(
        &mut self,
        from_seq: Option<i64>,
        mut live: broadcast::Receiver<Arc<Logged>>,
    ) -> Result<(), End> {
        let mut last = match from_seq {
            Some(seq) if self.store.log_bounds().await?.can_resume_after(seq) => seq,
            _ => self.snapshot().await?,
        };
        loop {
            self.catch_up(&mut last).await?;
            // Live, until a gap or a lag sends us back to the log.
            loop {
                match live.recv().await {
                    Ok(logged) if logged.seq <= last => {}
                    Ok(logged) if logged.seq == last + 1 => {
                        self.send(&logged.change, logged.seq, false).await?;
                        last = logged.seq;
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return Err(End::Gone),
                }
            }
        }
    }

    /// Sends everything the log holds after `last`; a fresh snapshot when
    /// what follows `last` was pruned meanwhile.
    async fn catch_up(&mut self, last: &mut i64) -> Result<(), End> {
        loop {
            let rows = self.store.changes_after(*last, relay::BATCH).await?;
            if rows.first().is_some_and(|(seq, _)| *seq != *last + 1) {
                *last = self.snapshot().await?;
                continue;
            }
            let full = rows.len() as i64 == relay::BATCH;
            for (seq, change) in rows {
                self.send(&change, seq, false).await?;
                *last = seq;
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Sends every product's state; returns the log position it reflects.
    async fn snapshot(&mut self) -> Result<i64, End> {
        let (seq, products) = self.store.snapshot().await?;
        for change in &products {
            self.send(change, seq, true).await?;
        }
        Ok(seq)
    }

    async fn send(&self, change: &StockChange, seq: i64, snapshot: bool) -> Result<(), End> {
        let pb = PbStockChange {
            product: change.product.clone(),
            stock_quantity: i32::try_from(change.stock).unwrap_or(i32::MAX),
            version: change.version,
            seq,
            snapshot,
        };
        self.out.send(Ok(pb)).await.map_err(|_| End::Gone)
    }
}
