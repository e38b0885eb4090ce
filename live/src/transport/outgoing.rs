//! A connection's queue towards its client, bounded in bytes.
//!
//! A count of messages says little about memory (a heart-beat is one byte,
//! a replayed order a few hundred), so the queue also counts the bytes it
//! holds: each message's allocated capacity, what it really costs, which
//! can be a little more than its length. A message that would take it past its budget is refused and the
//! queue is marked overflowed: the client is not reading, and the
//! transport drops it at once rather than wait for its writes to time out.
//! Whoever fills the queue at its own pace (a replay) can instead wait for
//! room ([`Outgoing::room`]).
//!
//! The count is kept beside a tokio channel by its one sender and its one
//! receiver; the receiver wakes a waiting sender each time it takes a
//! message.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// What both ends of one queue share.
#[derive(Debug)]
struct Budget {
    /// Bytes of the messages in the channel.
    queued: AtomicUsize,
    /// The most bytes it may hold.
    limit: usize,
    /// Signalled by the receiver after each message it takes.
    room: Notify,
    /// Cancelled when a message was refused for want of room.
    overflowed: CancellationToken,
}

/// The sending end, the application's.
#[derive(Debug)]
pub(crate) struct Outgoing {
    tx: mpsc::Sender<String>,
    budget: Arc<Budget>,
}

/// The receiving end, the transport's writer's.
#[derive(Debug)]
pub(crate) struct Queued {
    rx: mpsc::Receiver<String>,
    budget: Arc<Budget>,
}

/// Why a message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// It would take the queue past its byte budget: the client is too slow.
    Overflow,
    /// The message count stayed at its limit for the whole timeout.
    Timeout,
    /// The connection is gone.
    Closed,
}

/// A queue of at most `messages` messages and `bytes` bytes (one message
/// larger than `bytes` still goes through an empty queue, so no single
/// message can be undeliverable).
pub(crate) fn channel(messages: usize, bytes: usize) -> (Outgoing, Queued) {
    let (tx, rx) = mpsc::channel(messages);
    let budget = Arc::new(Budget {
        queued: AtomicUsize::new(0),
        limit: bytes,
        room: Notify::new(),
        overflowed: CancellationToken::new(),
    });
    (
        Outgoing {
            tx,
            budget: budget.clone(),
        },
        Queued { rx, budget },
    )
}

impl Outgoing {
    /// Queues `text` if it fits the byte budget (an overflow marks the
    /// queue overflowed and fails at once), waiting at most `timeout` for
    /// the message count to leave room.
    pub(crate) async fn send(&self, text: String, timeout: Duration) -> Result<(), Refused> {
        let len = self.reserve(text.capacity())?;
        match self.tx.send_timeout(text, timeout).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.budget.queued.fetch_sub(len, Ordering::AcqRel);
                Err(match e {
                    mpsc::error::SendTimeoutError::Timeout(_) => Refused::Timeout,
                    mpsc::error::SendTimeoutError::Closed(_) => Refused::Closed,
                })
            }
        }
    }

    /// [`Outgoing::send`] without waiting: a full message count is
    /// [`Refused::Timeout`].
    pub(crate) fn try_send(&self, text: String) -> Result<(), Refused> {
        let len = self.reserve(text.capacity())?;
        self.tx.try_send(text).map_err(|e| {
            self.budget.queued.fetch_sub(len, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => Refused::Timeout,
                mpsc::error::TrySendError::Closed(_) => Refused::Closed,
            }
        })
    }

    /// Counts `len` more bytes, or refuses them.
    fn reserve(&self, len: usize) -> Result<usize, Refused> {
        if self.budget.overflowed.is_cancelled() {
            return Err(Refused::Overflow);
        }
        let before = self.budget.queued.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.budget.limit {
            self.budget.queued.fetch_sub(len, Ordering::AcqRel);
            self.budget.overflowed.cancel();
            return Err(Refused::Overflow);
        }
        Ok(len)
    }

    /// Bytes queued now.
    pub(crate) fn queued(&self) -> usize {
        self.budget.queued.load(Ordering::Acquire)
    }

    /// The byte budget.
    pub(crate) fn limit(&self) -> usize {
        self.budget.limit
    }

    /// Whether the client has gone (the receiving end was dropped).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits until at most `bytes` are queued (for a sender that paces
    /// itself by what the client has read), or the connection is gone (the
    /// next send then says so).
    pub(crate) async fn room(&self, bytes: usize) {
        loop {
            // Armed before the check: a message taken in between leaves a
            // permit, so the wake-up is not lost.
            let taken = self.budget.room.notified();
            if self.tx.is_closed() || self.queued() <= bytes {
                return;
            }
            taken.await;
        }
    }
}

impl Queued {
    /// The next message, or `None` once the sender is dropped and the
    /// queue is empty.
    pub(crate) async fn recv(&mut self) -> Option<String> {
        let message = self.rx.recv().await?;
        Some(self.taken(message))
    }

    /// The next message if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<String> {
        let message = self.rx.try_recv().ok()?;
        Some(self.taken(message))
    }

    fn taken(&self, message: String) -> String {
        self.budget
            .queued
            .fetch_sub(message.capacity(), Ordering::AcqRel);
        // One waiter at most (the session); a permit left when none waits
        // only costs it one more check.
        self.budget.room.notify_one();
        message
    }

    /// A token cancelled when a message is refused for want of room (the
    /// client stopped reading: drop the connection), to watch while the
    /// queue is borrowed, or by whoever does not hold it.
    pub(crate) fn overflow(&self) -> CancellationToken {
        self.budget.overflowed.clone()
    }

    /// The byte budget.
    pub(crate) fn limit(&self) -> usize {
        self.budget.limit
    }

    /// Bytes queued now.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.budget.queued.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests;
