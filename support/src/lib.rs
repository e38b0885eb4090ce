//! What both services share and would otherwise write twice: opening the
//! database (SQLite or PostgreSQL, chosen by URL) with its migrations,
//! setting up logs, and waiting for a shutdown signal.

pub mod db;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
