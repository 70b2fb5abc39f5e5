//! Argument definitions, and the overlay of typed flags onto the one settings type.
//!
//! Every benchmark flag is optional: a flag the user did not type leaves the value of the
//! preset (or of [`BenchSettings::default`]) alone.

use crate::cost::plan::{CostInputs, Percentile};
use crate::engine::{EngineChoice, OptLevel};
use crate::settings::{self, BenchSettings, InvalidSetting, Stop};
use anyhow::{anyhow, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "inferscope",
    version,
    about = "Profile, optimize and cost-plan ONNX models"
)]
pub struct Cli {
    /// Load ONNX Runtime from this library before looking anywhere else.
    #[arg(long, global = true, value_name = "LIB")]
    pub ort_path: Option<PathBuf>,
    /// Without a command: open the window with these files (a model .onnx, sample data
    /// .npz/.npy/.csv, a preset .ron), as if dropped on it.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show a model's inputs, outputs, operators, parameters and FLOPs.
    Inspect {
        /// The model (or the one a --preset names).
        model: Option<PathBuf>,
        /// Take the model from this preset.
        #[arg(long)]
        preset: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Sizes of symbolic dims for the FLOPs estimate, e.g. --dim seq=128 (batch defaults to 1).
        #[arg(long = "dim", value_name = "NAME=N", value_parser = settings::parse_dim)]
        dims: Vec<(String, usize)>,
    },
    /// Measure latency, throughput and memory across batch sizes.
    Bench(Box<BenchArgs>),
    /// Write an optimized variant of a model to a new ONNX file.
    Optimize(Box<OptimizeArgs>),
    /// Benchmark a model against its variants, interleaved, with fidelity and speedups.
    Compare(Box<CompareArgs>),
    /// Monthly cost of serving a model on serverless, container, Kubernetes and dedicated tiers.
    Cost(Box<CostArgs>),
    /// Where the time goes: per-operator times from a profiling pass (kept apart from the
    /// latency measurement), by op type and node, and one request as a Chrome trace.
    Profile(Box<ProfileArgs>),
    /// (Internal) One model in a process of its own, for its memory and cold start.
    #[command(name = "__isolated", hide = true)]
    Isolated {
        /// The spec the parent wrote (JSON).
        spec: PathBuf,
    },
    /// Open-loop load: requests arrive on a schedule; measure latency with the queueing in it,
    /// beside the cost planner's prediction, or find the highest rate that meets a target.
    Load(Box<LoadArgs>),
    /// Write a report (PDF, PNG summary) from the JSON of `bench` and/or `cost`.
    Report {
        /// Results files: `bench --json`, `cost --json`, or one of each.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        #[command(flatten)]
        export: ExportArgs,
    },
    /// Show or check a preset (a RON file that holds a study's settings).
    Preset {
        #[command(subcommand)]
        action: PresetAction,
    },
    /// Show which ONNX Runtime library is used, or install one.
    Runtime {
        #[command(subcommand)]
        action: Option<RuntimeAction>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PresetAction {
    /// Print the preset as this version reads it (older versions migrated), with warnings.
    Show { file: PathBuf },
    /// Check that the preset loads; exit 1 with the reason when it does not.
    Check { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum RuntimeAction {
    /// Install ONNX Runtime into the per-user folder from the PyPI wheel (needs python3 with pip).
    Install,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Int8Mode {
    Auto,
    Dynamic,
    Static,
    Mix,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum CalibrationArg {
    Minmax,
    Percentile,
    Entropy,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum FormatArg {
    Qoperator,
    Qdq,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("rewrite").required(true).args(["int8", "weight_int8", "fp16", "prune", "trees", "max_depth"])))]
pub struct OptimizeArgs {
    pub model: PathBuf,
    /// int8: `auto` (the default, as `compare --variant int8` is) builds dynamic and static,
    /// holds both to the fidelity target and keeps the one that runs fastest here; `dynamic`
    /// (`int8:dynamic`) quantizes MatMul/Gemm weights with activations quantized per request;
    /// `static` quantizes Conv/MatMul/Gemm with activation ranges calibrated on --data (QDQ,
    /// which ONNX Runtime fuses into QLinearConv/QLinearMatMul); `mix`: convolutions static,
    /// matrix products dynamic.
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, default_missing_value = "auto")]
    pub int8: Option<Int8Mode>,
    /// One scale per output channel instead of one per tensor (int8, weight-int8).
    #[arg(long)]
    pub per_channel: bool,
    /// int8 graph form: operators (MatMulInteger) or QDQ (DequantizeLinear around float ops).
    #[arg(long, value_enum, default_value = "qoperator")]
    pub format: FormatArg,
    /// uint8 (asymmetric) weights instead of int8 (symmetric).
    #[arg(long)]
    pub unsigned: bool,
    /// Quantize Conv too (ConvInteger is usually slower than float Conv on CPU).
    #[arg(long)]
    pub conv: bool,
    /// Leave these nodes (name, or first output name) in float.
    #[arg(long, value_name = "NODE", num_args = 1..)]
    pub exclude: Vec<String>,
    /// How static int8 learns activation ranges from the data: minmax, percentile (outliers
    /// clipped) or entropy (the threshold keeping the 8-bit histogram closest to the float one).
    #[arg(
        long,
        value_enum,
        value_name = "METHOD",
        default_value = "minmax",
        requires = "int8"
    )]
    pub calibration: CalibrationArg,
    /// The fidelity target (static and auto int8; one of the four): every float output's
    /// cosine similarity with the float model's on the data at least C (default 0.99; 0: no
    /// target), and outputs holding class scores keep their top class on that share of the
    /// samples. Static int8 returns layers to float, most harmful first, until it holds;
    /// auto refuses a form that misses it.
    #[arg(long, value_name = "C", requires = "int8", group = "target")]
    pub min_cosine: Option<f64>,
    /// Target: top-1 agreement with the float model's predictions at least P (0..1), on
    /// every output holding class scores.
    #[arg(long, value_name = "P", requires = "int8", group = "target")]
    pub min_top1: Option<f64>,
    /// Target: no float output differs from the float model's by more than E (0..1) of its
    /// range over the data.
    #[arg(long, value_name = "E", requires = "int8", group = "target")]
    pub max_error: Option<f64>,
    /// Target: accuracy against the data's labels at most D (0..1) below the float model's.
    #[arg(long, value_name = "D", requires = "int8", group = "target")]
    pub max_accuracy_drop: Option<f64>,
    /// The batch size the model will serve: static, mix and auto int8 time their choices (the
    /// forms, the layers the profile shows slower in int8) on requests of N samples. Default 1:
    /// the form fastest for one request is not always the fastest for 32.
    #[arg(long, value_name = "N", requires = "int8")]
    pub batch: Option<usize>,
    /// Sample data to calibrate static int8 on (.npy/.npz/.csv); without it, data synthesized
    /// from the model's shapes (the ranges are then guesses).
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// int8 weights dequantized at load: a smaller file, the same math.
    #[arg(long)]
    pub weight_int8: bool,
    /// float16 weights and compute; float32 inputs and outputs.
    #[arg(long)]
    pub fp16: bool,
    /// Prune this share of the weights (0..1), or of hidden units with --structured.
    #[arg(long, value_name = "S")]
    pub prune: Option<f64>,
    /// Remove whole hidden units / channels, so the model really runs faster.
    #[arg(long, requires = "prune")]
    pub structured: bool,
    /// Unstructured pruning at the same sparsity in every layer (default: one global threshold).
    #[arg(long, requires = "prune")]
    pub per_layer: bool,
    /// Keep the first K trees of each tree ensemble.
    #[arg(long, value_name = "K")]
    pub trees: Option<usize>,
    /// Cut every tree at depth D (the cut node becomes a leaf with the mean below it).
    #[arg(long, value_name = "D")]
    pub max_depth: Option<usize>,
    /// Where to write the variant.
    #[arg(short, long, value_name = "OUT.onnx")]
    pub output: PathBuf,
    /// Also write what changed (coverage) as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Overwrite OUT if it exists (never the original model).
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// A variant to compare with the original (repeatable): int8 (the form that runs fastest
    /// here, as `optimize --int8`), int8:dynamic, int8:static, int8:mix, weight-int8, fp16,
    /// prune:S, trees:K, max-depth:D, ort:LEVEL, file:OTHER.onnx (--help lists every spelling).
    #[arg(
        long = "variant",
        value_name = "SPEC",
        long_help = format!(
            "A variant to compare with the original (repeatable), spelled {}.",
            crate::optimize::SPELLINGS
        )
    )]
    pub variants: Vec<String>,
    /// Features whose permutation importance is below this share are listed as low (0..1).
    #[arg(long, default_value_t = 0.01)]
    pub importance_threshold: f64,
    /// What each variant costs a month: the cost planner's inputs (else the preset's, else
    /// the defaults).
    #[command(flatten)]
    pub cost: CostFlags,
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// The model, data, engine, threads, dims and warm-up (requests) as `bench` takes them;
    /// the first --batch size is profiled (default 1).
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Requests profiled after the warm-up; each node's time is its median over them.
    #[arg(long, default_value_t = 50)]
    pub requests: usize,
    /// Write one request as a Chrome trace (opens in Perfetto or chrome://tracing).
    #[arg(long, value_name = "OUT.json")]
    pub trace: Option<PathBuf>,
    /// Slowest nodes listed.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Skip measuring this machine's compute and memory ceilings (no roofline).
    #[arg(long)]
    pub no_ceilings: bool,
    /// Also profile this variant (spelled as `compare --variant`) and show, op type by op
    /// type, what it adds, removes and changes in time per request.
    #[arg(long, value_name = "SPEC")]
    pub variant: Option<String>,
}

