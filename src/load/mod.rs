//! Open-loop load: requests arrive on their own schedule (Poisson, constant, or a recorded
//! trace), `servers` engine sessions serve one first-come-first-served queue, and each latency
//! is measured from the request's *scheduled* arrival, so the wait behind a slow request is
//! counted (no coordinated omission). The cost planner's queue model is run for the same
//! servers, rate and measured service times beside every measurement.
//!
//! There is no separate sender thread: each free server takes the next request in schedule
//! order and, when that request is not due yet, sleeps until it is. A server that wakes late
//! is the generator being late; that lateness is measured, and a rate whose sends were late is
//! refused rather than reported.

pub mod capacity;
pub mod table;
#[cfg(test)]
mod tests;

use crate::bench::stats::{nearest_rank, quantile_ci, Interval};
use crate::bench::{Clock, RealClock};
use crate::engine::{Engine, Prepared};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How requests arrive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exponential gaps at the rate: independent users, what serving sees.
    Poisson,
    /// Evenly spaced at the rate.
    Constant,
    /// Recorded arrival times, seconds from the start (replayed as they are; the rate is theirs).
    Trace(Vec<f64>),
}

impl Arrivals {
    pub fn label(&self) -> &'static str {
        match self {
            Arrivals::Poisson => "poisson",
            Arrivals::Constant => "constant",
            Arrivals::Trace(_) => "trace",
        }
    }

    /// Reads a trace: one arrival time in seconds per line (or comma-separated), from the start
    /// of the trace; sorted; blank lines and `#` comments skipped.
    pub fn parse_trace(text: &str) -> Result<Arrivals> {
        let mut t = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            for field in line.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                let v: f64 = field.parse().map_err(|_| {
                    anyhow::anyhow!("line {}: `{field}` is not a time in seconds", i + 1)
                })?;
                if !v.is_finite() || v < 0.0 {
                    bail!(
                        "line {}: arrival times are seconds of at least 0 (got {v})",
                        i + 1
                    );
                }
                t.push(v);
            }
        }
        if t.is_empty() {
            bail!("the trace holds no arrival times (one time in seconds per line)");
        }
        t.sort_by(f64::total_cmp);
        let first = t[0];
        Ok(Arrivals::Trace(t.into_iter().map(|v| v - first).collect()))
    }
}

/// Arrival times, ns from the start, for `rate` requests a second over `duration_s`.
pub fn schedule(arrivals: &Arrivals, rate: f64, duration_s: f64, seed: u64) -> Vec<u64> {
    let end = duration_s * 1e9;
    match arrivals {
        Arrivals::Trace(t) => t
            .iter()
            .map(|s| s * 1e9)
            .take_while(|&ns| ns <= end)
            .map(|ns| ns as u64)
            .collect(),
        Arrivals::Constant => {
            let gap = 1e9 / rate;
            (0..)
                .map(|i| i as f64 * gap)
                .take_while(|&ns| ns < end)
                .map(|ns| ns as u64)
                .collect()
        }
        Arrivals::Poisson => {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut t = 0.0;
            let mut out = Vec::new();
            loop {
                let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                t += -u.ln() / rate * 1e9;
                if t >= end {
                    break;
                }
                out.push(t as u64);
            }
            out
        }
    }
}

/// What one request did: when it was due, when a server started it, when it ended (ns from the
/// start), and how late an idle server woke for it (0 when it queued).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Served {
    pub due: u64,
    pub start: u64,
    pub end: u64,
    pub late_wake: u64,
    pub ok: bool,
}

/// Serves `due` (ns from `t0`) with one server per engine; stops early on `cancel`.
/// Returns every request served, in schedule order.
pub fn serve(
    engines: &mut [Box<dyn Engine>],
    requests: &[Vec<Prepared>],
    due: &[u64],
    clock: &dyn Clock,
    cancel: &AtomicBool,
) -> Vec<Served> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Served>> = Mutex::new(Vec::with_capacity(due.len()));
    let t0 = clock.now_ns();
    let server = |engine: &mut Box<dyn Engine>, prepared: &[Prepared]| {
        let mut mine = Vec::new();
        loop {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i >= due.len() {
                break;
            }
            let at = t0 + due[i];
            let mut late_wake = 0;
            if clock.now_ns() < at {
                clock.sleep_until_ns(at);
                late_wake = clock.now_ns().saturating_sub(at);
            }
            let start = clock.now_ns();
            let ok = crate::guard::catch("the engine", || {
                engine.run_prepared(&prepared[i % prepared.len()])
            })
            .is_ok();
            let end = clock.now_ns();
            mine.push(Served {
                due: due[i],
                start: start - t0,
                end: end - t0,
                late_wake,
                ok,
            });
        }
        if let Ok(mut o) = out.lock() {
            o.extend(mine);
        }
    };
    if engines.len() == 1 {
        // One server runs on this thread: exact with a fake clock.
        server(&mut engines[0], &requests[0]);
    } else {
        std::thread::scope(|s| {
            for (k, e) in engines.iter_mut().enumerate() {
                let prepared = &requests[k % requests.len()];
                let server = &server;
                s.spawn(move || server(e, prepared));
            }
        });
    }
    let mut v = out.into_inner().unwrap_or_default();
    v.sort_by_key(|s| s.due);
    v
}

