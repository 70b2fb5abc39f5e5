//! Benchmark plans, the scheduler that runs them, and what runs report.

pub mod baseline;
pub mod checklist;
pub mod isolated;
pub mod measure;
pub mod memory;
pub mod progress;
pub mod quiet;
pub mod scheduler;
pub mod stats;
pub mod table;

use crate::engine::{EngineKind, EngineOptions};
use serde::{Deserialize, Serialize};
use stats::{Interval, Warning};
use std::time::Duration;

pub use scheduler::{run_plan, Clock, RealClock};

/// How a run warms up before measuring.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warmup {
    Iterations(u64),
    Duration(Duration),
}

/// When a run stops measuring.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopRule {
    /// Exactly this many measured requests.
    Iterations(u64),
    /// At least `min_time` and at least `min_iterations` requests, but no longer than
    /// `max_time` (a slow model then stops with fewer requests, and says so).
    MinTime {
        min_time: Duration,
        min_iterations: u64,
        /// `None` in files written before runs had a cap.
        #[serde(default)]
        max_time: Option<Duration>,
    },
    /// Until the 95% confidence interval of p99 is within `rel_width` (0.05 = 5%) of p99,
    /// after `min_iterations`, and at most `max_iterations` or `max_time`.
    UntilStable {
        rel_width: f64,
        min_iterations: u64,
        max_iterations: u64,
        max_time: Duration,
    },
}

/// Everything a benchmark does, independent of where its events go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub engines: Vec<EngineKind>,
    /// Samples per request; `None` feeds the data exactly as given.
    pub batch_sizes: Vec<Option<usize>>,
    /// Closed-loop client threads, each with its own session.
    pub concurrency: usize,
    pub warmup: Warmup,
    /// A warm-up counted in requests ends after this long even when fewer ran (a slow model).
    #[serde(default)]
    pub warmup_max_time: Option<Duration>,
    pub stop: StopRule,
    pub engine_options: EngineOptions,
    /// Raw latencies kept per run for intervals and plots (a uniform subsample beyond this).
    pub max_raw_samples: usize,
    /// Distinct request batches cut from the data, cycled through.
    pub max_distinct_requests: usize,
    /// The batch sizes are the defaults, not the user's: a batch whose requests would take
    /// too long for the time cap (predicted from the smaller batches) is skipped, and said.
    #[serde(default)]
    pub skip_slow_batches: bool,
}

impl Plan {
    /// The longest a run may measure for, by the stop rule (`None`: no cap).
    pub fn max_time(&self) -> Option<Duration> {
        match self.stop {
            StopRule::Iterations(_) => None,
            StopRule::MinTime { max_time, .. } => max_time,
            StopRule::UntilStable { max_time, .. } => Some(max_time),
        }
    }

    /// The one batch a single-request pass (a profile) runs: the plan's first, which is the
    /// data as given (`None`) when data came with no batch sizes, as every command reads it.
    pub fn first_batch(&self) -> Option<usize> {
        self.batch_sizes.first().copied().unwrap_or(Some(1))
    }

    /// Keeps only the batch size a fixed-batch model can run (its own), and says what was
    /// dropped; used where the batch sizes are defaults rather than the user's explicit choice.
    pub fn fit_to_fixed_batch(&mut self, fixed: Option<usize>) -> Option<String> {
        let n = fixed?;
        let dropped: Vec<String> = self
            .batch_sizes
            .iter()
            .flatten()
            .filter(|&&b| b != n)
            .map(|b| b.to_string())
            .collect();
        if dropped.is_empty() {
            return None;
        }
        self.batch_sizes = vec![Some(n)];
        Some(format!(
            "this model has a fixed batch size of {n}: running batch {n} only (not {})",
            dropped.join(", ")
        ))
    }
}

/// Index of a run within a plan.
pub type RunId = usize;

/// One engine x variant x batch size x concurrency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub engine: EngineKind,
    pub variant: String,
    pub batch_size: Option<usize>,
    pub concurrency: usize,
}

/// Whether a sample belongs to warm-up or to the measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Measuring the model's memory and cold start in a process of its own.
    OwnProcess,
    Loading,
    Warmup,
    Measure,
}

/// What the scheduler tells its sink, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Started {
        run: RunId,
        spec: RunSpec,
    },
    Progress {
        run: RunId,
        phase: Phase,
        done: u64,
        total: Option<u64>,
    },
    /// New latencies since the last batch, shipped a few times a second.
    Samples {
        run: RunId,
        phase: Phase,
        latencies_ns: Vec<u64>,
        rss_bytes: u64,
        /// When the resident memory was read (a window may take several batches at once).
        at: std::time::Instant,
    },
    RunDone {
        run: RunId,
        result: Box<RunResult>,
    },
    Finished,
    /// The user cancelled; this run stopped, and no further run starts.
    Cancelled {
        run: RunId,
    },
    Failed {
        run: Option<RunId>,
        error: String,
    },
    /// A run of the default batch sweep that was not started: its requests would take too
    /// long for the time cap. `why` says by how much, from which run.
    Skipped {
        run: RunId,
        why: String,
    },
}

