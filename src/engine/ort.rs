//! ONNX Runtime through `ort` (load-dynamic).

use super::{runtime, Engine, EngineKind, EngineOptions, OptLevel, Output, Prepared};
use crate::model::Model;
use crate::tensor::{Tensor, TensorData};
use anyhow::{anyhow, bail, Context, Result};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, TensorElementType, ValueType};
use std::sync::Arc;

/// A model loaded into an ONNX Runtime session.
pub struct OrtEngine {
    session: Session,
    bytes: Arc<Vec<u8>>,
    options: EngineOptions,
    version: String,
    input_names: Vec<String>,
    /// Session input order, as indices into the model's graph inputs.
    session_order: Vec<usize>,
}

/// ort's builder errors carry the builder and are not `Send`: keep only the message.
fn msg<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{e}")
}

fn build_session(
    bytes: &[u8],
    options: &EngineOptions,
    rt: &runtime::OrtRuntime,
) -> Result<Session> {
    build_session_with(bytes, options, rt, None, false)
}

/// A session, with ONNX Runtime's profiler writing to `profile_prefix` (and its optimized
/// graph beside it, [`OPTIMIZED`]) when given.
fn build_session_with(
    bytes: &[u8],
    options: &EngineOptions,
    rt: &runtime::OrtRuntime,
    profile_prefix: Option<&std::path::Path>,
    save_optimized: bool,
) -> Result<Session> {
    let mut b = Session::builder(&rt.env).map_err(msg)?;
    if let Some(p) = profile_prefix {
        b = b.with_profiling(p).map_err(msg)?;
    }
    if let Some(dir) = profile_prefix
        .and_then(|p| p.parent())
        .filter(|_| save_optimized)
    {
        b = b
            .with_optimized_model_path(dir.join(OPTIMIZED))
            .map_err(msg)?;
    }
    if let Some(n) = options.intra_threads {
        b = b.with_intra_threads(n).map_err(msg)?;
    }
    if let Some(n) = options.inter_threads {
        b = b
            .with_parallel_execution(n > 1)
            .map_err(msg)?
            .with_inter_threads(n)
            .map_err(msg)?;
    }
    let level = match options.opt_level {
        OptLevel::Disabled => GraphOptimizationLevel::Disable,
        OptLevel::Basic => GraphOptimizationLevel::Level1,
        OptLevel::Extended => GraphOptimizationLevel::Level2,
        OptLevel::All => GraphOptimizationLevel::All,
    };
    b = b.with_optimization_level(level).map_err(msg)?;
    if let Some(ep) = options
        .execution_provider
        .as_deref()
        .filter(|e| *e != "CPUExecutionProvider")
    {
        if !rt.providers.iter().any(|p| p == ep) {
            bail!(
                "execution provider {ep} is not available in ONNX Runtime {} (available: {})",
                rt.version,
                rt.providers.join(", ")
            );
        }
        append_provider(&mut b, ep)?;
    }
    b.commit_from_memory(bytes)
        .map_err(|e| anyhow!("ONNX Runtime cannot load the model: {e}"))
}

/// Registers an execution provider by its canonical name through the generic C API.
fn append_provider(b: &mut ort::session::builder::SessionBuilder, ep: &str) -> Result<()> {
    use ort::AsPointer;
    let name = std::ffi::CString::new(ep).context("bad provider name")?;
    let api = ort::api();
    // SAFETY: a valid session-options pointer, a NUL-terminated name and zero options.
    let status = unsafe {
        (api.SessionOptionsAppendExecutionProvider)(
            b.ptr_mut(),
            name.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            0,
        )
    };
    if !status.0.is_null() {
        // SAFETY: a non-null status came from the API; read its message, then release it.
        let text = unsafe {
            let m = (api.GetErrorMessage)(status.0);
            let s = std::ffi::CStr::from_ptr(m).to_string_lossy().into_owned();
            (api.ReleaseStatus)(status.0);
            s
        };
        bail!("cannot enable execution provider {ep}: {text}");
    }
    Ok(())
}

fn to_value(t: &Tensor) -> Result<DynValue> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    let v = match &t.data {
        TensorData::F32(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map(|t| t.into_dyn())
        }
        TensorData::F64(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map(|t| t.into_dyn())
        }
        TensorData::I64(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map(|t| t.into_dyn())
        }
        TensorData::I32(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map(|t| t.into_dyn())
        }
        TensorData::I8(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map(|t| t.into_dyn())
        }
        TensorData::U8(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map(|t| t.into_dyn())
        }
        TensorData::Bool(v) => {
            ort::value::Tensor::from_array((shape, v.clone())).map(|t| t.into_dyn())
        }
        TensorData::Str(v) => {
            ort::value::Tensor::from_string_array((shape, v.as_slice())).map(|t| t.into_dyn())
        }
    };
    v.map_err(msg)
}

fn from_value(v: &DynValue) -> Result<Output> {
    let ValueType::Tensor { ty, .. } = v.dtype() else {
        return Ok(Output::NonTensor(format!("{:?}", v.dtype())));
    };
    macro_rules! grab {
        ($t:ty, $variant:ident) => {{
            let (shape, data) = v.try_extract_tensor::<$t>().map_err(msg)?;
            let shape = shape.iter().map(|&d| d as usize).collect();
            Output::Tensor(Tensor::new(shape, TensorData::$variant(data.to_vec()))?)
        }};
    }
    Ok(match ty {
        TensorElementType::Float32 => grab!(f32, F32),
        TensorElementType::Float64 => grab!(f64, F64),
        TensorElementType::Int64 => grab!(i64, I64),
        TensorElementType::Int32 => grab!(i32, I32),
        TensorElementType::Int8 => grab!(i8, I8),
        TensorElementType::Uint8 => grab!(u8, U8),
        TensorElementType::Bool => grab!(bool, Bool),
        TensorElementType::String => {
            let (shape, data) = v.try_extract_strings().map_err(msg)?;
            let shape = shape.iter().map(|&d| d as usize).collect();
            Output::Tensor(Tensor::new(shape, TensorData::Str(data))?)
        }
        other => Output::NonTensor(format!("tensor of {other:?}")),
    })
}

