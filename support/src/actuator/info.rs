//! `/actuator/info`: what was built and what it runs on, as Spring's
//! build-info and git contributors show it (`build`, `git`), plus the
//! database kind. Nothing secret: names, a version, a commit, a time and
//! `sqlite` or `postgresql`; never a URL, a token or a setting's value.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use utoipa::ToSchema;

/// The abbreviated git commit the binary was built from, or `unknown`
/// (see `build.rs`).
pub const GIT_COMMIT: &str = env!("SUPPORT_GIT_COMMIT");

/// `/actuator/info`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ActuatorInfo)]
pub struct Info {
    /// The build.
    build: Build,
    /// The source it was built from.
    git: Git,
    /// The database in use.
    database: Database,
}

/// Spring's `build` section.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ActuatorBuild)]
struct Build {
    /// The service's name.
    name: String,
    /// Its artifact (the crate), the same as its name.
    artifact: String,
    /// Its version.
    version: String,
    /// When it was built, RFC 3339 (UTC).
    time: String,
}

/// Spring's `git` section (its `simple` mode).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ActuatorGit)]
struct Git {
    /// The commit.
    commit: Commit,
}

/// The commit.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ActuatorCommit)]
struct Commit {
    /// Abbreviated id, or `unknown` when the build could not tell.
    id: String,
}

/// The database in use.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ActuatorDatabase)]
struct Database {
    /// `sqlite` or `postgresql`.
    kind: String,
}

impl Info {
    /// The info of the service `name` at `version` (its crate's
    /// `CARGO_PKG_NAME` and `CARGO_PKG_VERSION`) on a database of `kind`.
    pub fn new(name: &str, version: &str, kind: &str) -> Self {
        let epoch = env!("SUPPORT_BUILD_EPOCH").parse::<u64>().unwrap_or(0);
        let time = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch));
        Self {
            build: Build {
                name: name.to_owned(),
                artifact: name.to_owned(),
                version: version.to_owned(),
                time: time.to_string(),
            },
            git: Git {
                commit: Commit {
                    id: GIT_COMMIT.to_owned(),
                },
            },
            database: Database {
                kind: kind.to_owned(),
            },
        }
    }
}
