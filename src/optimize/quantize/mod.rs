//! int8 rewrites: dynamic quantization of MatMul/Gemm (and Conv on request) weights in the
//! operator form (DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast -> Mul) or the QDQ
//! form (DynamicQuantizeLinear -> DequantizeLinear -> MatMul <- DequantizeLinear <- int8 weight),
//! and weight-only int8 (int8 weights dequantized at load).

use super::graph::*;
use super::prune::Chains;
use super::{node_id, Coverage, Int8Options, QuantFormat, Reordered};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use tract_onnx::pb;

mod calibrate;
mod emit;
mod math;
mod pairs;
pub(crate) mod qdq;
#[cfg(test)]
mod tests;

use emit::*;
use math::*;
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
        raise_opset(m, 11)?;
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
    Ok(())
}

/// The fidelity target static int8 meets by default: cosine similarity of every float output
/// with the float model's, over the calibration samples.
pub const DEFAULT_MIN_COSINE: f64 = 0.99;

/// The lowest cosine similarity over the float outputs of `candidate` against `reference`
/// (per output, every request's values end to end); top-1 agreement of integer outputs when
/// there is no float one.
fn output_score(
    model: &crate::model::Model,
    candidate: &pb::ModelProto,
    reference: &[Vec<crate::engine::Output>],
    requests: &[Vec<crate::tensor::Tensor>],
) -> Result<f64> {
    use crate::engine::Output;
    let (mut e, _) = calibrate::with_outputs(model, candidate, &[])?;
    let outputs = reference.first().map_or(0, |r| r.len());
    let mut dot = vec![0f64; outputs];
    let mut na = vec![0f64; outputs];
    let mut nb = vec![0f64; outputs];
    let mut float = vec![false; outputs];
    let (mut same, mut total) = (0usize, 0usize);
    for (r, want) in requests.iter().zip(reference) {
        let got = crate::guard::catch("running the int8 model", || e.run(r))?;
        for (k, (a, b)) in want.iter().zip(&got).enumerate() {
            let (Output::Tensor(a), Output::Tensor(b)) = (a, b) else {
                continue;
            };
            if a.shape != b.shape {
                bail!(
                    "the int8 model's output {k} has shape {:?}, the float model's {:?}",
                    b.shape,
                    a.shape
                );
            }
            let is_float = matches!(
                a.data,
                crate::tensor::TensorData::F32(_) | crate::tensor::TensorData::F64(_)
            );
            let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
            if is_float {
                float[k] = true;
                for (p, q) in x.iter().zip(&y) {
                    dot[k] += p * q;
                    na[k] += p * p;
                    nb[k] += q * q;
                }
            } else {
                same += x.iter().zip(&y).filter(|(p, q)| p == q).count();
                total += x.len();
            }
        }
    }
    let cosines: Vec<f64> = (0..outputs)
        .filter(|&k| float[k])
        .map(|k| {
            if na[k] == 0.0 && nb[k] == 0.0 {
                1.0
            } else {
                dot[k] / (na[k].sqrt() * nb[k].sqrt()).max(f64::MIN_POSITIVE)
            }
        })
        .collect();
    Ok(if cosines.is_empty() {
        same as f64 / total.max(1) as f64
    } else {
        cosines.into_iter().fold(1.0, f64::min)
    })
}

/// How much each layer alone in int8 moves the outputs: 1 - the score of [`output_score`]
/// with only that layer quantized (its input, weight and, where read by other nodes, its
/// output), on at most 4 of the requests.
#[allow(clippy::too_many_arguments)]
fn harm_alone(
    model: &crate::model::Model,
    original: &pb::ModelProto,
    o: &Int8Options,
    ranges: &HashMap<String, (f32, f32)>,
    layers: &[qdq::Layer],
    vnni: bool,
    reference: &[Vec<crate::engine::Output>],
    requests: &[Vec<crate::tensor::Tensor>],
) -> Result<HashMap<String, f64>> {
    let n = requests.len().min(4);
    let all: Vec<String> = layers.iter().map(|l| l.id.clone()).collect();
    let mut harm = HashMap::new();
    for l in layers {
        let others: Vec<String> = all.iter().filter(|id| **id != l.id).cloned().collect();
        let mut alone = original.clone();
        qdq::rewrite(
            &mut alone,
            o,
            ranges,
            &others,
            vnni,
            &mut Coverage::default(),
        )?;
        let score = output_score(model, &alone, &reference[..n], &requests[..n])?;
        harm.insert(l.id.clone(), 1.0 - score);
    }
    Ok(harm)
}

