//! Bakes what `/actuator/info` reports about the build into the crate:
//! the git commit of HEAD and the build time.
//!
//! - `GIT_COMMIT` (environment, at build time) names the commit where there
//!   is no `.git` to ask (a Docker build: the Dockerfile passes it on);
//!   otherwise `git rev-parse --short=7 HEAD` (Spring's abbreviated id),
//!   else `unknown`.
//! - `SOURCE_DATE_EPOCH` (the reproducible-builds convention) fixes the
//!   build time; otherwise it is when this script ran.
//!
//! The script reruns when either variable or the commit of HEAD changes,
//! not on every build: rerunning it on every build would recompile this
//! crate and everything above it each time. So the build time is that of
//! the first build of a commit.

use std::{
    process::Command,
    time::{SystemTime, UNIX_EPOCH},
};

fn main() {
    println!("cargo::rerun-if-env-changed=GIT_COMMIT");
    println!("cargo::rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = match std::env::var("GIT_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().to_owned(),
        _ => from_git().unwrap_or_else(|| "unknown".to_owned()),
    };
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo::rustc-env=SUPPORT_GIT_COMMIT={commit}");
    println!("cargo::rustc-env=SUPPORT_BUILD_EPOCH={epoch}");
}

/// HEAD's abbreviated id, and the files whose change moves HEAD (HEAD
/// itself, the branch's ref, packed refs) registered for a rerun.
fn from_git() -> Option<String> {
    let commit = git(&["rev-parse", "--short=7", "HEAD"])?;
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        // Only files that exist: cargo reruns a script every build while
        // a file it watches is missing (a repository without packed refs).
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo::rerun-if-changed={path}");
        }
    }
    Some(commit)
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
