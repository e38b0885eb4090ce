//! Resuming subscriptions: the replay of what a `SUBSCRIBE` with
//! `from-seq` missed, page by page from the broker's history, before live
//! delivery goes on (see the module above for why nothing is missed or
//! repeated).
//!
//! A replay goes at the pace the client reads, so a client that stops
//! reading holds little: it never fills more than [`REPLAY_SHARE`] of the
//! connection's byte budget (it waits for room, it is not dropped), a page
//! is read from the history only once half of that share is free, and only
//! as many events as fit in the free room; events are encoded one at a
//! time as they are queued. The rest of the budget stays free for what may
//! come meanwhile (receipts, heart-beats) and for the live events that
//! follow the replay.

use std::collections::VecDeque;

use futures::future::BoxFuture;

use super::{
    End, Session, frame,
    frame::{Frame, Version},
};
use crate::{
    error::Result,
    events::{Replay, Retained},
    transport::outgoing::Outgoing,
};

/// Most events fetched from the history per read (fewer when the client's
/// queue has less room for them).
pub(super) const REPLAY_PAGE: usize = 256;
/// Most events one resuming subscription is replayed; a client further
/// behind is told to resync, since reloading costs it (and us) less.
pub(super) const MAX_REPLAY: u64 = 10_000;
/// Most events one session is replayed, all its subscriptions together;
/// beyond it each resuming subscription is told to resync. A page resumes
/// two topics, so two full replays; without it one connection could ask
/// for 32 subscriptions × [`MAX_REPLAY`].
pub(super) const MAX_SESSION_REPLAY: u64 = 2 * MAX_REPLAY;
/// A replay fills at most the connection's byte budget divided by this.
const REPLAY_SHARE: usize = 2;
/// What a replayed MESSAGE is assumed to weigh until the session has sent
/// some (an order event with its headers and trace id: ~300 bytes), to
/// size the first page by the room it has.
const FIRST_GUESS_MESSAGE_BYTES: usize = 320;

/// The replay under way for one resuming subscription.
pub(super) struct Fetch {
    pub(super) subscription: String,
    step: Step,
}

/// Where a replay is.
enum Step {
    /// Waiting for the client to read before the next page is read.
    Room,
    /// A page being read, of at most `asked` events.
    Reading {
        page: BoxFuture<'static, Result<Replay>>,
        asked: usize,
    },
    /// A page's events, queued as the client makes room: `pending` is the
    /// next message, encoded but waiting for room; `then` what follows
    /// the page.
    Sending {
        events: VecDeque<Retained>,
        pending: Option<String>,
        then: Then,
    },
}

/// What follows a page.
#[derive(Clone, Copy)]
enum Then {
    /// The next page.
    More,
    /// Nothing: the page reached the end of the history.
    Complete,
    /// `resync: required`: the history holds more than the replay may send.
    Resync,
}

/// What the replay under way waited for.
pub(super) enum Ready {
    /// The client made room.
    Room,
    /// A page of history was read; `asked` is how many events were asked for.
    Page(Result<Replay>, usize),
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

/// The bytes a replay may have queued on `outgoing`.
fn share(outgoing: &Outgoing) -> usize {
    outgoing.limit() / REPLAY_SHARE
}

impl Session {
    /// Queues the replay of subscription `id`, which was just added.
    pub(super) fn resume(&mut self, id: &str) {
        self.replays.push_back(id.to_owned());
        if self.fetch.is_none() {
            self.next_replay();
        }
    }

    /// Starts the next waiting replay, if any: it reads its first page once
    /// there is room.
    pub(super) fn next_replay(&mut self) {
        self.fetch = None;
        while let Some(id) = self.replays.pop_front() {
            if self.subscriptions.contains_key(&id) {
                self.fetch = Some(Fetch {
                    subscription: id,
                    step: Step::Room,
                });
                return;
            }
        }
    }

    /// Goes on with the replay under way after what it waited for.
    pub(super) async fn replay(&mut self, ready: Ready) -> Option<End> {
        if let Ready::Page(page, asked) = ready
            && let Err(end) = self.page_read(page, asked)
        {
            return Some(end);
        }
        self.pump().await
    }

    /// Takes in a page just read: its events to send, then a resync when
    /// the history holds more than the replay may send. `Err` ends the
    /// session.
    fn page_read(&mut self, page: Result<Replay>, asked: usize) -> Result<(), End> {
        let page = page.map_err(|e| {
            tracing::warn!(error = %e, "cannot read the event history for a resuming client");
            End::Error(
                "history unavailable".into(),
                "the events to resume from cannot be read now; reconnect to retry".into(),
            )
        })?;
        let Some(fetch) = self.fetch.as_mut() else {
            return Ok(());
        };
        // A subscription dropped meanwhile is skipped by `pump`.
        let Some(sub) = self.subscriptions.get(&fetch.subscription) else {
            return Ok(());
        };
        let allowance = (MAX_REPLAY - sub.replayed).min(MAX_SESSION_REPLAY - self.replayed);
        let allowance = usize::try_from(allowance).unwrap_or(usize::MAX);
        let (events, then) = match page {
            // Up to the bound, then the resync.
            Replay::Events(mut events) if events.len() > allowance => {
                events.truncate(allowance);
                (events, Then::Resync)
            }
            Replay::Events(events) if events.len() < asked => (events, Then::Complete),
            Replay::Events(events) => (events, Then::More),
            Replay::Resync => (Vec::new(), Then::Resync),
        };
        fetch.step = Step::Sending {
            events: events.into(),
            pending: None,
            then,
        };
        Ok(())
    }

