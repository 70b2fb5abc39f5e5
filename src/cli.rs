//! The command line: argument definitions and the headless commands.

use crate::bench::{self, Event, Phase, Plan, RunResult, StopRule, Warmup};
use crate::data::{self, DataSource, SynthOptions};
use crate::engine::{self, runtime, EngineChoice, EngineKind, EngineOptions, OptLevel};
use crate::environment::Environment;
use crate::fsutil::write_atomic;
use crate::model::Model;
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

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
        #[arg(long = "dim", value_name = "NAME=N", value_parser = parse_dim)]
        dims: Vec<(String, usize)>,
    },
    /// Measure latency, throughput and memory across batch sizes.
    Bench(Box<BenchArgs>),
    /// Write an optimized variant of a model to a new ONNX file.
    Optimize(OptimizeArgs),
    /// Benchmark a model against its variants, interleaved, with fidelity and speedups.
    Compare(Box<CompareArgs>),
    /// Monthly cost of serving a model on serverless, container, Kubernetes and dedicated tiers.
    Cost(CostArgs),
    /// Write a report (PDF, PNG summary) from the JSON of `bench` and/or `cost`.
    Report {
        /// Results files: `bench --json`, `cost --json`, or one of each.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        #[command(flatten)]
        export: ExportArgs,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
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
pub enum FormatArg {
    Qoperator,
    Qdq,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("rewrite").required(true).args(["int8", "weight_int8", "fp16", "prune", "trees", "max_depth"])))]
