//! tract: the pure-Rust engine, always built in.

use super::{Engine, EngineKind, EngineOptions, Output, Prepared};
use crate::model::{Dim, Model};
use crate::tensor::{DType, Tensor, TensorData};
use anyhow::{bail, Context, Result};
use std::sync::Arc;
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;

type Plan = TypedRunnableModel;

/// A model compiled by tract.
pub struct TractEngine {
    plan: Arc<Plan>,
    executor: Executor,
    n_inputs: usize,
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
    }
}

/// Parses the model into tract and names the operators tract does not implement.
fn parse(model: &Model) -> Result<InferenceModel> {
    let parsed = tract_onnx::onnx()
        .model_for_read(&mut model.bytes.as_slice())
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
    pub fn load(model: &Model, options: &EngineOptions) -> Result<TractEngine> {
        let parsed = parse(model)?;
        let typed = with_input_facts(parsed, model, None)?
            .into_optimized()
            .with_context(|| format!("tract cannot optimize {}", model.info.name))?;
        let plan = typed
            .into_runnable()
            .context("tract cannot plan the model")?;
        let executor = match options.intra_threads {
            Some(n) if n > 1 => Executor::multithread(n),
            _ => Executor::SingleThread,
        };
        Ok(TractEngine {
            plan,
            executor,
            n_inputs: model.inputs().len(),
        })
    }
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

struct TractInputs(TVec<TValue>);

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
        Ok(Prepared(Box::new(TractInputs(values))))
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
            plan: self.plan.clone(),
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
        let run = || self.plan.run(values.0.clone());
        let out = match &self.executor {
            Executor::SingleThread => run(),
            ex => multithread_tract_scope(ex.clone(), run),
        };
        out.map_err(|e| anyhow::anyhow!("tract failed to run the model: {e:#}"))
    }
}

/// Floating-point operations per inference (2 x multiply-adds, from tract's cost model: MatMul,
/// Gemm, Conv and their kin) at the given concrete input shapes.
pub fn estimate_flops(model: &Model, shapes: &[Vec<usize>]) -> Result<u64> {
    crate::guard::catch("estimating FLOPs", || flops_inner(model, shapes))
}

fn flops_inner(model: &Model, shapes: &[Vec<usize>]) -> Result<u64> {
    let parsed = parse(model)?;
    let typed = with_input_facts(parsed, model, Some(shapes))?
        .into_typed()?
        .into_decluttered()?;
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
/// Fills in FLOPs at batch 1 and the given dims (tract's cost model).
pub fn fill_flops(model: &mut Model, dims: &[(String, usize)]) {
    let opts = crate::data::SynthOptions {
        dims: dims.iter().cloned().collect(),
        samples: 1,
        ..Default::default()
    };
    let shapes = crate::data::synthesize(model, &opts)
        .map(|s| s.inputs.iter().map(|t| t.shape.clone()).collect::<Vec<_>>());
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
            model.info.flops_note = format!(
                "not estimated: {}",
                format!("{e:#}").lines().next().unwrap_or("")
            )
        }
    }
}
