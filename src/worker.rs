//! Background threads for the window: benchmarks, comparisons and open-loop load.

use crate::bench::scheduler::run_model;
use crate::bench::{Event, Plan};
use crate::compare::{self, Comparison};
use crate::data::{self, DataSource};
use crate::model::Model;
use crate::optimize::Variant;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What to benchmark.
pub struct BenchJob {
    pub model: Model,
    pub source: DataSource,
    pub plan: Plan,
}

/// What to compare: the model, its data and plan, and the variants.
pub struct CompareJob {
    pub model: Model,
    pub source: DataSource,
    pub plan: Plan,
    pub variants: Vec<Variant>,
    pub importance_threshold: f64,
}

/// What to measure under open-loop load: requests to one engine session, Poisson arrivals.
pub struct LoadJob {
    pub model: Model,
    pub source: DataSource,
    pub kind: crate::engine::EngineKind,
    pub options: crate::engine::EngineOptions,
    pub warmup: u64,
    pub max_distinct: usize,
    pub what: LoadWhat,
    /// Seconds per rate.
    pub seconds: f64,
    /// The latency percentile (0.95 or 0.99) and target the requests are judged against, ms.
    pub q: f64,
    pub target_ms: f64,
}

pub enum LoadWhat {
    /// Rates at these shares of what one server serves flat out (from the warm-up).
    Shares(Vec<f64>),
    /// The highest rate that meets the target.
    Capacity,
}

/// What a load job reports while it runs.
pub enum LoadMsg {
    /// The step under way ("offering 120 req/s, 2 of 4").
    Step(String),
    /// The engine and the service time after warm-up, seconds.
    Started {
        version: String,
        service_s: f64,
    },
    Run(Box<crate::load::LoadRun>),
    /// The end: the capacity when it was searched for, or why the job stopped.
    Done(Box<Result<Option<crate::load::capacity::Capacity>, String>>),
}

/// What a comparison reports while it runs.
pub enum CompareMsg {
    /// The step under way ("building int8", "benchmarking, interleaved").
    Step(String),
    Event(Event),
    /// The end: the comparison, or why there is none.
    Done(Box<Result<Comparison, String>>),
}