/// Static int8 (QDQ): activation ranges calibrated on `requests` (batch-1 requests of the
/// sample data), then, judged on `check` (the sample data as given, all samples in one
/// request, so that a sequence model's state runs through them as it will), while the outputs' cosine similarity with the float model's is under
/// `o.min_cosine` ([`DEFAULT_MIN_COSINE`] by default), layers returned to float, the one that
/// alone in int8 moves the outputs most first (one at a time, then in growing steps).
pub fn calibrated(
    model: &crate::model::Model,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    requests: &[Vec<crate::tensor::Tensor>],
    check: &[Vec<crate::tensor::Tensor>],
    cov: &mut Coverage,
) -> Result<()> {
    let how = o.calibration.unwrap_or_default();
    let opset = default_opset(m);
    if opset < 11 {
        raise_opset(m, 11)?;
        cov.notes.push(format!(
            "ONNX opset {opset} raised to 11; every operator of this model keeps its meaning across those versions"
        ));
    }
    if default_opset(m) < 13 {
        cov.notes.push(format!(
            "opset {} has no per-channel DequantizeLinear: weights have one scale per tensor",
            default_opset(m)
        ));
    }
    if let Some(g) = m.graph.as_mut() {
        let folded = qdq::fold_batchnorm(g);
        if folded > 0 {
            cov.notes.push(format!(
                "{folded} BatchNormalization node(s) folded into the Conv before them (the same function), so that each quantized Conv is the whole layer"
            ));
        }
    }
    let layers = qdq::plan_layers(m, o, &[]).quantized;
    if !layers.iter().any(|l| l.weights) {
        // Nothing with weights to quantize: say what was left and why (the caller then
        // says static int8 does not apply).
        for (id, op, why) in qdq::plan_layers(m, o, &[]).left {
            cov.skip(&id, &op, why);
        }
        return Ok(());
    }
    let mut tensors: Vec<String> = Vec::new();
    for l in &layers {
        for t in l.inputs.iter().chain([&l.out]) {
            if !tensors.contains(t) {
                tensors.push(t.clone());
            }
        }
    }
    let ranges = calibrate::ranges(model, m, &tensors, requests, how)?;
    let vnni = crate::environment::cpu_isa()
        .iter()
        .any(|i| i.contains("VNNI"));
    let target = o.min_cosine.unwrap_or(DEFAULT_MIN_COSINE);
    let reference: Vec<Vec<crate::engine::Output>> = {
        let (mut e, _) = calibrate::with_outputs(model, m, &[])?;
        check.iter().map(|r| e.run(r)).collect::<Result<_>>()?
    };
    let original = m.clone();
    let mut returned: Vec<String> = Vec::new();
    let mut ranking: Option<Vec<String>> = None;
    for round in 0.. {
        let mut candidate = original.clone();
        let mut c = Coverage::default();
        let quantized = qdq::rewrite(&mut candidate, o, &ranges, &returned, vnni, &mut c)?;
        if quantized.is_empty() {
            bail!(
                "static int8 calibrated by {} cannot keep the outputs' cosine similarity at {target} on this model: with all {} layers returned to float nothing is left to quantize (try another calibration method, lower the target with min-cosine, or use dynamic int8)",
                how.name(),
                layers.len()
            );
        }
        check_structure(candidate.graph.as_ref().context("no graph")?)?;
        let score = output_score(model, &candidate, &reference, check)?;
        let met = score >= target;
        if met || round >= 24 {
            c.notes.append(&mut cov.notes);
            c.notes.push(format!(
                "static int8, activations calibrated by {} on {}{}: outputs' cosine similarity {score:.4} with the float model on the sample data {} the target {target}{}",
                how.name(),
                crate::format::plural(requests.len() as u64, "sample"),
                if vnni { "" } else { "; weights in 7 bits (this CPU has no VNNI)" },
                if met { "meets" } else { "misses" },
                if returned.is_empty() {
                    String::new()
                } else {
                    format!(
                        " with {} of {} layers returned to float, most harmful first: {}",
                        returned.len(),
                        layers.len(),
                        returned.join(", ")
                    )
                }
            ));
            *cov = Coverage {
                notes: c.notes,
                changed: c.changed,
                skipped: c.skipped,
                ..std::mem::take(cov)
            };
            *m = candidate;
            return Ok(());
        }
        let order = match &ranking {
            Some(r) => r.clone(),
            None => {
                let harm = harm_alone(
                    model, &original, o, &ranges, &quantized, vnni, &reference, check,
                )?;
                let mut r: Vec<String> = quantized.iter().map(|l| l.id.clone()).collect();
                r.sort_by(|a, b| harm[b].total_cmp(&harm[a]));
                ranking = Some(r.clone());
                r
            }
        };
        // One layer at a time at first, then in growing steps.
        let step = (returned.len() / 2).max(1);
        returned.extend(
            order
                .iter()
                .filter(|id| !returned.contains(id))
                .take(step)
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    unreachable!()
}

/// Median time of each engine over `rounds` interleaved runs of `inputs` (after 3 warm-up runs
/// each), microseconds.
fn interleaved_p50(
    engines: &mut [Box<dyn crate::engine::Engine>],
    inputs: &[crate::tensor::Tensor],
    rounds: usize,
) -> Result<Vec<f64>> {
    let prepared: Vec<crate::engine::Prepared> = engines
        .iter_mut()
        .map(|e| e.prepare(inputs))
        .collect::<Result<_>>()?;
    let mut times = vec![Vec::with_capacity(rounds); engines.len()];
    for round in 0..rounds + 3 {
        for (k, e) in engines.iter_mut().enumerate() {
            let t = std::time::Instant::now();
            e.run_prepared(&prepared[k])?;
            if round >= 3 {
                times[k].push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    Ok(times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect())
}

/// int8 chosen by measuring on this machine: dynamic (with `o`'s options) and static
/// (calibrated, with its fidelity target) built; dynamic held to the same target; each timed
/// at batch 1 against the float model, interleaved; the faster of those that meet the target
/// kept, and the coverage says what was measured and why.
pub fn chosen(
    model: &crate::model::Model,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    requests: &[Vec<crate::tensor::Tensor>],
    check: &[Vec<crate::tensor::Tensor>],
    cov: &mut Coverage,
) -> Result<()> {
    let target = o.min_cosine.unwrap_or(DEFAULT_MIN_COSINE);
    calibrate::check_data(requests)?;
    let reference: Vec<Vec<crate::engine::Output>> = {
        let (mut e, _) = calibrate::with_outputs(model, m, &[])?;
        check.iter().map(|r| e.run(r)).collect::<Result<_>>()?
    };
    let mut why_not: Vec<String> = Vec::new();
    let mut candidates: Vec<(&str, pb::ModelProto, Coverage, f64)> = Vec::new();
    let forms = [
        (
            "dynamic",
            Int8Options {
                auto: false,
                calibration: None,
                ..o.clone()
            },
        ),
        (
            "static",
            Int8Options {
                auto: false,
                calibration: Some(o.calibration.unwrap_or_default()),
                exclude: Vec::new(),
                ..o.clone()
            },
        ),
    ];
    for (name, form) in forms {
        let mut p = m.clone();
        let mut c = Coverage::default();
        let built = if form.calibration.is_some() {
            calibrated(model, &mut p, &form, requests, check, &mut c)
        } else {
            dynamic(&mut p, &form, &mut c)
        };
        match built {
            Ok(()) if c.changed.is_empty() => why_not.push(format!(
                "{name}: {}",
                c.skipped
                    .first()
                    .map(|s| format!("{} ({}): {}", s.node, s.op, s.note))
                    .unwrap_or_else(|| "no layer with constant float weights it quantizes".into())
            )),
            Ok(()) => {
                let score = output_score(model, &p, &reference, check)?;
                if score >= target {
                    candidates.push((name, p, c, score));
                } else {
                    why_not.push(format!(
                        "{name}: the outputs' cosine similarity {score:.4} is under the target {target}"
                    ));
                }
            }
            Err(e) => why_not.push(format!("{name}: {e:#}")),
        }
    }
    if candidates.is_empty() {
        // Nothing changed: the rewrite's caller says "does not apply" with these reasons.
        for w in &why_not {
            let (form, why) = w.split_once(": ").unwrap_or(("int8", w));
            cov.skip(form, "int8", why.to_string());
        }
        return Ok(());
    }
    let float = calibrate::with_outputs(model, m, &[])?.0;
    let engine_name = float.version();
    let mut engines = vec![float];
    for (_, p, _, _) in &candidates {
        engines.push(calibrate::with_outputs(model, p, &[])?.0);
    }
    let p50 = interleaved_p50(&mut engines, &requests[0], 20)?;
    let best = (0..candidates.len())
        .min_by(|&a, &b| p50[a + 1].total_cmp(&p50[b + 1]))
        .unwrap_or(0);
    let measured = candidates
        .iter()
        .enumerate()
        .map(|(k, (name, _, _, score))| {
            format!(
                "{name} {} (cosine {score:.4})",
                crate::format::ms(p50[k + 1] / 1e3)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (name, p, mut c, _) = candidates.swap_remove(best);
    let faster = p50[0] / p50[best + 1];
    c.notes.append(&mut cov.notes);
    c.notes.push(format!(
        "int8 chosen by measuring on {engine_name} (median of 20 interleaved runs at batch 1): float {}, {measured}; kept {name}, {}{}",
        crate::format::ms(p50[0] / 1e3),
        if faster >= 1.0 {
            format!("{faster:.2}x the float model's speed")
        } else {
            format!("though at {faster:.2}x it is slower than the float model here")
        },
        if why_not.is_empty() {
            String::new()
        } else {
            format!("; not taken: {}", why_not.join("; "))
        }
    ));
    *cov = Coverage {
        notes: c.notes,
        changed: c.changed,
        skipped: c.skipped,
        ..std::mem::take(cov)
    };
    *m = p;
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
