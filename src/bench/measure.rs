//! One run's measurement: the client threads that call the engine, and the collector that
//! splits warm-up from measurement, applies the stop rule and streams events.

use super::memory::MemorySampler;
use super::scheduler::*;
use super::stats::Recorder;
use super::{Clock, Event, Phase, Plan, RunId, StopRule, Warmup};
use crate::engine::{Engine, Prepared};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

pub(super) struct Outcome {
    pub(super) recorder: Recorder,
    pub(super) first_ns: Option<u64>,
    pub(super) warmup_count: u64,
    /// From the start of the first measured request to the end of the last.
    pub(super) span_ns: u64,
    pub(super) stop_reason: String,
    pub(super) error: Option<String>,
    pub(super) cancelled: bool,
}

impl Outcome {
    pub(super) fn new(plan: &Plan) -> Outcome {
        Outcome {
            recorder: Recorder::new(plan.max_raw_samples),
            first_ns: None,
            warmup_count: 0,
            span_ns: 0,
            stop_reason: String::new(),
            error: None,
            cancelled: false,
        }
    }
}

/// Warm-up then measurement on every client at once; returns when the stop rule is met,
/// the run is cancelled, or a client fails.
pub(super) fn measure(
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

    let mut out = Outcome::new(plan);

    std::thread::scope(|scope| {
        for (ix, (engine, prepared)) in clients.iter_mut().enumerate() {
            let (tx, tx_err) = (tx.clone(), tx.clone());
            let (stop, issued) = (&stop, &issued);
            let engine: &mut Box<dyn Engine> = engine;
            let prepared: &Vec<Prepared> = prepared;
            std::thread::Builder::new()
                .name(format!("inferscope-client-{ix}"))
                .spawn_scoped(scope, move || {
                    // A panic in an engine call fails this run with the reason, not the job.
                    let r = crate::guard::catch("running the model", || {
                        client_loop(
                            engine.as_mut(),
                            prepared,
                            ix,
                            clock,
                            [stop, cancel],
                            issued,
                            limit,
                            &tx,
                        );
                        Ok(())
                    });
                    if let Err(e) = r {
                        stop.store(true, Ordering::Relaxed);
                        let _ = tx.send(ClientMsg::Error(format!("{e:#}")));
                    }
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
                        at: Instant::now(),
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
                            Warmup::Iterations(n) => {
                                out.warmup_count < n
                                    && plan
                                        .warmup_max_time
                                        .is_none_or(|t| start < fs + t.as_nanos() as u64)
                            }
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
                                max_time,
                            } => {
                                let cap = max_time.map(|t| t.as_nanos() as u64);
                                if n >= min_iterations && elapsed >= min_time.as_nanos() as u64 {
                                    Some(format!(
                                        "{:.1} s and {min_iterations}+ iterations",
                                        min_time.as_secs_f64()
                                    ))
                                } else if cap.is_some_and(|c| elapsed >= c) {
                                    Some(format!(
                                        "time cap of {:.0} s reached with {n} of the {min_iterations} iterations asked for (a slow model: raise --max-time for more)",
                                        max_time.unwrap_or_default().as_secs_f64()
                                    ))
                                } else {
                                    None
                                }
                            }
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
pub(super) fn client_loop(
    engine: &mut dyn Engine,
    prepared: &[Prepared],
    offset: usize,
    clock: &dyn Clock,
    // The collector's stop, and the user's cancel: each is seen before the next call.
    [stop, cancel]: [&AtomicBool; 2],
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
        if stop.load(Ordering::Relaxed)
            || cancel.load(Ordering::Relaxed)
            || issued.fetch_add(1, Ordering::Relaxed) >= limit
        {
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
