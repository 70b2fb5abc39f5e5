//! tract: the pure-Rust engine, always built in.

use super::{Engine, EngineKind, EngineOptions, Output, Prepared};
use crate::model::{Dim, Model};
use crate::tensor::{DType, Tensor, TensorData};
use anyhow::{bail, Context, Result};
use std::sync::Arc;
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;

type Plan = TypedRunnableModel;

/// A model compiled by tract: one plan for every input shape when tract's symbolic shape
/// analysis succeeds, else one plan per set of concrete input shapes, compiled when requests of
/// those shapes are prepared (outside the timed calls).
pub struct TractEngine {
    compiled: Compiled,
    executor: Executor,
    n_inputs: usize,
}

#[derive(Clone)]
enum Compiled {
    /// A symbolic plan, which may not run every shape (a constant that keeps a symbol, an LSTM
    /// whose state was planned at batch 1): each set of shapes is tried on it once, when
    /// prepared, and compiled alone where it fails.
    Guarded {
        plan: Arc<Plan>,
        per_shape: Arc<PerShape>,
        /// Whether the symbolic plan ran each set of input shapes tried so far.
        tried: Arc<std::sync::Mutex<std::collections::HashMap<Vec<Vec<usize>>, bool>>>,
    },
    PerShape(Arc<PerShape>),
}

/// What compiling for concrete shapes needs, and the plans made so far (shared by forks).
struct PerShape {
    /// The model as its file declares it.
    declared: InferenceModel,
    /// Without the exporter's declared shapes (see [`without_declared_shapes`]), parsed the
    /// first time a shape needs compiling; `None` where that fails.
    stripped: std::sync::OnceLock<Option<InferenceModel>>,
    model: Model,
    /// Why the symbolic path failed, for the error when the concrete one fails too.
    symbolic_error: String,
    /// By input shapes and the values of scalar inputs.
    plans: std::sync::Mutex<std::collections::HashMap<String, Arc<Plan>>>,
}

impl PerShape {
    fn new(declared: InferenceModel, model: &Model, symbolic_error: String) -> Arc<PerShape> {
        Arc::new(PerShape {
            declared,
            stripped: Default::default(),
            model: model.clone(),
            symbolic_error,
            plans: Default::default(),
        })
    }

    /// What concrete shapes compile from: the model without its declared shapes where tract
    /// reads it so, else as declared.
    fn parsed(&self) -> &InferenceModel {
        self.stripped
            .get_or_init(|| {
                without_declared_shapes(&self.model)
                    .and_then(|b| parse_bytes(&self.model, &b))
                    .ok()
            })
            .as_ref()
            .unwrap_or(&self.declared)
    }

    /// The plan for requests like `inputs`: compiled at their shapes; where tract's analysis
    /// still fails (an `If` whose branches differ by a scalar input, such as a sample rate),
    /// compiled again with the scalar inputs fixed to the values the requests hold.
    fn plan(&self, inputs: &[Tensor]) -> Result<Arc<Plan>> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape.clone()).collect();
        let scalars: Vec<(usize, &Tensor)> = inputs
            .iter()
            .enumerate()
            .filter(|(_, t)| t.shape.is_empty())
            .collect();
        let key = format!(
            "{shapes:?} {:?}",
            scalars
                .iter()
                .map(|(i, t)| (i, &t.data))
                .collect::<Vec<_>>()
        );
        if let Some(p) = self.plans.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let compile = |fixed: &[(usize, &Tensor)]| -> Result<Arc<Plan>> {
            let mut m = with_input_facts(self.parsed().clone(), &self.model, Some(&shapes))?;
            for (ix, t) in fixed {
                let value = to_tvalue(t)?.into_tensor();
                m.set_input_fact(*ix, InferenceFact::from(value))?;
            }
            m.into_optimized()?.into_runnable()
        };
        let plan = compile(&[]).or_else(|e| {
            if scalars.is_empty() {
                Err(e)
            } else {
                compile(&scalars).map_err(|_| e)
            }
        });
        let plan = plan.map_err(|e| {
            anyhow::anyhow!(
                "tract {} cannot run {} at input shapes {shapes:?}: {e:#}; with symbolic dims it failed too: {}. Try ONNX Runtime instead (--engine ort).",
                env!("INFERSCOPE_TRACT_VERSION"),
                self.model.info.name,
                self.symbolic_error
            )
        })?;
        if let Ok(mut m) = self.plans.lock() {
            m.insert(key, plan.clone());
        }
        Ok(plan)
    }
}

