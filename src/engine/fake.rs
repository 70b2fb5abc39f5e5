//! A scripted engine and clock: they make the scheduler's statistics and stop rules exactly
//! testable, and measure the harness's own overhead (an engine that does nothing).

use super::{Engine, EngineKind, Output, Prepared};
use crate::bench::Clock;
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A clock that only moves when told to.
#[derive(Default)]
pub struct FakeClock(AtomicU64);

impl FakeClock {
    pub fn advance(&self, ns: u64) {
        self.0.fetch_add(ns, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_ns(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Jumps to `t` (an idle server waiting for the next arrival takes no time).
    fn sleep_until_ns(&self, t: u64) {
        self.0.fetch_max(t, Ordering::SeqCst);
    }
}

/// How a fake call spends its latency.
#[derive(Clone)]
pub enum FakeTime {
    /// Advance a fake clock: exact, instantaneous.
    Scripted(Arc<FakeClock>),
    /// Really sleep, for cancellation and live-event tests.
    Sleep,
    /// Do nothing at all: what is left is the harness's overhead.
    Nothing,
}

/// An engine whose calls take the scripted latencies in turn (cycling), shared by its forks.
#[derive(Clone)]
pub struct FakeEngine {
    pub latencies_ns: Arc<Vec<u64>>,
    pub time: FakeTime,
    next: Arc<AtomicUsize>,
    /// Fail on this call (0-based), to test error paths.
    pub fail_at: Option<usize>,
    /// Panic on this call (0-based), as a buggy engine or a malformed model can.
    pub panic_at: Option<usize>,
    /// Set this flag during this call (0-based): a user cancelling mid-run.
    pub cancel_at: Option<(usize, Arc<std::sync::atomic::AtomicBool>)>,
    /// After each call a thread of this engine stays busy this long (real time), as an idle
    /// ONNX Runtime worker spins after a run.
    pub spin_after: Option<Duration>,
    spinner: Arc<Spinner>,
}

/// The spinning thread of a [`FakeEngine`] and what it and the calls did, in real time.
#[derive(Default)]
struct Spinner {
    /// Spin until then; `Some` while the thread runs.
    until: Mutex<Option<Instant>>,
    spans: Mutex<Vec<(Instant, Instant)>>,
    calls: Mutex<Vec<(Instant, Instant)>>,
}

impl FakeEngine {
    pub fn new(latencies_ns: Vec<u64>, time: FakeTime) -> FakeEngine {
        FakeEngine {
            latencies_ns: Arc::new(latencies_ns),
            time,
            next: Arc::new(AtomicUsize::new(0)),
            fail_at: None,
            panic_at: None,
            cancel_at: None,
            spin_after: None,
            spinner: Arc::default(),
        }
    }

    /// When each call of this engine (and its forks) began and ended, in real time.
    pub fn call_spans(&self) -> Vec<(Instant, Instant)> {
        self.spinner
            .calls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// When this engine's spinning thread was busy, in real time.
    pub fn spin_spans(&self) -> Vec<(Instant, Instant)> {
        self.spinner
            .spans
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Keeps one thread busy until `spin` from now, starting it if none runs.
    fn spin(&self, spin: Duration) {
        let Ok(mut until) = self.spinner.until.lock() else {
            return;
        };
        let running = until.is_some();
        *until = Some(Instant::now() + spin);
        if running {
            return;
        }
        let s = self.spinner.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            loop {
                let Ok(mut until) = s.until.lock() else {
                    return;
                };
                if until.is_none_or(|u| Instant::now() >= u) {
                    *until = None;
                    break;
                }
                drop(until);
                for _ in 0..1000 {
                    std::hint::spin_loop();
                }
            }
            if let Ok(mut spans) = s.spans.lock() {
                spans.push((start, Instant::now()));
            }
        });
    }

    /// Calls made so far, across forks.
    pub fn calls(&self) -> usize {
        self.next.load(Ordering::SeqCst)
    }
}

impl Engine for FakeEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Tract
    }

    fn version(&self) -> String {
        "fake".into()
    }

    fn prepare(&mut self, _inputs: &[Tensor]) -> Result<Prepared> {
        Ok(Prepared(Box::new(())))
    }

    #[inline]
    fn run_prepared(&mut self, _inputs: &Prepared) -> Result<()> {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        if self.fail_at == Some(i) {
            bail!("scripted failure on call {i}");
        }
        if let Some((_, flag)) = self.cancel_at.as_ref().filter(|(n, _)| *n == i) {
            flag.store(true, Ordering::SeqCst);
        }
        if self.panic_at == Some(i) {
            panic!("scripted panic on call {i}");
        }
        if self.latencies_ns.is_empty() {
            return Ok(());
        }
        let lat = self.latencies_ns[i % self.latencies_ns.len()];
        let start = Instant::now();
        match &self.time {
            FakeTime::Scripted(c) => c.advance(lat),
            FakeTime::Sleep => std::thread::sleep(Duration::from_nanos(lat)),
            FakeTime::Nothing => {}
        }
        if let Some(spin) = self.spin_after {
            if let Ok(mut calls) = self.spinner.calls.lock() {
                calls.push((start, Instant::now()));
            }
            self.spin(spin);
        }
        Ok(())
    }

    fn run_prepared_outputs(&mut self, inputs: &Prepared) -> Result<Vec<Output>> {
        self.run_prepared(inputs)?;
        Ok(vec![])
    }

    fn fork(&self) -> Result<Box<dyn Engine>> {
        Ok(Box::new(self.clone()))
    }
}
