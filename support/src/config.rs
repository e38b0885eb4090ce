//! A service's configuration at its defaults, whatever the environment says.
//!
//! The services read every setting from a flag or an environment variable
//! (clap's `env`), which is right for the real programs and wrong for tests
//! and the bench: a `DATABASE_URL` or `MAX_HTTP_CONNECTIONS` left exported in
//! a developer's shell would silently change what they check or measure.

use clap::{Command, Parser};

/// `C` as if started with no flags and an empty environment: every argument
/// at its clap default. Callers then set what they need explicitly.
///
/// # Panics
///
/// When `C` has a required argument without a default, a bug in `C` that
/// the first test calling this finds.
pub fn defaults<C: Parser>() -> C {
    let command = without_env(C::command());
    let bin_name = command.get_name().to_owned();
    let matches = command
        .try_get_matches_from([bin_name])
        .unwrap_or_else(|e| panic!("{e}"));
    C::from_arg_matches(&matches).unwrap_or_else(|e| panic!("{e}"))
}

/// `command` with the environment lookup of every argument removed.
/// Subcommands keep theirs: no subcommand is ever given here.
fn without_env(command: Command) -> Command {
    // clap read the variables while building `command`; resetting `env`
    // drops both the variable's name and the value read.
    command.mut_args(|arg| arg.env(None::<&str>))
}

#[cfg(test)]
mod tests;