pub struct OptimizeArgs {
    pub model: PathBuf,
    /// Dynamic int8 quantization of MatMul/Gemm weights (activations quantized per request).
    #[arg(long)]
    pub int8: bool,
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

impl OptimizeArgs {
    fn variant(&self) -> Result<crate::optimize::Variant> {
        use crate::optimize::{Int8Options, QuantFormat, Variant};
        Ok(if self.int8 {
            Variant::Int8(Int8Options {
                per_channel: self.per_channel,
                format: match self.format {
                    FormatArg::Qoperator => QuantFormat::QOperator,
                    FormatArg::Qdq => QuantFormat::Qdq,
                },
                signed: !self.unsigned,
                conv: self.conv,
                exclude: self.exclude.clone(),
            })
        } else if self.weight_int8 {
            Variant::WeightInt8 {
                per_channel: self.per_channel,
            }
        } else if self.fp16 {
            Variant::Fp16
        } else if let Some(s) = self.prune {
            let spec = format!(
                "prune:{s}{}{}",
                if self.structured { ":structured" } else { "" },
                if self.per_layer { ":per-layer" } else { "" }
            );
            spec.parse()?
        } else if let Some(k) = self.trees {
            format!("trees:{k}").parse()?
        } else if let Some(d) = self.max_depth {
            format!("max-depth:{d}").parse()?
        } else {
            bail!("say which variant to write (--int8, --weight-int8, --fp16, --prune S, --trees K or --max-depth D)")
        })
    }
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// A variant to compare with the original (repeatable): int8[:per-channel][:qdq][:unsigned][:conv][:exclude=N,..],
    /// weight-int8[:per-channel], fp16, prune:S[:structured|:per-layer], trees:K, max-depth:D,
    /// ort:disabled|basic|extended|all, file:OTHER.onnx.
    #[arg(long = "variant", value_name = "SPEC")]
    pub variants: Vec<String>,
    /// Features whose permutation importance is below this share are listed as low (0..1).
    #[arg(long, default_value_t = 0.01)]
    pub importance_threshold: f64,
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
    #[arg(long)]
    pub run: Option<usize>,
    /// Service time of one request when no results are given, ms.
    #[arg(long, default_value_t = 100.0)]
    pub latency_ms: f64,
    #[arg(long, default_value_t = 1_000_000.0)]
    pub monthly_requests: f64,
    /// Peak request rate over the monthly average.
    #[arg(long, default_value_t = 3.0)]
    pub peak_factor: f64,
    #[arg(long, default_value_t = 100.0)]
    pub latency_target_ms: f64,
    /// The percentile the latency target binds.
    #[arg(long, value_enum, default_value = "p95")]
    pub percentile: PercentileArg,
    /// Monthly budget, USD.
    #[arg(long, default_value_t = 500.0)]
    pub budget: f64,
    /// Memory of each serverless function, MB.
    #[arg(long, default_value_t = 256.0)]
    pub memory_mb: f64,
    /// Run exactly this many instances (sets the minimum and the maximum).
    #[arg(long)]
    pub instances: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub min_instances: u64,
    #[arg(long, default_value_t = 100)]
    pub max_instances: u64,
    /// vCPUs per instance.
    #[arg(long, default_value_t = 1.0)]
    pub vcpus: f64,
    /// Memory per instance, GB.
    #[arg(long, default_value_t = 2.0)]
    pub instance_memory_gb: f64,
    /// Planned utilization of instances at peak (0.05-0.99).
    #[arg(long, default_value_t = 0.6)]
    pub utilization: f64,
    /// Share of requests served from a cache (0-1).
    #[arg(long, default_value_t = 0.0)]
    pub cache_hit_rate: f64,
    /// Share of serverless requests with a cold start (0-1), and its latency.
    #[arg(long, default_value_t = 0.01)]
    pub cold_start_share: f64,
    #[arg(long, default_value_t = 500.0)]
    pub cold_start_ms: f64,
    /// Write the plan as JSON ('-' for stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub export: ExportArgs,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

/// Report files a command can write besides its JSON.
#[derive(Args, Debug, Clone, Default)]
pub struct ExportArgs {
    /// Write the report as PDF (vector charts, selectable text).
    #[arg(long, value_name = "OUT.pdf")]
    pub pdf: Option<PathBuf>,
    /// Write a one-page PNG summary.
    #[arg(long, value_name = "OUT.png")]
    pub png: Option<PathBuf>,
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
    /// Engine: ONNX Runtime when found (auto), ort, tract, or both.
    #[arg(long, value_enum, default_value = "auto")]
    pub engine: EngineArg,
    /// Batch sizes, comma-separated. Default 1,8,32,64; with --data, the data as given.
    #[arg(long, value_delimiter = ',')]
    pub batch: Vec<usize>,
    /// Threads inside an operator (intra-op).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Threads running operators in parallel (ONNX Runtime inter-op).
    #[arg(long)]
    pub inter_threads: Option<usize>,
    /// ONNX Runtime graph optimization level.
    #[arg(long, value_enum, default_value = "all")]
    pub opt_level: OptArg,
    /// ONNX Runtime execution provider (see `inferscope runtime`), default CPU.
    #[arg(long)]
    pub execution_provider: Option<String>,
    /// Closed-loop client threads, each with its own session.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Warm-up: a number of iterations (10) or a time (2s, 500ms).
    #[arg(long, default_value = "10")]
    pub warmup: String,
    /// Measure exactly this many requests per batch size.
    #[arg(long, conflicts_with_all = ["duration", "until_stable"])]
    pub iterations: Option<u64>,
    /// Measure at least this long (and --min-iterations requests). Default 1s.
    #[arg(long, conflicts_with = "until_stable")]
    pub duration: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub min_iterations: u64,
    /// Stop when the 95% interval of p99 is within this percentage of p99 (e.g. 5).
    #[arg(long, value_name = "PERCENT")]
    pub until_stable: Option<f64>,
    /// Cap for --until-stable.
    #[arg(long, default_value_t = 100_000)]
    pub max_iterations: u64,
    /// Time cap for --until-stable.
    #[arg(long, default_value = "60s")]
    pub max_time: String,
    /// Sizes of symbolic dims for synthesized inputs, e.g. --dim seq=128.
    #[arg(long = "dim", value_name = "NAME=N", value_parser = parse_dim)]
    pub dims: Vec<(String, usize)>,
    /// Range LO,HI (exclusive) for synthesized integer inputs.
    #[arg(long, value_name = "LO,HI", value_parser = parse_range)]
    pub int_range: Option<(i64, i64)>,
    /// Seed for synthesized inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write results as JSON ('-' for stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write one CSV row per run.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    #[command(flatten)]
    pub export: ExportArgs,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

fn parse_dim(s: &str) -> Result<(String, usize), String> {
    let (k, v) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected NAME=N, got '{s}'"))?;
    let n = v
        .trim()
        .parse::<usize>()
        .map_err(|_| format!("'{v}' is not a size in '{s}'"))?;
    if n == 0 {
        return Err(format!("dim '{k}' must be at least 1"));
    }
    Ok((k.trim().to_string(), n))
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

/// `250ms`, `2s`, `1.5s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let v: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("'{s}' is not a duration (try 500ms, 2s, 1m)"))?;
    let secs = match unit {
        "ms" => v / 1e3,
        "s" | "" => v,
        "m" | "min" => v * 60.0,
        _ => bail!("'{s}' has an unknown unit (use ms, s or m)"),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        bail!("'{s}' is not a valid duration");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Runs a parsed command line.
/// Whether the user typed this argument (as opposed to its default or a preset's value).
type Given<'a> = &'a dyn Fn(&str) -> bool;

/// Runs a parsed command line. `matches` tells which arguments were typed, so that a
/// `--preset` fills only the others.
pub fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<()> {
    let sub = matches.subcommand().map(|(_, m)| m.clone());
    let given = move |id: &str| {
        sub.as_ref()
            .is_some_and(|m| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    };
    match cli.command {
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(())
        }
        Some(Command::Inspect {
            model,
            preset,
            json,
            dims,
        }) => {
            let model = match (model, preset) {
                (Some(m), _) => m,
                (None, Some(p)) => load_preset(&p)?
                    .model_path
                    .with_context(|| format!("{} names no model; give one", p.display()))?,
                (None, None) => bail!("give a model (or a --preset that names one)"),
            };
            inspect(&model, json, dims)
        }
        Some(Command::Bench(mut args)) => {
            if let Some(p) = args.preset.clone() {
                apply_preset_to_bench(&mut args, &load_preset(&p)?, &given);
            }
            bench_cmd(*args, cli.ort_path)
        }
        Some(Command::Optimize(args)) => optimize_cmd(&args),
        Some(Command::Compare(mut args)) => {
            if let Some(p) = args.bench.preset.clone() {
                let loaded = load_preset(&p)?;
                apply_preset_to_bench(&mut args.bench, &loaded, &given);
                if !given("variants") {
                    args.variants = loaded.preset.variants.clone();
                }
            }
            compare_cmd(*args, cli.ort_path)
        }
        Some(Command::Cost(mut args)) => {
            let pricing = match args.preset.clone() {
                Some(p) => {
                    let loaded = load_preset(&p)?;
                    apply_preset_to_cost(&mut args, &loaded.preset.cost, &given);
                    loaded.preset.pricing
                }
                None => crate::cost::Pricing::default(),
            };
            cost_cmd(&args, pricing)
        }
        Some(Command::Preset { action }) => preset_cmd(action),
        Some(Command::Report {
            results,
            export,
            force,
        }) => {
            if export.pdf.is_none() && export.png.is_none() {
                bail!("say what to write: --pdf OUT.pdf and/or --png OUT.png");
            }
            check_export(&export, force)?;
            let study = crate::report::Study::from_files(&results)?;
            write_export(&export, &study)
        }
        Some(Command::Runtime { action: None }) => runtime_show(cli.ort_path.as_deref()),
        Some(Command::Runtime {
            action: Some(RuntimeAction::Install),
        }) => runtime_install(),
    }
}

/// `1.5 MiB`, `340 B`.
pub fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `85.0 k`, `1.20 M`.
pub fn human_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} G", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.2} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// Fills in FLOPs at batch 1 and the given dims (tract's cost model).
pub fn with_flops(model: &mut Model, dims: &[(String, usize)]) {
    let opts = SynthOptions {
        dims: dims.iter().cloned().collect(),
        samples: 1,
        ..Default::default()
    };
    let shapes = data::synthesize(model, &opts)
        .map(|s| s.inputs.iter().map(|t| t.shape.clone()).collect::<Vec<_>>());
    let result = shapes.and_then(|s| engine::tract::estimate_flops(model, &s).map(|f| (f, s)));
    match result {
        Ok((f, shapes)) => {
            model.info.flops = Some(f);
            let names: Vec<String> = model
                .inputs()
                .iter()
                .zip(&shapes)
                .map(|(i, s)| format!("{} {:?}", i.name, s))
                .collect();
            model.info.flops_note = format!("at {}", names.join(", "));
        }
        Err(e) => {
            model.info.flops_note = format!(
                "not estimated: {}",
                format!("{e:#}").lines().next().unwrap_or("")
            )
        }
    }
}

fn inspect(path: &Path, json: bool, dims: Vec<(String, usize)>) -> Result<()> {
    let mut model = Model::load(path)?;
    with_flops(&mut model, &dims);
    let i = &model.info;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, i)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "Model       {} ({}, {})",
        i.path.display(),
        human_bytes(i.file_size_bytes),
        i.name
    )?;
    writeln!(out, "sha256      {}", i.sha256)?;
    let opsets: Vec<String> = i.opsets.iter().map(|(d, v)| format!("{d} {v}")).collect();
    writeln!(
        out,
        "Producer    {}   IR {}   opsets {}",
        i.producer,
        i.ir_version,
        opsets.join(", ")
    )?;
    let width = i
        .inputs
        .iter()
        .chain(&i.outputs)
        .map(|v| v.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(out, "Inputs")?;
    for v in &i.inputs {
        writeln!(out, "  {:width$}  {}", v.name, v.type_string())?;
    }
    writeln!(out, "Outputs")?;
    for v in &i.outputs {
        let note = if v.is_tensor() {
            ""
        } else {
            "   (not a tensor: shown, skipped in numeric comparisons)"
        };
        writeln!(out, "  {:width$}  {}{note}", v.name, v.type_string())?;
    }
    let mut ops: Vec<(&String, &usize)> = i.op_histogram.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    writeln!(
        out,
        "Operators   {} nodes{}: {}",
        i.node_count,
        if i.subgraph_count > 0 {
            format!(" (in the main graph and {} subgraphs)", i.subgraph_count)
        } else {
            String::new()
        },
        ops.iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "Parameters  {} ({}){}",
        human_count(i.parameter_count),
        human_bytes(i.parameter_bytes),
        if i.constant_node_parameters > 0 {
            format!(
                ", {} of them in Constant nodes",
                human_count(i.constant_node_parameters)
            )
        } else {
            String::new()
        }
    )?;
    match i.flops {
        Some(f) => writeln!(
            out,
            "FLOPs       {} per inference {}",
            human_count(f),
            i.flops_note
        )?,
        None => writeln!(out, "FLOPs       {}", i.flops_note)?,
    }
    Ok(())
}

fn runtime_show(explicit: Option<&Path>) -> Result<()> {
    let located = runtime::locate(explicit);
    let mut out = std::io::stdout().lock();
    match &located.chosen {
        Some(c) => {
            writeln!(
                out,
                "ONNX Runtime {} at {}",
                c.version.as_deref().unwrap_or("?"),
                c.path.display()
            )?;
            writeln!(out, "  found via: {}", c.source.label())?;
            match runtime::global(explicit) {
                Ok(rt) => writeln!(out, "  execution providers: {}", rt.providers.join(", "))?,
                Err(e) => writeln!(out, "  but it could not be started: {e:#}")?,
            }
            let rejected: Vec<_> = located
                .candidates
                .iter()
                .filter(|c| c.problem.is_some())
                .collect();
            for c in rejected {
                writeln!(
                    out,
                    "  skipped {} ({}): {}",
                    c.path.display(),
                    c.source.label(),
                    c.problem.as_deref().unwrap_or("")
                )?;
            }
        }
        None => {
            writeln!(out, "{}", located.why_not_found())?;
            writeln!(out, "Benchmarks will use tract, the built-in engine.")?;
        }
    }
    Ok(())
}

fn runtime_install() -> Result<()> {
    let (path, version) = runtime::install(&mut |msg| eprintln!("{msg}"))?;
    println!("Installed ONNX Runtime {version} at {}", path.display());
    println!("Inferscope finds it there from now on (see `inferscope runtime`).");
    Ok(())
}

/// Refuses to overwrite an existing file unless `force`.
pub fn check_writable(path: &Path, force: bool) -> Result<()> {
    if path.as_os_str() != "-" && path.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    Ok(())
}

/// The JSON written by `bench --json`.
#[derive(Serialize)]
pub struct BenchReport<'a> {
    pub environment: Environment,
    pub model: &'a crate::model::ModelInfo,
    pub data: String,
    pub plan: &'a Plan,
    pub runs: &'a [RunResult],
    pub failures: &'a [String],
}

fn plan_from_args(
    args: &BenchArgs,
    engines: Vec<EngineKind>,
    ort_path: Option<PathBuf>,
) -> Result<Plan> {
    let warmup = match args.warmup.trim().parse::<u64>() {
        Ok(n) => Warmup::Iterations(n),
        Err(_) => Warmup::Duration(parse_duration(&args.warmup)?),
    };
    let stop = if let Some(n) = args.iterations {
        if n == 0 {
            bail!("--iterations must be at least 1");
        }
        StopRule::Iterations(n)
    } else if let Some(pct) = args.until_stable {
        if !(pct > 0.0 && pct < 100.0) {
            bail!("--until-stable takes a percentage between 0 and 100, e.g. 5");
        }
        StopRule::UntilStable {
            rel_width: pct / 100.0,
            min_iterations: args.min_iterations.max(100),
            max_iterations: args.max_iterations,
            max_time: parse_duration(&args.max_time)?,
        }
    } else {
        let d = args
            .duration
            .as_deref()
            .map(parse_duration)
            .transpose()?
            .unwrap_or(Duration::from_secs(1));
        StopRule::MinTime {
            min_time: d,
            min_iterations: args.min_iterations,
        }
    };
    if args.concurrency == 0 || args.concurrency > 256 {
        bail!("--concurrency must be between 1 and 256");
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let batch_sizes = if !args.batch.is_empty() {
        if args.batch.contains(&0) {
            bail!("batch sizes must be at least 1");
        }
        args.batch.iter().map(|&b| Some(b)).collect()
    } else if args.data.is_some() {
        vec![None]
    } else {
        vec![Some(1), Some(8), Some(32), Some(64)]
    };
    Ok(Plan {
        engines,
        batch_sizes,
        concurrency: args.concurrency,
        warmup,
        stop,
        engine_options: EngineOptions {
            intra_threads: args.threads,
            inter_threads: args.inter_threads,
            opt_level: match args.opt_level {
                OptArg::Disabled => OptLevel::Disabled,
                OptArg::Basic => OptLevel::Basic,
                OptArg::Extended => OptLevel::Extended,
                OptArg::All => OptLevel::All,
            },
            execution_provider: args.execution_provider.clone(),
            ort_path,
        },
        ..Plan::default()
    })
}

/// What `bench` and `compare` set up the same way: the model, the plan and the data.
struct Setup {
    model: Model,
    plan: Plan,
    samples: data::SampleSet,
}

fn setup(args: &BenchArgs, ort_path: Option<PathBuf>) -> Result<Setup> {
    for out in args.json.iter().chain(args.csv.iter()) {
        check_writable(out, args.force)?;
    }
    check_export(&args.export, args.force)?;
    let model_path = args
        .model
        .clone()
        .context("give a model (or a --preset that names one)")?;
    let model = Model::load(&model_path)?;
    let choice = match args.engine {
        EngineArg::Auto => EngineChoice::Auto,
        EngineArg::Ort => EngineChoice::Ort,
        EngineArg::Tract => EngineChoice::Tract,
        EngineArg::Both => EngineChoice::Both,
    };
    let base_options = EngineOptions {
        ort_path: ort_path.clone(),
        ..Default::default()
    };
    let (engines, notice) = engine::resolve_engines(choice, &base_options)?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    let mut plan = plan_from_args(args, engines, ort_path)?;
    if args.batch.is_empty() && args.data.is_none() {
        if let Some(note) = plan.fit_to_fixed_batch(model.fixed_batch()) {
            eprintln!("note: {note}");
        }
    }
    let max_batch = plan
        .batch_sizes
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1);
    let source = match &args.data {
        Some(p) => DataSource::File {
            path: p.clone(),
            label_column: args.label_column.clone(),
        },
        None => DataSource::Synthetic(SynthOptions {
            dims: args.dims.iter().cloned().collect::<BTreeMap<_, _>>(),
            int_range: args.int_range,
            seed: args.seed,
            samples: max_batch.max(64),
        }),
    };
    let samples = data::load(&model, &source)?;
    for n in &samples.notes {
        eprintln!("note: {n}");
    }
    Ok(Setup {
        model,
        plan,
        samples,
    })
}

/// A terminal progress bar fed by benchmark events; collects failures.
struct Progress {
    bar: indicatif::ProgressBar,
    labels: BTreeMap<usize, String>,
    failures: Vec<String>,
}

impl Progress {
    /// Ok, or every failed run.
    fn result(&self) -> Result<()> {
        if !self.failures.is_empty() {
            bail!(
                "{} run(s) failed:\n  {}",
                self.failures.len(),
                self.failures.join("\n  ")
            );
        }
        Ok(())
    }

