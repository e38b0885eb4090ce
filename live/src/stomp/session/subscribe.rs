//! SUBSCRIBE and UNSUBSCRIBE: the session's subscriptions and their limits.

use super::{
    End, Session, Subscription,
    frame::{Frame, Version},
    replay,
};

impl Session {
    /// Adds a subscription (resuming it when it says `from-seq`); `Some`
    /// ends the session with the reason the frame was refused.
    pub(super) fn subscribe(&mut self, f: &Frame, version: Version) -> Option<End> {
        let Some(destination) = f.get("destination") else {
            return Some(End::Error(
                "missing destination".into(),
                "SUBSCRIBE needs a destination".into(),
            ));
        };
        let id = match (f.get("id"), version) {
            (Some(id), _) => id,
            // 1.0 makes the id optional; the destination names it then.
            (None, Version::V1_0) => destination,
            (None, _) => {
                return Some(End::Error(
                    "missing id".into(),
                    "SUBSCRIBE needs an id header".into(),
                ));
            }
        };
        if !destination.starts_with("/topic/") {
            return Some(End::Error(
                "unknown destination".into(),
                format!("{destination:?}: only /topic/… exists"),
            ));
        }
        if self.subscriptions.contains_key(id) {
            return Some(End::Error(
                "duplicate subscription".into(),
                format!("subscription id {id:?} is in use"),
            ));
        }
        if self.subscriptions.len() >= self.config.max_subscriptions {
            return Some(End::Error(
                "too many subscriptions".into(),
                format!("at most {} per connection", self.config.max_subscriptions),
            ));
        }
        let from_seq = match replay::from_seq(f) {
            Ok(seq) => seq,
            Err(end) => return Some(end),
        };
        // Before the history is read, so every event is in one or the other.
        if self.events.is_none() {
            self.events = Some(self.broker.subscribe());
        }
        self.subscriptions.insert(
            id.to_owned(),
            Subscription {
                destination: destination.to_owned(),
                delivered: from_seq,
                replayed: 0,
            },
        );
        if from_seq.is_some() {
            self.resume(id);
        }
        None
    }

    /// Removes a subscription, with any replay still running for it.
    pub(super) fn unsubscribe(&mut self, f: &Frame, version: Version) -> Option<End> {
        // 1.0 makes the id optional; the destination names it then.
        let id = f.get("id").or(if version == Version::V1_0 {
            f.get("destination")
        } else {
            None
        });
        let Some(id) = id else {
            return Some(End::Error(
                "missing id".into(),
                "UNSUBSCRIBE needs an id header".into(),
            ));
        };
        self.subscriptions.remove(id);
        if self.subscriptions.is_empty() {
            self.events = None;
        }
        // A replay under way for it is dropped with it.
        if self.fetch.as_ref().is_some_and(|f| f.subscription == id) {
            self.fetch = None;
            self.next_replay();
        }
        None
    }
}
