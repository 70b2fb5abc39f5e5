//! int8 rewrites: dynamic quantization of MatMul/Gemm (and Conv on request) weights in the
//! operator form (DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast -> Mul) or the QDQ
//! form (DynamicQuantizeLinear -> DequantizeLinear -> MatMul <- DequantizeLinear <- int8 weight),
//! and weight-only int8 (int8 weights dequantized at load).

use super::graph::*;
use super::opset::raise_opset;
use super::prune::Chains;
use super::{node_id, Coverage, Int8Form, Int8Options, QuantFormat, Reordered};
use anyhow::{bail, Result};
use std::collections::HashMap;
use tract_onnx::pb;

mod branch;
mod calibrate;
mod choose;
mod emit;
pub mod extras;
mod math;
mod measure;
mod pairs;
mod per_layer;
pub(crate) mod qdq;
#[cfg(test)]
mod tests;

pub use choose::{calibrated, chosen, mixed};
use emit::*;
use math::*;
pub use measure::{Samples, DEFAULT_MIN_COSINE};
use pairs::*;

/// Why a MatMul/Gemm/Conv cannot be quantized, or its weight laid out as [K, N] (MatMul/Gemm)
/// or [M, C, k..] (Conv) with the bias (Gemm, Conv) and Gemm's beta already applied.
enum Plan {
    Skip(String),
    MatMul { w: Weight, bias: Option<Bias> },
    Conv { w: Weight, bias: Option<String> },
}

enum Bias {
    Const(Weight),
    Input(String),
}

fn plan(n: &pb::NodeProto, scope: &Scope, o: &Int8Options) -> Option<Plan> {
    let op = n.op_type.as_str();
    if !is_weight_layer(n) {
        return None;
    }
    let weight_name = n.input.get(1)?;
    if o.exclude.iter().any(|x| *x == node_id(n)) {
        return Some(Plan::Skip("excluded by you".into()));
    }
    if op == "Conv" && !o.conv {
        return Some(Plan::Skip(
            "Conv left in float: ConvInteger is usually slower than float Conv on CPU (the :conv option quantizes it)".into(),
        ));
    }
    let Some(w) = scope.weight(weight_name) else {
        return Some(Plan::Skip(match scope.tensor(weight_name) {
            Some(t) => format!(
                "weight `{weight_name}` is {}, not float32",
                crate::model::elem_type_name(t.data_type)
            ),
            None => "both inputs are computed at run time (no constant weight)".into(),
        }));
    };
    if w.dims.iter().any(|&d| d <= 0) || w.data.is_empty() {
        return Some(Plan::Skip(format!(
            "weight `{weight_name}` has an empty dimension {:?}",
            w.dims
        )));
    }
    if op == "Conv" && w.dims.len() < 3 {
        return Some(Plan::Skip(format!(
            "Conv weight `{weight_name}` has rank {} (a Conv weight is [M, C, k, ...])",
            w.dims.len()
        )));
    }
    match op {
        "MatMul" => {
            if w.dims.len() != 2 {
                return Some(Plan::Skip(format!(
                    "weight has rank {}, only 2-D weights are quantized",
                    w.dims.len()
                )));
            }
            Some(Plan::MatMul { w, bias: None })
        }
        "Gemm" => {
            if attr_i(n, "transA", 0) != 0 {
                return Some(Plan::Skip("transA=1 is not quantized".into()));
            }
            if w.dims.len() != 2 {
                return Some(Plan::Skip("weight is not 2-D".into()));
            }
            let alpha = attr_f(n, "alpha", 1.0);
            let beta = attr_f(n, "beta", 1.0);
            let mut w = if attr_i(n, "transB", 0) != 0 {
                transpose2(&w)
            } else {
                w
            };
            if alpha != 1.0 {
                w.data.iter_mut().for_each(|v| *v *= alpha);
            }
            let bias = match n.input.get(2).filter(|s| !s.is_empty()) {
                None => None,
                Some(c) => match scope.weight(c) {
                    Some(mut b) => {
                        b.data.iter_mut().for_each(|v| *v *= beta);
                        Some(Bias::Const(b))
                    }
                    None if beta == 1.0 => Some(Bias::Input(c.clone())),
                    None => {
                        return Some(Plan::Skip(
                            "computed bias with beta != 1 is not quantized".into(),
                        ))
                    }
                },
            };
            Some(Plan::MatMul { w, bias })
        }
        _ => {
            // QLinearConv takes groups (depthwise convolutions); ConvInteger does not.
            if attr_i(n, "group", 1) != 1 && o.calibration.is_none() {
                return Some(Plan::Skip("grouped convolution is not quantized".into()));
            }
            Some(Plan::Conv {
                w,
                bias: n.input.get(2).filter(|s| !s.is_empty()).cloned(),
            })
        }
    }
}