/// Percentiles of one latency sample, ms, with the 95% interval of each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub ci_p50: Option<Interval>,
    pub ci_p95: Option<Interval>,
    pub ci_p99: Option<Interval>,
}

impl Percentiles {
    pub fn of(ns: &mut [u64]) -> Option<Percentiles> {
        if ns.is_empty() {
            return None;
        }
        ns.sort_unstable();
        let ms = |v: u64| v as f64 / 1e6;
        let ci = |q| {
            quantile_ci(ns, q).map(|(a, b)| Interval {
                lo: ms(a),
                hi: ms(b),
            })
        };
        Some(Percentiles {
            p50: ms(nearest_rank(ns, 0.5)),
            p95: ms(nearest_rank(ns, 0.95)),
            p99: ms(nearest_rank(ns, 0.99)),
            ci_p50: ci(0.5),
            ci_p95: ci(0.95),
            ci_p99: ci(0.99),
        })
    }

    pub fn at(&self, q: f64) -> f64 {
        if q >= 0.99 {
            self.p99
        } else if q >= 0.95 {
            self.p95
        } else {
            self.p50
        }
    }
}

/// `p99`, `p95` or `p50` for a percentile given as a share.
pub fn percentile_name(q: f64) -> &'static str {
    if q >= 0.99 {
        "p99"
    } else if q >= 0.95 {
        "p95"
    } else {
        "p50"
    }
}

/// What the queue model predicts for the same servers, rate and measured service times.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predicted {
    /// `None`: the model says the queue saturates.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub utilization: f64,
}

/// The smallest number of requests whose latencies can show that the `q` percentile is under a
/// bound when `over` of them exceed it: the binomial test P(at most `over` exceed | the true
/// share exceeding is 1 - q) <= 0.13%. With none over: 64 for p90 and 662 for p99, the counts
/// MLPerf LoadGen's early stopping asks for.
pub fn min_queries(q: f64, over: u64) -> u64 {
    const ALPHA: f64 = 0.0013;
    let p = 1.0 - q;
    // P(X <= k) for X ~ Binomial(n, p), summed in logs.
    let cdf = |n: u64| -> f64 {
        let mut term = (n as f64) * (1.0 - p).ln(); // k = 0
        let mut sum = term.exp();
        for k in 1..=over.min(n) {
            term += ((n - k + 1) as f64).ln() - (k as f64).ln() + p.ln() - (1.0 - p).ln();
            sum += term.exp();
        }
        sum
    };
    let mut n = over + 1;
    // Grow, then bisect.
    let mut hi = n.max(16);
    while cdf(hi) > ALPHA {
        hi *= 2;
        if hi > 1 << 40 {
            return hi;
        }
    }
    while n < hi {
        let mid = n + (hi - n) / 2;
        if cdf(mid) <= ALPHA {
            hi = mid;
        } else {
            n = mid + 1;
        }
    }
    n
}

