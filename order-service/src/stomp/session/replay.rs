//! Resuming subscriptions: the replay of what a `SUBSCRIBE` with
//! `from-seq` missed, page by page from the broker's history, before live
//! delivery goes on (see the module above for why nothing is missed or
//! repeated).

use futures::future::BoxFuture;

use super::{
    End, Session, frame,
    frame::{Frame, Version},
};
use crate::{error::Result, events::Replay};

/// Events fetched from the history per read.
pub(super) const REPLAY_PAGE: usize = 256;
/// Most events one resuming subscription is replayed; a client further
/// behind is told to resync, since reloading costs it (and us) less.
pub(super) const MAX_REPLAY: u64 = 10_000;

/// A page of history being read for a resuming subscription.
pub(super) struct Fetch {
    pub(super) subscription: String,
    page: BoxFuture<'static, Result<Replay>>,
}

/// The `from-seq` of a SUBSCRIBE, if any; an ERROR for anything but a
/// seq.
pub(super) fn from_seq(f: &Frame) -> Result<Option<i64>, End> {
    match f.get("from-seq").map(str::parse::<i64>) {
        None => Ok(None),
        Some(Ok(seq)) if seq >= 0 => Ok(Some(seq)),
        Some(_) => Err(End::Error(
            "invalid from-seq".into(),
            "from-seq must be the seq header of a message received earlier".into(),
        )),
    }
}

impl Session {
    /// Queues the replay of subscription `id`, which was just added.
    pub(super) fn resume(&mut self, id: &str) {
        self.replays.push_back(id.to_owned());
        if self.fetch.is_none() {
            self.next_replay();
        }
    }

    /// Starts reading the next waiting replay's first page, if any.
    pub(super) fn next_replay(&mut self) {
        while let Some(id) = self.replays.pop_front() {
            if let Some(sub) = self.subscriptions.get(&id) {
                let after = sub.delivered.unwrap_or(0);
                self.fetch = Some(Fetch {
                    page: self.read_history(&sub.destination, after),
                    subscription: id,
                });
                return;
            }
        }
    }

    fn read_history(&self, destination: &str, after: i64) -> BoxFuture<'static, Result<Replay>> {
        match self.broker.history() {
            Some(history) => history.after(destination, after, REPLAY_PAGE),
            None => Box::pin(async { Ok(Replay::Resync) }),
        }
    }

    /// Sends a page of history; reads the next one, or moves on to the
    /// next replay when this one is complete.
    pub(super) async fn replay(&mut self, page: (String, Result<Replay>)) -> Option<End> {
        let (id, page) = page;
        self.fetch = None;
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the event history for a resuming client");
                return Some(End::Error(
                    "history unavailable".into(),
                    "the events to resume from cannot be read now; reconnect to retry".into(),
                ));
            }
        };
        let version = self.version.unwrap_or(Version::V1_2);
        let Some(sub) = self.subscriptions.get_mut(&id) else {
            self.next_replay();
            return None;
        };
        let events = match page {
            Replay::Events(events) if sub.replayed + (events.len() as u64) <= MAX_REPLAY => events,
            Replay::Events(_) | Replay::Resync => {
                sub.delivered = None;
                self.sent += 1;
                let resync = Frame::new("MESSAGE")
                    .header("destination", sub.destination.clone())
                    .header("subscription", id.clone())
                    .header("message-id", format!("{}-{}", self.id, self.sent))
                    .header("resync", "required");
                if !self.send_frame(resync).await {
                    return Some(End::Quietly);
                }
                self.next_replay();
                return None;
            }
        };
        let complete = events.len() < REPLAY_PAGE;
        sub.replayed += events.len() as u64;
        let mut messages = Vec::with_capacity(events.len());
        for event in &events {
            self.sent += 1;
            messages.push(frame::encode_message(
                &sub.destination,
                &id,
                (&self.id, self.sent),
                (Some(event.seq), event.trace_id.as_deref()),
                &String::from_utf8_lossy(&event.body),
                version,
            ));
            sub.delivered = Some(event.seq);
        }
        let (destination, after) = (sub.destination.clone(), sub.delivered.unwrap_or(0));
        for message in messages {
            if !self.send(message).await {
                return Some(End::Quietly);
            }
        }
        if complete {
            self.next_replay();
        } else {
            self.fetch = Some(Fetch {
                page: self.read_history(&destination, after),
                subscription: id,
            });
        }
        None
    }
}

/// The next page of the replay under way, or never when there is none.
pub(super) async fn next_page(fetch: &mut Option<Fetch>) -> (String, Result<Replay>) {
    match fetch {
        Some(f) => {
            let page = f.page.as_mut().await;
            (f.subscription.clone(), page)
        }
        None => std::future::pending().await,
    }
}
