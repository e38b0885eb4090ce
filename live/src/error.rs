//! The crate's one error type: what it refuses at start-up, and what an
//! application's event source may fail with.

/// A boxed error from the application (an event source's database, say).
type Source = Box<dyn std::error::Error + Send + Sync>;

/// Everything this crate can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entry of the allowed origins (see
    /// [`AllowedOrigins::new`](crate::AllowedOrigins::new)) that is neither
    /// an origin nor a pattern. Worded for the `ALLOWED_ORIGINS` setting
    /// applications conventionally read it from.
    #[error(
        "ALLOWED_ORIGINS entry {entry:?} is not an origin or pattern ({why}); expected e.g. http://localhost:4200, https://*.example.com, http://localhost:[*] or *"
    )]
    InvalidOrigin {
        /// The entry as given (trimmed).
        entry: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An event source could not read its history (see
    /// [`History`](crate::History)): the resuming client gets an ERROR frame
    /// and reconnects to retry. Shown as the source's own message, which
    /// is what the log line of the failed replay says.
    #[error(transparent)]
    History(Source),
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An event source's failure to read its history, from whatever error
    /// type the source has (`.map_err(live::Error::history)`).
    pub fn history(source: impl Into<Source>) -> Self {
        Self::History(source.into())
    }
}
