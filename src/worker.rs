//! The background thread that runs benchmarks for the window.

use crate::bench::scheduler::run_model;
use crate::bench::{Event, Plan};
use crate::data::{self, DataSource};
use crate::model::Model;
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

/// A running benchmark on its own named thread. Dropping it cancels and joins.
pub struct Worker {
    events: Receiver<Event>,
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts `job`; `notify` is called after each event (the window asks for a repaint; the
    /// scheduler already limits events to a few per second).
    pub fn start(job: BenchJob, notify: impl Fn() + Send + 'static) -> Worker {
        let (tx, rx) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let spawn = std::thread::Builder::new()
            .name("inferscope-bench".into())
            .spawn(move || {
                let mut sink = |e: Event| {
                    let _ = tx.send(e);
                    notify();
                };
                match data::load(&job.model, &job.source) {
                    Ok(samples) => {
                        run_model(&job.plan, &job.model, &samples, &flag, &mut sink);
                    }
                    Err(e) => {
                        sink(Event::Failed {
                            run: None,
                            error: format!("{e:#}"),
                        });
                        sink(Event::Finished);
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
                let _ = tx.send(Event::Failed {
                    run: None,
                    error: format!("cannot start the benchmark thread: {e}"),
                });
                let _ = tx.send(Event::Finished);
                Worker {
                    events: rx,
                    cancel,
                    handle: None,
                }
            }
        }
    }

    /// Events received since the last call.
    pub fn drain(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.cancel();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
