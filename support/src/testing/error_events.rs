//! Counting ERROR log events in a test.

/// Counts the ERROR events of the given crates (log targets), keeping the
/// first: install it with [`ErrorEvents::install`] in a test that asserts
/// nothing a client or an outage does is logged at ERROR. Clones share
/// the count.
#[derive(Clone, Default)]
pub struct ErrorEvents {
    targets: Vec<&'static str>,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    first: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl ErrorEvents {
    /// Installs a process-wide subscriber counting ERROR events whose target
    /// starts with one of `targets` (a test binary with one such test).
    pub fn install(targets: &[&'static str]) -> Self {
        use tracing_subscriber::layer::SubscriberExt;
        let events = Self {
            targets: targets.to_vec(),
            ..Self::default()
        };
        let subscriber = tracing_subscriber::registry().with(events.clone());
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
        events
    }

    /// ERROR events so far, and the first one's target and fields.
    pub fn seen(&self) -> (usize, Option<String>) {
        let first = self
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (self.count.load(std::sync::atomic::Ordering::Relaxed), first)
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ErrorEvents {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let meta = event.metadata();
        let ours = self.targets.iter().any(|t| meta.target().starts_with(t));
        if !ours || *meta.level() != tracing::Level::ERROR {
            return;
        }
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut fields = format!("{}: ", meta.target());
        event.record(
            &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                fields.push_str(&format!("{}={value:?} ", field.name()));
            },
        );
        self.first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert(fields);
    }
}