/// One open-loop run at one rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadRun {
    /// Requests a second asked for (a trace's own rate for a trace).
    pub rate: f64,
    pub arrivals: String,
    pub servers: usize,
    pub scheduled: u64,
    pub completed: u64,
    pub failed: u64,
    /// Completed requests a second, over the span from the first arrival to the last answer.
    pub achieved_rps: f64,
    /// From the scheduled arrival to the answer: what a client waits.
    pub latency: Percentiles,
    /// From the start of the engine call to its end.
    pub service: Percentiles,
    /// Wait in the queue (start minus scheduled arrival).
    pub wait: Percentiles,
    /// Share of the servers' time spent in engine calls.
    pub utilization: f64,
    /// How late idle servers woke for due requests: the generator's own lateness.
    pub send_late_p99_ms: f64,
    pub send_late_max_ms: f64,
    /// The rate could not be issued as asked (sends late): its numbers are not a measurement
    /// of the model under this load.
    pub not_issued: Option<String>,
    /// The queue grew through the run: the servers were saturated and requests late in the run
    /// waited far longer than early ones. The rate is not sustainable, however short the run.
    #[serde(default)]
    pub queue_growing: bool,
    /// Requests over the latency bound (the target, when one was given).
    pub bound_ms: Option<f64>,
    /// The percentile the bound is for, as a share (0.99: p99; 0.95 for `--target-p95`);
    /// files written before it was recorded: p99.
    #[serde(default = "p99_share")]
    pub bound_q: f64,
    pub over_bound: u64,
    /// Whether the run holds enough requests to claim its p99 against the bound.
    pub enough_for_p99: bool,
    pub min_queries_p99: u64,
    pub predicted: Option<Predicted>,
    /// The same arrivals replayed through a first-come-first-served queue of the same servers
    /// with the service times measured, in the order measured: what the latencies would be if
    /// the servers never paused while requests waited. Measured above it: the servers stalled
    /// (the OS or the engine's threads took the cores); the queue model below it: the service
    /// times came in runs (slow ones together), which a model of independent times misses.
    #[serde(default)]
    pub replayed: Option<Percentiles>,
    /// Lag-1 autocorrelation of the service times in the order served: near 0 when each call
    /// is independent of the last (what the queue model assumes); well above 0 when slow calls
    /// come in runs, which queues far worse than the model says.
    #[serde(default)]
    pub service_autocorrelation: f64,
    /// 101 evenly spaced quantiles of the latency (0..100%), ms, for plots.
    pub latency_quantiles_ms: Vec<f64>,
}

fn p99_share() -> f64 {
    0.99
}

impl LoadRun {
    /// Requests the run needs to show its bound's percentile ([`LoadRun::bound_q`]) under the
    /// bound with `over_bound` of them over it ([`min_queries`]).
    pub fn min_queries_for_bound(&self) -> u64 {
        min_queries(self.bound_q, self.over_bound)
    }
}

/// How late a send may be before the rate is refused: 1 ms, or a tenth of the median service
/// time when that is longer, for more than 1% of sends.
fn lateness_limit_ns(service_p50_ms: f64) -> u64 {
    (1e6f64).max(service_p50_ms * 1e6 * 0.1) as u64
}

