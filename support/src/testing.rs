//! Test helpers: a fresh, empty database per test on either backend, a
//! WebSocket/STOMP client ([`ws`]), an OTLP trace receiver ([`otlp`]), a
//! reader of metrics bodies that holds each to its format ([`metrics`]),
//! a capture of this process's log lines, and a check of Spring's error
//! body.
//!
//! SQLite tests get a file in a temporary directory. PostgreSQL tests need
//! `TEST_DATABASE_URL` (a server URL whose user may create databases;
//! `scripts/test-all` starts one); each test creates its own database and
//! drops it afterwards. They are opt-in, so a run without PostgreSQL says
//! how many it left out instead of passing them silently: every test that
//! needs PostgreSQL is `#[ignore = "needs PostgreSQL …"]` (see
//! [`both_backends!`]), `cargo test` reports them as ignored, and
//! `cargo test -- --include-ignored` (what `scripts/test-all` runs) runs
//! them and fails, loudly, if PostgreSQL is not there.
//!
//! A test that must stop and restart PostgreSQL under a running service uses
//! a [`PrivatePostgres`] instead: the shared server must stay up for others.
//! A test that fills the database's disk uses a [`SmallDisk`].

use std::path::PathBuf;

use sqlx::{ConnectOptions as _, Connection, Executor, PgConnection};

mod error_events;
mod grpc_health;
mod logs;
pub mod metrics;
pub mod otlp;
mod private_postgres;
mod raw_http;
mod small_disk;
mod spring_error;
mod waiting;
pub mod ws;

pub use error_events::ErrorEvents;
pub use grpc_health::grpc_health;
pub use logs::CapturedLogs;
pub use private_postgres::PrivatePostgres;
pub use raw_http::raw_request;
pub use small_disk::SmallDisk;
pub use spring_error::assert_spring_error;
pub use waiting::{eventually, wait_until};

/// No migrations on either backend: for tests of the database handle that
/// create their own tables.
pub fn no_migrations() -> crate::db::Migrations {
    crate::db::Migrations {
        sqlite: sqlx::migrate::Migrator::DEFAULT,
        postgres: sqlx::migrate::Migrator::DEFAULT,
    }
}

/// A TCP connection to `to` from the loopback address `from`: every
/// 127.x address is this host, but a different client to a server (tests
/// of per-client limits flood from one and check another).
pub async fn tcp_from(
    from: [u8; 4],
    to: std::net::SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((std::net::Ipv4Addr::from(from), 0).into())?;
    socket.connect(to).await
}

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
    /// Creates an empty database. Panics on PostgreSQL without
    /// `TEST_DATABASE_URL`: such a test is `#[ignore]`d unless asked for.
    pub async fn create(backend: Backend, name: &str) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!(
                    "sqlite://{}",
                    dir.path().join(format!("{name}.db")).display()
                );
                Self {
                    url,
                    dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                let server = postgres_server();
                let db = format!("test_{name}_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::connect(&server)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                let create = format!("CREATE DATABASE \"{db}\"");
                conn.execute(sqlx::AssertSqlSafe(create))
                    .await
                    .expect("create test database");
                let url = with_database(&server, &db);
                Self {
                    url,
                    dir: None,
                    pg: Some((server, db)),
                }
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
            (None, Some(_)) => Box::pin(Self::create(Backend::Postgres, name)).await,
            (None, None) => unreachable!("a test database is SQLite or PostgreSQL"),
        }
    }

    /// Brings this fresh database to `version` of `migrations` and runs
    /// `sql` on it: a database from before a later migration, to test that
    /// migration on (`Db::connect` then runs the rest).
    pub async fn migrated_to(
        &self,
        migrations: &crate::db::Migrations,
        version: i64,
        sql: &'static str,
    ) {
        if self.pg.is_some() {
            let mut conn = PgConnection::connect(&self.url).await.expect("connect");
            migrations
                .postgres
                .run_to(version, &mut conn)
                .await
                .expect("migrate");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("write");
            conn.close().await.expect("close");
        } else {
            let options: sqlx::sqlite::SqliteConnectOptions = self.url.parse().expect("url");
            let mut conn = options
                .create_if_missing(true)
                .connect()
                .await
                .expect("connect");
            migrations
                .sqlite
                .run_to(version, &mut conn)
                .await
                .expect("migrate");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect("write");
            conn.close().await.expect("close");
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

/// The `TEST_DATABASE_URL` server; panics, saying how to run the test,
/// when it is not set.
pub fn postgres_server() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("TEST_DATABASE_URL is not set: this test needs PostgreSQL (scripts/pg-test-server starts one)")
    })
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

/// Generates one `#[tokio::test]` per backend for an `async fn(Backend)`;
/// the PostgreSQL one is opt-in (`--include-ignored`), see the module docs.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::testing::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
            async fn postgres() {
                super::$name($crate::testing::Backend::Postgres).await;
            }
        }
    )*};
}

#[cfg(test)]
mod tests;