struct OrtInputs(Vec<SessionInputValue<'static>>);
// SAFETY: the values are owned ONNX Runtime tensors (`Value` is Send + Sync); the wrapper only
// exists because `SessionInputValue` does not declare it.
unsafe impl Send for OrtInputs {}
unsafe impl Sync for OrtInputs {}

impl OrtEngine {
    pub fn load(model: &Model, options: &EngineOptions) -> Result<OrtEngine> {
        let rt = runtime::global(options.ort_path.as_deref())?;
        let session = build_session(&model.bytes, options, rt)?;
        OrtEngine::from_session(session, model, options, rt)
    }

    fn from_session(
        session: Session,
        model: &Model,
        options: &EngineOptions,
        rt: &runtime::OrtRuntime,
    ) -> Result<OrtEngine> {
        let input_names: Vec<String> = model.inputs().iter().map(|i| i.name.clone()).collect();
        let session_order = session
            .inputs()
            .iter()
            .map(|o| {
                input_names
                    .iter()
                    .position(|n| n == o.name())
                    .with_context(|| {
                        format!(
                            "ONNX Runtime expects an input {} the model does not declare",
                            o.name()
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(OrtEngine {
            session,
            bytes: model.bytes.clone(),
            options: options.clone(),
            version: rt.version.clone(),
            input_names,
            session_order,
        })
    }
}

/// The file a profiled session writes its optimized graph to, in the profile's folder.
const OPTIMIZED: &str = "optimized.onnx";

/// What a profiled session wrote.
pub struct Profiled {
    /// ONNX Runtime's profile (Chrome-trace JSON).
    pub trace: Vec<u8>,
    /// `onnxruntime 1.31.1`.
    pub engine: String,
    /// The graph as the session ran it (after its fusions), when ONNX Runtime wrote it: each
    /// profiled node's inputs and outputs, by the node's name.
    pub optimized: Option<Vec<u8>>,
}

/// Runs `inputs` through a profiled session of `model`, the requests `schedule` gives. The
/// session is its own, so profiling never slows a measured run.
pub fn profile(
    model: &Model,
    options: &EngineOptions,
    inputs: &[Tensor],
    schedule: &mut crate::profile::Schedule,
) -> Result<Profiled> {
    let rt = runtime::global(options.ort_path.as_deref())?;
    let dir = tempfile::tempdir().context("cannot make a folder for the profile")?;
    let prefix = dir.path().join("ort");
    // The optimized graph only helps match nodes to layers: a model ONNX Runtime cannot
    // write back (over 2 GB, say) is profiled without it.
    let session = build_session_with(&model.bytes, options, rt, Some(&prefix), true)
        .or_else(|_| build_session_with(&model.bytes, options, rt, Some(&prefix), false))?;
    let mut engine = OrtEngine::from_session(session, model, options, rt)?;
    let prepared = engine.prepare(inputs)?;
    while schedule.next_request().is_some() {
        engine.run_prepared(&prepared)?;
    }
    let file = engine
        .session
        .end_profiling()
        .map_err(|e| anyhow!("ONNX Runtime could not end profiling: {e}"))?;
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read the profile {file}"))?;
    let _ = std::fs::remove_file(&file);
    Ok(Profiled {
        trace: bytes,
        engine: format!("onnxruntime {}", rt.version),
        optimized: std::fs::read(dir.path().join(OPTIMIZED)).ok(),
    })
}

impl Engine for OrtEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Ort
    }

    fn version(&self) -> String {
        format!("onnxruntime {}", self.version)
    }

    fn prepare(&mut self, inputs: &[Tensor]) -> Result<Prepared> {
        if inputs.len() != self.input_names.len() {
            bail!(
                "the model takes {} inputs but {} were given",
                self.input_names.len(),
                inputs.len()
            );
        }
        let values = self
            .session_order
            .iter()
            .map(|&i| to_value(&inputs[i]).map(SessionInputValue::from))
            .collect::<Result<Vec<_>>>()?;
        Ok(Prepared(Box::new(OrtInputs(values))))
    }

    fn run_prepared(&mut self, inputs: &Prepared) -> Result<()> {
        let values = inputs
            .0
            .downcast_ref::<OrtInputs>()
            .context("inputs prepared for another engine")?;
        self.session
            .run(values.0.as_slice())
            .map_err(|e| anyhow!("ONNX Runtime failed to run the model: {e}"))?;
        Ok(())
    }

    fn run_prepared_outputs(&mut self, inputs: &Prepared) -> Result<Vec<Output>> {
        let values = inputs
            .0
            .downcast_ref::<OrtInputs>()
            .context("inputs prepared for another engine")?;
        let outputs = self
            .session
            .run(values.0.as_slice())
            .map_err(|e| anyhow!("ONNX Runtime failed to run the model: {e}"))?;
        outputs.values().map(|v| from_value(&v)).collect()
    }

    fn fork(&self) -> Result<Box<dyn Engine>> {
        let rt = runtime::global(self.options.ort_path.as_deref())?;
        Ok(Box::new(OrtEngine {
            session: build_session(&self.bytes, &self.options, rt)?,
            bytes: self.bytes.clone(),
            options: self.options.clone(),
            version: self.version.clone(),
            input_names: self.input_names.clone(),
            session_order: self.session_order.clone(),
        }))
    }
}
