//! Reading the services' JSON log lines.

use serde_json::Value;

/// Asserts that `lines` hold at least one logged statement containing
/// `sql` (say `INSERT INTO orders`), and that every such line carries
/// `trace` as its `trace_id`.
pub(crate) fn statements_carry(lines: &[Value], sql: &str, trace: &str) {
    let found: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "sqlx::query")
        .filter(|l| l["db.statement"].as_str().is_some_and(|s| s.contains(sql)))
        .collect();
    assert!(!found.is_empty(), "no {sql:?} statement logged");
    for line in found {
        assert_eq!(line["trace_id"], trace, "{line}");
    }
}
