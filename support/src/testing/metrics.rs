//! Reads a metrics body as a scraper would, and holds it to the format its
//! content type claims: every sample belongs to a declared family, under
//! the names that format gives its samples (`x_total` for a counter
//! declared `x` in OpenMetrics but `x_total` in the classic text, `_bucket`
//! `_sum` `_count` for a histogram), OpenMetrics ends with `# EOF`, the
//! classic text has neither `# EOF`, `# UNIT` nor exemplars. Panics, with
//! the offending line, on anything else.

use std::collections::HashMap;

/// The families every service serves through `support::metrics` (HTTP and
/// gRPC server, process, database pool, event log), as the classic text
/// names them.
pub const SHARED_FAMILIES: &[&str] = &[
    "http_server_requests_total",
    "http_server_request_duration_seconds",
    "grpc_server_handled_total",
    "grpc_server_handling_seconds",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
    "db_pool_connections",
    "db_pool_max_connections",
    "db_pool_acquire_seconds",
    "db_statement_errors_total",
    "event_log_written_seq",
    "event_log_published_seq",
    "event_log_retained_rows",
    "event_log_relay_wakeups_total",
];

/// A body's format, as its `Content-Type` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
    /// `text/plain; version=0.0.4`.
    Text,
}

impl Format {
    /// The format a `Content-Type` names; panics on any other.
    pub fn of(content_type: &str) -> Self {
        match content_type {
            "application/openmetrics-text; version=1.0.0; charset=utf-8" => Self::OpenMetrics,
            "text/plain; version=0.0.4; charset=utf-8" => Self::Text,
            other => panic!("not a metrics content type: {other:?}"),
        }
    }
}

/// One sample: its name (as written), labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's name, suffix included (`x_total`, `x_bucket`).
    pub name: String,
    /// Its labels, in order.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
}

/// A parsed, checked metrics body.
#[derive(Debug)]
pub struct Exposition {
    /// Declared families and their types, by family name.
    pub families: HashMap<String, String>,
    /// Every sample, in order.
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// Asserts that every one of [`SHARED_FAMILIES`] and `own` is declared.
    pub fn assert_families(&self, own: &[&str]) {
        for family in SHARED_FAMILIES.iter().chain(own) {
            assert!(self.families.contains_key(*family), "{family} missing");
        }
    }

    /// Parses `body` as `format`, checking it (see the module comment).
    pub fn parse(body: &str, format: Format) -> Self {
        let mut families: HashMap<String, String> = HashMap::new();
        let mut samples = Vec::new();
        let mut current: Option<(String, String)> = None;
        let mut ended = false;
        for line in body.lines() {
            assert!(!ended, "a line after # EOF: {line:?}");
            if line == "# EOF" {
                assert_eq!(format, Format::OpenMetrics, "# EOF in the classic text");
                ended = true;
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
                let name = rest.split(' ').next().unwrap_or_default().to_owned();
                match keyword {
                    "HELP" => {}
                    "UNIT" => assert_eq!(format, Format::OpenMetrics, "# UNIT in the classic text"),
                    "TYPE" => {
                        let kind = rest.split(' ').nth(1).unwrap_or_default().to_owned();
                        check_family(&name, &kind, format);
                        assert!(
                            families.insert(name.clone(), kind.clone()).is_none(),
                            "family {name} declared twice"
                        );
                        current = Some((name, kind));
                    }
                    other => panic!("unknown comment {other:?}: {line:?}"),
                }
                continue;
            }
            let sample = sample(line, format);
            let Some((family, kind)) = &current else {
                panic!("a sample before any # TYPE: {line:?}");
            };
            let allowed = sample_names(family, kind, format);
            assert!(
                allowed.contains(&sample.name),
                "sample {:?} under family {family} ({kind}) in {format:?}",
                sample.name
            );
            samples.push(sample);
        }
        assert_eq!(
            ended,
            format == Format::OpenMetrics,
            "OpenMetrics ends with # EOF, and only it"
        );
        Self { families, samples }
    }

    /// The samples named `name` whose labels include every one of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
    }

    /// The sum of [`Exposition::matching`]'s values (0 when none match).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The value of the one sample `name` with `labels`; panics unless
    /// exactly one matches.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0].value
    }

    /// Every value of label `label` in the samples.
    pub fn label_values(&self, label: &str) -> Vec<&str> {
        self.samples
            .iter()
            .flat_map(|s| s.labels.iter())
            .filter(|(k, _)| k == label)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn check_family(name: &str, kind: &str, format: Format) {
    let kinds: &[&str] = match format {
        Format::Text => &["counter", "gauge", "histogram", "summary", "untyped"],
        Format::OpenMetrics => &[
            "counter",
            "gauge",
            "histogram",
            "gaugehistogram",
            "stateset",
            "info",
            "summary",
            "unknown",
        ],
    };
    assert!(
        kinds.contains(&kind),
        "type {kind:?} of {name} in {format:?}"
    );
    if kind == "counter" {
        assert_eq!(
            name.ends_with("_total"),
            format == Format::Text,
            "counter family {name} in {format:?}: `_total` belongs to the family in the classic text, to the sample in OpenMetrics"
        );
    }
}

fn sample_names(family: &str, kind: &str, format: Format) -> Vec<String> {
    let with = |suffixes: &[&str]| suffixes.iter().map(|s| format!("{family}{s}")).collect();
    match (kind, format) {
        ("counter", Format::OpenMetrics) => with(&["_total", "_created"]),
        ("histogram", Format::OpenMetrics) => with(&["_bucket", "_sum", "_count", "_created"]),
        ("histogram", Format::Text) => with(&["_bucket", "_sum", "_count"]),
        ("info", _) => with(&["_info"]),
        _ => vec![family.to_owned()],
    }
}

/// One sample line: `name{k="v",…} value`, plus, in OpenMetrics only, an
/// exemplar (` # {…} value`).
fn sample(line: &str, format: Format) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line:?}"));
    let name = line[..name_end].to_owned();
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad name in {line:?}"
    );
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(inner, line);
        labels = parsed;
        rest = after;
    }
    let rest = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value: {line:?}"));
    let (value, exemplar) = match rest.split_once(" # ") {
        Some((value, exemplar)) => (value, Some(exemplar)),
        None => (rest, None),
    };
    assert!(
        exemplar.is_none() || format == Format::OpenMetrics,
        "an exemplar in the classic text: {line:?}"
    );
    let value = value.split(' ').next().unwrap_or_default();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value {v:?}: {line:?}")),
    };
    Sample {
        name,
        labels,
        value,
    }
}

/// The labels after a `{`, and what follows the closing `}`.
fn label_set<'a>(mut s: &'a str, line: &str) -> (Vec<(String, String)>, &'a str) {
    let mut labels = Vec::new();
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return (labels, after);
        }
        let (key, rest) = s
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label in {line:?}"));
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {line:?}"),
                },
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        labels.push((key.to_owned(), value));
        s = &rest[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}
