//! Runs a [`Plan`]: loads engines, warms up, measures with N closed-loop clients, and streams
//! [`Event`]s to any sink. It knows nothing of threads the caller owns or of windows.

use super::memory::MemorySampler;
use super::stats::{quality_warnings, Recorder};
use super::{Event, Phase, Plan, RunId, RunResult, RunSpec, StopRule, Warmup};
use crate::data::{self, SampleSet};
use crate::engine::{self, Engine, EngineKind, Prepared};
use crate::model::Model;
use crate::tensor::Tensor;
use anyhow::Result;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic time source in nanoseconds. Tests substitute a scripted one.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> u64;
}

/// The real monotonic clock.
pub struct RealClock(Instant);

impl RealClock {
    pub fn new() -> RealClock {
        RealClock(Instant::now())
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// Cuts requests for a batch size: the requests, and the samples each holds.
pub type RequestsFn<'a> = dyn Fn(Option<usize>) -> Result<(Vec<Vec<Tensor>>, usize)> + Sync + 'a;

/// What the scheduler benchmarks: how to cut requests and how to load an engine.
pub struct Workload<'a> {
    pub model_name: String,
    pub variant: String,
    /// Requests for a batch size, and the samples each holds.
    pub requests: &'a RequestsFn<'a>,
    pub load: &'a (dyn Fn(EngineKind) -> Result<Box<dyn Engine>> + Sync),
}

/// Samples shipped from a client per message (preallocated; sent between iterations).
const CHUNK: usize = 256;
/// A client ships what it has at least this often, so plots stay live for slow models.
const FLUSH_NS: u64 = 50_000_000;
/// The collector wakes at least this often to check for cancellation.
const POLL: Duration = Duration::from_millis(5);
/// Events to the sink at most this often.
const EVENT_EVERY: Duration = Duration::from_millis(100);

enum ClientMsg {
    /// (start_ns, latency_ns) per request.
    Samples(Vec<(u64, u64)>),
    Error(String),
}

/// Benchmarks a real model: loads it into each engine of the plan and runs every batch size.
pub fn run_model(
    plan: &Plan,
    model: &Model,
    samples: &SampleSet,
    cancel: &AtomicBool,
    sink: &mut dyn FnMut(Event),
) -> Vec<RunResult> {
    let requests = |batch: Option<usize>| -> Result<(Vec<Vec<Tensor>>, usize)> {
        let reqs = data::requests(model, samples, batch, plan.max_distinct_requests)?;
        let per_request = batch.or(samples.n_samples).unwrap_or(1);
        Ok((reqs, per_request))
    };
    let load = |kind: EngineKind| engine::load(kind, model, &plan.engine_options);
    let workload = Workload {
        model_name: model.info.name.clone(),
        variant: "original".into(),
        requests: &requests,
        load: &load,
    };
    run_plan(plan, &workload, Arc::new(RealClock::new()), cancel, sink)
}

/// Runs every engine x batch size of `plan` on `workload`. Failures are reported as
/// [`Event::Failed`] and skip only what they concern; the sink always gets [`Event::Finished`].
pub fn run_plan(
    plan: &Plan,
    workload: &Workload,
    clock: Arc<dyn Clock>,
    cancel: &AtomicBool,
    sink: &mut dyn FnMut(Event),
) -> Vec<RunResult> {
    let sampler = MemorySampler::start(Duration::from_millis(10));
    let mut results = Vec::new();
    let mut run_id: RunId = 0;
    'engines: for &kind in &plan.engines {
        let first_run = run_id;
        run_id += plan.batch_sizes.len();
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        sink(Event::Progress {
            run: first_run,
            phase: Phase::Loading,
            done: 0,
            total: None,
        });
        let rss_before = sampler.sample_now();
        let t_load = Instant::now();
        let mut primary = match (workload.load)(kind) {
            Ok(e) => e,
            Err(e) => {
                sink(Event::Failed {
                    run: None,
                    error: format!("{kind}: {e:#}"),
                });
                continue;
            }
        };
        let load_time_ms = t_load.elapsed().as_secs_f64() * 1e3;
        let rss_after = sampler.sample_now();
        let mut forks: Vec<Box<dyn Engine>> = Vec::new();
        for _ in 1..plan.concurrency.max(1) {
            match primary.fork() {
                Ok(f) => forks.push(f),
                Err(e) => {
                    sink(Event::Failed {
                        run: None,
                        error: format!("{kind}: cannot open another session: {e:#}"),
                    });
                    continue 'engines;
                }
            }
        }
        for (i, &batch) in plan.batch_sizes.iter().enumerate() {
            let run = first_run + i;
            if cancel.load(Ordering::Relaxed) {
                break 'engines;
            }
            let spec = RunSpec {
                engine: kind,
                variant: workload.variant.clone(),
                batch_size: batch,
                concurrency: plan.concurrency.max(1),
            };
            sink(Event::Started { run, spec });
            let prepared = crate::guard::catch("preparing the inputs", || {
                let (reqs, per_request) = (workload.requests)(batch)?;
                let mut all = Vec::new();
                for e in std::iter::once(&mut primary).chain(forks.iter_mut()) {
                    let p = reqs
                        .iter()
                        .map(|r| e.prepare(r))
                        .collect::<Result<Vec<Prepared>>>()?;
                    all.push(p);
                }
                Ok((all, per_request))
            });
            let (prepared, per_request) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    sink(Event::Failed {
                        run: Some(run),
                        error: format!("{e:#}"),
                    });
                    continue;
                }
            };
            sampler.reset_peak();
            let mut clients: Vec<(&mut Box<dyn Engine>, Vec<Prepared>)> =
                std::iter::once(&mut primary)
                    .chain(forks.iter_mut())
                    .zip(prepared)
                    .collect();
            let outcome = measure(
                plan,
                run,
                &mut clients,
                clock.as_ref(),
                cancel,
                &sampler,
                sink,
            );
            let peak = sampler.peak().max(sampler.sample_now());
            if let Some(e) = outcome.error {
                sink(Event::Failed {
                    run: Some(run),
                    error: e,
                });
                continue;
            }
            if outcome.cancelled {
                sink(Event::Failed {
                    run: Some(run),
                    error: "cancelled".into(),
                });
                break 'engines;
            }
            let summary = match outcome.recorder.summarize() {
                Ok(s) => s,
                Err(e) => {
                    sink(Event::Failed {
                        run: Some(run),
                        error: format!("{e:#}"),
                    });
                    continue;
                }
            };
            let secs = outcome.span_ns as f64 / 1e9;
            let rps = if secs > 0.0 {
                summary.n as f64 / secs
            } else {
                0.0
            };
            let warnings = quality_warnings(
                &summary,
                outcome.recorder.raw(),
                outcome.first_ns,
                outcome.warmup_count,
            );
            let mb = |b: u64| b as f64 / 1e6;
            let result = RunResult {
                run_id: run,
                model_name: workload.model_name.clone(),
                engine: kind,
                engine_version: primary.version(),
                execution_provider: match kind {
                    EngineKind::Ort => plan.engine_options.execution_provider.clone(),
                    EngineKind::Tract => None,
                },
                variant: workload.variant.clone(),
                batch_size: per_request,
                concurrency: plan.concurrency.max(1),
                n_iterations: summary.n,
                warmup_iterations: outcome.warmup_count,
                latency_mean: summary.mean_ms,
                latency_p50: summary.p50_ms,
                latency_p90: summary.p90_ms,
                latency_p95: summary.p95_ms,
                latency_p99: summary.p99_ms,
                latency_p999: summary.p999_ms,
                latency_std: summary.std_ms,
                latency_min: summary.min_ms,
                latency_max: summary.max_ms,
                latency_cv: summary.cv,
                ci_p50: summary.ci_p50,
                ci_p95: summary.ci_p95,
                ci_p99: summary.ci_p99,
                throughput_rps: rps * per_request as f64,
                requests_per_second: rps,
                memory_mb: mb(peak),
                rss_before_load_mb: mb(rss_before),
                rss_after_load_mb: mb(rss_after),
                load_time_ms,
                first_iteration_ms: outcome.first_ns.unwrap_or(0) as f64 / 1e6,
                measure_seconds: secs,
                stop_reason: outcome.stop_reason,
                warnings,
                latency_quantiles_ms: super::stats::quantile_sketch_ms(outcome.recorder.raw(), 256),
                raw_latencies_ns: outcome.recorder.raw().to_vec(),
            };
            sink(Event::RunDone {
                run,
                result: Box::new(result.clone()),
            });
            results.push(result);
        }
    }
    sink(Event::Finished);
    results
}