/// A job on its own named thread sending messages of type `M`. Dropping it cancels and joins.
pub struct Worker<M = Event> {
    events: Receiver<M>,
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl<M: Send + 'static> Worker<M> {
    /// Runs `job` on a thread named `name`; `notify` is called after each message (the window
    /// asks for a repaint). If the thread cannot start, or the job panics, `failed` gives the
    /// messages that end the job with the reason (so the window never waits forever).
    pub fn spawn(
        name: &str,
        job: impl FnOnce(&AtomicBool, &mut dyn FnMut(M)) + Send + 'static,
        notify: impl Fn() + Send + 'static,
        failed: impl Fn(String) -> Vec<M> + Send + Sync + 'static,
    ) -> Worker<M> {
        let (tx, rx) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let failed = Arc::new(failed);
        let on_panic = failed.clone();
        let what = format!("running the {name} thread");
        let spawn = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut sink = |m: M| {
                    let _ = tx.send(m);
                    notify();
                };
                let r = crate::guard::catch(&what, || {
                    job(&flag, &mut sink);
                    Ok(())
                });
                if let Err(e) = r {
                    for m in on_panic(format!("{e:#}")) {
                        sink(m);
                    }
                }
            });
        match spawn {
            Ok(handle) => Worker {
                events: rx,
                cancel,
                handle: Some(handle),
            },
            Err(e) => {
                let (tx, rx) = mpsc::channel();
                for m in failed(format!("cannot start the {name} thread: {e}")) {
                    let _ = tx.send(m);
                }
                Worker {
                    events: rx,
                    cancel,
                    handle: None,
                }
            }
        }
    }

    /// Messages received since the last call.
    pub fn drain(&self) -> Vec<M> {
        self.events.try_iter().collect()
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Worker<Event> {
    /// Starts a benchmark; the scheduler already limits events to a few per second.
    pub fn start(job: BenchJob, notify: impl Fn() + Send + 'static) -> Worker<Event> {
        Worker::spawn(
            "inferscope-bench",
            move |flag, sink| match data::load(&job.model, &job.source) {
                Ok(samples) => {
                    run_model(&job.plan, &job.model, &samples, flag, sink);
                }
                Err(e) => {
                    sink(Event::Failed {
                        run: None,
                        error: format!("{e:#}"),
                    });
                    sink(Event::Finished);
                }
            },
            notify,
            bench_failure,
        )
    }
}

/// How a benchmark job that could not start, or that panicked, ends: the reason, then
/// `Finished`, so the window stops waiting.
pub fn bench_failure(error: String) -> Vec<Event> {
    vec![Event::Failed { run: None, error }, Event::Finished]
}

impl Worker<CompareMsg> {
    /// Starts a comparison: build, fidelity, interleaved benchmark.
    pub fn compare(job: CompareJob, notify: impl Fn() + Send + 'static) -> Worker<CompareMsg> {
        Worker::spawn(
            "inferscope-compare",
            move |flag, sink| {
                let result = data::load(&job.model, &job.source).and_then(|samples| {
                    let req = compare::Request {
                        model: &job.model,
                        samples: &samples,
                        variants: &job.variants,
                        plan: &job.plan,
                        importance_threshold: job.importance_threshold,
                    };
                    // Steps and events share the sink; they never call into each other.
                    let shared = std::cell::RefCell::new(&mut *sink);
                    compare::run(
                        &req,
                        flag,
                        &mut |s| (shared.borrow_mut())(CompareMsg::Step(s)),
                        &mut |e| (shared.borrow_mut())(CompareMsg::Event(e)),
                    )
                });
                sink(CompareMsg::Done(Box::new(
                    result.map_err(|e| format!("{e:#}")),
                )));
            },
            notify,
            |e| vec![CompareMsg::Done(Box::new(Err(e)))],
        )
    }
}

impl Worker<LoadMsg> {
    /// Starts a load job: load and warm one session, then the rates or the capacity search.
    pub fn load(job: LoadJob, notify: impl Fn() + Send + 'static) -> Worker<LoadMsg> {
        Worker::spawn(
            "inferscope-load",
            move |flag, sink| {
                let result = (|| -> anyhow::Result<Option<crate::load::capacity::Capacity>> {
                    sink(LoadMsg::Step("loading and warming up".into()));
                    let samples = data::load(&job.model, &job.source)?;
                    let mut servers = crate::load::Servers::start(
                        &job.model,
                        &samples,
                        job.kind,
                        &job.options,
                        1,
                        job.warmup,
                        job.max_distinct,
                    )?;
                    sink(LoadMsg::Started {
                        version: servers.version.clone(),
                        service_s: servers.service_s,
                    });
                    let estimate = servers.estimate_rps();
                    let arrivals = crate::load::Arrivals::Poisson;
                    match job.what {
                        LoadWhat::Shares(shares) => {
                            for (i, f) in shares.iter().enumerate() {
                                let rate = estimate * f;
                                sink(LoadMsg::Step(format!(
                                    "offering {rate:.1} req/s ({:.0}% of one server), {} of {}",
                                    f * 100.0,
                                    i + 1,
                                    shares.len()
                                )));
                                let r = servers.run(
                                    &arrivals,
                                    rate,
                                    job.seconds,
                                    1,
                                    Some(job.target_ms),
                                    flag,
                                )?;
                                let mut r = r;
                                r.bound_q = job.q;
                                sink(LoadMsg::Run(Box::new(r)));
                            }
                            Ok(None)
                        }
                        LoadWhat::Capacity => {
                            let shared = std::cell::RefCell::new(&mut *sink);
                            let c = crate::load::capacity::find(
                                estimate * 0.7,
                                job.q,
                                job.target_ms,
                                &mut |rate| {
                                    (shared.borrow_mut())(LoadMsg::Step(format!(
                                        "searching: offering {rate:.1} req/s"
                                    )));
                                    let r = servers.run(
                                        &arrivals,
                                        rate,
                                        job.seconds,
                                        1,
                                        Some(job.target_ms),
                                        flag,
                                    )?;
                                    let mut r = r;
                                    r.bound_q = job.q;
                                    (shared.borrow_mut())(LoadMsg::Run(Box::new(r.clone())));
                                    Ok(r)
                                },
                                &mut |_| {},
                            )?;
                            Ok(Some(c))
                        }
                    }
                })();
                sink(LoadMsg::Done(Box::new(
                    result.map_err(|e| format!("{e:#}")),
                )));
            },
            notify,
            |e| vec![LoadMsg::Done(Box::new(Err(e)))],
        )
    }
}

impl<M> Drop for Worker<M> {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What to profile operator by operator (the Operators tab).
pub struct ProfileJob {
    pub model: Model,
    pub source: DataSource,
    pub kind: crate::engine::EngineKind,
    pub options: crate::engine::EngineOptions,
    pub batch: Option<usize>,
    /// Each profiling pass ends by this long.
    pub max_time: Option<std::time::Duration>,
    pub warmup: usize,
    pub requests: usize,
    pub variant: Option<Variant>,
}

/// What a profiling job reports while it runs.
pub enum ProfileMsg {
    /// The step under way ("profiling the variant int8 the same way").
    Step(String),
    /// The end: the profile, or why there is none.
    Done(Box<Result<crate::report::ProfileDoc, String>>),
}

impl Worker<ProfileMsg> {
    /// Starts a profiling pass: the model's operators, the variant's when one is asked for,
    /// and this machine's ceilings.
    pub fn profile(job: ProfileJob, notify: impl Fn() + Send + 'static) -> Worker<ProfileMsg> {
        Worker::spawn(
            "inferscope-profile",
            move |flag, sink| {
                let result = (|| -> anyhow::Result<crate::report::ProfileDoc> {
                    sink(ProfileMsg::Step("loading the data".into()));
                    let samples = data::load(&job.model, &job.source)?;
                    let requests = data::requests(&job.model, &samples, job.batch, 1)?;
                    let inputs = requests
                        .first()
                        .ok_or_else(|| anyhow::anyhow!("no request could be made from the data"))?;
                    let pass = crate::profile::pass::run(
                        &crate::profile::pass::Request {
                            model: &job.model,
                            inputs,
                            kind: job.kind,
                            options: &job.options,
                            warmup: job.warmup,
                            requests: job.requests,
                            max_time: job.max_time,
                            variant: job.variant.as_ref(),
                            samples: Some(&samples),
                            ceilings: true,
                        },
                        flag,
                        &mut |s| sink(ProfileMsg::Step(s)),
                    )?;
                    Ok(crate::report::ProfileDoc::of(
                        pass,
                        None,
                        Some(job.model.info.clone()),
                    ))
                })();
                sink(ProfileMsg::Done(Box::new(
                    result.map_err(|e| format!("{e:#}")),
                )));
            },
            notify,
            |e| vec![ProfileMsg::Done(Box::new(Err(e)))],
        )
    }
}