fn float_bytes(w: &Weight) -> u64 {
    4 * w.len() as u64
}

/// The operator domains a model imports, for messages.
fn other_domains(m: &pb::ModelProto) -> String {
    m.opset_import
        .iter()
        .map(|o| format!("{} {}", o.domain, o.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Dynamic int8 quantization of `m` (every graph, subgraphs included).
pub fn dynamic(m: &mut pb::ModelProto, o: &Int8Options, cov: &mut Coverage) -> Result<()> {
    let opset = default_opset(m);
    if opset == 0 {
        bail!("int8 needs ONNX opset 11 or later (DynamicQuantizeLinear); this model imports no ai.onnx opset (only {})", other_domains(m));
    }
    if opset < 11 {
        raise_opset(m, 11, &|_| None)?;
        cov.notes.push(format!(
            "ONNX opset {opset} raised to 11 (DynamicQuantizeLinear needs it); every operator of this model keeps its meaning across those versions"
        ));
    }
    let opset = default_opset(m);
    if o.format == QuantFormat::Qdq && o.per_channel && opset < 13 {
        bail!("per-channel QDQ needs ONNX opset 13 or later (DequantizeLinear axis); this model uses opset {opset}: use per-tensor");
    }
    let Some(g) = m.graph.as_mut() else {
        bail!("the model has no graph")
    };
    let mut names = Names::of(g);
    let reordered = if o.signed {
        pair_rows(g, &mut names, o, cov)
    } else {
        HashMap::new()
    };
    rewrite_graph(
        g,
        &Scope::default(),
        true,
        &mut names,
        &mut |n, scope, e, cache| {
            let Some(p) = plan(n, scope, o) else {
                return Ok(false);
            };
            let id = node_id(n);
            match p {
                Plan::Skip(reason) => {
                    cov.skip(&id, &n.op_type, reason);
                    Ok(false)
                }
                Plan::MatMul { w, bias } => {
                    let out = n.output[0].clone();
                    let x = n.input[0].clone();
                    // Signed weights keep the zero point at 0 so that per-channel scales stay
                    // a plain float Mul after MatMulInteger.
                    let qmax = if o.signed {
                        signed_range(&w, o.per_channel)
                    } else {
                        vec![255.0]
                    };
                    let mut q = quantize(&w, 1, o.per_channel, o.signed, &qmax);
                    let (rows, cols) = (w.dims[0] as usize, w.dims[1] as usize);
                    let capped = if o.signed {
                        cap_pairs(&mut q.signed_q, rows, cols)
                    } else {
                        0
                    };
                    let wq = q
                        .tensors(e.names, &id, &w.dims, o.format == QuantFormat::QOperator)
                        .map(|t| e.constant(t));
                    let mm_out = if bias.is_some() {
                        e.fresh(&format!("{out}_matmul"))
                    } else {
                        out.clone()
                    };
                    let xq = quantize_activation(e, cache, &x);
                    match o.format {
                        QuantFormat::QOperator => {
                            e.integer_op(&id, "MatMulInteger", &xq, &wq, vec![], &mm_out)
                        }
                        QuantFormat::Qdq => {
                            let (xd, wd) = e.dequantize_both(&id, &x, &xq, &wq, 1);
                            e.push("MatMul", &id, &[&xd, &wd], &[&mm_out], vec![]);
                        }
                    }
                    let mut after = q.bytes();
                    if let Some(b) = bias {
                        let b = match b {
                            Bias::Const(b) => {
                                after += float_bytes(&b);
                                let name = e.fresh(&format!("{id}_bias"));
                                e.constant(f32_tensor(&name, &b.dims, &b.data))
                            }
                            Bias::Input(name) => name,
                        };
                        e.push(
                            "Add",
                            &format!("{id}_bias"),
                            &[&mm_out, &b],
                            &[&out],
                            vec![],
                        );
                    }
                    let mut what = q.describe(&w);
                    // How saturation was kept away, if it had to be.
                    let mut how = Vec::new();
                    if let Some(p) = reordered.get(&id) {
                        how.push(format!("rows reordered with {p}'s units"));
                    }
                    let narrowed = qmax.iter().filter(|&&m| m < 127.0).count();
                    if o.signed && qmax.len() == 1 && narrowed == 1 {
                        how.push(format!("range ±{}", qmax[0]));
                    } else if o.signed && narrowed > 0 {
                        how.push(format!(
                            "range narrowed in {narrowed} of {} channels",
                            qmax.len()
                        ));
                    }
                    if capped > 0 {
                        how.push(format!(
                            "{capped} weight {} capped",
                            if capped == 1 { "pair" } else { "pairs" }
                        ));
                    }
                    if !how.is_empty() {
                        what.push_str(&format!(", {} so that no pair saturates", how.join(", ")));
                    }
                    cov.change(&id, &n.op_type, what, float_bytes(&w), after);
                    Ok(true)
                }
                Plan::Conv { w, bias } => {
                    let out = n.output[0].clone();
                    let x = n.input[0].clone();
                    let per_channel = o.per_channel && o.format == QuantFormat::Qdq;
                    // ONNX Runtime's ConvInteger takes uint8 weights with one zero point.
                    let signed = o.signed && o.format == QuantFormat::Qdq;
                    let q = quantize(&w, 0, per_channel, signed, &[CONV_QMAX]);
                    let wq = q
                        .tensors(e.names, &id, &w.dims, o.format == QuantFormat::QOperator)
                        .map(|t| e.constant(t));
                    let xq = quantize_activation(e, cache, &x);
                    let conv_attrs: Vec<pb::AttributeProto> = n.attribute.clone();
                    match o.format {
                        QuantFormat::QOperator => {
                            let scaled = if bias.is_some() {
                                e.fresh(&format!("{id}_scaled"))
                            } else {
                                out.clone()
                            };
                            e.integer_op(&id, "ConvInteger", &xq, &wq, conv_attrs, &scaled);
                            if let Some(b) = &bias {
                                // Conv's bias is per output channel: [M] -> [1, M, 1, ...].
                                let rank = w.dims.len();
                                let mut shape = vec![1i64, -1];
                                shape.extend(std::iter::repeat_n(1, rank - 2));
                                let name = e.fresh(&format!("{id}_bias_shape"));
                                let shape_name =
                                    e.constant(i64_tensor(&name, &[rank as i64], &shape));
                                let rb = e.fresh(&format!("{id}_bias_reshaped"));
                                e.push(
                                    "Reshape",
                                    &format!("{id}_bias"),
                                    &[b, &shape_name],
                                    &[&rb],
                                    vec![],
                                );
                                e.push(
                                    "Add",
                                    &format!("{id}_bias"),
                                    &[&scaled, &rb],
                                    &[&out],
                                    vec![],
                                );
                            }
                        }
                        QuantFormat::Qdq => {
                            let (xd, wd) = e.dequantize_both(&id, &x, &xq, &wq, 0);
                            let mut inputs = vec![xd.as_str(), wd.as_str()];
                            if let Some(b) = &bias {
                                inputs.push(b);
                            }
                            e.push("Conv", &id, &inputs, &[&out], conv_attrs);
                        }
                    }
                    cov.change(&id, "Conv", q.describe(&w), float_bytes(&w), q.bytes());
                    Ok(true)
                }
            }
        },
    )?;
    remove_unused(g);
    extras::tables(m, &o.exclude, cov)?;
    Ok(())
}

/// Weight-only int8: float weights of MatMul/Gemm/Conv/Gather become int8 with a scale, and a
/// DequantizeLinear turns them back into float when the model loads. The math stays float.
pub fn weight_only(m: &mut pb::ModelProto, per_channel: bool, cov: &mut Coverage) -> Result<()> {
    let opset = default_opset(m);
    if opset < 13 {
        bail!("weight-only int8 needs ONNX opset 13 or later (DequantizeLinear with an axis); this model uses opset {opset}");
    }
    let Some(g) = m.graph.as_mut() else {
        bail!("the model has no graph")
    };
    let mut names = Names::of(g);
    let mut done: HashMap<String, String> = HashMap::new();
    rewrite_graph(
        g,
        &Scope::default(),
        true,
        &mut names,
        &mut |n, scope, e, _| {
            let slot = match (n.op_type.as_str(), is_default_domain(n)) {
                ("MatMul" | "Gemm" | "Conv" | "ConvTranspose", true) => 1,
                ("Gather", true) => 0,
                _ => return Ok(false),
            };
            let Some(wname) = n.input.get(slot).cloned() else {
                return Ok(false);
            };
            let id = node_id(n);
            let Some(w) = scope.weight(&wname) else {
                if scope.tensor(&wname).is_none() {
                    cov.skip(&id, &n.op_type, "no constant float weight".into());
                }
                return Ok(false);
            };
            if w.len() < 16 {
                cov.skip(
                    &id,
                    &n.op_type,
                    format!("weight has only {} values", w.len()),
                );
                return Ok(false);
            }
            let axis = match n.op_type.as_str() {
                "MatMul" if w.dims.len() == 2 => 1,
                "Gemm" if attr_i(n, "transB", 0) == 0 => 1,
                _ => 0,
            };
            let key = format!("{wname}@{axis}");
            let deq = if let Some(d) = done.get(&key) {
                d.clone()
            } else {
                let q = quantize(&w, axis, per_channel && !w.dims.is_empty(), true, &[127.0]);
                let [wq, ws, wz] = q
                    .tensors(e.names, &wname, &w.dims, false)
                    .map(|t| e.constant(t));
                let out = e.fresh(&format!("{wname}_dequantized"));
                let attrs = if q.scales.len() > 1 {
                    vec![attr_int("axis", axis as i64)]
                } else {
                    vec![]
                };
                e.push("DequantizeLinear", &wname, &[&wq, &ws, &wz], &[&out], attrs);
                cov.change(
                    &id,
                    &n.op_type,
                    format!("int8 weight {:?}", w.dims),
                    float_bytes(&w),
                    q.bytes(),
                );
                done.insert(key, out.clone());
                out
            };
            let mut n2 = n.clone();
            n2.input[slot] = deq;
            e.nodes.push(n2);
            Ok(true)
        },
    )?;
    remove_unused(g);
    Ok(())
}

/// Calls `f` on every node of `g` and its subgraphs (inner graphs first, with their scope).
/// `f` returns true when it emitted the node's replacement into `Emit`; otherwise the node is
/// kept as it was.
fn rewrite_graph(
    g: &mut pb::GraphProto,
    outer: &Scope,
    top: bool,
    names: &mut Names,
    f: &mut dyn FnMut(&pb::NodeProto, &Scope, &mut Emit, &mut ActCache) -> Result<bool>,
) -> Result<()> {
    let scope = Scope::child(outer, g);
    let nodes = std::mem::take(&mut g.node);
    let mut e = Emit {
        nodes: Vec::with_capacity(nodes.len()),
        inits: Vec::new(),
        top,
        names,
    };
    let mut cache = ActCache::new();
    for mut n in nodes {
        for sub in subgraphs_mut(&mut n) {
            rewrite_graph(sub, &scope, false, e.names, f)?;
        }
        if !f(&n, &scope, &mut e, &mut cache)? {
            e.nodes.push(n);
        }
    }
    g.node = e.nodes;
    g.initializer.extend(e.inits);
    Ok(())
}
