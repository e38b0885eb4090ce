//! Spring's `diskSpace` component, for a SQLite database: the space left
//! on the file system of the database file's directory.

use std::path::{Path, PathBuf};

use super::{Component, Status};

/// Free space below which the component is `DOWN`: Spring's default
/// (`management.health.diskspace.threshold`, 10 MiB). SQLite needs room
/// for its write-ahead log to take writes at all; this warns before the
/// writes fail (which `db` then reports).
pub const THRESHOLD_BYTES: u64 = 10 * 1024 * 1024;

/// The `diskSpace` component of the directory `dir`, as Spring reports it:
/// `total`, `free` (what an unprivileged writer may use), `threshold`,
/// `path` and `exists`. `DOWN` when free space is under the threshold or
/// the directory cannot be examined.
pub fn disk_space(dir: &Path) -> Component {
    let path = std::path::absolute(dir).unwrap_or_else(|_| PathBuf::from(dir));
    let component = |status: Status| {
        Component::status(status)
            .with("path", path.display().to_string())
            .with("exists", path.exists())
            .with("threshold", THRESHOLD_BYTES)
    };
    match rustix::fs::statvfs(&path) {
        Ok(fs) => {
            let total = fs.f_blocks.saturating_mul(fs.f_frsize);
            let free = fs.f_bavail.saturating_mul(fs.f_frsize);
            component(Status::up_if(free >= THRESHOLD_BYTES))
                .with("total", total)
                .with("free", free)
        }
        Err(e) => component(Status::Down).with("error", e.to_string()),
    }
}

#[cfg(test)]
mod tests;
