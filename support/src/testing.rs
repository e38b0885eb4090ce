//! Test helpers: a fresh, empty database per test on either backend, and
//! a WebSocket/STOMP client ([`ws`]).
//!
//! SQLite tests get a file in a temporary directory. PostgreSQL tests need
//! `TEST_DATABASE_URL` (a server URL whose user may create databases; `.ci/run`
//! starts one); each test creates its own database and drops it afterwards.
//! Without that variable the PostgreSQL tests are skipped locally, but fail
//! under CI (`CI` set), so CI can never pass without having run them.
//!
//! A test that must stop and restart PostgreSQL under a running service uses
//! a [`PrivatePostgres`] instead: the shared server must stay up for others.

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use sqlx::{Connection, Executor, PgConnection};

pub mod ws;

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A database on the `TEST_DATABASE_URL` server.
    Postgres,
}

/// A database that exists for one test.
pub struct TestDatabase {
    /// The URL to give the service.
    pub url: String,
    dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates an empty database, or `None` when PostgreSQL is not configured
    /// outside CI (the caller skips the test).
    pub async fn create(backend: Backend, name: &str) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!(
                    "sqlite://{}",
                    dir.path().join(format!("{name}.db")).display()
                );
                Some(Self {
                    url,
                    dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let Ok(server) = std::env::var("TEST_DATABASE_URL") else {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "TEST_DATABASE_URL must be set in CI: the PostgreSQL tests cannot be skipped there"
                    );
                    eprintln!("skipping: TEST_DATABASE_URL is not set");
                    return None;
                };
                let db = format!("test_{name}_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::connect(&server)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                let create = format!("CREATE DATABASE \"{db}\"");
                conn.execute(sqlx::AssertSqlSafe(create))
                    .await
                    .expect("create test database");
                let url = with_database(&server, &db);
                Some(Self {
                    url,
                    dir: None,
                    pg: Some((server, db)),
                })
            }
        }
    }

    /// A second SQLite file in the same directory (for a second service),
    /// or a second PostgreSQL database.
    pub async fn sibling(&self, name: &str) -> Self {
        match (&self.dir, &self.pg) {
            (Some(dir), _) => Self {
                url: format!(
                    "sqlite://{}",
                    dir.path().join(format!("{name}.db")).display()
                ),
                dir: None,
                pg: None,
            },
            (None, Some(_)) => Box::pin(Self::create(Backend::Postgres, name))
                .await
                .expect("PostgreSQL is configured"),
            (None, None) => unreachable!("a test database is SQLite or PostgreSQL"),
        }
    }

    /// The temporary directory of a SQLite database.
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().to_owned())
    }

    /// Drops a PostgreSQL test database (SQLite's directory goes on drop).
    pub async fn cleanup(self) {
        if let Some((server, db)) = &self.pg
            && let Ok(mut conn) = PgConnection::connect(server).await
        {
            let drop_db = format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)");
            let _ = conn.execute(sqlx::AssertSqlSafe(drop_db)).await;
        }
    }
}

/// A throwaway PostgreSQL server of one test's own, on a free loopback port,
/// with its data and socket in a temporary directory: stopped (fast) and
/// started again at will, stopped and removed on drop.
///
/// Built from Debian's binaries under `/usr/lib/postgresql/*/bin`. As root
/// (containers), they run as the `postgres` system user, since PostgreSQL
/// refuses to run as root; `scripts/pg-test-server` does the same.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres_user: bool,
}

