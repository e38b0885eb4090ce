//! Tests that need this process to themselves, run in a process of their
//! own: this test binary again, asked for that one test (`--exact`), with
//! [`CHILD`] naming it. Every test of the binary shares one process, and
//! some things in it are global: the tracing subscriber (a test that
//! captures the services' log lines, counts their ERROR events or exports
//! their spans installs one, and would see every other test's lines, or
//! change what they log), and what comes with it (the OTLP exporter).
//!
//! The test is its own child: the parent runs the same test function,
//! which starts the child and checks that it ran exactly that test and
//! passed. There is no separate `#[ignore]`d "child" test, which
//! `--include-ignored` (what `scripts/test-all` runs) would run as a test
//! that does nothing and passes.

use std::process::Stdio;

/// Set in the child: the name of the test it was started for.
const CHILD: &str = "ORDER_SERVICE_TEST_ALONE";

/// The running test's name as libtest knows it (`module::test`): libtest
/// runs each test on a thread of that name, and `#[tokio::test]` polls
/// the test's body on that thread.
fn current_test() -> String {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or_default();
    assert!(
        name.contains("::"),
        "not on a test's own thread (thread {name:?}): call this from the test's body"
    );
    name.to_owned()
}

/// Whether this process is the child started to run the current test.
pub(crate) fn is_child() -> bool {
    std::env::var(CHILD).is_ok_and(|test| test == current_test())
}

/// This test binary, set to run only the current test (even where it is
/// `#[ignore]`d: the parent only runs when asked to) as a child.
pub(crate) fn command() -> tokio::process::Command {
    let test = current_test();
    let binary = std::env::current_exe().expect("the test binary's path");
    let mut command = tokio::process::Command::new(binary);
    command
        .args([test.as_str(), "--exact", "--include-ignored", "--nocapture"])
        .env(CHILD, &test)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `test` in a process of its own: here when this is the child; else
/// starts the child, hands on its output, and fails unless it ran this one
/// test and passed.
pub(crate) async fn run(test: impl Future<Output = ()>) {
    if is_child() {
        test.await;
        return;
    }
    drop(test);
    let output = command()
        .output()
        .await
        .expect("the test binary starts again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "{} failed in its own process ({})",
        current_test(),
        output.status
    );
    assert!(
        stdout.contains("test result: ok. 1 passed;"),
        "the child process did not run exactly {}",
        current_test()
    );
}
