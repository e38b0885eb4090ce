//! Reading the services' JSON log lines.

use serde_json::Value;

/// Asserts that `lines` hold at least one logged statement containing
/// `sql` (say `INSERT INTO orders`) as whole words, and that every such
/// line carries `trace` as its `trace_id`. (Whole words: a migration's
/// `INSERT INTO orders_rebuilt` is no order's statement.)
pub(crate) fn statements_carry(lines: &[Value], sql: &str, trace: &str) {
    let names = |s: &str| {
        s.match_indices(sql).any(|(at, _)| {
            !s[at + sql.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let found: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "sqlx::query")
        .filter(|l| l["db.statement"].as_str().is_some_and(names))
        .collect();
    assert!(!found.is_empty(), "no {sql:?} statement logged");
    for line in found {
        assert_eq!(line["trace_id"], trace, "{line}");
    }
}