/// What one run measured. Latencies are in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub run_id: RunId,
    pub model_name: String,
    pub engine: EngineKind,
    pub engine_version: String,
    /// The ONNX Runtime execution provider asked for (`None`: CPU).
    #[serde(default)]
    pub execution_provider: Option<String>,
    pub variant: String,
    /// Samples per request (for data fed as given: the samples it holds).
    pub batch_size: usize,
    pub concurrency: usize,
    /// Intra-op threads each client's session ran with (the engine's default resolved);
    /// `None` in files written before it was recorded.
    #[serde(default)]
    pub threads: Option<usize>,
    pub n_iterations: u64,
    pub warmup_iterations: u64,
    pub latency_mean: f64,
    pub latency_p50: f64,
    pub latency_p90: f64,
    pub latency_p95: f64,
    pub latency_p99: f64,
    pub latency_p999: f64,
    pub latency_std: f64,
    pub latency_min: f64,
    pub latency_max: f64,
    /// Coefficient of variation (std / mean).
    pub latency_cv: f64,
    pub ci_p50: Option<Interval>,
    pub ci_p95: Option<Interval>,
    pub ci_p99: Option<Interval>,
    /// Samples per second (requests per second x batch size).
    pub throughput_rps: f64,
    pub requests_per_second: f64,
    /// Peak resident memory of the process during the run, MB (10^6 bytes), from samples
    /// every 10 ms (the curve the window draws).
    pub memory_mb: f64,
    /// The kernel's peak resident memory of the process (`VmHWM`) from the start of the model
    /// load to the end of the run, MB: spikes between samples included, such as the load's.
    /// What an instance must hold; 0 in files written before it was recorded.
    #[serde(default)]
    pub peak_rss_mb: f64,
    pub rss_before_load_mb: f64,
    pub rss_after_load_mb: f64,
    pub load_time_ms: f64,
    pub first_iteration_ms: f64,
    pub measure_seconds: f64,
    pub stop_reason: String,
    pub warnings: Vec<Warning>,
    /// 257 evenly spaced quantiles (0%, 0.39%, ..., 100%) of the measured latencies, ms: the
    /// distribution the cost planner's queue model replays, small enough to keep in a file.
    #[serde(default)]
    pub latency_quantiles_ms: Vec<f64>,
    /// Measured latencies in arrival order (ns); not serialized.
    #[serde(skip)]
    pub raw_latencies_ns: Vec<u64>,
    /// The model's memory and cold start in a process serving only it ([`isolated`]): in
    /// a comparison every variant shares this process while the rounds alternate, so the
    /// process's peak above is not any one variant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_process: Option<OwnProcess>,
}

/// A model's cold start, from a process of its own, ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColdStart {
    /// Loading the engine (ONNX Runtime's library and environment; 0 for tract).
    pub runtime_load_ms: f64,
    /// Reading the model file.
    pub read_ms: f64,
    /// Creating the session.
    pub session_ms: f64,
    /// The first request.
    pub first_run_ms: f64,
    /// From starting the process to the first answer, as the parent saw it.
    pub total_ms: f64,
}

/// What a process serving only this model measured, or why it could not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnProcess {
    Measured {
        /// The kernel's peak resident memory of that process (`VmHWM`) after its requests at
        /// this batch, the runtime included, MB: what an instance serving the model holds.
        peak_rss_mb: f64,
        cold_start: ColdStart,
        /// Float outputs of the first request that came back NaN or infinite.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        non_finite: Vec<String>,
    },
    NotMeasured {
        why: String,
    },
}

impl RunResult {
    /// The latency distribution as the cost planner takes it, ms: the stored quantiles (what
    /// every results file keeps, so a plan priced from a run in memory and one priced from its
    /// file agree to the cent), else every sample, else the mean.
    pub fn service_times_ms(&self) -> Vec<f64> {
        if !self.latency_quantiles_ms.is_empty() {
            self.latency_quantiles_ms.clone()
        } else if !self.raw_latencies_ns.is_empty() {
            self.raw_latencies_ns
                .iter()
                .map(|&ns| ns as f64 / 1e6)
                .collect()
        } else {
            vec![self.latency_mean]
        }
    }

    /// The memory a server of this model needs, MB: the peak of a process serving only this
    /// model when measured, else this process's (the kernel's peak when known, else the
    /// sampled one).
    pub fn peak_memory_mb(&self) -> f64 {
        match &self.own_process {
            // That process serves one session; concurrent clients each hold their own.
            Some(OwnProcess::Measured { peak_rss_mb, .. }) if self.concurrency <= 1 => *peak_rss_mb,
            _ => self.peak_rss_mb.max(self.memory_mb),
        }
    }

    /// The cold start measured in a process of its own.
    pub fn cold_start(&self) -> Option<&ColdStart> {
        match &self.own_process {
            Some(OwnProcess::Measured { cold_start, .. }) => Some(cold_start),
            _ => None,
        }
    }

    /// Whether the run was measured on a GPU execution provider.
    pub fn on_gpu(&self) -> bool {
        self.execution_provider.as_deref().is_some_and(|ep| {
            ["CUDA", "TensorRT", "ROCm", "MIGraphX", "Dml", "CoreML"]
                .iter()
                .any(|g| ep.contains(g))
        })
    }
}
