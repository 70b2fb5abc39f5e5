//! Runs a [`Plan`]: loads engines, warms up, measures with N closed-loop clients, and streams
//! [`Event`]s to any sink. It knows nothing of threads the caller owns or of windows.

use super::measure::{measure, Outcome};
use super::memory::MemorySampler;
use super::quiet::Quiet;
use super::stats::quality_warnings;
use super::{Event, OwnProcess, Phase, Plan, RunId, RunResult, RunSpec, StopRule, Warmup};
use crate::data::{self, SampleSet};
use crate::engine::{self, Engine, EngineKind, EngineOptions, Prepared};
use crate::model::Model;
use crate::tensor::Tensor;
use anyhow::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic time source in nanoseconds. Tests substitute a scripted one.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> u64;

    /// Returns at `t` (ns on this clock) or just after; at once when `t` has passed.
    fn sleep_until_ns(&self, t: u64) {
        while self.now_ns() < t {
            std::hint::spin_loop();
        }
    }

    /// Returns once no other thread of this process is busy (see [`super::quiet`]): before a
    /// turn of an interleaved run. A scripted clock has no threads to wait for.
    fn quiet(&self) -> Quiet {
        Quiet::Settled(Duration::ZERO)
    }
}

/// How long a turn of an interleaved run waits for the other sessions' threads to go idle.
pub const QUIET_CAP: Duration = Duration::from_secs(3);

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

    /// Sleeps to within 200 us of `t` (a sleep can overshoot by tens of microseconds), then
    /// yields until `t`: on time without burning a core another server needs.
    fn sleep_until_ns(&self, t: u64) {
        const SPIN_NS: u64 = 200_000;
        let now = self.now_ns();
        if t > now + SPIN_NS {
            std::thread::sleep(Duration::from_nanos(t - now - SPIN_NS));
        }
        while self.now_ns() < t {
            std::thread::yield_now();
        }
    }

    fn quiet(&self) -> Quiet {
        super::quiet::wait_for_quiet(QUIET_CAP)
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
    /// Runs on this engine only (an ONNX Runtime setting has no meaning for tract).
    pub only: Option<EngineKind>,
    /// The model and its options, to measure its memory and cold start in a process of its
    /// own ([`super::isolated`]); `None` for a scripted engine.
    pub isolate: Option<(&'a Model, EngineOptions)>,
}

/// Measures `w` on `kind` in a process of its own, one request per batch of the plan
/// (smallest first); what it found, or why not, for each batch's run.
fn own_process(
    plan: &Plan,
    w: &Workload,
    kind: EngineKind,
    cancel: &AtomicBool,
) -> Option<Vec<(Option<usize>, OwnProcess)>> {
    let (model, options) = w.isolate.as_ref()?;
    if cancel.load(Ordering::Relaxed) {
        return None;
    }
    let mut batches = plan.batch_sizes.clone();
    // Smallest first (the kernel's peak only grows); the data as given, whatever its size, last.
    batches.sort_by_key(|b| b.unwrap_or(usize::MAX));
    let mut requests = Vec::new();
    for &b in &batches {
        // A batch the data cannot be cut into fails in the run itself, with its reason.
        if let Ok((reqs, _)) = (w.requests)(b) {
            if let Some(first) = reqs.into_iter().next() {
                requests.push((b, first));
            }
        }
    }
    let found = crate::guard::catch("measuring in a process of its own", || {
        // Without a time cap (a fixed count of requests), a minute: the memory of the larger
        // batches is not worth more of the user's time than the run itself.
        let budget = plan.max_time().unwrap_or(Duration::from_secs(60));
        super::isolated::measure(model, kind, options, &requests, Some(budget), cancel)
    });
    Some(
        plan.batch_sizes
            .iter()
            .map(|&b| {
                let own = match &found {
                    Ok(i) => match i.peak_at(b) {
                        Some(peak) => OwnProcess::Measured {
                            peak_rss_mb: peak,
                            cold_start: i.cold_start(),
                            non_finite: i.non_finite_outputs.clone(),
                        },
                        None => OwnProcess::NotMeasured {
                            why: "the process of its own could not run this batch".into(),
                        },
                    },
                    Err(e) => OwnProcess::NotMeasured {
                        why: format!("{e:#}"),
                    },
                };
                (b, own)
            })
            .collect(),
    )
}

/// The own-process finding for `batch`, from [`own_process`].
fn own_at(
    own: &Option<Vec<(Option<usize>, OwnProcess)>>,
    batch: Option<usize>,
) -> Option<OwnProcess> {
    own.as_ref()?
        .iter()
        .find(|(b, _)| *b == batch)
        .map(|(_, o)| o.clone())
}

/// Samples shipped from a client per message (preallocated; sent between iterations).
pub(super) const CHUNK: usize = 256;
/// A client ships what it has at least this often, so plots stay live for slow models.
pub(super) const FLUSH_NS: u64 = 50_000_000;
/// The collector wakes at least this often to check for cancellation.
pub(super) const POLL: Duration = Duration::from_millis(5);
/// Events to the sink at most this often.
pub(super) const EVENT_EVERY: Duration = Duration::from_millis(100);

pub(super) enum ClientMsg {
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
        only: None,
        isolate: Some((model, plan.engine_options.clone())),
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
        if workload.isolate.is_some() {
            sink(Event::Progress {
                run: first_run,
                phase: Phase::OwnProcess,
                done: 0,
                total: None,
            });
        }
        let own = own_process(plan, workload, kind, cancel);
        sink(Event::Progress {
            run: first_run,
            phase: Phase::Loading,
            done: 0,
            total: None,
        });
        super::memory::reset_kernel_peak();
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
            if let Some(why) = too_slow(plan, &results, kind, batch) {
                sink(Event::Skipped { run, why });
                continue;
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
            let kernel_peak = super::memory::kernel_peak_bytes();
            if let Some(e) = outcome.error {
                sink(Event::Failed {
                    run: Some(run),
                    error: e,
                });
                continue;
            }
            if outcome.cancelled {
                sink(Event::Cancelled { run });
                break 'engines;
            }
            let ctx = RunCtx {
                run,
                kind,
                engine_version: primary.version(),
                workload,
                per_request,
                peak,
                kernel_peak,
                rss_before,
                rss_after,
                load_time_ms,
                own: own_at(&own, batch),
            };
            let result = match finish_run(plan, &ctx, &outcome) {
                Ok(r) => r,
                Err(e) => {
                    sink(Event::Failed {
                        run: Some(run),
                        error: format!("{e:#}"),
                    });
                    continue;
                }
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

/// Requests a run of the default batch sweep must fit in its time cap to be started.
pub const MIN_REQUESTS_IN_CAP: f64 = 3.0;

/// Why the default batch sweep skips `batch` on `kind`: a request there, predicted from the
/// largest smaller batch already run (its median time per sample, times `batch`), is so slow
/// that fewer than [`MIN_REQUESTS_IN_CAP`] would fit in the time cap. `None`: run it.
pub fn too_slow(
    plan: &Plan,
    done: &[RunResult],
    kind: EngineKind,
    batch: Option<usize>,
) -> Option<String> {
    if !plan.skip_slow_batches {
        return None;
    }
    let (b, cap) = (batch?, plan.max_time()?);
    let last = done
        .iter()
        .filter(|r| r.engine == kind && r.batch_size < b && r.batch_size > 0)
        .max_by_key(|r| r.batch_size)?;
    let predicted_ms = last.latency_p50 / last.batch_size as f64 * b as f64;
    let cap_ms = cap.as_secs_f64() * 1e3;
    let time = |ms: f64| match ms {
        ms if ms < 1e3 => crate::format::ms(ms),
        ms if ms < 60e3 => format!("{:.1} s", ms / 1e3),
        ms => crate::format::duration(Duration::from_secs_f64(ms / 1e3)),
    };
    (predicted_ms * MIN_REQUESTS_IN_CAP > cap_ms).then(|| {
        format!(
            "batch {b} skipped: a request would take about {} (batch {}'s {} a request, times {}), so fewer than {MIN_REQUESTS_IN_CAP} would fit in the {} time cap. Ask for it with --batch {b}, with a higher --max-time",
            time(predicted_ms),
            last.batch_size,
            time(last.latency_p50),
            b as f64 / last.batch_size as f64,
            crate::format::duration(cap),
        )
    })
}

/// Rounds an interleaved comparison splits each run into.
pub const ROUNDS: usize = 10;

/// The stop rule of one round of an interleaved run (a `ROUNDS`th of the whole).
fn round_stop(stop: StopRule) -> StopRule {
    let r = ROUNDS as u64;
    match stop {
        StopRule::Iterations(n) => StopRule::Iterations(n.div_ceil(r).max(1)),
        StopRule::MinTime {
            min_time,
            min_iterations,
            max_time,
        } => StopRule::MinTime {
            min_time: min_time / ROUNDS as u32,
            min_iterations: min_iterations.div_ceil(r).max(1),
            max_time: max_time.map(|t| t / ROUNDS as u32),
        },
        StopRule::UntilStable { min_iterations, .. } => {
            StopRule::Iterations(min_iterations.div_ceil(r).max(1))
        }
    }
}

/// Benchmarks several workloads (the original and its variants) with the same plan,
/// interleaved: every run is cut into [`ROUNDS`] rounds and the rounds alternate between
/// workloads (A B C A B C ...), so drift of the machine (heat, other load) hits all alike.
/// Run ids are `(engine x batch) x workload`, workload fastest.
pub fn run_interleaved(
    plan: &Plan,
    workloads: &[Workload],
    clock: Arc<dyn Clock>,
    cancel: &AtomicBool,
    sink: &mut dyn FnMut(Event),
) -> Vec<RunResult> {
    let sampler = MemorySampler::start(Duration::from_millis(10));
    let mut results = Vec::new();
    let per_engine = plan.batch_sizes.len() * workloads.len();
    'engines: for (ei, &kind) in plan.engines.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        // Load every workload on this engine, one after the other, noting what each adds.
        struct Loaded {
            engines: Vec<Box<dyn Engine>>,
            rss_before: u64,
            rss_after: u64,
            load_time_ms: f64,
        }
        let mut loaded: Vec<Option<Loaded>> = Vec::new();
        // Each workload's memory in a process of its own, before any is loaded here: in this
        // process they are all loaded at once.
        let mut owns = Vec::new();
        for (wi, w) in workloads.iter().enumerate() {
            if w.only.is_some_and(|o| o != kind) || w.isolate.is_none() {
                owns.push(None);
                continue;
            }
            sink(Event::Progress {
                run: ei * per_engine + wi,
                phase: Phase::OwnProcess,
                done: 0,
                total: None,
            });
            owns.push(own_process(plan, w, kind, cancel));
        }
        super::memory::reset_kernel_peak();
        for (wi, w) in workloads.iter().enumerate() {
            if w.only.is_some_and(|o| o != kind) {
                loaded.push(None);
                continue;
            }
            sink(Event::Progress {
                run: ei * per_engine + wi,
                phase: Phase::Loading,
                done: 0,
                total: None,
            });
            let rss_before = sampler.sample_now();
            let t = Instant::now();
            let l = (w.load)(kind).and_then(|primary| {
                let mut engines = vec![];
                for _ in 1..plan.concurrency.max(1) {
                    engines.push(primary.fork()?);
                }
                engines.insert(0, primary);
                Ok(engines)
            });
            match l {
                Ok(engines) => loaded.push(Some(Loaded {
                    engines,
                    rss_before,
                    rss_after: sampler.sample_now(),
                    load_time_ms: t.elapsed().as_secs_f64() * 1e3,
                })),
                Err(e) => {
                    sink(Event::Failed {
                        run: None,
                        error: format!("{} on {kind}: {e:#}", w.variant),
                    });
                    loaded.push(None);
                }
            }
        }
        for (bi, &batch) in plan.batch_sizes.iter().enumerate() {
            let base = ei * per_engine + bi * workloads.len();
            let mut prepared: Vec<Option<(Vec<Vec<Prepared>>, usize)>> = Vec::new();
            for (wi, (w, l)) in workloads.iter().zip(loaded.iter_mut()).enumerate() {
                let Some(l) = l else {
                    prepared.push(None);
                    continue;
                };
                let run = base + wi;
                sink(Event::Started {
                    run,
                    spec: RunSpec {
                        engine: kind,
                        variant: w.variant.clone(),
                        batch_size: batch,
                        concurrency: plan.concurrency.max(1),
                    },
                });
                let p = crate::guard::catch("preparing the inputs", || {
                    let (reqs, per_request) = (w.requests)(batch)?;
                    let mut all = Vec::new();
                    for e in l.engines.iter_mut() {
                        all.push(
                            reqs.iter()
                                .map(|r| e.prepare(r))
                                .collect::<Result<Vec<Prepared>>>()?,
                        );
                    }
                    Ok((all, per_request))
                });
                match p {
                    Ok(p) => prepared.push(Some(p)),
                    Err(e) => {
                        sink(Event::Failed {
                            run: Some(run),
                            error: format!("{e:#}"),
                        });
                        prepared.push(None);
                    }
                }
            }
            let mut merged: Vec<Outcome> = workloads.iter().map(|_| Outcome::new(plan)).collect();
            let mut quiet = QuietTally::default();
            let mut peaks = vec![0u64; workloads.len()];
            let total = match plan.stop {
                StopRule::Iterations(_) | StopRule::UntilStable { .. } => {
                    match round_stop(plan.stop) {
                        StopRule::Iterations(n) => Some(n * ROUNDS as u64),
                        _ => None,
                    }
                }
                StopRule::MinTime { .. } => None,
            };
            for round in 0..ROUNDS {
                for wi in 0..workloads.len() {
                    // Every turn after the first starts with unmeasured requests, as many as
                    // take TURN_WARMUP by the first turn's median: the other workloads' turns
                    // evicted this one's weights from the caches.
                    let round_plan = Plan {
                        warmup: if round == 0 {
                            plan.warmup
                        } else {
                            Warmup::Iterations(turn_warmup(merged[wi].recorder.raw()))
                        },
                        stop: round_stop(plan.stop),
                        ..plan.clone()
                    };
                    let (Some(l), Some((p, _))) = (loaded[wi].as_mut(), prepared[wi].as_mut())
                    else {
                        continue;
                    };
                    if merged[wi].error.is_some() {
                        continue;
                    }
                    if cancel.load(Ordering::Relaxed) {
                        sink(Event::Cancelled { run: base + wi });
                        break 'engines;
                    }
                    let run = base + wi;
                    let done_before = merged[wi].recorder.count();
                    let mut clients: Vec<(&mut Box<dyn Engine>, Vec<Prepared>)> =
                        l.engines.iter_mut().zip(std::mem::take(p)).collect();
                    if workloads.len() > 1 {
                        quiet.record(clock.quiet());
                    }
                    sampler.reset_peak();
                    let mut round_sink = |e: Event| match e {
                        // A later turn's warm-up request is not the run's warm-up.
                        Event::Samples {
                            phase: Phase::Warmup,
                            ..
                        } if round > 0 => {}
                        Event::Progress {
                            run,
                            phase: Phase::Measure,
                            done,
                            ..
                        } => sink(Event::Progress {
                            run,
                            phase: Phase::Measure,
                            done: done_before + done,
                            total,
                        }),
                        other => sink(other),
                    };
                    let o = measure(
                        &round_plan,
                        run,
                        &mut clients,
                        clock.as_ref(),
                        cancel,
                        &sampler,
                        &mut round_sink,
                    );
                    *p = clients.into_iter().map(|(_, p)| p).collect();
                    peaks[wi] = peaks[wi].max(sampler.peak().max(sampler.sample_now()));
                    let m = &mut merged[wi];
                    if round == 0 {
                        m.first_ns = o.first_ns;
                        m.warmup_count = o.warmup_count;
                    }
                    for &v in o.recorder.raw() {
                        m.recorder.record(v);
                    }
                    m.span_ns += o.span_ns;
                    if o.cancelled {
                        sink(Event::Cancelled { run });
                        break 'engines;
                    }
                    if let Some(e) = o.error {
                        sink(Event::Failed {
                            run: Some(run),
                            error: e.clone(),
                        });
                        m.error = Some(e);
                    }
                }
            }
            for (wi, w) in workloads.iter().enumerate() {
                let (Some(l), Some((_, per_request))) = (&loaded[wi], &prepared[wi]) else {
                    continue;
                };
                if merged[wi].error.is_some() {
                    continue;
                }
                merged[wi].stop_reason = format!(
                    "{ROUNDS} interleaved rounds of {}{}",
                    round_stop(plan.stop),
                    quiet.describe()
                );
                let ctx = RunCtx {
                    run: base + wi,
                    kind,
                    engine_version: l.engines[0].version(),
                    workload: w,
                    per_request: *per_request,
                    peak: peaks[wi],
                    kernel_peak: super::memory::kernel_peak_bytes(),
                    rss_before: l.rss_before,
                    rss_after: l.rss_after,
                    load_time_ms: l.load_time_ms,
                    own: own_at(&owns[wi], batch),
                };
                match finish_run(plan, &ctx, &merged[wi]) {
                    Ok(r) => {
                        sink(Event::RunDone {
                            run: base + wi,
                            result: Box::new(r.clone()),
                        });
                        results.push(r);
                    }
                    Err(e) => sink(Event::Failed {
                        run: Some(base + wi),
                        error: format!("{e:#}"),
                    }),
                }
            }
        }
    }
    sink(Event::Finished);
    results
}

/// Unmeasured work at the start of every turn of an interleaved run but the first (which has
/// the plan's warm-up): requests until this long has passed, at least one (a model of
/// microseconds needs many before its caches hold it again, one of milliseconds one).
pub const TURN_WARMUP: Duration = Duration::from_millis(2);

/// Unmeasured requests a later turn starts with: as many as take [`TURN_WARMUP`] at the median
/// of `measured` (at least 1, at most 1000).
fn turn_warmup(measured: &[u64]) -> u64 {
    let mut v = measured.to_vec();
    if v.is_empty() {
        return 1;
    }
    let mid = v.len() / 2;
    let (_, median, _) = v.select_nth_unstable(mid);
    (TURN_WARMUP.as_nanos() as u64)
        .div_ceil((*median).max(1))
        .clamp(1, 1000)
}

/// How the turns of one interleaved engine x batch waited for quiet.
#[derive(Default)]
struct QuietTally {
    turns: usize,
    waited: Duration,
    capped: usize,
    unknown: bool,
}

impl QuietTally {
    fn record(&mut self, q: Quiet) {
        self.turns += 1;
        match q {
            Quiet::Settled(d) => self.waited += d,
            Quiet::Capped(d) => {
                self.waited += d;
                self.capped += 1;
            }
            Quiet::Unknown => self.unknown = true,
        }
    }

    /// `; each turn after the other sessions' threads were idle (0.4 s waited in all) and
    /// one unmeasured request`, for the run's stop reason.
    fn describe(&self) -> String {
        if self.turns == 0 {
            return String::new();
        }
        let wait = if self.unknown {
            "without waiting for the other sessions' threads (this platform does not tell their CPU time)".to_string()
        } else {
            format!(
                "after the other sessions' threads were idle ({:.2} s waited in all{})",
                self.waited.as_secs_f64(),
                if self.capped > 0 {
                    format!(
                        "; {} turn(s) started busy after {:.0} s",
                        self.capped,
                        QUIET_CAP.as_secs_f64()
                    )
                } else {
                    String::new()
                }
            )
        };
        format!(
            "; each turn {wait}, and with {} ms of unmeasured requests (at least one)",
            TURN_WARMUP.as_millis()
        )
    }
}

/// Where and how a run was measured, for [`finish_run`].
struct RunCtx<'a> {
    run: RunId,
    kind: EngineKind,
    engine_version: String,
    workload: &'a Workload<'a>,
    per_request: usize,
    peak: u64,
    /// The kernel's peak since the engine began loading (0: unknown).
    kernel_peak: u64,
    rss_before: u64,
    rss_after: u64,
    load_time_ms: f64,
    /// The model's memory and cold start in a process of its own.
    own: Option<OwnProcess>,
}

/// Turns what a run measured into its [`RunResult`].
fn finish_run(plan: &Plan, ctx: &RunCtx, outcome: &Outcome) -> Result<RunResult> {
    let summary = outcome.recorder.summarize()?;
    let secs = outcome.span_ns as f64 / 1e9;
    let rps = if secs > 0.0 {
        summary.n as f64 / secs
    } else {
        0.0
    };
    let mut warnings = quality_warnings(
        &summary,
        outcome.recorder.raw(),
        outcome.first_ns,
        outcome.warmup_count,
    );
    if let Some(OwnProcess::Measured { non_finite, .. }) = &ctx.own {
        warnings.extend(non_finite.iter().map(|o| super::stats::Warning {
            kind: "non_finite_output".into(),
            metric: "outputs".into(),
            message: format!(
                "a float output came back NaN or infinite on the first request ({o}): check the inputs (NaN fed to a model that is not a tree ensemble passes through)"
            ),
        }));
    }
    let mb = |b: u64| b as f64 / 1e6;
    let result = RunResult {
        run_id: ctx.run,
        model_name: ctx.workload.model_name.clone(),
        engine: ctx.kind,
        engine_version: ctx.engine_version.clone(),
        execution_provider: match ctx.kind {
            EngineKind::Ort => plan.engine_options.execution_provider.clone(),
            EngineKind::Tract => None,
        },
        variant: ctx.workload.variant.clone(),
        batch_size: ctx.per_request,
        concurrency: plan.concurrency.max(1),
        threads: Some(plan.engine_options.threads_used(ctx.kind)),
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
        throughput_rps: rps * ctx.per_request as f64,
        requests_per_second: rps,
        memory_mb: mb(ctx.peak),
        peak_rss_mb: mb(ctx.kernel_peak.max(ctx.peak)),
        rss_before_load_mb: mb(ctx.rss_before),
        rss_after_load_mb: mb(ctx.rss_after),
        load_time_ms: ctx.load_time_ms,
        first_iteration_ms: outcome.first_ns.unwrap_or(0) as f64 / 1e6,
        measure_seconds: secs,
        stop_reason: outcome.stop_reason.clone(),
        warnings,
        latency_quantiles_ms: super::stats::quantile_sketch_ms(outcome.recorder.raw(), 256),
        raw_latencies_ns: outcome.recorder.raw().to_vec(),
        own_process: ctx.own.clone(),
    };
    Ok(result)
}