    fn new() -> Progress {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {prefix:28} {msg:16} [{bar:30}] {pos}/{len}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress {
            bar,
            labels: BTreeMap::new(),
            failures: Vec::new(),
        }
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::Started { run, spec } => {
                let b = spec
                    .batch_size
                    .map(|b| format!("batch {b}"))
                    .unwrap_or_else(|| "data as given".into());
                let v = if spec.variant == "original" {
                    String::new()
                } else {
                    format!("{} ", spec.variant)
                };
                self.labels.insert(run, format!("{v}{} {b}", spec.engine));
                self.bar.set_prefix(format!("{v}{} {b}", spec.engine));
            }
            Event::Progress {
                phase, done, total, ..
            } => {
                self.bar.set_message(match phase {
                    Phase::Loading => "loading",
                    Phase::Warmup => "warming up",
                    Phase::Measure => "measuring",
                });
                self.bar.set_length(total.unwrap_or(done.max(1)));
                self.bar.set_position(done);
            }
            Event::Failed { run, error } => {
                let who = run
                    .and_then(|r| self.labels.get(&r).cloned())
                    .map(|l| format!("{l}: "))
                    .unwrap_or_default();
                self.failures.push(format!("{who}{error}"));
            }
            Event::Samples { .. } | Event::RunDone { .. } | Event::Finished => {}
        }
    }
}

/// The `bench --json` document for these runs.
fn bench_json(s: &Setup, results: &[RunResult], failures: &[String]) -> Result<serde_json::Value> {
    let ort = match runtime::global(s.plan.engine_options.ort_path.as_deref()) {
        Ok(rt) if s.plan.engines.contains(&EngineKind::Ort) => {
            Ok((rt.version.as_str(), rt.path.as_path()))
        }
        Ok(_) => Err("not used".to_string()),
        Err(e) => Err(format!("{e:#}")),
    };
    let report = BenchReport {
        environment: Environment::detect(ort, Some(&s.model.info.sha256)),
        model: &s.model.info,
        data: s.samples.description.clone(),
        plan: &s.plan,
        runs: results,
        failures,
    };
    Ok(serde_json::to_value(&report)?)
}

/// Writes the JSON, CSV and report files `args` asks for.
fn write_outputs(args: &BenchArgs, doc: &serde_json::Value, results: &[RunResult]) -> Result<()> {
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(doc)? + "\n";
        if p.as_path() == Path::new("-") {
            std::io::stdout().write_all(text.as_bytes())?;
        } else {
            write_atomic(p, text.as_bytes())?;
        }
    }
    if let Some(p) = &args.csv {
        write_atomic(p, runs_csv(results)?.as_bytes())?;
    }
    if args.export.pdf.is_some() || args.export.png.is_some() {
        let mut study = crate::report::Study {
            latency_target_ms: 100.0,
            ..Default::default()
        };
        study.add(doc.clone())?;
        write_export(&args.export, &study)?;
    }
    Ok(())
}