    /// Tells the subscription of the replay under way that it must reload
    /// (it goes live from here), and moves on to the next replay.
    async fn resync(&mut self) -> Option<End> {
        let fetch = self.fetch.as_mut()?;
        if let Some(sub) = self.subscriptions.get_mut(&fetch.subscription) {
            sub.delivered = None;
            self.sent += 1;
            let resync = Frame::new("MESSAGE")
                .header("destination", sub.destination.clone())
                .header("subscription", fetch.subscription.clone())
                .header("message-id", format!("{}-{}", self.id, self.sent))
                .header("resync", "required");
            if !self.send_frame(resync).await {
                return Some(End::Quietly);
            }
        }
        self.next_replay();
        None
    }

    /// Queues what fits of the replay under way, then reads the next page
    /// if there is room, or moves on to the next replay when this one is
    /// complete.
    async fn pump(&mut self) -> Option<End> {
        let share = share(&self.conn.outgoing);
        loop {
            if self.conn.outgoing.is_closed() {
                // Nothing will make room any more.
                return Some(End::Quietly);
            }
            let fetch = self.fetch.as_mut()?;
            let Some(sub) = self.subscriptions.get_mut(&fetch.subscription) else {
                self.next_replay();
                continue;
            };
            match &mut fetch.step {
                Step::Reading { .. } => return None,
                Step::Room => {
                    let queued = self.conn.outgoing.queued();
                    if queued > share / 2 {
                        return None;
                    }
                    let allowance =
                        (MAX_REPLAY - sub.replayed).min(MAX_SESSION_REPLAY - self.replayed);
                    let weight = self
                        .replayed_bytes
                        .checked_div(self.replayed_messages)
                        .map_or(FIRST_GUESS_MESSAGE_BYTES, |w| w.max(1));
                    // One more than allowed, to tell whether there is more.
                    let asked = ((share - queued) / weight).clamp(1, REPLAY_PAGE).min(
                        usize::try_from(allowance)
                            .unwrap_or(usize::MAX)
                            .saturating_add(1),
                    );
                    let after = sub.delivered.unwrap_or(0);
                    let page = match self.broker.history() {
                        Some(history) => history.after(&sub.destination, after, asked),
                        None => Box::pin(async { Ok(Replay::Resync) }),
                    };
                    fetch.step = Step::Reading { page, asked };
                    return None;
                }
                Step::Sending {
                    events,
                    pending,
                    then,
                } => {
                    let message = match pending.take() {
                        Some(message) => message,
                        None => match events.pop_front() {
                            Some(event) => {
                                self.sent += 1;
                                sub.replayed += 1;
                                self.replayed += 1;
                                sub.delivered = Some(event.seq);
                                frame::encode_message(
                                    &sub.destination,
                                    &fetch.subscription,
                                    (&self.id, self.sent),
                                    (Some(event.seq), event.trace_id.as_deref()),
                                    &String::from_utf8_lossy(&event.body),
                                    self.version.unwrap_or(Version::V1_2),
                                )
                            }
                            None => match *then {
                                Then::More => {
                                    fetch.step = Step::Room;
                                    continue;
                                }
                                Then::Complete => {
                                    self.next_replay();
                                    continue;
                                }
                                Then::Resync => {
                                    if let Some(end) = self.resync().await {
                                        return Some(end);
                                    }
                                    continue;
                                }
                            },
                        },
                    };
                    let queued = self.conn.outgoing.queued();
                    if queued > 0 && queued + message.capacity() > share {
                        *pending = Some(message);
                        return None;
                    }
                    self.replayed_bytes += message.capacity();
                    self.replayed_messages += 1;
                    if !self.send(message).await {
                        return Some(End::Quietly);
                    }
                }
            }
        }
    }
}

/// What the replay under way waits for next: a page being read, or room in
/// the client's queue; never when there is no replay.
pub(super) async fn next_step(fetch: &mut Option<Fetch>, outgoing: &Outgoing) -> Ready {
    let share = share(outgoing);
    match fetch.as_mut().map(|f| &mut f.step) {
        Some(Step::Reading { page, asked }) => {
            let asked = *asked;
            Ready::Page(page.as_mut().await, asked)
        }
        Some(Step::Room) => {
            outgoing.room(share / 2).await;
            Ready::Room
        }
        Some(Step::Sending {
            pending: Some(message),
            ..
        }) => {
            outgoing
                .room(share.saturating_sub(message.capacity()))
                .await;
            Ready::Room
        }
        // Nothing to wait for: go on at once.
        Some(Step::Sending { pending: None, .. }) => Ready::Room,
        None => std::future::pending().await,
    }
}
