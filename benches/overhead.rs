//! The harness's own cost per iteration: the scheduler driving an engine that does nothing.
//! `timer floor` is what a measured latency can never go below (two clock reads and a dynamic
//! call); `loop cost` is the wall time per request including sample shipping and statistics.
//!
//! Run: `cargo bench --bench overhead`.

use inferscope::bench::scheduler::{run_plan, Workload};
use inferscope::bench::{Plan, RealClock, RunResult, StopRule, Warmup};
use inferscope::engine::fake::{FakeEngine, FakeTime};
use inferscope::engine::{Engine, EngineKind};
use inferscope::tensor::Tensor;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

/// One run of `engine` at batch 1 with `concurrency` clients, `warmup` + `n` requests.
fn run(engine: FakeEngine, concurrency: usize, warmup: u64, n: u64) -> RunResult {
    let requests = |b: Option<usize>| -> anyhow::Result<(Vec<Vec<Tensor>>, usize)> {
        Ok((vec![vec![]], b.unwrap_or(1)))
    };
    let load =
        move |_k: EngineKind| -> anyhow::Result<Box<dyn Engine>> { Ok(Box::new(engine.clone())) };
    let w = Workload {
        model_name: "fake".into(),
        variant: "original".into(),
        requests: &requests,
        load: &load,
        only: None,
        isolate: None,
    };
    let plan = Plan {
        batch_sizes: vec![Some(1)],
        concurrency,
        warmup: Warmup::Iterations(warmup),
        stop: StopRule::Iterations(n),
        ..Plan::default()
    };
    let mut results = run_plan(
        &plan,
        &w,
        Arc::new(RealClock::new()),
        &AtomicBool::new(false),
        &mut |_| {},
    );
    results.remove(0)
}

fn main() {
    // Memory and cold start are measured in a process of the real binary, not of this bench.
    std::env::set_var("INFERSCOPE_EXE", env!("CARGO_BIN_EXE_inferscope"));
    const N: u64 = 2_000_000;
    for concurrency in [1, 2] {
        let t = Instant::now();
        let r = &run(
            FakeEngine::new(vec![], FakeTime::Nothing),
            concurrency,
            1000,
            N,
        );
        let wall = t.elapsed().as_nanos() as f64;
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
    for concurrency in [1, 4] {
        let sleeper = FakeEngine::new(vec![200_000], FakeTime::Sleep);
        let r = &run(sleeper, concurrency, 8, 4000);
        let one_client = 1.0 / (r.latency_mean / 1e3);
        println!(
            "{concurrency} client(s) of a 0.2 ms engine: {:.0} requests/s, {:.2}x what one client's mean latency allows",
            r.requests_per_second,
            r.requests_per_second / one_client
        );
    }
}
