//! What the log of a full-disk outage may hold: a few lines, not one per
//! refused request.

use serde_json::Value;

/// Log lines at WARN or above that the outage may cost: one when it starts
/// for each thing that fails (the database's writes; order-service's calls
/// to inventory when inventory is the one refusing), however often a write
/// finds room in between, and one more per 10 s while it lasts. Before,
/// each refused request logged one.
const MAX_LOUD_LINES: usize = 4;
/// Lines at WARN from sqlx's pool the outage may cost: one per connection
/// closed after a cancelled call (see `assert_quiet`), at most the size of
/// a PostgreSQL pool (16).
const MAX_POOL_LINES: usize = 16;

/// The lines of an outage of `failures` refused writes: a handful at WARN
/// or above, one of them the ERROR that starts with `first`, and no
/// request logged as a failure of its own (a 500's line).
pub(super) fn assert_quiet(lines: &[Value], failures: usize, first: &str) {
    let (pool, loud): (Vec<&Value>, Vec<&Value>) = lines
        .iter()
        .filter(|l| matches!(l["level"].as_str(), Some("WARN" | "ERROR")))
        .partition(|l| l["target"].as_str().is_some_and(|t| t.starts_with("sqlx")));
    eprintln!(
        "  {} lines at WARN or above for {failures} refused writes: {:?}; from sqlx: {:?}",
        loud.len(),
        loud.iter().map(|l| message(l)).collect::<Vec<_>>(),
        pool.iter().map(|l| message(l)).collect::<Vec<_>>()
    );
    assert!(
        loud.len() <= MAX_LOUD_LINES,
        "{} lines for {failures} failures: {loud:#?}",
        loud.len()
    );
    // sqlx warns once for each connection it closes because a call that
    // went away mid-statement (its deadline passed) left the refusal
    // unread: a few per outage, never one per request.
    assert!(
        pool.len() <= MAX_POOL_LINES,
        "{} lines from sqlx for {failures} failures: {pool:#?}",
        pool.len()
    );
    // What sqlx 0.9.0 said of a connection that a cancelled BEGIN had left
    // inside a transaction, whose next borrower's writes then ran in it.
    assert!(
        !pool
            .iter()
            .any(|l| message(l).contains("already a transaction in progress")),
        "a pooled connection was left inside a transaction: {pool:#?}"
    );
    assert!(
        loud.iter()
            .any(|l| l["level"] == "ERROR" && message(l).starts_with(first)),
        "no ERROR {first:?}: {loud:#?}"
    );
    assert!(
        !loud.iter().any(|l| message(l) == "request failed"),
        "{loud:#?}"
    );
}

/// Asserts that a line starting with `what` was logged.
pub(super) fn assert_logged(lines: &[Value], what: &str) {
    assert!(
        lines.iter().any(|l| message(l).starts_with(what)),
        "no {what:?} among {lines:#?}"
    );
}

fn message(line: &Value) -> &str {
    line["message"]
        .as_str()
        .or_else(|| line["fields"]["message"].as_str())
        .unwrap_or_default()
}