fn datum(d: DType) -> DatumType {
    match d {
        DType::F32 => f32::datum_type(),
        DType::F64 => f64::datum_type(),
        DType::I64 => i64::datum_type(),
        DType::I32 => i32::datum_type(),
        DType::I8 => i8::datum_type(),
        DType::U8 => u8::datum_type(),
        DType::Bool => bool::datum_type(),
        DType::Str => String::datum_type(),
    }
}

/// Parses the model into tract and names the operators tract does not implement.
fn parse(model: &Model) -> Result<InferenceModel> {
    parse_bytes(model, &model.bytes)
}

/// The model without the shapes its exporter declared for intermediate values and outputs:
/// they are written in the exporter's symbols (`batch`, `height`, `DynamicDimension.0`), which
/// contradict concrete input shapes. tract infers them again from the inputs.
fn without_declared_shapes(model: &Model) -> Result<Vec<u8>> {
    use prost::Message;
    fn strip(g: &mut tract_onnx::pb::GraphProto) {
        g.value_info.clear();
        for o in &mut g.output {
            if let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) =
                o.r#type.as_mut().and_then(|t| t.value.as_mut())
            {
                t.shape = None;
            }
        }
        for n in &mut g.node {
            for a in &mut n.attribute {
                if let Some(sub) = a.g.as_mut() {
                    strip(sub);
                }
                for sub in &mut a.graphs {
                    strip(sub);
                }
            }
        }
    }
    let mut proto = crate::model::decode_proto(&model.bytes, &model.info.path)?;
    if let Some(g) = proto.graph.as_mut() {
        strip(g);
    }
    Ok(proto.encode_to_vec())
}

fn parse_bytes(model: &Model, bytes: &[u8]) -> Result<InferenceModel> {
    let lowered = super::lower::lower_ml_ops(bytes)
        .with_context(|| format!("tract cannot read {}", model.info.path.display()))?;
    let bytes = lowered.as_deref().unwrap_or(bytes);
    let parsed = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .with_context(|| format!("tract cannot read {}", model.info.path.display()))?;
    let missing: Vec<String> = parsed
        .nodes()
        .iter()
        .filter_map(|n| {
            let name = n.op.name();
            name.strip_prefix("Unimplemented(")
                .map(|op| format!("{} (node {})", op.trim_end_matches(')'), n.name))
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "tract {} cannot run this model: it does not implement the operator{} {}. \
             Try ONNX Runtime instead (--engine ort).",
            env!("INFERSCOPE_TRACT_VERSION"),
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", ")
        );
    }
    Ok(parsed)
}

/// Declares every input's type and shape, naming unnamed dims so tract can reason about them:
/// the batch dim shares one symbol, other unknown dims get their own.
fn with_input_facts(
    mut m: InferenceModel,
    model: &Model,
    concrete: Option<&[Vec<usize>]>,
) -> Result<InferenceModel> {
    let batch = model.batch_symbol();
    for (ix, input) in model.inputs().iter().enumerate() {
        let Some(dtype) = input.dtype() else {
            bail!(
                "input {} has a type Inferscope cannot feed ({})",
                input.name,
                input.type_string()
            );
        };
        let fact = if let Some(shapes) = concrete {
            InferenceFact::dt_shape(
                datum(dtype),
                shapes[ix].iter().map(|&d| d as i64).collect::<TVec<_>>(),
            )
        } else if let Some(shape) = input.shape() {
            let dims: TVec<TDim> = shape
                .iter()
                .enumerate()
                .map(|(axis, d)| match d {
                    Dim::Fixed(v) => TDim::Val(*v),
                    Dim::Symbol(s) => m.symbols.sym(&sanitize(s)).into(),
                    Dim::Unknown if axis == 0 && batch == Some(Dim::Unknown) => {
                        m.symbols.sym("N").into()
                    }
                    Dim::Unknown => m
                        .symbols
                        .sym(&format!("{}_{axis}", sanitize(&input.name)))
                        .into(),
                })
                .collect();
            InferenceFact::dt_shape(datum(dtype), dims)
        } else {
            InferenceFact::dt(datum(dtype))
        };
        m.set_input_fact(ix, fact)?;
    }
    Ok(m)
}

/// tract symbols must be identifiers.
fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'S');
    }
    out
}