/// How requests arrive in `load`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalsArg {
    /// Exponential gaps (independent users).
    Poisson,
    /// Evenly spaced.
    Constant,
    /// Recorded arrival times from --trace.
    Trace,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The model, data, engine (one), threads, dims, warm-up (requests per server) and
    /// --duration (per rate; default: 10 s, or long enough for 700 requests, at most 120 s).
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Offer this many requests a second.
    #[arg(long, conflicts_with_all = ["rate_range", "find_max_rate"])]
    pub rate: Option<f64>,
    /// Offer each rate from A to B in steps of STEP requests a second, e.g. 10:50:10.
    #[arg(long, value_name = "A:B:STEP", conflicts_with = "find_max_rate")]
    pub rate_range: Option<String>,
    /// Find the highest rate whose p99 (or p95) meets --target-p99 (or --target-p95).
    #[arg(long)]
    pub find_max_rate: bool,
    /// The p99 latency target, ms (counts requests over it; --find-max-rate searches for it).
    #[arg(long, value_name = "MS", conflicts_with = "target_p95")]
    pub target_p99: Option<f64>,
    /// The p95 latency target, ms.
    #[arg(long, value_name = "MS")]
    pub target_p95: Option<f64>,
    /// Engine sessions serving the one queue.
    #[arg(long, default_value_t = 1)]
    pub servers: usize,
    /// How requests arrive.
    #[arg(long, value_enum, default_value = "poisson")]
    pub arrivals: ArrivalsArg,
    /// Arrival times to replay (seconds from the start, one per line), with --arrivals trace.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// The cost planner's inputs, as `cost` and `compare` take them; each flag overrides the
