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
