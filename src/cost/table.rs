//! The tier table, built once for the command line and the report, and where a plan's
//! service time comes from (a measured run or a typed latency), for the command line and the
//! window alike.

use super::plan::{CostInputs, TierPlan};
use crate::bench::RunResult;

/// The tiers as monospaced text: a header and one line per tier.
pub fn text(tiers: &[TierPlan]) -> (String, Vec<String>) {
    let header = format!(
        "{:<11} {:>5} {:>11} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9}  {}",
        "tier",
        "inst",
        "compute $",
        "storage $",
        "network $",
        "total $/mo",
        "$/1k req",
        "p95 ms",
        "p99 ms",
        "status"
    );
    let ms = |v: Option<f64>| {
        v.map(|v| format!("{v:.3}"))
            .unwrap_or_else(|| "sat.".into())
    };
    let lines = tiers
        .iter()
        .map(|t| {
            let c = &t.cost;
            format!(
                "{:<11} {:>5} {:>11.2} {:>9.2} {:>9.2} {:>11.2} {:>9.4} {:>9} {:>9}  {}",
                c.tier.label(),
                c.instances,
                c.compute_cost,
                c.storage_cost,
                c.network_cost,
                c.total_cost,
                c.cost_per_1k_requests,
                ms(t.predicted_p95_ms),
                ms(t.predicted_p99_ms),
                t.status()
            )
        })
        .collect();
    (header, lines)
}

impl TierPlan {
    /// `ok`, `over budget` or `misses target`.
    pub fn status(&self) -> &'static str {
        match (self.feasible, self.within_budget) {
            (true, true) => "ok",
            (true, false) => "over budget",
            (false, _) => "misses target",
        }
    }
}

/// The run a cost plan prices by default: the fastest at batch 1, else the first.
pub fn default_run<'a>(runs: impl IntoIterator<Item = &'a RunResult>) -> Option<&'a RunResult> {
    let runs: Vec<&RunResult> = runs.into_iter().collect();
    runs.iter()
        .filter(|r| r.batch_size == 1)
        .min_by(|a, b| a.latency_p95.total_cmp(&b.latency_p95))
        .or(runs.first())
        .copied()
}

impl CostInputs {
    /// Serves the measured run: its batch size is the serving batch, its peak memory (the kernel's,
    /// model load included) the model's, its provider tells GPU rows. Returns the service times (ms) and where they
    /// come from.
    pub fn serve_run(&mut self, r: &RunResult) -> (Vec<f64>, String) {
        self.serving_batch = r.batch_size.max(1) as u64;
        self.model_memory_mb = r.peak_memory_mb();
        self.measured_on_gpu = r.on_gpu();
        // Concurrent clients each ran a session of their own threads.
        self.threads_per_inference = r.threads.unwrap_or(1).max(1) as u64;
        (
            r.service_times_ms(),
            format!(
                "run {}: {} {}, batch {}, {} samples, p50 {:.3} ms, {}",
                r.run_id,
                r.engine.label(),
                r.variant,
                r.batch_size,
                r.n_iterations,
                r.latency_p50,
                match r.threads {
                    Some(t) => format!("{t} thread(s) per inference"),
                    None => "threads per inference not recorded (1 assumed)".into(),
                }
            ),
        )
    }

    /// Serves a typed latency, one request per inference.
    pub fn serve_typed(&mut self, latency_ms: f64) -> (Vec<f64>, String) {
        self.serving_batch = 1;
        self.measured_on_gpu = false;
        (
            vec![latency_ms],
            format!("a typed latency of {latency_ms} ms"),
        )
    }
}