/// Reduces what [`serve`] returned to a [`LoadRun`], with the queue model's prediction.
/// `bound_ms` is a p99 bound; set [`LoadRun::bound_q`] on the result for another percentile.
pub fn summarize(
    served: &[Served],
    rate: f64,
    arrivals: &Arrivals,
    servers: usize,
    scheduled: usize,
    bound_ms: Option<f64>,
) -> Result<LoadRun> {
    let ok: Vec<&Served> = served.iter().filter(|s| s.ok).collect();
    if ok.is_empty() {
        bail!("no request completed");
    }
    let mut latency: Vec<u64> = ok.iter().map(|s| s.end - s.due).collect();
    let mut service: Vec<u64> = ok.iter().map(|s| s.end - s.start).collect();
    let mut wait: Vec<u64> = ok.iter().map(|s| s.start.saturating_sub(s.due)).collect();
    let first = served.iter().map(|s| s.due).min().unwrap_or(0);
    let last = served.iter().map(|s| s.end).max().unwrap_or(0);
    let span_s = ((last - first) as f64 / 1e9).max(1e-9);
    let busy_s: f64 = service.iter().map(|&v| v as f64 / 1e9).sum();
    let service_s: Vec<f64> = service.iter().map(|&v| v as f64 / 1e9).collect();
    let over_bound = bound_ms
        .map(|b| latency.iter().filter(|&&v| v as f64 / 1e6 > b).count() as u64)
        .unwrap_or(0);
    let mut sketch = latency.clone();
    sketch.sort_unstable();
    let latency_quantiles_ms = crate::bench::stats::quantile_sketch_ms(&sketch, 100);
    // Growth: the median latency of the last quarter of arrivals against the first.
    let queue_growing = {
        let n = latency.len();
        let quarter = |a: usize| {
            let mut v: Vec<u64> = latency[a * n / 4..(a + 1) * n / 4].to_vec();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0) as f64
        };
        let busy = busy_s / (servers as f64 * span_s);
        let mut svc_sorted = service.clone();
        svc_sorted.sort_unstable();
        let svc_p50 = nearest_rank(&svc_sorted, 0.5) as f64;
        n >= 40 && busy > 0.9 && {
            let (first, last) = (quarter(0), quarter(3));
            last > 2.0 * first && last - first > 2.0 * svc_p50
        }
    };
    let lat = Percentiles::of(&mut latency).expect("not empty");
    let svc = Percentiles::of(&mut service).expect("not empty");
    let wt = Percentiles::of(&mut wait).expect("not empty");
    let mut late: Vec<u64> = served.iter().map(|s| s.late_wake).collect();
    late.sort_unstable();
    let late_p99 = nearest_rank(&late, 0.99);
    let late_max = late.last().copied().unwrap_or(0);
    let limit = lateness_limit_ns(svc.p50);
    let late_share = late.iter().filter(|&&v| v > limit).count() as f64 / late.len() as f64;
    let not_issued = (late_share > 0.01).then(|| {
        format!(
            "{:.1}% of requests were sent more than {} late (p99 lateness {}): this machine could not issue {rate:.1} req/s on schedule beside the model",
            late_share * 100.0,
            crate::format::ms(limit as f64 / 1e6),
            crate::format::ms(late_p99 as f64 / 1e6)
        )
    });
    // The queue model over the service times this run measured.
    let queue = crate::cost::queue::Queue::from_samples(servers as u32, rate, &service_s);
    let mut sorted_s = service_s.clone();
    sorted_s.sort_by(f64::total_cmp);
    let reduced = crate::cost::queue::reduce_sorted(&sorted_s, 256);
    let predicted = {
        let d = queue.wait_distribution(&reduced);
        let at = |q: f64| d.as_ref().map(|d| d.response_quantile(q, &reduced) * 1e3);
        Some(Predicted {
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            utilization: queue.utilization(),
        })
    };
    let service_autocorrelation = {
        let mut by_start: Vec<&&Served> = ok.iter().collect();
        by_start.sort_by_key(|s| s.start);
        let x: Vec<f64> = by_start.iter().map(|s| (s.end - s.start) as f64).collect();
        lag1_autocorrelation(&x)
    };
    let replayed = {
        let mut r = replay(&ok, servers);
        Percentiles::of(&mut r)
    };
    let min_q = min_queries(0.99, over_bound);
    Ok(LoadRun {
        rate,
        arrivals: arrivals.label().into(),
        servers,
        scheduled: scheduled as u64,
        completed: ok.len() as u64,
        failed: (served.len() - ok.len()) as u64,
        achieved_rps: ok.len() as f64 / span_s,
        latency: lat,
        service: svc,
        wait: wt,
        utilization: (busy_s / (servers as f64 * span_s)).min(1.0),
        send_late_p99_ms: late_p99 as f64 / 1e6,
        send_late_max_ms: late_max as f64 / 1e6,
        not_issued,
        queue_growing,
        bound_ms,
        bound_q: p99_share(),
        over_bound,
        enough_for_p99: ok.len() as u64 >= min_q,
        min_queries_p99: min_q,
        predicted,
        replayed,
        service_autocorrelation,
        latency_quantiles_ms,
    })
}