impl TractEngine {
    /// Compiles the model with symbolic input dims; where tract's shape analysis cannot follow
    /// them (it often cannot on exports with dynamic dims), compiling waits for the concrete
    /// shapes of the requests.
    pub fn load(model: &Model, options: &EngineOptions) -> Result<TractEngine> {
        let parsed = parse(model)?;
        let symbolic = with_input_facts(parsed.clone(), model, None)
            .and_then(|m| {
                m.into_optimized()
                    .with_context(|| format!("tract cannot optimize {}", model.info.name))
            })
            .and_then(|m| m.into_runnable().context("tract cannot plan the model"));
        let compiled = match symbolic {
            // A plan whose constants still hold symbols (a Resize to `Shape(x) * 2` folded to
            // `[batch_size, 3, 2h, 2w]`), or whose recurrent state was planned at one batch
            // (an LSTM's Scan: "batch=3 != 1"), can fail when it runs: each shape is tried on
            // it first, and compiled alone if it fails.
            Ok(plan) => {
                let why = match symbolic_constant(&plan) {
                    Some(node) => format!(
                        "node {node} keeps a symbolic dim in a constant, which tract resolves only at these shapes"
                    ),
                    None => "the plan for symbolic dims did not run these shapes".into(),
                };
                Compiled::Guarded {
                    plan,
                    per_shape: PerShape::new(parsed, model, why),
                    tried: Default::default(),
                }
            }
            Err(e) => Compiled::PerShape(PerShape::new(parsed, model, format!("{e:#}"))),
        };
        let executor = match options.intra_threads {
            Some(n) if n > 1 => Executor::multithread(n),
            _ => Executor::SingleThread,
        };
        Ok(TractEngine {
            compiled,
            executor,
            n_inputs: model.inputs().len(),
        })
    }
}

/// The first node of `plan` that is a constant holding a dim tract cannot evaluate alone.
fn symbolic_constant(plan: &Plan) -> Option<String> {
    use tract_onnx::tract_core::ops::konst::Const;
    plan.model().nodes().iter().find_map(|n| {
        let c = n.op_as::<Const>()?;
        let t = c.val();
        if t.datum_type() != TDim::datum_type() {
            return None;
        }
        let dims = t.to_plain_array_view::<TDim>().ok()?;
        dims.iter()
            .any(|d| d.to_i64().is_err())
            .then(|| n.name.clone())
    })
}

fn to_tvalue(t: &Tensor) -> Result<TValue> {
    let shape = &t.shape;
    let tensor = match &t.data {
        TensorData::F32(v) => tract_onnx::prelude::Tensor::from_shape(shape, v)?,
        TensorData::F64(v) => tract_onnx::prelude::Tensor::from_shape(shape, v)?,
        TensorData::I64(v) => tract_onnx::prelude::Tensor::from_shape(shape, v)?,
        TensorData::I32(v) => tract_onnx::prelude::Tensor::from_shape(shape, v)?,
        TensorData::I8(v) => tract_onnx::prelude::Tensor::from_shape(shape, v)?,
        TensorData::U8(v) => tract_onnx::prelude::Tensor::from_shape(shape, v)?,
        TensorData::Bool(v) => tract_onnx::prelude::Tensor::from_shape(shape, v)?,
        TensorData::Str(v) => {
            tract_onnx::prelude::tract_ndarray::ArrayD::from_shape_vec(shape.clone(), v.clone())?
                .into_tensor()
        }
    };
    Ok(tensor.into())
}

fn from_tvalue(v: &TValue) -> Result<Output> {
    let shape = v.shape().to_vec();
    macro_rules! grab {
        ($t:ty, $variant:ident) => {
            Output::Tensor(Tensor::new(
                shape,
                TensorData::$variant(v.to_plain_array_view::<$t>()?.iter().copied().collect()),
            )?)
        };
    }
    let dt = v.datum_type();
    Ok(if dt == f32::datum_type() {
        grab!(f32, F32)
    } else if dt == f64::datum_type() {
        grab!(f64, F64)
    } else if dt == i64::datum_type() {
        grab!(i64, I64)
    } else if dt == i32::datum_type() {
        grab!(i32, I32)
    } else if dt == i8::datum_type() {
        grab!(i8, I8)
    } else if dt == u8::datum_type() {
        grab!(u8, U8)
    } else if dt == bool::datum_type() {
        grab!(bool, Bool)
    } else if dt == String::datum_type() {
        Output::Tensor(Tensor::new(
            shape,
            TensorData::Str(v.to_plain_array_view::<String>()?.iter().cloned().collect()),
        )?)
    } else if dt.is_integer() || dt == TDim::datum_type() {
        // Symbolic-dim (TDim) and other integer tensors: tract's internal integer types.
        let as_i64 = v.cast_to::<i64>()?;
        let data = as_i64
            .to_plain_array_view::<i64>()?
            .iter()
            .copied()
            .collect();
        Output::Tensor(Tensor::new(shape, TensorData::I64(data))?)
    } else {
        Output::NonTensor(format!("tensor of {dt:?}"))
    })
}

