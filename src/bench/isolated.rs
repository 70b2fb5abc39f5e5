//! One model in a process of its own: its memory and its cold start.
//!
//! In one process, a model's memory cannot be told apart from what else the process holds: a
//! comparison keeps every variant loaded while the rounds alternate (the process's peak was
//! charged to each: 459 MB for each variant of a 7 MB model), and a variant loaded after
//! another reuses the memory the first freed (its load added 0.0 MB). So Inferscope starts
//! itself again (a hidden subcommand, [`CHILD_COMMAND`]) with only that model and its requests,
//! and reads the kernel's peak resident memory of that process (`VmHWM`): what an instance
//! serving the model must hold, the runtime included. The same process times the cold start:
//! loading the runtime, creating the session, the first request.

use super::memory::kernel_peak_bytes;
use crate::engine::{self, EngineKind, EngineOptions};
use crate::model::Model;
use crate::tensor::Tensor;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The hidden subcommand the child runs: `inferscope __isolated SPEC.json`.
pub const CHILD_COMMAND: &str = "__isolated";
/// The line the child prints its findings on, so that any other output is ignored.
const MARK: &str = "inferscope-isolated: ";
/// The line the child prints as soon as its first request has answered.
const FIRST: &str = "inferscope-first-answer";
/// Requests run at each batch after the first (the peak settles within a few).
pub const RUNS: usize = 5;
/// A child that takes longer than this is stopped.
const CHILD_TIMEOUT: Duration = Duration::from_secs(600);

/// What the parent asks of the child.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChildSpec {
    pub model: PathBuf,
    pub engine: EngineKind,
    pub options: EngineOptions,
    /// One request per batch, each an `.npz` of the model's inputs, in the order to run.
    pub requests: Vec<(Option<usize>, PathBuf)>,
    pub runs: usize,
    /// How long the requests may take in all (the plan's time cap), ms: a larger batch whose
    /// first request, predicted from the last one, would not fit is not run, and fewer runs
    /// follow a slow request. `None`: no limit but [`CHILD_TIMEOUT`].
    #[serde(default)]
    pub budget_ms: Option<f64>,
}

/// The memory of one batch in a process serving only this model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchMemory {
    /// The batch asked for (`None`: the data as given).
    pub batch: Option<usize>,
    /// The process's peak resident memory after its runs at this batch (and at every batch
    /// before it, which were smaller), MB (10^6 bytes).
    pub peak_rss_mb: f64,
}

/// What a process of its own measured of one model on one engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Isolated {
    /// The process's peak resident memory before the runtime and the model were loaded, MB:
    /// Inferscope itself.
    pub idle_rss_mb: f64,
    /// Loading the engine (ONNX Runtime's library and environment; 0 for tract, which is
    /// built in), ms.
    pub runtime_load_ms: f64,
    /// Reading the model file, ms.
    pub read_ms: f64,
    /// Creating the session (parsing, optimizing, planning), ms.
    pub session_ms: f64,
    /// The first request, ms.
    pub first_run_ms: f64,
    /// From starting the process to the first answer, as the parent saw it, ms.
    pub process_to_first_answer_ms: f64,
    pub batches: Vec<BatchMemory>,
    /// Float outputs of the first request that came back NaN or infinite: `logits: 12 of
    /// 1000 values`.
    #[serde(default)]
    pub non_finite_outputs: Vec<String>,
}

impl Isolated {
    /// The cold start it measured.
    pub fn cold_start(&self) -> super::ColdStart {
        super::ColdStart {
            runtime_load_ms: self.runtime_load_ms,
            read_ms: self.read_ms,
            session_ms: self.session_ms,
            first_run_ms: self.first_run_ms,
            total_ms: self.process_to_first_answer_ms,
        }
    }

    /// The peak at `batch`, MB.
    pub fn peak_at(&self, batch: Option<usize>) -> Option<f64> {
        self.batches
            .iter()
            .find(|b| b.batch == batch)
            .map(|b| b.peak_rss_mb)
    }
}

