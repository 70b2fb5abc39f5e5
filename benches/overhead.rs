//! The harness's own cost per iteration: the scheduler driving an engine that does nothing.
//! `timer floor` is what a measured latency can never go below (two clock reads and a dynamic
//! call); `loop cost` is the wall time per request including sample shipping and statistics.
//!
//! Run: `cargo bench --bench overhead`.

use inferscope::bench::scheduler::{run_plan, Workload};
use inferscope::bench::{Plan, RealClock, StopRule, Warmup};
use inferscope::engine::fake::{FakeEngine, FakeTime};
use inferscope::engine::{Engine, EngineKind};
use inferscope::tensor::Tensor;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    const N: u64 = 2_000_000;
    let engine = FakeEngine::new(vec![], FakeTime::Nothing);
    let requests = |b: Option<usize>| -> anyhow::Result<(Vec<Vec<Tensor>>, usize)> {
        Ok((vec![vec![]], b.unwrap_or(1)))
    };
    let load =
        move |_k: EngineKind| -> anyhow::Result<Box<dyn Engine>> { Ok(Box::new(engine.clone())) };
    let w = Workload {
        model_name: "noop".into(),
        variant: "original".into(),
        requests: &requests,
        load: &load,
        only: None,
    };
    for concurrency in [1, 2] {
        let plan = Plan {
            batch_sizes: vec![Some(1)],
            concurrency,
            warmup: Warmup::Iterations(1000),
            stop: StopRule::Iterations(N),
            ..Plan::default()
        };
        let t = Instant::now();
        let results = run_plan(
            &plan,
            &w,
            Arc::new(RealClock::new()),
            &AtomicBool::new(false),
            &mut |_| {},
        );
        let wall = t.elapsed().as_nanos() as f64;
        let r = &results[0];
        println!(
            "concurrency {concurrency}: timer floor p50 {:.0} ns, p99 {:.0} ns; loop cost {:.0} ns per request ({} requests)",
            r.latency_p50 * 1e6,
            r.latency_p99 * 1e6,
            wall / (N as f64) * concurrency as f64,
            r.n_iterations
        );
    }
    // Closed-loop clients in parallel, each with its own (sleeping, 0.2 ms) engine: requests per
    // second against what one client's mean latency allows.
    let sleeper = FakeEngine::new(vec![200_000], FakeTime::Sleep);
    let load =
        move |_k: EngineKind| -> anyhow::Result<Box<dyn Engine>> { Ok(Box::new(sleeper.clone())) };
    let w = Workload {
        model_name: "sleep".into(),
        variant: "original".into(),
        requests: &requests,
        load: &load,
        only: None,
    };
    for concurrency in [1, 4] {
        let plan = Plan {
            batch_sizes: vec![Some(1)],
            concurrency,
            warmup: Warmup::Iterations(8),
            stop: StopRule::Iterations(4000),
            ..Plan::default()
        };
        let results = run_plan(
            &plan,
            &w,
            Arc::new(RealClock::new()),
            &AtomicBool::new(false),
            &mut |_| {},
        );
        let r = &results[0];
        let one_client = 1.0 / (r.latency_mean / 1e3);
        println!(
            "{concurrency} client(s) of a 0.2 ms engine: {:.0} requests/s, {:.2}x what one client's mean latency allows",
            r.requests_per_second,
            r.requests_per_second / one_client
        );
    }
}
