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
mod tests {
    use std::process::Command;

    use clap::Parser;

    use super::defaults;

    /// No other code reads this variable, so setting it for one process
    /// affects nothing else.
    const VAR: &str = "SUPPORT_CONFIG_TEST_PROBE";

    #[derive(Debug, Parser)]
    #[command(name = "probe")]
    struct Probe {
        #[arg(long, env = VAR, default_value = "default")]
        value: String,
    }

    /// Runs with `VAR` set in a child process of this test binary: setting
    /// it here would be `unsafe` (other tests' threads read the environment
    /// concurrently).
    #[test]
    fn the_environment_does_not_change_the_defaults() {
        const NAME: &str = "config::tests::the_environment_does_not_change_the_defaults";
        if std::env::var_os(VAR).is_some() {
            // The child: the variable is seen by ordinary parsing...
            assert_eq!(Probe::parse_from(["probe"]).value, "from-env");
            // ...and not by `defaults`.
            assert_eq!(defaults::<Probe>().value, "default");
            return;
        }
        let exe = std::env::current_exe().expect("test binary");
        let out = Command::new(exe)
            .args(["--exact", NAME, "--test-threads=1"])
            .env(VAR, "from-env")
            .output()
            .expect("test binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A filter that matched nothing would pass without checking anything.
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
}