/// Which Inferscope binary to start: `INFERSCOPE_EXE`, else this process's own executable.
/// Tests of the library set `INFERSCOPE_EXE` (their executable is the test harness).
pub fn exe() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("INFERSCOPE_EXE") {
        return Ok(PathBuf::from(p));
    }
    let me =
        std::env::current_exe().context("cannot tell which program this is, to start it again")?;
    // A test or bench harness started again would run itself, not the measurement.
    let ours = me
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("inferscope"));
    if !ours {
        anyhow::bail!(
            "{} is not the inferscope program, so it cannot measure in a process of its own (set INFERSCOPE_EXE to the inferscope binary)",
            me.display()
        );
    }
    Ok(me)
}

/// Measures `model` on `kind` in a process of its own: one request per batch of `requests`
/// (run in this order, smallest first), [`RUNS`] more each.
pub fn measure(
    model: &Model,
    kind: EngineKind,
    options: &EngineOptions,
    requests: &[(Option<usize>, Vec<Tensor>)],
    budget: Option<Duration>,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<Isolated> {
    let exe = exe()?;
    let dir = tempfile::tempdir().context("cannot make a folder for the isolated run")?;
    // The model as Inferscope holds it (a variant exists only in memory; external data is
    // inlined), so the child measures exactly it.
    let model_path = dir.path().join("model.onnx");
    std::fs::write(&model_path, model.bytes.as_slice())
        .with_context(|| format!("cannot write {}", model_path.display()))?;
    let mut options = options.clone();
    if kind == EngineKind::Ort {
        // The child loads the very library this process uses.
        let rt = engine::runtime::global(options.ort_path.as_deref())?;
        options.ort_path = Some(rt.path.clone());
    }
    let mut files = Vec::new();
    for (i, (batch, inputs)) in requests.iter().enumerate() {
        let p = dir.path().join(format!("request{i}.npz"));
        let named: Vec<(String, &Tensor)> = model
            .inputs()
            .iter()
            .map(|s| s.name.clone())
            .zip(inputs.iter())
            .collect();
        crate::data::npy::write_npz(&p, &named)?;
        files.push((*batch, p));
    }
    let spec = ChildSpec {
        model: model_path,
        engine: kind,
        options,
        requests: files,
        runs: RUNS,
        budget_ms: budget.map(|b| b.as_secs_f64() * 1e3),
    };
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec)?)?;
    run_child(&exe, &spec_path, cancel)
}

/// Starts the child, waits for it (at most [`CHILD_TIMEOUT`]) and reads what it printed.
fn run_child(exe: &Path, spec: &Path, cancel: &std::sync::atomic::AtomicBool) -> Result<Isolated> {
    use std::process::{Command, Stdio};
    let start = Instant::now();
    let mut child = Command::new(exe)
        .arg(CHILD_COMMAND)
        .arg(spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let mut stdout = child.stdout.take().context("no output from the child")?;
    let mut stderr = child.stderr.take().context("no errors from the child")?;
    // The first line is the child's first answer: its time from the start is the cold start.
    let reader = std::thread::spawn(move || -> (String, Option<Duration>) {
        use std::io::Read;
        let mut all = Vec::new();
        let mut first = None;
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    if first.is_none() && String::from_utf8_lossy(&all).lines().any(|l| l == FIRST)
                    {
                        first = Some(start.elapsed());
                    }
                }
            }
        }
        (String::from_utf8_lossy(&all).into_owned(), first)
    });
    let err_reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("cancelled");
        }
        if start.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the isolated run took over {} s and was stopped",
                CHILD_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (out, first) = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let line = out.lines().find_map(|l| l.strip_prefix(MARK));
    match (status.success(), line) {
        (true, None) => bail!(
            "{} printed no measurement: it is not Inferscope's binary (set INFERSCOPE_EXE to it)",
            exe.display()
        ),
        (true, Some(json)) => {
            let mut r: Isolated = serde_json::from_str(json)
                .context("the isolated run printed something this build cannot read")?;
            r.process_to_first_answer_ms = first.unwrap_or_default().as_secs_f64() * 1e3;
            Ok(r)
        }
        _ => {
            let why = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().trim_start_matches("Error: ").to_string())
                .unwrap_or_else(|| format!("it ended ({status}) without a word"));
            bail!("{why}")
        }
    }
}