/// Prints to stdout, or to stderr when stdout carries the JSON.
fn say(args: &BenchArgs, text: &str) {
    if args.json.as_deref() == Some(Path::new("-")) {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}

fn bench_cmd(args: BenchArgs, ort_path: Option<PathBuf>) -> Result<()> {
    let s = setup(&args, ort_path)?;
    let mut progress = Progress::new();
    let cancel = AtomicBool::new(false);
    let results = bench::scheduler::run_model(&s.plan, &s.model, &s.samples, &cancel, &mut |ev| {
        progress.event(ev)
    });
    progress.bar.finish_and_clear();
    say(&args, &results_table(&results));
    let doc = bench_json(&s, &results, &progress.failures)?;
    write_outputs(&args, &doc, &results)?;
    progress.result()
}

fn optimize_cmd(a: &OptimizeArgs) -> Result<()> {
    let variant = a.variant()?;
    let model = Model::load(&a.model)?;
    check_writable(&a.output, a.force)?;
    if let Some(j) = &a.json {
        check_writable(j, a.force)?;
    }
    let rewrite = crate::optimize::rewrite(&model, &variant)?;
    crate::optimize::save(&model, &rewrite, &a.output)?;
    let cov = &rewrite.coverage;
    println!("{variant}: {}", variant.describe());
    for c in &cov.changed {
        println!("  changed  {} ({}): {}", c.node, c.op, c.note);
    }
    for c in &cov.skipped {
        println!("  left     {} ({}): {}", c.node, c.op, c.note);
    }
    println!("{}", cov.summary());
    for n in &cov.notes {
        println!("note: {n}");
    }
    println!("wrote {}", a.output.display());
    if let Some(j) = &a.json {
        write_atomic(j, (serde_json::to_string_pretty(cov)? + "\n").as_bytes())?;
    }
    Ok(())
}

/// The comparison table: one row per variant x engine x batch. "load MB" is the resident memory
/// loading that variant added (all variants stay loaded while the rounds alternate).
pub fn compare_table(c: &crate::compare::Comparison) -> String {
    let mut out = String::new();
    let size = |name: &str| {
        if name == "original" {
            Some(c.file_size_bytes)
        } else {
            c.variants
                .iter()
                .find(|v| v.name == name)
                .map(|v| v.file_size_bytes)
        }
    };
    let _ = writeln!(
        out,
        "{:<28} {:<11} {:>5} {:>9} {:>9} {:>9} {:>11} {:>8} {:>9} {:>10} {:>9}  95% CI",
        "variant",
        "engine",
        "batch",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "samples/s",
        "load MB",
        "size",
        "fidelity",
        "speedup",
    );
    for r in &c.runs {
        let v = c.variants.iter().find(|v| v.name == r.variant);
        let fid = v
            .and_then(|v| v.fidelity.as_ref())
            .map(|f| format!("{:.4}", f.score()))
            .unwrap_or_else(|| {
                if r.variant == "original" {
                    "1".into()
                } else {
                    "-".into()
                }
            });
        let sp = v.and_then(|v| {
            v.speedups
                .iter()
                .find(|s| s.engine == r.engine && s.batch_size == r.batch_size)
        });
        let (spd, ci) = match sp.map(|s| s.label()) {
            Some(l) => match l.split_once(' ') {
                Some((x, rest)) => (x.to_string(), rest.to_string()),
                None => (l, String::new()),
            },
            None => ("-".into(), String::new()),
        };
        let _ = writeln!(
            out,
            "{:<28} {:<11} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>11.0} {:>8.1} {:>9} {:>10} {:>9}  {}",
            r.variant,
            r.engine.label(),
            r.batch_size,
            r.latency_p50,
            r.latency_p95,
            r.latency_p99,
            r.throughput_rps,
            (r.rss_after_load_mb - r.rss_before_load_mb).max(0.0),
            size(&r.variant).map(human_bytes).unwrap_or_default(),
            fid,
            spd,
            ci
        );
    }
    out
}

/// What each variant did and how faithful it is, for the terminal.
pub fn compare_details(c: &crate::compare::Comparison) -> String {
    let mut out = String::new();
    for v in &c.variants {
        let _ = writeln!(out, "\n{}: {}", v.name, v.description);
        if let Some(e) = &v.error {
            let _ = writeln!(out, "  not compared: {e}");
            continue;
        }
        if let Some(cov) = &v.coverage {
            let _ = writeln!(out, "  {}", cov.summary());
            for n in &cov.notes {
                let _ = writeln!(out, "  note: {n}");
            }
            for s in cov.skipped.iter().take(8) {
                let _ = writeln!(out, "  left {} ({}): {}", s.node, s.op, s.note);
            }
        }
        match (&v.fidelity, &v.fidelity_error) {
            (Some(f), _) => {
                for o in &f.outputs {
                    let _ = writeln!(out, "  output {}", o.summary());
                }
                if let Some(w) = f.worst_layer() {
                    let _ = writeln!(out, "  {w}");
                }
            }
            (None, Some(e)) => {
                let _ = writeln!(out, "  fidelity not measured: {e}");
            }
            _ => {}
        }
    }
    if let Some(i) = &c.importance {
        let _ = writeln!(out, "\n{}", i.summary());
    }
    out
}

fn compare_cmd(a: CompareArgs, ort_path: Option<PathBuf>) -> Result<()> {
    if !(0.0..1.0).contains(&a.importance_threshold) {
        bail!("--importance-threshold is a share between 0 and 1, e.g. 0.01");
    }
    let variants: Vec<crate::optimize::Variant> = a
        .variants
        .iter()
        .map(|v| v.parse())
        .collect::<Result<_>>()?;
    if variants.is_empty() {
        bail!(
            "say which variants to compare, e.g. --variant int8 --variant prune:0.5:structured (spelled {})",
            crate::optimize::SPELLINGS
        );
    }
    let s = setup(&a.bench, ort_path)?;
    let mut progress = Progress::new();
    let cancel = AtomicBool::new(false);
    let req = crate::compare::Request {
        model: &s.model,
        samples: &s.samples,
        variants: &variants,
        plan: &s.plan,
        importance_threshold: a.importance_threshold,
    };
    let bar = progress.bar.clone();
    let comparison =
        crate::compare::run(&req, &cancel, &mut |step| bar.set_prefix(step), &mut |ev| {
            progress.event(ev)
        })?;
    progress.bar.finish_and_clear();
    say(&a.bench, &compare_table(&comparison));
    say(&a.bench, &compare_details(&comparison));
    let mut doc = bench_json(&s, &comparison.runs, &progress.failures)?;
    if let serde_json::Value::Object(m) = &mut doc {
        let extra = serde_json::to_value(&comparison)?;
        for key in ["variants", "importance", "importance_note", "notes"] {
            m.insert(key.into(), extra[key].clone());
        }
    }
    write_outputs(&a.bench, &doc, &comparison.runs)?;
    let broken: Vec<String> = comparison
        .variants
        .iter()
        .filter_map(|v| v.error.as_ref().map(|e| format!("{}: {e}", v.name)))
        .collect();
    if broken.len() == comparison.variants.len() {
        bail!("no variant applies:\n  {}", broken.join("\n  "));
    }
    progress.result()
}

/// The run of a results file the cost planner prices: `run`, or the fastest at batch 1.
fn run_from_results(path: &Path, run: Option<usize>) -> Result<RunResult> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not JSON from `inferscope bench --json`",
            path.display()
        )
    })?;
    let runs: Vec<RunResult> = serde_json::from_value(v.get("runs").cloned().unwrap_or_default())
        .with_context(|| {
        format!(
            "{} holds no runs from `inferscope bench --json`",
            path.display()
        )
    })?;
    let chosen = match run {
        Some(id) => runs.iter().find(|r| r.run_id == id).with_context(|| {
            format!(
                "{} has no run {id} (runs: {})",
                path.display(),
                runs.iter()
                    .map(|r| r.run_id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
        None => runs
            .iter()
            .filter(|r| r.batch_size == 1)
            .min_by(|a, b| a.latency_p95.total_cmp(&b.latency_p95))
            .or(runs.first())
            .with_context(|| format!("{} holds no runs", path.display()))?,
    };
    Ok(chosen.clone())
}

/// Loads a preset for a command, printing what differs on this machine.
fn load_preset(path: &Path) -> Result<crate::preset::Loaded> {
    let loaded = crate::preset::Preset::load(path)?;
    for w in &loaded.warnings {
        eprintln!("preset: {w}");
    }
    Ok(loaded)
}

/// Fills the benchmark arguments the user did not type from the preset.
fn apply_preset_to_bench(args: &mut BenchArgs, loaded: &crate::preset::Loaded, given: Given) {
    use crate::preset::Stop;
    let b = &loaded.preset.bench;
    if args.model.is_none() {
        args.model = loaded.model_path.clone();
    }
    if !given("data") {
        args.data = args.data.take().or(loaded.data_path.clone());
    }
    if !given("engine") {
        args.engine = match b.engine {
            EngineChoice::Auto => EngineArg::Auto,
            EngineChoice::Ort => EngineArg::Ort,
            EngineChoice::Tract => EngineArg::Tract,
            EngineChoice::Both => EngineArg::Both,
        };
    }
    if !given("batch") {
        args.batch = b.batch_sizes.clone();
    }
    if !given("threads") {
        args.threads = b.threads;
    }
    if !given("concurrency") {
        args.concurrency = b.concurrency;
    }
    if !given("warmup") {
        args.warmup = b.warmup_iterations.to_string();
    }
    if !given("iterations") && !given("duration") && !given("until_stable") {
        match b.stop {
            Stop::Iterations(n) => args.iterations = Some(n),
            Stop::MinTime {
                seconds,
                min_iterations,
            } => {
                args.duration = Some(format!("{seconds}s"));
                if !given("min_iterations") {
                    args.min_iterations = min_iterations;
                }
            }
            Stop::UntilStable {
                percent,
                min_iterations,
                max_iterations,
            } => {
                args.until_stable = Some(percent);
                if !given("min_iterations") {
                    args.min_iterations = min_iterations;
                }
                if !given("max_iterations") {
                    args.max_iterations = max_iterations;
                }
            }
        }
    }
    if !given("dims") {
        args.dims = b.dims.iter().map(|(k, v)| (k.clone(), *v)).collect();
    }
    if !given("seed") {
        args.seed = b.seed;
    }
}

/// Fills the cost arguments the user did not type from the preset's cost inputs.
fn apply_preset_to_cost(a: &mut CostArgs, c: &crate::cost::plan::CostInputs, given: Given) {
    use crate::cost::plan::Percentile;
    macro_rules! fill {
        ($($arg:ident = $val:expr),* $(,)?) => { $( if !given(stringify!($arg)) { a.$arg = $val; } )* };
    }
    fill!(
        monthly_requests = c.monthly_requests,
        peak_factor = c.peak_factor,
        latency_target_ms = c.latency_target_ms,
        percentile = match c.percentile {
            Percentile::P95 => PercentileArg::P95,
            Percentile::P99 => PercentileArg::P99,
        },
        budget = c.budget_usd,
        memory_mb = c.function_memory_mb,
        min_instances = c.min_instances,
        max_instances = c.max_instances,
        vcpus = c.vcpus,
        instance_memory_gb = c.instance_memory_gb,
        utilization = c.target_utilization,
        cache_hit_rate = c.cache_hit_rate,
        cold_start_share = c.cold_start_share,
        cold_start_ms = c.cold_start_ms,
    );
}

fn preset_cmd(action: PresetAction) -> Result<()> {
    match action {
        PresetAction::Show { file } => {
            let loaded = load_preset(&file)?;
            print!("{}", loaded.preset.to_ron()?);
            if let Some(m) = &loaded.model_path {
                println!("// model resolves to {}", m.display());
            }
            if let Some(d) = &loaded.data_path {
                println!("// data resolves to {}", d.display());
            }
            Ok(())
        }
        PresetAction::Check { file } => {
            let loaded = load_preset(&file)?;
            println!(
                "{}: a valid preset (schema version {}{}){}",
                file.display(),
                loaded.file_version,
                if loaded.file_version < crate::preset::VERSION {
                    ", migrated"
                } else {
                    ""
                },
                if loaded.preset.name.is_empty() {
                    String::new()
                } else {
                    format!(": {}", loaded.preset.name)
                }
            );
            Ok(())
        }
    }
}

/// Refuses to overwrite report files without --force (before any work is done).
fn check_export(e: &ExportArgs, force: bool) -> Result<()> {
    for p in e.pdf.iter().chain(e.png.iter()) {
        check_writable(p, force)?;
    }
    Ok(())
}

/// Writes the report files asked for, atomically.
pub fn write_export(e: &ExportArgs, study: &crate::report::Study) -> Result<()> {
    if let Some(p) = &e.pdf {
        write_atomic(p, &crate::report::pdf(study)?)?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &e.png {
        write_atomic(p, &crate::report::png(study)?)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn cost_cmd(a: &CostArgs, pricing: crate::cost::Pricing) -> Result<()> {
    use crate::cost::plan::{plan, CostInputs, Percentile};
    use crate::cost::Pricing;
    if let Some(p) = &a.json {
        check_writable(p, a.force)?;
    }
    check_export(&a.export, a.force)?;
    let (service, model_memory_mb, source, serving_batch, on_gpu) = match &a.results {
        Some(p) => {
            let r = run_from_results(p, a.run)?;
            let what = format!(
                "run {} ({} {}, batch {}, p50 {:.3} ms)",
                r.run_id, r.model_name, r.engine, r.batch_size, r.latency_p50
            );
            (
                r.service_times_ms(),
                r.memory_mb,
                what,
                r.batch_size.max(1) as u64,
                r.on_gpu(),
            )
        }
        None => {
            if !(a.latency_ms.is_finite() && a.latency_ms >= 0.0) {
                bail!(
                    "--latency-ms must be a number of at least 0 (got {})",
                    a.latency_ms
                );
            }
            (
                vec![a.latency_ms],
                0.0,
                format!("a typed latency of {} ms", a.latency_ms),
                1,
                false,
            )
        }
    };
    let inputs = CostInputs {
        monthly_requests: a.monthly_requests,
        peak_factor: a.peak_factor,
        latency_target_ms: a.latency_target_ms,
        percentile: match a.percentile {
            PercentileArg::P95 => Percentile::P95,
            PercentileArg::P99 => Percentile::P99,
        },
        budget_usd: a.budget,
        function_memory_mb: a.memory_mb,
        vcpus: a.vcpus,
        instance_memory_gb: a.instance_memory_gb,
        min_instances: a.instances.unwrap_or(a.min_instances),
        max_instances: a.instances.unwrap_or(a.max_instances),
        target_utilization: a.utilization,
        cache_hit_rate: a.cache_hit_rate,
        cold_start_share: a.cold_start_share,
        cold_start_ms: a.cold_start_ms,
        model_memory_mb,
        serving_batch,
        measured_on_gpu: on_gpu,
    };
    let result = plan(&inputs, &pricing, &service).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = format!(
        "Service time from {source}; {:.0} requests/month, peak x{}.\n",
        a.monthly_requests, a.peak_factor
    );
    out.push_str(&format!(
        "{:<11} {:>11} {:>9} {:>9} {:>11} {:>10} {:>5} {:>9} {:>9}  {}\n",
        "tier",
        "compute $",
        "storage $",
        "network $",
        "total $/mo",
        "$/1k req",
        "inst",
        "p95 ms",
        "p99 ms",
        "feasible"
    ));
    let ms = |v: Option<f64>| {
        v.map(|v| format!("{v:.1}"))
            .unwrap_or_else(|| "sat.".into())
    };
    for t in &result.tiers {
        let c = &t.cost;
        out.push_str(&format!(
            "{:<11} {:>11.2} {:>9.2} {:>9.2} {:>11.2} {:>10.4} {:>5} {:>9} {:>9}  {}{}: {}\n",
            c.tier.label(),
            c.compute_cost,
            c.storage_cost,
            c.network_cost,
            c.total_cost,
            c.cost_per_1k_requests,
            c.instances,
            ms(t.predicted_p95_ms),
            ms(t.predicted_p99_ms),
            if t.feasible { "yes" } else { "no" },
            if t.within_budget { "" } else { ", over budget" },
            t.reason
        ));
    }
    let r = &result.recommendation;
    out.push_str(&format!("\nRecommendation: {}\n", r.explanation));
    if let Some(u) = r.runner_up {
        out.push_str(&format!("Runner-up: {}\n", u.label()));
    }
    for (v, t) in &r.flips {
        out.push_str(&format!(
            "At {v:.3e} requests/month the choice becomes {}\n",
            t.map(|t| t.label()).unwrap_or("none")
        ));
    }
    out.push_str(&format!("Rule of thumb: {}", r.rule_of_thumb.label()));
    out.push_str(
        &r.rule_of_thumb_note
            .as_ref()
            .map(|n| format!(" ({n})\n"))
            .unwrap_or_else(|| "\n".into()),
    );
    #[derive(Serialize)]
    struct CostReport<'a> {
        inputs: &'a CostInputs,
        service_source: &'a str,
        tiers: &'a [crate::cost::plan::TierPlan],
        recommendation: &'a crate::cost::plan::Recommendation,
        pricing: &'a Pricing,
        curves: crate::cost::plan::CostCurves,
    }
    let report = CostReport {
        inputs: &inputs,
        service_source: &source,
        tiers: &result.tiers,
        recommendation: &result.recommendation,
        pricing: &pricing,
        curves: crate::cost::plan::curves(&inputs, &pricing, &service),
    };
    let json = serde_json::to_string_pretty(&report)? + "\n";
    if a.export.pdf.is_some() || a.export.png.is_some() {
        let mut study = crate::report::Study {
            latency_target_ms: inputs.latency_target_ms,
            ..Default::default()
        };
        if let Some(p) = &a.results {
            study.add(serde_json::from_slice(&std::fs::read(p)?)?)?;
        }
        study.add(serde_json::to_value(&report)?)?;
        write_export(&a.export, &study)?;
    }
    match a.json.as_deref() {
        Some(p) if p == Path::new("-") => {
            eprint!("{out}");
            std::io::stdout().write_all(json.as_bytes())?;
        }
        Some(p) => {
            print!("{out}");
            write_atomic(p, json.as_bytes())?;
        }
        None => print!("{out}"),
    }
    Ok(())
}

fn fmt_ci(ci: &Option<bench::stats::Interval>) -> String {
    ci.map(|c| format!("{:.3}-{:.3}", c.lo, c.hi))
        .unwrap_or_else(|| "n/a".into())
}

/// The table of runs: a header line and one line per run (engine, and the variant when it is
/// not the original). The CLI prints it, the report sets it in a monospaced font.
pub fn run_table(results: &[RunResult]) -> (String, Vec<String>) {
    let header = format!(
        "{:<12} {:>5} {:>7} {:>9} {:>19} {:>9} {:>9} {:>19} {:>9} {:>9} {:>12} {:>8}",
        "engine",
        "batch",
        "iters",
        "p50 ms",
        "p50 95% CI",
        "p95 ms",
        "p99 ms",
        "p99 95% CI",
        "mean ms",
        "std ms",
        "samples/s",
        "mem MB"
    );
    let rows = results
        .iter()
        .map(|r| {
            let name = if r.variant == "original" {
                r.engine.label().to_string()
            } else {
                format!("{} {}", r.engine.label(), r.variant)
            };
            format!(
                "{:<12} {:>5} {:>7} {:>9.3} {:>19} {:>9.3} {:>9.3} {:>19} {:>9.3} {:>9.3} {:>12.1} {:>8.1}",
                name,
                r.batch_size,
                r.n_iterations,
                r.latency_p50,
                fmt_ci(&r.ci_p50),
                r.latency_p95,
                r.latency_p99,
                fmt_ci(&r.ci_p99),
                r.latency_mean,
                r.latency_std,
                r.throughput_rps,
                r.memory_mb
            )
        })
        .collect();
    (header, rows)
}

/// The human table of runs, with each run's warnings under it.
pub fn results_table(results: &[RunResult]) -> String {
    let (header, rows) = run_table(results);
    let mut s = header + "\n";
    for (r, row) in results.iter().zip(rows) {
        s.push_str(&row);
        s.push('\n');
        for w in &r.warnings {
            s.push_str(&format!("    ! {}: {}\n", w.metric, w.message));
        }
    }
    s
}

/// One CSV row per run, with the core fields first.
pub fn runs_csv(results: &[RunResult]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "model_name",
        "engine",
        "variant",
        "batch_size",
        "concurrency",
        "n_iterations",
        "latency_mean",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "latency_std",
        "throughput_rps",
        "memory_mb",
        "latency_min",
        "latency_max",
        "latency_p90",
        "latency_p999",
        "latency_cv",
        "requests_per_second",
        "load_time_ms",
        "warnings",
    ])?;
    for r in results {
        w.write_record([
            r.model_name.clone(),
            r.engine.label().to_string(),
            r.variant.clone(),
            r.batch_size.to_string(),
            r.concurrency.to_string(),
            r.n_iterations.to_string(),
            r.latency_mean.to_string(),
            r.latency_p50.to_string(),
            r.latency_p95.to_string(),
            r.latency_p99.to_string(),
            r.latency_std.to_string(),
            r.throughput_rps.to_string(),
            r.memory_mb.to_string(),
            r.latency_min.to_string(),
            r.latency_max.to_string(),
            r.latency_p90.to_string(),
            r.latency_p999.to_string(),
            r.latency_cv.to_string(),
            r.requests_per_second.to_string(),
            r.load_time_ms.to_string(),
            r.warnings
                .iter()
                .map(|w| w.kind.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ])?;
    }
    Ok(String::from_utf8(
        w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_dims_and_ranges() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 parsecs").is_err());
        assert_eq!(parse_dim("doc len=7").unwrap(), ("doc len".to_string(), 7));
        assert!(parse_dim("seq=0").is_err());
        assert_eq!(parse_range("0,50").unwrap(), (0, 50));
        assert!(parse_range("5,5").is_err());
    }
}
