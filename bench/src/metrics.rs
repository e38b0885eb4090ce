//! The batch sizes order-service reports: its `order_service_batch_size`
//! histogram (label `stage`: `record`, `reserve`, `settle`), scraped from
//! `GET /metrics` before and after a phase, so the difference is what that
//! phase batched. A service without the metric reports nothing for it.
//!
//! The parser reads the Prometheus / OpenMetrics text format by metric name
//! and labels, in any label order, summing series that differ only in
//! labels other than `stage` and `le`; it ignores everything else (other
//! metrics, comments, exemplars, timestamps).

use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context, ensure};
use serde::{Serialize, Serializer};

/// The histogram's name: `_sum`, `_count` and `_bucket` series follow it.
const METRIC: &str = "order_service_batch_size";
/// The stages reported, in the order of the flow.
pub(crate) const STAGES: [&str; 3] = ["record", "reserve", "settle"];
/// A `/metrics` body larger than this is refused: it is a few KiB.
const MAX_BODY: usize = 4 << 20;
/// A scrape slower than this fails the bench.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One stage's histogram at one scrape (buckets cumulative, as exposed).
#[derive(Clone, Debug, Default, PartialEq)]
struct Histogram {
    sum: f64,
    count: f64,
    /// (upper bound, cumulative count), `+Inf` as infinity.
    buckets: Vec<(f64, f64)>,
}

impl Histogram {
    /// Adds `count` to the bucket bounded by `le` (merging equal bounds).
    fn add_bucket(&mut self, le: f64, count: f64) {
        match self.buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += count,
            None => self.buckets.push((le, count)),
        }
    }

    /// The cumulative count at bound `le`; 0 when there is no such bucket.
    fn at(&self, le: f64) -> f64 {
        self.buckets
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0.0, |(_, c)| *c)
    }
}

/// The batch-size histogram per stage, as one scrape found it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scrape {
    stages: BTreeMap<String, Histogram>,
}

/// Scrapes order-service's metrics at `url` (its `/metrics`).
pub(crate) struct Scraper {
    client: reqwest::Client,
    url: String,
}

impl Scraper {
    /// A scraper of `http://{addr}/metrics`, with its own connection.
    pub(crate) fn new(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .http1_only()
                .timeout(TIMEOUT)
                .build()?,
            url: format!("http://{addr}/metrics"),
        })
    }

    /// The batch-size histograms now (empty when the metric is absent).
    pub(crate) async fn scrape(&self) -> anyhow::Result<Scrape> {
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await
            .with_context(|| format!("GET {}", self.url))?;
        ensure!(
            response.status().is_success(),
            "GET {}: {}",
            self.url,
            response.status()
        );
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            ensure!(
                body.len() + chunk.len() <= MAX_BODY,
                "GET {}: body over {MAX_BODY} bytes",
                self.url
            );
            body.extend_from_slice(&chunk);
        }
        Ok(parse(&String::from_utf8_lossy(&body)))
    }
}

/// Parses the batch-size histogram out of a text exposition.
pub(crate) fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    for line in text.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let Some(suffix @ ("_sum" | "_count" | "_bucket")) = name.strip_prefix(METRIC) else {
            continue;
        };
        let Some(stage) = label(&labels, "stage") else {
            continue;
        };
        let le = label(&labels, "le").and_then(bound);
        if suffix == "_bucket" && le.is_none() {
            continue;
        }
        let h = scrape.stages.entry(stage.to_owned()).or_default();
        match (suffix, le) {
            ("_sum", _) => h.sum += value,
            ("_count", _) => h.count += value,
            (_, Some(le)) => h.add_bucket(le, value),
            _ => {}
        }
    }
    for h in scrape.stages.values_mut() {
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    scrape
}

/// A sample's labels, (name, value) in the order written.
type Labels = Vec<(String, String)>;

/// Splits a sample line into name, labels and value; `None` for comments,
/// blank lines and anything malformed.
fn sample(line: &str) -> Option<(&str, Labels, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(inner)?;
        labels = parsed;
        rest = after;
    }
    // The value is the first field; a timestamp or exemplar may follow.
    let value = rest.split_whitespace().next()?;
    Some((name, labels, number(value)?))
}

/// Parses `k="v",k2="v2"}` (after the opening brace); returns the labels
/// and the text after the closing brace.
fn label_set(mut s: &str) -> Option<(Labels, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start().trim_start_matches(',').trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_owned();
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key, value));
        s = &s[end + 1..];
    }
}

/// The value of label `key`.
fn label<'a>(labels: &'a [(String, String)], key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A sample value or bucket bound (`+Inf`, `-Inf`, `NaN` included).
fn number(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// A bucket's upper bound; NaN is no bound.
fn bound(s: &str) -> Option<f64> {
    number(s).filter(|b| !b.is_nan())
}

/// What one stage batched over a phase.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct StageBatches {
    /// Batches (count delta).
    pub batches: u64,
    /// Mean items per batch (sum delta / count delta); null without batches.
    pub mean: Option<f64>,
    /// Upper bound of the smallest bucket holding at least half of the
    /// batches: an approximate median ("+Inf" beyond the largest bound).
    #[serde(serialize_with = "bucket_bound")]
    pub p50: Option<f64>,
    /// Upper bound of the smallest bucket holding all of them: an
    /// approximate maximum.
    #[serde(serialize_with = "bucket_bound")]
    pub max: Option<f64>,
}

/// Batch sizes over a phase per stage; `None` where order-service exposed
/// no such series (a build without batching).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct BatchSizes {
    pub record: Option<StageBatches>,
    pub reserve: Option<StageBatches>,
    pub settle: Option<StageBatches>,
}

impl BatchSizes {
    /// Each stage's, in the order of [`STAGES`].
    pub(crate) fn stages(&self) -> [Option<&StageBatches>; 3] {
        [
            self.record.as_ref(),
            self.reserve.as_ref(),
            self.settle.as_ref(),
        ]
    }
}

/// A bucket bound as JSON: a number, "+Inf", or null.
fn bucket_bound<S: Serializer>(bound: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match bound {
        Some(b) if b.is_finite() => s.serialize_f64(*b),
        Some(_) => s.serialize_str("+Inf"),
        None => s.serialize_none(),
    }
}

/// What was batched between two scrapes. A stage absent from `after` is
/// `None`; one absent from `before` counts from zero (prometheus-client
/// shows a labelled series only once it has been observed).
pub(crate) fn between(before: &Scrape, after: &Scrape) -> BatchSizes {
    let stage = |name: &str| {
        let a = after.stages.get(name)?;
        let b = before.stages.get(name).cloned().unwrap_or_default();
        // A count that went down means the service restarted: count from zero.
        let b = if a.count < b.count {
            Histogram::default()
        } else {
            b
        };
        Some(delta(&b, a))
    };
    BatchSizes {
        record: stage(STAGES[0]),
        reserve: stage(STAGES[1]),
        settle: stage(STAGES[2]),
    }
}

/// One stage's figures from the difference of two histograms.
fn delta(before: &Histogram, after: &Histogram) -> StageBatches {
    let count = after.count - before.count;
    let sum = after.sum - before.sum;
    let bucket_holding = |share: f64| {
        if count <= 0.0 {
            return None;
        }
        after
            .buckets
            .iter()
            .find(|(le, cumulative)| cumulative - before.at(*le) >= share * count)
            .map(|(le, _)| *le)
    };
    StageBatches {
        batches: count.max(0.0) as u64,
        mean: (count > 0.0).then(|| sum / count),
        p50: bucket_holding(0.5),
        max: bucket_holding(1.0),
    }
}

#[cfg(test)]
mod tests;