/// preset's value or the default.
#[derive(Args, Debug, Clone, Default)]
pub struct CostFlags {
    /// Requests a month (default 1000000): a number, or one with k (thousand), M (million),
    /// G or B (billion): 5M, 2.5k, 1B.
    #[arg(long, value_name = "N", value_parser = parse_count, allow_hyphen_values = true)]
    pub monthly_requests: Option<f64>,
    /// Peak request rate over the monthly average (default 3).
    #[arg(long, allow_negative_numbers = true)]
    pub peak_factor: Option<f64>,
    /// The latency the percentile must stay under, ms (default 100).
    #[arg(long, allow_negative_numbers = true)]
    pub latency_target_ms: Option<f64>,
    /// The percentile the latency target binds (default p95).
    #[arg(long, value_enum)]
    pub percentile: Option<PercentileArg>,
    /// Monthly budget, USD (default 500).
    #[arg(long, allow_negative_numbers = true)]
    pub budget: Option<f64>,
    /// Memory of each serverless function, MB (default 256).
    #[arg(long, allow_negative_numbers = true)]
    pub memory_mb: Option<f64>,
    /// Run exactly this many instances (sets the minimum and the maximum).
    #[arg(long, allow_negative_numbers = true)]
    pub instances: Option<u64>,
    /// Fewest instances (default 1).
    #[arg(long, allow_negative_numbers = true)]
    pub min_instances: Option<u64>,
    /// Most instances (default 100).
    #[arg(long, allow_negative_numbers = true)]
    pub max_instances: Option<u64>,
    /// vCPUs per instance (default 1).
    #[arg(long, allow_negative_numbers = true)]
    pub vcpus: Option<f64>,
    /// Memory per instance, GB (default 2).
    #[arg(long, allow_negative_numbers = true)]
    pub instance_memory_gb: Option<f64>,
    /// Planned utilization of instances at peak, 0.05-0.99 (default 0.6).
    #[arg(long, allow_negative_numbers = true)]
    pub utilization: Option<f64>,
    /// Share of requests served from a cache, 0-1 (default 0).
    #[arg(long, allow_negative_numbers = true)]
    pub cache_hit_rate: Option<f64>,
    /// Share of serverless requests with a cold start, 0-1 (default 0.01).
    #[arg(long, allow_negative_numbers = true)]
    pub cold_start_share: Option<f64>,
    /// Latency of a cold start, ms (default 500).
    #[arg(long, allow_negative_numbers = true)]
    pub cold_start_ms: Option<f64>,
    /// Requests a second one server sustained within the target under open-loop load
    /// (`inferscope load --find-max-rate`): always-on tiers get at least peak / this instances.
    #[arg(long, value_name = "RPS", allow_negative_numbers = true)]
    pub measured_capacity: Option<f64>,
}

