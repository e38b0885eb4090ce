//! Log lines of this process, kept for assertions (a test installs the
//! subscriber with [`crate::telemetry::init_with_writer`]).

use std::{
    io,
    sync::{Arc, Mutex, PoisonError},
};

use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Everything written through [`CapturedLogs::writer`]. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// A writer for the subscriber that appends here.
    pub fn writer(&self) -> BoxMakeWriter {
        let logs = self.clone();
        BoxMakeWriter::new(move || logs.clone())
    }

    /// The JSON lines written so far (others skipped).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
