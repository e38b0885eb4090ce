//! Load generation: closed loop (each worker sends its next request when the
//! last one is answered: the maximum rate) and open loop (requests on a fixed
//! schedule, latency counted from the scheduled time, so a stall is not
//! hidden by the client waiting politely: no coordinated omission).

use std::time::{Duration, Instant};

use futures::future::join_all;
use hdrhistogram::Histogram;
use serde::Serialize;

/// One operation of a worker; true when it succeeded.
pub(crate) trait Op: Send + 'static {
    /// Runs it once.
    fn run(&mut self) -> impl Future<Output = bool> + Send;
}

/// What a phase measured.
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// Wall time of the phase.
    pub elapsed: Duration,
    /// Latencies of successful operations, in microseconds.
    pub latency: Histogram<u64>,
}

/// A phase's figures, for the report.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Summary {
    /// Operations per second.
    pub per_second: f64,
    /// Failed operations.
    pub errors: u64,
    /// Latency percentiles in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

impl Stats {
    fn merge(parts: Vec<Stats>, elapsed: Duration) -> Self {
        let mut all = Stats {
            ok: 0,
            errors: 0,
            elapsed,
            latency: histogram(),
        };
        for p in parts {
            all.ok += p.ok;
            all.errors += p.errors;
            let _ = all.latency.add(&p.latency);
        }
        all
    }

    /// The figures.
    pub(crate) fn summary(&self) -> Summary {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        Summary {
            per_second: self.ok as f64 / self.elapsed.as_secs_f64(),
            errors: self.errors,
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
        }
    }
}

/// Runs `ops` (one per worker) as fast as they go for `duration`.
pub(crate) async fn closed_loop<O: Op>(ops: Vec<O>, duration: Duration) -> Stats {
    let started = Instant::now();
    let deadline = started + duration;
    let workers = ops.into_iter().map(|mut op| {
        tokio::spawn(async move {
            let mut s = Stats {
                ok: 0,
                errors: 0,
                elapsed: Duration::ZERO,
                latency: histogram(),
            };
            while Instant::now() < deadline {
                let t = Instant::now();
                if op.run().await {
                    s.ok += 1;
                    let _ = s.latency.record(t.elapsed().as_micros().max(1) as u64);
                } else {
                    s.errors += 1;
                }
            }
            s
        })
    });
    let parts = join_all(workers)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    Stats::merge(parts, started.elapsed())
}

/// Runs `ops` at `rate` operations per second in all for `duration`.
pub(crate) async fn open_loop<O: Op>(ops: Vec<O>, rate: f64, duration: Duration) -> Stats {
    let started = Instant::now();
    let deadline = started + duration;
    let n = ops.len() as f64;
    let period = Duration::from_secs_f64(n / rate.max(1.0));
    let workers = ops.into_iter().enumerate().map(|(i, mut op)| {
        tokio::spawn(async move {
            let mut s = Stats {
                ok: 0,
                errors: 0,
                elapsed: Duration::ZERO,
                latency: histogram(),
            };
            // Stagger the workers across one period.
            let first = tokio::time::Instant::now() + period.mul_f64(i as f64 / n);
            let mut ticks = tokio::time::interval_at(first, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            loop {
                let scheduled = ticks.tick().await;
                if scheduled.into_std() >= deadline {
                    return s;
                }
                if op.run().await {
                    s.ok += 1;
                    let _ = s
                        .latency
                        .record(scheduled.elapsed().as_micros().max(1) as u64);
                } else {
                    s.errors += 1;
                }
            }
        })
    });
    let parts = join_all(workers)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    Stats::merge(parts, started.elapsed())
}
