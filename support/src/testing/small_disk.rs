//! A database on a disk of its own that a test fills up: a small tmpfs
//! mounted for the test (SQLite's files on it, or a PostgreSQL tablespace
//! on it holding the whole database), and a filler file that takes every
//! byte left. Deleting the filler frees the space again.
//!
//! Mounting needs root (or CAP_SYS_ADMIN), and the PostgreSQL tablespace a
//! server on this machine: without them the test is skipped locally, but
//! fails under CI (`CI` set), as the PostgreSQL tests do.

use std::{
    fs::File,
    io::{ErrorKind, Write},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Command,
};

use sqlx::{Connection, Executor, PgConnection};

use super::{Backend, with_database};

/// Room for a SQLite database of a few hundred orders and its
/// write-ahead log, before the filler takes the rest.
const SQLITE_DISK: &str = "16m";
/// Room for a PostgreSQL database: creating one copies the template
/// database (about 8 MiB) into the tablespace.
const POSTGRES_DISK: &str = "64m";
/// The filler's writes: big enough to fill the disk in a few hundred.
const FILL_CHUNK: usize = 256 * 1024;

/// A database (empty, like [`TestDatabase`](super::TestDatabase)'s) on a
/// small tmpfs of the test's own. Dropping it drops the PostgreSQL
/// database and tablespace and unmounts the tmpfs, however the test ends.
pub struct SmallDisk {
    /// The URL to give the service.
    pub url: String,
    /// Unmounted after `drop` has dropped the PostgreSQL database.
    mount: Mount,
    pg: Option<Tablespace>,
}

/// The PostgreSQL database and tablespace to drop.
struct Tablespace {
    server: String,
    db: String,
    name: String,
}

impl SmallDisk {
    /// Mounts the disk and creates the database on it, or `None` when this
    /// machine cannot (not root, PostgreSQL not configured or not local)
    /// outside CI: the caller skips the test.
    pub async fn create(backend: Backend, name: &str) -> Option<Self> {
        let size = match backend {
            Backend::Sqlite => SQLITE_DISK,
            Backend::Postgres => POSTGRES_DISK,
        };
        let server = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(super::postgres_server()),
        };
        let mount = skip_unless(Mount::new(size), "cannot mount a tmpfs here (not root?)")?;
        let Some(server) = server else {
            let url = format!(
                "sqlite://{}",
                mount.path().join(format!("{name}.db")).display()
            );
            return Some(Self {
                url,
                mount,
                pg: None,
            });
        };
        let mut conn = PgConnection::connect(&server)
            .await
            .expect("connect to TEST_DATABASE_URL");
        // The server writes the tablespace as its own user: the owner of
        // its data directory, which must be on this machine.
        let data: String =
            sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
                .fetch_one(&mut conn)
                .await
                .expect("data_directory");
        let owner = skip_unless(
            std::fs::metadata(&data).ok(),
            "the PostgreSQL server of TEST_DATABASE_URL is not on this machine",
        )?;
        std::os::unix::fs::chown(mount.path(), Some(owner.uid()), Some(owner.gid()))
            .expect("chown the tmpfs to PostgreSQL's user");
        let unique = uuid::Uuid::new_v4().simple();
        let (db, tablespace) = (format!("test_{name}_{unique}"), format!("small_{unique}"));
        // Whatever fails from here, dropping `disk` drops what was created.
        let disk = Self {
            url: with_database(&server, &db),
            pg: Some(Tablespace {
                server,
                db: db.clone(),
                name: tablespace.clone(),
            }),
            mount,
        };
        let location = disk.mount.path().display();
        for sql in [
            format!("CREATE TABLESPACE \"{tablespace}\" LOCATION '{location}'"),
            format!("CREATE DATABASE \"{db}\" TABLESPACE \"{tablespace}\""),
        ] {
            conn.execute(sqlx::AssertSqlSafe(sql.clone()))
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        conn.close().await.expect("close");
        Some(disk)
    }

    /// Takes every byte left on the disk with the filler file; returns how
    /// many it took.
    pub fn fill(&self) -> u64 {
        let mut filler = File::options()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("open the filler");
        let chunk = vec![0u8; FILL_CHUNK];
        let mut taken = 0;
        loop {
            match filler.write(&chunk) {
                Ok(n) => taken += n as u64,
                Err(e) if e.kind() == ErrorKind::StorageFull => return taken,
                Err(e) => panic!("writing the filler: {e}"),
            }
        }
    }

    /// Deletes the filler: the space is free again.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("delete the filler");
    }

    fn filler(&self) -> PathBuf {
        self.mount.path().join("filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let Some(pg) = self.pg.take() else {
            return;
        };
        // Drop may run in a runtime's thread (or while panicking): a
        // thread of its own, with a runtime of its own, may block.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&pg.server).await?;
                for sql in [
                    format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", pg.db),
                    format!("DROP TABLESPACE IF EXISTS \"{}\"", pg.name),
                ] {
                    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
                }
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the small disk's database: {dropped:?}");
        }
    }
}

/// A tmpfs mounted on a temporary directory; unmounted on drop.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    /// `None` when mounting is not permitted.
    fn new(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .is_ok_and(|out| out.status.success());
        mounted.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut command = Command::new("umount");
            if lazy {
                // Still open (a service not stopped, a panicking test):
                // detached now, released when the last file closes.
                command.arg("--lazy");
            }
            command
                .arg(self.dir.path())
                .output()
                .is_ok_and(|out| out.status.success())
        };
        if !umount(false) && !umount(true) {
            eprintln!("could not unmount {}", self.dir.path().display());
        }
    }
}

/// `value`, or `None` with a message when it is missing outside CI; under
/// CI a missing `value` fails the test.
fn skip_unless<T>(value: Option<T>, why: &str) -> Option<T> {
    if value.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{why}: the small-disk tests cannot be skipped in CI"
        );
        eprintln!("skipping: {why}");
    }
    value
}
