//! A throwaway PostgreSQL server of a test's own, to stop and restart
//! under a running service.

use std::{
    path::{Path, PathBuf},
    process::Output,
};

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
    /// Initialises and starts a server. Panics when PostgreSQL is not
    /// installed: a test that uses one is `#[ignore]`d unless asked for,
    /// like every test that needs PostgreSQL (see the module docs).
    pub async fn new() -> Self {
        let bin = postgres_bin().unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed under /usr/lib/postgresql (scripts/install-test-deps)"
            )
        });
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
                Ok(()) => return pg,
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

#[cfg(test)]
mod tests;