#[derive(Args, Debug)]
pub struct CostArgs {
    /// Take the cost inputs and the pricing table from this preset (flags given override it).
    #[arg(long)]
    pub preset: Option<PathBuf>,
    /// Results of `inferscope bench --json`: the service time comes from one of its runs.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// The run to use (its run_id); default: the fastest run at batch 1.
    #[arg(long, conflicts_with = "variant")]
    pub run: Option<usize>,
    /// Price this variant of a comparison's results (its fastest run at batch 1), as
    /// `compare` prices each variant.
    #[arg(long)]
    pub variant: Option<String>,
    /// Service time of one request when no results are given, ms (default 100).
    #[arg(long, allow_negative_numbers = true)]
    pub latency_ms: Option<f64>,
    #[command(flatten)]
    pub inputs: CostFlags,
    /// Write the plan as JSON ('-' for stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub export: ExportArgs,
}

/// Report files a command can write besides its JSON. Named outputs are overwritten
/// (atomically), as a re-run in CI expects.
#[derive(Args, Debug, Clone, Default)]
pub struct ExportArgs {
    /// Write the report as PDF (vector charts, selectable text).
    #[arg(long, value_name = "OUT.pdf")]
    pub pdf: Option<PathBuf>,
    /// Write a one-page PNG summary.
    #[arg(long, value_name = "OUT.png")]
    pub png: Option<PathBuf>,
    /// Accepted for scripts written for older versions: named outputs are always replaced.
    #[arg(long, hide = true)]
    pub force: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum PercentileArg {
    P95,
    P99,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum EngineArg {
    Auto,
    Ort,
    Tract,
    Both,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum OptArg {
    Disabled,
    Basic,
    Extended,
    All,
}

/// The benchmark flags. Each is optional: an untyped flag keeps the preset's (or the
/// default) value; see [`BenchArgs::overlay`].
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The model (or the one a --preset names).
    pub model: Option<PathBuf>,
    /// Take the model, data and plan from this preset (flags given override it).
    #[arg(long)]
    pub preset: Option<PathBuf>,
    /// Sample inputs: .npy (one input), .npz (arrays named like the inputs, optional `labels`), .csv.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// CSV column holding labels (header name or 0-based index).
    #[arg(long)]
    pub label_column: Option<String>,
    /// Engine: ONNX Runtime when found (auto, the default), ort, tract, or both.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
    /// Batch sizes, comma-separated. Default 1,8,32,64; with --data, the data as given.
    #[arg(long, value_delimiter = ',')]
    pub batch: Vec<usize>,
    /// Threads inside an operator (intra-op).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Threads running operators in parallel (ONNX Runtime inter-op).
    #[arg(long)]
    pub inter_threads: Option<usize>,
    /// ONNX Runtime graph optimization level (default: all).
    #[arg(long, value_enum)]
    pub opt_level: Option<OptArg>,
    /// ONNX Runtime execution provider (see `inferscope runtime`), default CPU.
    #[arg(long)]
    pub execution_provider: Option<String>,
    /// Closed-loop client threads, each with its own session (default 1).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Warm-up: a number of iterations (default 10) or a time (2s, 500ms).
    #[arg(long)]
    pub warmup: Option<String>,
    /// Measure exactly this many requests per batch size.
    #[arg(long, conflicts_with_all = ["duration", "until_stable"])]
    pub iterations: Option<u64>,
    /// Measure at least this long (and --min-iterations requests). Default 1s.
    #[arg(long, conflicts_with = "until_stable")]
    pub duration: Option<String>,
    /// Fewest measured requests with --duration or --until-stable (default 100).
    #[arg(long)]
    pub min_iterations: Option<u64>,
    /// Stop when the 95% interval of p99 is within this percentage of p99 (e.g. 5).
    #[arg(long, value_name = "PERCENT")]
    pub until_stable: Option<f64>,
    /// Cap for --until-stable (default 100000).
    #[arg(long)]
    pub max_iterations: Option<u64>,
    /// The longest a run measures: default 10s with --duration (a slow model then stops with
    /// fewer requests, and says so), 60s with --until-stable.
    #[arg(long)]
    pub max_time: Option<String>,
    /// Sizes of symbolic dims for synthesized inputs, e.g. --dim seq=128.
    #[arg(long = "dim", value_name = "NAME=N", value_parser = settings::parse_dim)]
    pub dims: Vec<(String, usize)>,
    /// Range LO,HI (exclusive) for synthesized integer inputs.
    #[arg(long, value_name = "LO,HI", value_parser = parse_range)]
    pub int_range: Option<(i64, i64)>,
    /// Seed for synthesized inputs (default 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write results as JSON ('-' for stdout); an existing file is replaced.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write one CSV row per run; an existing file is replaced.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Compare each run with the same run in this earlier `bench --json` (or `compare --json`):
    /// the change in p50 with its 95% interval, and what differs about the machine or settings.
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: exit with code 3 when a run is significantly slower than this share,
    /// e.g. 5%.
    #[arg(long, value_name = "PERCENT", requires = "baseline", value_parser = crate::bench::baseline::parse_threshold)]
    pub fail_if_slower: Option<f64>,
    #[command(flatten)]
    pub export: ExportArgs,
}

fn parse_range(s: &str) -> Result<(i64, i64), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("expected LO,HI, got '{s}'"))?;
    let lo = a
        .trim()
        .parse()
        .map_err(|_| format!("'{a}' is not an integer"))?;
    let hi = b
        .trim()
        .parse()
        .map_err(|_| format!("'{b}' is not an integer"))?;
    if hi <= lo {
        return Err(format!("the range {lo},{hi} is empty (HI is exclusive)"));
    }
    Ok((lo, hi))
}