struct Outcome {
    recorder: Recorder,
    first_ns: Option<u64>,
    warmup_count: u64,
    /// From the start of the first measured request to the end of the last.
    span_ns: u64,
    stop_reason: String,
    error: Option<String>,
    cancelled: bool,
}

/// Warm-up then measurement on every client at once; returns when the stop rule is met,
/// the run is cancelled, or a client fails.
fn measure(
    plan: &Plan,
    run: RunId,
    clients: &mut [(&mut Box<dyn Engine>, Vec<Prepared>)],
    clock: &dyn Clock,
    cancel: &AtomicBool,
    sampler: &MemorySampler,
    sink: &mut dyn FnMut(Event),
) -> Outcome {
    let warm_n = match plan.warmup {
        Warmup::Iterations(n) => Some(n),
        Warmup::Duration(_) => None,
    };
    let limit = match (warm_n, plan.stop) {
        (Some(w), StopRule::Iterations(n)) => w + n,
        (Some(w), StopRule::UntilStable { max_iterations, .. }) => w + max_iterations,
        _ => u64::MAX,
    };
    let total = match plan.stop {
        StopRule::Iterations(n) => Some(n),
        StopRule::UntilStable { max_iterations, .. } => Some(max_iterations),
        StopRule::MinTime { .. } => None,
    };
    let stop = AtomicBool::new(false);
    let issued = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<ClientMsg>();

    let mut out = Outcome {
        recorder: Recorder::new(plan.max_raw_samples),
        first_ns: None,
        warmup_count: 0,
        span_ns: 0,
        stop_reason: String::new(),
        error: None,
        cancelled: false,
    };

    std::thread::scope(|scope| {
        for (ix, (engine, prepared)) in clients.iter_mut().enumerate() {
            let (tx, tx_err) = (tx.clone(), tx.clone());
            let (stop, issued) = (&stop, &issued);
            let engine: &mut Box<dyn Engine> = engine;
            let prepared: &Vec<Prepared> = prepared;
            std::thread::Builder::new()
                .name(format!("inferscope-client-{ix}"))
                .spawn_scoped(scope, move || {
                    client_loop(
                        engine.as_mut(),
                        prepared,
                        ix,
                        clock,
                        stop,
                        issued,
                        limit,
                        &tx,
                    )
                })
                .map(drop)
                .unwrap_or_else(|e| {
                    stop.store(true, Ordering::Relaxed);
                    let _ = tx_err.send(ClientMsg::Error(format!(
                        "cannot start a client thread: {e}"
                    )));
                });
        }
        drop(tx);

        let mut warm_pending: Vec<u64> = Vec::new();
        let mut meas_pending: Vec<u64> = Vec::new();
        let mut last_event = Instant::now();
        let mut first_start: Option<u64> = None;
        let mut m_first_start = u64::MAX;
        let mut m_last_end = 0u64;
        let mut next_stable_check = 0u64;
        let mut phase = Phase::Warmup;
        let mut stopped = false;

        let flush =
            |sink: &mut dyn FnMut(Event), pending: &mut Vec<u64>, phase: Phase, done: u64| {
                if !pending.is_empty() {
                    sink(Event::Samples {
                        run,
                        phase,
                        latencies_ns: std::mem::take(pending),
                        rss_bytes: sampler.current(),
                    });
                }
                sink(Event::Progress {
                    run,
                    phase,
                    done,
                    total: if phase == Phase::Measure {
                        total
                    } else {
                        warm_n
                    },
                });
            };

        loop {
            let msg = rx.recv_timeout(POLL);
            if !stopped && cancel.load(Ordering::Relaxed) {
                stop.store(true, Ordering::Relaxed);
                stopped = true;
                out.cancelled = true;
            }
            match msg {
                Ok(ClientMsg::Error(e)) => {
                    stop.store(true, Ordering::Relaxed);
                    stopped = true;
                    out.error.get_or_insert(e);
                }
                Ok(ClientMsg::Samples(batch)) if !stopped => {
                    for (start, lat) in batch {
                        if stopped {
                            break;
                        }
                        if out.first_ns.is_none() {
                            out.first_ns = Some(lat);
                        }
                        let fs = *first_start.get_or_insert(start);
                        let is_warm = match plan.warmup {
                            Warmup::Iterations(n) => out.warmup_count < n,
                            Warmup::Duration(d) => start < fs + d.as_nanos() as u64,
                        };
                        if is_warm {
                            out.warmup_count += 1;
                            warm_pending.push(lat);
                            continue;
                        }
                        if phase == Phase::Warmup {
                            flush(sink, &mut warm_pending, Phase::Warmup, out.warmup_count);
                            phase = Phase::Measure;
                        }
                        out.recorder.record(lat);
                        meas_pending.push(lat);
                        m_first_start = m_first_start.min(start);
                        m_last_end = m_last_end.max(start + lat);
                        let n = out.recorder.count();
                        let elapsed = m_last_end.saturating_sub(m_first_start);
                        let reason = match plan.stop {
                            StopRule::Iterations(target) => {
                                (n >= target).then(|| format!("{target} iterations"))
                            }
                            StopRule::MinTime {
                                min_time,
                                min_iterations,
                            } => (n >= min_iterations && elapsed >= min_time.as_nanos() as u64)
                                .then(|| {
                                    format!(
                                        "{:.1} s and {min_iterations}+ iterations",
                                        min_time.as_secs_f64()
                                    )
                                }),
                            StopRule::UntilStable {
                                rel_width,
                                min_iterations,
                                max_iterations,
                                max_time,
                            } => {
                                if n >= max_iterations {
                                    Some(format!(
                                        "cap of {max_iterations} iterations before p99 was stable"
                                    ))
                                } else if elapsed >= max_time.as_nanos() as u64 {
                                    Some(format!(
                                        "time cap of {:.0} s before p99 was stable",
                                        max_time.as_secs_f64()
                                    ))
                                } else if n >= min_iterations.max(1) && n >= next_stable_check {
                                    next_stable_check = n + n / 10 + 1;
                                    match out.recorder.relative_ci_width(0.99) {
                                        Some(w) if w <= rel_width => Some(format!(
                                            "p99 stable: 95% interval within {:.1}% after {n} iterations",
                                            w * 100.0
                                        )),
                                        _ => None,
                                    }
                                } else {
                                    None
                                }
                            }
                        };
                        if let Some(r) = reason {
                            out.stop_reason = r;
                            stop.store(true, Ordering::Relaxed);
                            stopped = true;
                        }
                    }
                }
                Ok(ClientMsg::Samples(_)) => {} // after the stop: outside the measured window
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if last_event.elapsed() >= EVENT_EVERY {
                last_event = Instant::now();
                match phase {
                    Phase::Measure => flush(
                        sink,
                        &mut meas_pending,
                        Phase::Measure,
                        out.recorder.count(),
                    ),
                    _ => flush(sink, &mut warm_pending, Phase::Warmup, out.warmup_count),
                }
            }
        }
        flush(sink, &mut warm_pending, Phase::Warmup, out.warmup_count);
        if phase == Phase::Measure || !meas_pending.is_empty() {
            flush(
                sink,
                &mut meas_pending,
                Phase::Measure,
                out.recorder.count(),
            );
        }
        out.span_ns = m_last_end.saturating_sub(m_first_start.min(m_last_end));
        if out.stop_reason.is_empty() && out.error.is_none() && !out.cancelled {
            out.stop_reason = "the clients stopped".into();
        }
    });
    out
}

/// One closed-loop client: time the engine call, nothing else; ship samples between calls.
#[allow(clippy::too_many_arguments)]
fn client_loop(
    engine: &mut dyn Engine,
    prepared: &[Prepared],
    offset: usize,
    clock: &dyn Clock,
    stop: &AtomicBool,
    issued: &AtomicU64,
    limit: u64,
    tx: &mpsc::Sender<ClientMsg>,
) {
    if prepared.is_empty() {
        let _ = tx.send(ClientMsg::Error("no requests to run".into()));
        return;
    }
    let mut buf: Vec<(u64, u64)> = Vec::with_capacity(CHUNK);
    let mut last_flush = clock.now_ns();
    let mut k = offset;
    loop {
        if stop.load(Ordering::Relaxed) || issued.fetch_add(1, Ordering::Relaxed) >= limit {
            break;
        }
        let request = &prepared[k % prepared.len()];
        k += 1;
        let t0 = clock.now_ns();
        let r = engine.run_prepared(request);
        let t1 = clock.now_ns();
        if let Err(e) = r {
            let _ = tx.send(ClientMsg::Error(format!("{e:#}")));
            return;
        }
        buf.push((t0, t1.saturating_sub(t0)));
        if buf.len() == CHUNK || t1.saturating_sub(last_flush) >= FLUSH_NS {
            if tx
                .send(ClientMsg::Samples(std::mem::replace(
                    &mut buf,
                    Vec::with_capacity(CHUNK),
                )))
                .is_err()
            {
                return;
            }
            last_flush = t1;
        }
    }
    if !buf.is_empty() {
        let _ = tx.send(ClientMsg::Samples(buf));
    }
}