/// Inputs converted for tract, with the plan that runs them.
struct TractInputs {
    plan: Arc<Plan>,
    values: TVec<TValue>,
}

impl Engine for TractEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Tract
    }

    fn version(&self) -> String {
        format!("tract {}", env!("INFERSCOPE_TRACT_VERSION"))
    }

    fn prepare(&mut self, inputs: &[Tensor]) -> Result<Prepared> {
        if inputs.len() != self.n_inputs {
            bail!(
                "the model takes {} inputs but {} were given",
                self.n_inputs,
                inputs.len()
            );
        }
        let values = inputs.iter().map(to_tvalue).collect::<Result<TVec<_>>>()?;
        let plan = match &self.compiled {
            Compiled::Guarded {
                plan,
                per_shape,
                tried,
            } => {
                let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape.clone()).collect();
                let known = tried.lock().ok().and_then(|t| t.get(&shapes).copied());
                let runs = known.unwrap_or_else(|| plan.run(values.clone()).is_ok());
                if let Ok(mut t) = tried.lock() {
                    t.insert(shapes, runs);
                }
                if runs {
                    plan.clone()
                } else {
                    per_shape.plan(inputs)?
                }
            }
            Compiled::PerShape(c) => c.plan(inputs)?,
        };
        Ok(Prepared(Box::new(TractInputs { plan, values })))
    }

    fn run_prepared(&mut self, inputs: &Prepared) -> Result<()> {
        self.run_prepared_outputs_raw(inputs).map(drop)
    }

    fn run_prepared_outputs(&mut self, inputs: &Prepared) -> Result<Vec<Output>> {
        self.run_prepared_outputs_raw(inputs)?
            .iter()
            .map(from_tvalue)
            .collect()
    }

    fn fork(&self) -> Result<Box<dyn Engine>> {
        Ok(Box::new(TractEngine {
            compiled: self.compiled.clone(),
            executor: self.executor.clone(),
            n_inputs: self.n_inputs,
        }))
    }
}

impl TractEngine {
    fn run_prepared_outputs_raw(&self, inputs: &Prepared) -> Result<TVec<TValue>> {
        let values = inputs
            .0
            .downcast_ref::<TractInputs>()
            .context("inputs prepared for another engine")?;
        // TValues are reference-counted: cloning the vector copies no tensor data.
        let run = || values.plan.run(values.values.clone());
        let out = match &self.executor {
            Executor::SingleThread => run(),
            ex => multithread_tract_scope(ex.clone(), run),
        };
        out.map_err(|e| anyhow::anyhow!("tract failed to run the model: {e:#}"))
    }
}

/// Runs `inputs` `warmup` then `requests` times on a plan of `model`, timing every node of each
/// request as tract evaluates it (the plan's own order; `threads` as the engine would use
/// them). Returns the requests, node by node, and the engine's name.
pub fn profile(
    model: &Model,
    options: &EngineOptions,
    inputs: &[Tensor],
    schedule: &mut crate::profile::Schedule,
) -> Result<(Vec<crate::profile::ProfiledRun>, String)> {
    let mut engine = TractEngine::load(model, options)?;
    let prepared = engine.prepare(inputs)?;
    let values = prepared
        .0
        .downcast_ref::<TractInputs>()
        .context("inputs prepared for another engine")?;
    let mut runs = Vec::new();
    while let Some(measured) = schedule.next_request() {
        let mut nodes = Vec::new();
        let start = std::time::Instant::now();
        let mut run = || -> TractResult<()> {
            let mut state = values.plan.spawn()?;
            state.run_plan_with_eval(values.values.clone(), |ctx, st, node, input| {
                let shapes = input
                    .iter()
                    .map(|t| format!("{:?}{:?}", t.datum_type(), t.shape()))
                    .collect::<Vec<_>>()
                    .join(" ");
                let shape = |t: &TValue| crate::profile::roofline::Shape {
                    elem_bytes: t.datum_type().size_of(),
                    dims: t.shape().to_vec(),
                };
                let input_shapes = input.iter().map(shape).collect();
                // tract's own count of multiply-adds for this node at these facts.
                let flops = values
                    .plan
                    .model()
                    .node_input_facts(node.id)
                    .ok()
                    .and_then(|facts| node.op.cost(&facts).ok())
                    .map(|costs| {
                        costs
                            .iter()
                            .filter(|(c, _)| matches!(c, tract_onnx::tract_core::ops::Cost::FMA(_)))
                            .map(|(_, n)| n.to_i64().unwrap_or(0).max(0) as f64 * 2.0)
                            .sum::<f64>()
                    })
                    .filter(|f| *f > 0.0);
                let t0 = std::time::Instant::now();
                let r = tract_onnx::tract_core::plan::eval(ctx, st, node, input);
                let dur = t0.elapsed();
                let output_shapes = r
                    .as_ref()
                    .map(|o| o.iter().map(shape).collect())
                    .unwrap_or_default();
                nodes.push(crate::profile::NodeEvent {
                    name: node.name.clone(),
                    op: node.op().name().to_string(),
                    provider: "tract".into(),
                    start_us: t0.duration_since(start).as_secs_f64() * 1e6,
                    dur_us: dur.as_secs_f64() * 1e6,
                    thread: 0,
                    inputs: shapes,
                    input_shapes,
                    output_shapes,
                    flops,
                });
                r
            })?;
            Ok(())
        };
        match &engine.executor {
            Executor::SingleThread => run(),
            ex => multithread_tract_scope(ex.clone(), run),
        }
        .map_err(|e| anyhow::anyhow!("tract failed to run the model: {e:#}"))?;
        let total_us = start.elapsed().as_secs_f64() * 1e6;
        if measured {
            runs.push(crate::profile::ProfiledRun { total_us, nodes });
        }
    }
    Ok((runs, engine.version()))
}