/// A count of requests as typed: a number (5000000, 5e6) or one with a suffix, k or K
/// (thousand), M (million), G or B (billion): 5M, 2.5k, 1B. The sign is kept, so that a
/// negative count reaches the planner's range check, which says what is allowed.
fn parse_count(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (number, scale) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G' | 'B') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    number
        .trim_end()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v * scale)
        .ok_or_else(|| {
            format!(
                "`{s}` is not a count of requests: give a number such as 5000000, or one with k (thousand), M (million), G or B (billion), such as 2.5k, 5M or 1B"
            )
        })
}

impl CostFlags {
    /// `base` (a preset's cost inputs or the defaults) with every flag the user typed applied.
    pub fn overlay(&self, mut c: CostInputs) -> CostInputs {
        macro_rules! fill {
            ($($field:ident = $flag:ident),* $(,)?) => { $( if let Some(v) = self.$flag { c.$field = v; } )* };
        }
        fill!(
            monthly_requests = monthly_requests,
            peak_factor = peak_factor,
            latency_target_ms = latency_target_ms,
            budget_usd = budget,
            function_memory_mb = memory_mb,
            min_instances = min_instances,
            max_instances = max_instances,
            vcpus = vcpus,
            instance_memory_gb = instance_memory_gb,
            target_utilization = utilization,
            cache_hit_rate = cache_hit_rate,
            cold_start_share = cold_start_share,
            cold_start_ms = cold_start_ms,
        );
        if let Some(p) = self.percentile {
            c.percentile = match p {
                PercentileArg::P95 => Percentile::P95,
                PercentileArg::P99 => Percentile::P99,
            };
        }
        if let Some(n) = self.instances {
            c.min_instances = n;
            c.max_instances = n;
        }
        if let Some(r) = self.measured_capacity {
            c.measured_capacity_rps = Some(r);
        }
        c
    }
}