/// The float outputs holding NaN or infinity, with how many of their values.
fn non_finite(model: &Model, outputs: &[crate::engine::Output]) -> Vec<String> {
    outputs
        .iter()
        .zip(model.info.outputs.iter())
        .filter_map(|(o, spec)| match o {
            crate::engine::Output::Tensor(t) if t.dtype().is_float() => {
                let v = t.to_f64_vec();
                let bad = v.iter().filter(|x| !x.is_finite()).count();
                (bad > 0).then(|| format!("{}: {bad} of {} values", spec.name, v.len()))
            }
            _ => None,
        })
        .collect()
}

/// The child's side: loads the runtime and the model, runs each request, prints what it saw.
pub fn child_main(spec_path: &Path) -> Result<()> {
    use std::io::Write;
    let spec: ChildSpec = serde_json::from_slice(
        &std::fs::read(spec_path)
            .with_context(|| format!("cannot read {}", spec_path.display()))?,
    )
    .context("not an isolated-run spec")?;
    let idle = kernel_peak_bytes();
    let t = Instant::now();
    if spec.engine == EngineKind::Ort {
        engine::runtime::global(spec.options.ort_path.as_deref())?;
    }
    let runtime_load_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let model = Model::load(&spec.model)?;
    let read_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mut e = engine::load(spec.engine, &model, &spec.options)?;
    let session_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut first_run_ms = 0.0;
    let mut non_finite_outputs = Vec::new();
    let mut batches = Vec::new();
    let started = Instant::now();
    // The last batch run and its first request's time, ms: what predicts the next one.
    let mut last: Option<(usize, f64)> = None;
    for (i, (batch, path)) in spec.requests.iter().enumerate() {
        let spent = started.elapsed().as_secs_f64() * 1e3;
        if let (Some(budget), Some((lb, lms)), Some(b)) = (spec.budget_ms, last, *batch) {
            if spent + lms / lb.max(1) as f64 * b as f64 > budget {
                break;
            }
        }
        let mut one = || -> Result<()> {
            let arrays = crate::data::npy::read_npz(path)?;
            let inputs: Vec<Tensor> = model
                .inputs()
                .iter()
                .map(|s| {
                    arrays
                        .iter()
                        .find(|(n, _)| *n == s.name)
                        .map(|(_, t)| t.clone())
                        .with_context(|| format!("the request has no input {}", s.name))
                })
                .collect::<Result<_>>()?;
            let prepared = e.prepare(&inputs)?;
            let t = Instant::now();
            let outputs = e.run_prepared_outputs(&prepared)?;
            let this_ms = t.elapsed().as_secs_f64() * 1e3;
            if let Some(b) = batch {
                last = Some((*b, this_ms));
            }
            if i == 0 {
                first_run_ms = t.elapsed().as_secs_f64() * 1e3;
                non_finite_outputs = non_finite(&model, &outputs);
                let mut out = std::io::stdout().lock();
                writeln!(out, "{FIRST}")?;
                out.flush()?;
            }
            let left = spec
                .budget_ms
                .map_or(f64::INFINITY, |b| b - started.elapsed().as_secs_f64() * 1e3);
            let runs = spec.runs.min((left / this_ms.max(1e-3)).max(0.0) as usize);
            for _ in 0..runs {
                e.run_prepared(&prepared)?;
            }
            Ok(())
        };
        match one() {
            Ok(()) => batches.push(BatchMemory {
                batch: *batch,
                peak_rss_mb: kernel_peak_bytes() as f64 / 1e6,
            }),
            // The smaller batches measured stand; this one and the larger ones say why in
            // their own runs.
            Err(_) if !batches.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    let found = Isolated {
        idle_rss_mb: idle as f64 / 1e6,
        runtime_load_ms,
        read_ms,
        session_ms,
        first_run_ms,
        process_to_first_answer_ms: 0.0,
        batches,
        non_finite_outputs,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARK}{}", serde_json::to_string(&found)?)?;
    out.flush()?;
    Ok(())
}