/// Lag-1 autocorrelation of a series; 0 for fewer than 3 values or no variance.
pub fn lag1_autocorrelation(x: &[f64]) -> f64 {
    if x.len() < 3 {
        return 0.0;
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
    if var <= 0.0 {
        return 0.0;
    }
    let cov: f64 = x.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
    cov / var
}

/// Latencies (ns) of the served requests replayed through a FIFO queue of `servers` with their
/// measured service times: each request starts when it is due and a server is free.
pub fn replay(served: &[&Served], servers: usize) -> Vec<u64> {
    let mut free = vec![0u64; servers.max(1)];
    let mut order: Vec<&&Served> = served.iter().collect();
    order.sort_by_key(|s| s.due);
    order
        .iter()
        .map(|s| {
            let (k, &at) = free
                .iter()
                .enumerate()
                .min_by_key(|(_, &t)| t)
                .expect("at least one server");
            let start = at.max(s.due);
            let end = start + (s.end - s.start);
            free[k] = end;
            end - s.due
        })
        .collect()
}

/// One rate, end to end: schedule, serve on `engines`, summarize.
#[allow(clippy::too_many_arguments)]
pub fn run_rate(
    engines: &mut [Box<dyn Engine>],
    requests: &[Vec<Prepared>],
    arrivals: &Arrivals,
    rate: f64,
    duration_s: f64,
    seed: u64,
    bound_ms: Option<f64>,
    clock: &dyn Clock,
    cancel: &AtomicBool,
) -> Result<LoadRun> {
    let usable = rate.is_finite() && rate > 0.0;
    if !usable && !matches!(arrivals, Arrivals::Trace(_)) {
        bail!("the rate must be a number of requests a second above 0 (got {rate})");
    }
    let servers = engines.len();
    let due = schedule(arrivals, rate, duration_s, seed);
    if due.is_empty() {
        bail!("no request falls within {duration_s} s at {rate} req/s: lengthen --duration");
    }
    let rate = match arrivals {
        Arrivals::Trace(_) => {
            due.len() as f64
                / (duration_s
                    .min(*due.last().unwrap_or(&0) as f64 / 1e9)
                    .max(1e-9))
        }
        _ => rate,
    };
    let served = serve(engines, requests, &due, clock, cancel);
    if cancel.load(Ordering::Relaxed) {
        bail!("cancelled");
    }
    summarize(&served, rate, arrivals, servers, due.len(), bound_ms)
}

/// Seconds per rate when none is given: 10 s, or long enough for 700 requests (what a p99 with
/// none over its bound needs, with room), at most 120 s.
pub fn default_duration(rate: f64) -> f64 {
    (700.0 / rate.max(1e-9)).clamp(10.0, 120.0)
}

/// Engine sessions ready to serve: loaded, each with its requests prepared, warmed up.
pub struct Servers {
    pub engines: Vec<Box<dyn Engine>>,
    pub requests: Vec<Vec<Prepared>>,
    /// `onnxruntime 1.31.1`, `tract 0.23.9`.
    pub version: String,
    /// Mean time of one request on one server after warm-up, seconds.
    pub service_s: f64,
}

impl Servers {
    /// Loads `n` sessions of `model` on `kind` (the first loaded, the rest forked), prepares
    /// single-sample requests from `samples` on each, and warms each up with `warmup` requests
    /// (at least 3); the second half of the warm-up times the service.
    pub fn start(
        model: &crate::model::Model,
        samples: &crate::data::SampleSet,
        kind: crate::engine::EngineKind,
        options: &crate::engine::EngineOptions,
        n: usize,
        warmup: u64,
        max_distinct: usize,
    ) -> Result<Servers> {
        if n == 0 || n > 256 {
            bail!("servers must be between 1 and 256 (got {n})");
        }
        let first = crate::engine::load(kind, model, options)?;
        let version = first.version();
        let mut engines = vec![first];
        for _ in 1..n {
            let e = engines[0].fork()?;
            engines.push(e);
        }
        let inputs = crate::data::requests(model, samples, Some(1), max_distinct)?;
        let mut requests = Vec::new();
        for e in engines.iter_mut() {
            requests.push(
                inputs
                    .iter()
                    .map(|r| e.prepare(r))
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        // Warm-up: the requests asked for, and on until a quarter second of calls (at most
        // 5000), so the estimate of the flat-out rate rests on more than a few calls.
        let mut times = Vec::new();
        for (e, reqs) in engines.iter_mut().zip(&requests) {
            let begin = std::time::Instant::now();
            let mut i = 0usize;
            while (i as u64) < warmup.max(3) || (begin.elapsed().as_secs_f64() < 0.25 && i < 5000) {
                let t = std::time::Instant::now();
                crate::guard::catch("the engine", || e.run_prepared(&reqs[i % reqs.len()]))
                    .map_err(|e| anyhow::anyhow!("the warm-up request failed: {e:#}"))?;
                times.push(t.elapsed().as_secs_f64());
                i += 1;
            }
        }
        let tail = &times[times.len() / 2..];
        let service_s = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
        Ok(Servers {
            engines,
            requests,
            version,
            service_s,
        })
    }

    /// About how many requests a second these servers serve flat out.
    pub fn estimate_rps(&self) -> f64 {
        self.engines.len() as f64 / self.service_s.max(1e-9)
    }

    /// One rate on the real clock.
    pub fn run(
        &mut self,
        arrivals: &Arrivals,
        rate: f64,
        duration_s: f64,
        seed: u64,
        bound_ms: Option<f64>,
        cancel: &AtomicBool,
    ) -> Result<LoadRun> {
        let clock = RealClock::new();
        run_rate(
            &mut self.engines,
            &self.requests,
            arrivals,
            rate,
            duration_s,
            seed,
            bound_ms,
            &clock,
            cancel,
        )
    }
}

/// The real clock, for callers outside the tests.
pub fn real_clock() -> Arc<dyn Clock> {
    Arc::new(RealClock::new())
}