/// The flag that sets a settings field, for errors the user can act on.
fn flag_of(field: &str) -> &'static str {
    match field {
        "batch_sizes" => "--batch",
        "concurrency" => "--concurrency",
        "threads" => "--threads",
        "inter_threads" => "--inter-threads",
        "warmup_iterations" | "warmup_seconds" => "--warmup",
        "stop.Iterations" => "--iterations",
        "stop.seconds" => "--duration",
        "stop.min_iterations" => "--min-iterations",
        "stop.percent" => "--until-stable",
        "stop.max_iterations" => "--max-iterations",
        "stop.max_seconds" => "--max-time",
        "dims" => "--dim",
        "int_range" => "--int-range",
        _ => "a setting",
    }
}

/// A settings error as the command line says it: the flag, then the problem.
pub fn flag_error(e: InvalidSetting) -> anyhow::Error {
    anyhow!("{} {} (bench.{})", flag_of(e.field), e.problem, e.field)
}

impl BenchArgs {
    /// `base` (a preset's settings or the defaults) with every flag the user typed applied.
    pub fn overlay(&self, mut s: BenchSettings) -> Result<BenchSettings> {
        let secs =
            |flag: &str, v: &str| settings::parse_seconds(v).map_err(|e| anyhow!("{flag}: {e}"));
        if let Some(e) = self.engine {
            s.engine = match e {
                EngineArg::Auto => EngineChoice::Auto,
                EngineArg::Ort => EngineChoice::Ort,
                EngineArg::Tract => EngineChoice::Tract,
                EngineArg::Both => EngineChoice::Both,
            };
        }
        if !self.batch.is_empty() {
            s.batch_sizes = self.batch.clone();
        }
        s.threads = self.threads.or(s.threads);
        s.inter_threads = self.inter_threads.or(s.inter_threads);
        if let Some(o) = self.opt_level {
            s.opt_level = match o {
                OptArg::Disabled => OptLevel::Disabled,
                OptArg::Basic => OptLevel::Basic,
                OptArg::Extended => OptLevel::Extended,
                OptArg::All => OptLevel::All,
            };
        }
        if self.execution_provider.is_some() {
            s.execution_provider = self.execution_provider.clone();
        }
        s.concurrency = self.concurrency.unwrap_or(s.concurrency);
        if let Some(w) = &self.warmup {
            match w.trim().parse::<u64>() {
                Ok(n) => {
                    s.warmup_iterations = n;
                    s.warmup_seconds = None;
                }
                Err(_) => s.warmup_seconds = Some(secs("--warmup", w)?),
            }
        }
        s.stop = self.stop(s.stop, &secs)?;
        if !self.dims.is_empty() {
            s.dims = self.dims.iter().cloned().collect();
        }
        s.int_range = self.int_range.or(s.int_range);
        s.seed = self.seed.unwrap_or(s.seed);
        s.validate().map_err(flag_error)?;
        Ok(s)
    }

