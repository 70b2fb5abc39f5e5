//! Inference engines behind one trait: ONNX Runtime (located at run time) and tract (built in).

pub mod fake;
mod lower;
pub mod ort;
pub mod runtime;
pub mod tract;

use crate::model::Model;
use crate::tensor::Tensor;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;
use std::path::PathBuf;

/// Which engine runs a model.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Ort,
    /// Always built in.
    #[default]
    Tract,
}

impl EngineKind {
    pub fn label(self) -> &'static str {
        match self {
            EngineKind::Ort => "onnxruntime",
            EngineKind::Tract => "tract",
        }
    }

    pub fn other(self) -> EngineKind {
        match self {
            EngineKind::Ort => EngineKind::Tract,
            EngineKind::Tract => EngineKind::Ort,
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// ONNX Runtime's graph optimization levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptLevel {
    Disabled,
    Basic,
    Extended,
    #[default]
    All,
}

/// How an engine is set up. Fields an engine does not support are reported, not ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineOptions {
    /// Threads inside one operator (`None`: the engine's default).
    pub intra_threads: Option<usize>,
    /// Threads running independent operators in parallel (ONNX Runtime only).
    pub inter_threads: Option<usize>,
    pub opt_level: OptLevel,
    /// ONNX Runtime execution provider, e.g. `CUDAExecutionProvider`; `None` is CPU.
    pub execution_provider: Option<String>,
    /// An explicit ONNX Runtime library to load before any other location.
    pub ort_path: Option<PathBuf>,
}

impl EngineOptions {
    /// The intra-op threads `kind` runs with under these options: the number set, else the
    /// engine's default (ONNX Runtime: one per physical core; tract: one).
    pub fn threads_used(&self, kind: EngineKind) -> usize {
        match (self.intra_threads, kind) {
            (Some(n), _) => n.max(1),
            (None, EngineKind::Tract) => 1,
            (None, EngineKind::Ort) => {
                // Physical cores, within what this process may use (affinity, cgroup quota).
                let allowed = std::thread::available_parallelism().map(|n| n.get()).ok();
                sysinfo::System::physical_core_count()
                    .ok()
                    .map(|p| allowed.map_or(p, |a| p.min(a)))
                    .or(allowed)
                    .unwrap_or(1)
                    .max(1)
            }
        }
    }

    /// `intra-op 2, inter-op default; ONNX Runtime graph optimization All`, with the execution
    /// provider when one is set: what the report's settings and a baseline's check print.
    pub fn describe(&self) -> String {
        let n = |t: Option<usize>| t.map(|t| t.to_string()).unwrap_or_else(|| "default".into());
        format!(
            "intra-op {}, inter-op {}; ONNX Runtime graph optimization {:?}{}",
            n(self.intra_threads),
            n(self.inter_threads),
            self.opt_level,
            self.execution_provider
                .as_ref()
                .map(|e| format!(", {e}"))
                .unwrap_or_default()
        )
    }
}

/// Inputs already converted to an engine's own values, so timing covers only the run.
pub struct Prepared(pub(crate) Box<dyn Any + Send + Sync>);

/// One model output after a run: a tensor, or a note for sequences and maps.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Tensor(Tensor),
    NonTensor(String),
}

/// A model loaded into an engine, ready to run.
pub trait Engine: Send {
    fn kind(&self) -> EngineKind;

    /// Engine and version, e.g. `onnxruntime 1.31.1`.
    fn version(&self) -> String;

    /// Converts `inputs` (one per model input, in graph order) ahead of timing.
    fn prepare(&mut self, inputs: &[Tensor]) -> Result<Prepared>;

    /// Runs on prepared inputs and drops the outputs: the only work inside a timed region.
    fn run_prepared(&mut self, inputs: &Prepared) -> Result<()>;

    /// Runs and returns every output, in graph order.
    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Output>> {
        let p = self.prepare(inputs)?;
        self.run_prepared_outputs(&p)
    }

    /// Like [`Engine::run_prepared`] but keeps the outputs.
    fn run_prepared_outputs(&mut self, inputs: &Prepared) -> Result<Vec<Output>>;

    /// Another handle on the same model for a concurrent client thread.
    fn fork(&self) -> Result<Box<dyn Engine>>;
}

/// Loads `model` into the engine `kind`.
pub fn load(kind: EngineKind, model: &Model, options: &EngineOptions) -> Result<Box<dyn Engine>> {
    crate::guard::catch(&format!("loading the model into {kind}"), || match kind {
        EngineKind::Ort => Ok(Box::new(ort::OrtEngine::load(model, options)?) as Box<dyn Engine>),
        EngineKind::Tract => {
            Ok(Box::new(tract::TractEngine::load(model, options)?) as Box<dyn Engine>)
        }
    })
}

/// Which engines a user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// ONNX Runtime when a compatible library is found, else tract.
    #[default]
    Auto,
    Ort,
    Tract,
    Both,
}

/// The engines to run for `choice`, with a notice when `auto` fell back to tract.
pub fn resolve_engines(
    choice: EngineChoice,
    options: &EngineOptions,
) -> Result<(Vec<EngineKind>, Option<String>)> {
    match choice {
        EngineChoice::Ort => {
            runtime::global(options.ort_path.as_deref())?;
            Ok((vec![EngineKind::Ort], None))
        }
        EngineChoice::Tract => Ok((vec![EngineKind::Tract], None)),
        EngineChoice::Both => {
            runtime::global(options.ort_path.as_deref())?;
            Ok((vec![EngineKind::Ort, EngineKind::Tract], None))
        }
        EngineChoice::Auto => match runtime::global(options.ort_path.as_deref()) {
            Ok(_) => Ok((vec![EngineKind::Ort], None)),
            Err(e) => Ok((
                vec![EngineKind::Tract],
                Some(format!("{e:#}\nUsing tract, the built-in engine.")),
            )),
        },
    }
}