/// Floating-point operations per inference (2 x multiply-adds, from tract's cost model: MatMul,
/// Gemm, Conv and their kin) at the given concrete input shapes.
pub fn estimate_flops(model: &Model, shapes: &[Vec<usize>]) -> Result<u64> {
    crate::guard::catch("estimating FLOPs", || flops_inner(model, shapes))
}

fn flops_inner(model: &Model, shapes: &[Vec<usize>]) -> Result<u64> {
    let typed = |parsed: InferenceModel| -> Result<TypedModel> {
        with_input_facts(parsed, model, Some(shapes))?
            .into_typed()?
            .into_decluttered()
    };
    // As the engine does: the exporter's declared shapes can contradict concrete inputs.
    let typed = typed(parse(model)?).or_else(|e| {
        parse_bytes(model, &without_declared_shapes(model)?)
            .and_then(typed)
            .map_err(|_| e)
    })?;
    let mut fma: u64 = 0;
    for node in typed.nodes() {
        let inputs = typed.node_input_facts(node.id)?;
        for (cost, count) in node.op.cost(&inputs)? {
            if matches!(cost, tract_onnx::tract_core::ops::Cost::FMA(_)) {
                fma += count.to_i64().unwrap_or(0).max(0) as u64;
            }
        }
    }
    Ok(2 * fma)
}
/// Fills in FLOPs per inference (tract's cost model): at the shapes of the sample data when
/// there is some (its batch axis set to 1), else at batch 1 and the given dims. A count that
/// cannot be made, or would rest on dims nobody gave a size, is left unknown with the reason.
pub fn fill_flops(model: &mut Model, dims: &[(String, usize)], data: Option<&[Vec<usize>]>) {
    let shapes = match data {
        Some(d) => Ok(model
            .inputs()
            .iter()
            .zip(d)
            .map(|(spec, shape)| {
                let mut s = shape.clone();
                if let Some(ax) = model.batch_axis(spec).filter(|&ax| ax < s.len()) {
                    s[ax] = 1;
                }
                s
            })
            .collect::<Vec<_>>()),
        None => {
            let opts = crate::data::SynthOptions {
                dims: dims.iter().cloned().collect(),
                samples: 1,
                ..Default::default()
            };
            crate::data::synthesize(model, &opts).and_then(|s| {
                // A size of 1 guessed for a dim nobody sized (an image's height, say).
                if let Some(n) = s.guessed_dims.first() {
                    bail!("{n}, so a count would mean little; count them at the shapes of sample data");
                }
                Ok(s.inputs.iter().map(|t| t.shape.clone()).collect::<Vec<_>>())
            })
        }
    };
    let result = shapes.and_then(|s| estimate_flops(model, &s).map(|f| (f, s)));
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
            model.info.flops = None;
            model.info.flops_note = format!(
                "not estimated: {}",
                format!("{e:#}").lines().next().unwrap_or("")
            )
        }
    }
}