    /// The stop rule: a typed rule replaces the base's; typed caps adjust whichever applies.
    fn stop(&self, base: Stop, secs: &dyn Fn(&str, &str) -> Result<f64>) -> Result<Stop> {
        let min_time = match &base {
            Stop::MinTime { .. } => base.clone(),
            _ => Stop::default_min_time(),
        };
        let stable = match &base {
            Stop::UntilStable { .. } => base.clone(),
            _ => Stop::default_until_stable(),
        };
        let mut stop = if let Some(n) = self.iterations {
            Stop::Iterations(n)
        } else if let Some(p) = self.until_stable {
            match stable {
                Stop::UntilStable {
                    min_iterations,
                    max_iterations,
                    max_seconds,
                    ..
                } => Stop::UntilStable {
                    percent: p,
                    min_iterations,
                    max_iterations,
                    max_seconds,
                },
                other => other,
            }
        } else if let Some(d) = &self.duration {
            match min_time {
                Stop::MinTime {
                    min_iterations,
                    max_seconds,
                    ..
                } => {
                    let seconds = secs("--duration", d)?;
                    Stop::MinTime {
                        seconds,
                        min_iterations,
                        // A long --duration is a wish for that long: the cap never cuts it.
                        max_seconds: max_seconds.max(seconds),
                    }
                }
                other => other,
            }
        } else {
            base
        };
        match &mut stop {
            Stop::Iterations(_) => {}
            Stop::MinTime {
                min_iterations,
                max_seconds,
                ..
            } => {
                *min_iterations = self.min_iterations.unwrap_or(*min_iterations);
                if let Some(t) = &self.max_time {
                    *max_seconds = secs("--max-time", t)?;
                }
            }
            Stop::UntilStable {
                min_iterations,
                max_iterations,
                max_seconds,
                ..
            } => {
                *min_iterations = self.min_iterations.unwrap_or(*min_iterations);
                *max_iterations = self.max_iterations.unwrap_or(*max_iterations);
                if let Some(t) = &self.max_time {
                    *max_seconds = secs("--max-time", t)?;
                }
            }
        }
        Ok(stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> Result<BenchSettings> {
        let cli = Cli::try_parse_from(["inferscope", "bench"].iter().chain(args))?;
        match cli.command {
            Some(Command::Bench(b)) => b.overlay(BenchSettings::default()),
            _ => unreachable!(),
        }
    }

    #[test]
    fn untyped_flags_keep_the_base() {
        assert_eq!(settings(&[]).unwrap(), BenchSettings::default());
        let s = settings(&["--until-stable", "3", "--max-time", "2m", "--warmup", "2s"]).unwrap();
        assert_eq!(
            s.stop,
            Stop::UntilStable {
                percent: 3.0,
                min_iterations: 100,
                max_iterations: 100_000,
                max_seconds: 120.0
            }
        );
        assert_eq!(s.warmup_seconds, Some(2.0));
        let e = format!("{:#}", settings(&["--concurrency", "0"]).unwrap_err());
        assert!(
            e.starts_with("--concurrency must be between 1 and 256"),
            "{e}"
        );
        let e = format!("{:#}", settings(&["--duration", "1e300s"]).unwrap_err());
        assert!(
            e.contains("--duration") && e.contains("not a duration"),
            "{e}"
        );
        assert_eq!(parse_range("0,50").unwrap(), (0, 50));
        assert!(parse_range("5,5").is_err());
    }

    fn cost_flags(args: &[&str]) -> Result<CostFlags, clap::Error> {
        let cli = Cli::try_parse_from(["inferscope", "cost"].iter().chain(args))?;
        match cli.command {
            Some(Command::Cost(c)) => Ok(c.inputs),
            _ => unreachable!(),
        }
    }

    /// Monthly requests take the suffixes people write (5M, 2.5k, 1B); a negative count is read
    /// as one, not as a flag, so the planner's range check can refuse it by name.
    #[test]
    fn monthly_requests_take_suffixes_and_negatives_reach_the_check() {
        for (typed, v) in [
            ("5000000", 5e6),
            ("5e6", 5e6),
            ("5M", 5e6),
            ("2.5k", 2500.0),
            ("2.5K", 2500.0),
            ("1G", 1e9),
            ("1B", 1e9),
            ("-5", -5.0),
            ("-5M", -5e6),
        ] {
            let flags = cost_flags(&["--monthly-requests", typed])
                .unwrap_or_else(|e| panic!("{typed}: {e}"));
            assert_eq!(flags.monthly_requests, Some(v), "{typed}");
        }
        let e = cost_flags(&["--monthly-requests", "-5"])
            .unwrap()
            .overlay(CostInputs::default())
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("monthly requests must be between 0"), "{e}");
        for bad in ["5X", "M", "5m", "five", "NaN", ""] {
            let e = cost_flags(&["--monthly-requests", bad])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("is not a count of requests") && e.contains("5M"),
                "{bad}: {e}"
            );
        }
        // The other numbers of the plan read a negative value as a value too.
        let flags = cost_flags(&["--budget", "-1", "--peak-factor", "-2"]).unwrap();
        assert_eq!((flags.budget, flags.peak_factor), (Some(-1.0), Some(-2.0)));
    }
}