impl PrivatePostgres {
    /// Initialises and starts a server, or `None` when PostgreSQL is not
    /// installed outside CI (the caller skips the test; in CI it fails).
    pub async fn new() -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL must be installed in CI (scripts/install-test-deps)"
            );
            eprintln!("skipping: PostgreSQL is not installed under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::tempdir().expect("temporary directory");
        let as_postgres_user = {
            use std::os::unix::fs::MetadataExt;
            // The directory is ours, so its owner says who we are (no libc).
            std::fs::metadata(dir.path()).expect("stat tempdir").uid() == 0
        };
        if as_postgres_user {
            let chown = std::process::Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .output()
                .expect("run chown");
            check("chown", &chown);
        }
        let mut pg = Self {
            bin,
            dir,
            port: 0,
            as_postgres_user,
        };
        let data = pg.data();
        let initdb = pg
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .await
            .expect("run initdb");
        check("initdb", &initdb);
        // A free port can be taken by someone else before the server binds
        // it; try a few.
        for attempt in 1..=3 {
            pg.port = free_port();
            pg.configure();
            match pg.try_start().await {
                Ok(()) => return Some(pg),
                Err(e) if attempt < 3 => eprintln!("private PostgreSQL did not start: {e}"),
                Err(e) => panic!("private PostgreSQL did not start: {e}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The server URL (user `postgres`, database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server in fast mode: open sessions are terminated.
    pub async fn stop(&self) {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"])
            .output()
            .await
            .expect("run pg_ctl stop");
        check("pg_ctl stop", &out);
    }

    /// Starts the server again, on the same port with the same data.
    pub async fn start(&self) {
        if let Err(e) = self.try_start().await {
            panic!("private PostgreSQL did not restart: {e}");
        }
    }

    async fn try_start(&self) -> Result<(), String> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "30", "start"])
            .output()
            .await
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        Err(format!(
            "{}{}\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes the listening settings; later lines of postgresql.conf win,
    /// so a retry on another port simply appends again.
    fn configure(&self) {
        use std::io::Write;
        let socket_dir = self.dir.path().display().to_string().replace('\'', "''");
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{socket_dir}'\nfsync = off\n",
            self.port
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))
            .and_then(|mut f| f.write_all(settings.as_bytes()))
            .expect("write postgresql.conf");
    }

    /// A PostgreSQL program, run as the `postgres` user when we are root.
    fn command(&self, program: &str) -> tokio::process::Command {
        let path = self.bin.join(program);
        if self.as_postgres_user {
            let mut c = tokio::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            tokio::process::Command::new(path)
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Blocking is fine here: an immediate stop takes milliseconds, and
        // the directory must outlive the server that writes into it.
        let program = self.bin.join("pg_ctl");
        let mut c = if self.as_postgres_user {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        let _ = c
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn postgres_bin() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| {
            let version: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let bin = root.join(version.to_string()).join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Replaces the database name (the URL path) of a PostgreSQL URL.
fn with_database(server: &str, db: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Generates one `#[tokio::test]` per backend for an `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::testing::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::testing::Backend::Postgres).await;
            }
        }
    )*};
}

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

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Executor, PgConnection};

    use super::{PrivatePostgres, with_database};
    use crate::db::is_unavailable;

    #[tokio::test]
    async fn a_private_postgres_stops_restarts_keeps_its_data_and_cleans_up() {
        let Some(pg) = PrivatePostgres::new().await else {
            return;
        };
        let url = pg.url();
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        conn.execute("CREATE TABLE kept (x INT); INSERT INTO kept VALUES (7)")
            .await
            .expect("write");

        pg.stop().await;
        let e = conn.execute("SELECT 1").await.unwrap_err();
        assert!(is_unavailable(&e), "{e:?}");
        let e = PgConnection::connect(&url).await.unwrap_err();
        assert!(is_unavailable(&e), "{e:?}");

        pg.start().await;
        let mut conn = PgConnection::connect(&url).await.expect("reconnect");
        let x: i32 = sqlx::query_scalar("SELECT x FROM kept")
            .fetch_one(&mut conn)
            .await
            .expect("read");
        assert_eq!(x, 7);
        conn.close().await.expect("close");

        let dir = pg.dir.path().to_owned();
        drop(pg);
        assert!(!dir.exists(), "{} is left behind", dir.display());
        assert!(PgConnection::connect(&url).await.is_err());
    }

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5433/postgres", "t1"),
            "postgres://u:p@h:5433/t1"
        );
        assert_eq!(
            with_database("postgres://u@h:5433", "t1"),
            "postgres://u@h:5433/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/x?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
