//! Static int8 in the QDQ form ONNX Runtime fuses into its integer kernels (QLinearConv,
//! QLinearMatMul, QGemm): each Conv, MatMul and Gemm of the main graph reads its activation
//! through QuantizeLinear -> DequantizeLinear with a calibrated uint8 scale, its weight as
//! per-channel int8 through DequantizeLinear, its bias as int32 at the product of the two
//! scales, and its output (after a ReLU that follows it alone) is quantized the same way, so
//! that consecutive layers hand each other uint8 tensors.

use super::*;
use anyhow::Context;
use std::collections::HashSet;

/// A layer static int8 quantizes: its node, the activation it reads, and the tensor it
/// hands on (its output, or that of the ReLU that alone follows it).
#[derive(Clone, Debug)]
pub(crate) struct Layer {
    pub(crate) id: String,
    pub(crate) op: String,
    pub(crate) x: String,
    /// Every activation it reads: `x` for a weight layer, all inputs for the ops below.
    pub(crate) inputs: Vec<String>,
    /// A Conv/MatMul/Gemm with a weight, or one of [`UINT8_OPS`].
    pub(crate) weights: bool,
    pub(crate) out: String,
    /// Its output is quantized too (not when it is a graph output: those stay exact).
    pub(crate) quantize_out: bool,
    index: usize,
    activation: Option<usize>,
}

/// Ops without weights that ONNX Runtime runs on uint8 when all their inputs come through
/// DequantizeLinear and their output goes through QuantizeLinear (QLinearAdd, QLinearMul,
/// QLinearConcat, QLinearSigmoid, QLinearLeakyRelu, QLinearAveragePool,
/// QLinearGlobalAveragePool), so that the tensors between convolutions stay uint8 instead of
/// a round trip through float per layer.
pub(crate) const UINT8_OPS: &[&str] = &[
    "Add",
    "Mul",
    "Concat",
    "Sigmoid",
    "LeakyRelu",
    "AveragePool",
    "GlobalAveragePool",
];

/// The [`UINT8_OPS`] of one input: on uint8 a table lookup or a pool, worth it wherever their
/// input is already uint8 (the DequantizeLinear only moves after them), even when no int8
/// layer reads their output.
const UNARY_UINT8_OPS: &[&str] = &["Sigmoid", "LeakyRelu", "AveragePool", "GlobalAveragePool"];

/// Ops that only move or select values (the output's range lies within the input's):
/// ONNX Runtime runs them on uint8, dropping the DequantizeLinear before and the
/// QuantizeLinear after, when both have one scale and zero point. So their outputs take
/// their input's range ([`share_ranges`]).
const SAME_RANGE_OPS: &[&str] = &[
    "MaxPool",
    "Split",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Flatten",
    "Slice",
    "Gather",
    "Expand",
    "Tile",
    "SpaceToDepth",
    "DepthToSpace",
];

/// Gives each calibrated output of a [`SAME_RANGE_OPS`] node its calibrated input's range
/// (in graph order, so a chain of them shares one): no requantization between, and ONNX
/// Runtime runs them on uint8. Returns how many outputs took their input's range.
pub(crate) fn share_ranges(g: &pb::GraphProto, ranges: &mut HashMap<String, (f32, f32)>) -> usize {
    let mut shared = 0;
    for n in &g.node {
        if !SAME_RANGE_OPS.contains(&n.op_type.as_str()) || !is_default_domain(n) {
            continue;
        }
        let Some(r) = n.input.first().and_then(|x| ranges.get(x)).copied() else {
            continue;
        };
        for o in &n.output {
            if let Some(v) = ranges.get_mut(o) {
                *v = r;
                shared += 1;
            }
        }
    }
    shared
}

/// What static int8 does with the main graph's layers.
#[derive(Default)]
pub(crate) struct Layers {
    pub(crate) quantized: Vec<Layer>,
    /// (node, op, why) of the weight layers left in float.
    pub(crate) left: Vec<(String, String, String)>,
}

/// The layers of the main graph static int8 takes, and the ones it leaves with the reason.
pub(crate) fn plan_layers(m: &pb::ModelProto, o: &Int8Options, returned: &[String]) -> Layers {
    let mut l = Layers::default();
    let Some(g) = &m.graph else {
        return l;
    };
    let scope = Scope::child(&Scope::default(), g);
    let uses = use_counts(g);
    let outputs: HashSet<&str> = g.output.iter().map(|o| o.name.as_str()).collect();
    let static_o = Int8Options {
        conv: true,
        ..o.clone()
    };
    // Who reads each tensor: a layer output is quantized for its readers, so not when the
    // only ones are weight layers returned to float.
    let mut readers: HashMap<&str, Vec<&pb::NodeProto>> = HashMap::new();
    for n in &g.node {
        for i in &n.input {
            readers.entry(i.as_str()).or_default().push(n);
        }
    }
    let is_returned = |n: &pb::NodeProto| {
        let id = node_id(n);
        (returned.contains(&id)
            && matches!(
                plan(n, &scope, &static_o),
                Some(Plan::MatMul { .. } | Plan::Conv { .. })
            ))
            || (o.exclude.contains(&id) && is_weight_layer(n))
    };
    for (i, n) in g.node.iter().enumerate() {
        let id = node_id(n);
        // A weightless op whose inputs are all activations (not constants), read where an
        // int8 op can follow.
        if UINT8_OPS.contains(&n.op_type.as_str())
            && is_default_domain(n)
            && !n.input.is_empty()
            && n.input
                .iter()
                .all(|x| !x.is_empty() && scope.tensor(x).is_none())
            && n.output.len() == 1
        {
            if returned.contains(&id) {
                l.left.push((
                    id,
                    n.op_type.clone(),
                    "returned to float: it moved the outputs most (the fidelity target)".into(),
                ));
                continue;
            }
            if o.exclude.contains(&id) {
                l.left
                    .push((id, n.op_type.clone(), "excluded by you".into()));
                continue;
            }
            let out = n.output[0].clone();
            let read_quantized = readers
                .get(out.as_str())
                .is_some_and(|r| r.iter().any(|n| !is_returned(n)));
            let input_quantized = UNARY_UINT8_OPS.contains(&n.op_type.as_str())
                && l.quantized
                    .iter()
                    .any(|q| q.quantize_out && q.out == n.input[0]);
            // Only with its output in uint8 too does ONNX Runtime run it on uint8; else
            // quantizing its inputs only costs precision.
            if outputs.contains(out.as_str()) || !(read_quantized || input_quantized) {
                continue;
            }
            l.quantized.push(Layer {
                id,
                op: n.op_type.clone(),
                x: n.input[0].clone(),
                inputs: n.input.clone(),
                weights: false,
                quantize_out: true,
                out,
                index: i,
                activation: None,
            });
            continue;
        }
        match plan(n, &scope, &static_o) {
            None => continue,
            Some(Plan::Skip(why)) => {
                l.left.push((id, n.op_type.clone(), why));
                continue;
            }
            Some(_) => {}
        }
        let out = n.output[0].clone();
        // A ReLU that alone reads the layer's output is fused into it.
        let activation = (uses.get(&out) == Some(&1) && !outputs.contains(out.as_str()))
            .then(|| {
                g.node.iter().position(|c| {
                    c.op_type == "Relu" && is_default_domain(c) && c.input.first() == Some(&out)
                })
            })
            .flatten();
        let fused_out = activation.map(|a| g.node[a].output[0].clone());
        if returned.contains(&id) {
            l.left.push((
                id,
                n.op_type.clone(),
                "returned to float: it moved the outputs most (the fidelity target)".into(),
            ));
            continue;
        }
        let out = fused_out.unwrap_or(out);
        let read_quantized = readers
            .get(out.as_str())
            .is_some_and(|r| r.iter().any(|n| !is_returned(n)));
        l.quantized.push(Layer {
            id,
            op: n.op_type.clone(),
            x: n.input[0].clone(),
            inputs: vec![n.input[0].clone()],
            weights: true,
            quantize_out: !outputs.contains(out.as_str()) && read_quantized,
            out,
            index: i,
            activation,
        });
    }
    for sub in g.node.iter().filter(|n| !subgraphs_of(n).is_empty()) {
        l.left.push((
            node_id(sub),
            sub.op_type.clone(),
            "its subgraphs stay float: static int8 covers the main graph".into(),
        ));
    }
    l
}

fn subgraphs_of(n: &pb::NodeProto) -> Vec<&pb::GraphProto> {
    n.attribute
        .iter()
        .flat_map(|a| a.g.iter().chain(a.graphs.iter()))
        .collect()
}

/// Folds each BatchNormalization that alone reads a Conv's output into that Conv (constant
/// weight read by it alone, constant statistics, inference mode): w' = w x s per output
/// channel and b' = (b - mean) x s + beta, with s = gamma / sqrt(var + epsilon). The same
/// function with one node fewer, so that the quantized Conv is the whole layer (ONNX Runtime
/// fuses BatchNormalization into a float Conv, but not across QuantizeLinear). Returns how
/// many were folded.
pub(crate) fn fold_batchnorm(g: &mut pb::GraphProto) -> usize {
    let scope = Scope::child(&Scope::default(), g);
    let uses = use_counts(g);
    let outputs: HashSet<String> = g.output.iter().map(|o| o.name.clone()).collect();
    let mut names = Names::of(g);
    let mut folded: Vec<(usize, usize)> = Vec::new();
    let mut new_inits = Vec::new();
    for (ci, c) in g.node.iter().enumerate() {
        if c.op_type != "Conv" || !is_default_domain(c) || c.input.len() < 2 {
            continue;
        }
        let Some(out) = c.output.first() else {
            continue;
        };
        if uses.get(out) != Some(&1) || outputs.contains(out) || uses.get(&c.input[1]) != Some(&1) {
            continue;
        }
        let Some(bi) = g.node.iter().position(|n| {
            n.op_type == "BatchNormalization"
                && is_default_domain(n)
                && n.input.first() == Some(out)
                && n.output.len() == 1
                && attr_i(n, "training_mode", 0) == 0
        }) else {
            continue;
        };
        let bn = &g.node[bi];
        let (Some(w), Some(gamma), Some(beta), Some(mean), Some(var)) = (
            scope.weight(&c.input[1]),
            bn.input.get(1).and_then(|t| scope.weight(t)),
            bn.input.get(2).and_then(|t| scope.weight(t)),
            bn.input.get(3).and_then(|t| scope.weight(t)),
            bn.input.get(4).and_then(|t| scope.weight(t)),
        ) else {
            continue;
        };
        let m = w.dims.first().copied().unwrap_or(0).max(0) as usize;
        if m == 0 || w.len() % m != 0 || [&gamma, &beta, &mean, &var].iter().any(|t| t.len() != m) {
            continue;
        }
        let bias = match c.input.get(2).filter(|b| !b.is_empty()) {
            Some(b) => match scope.weight(b) {
                Some(b) if b.len() == m => b.data,
                _ => continue,
            },
            None => vec![0.0; m],
        };
        let eps = attr_f(bn, "epsilon", 1e-5);
        let s: Vec<f32> = (0..m)
            .map(|k| gamma.data[k] / (var.data[k] + eps).sqrt())
            .collect();
        let per = w.len() / m;
        let wd: Vec<f32> = w
            .data
            .iter()
            .enumerate()
            .map(|(i, v)| v * s[i / per])
            .collect();
        let bd: Vec<f32> = (0..m)
            .map(|k| (bias[k] - mean.data[k]) * s[k] + beta.data[k])
            .collect();
        let (wn, bn_name) = (
            names.fresh(&format!("{}_folded_weight", node_id(c))),
            names.fresh(&format!("{}_folded_bias", node_id(c))),
        );
        new_inits.push(f32_tensor(&wn, &w.dims, &wd));
        new_inits.push(f32_tensor(&bn_name, &[m as i64], &bd));
        folded.push((ci, bi));
    }
    let count = folded.len();
    let mut drop_nodes = HashSet::new();
    for (k, (ci, bi)) in folded.into_iter().enumerate() {
        let bn_out = g.node[bi].output[0].clone();
        let (wn, bname) = (
            new_inits[2 * k].name.clone(),
            new_inits[2 * k + 1].name.clone(),
        );
        let c = &mut g.node[ci];
        c.input.truncate(2);
        c.input[1] = wn;
        c.input.push(bname);
        c.output[0] = bn_out;
        drop_nodes.insert(bi);
    }
    let old = std::mem::take(&mut g.node);
    g.node = old
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !drop_nodes.contains(i))
        .map(|(_, n)| n)
        .collect();
    g.initializer.extend(new_inits);
    remove_unused(g);
    count
}

/// uint8 scale and zero point of the range `(lo, hi)` (which holds 0).
pub(crate) fn uint8_params((lo, hi): (f32, f32)) -> (f32, u8) {
    let scale = ((hi - lo) / 255.0).max(f32::MIN_POSITIVE);
    (scale, (-lo / scale).round().clamp(0.0, 255.0) as u8)
}

/// Rewrites `m` with the layers of [`plan_layers`] in static int8, activation ranges from
/// `ranges` (by tensor name). `vnni`: the CPU multiplies u8 x s8 without 16-bit pair sums,
/// so weights take the full int8 range; without it they keep 7 bits, as the dynamic path
/// does, so that no pair saturates.
pub(crate) fn rewrite(
    m: &mut pb::ModelProto,
    o: &Int8Options,
    ranges: &HashMap<String, (f32, f32)>,
    returned: &[String],
    vnni: bool,
    cov: &mut Coverage,
) -> Result<Vec<Layer>> {
    let opset = default_opset(m);
    let per_channel = opset >= 13;
    let Layers {
        quantized: mut layers,
        left,
    } = plan_layers(m, o, returned);
    // Weightless ops on integer tensors (shapes, indices) have no calibrated range: float.
    layers.retain(|l| {
        l.weights
            || l.inputs
                .iter()
                .chain([&l.out])
                .all(|t| ranges.contains_key(t))
    });
    for (id, op, why) in left {
        cov.skip(&id, &op, why);
    }
    let Some(g) = m.graph.as_mut() else {
        bail!("the model has no graph")
    };
    let scope = Scope::child(&Scope::default(), g);
    let mut names = Names::of(g);
    let at_node: HashMap<usize, &Layer> = layers.iter().map(|l| (l.index, l)).collect();
    let at_activation: HashMap<usize, &Layer> = layers
        .iter()
        .filter_map(|l| l.activation.map(|a| (a, l)))
        .collect();
    let range = |t: &str| -> Result<(f32, f32)> {
        ranges
            .get(t)
            .copied()
            .with_context(|| format!("no calibrated range for `{t}`"))
    };
    let old = std::mem::take(&mut g.node);
    let mut nodes: Vec<pb::NodeProto> = Vec::with_capacity(old.len() * 2);
    let mut inits: Vec<pb::TensorProto> = Vec::new();
    // Float tensor -> the name of its dequantized uint8 copy.
    let mut dequantized: HashMap<String, String> = HashMap::new();
    // QuantizeLinear then DequantizeLinear of `src` into `dst`, at the range of `t`.
    let qdq = |t: &str,
               src: &str,
               dst: &str,
               names: &mut Names,
               nodes: &mut Vec<pb::NodeProto>,
               inits: &mut Vec<pb::TensorProto>|
     -> Result<(f32, u8)> {
        let (s, z) = uint8_params(range(t)?);
        let (sn, zn, qn) = (
            names.fresh(&format!("{t}_scale")),
            names.fresh(&format!("{t}_zero_point")),
            names.fresh(&format!("{t}_quantized")),
        );
        inits.push(f32_tensor(&sn, &[], &[s]));
        inits.push(u8_tensor(&zn, &[], &[z]));
        nodes.push(node(
            "QuantizeLinear",
            &names.fresh(&format!("{t}_QuantizeLinear")),
            &[src, &sn, &zn],
            &[&qn],
            vec![],
        ));
        nodes.push(node(
            "DequantizeLinear",
            &names.fresh(&format!("{t}_DequantizeLinear")),
            &[&qn, &sn, &zn],
            &[dst],
            vec![],
        ));
        Ok((s, z))
    };
    for (i, n) in old.into_iter().enumerate() {
        if let Some(l) = at_node.get(&i).filter(|l| !l.weights) {
            let mut n2 = n.clone();
            for (k, x) in l.inputs.iter().enumerate() {
                n2.input[k] = match dequantized.get(x) {
                    Some(d) => d.clone(),
                    None => {
                        let d = names.fresh(&format!("{x}_dequantized"));
                        qdq(x, x, &d, &mut names, &mut nodes, &mut inits)?;
                        dequantized.insert(x.clone(), d.clone());
                        d
                    }
                };
            }
            if l.quantize_out {
                n2.output[0] = names.fresh(&format!("{}_float", l.out));
            }
            let float_out = n2.output[0].clone();
            nodes.push(n2);
            if l.quantize_out {
                qdq(
                    &l.out, &float_out, &l.out, &mut names, &mut nodes, &mut inits,
                )?;
                dequantized.insert(l.out.clone(), l.out.clone());
            }
            cov.change_static(
                &l.id,
                &l.op,
                format!(
                    "static int8: uint8 inputs{}",
                    if l.quantize_out {
                        " and output"
                    } else {
                        ", float output (a graph output, or read only by float layers)"
                    }
                ),
                0,
                0,
            );
        } else if let Some(l) = at_node.get(&i) {
            // The activation, quantized once for every layer that reads it.
            let x_dq = match dequantized.get(&l.x) {
                Some(d) => d.clone(),
                None => {
                    let d = names.fresh(&format!("{}_dequantized", l.x));
                    qdq(&l.x, &l.x, &d, &mut names, &mut nodes, &mut inits)?;
                    dequantized.insert(l.x.clone(), d.clone());
                    d
                }
            };
            let (sx, _) = uint8_params(range(&l.x)?);
            let Some(p) = plan(
                &n,
                &scope,
                &Int8Options {
                    conv: true,
                    ..o.clone()
                },
            ) else {
                bail!("layer {} is no longer a weight layer", l.id)
            };
            let (w, axis, bias, conv) = match p {
                Plan::MatMul { w, bias } => (w, 1usize, bias, false),
                Plan::Conv { w, bias } => {
                    let b = bias.map(|b| match scope.weight(&b) {
                        Some(c) => Bias::Const(c),
                        None => Bias::Input(b),
                    });
                    (w, 0usize, b, true)
                }
                Plan::Skip(why) => bail!("layer {}: {why}", l.id),
            };
            let quantized = |per_channel: bool| {
                let qmax: Vec<f32> = if vnni {
                    vec![127.0]
                } else if conv {
                    vec![CONV_QMAX]
                } else {
                    signed_range(&w, per_channel)
                };
                quantize(&w, axis, per_channel, true, &qmax)
            };
            let mut q = quantized(per_channel);
            // One scale for every channel (a uniform fill, say): per tensor is the same
            // numbers, stored as one scale.
            if q.scales.len() > 1 && q.scales.windows(2).all(|p| p[0] == p[1]) {
                q = quantized(false);
            }
            let [wq, ws, wz] = q.tensors(&mut names, &l.id, &w.dims, false);
            let w_dq = names.fresh(&format!("{}_weight_dequantized", l.id));
            let attrs = if q.scales.len() > 1 {
                vec![attr_int("axis", axis as i64)]
            } else {
                vec![]
            };
            nodes.push(node(
                "DequantizeLinear",
                &names.fresh(&format!("{}_weight_DequantizeLinear", l.id)),
                &[&wq.name, &ws.name, &wz.name],
                &[&w_dq],
                attrs,
            ));
            let mut bytes_after = q.bytes();
            inits.extend([wq, ws, wz]);
            // A constant bias in int32 at the activation's scale times the weight's.
            let b_in = match bias {
                None => None,
                Some(Bias::Input(name)) => Some(name),
                Some(Bias::Const(b)) => {
                    let scales: Vec<f32> = (0..b.len())
                        .map(|c| sx * q.scales[if q.scales.len() > 1 { c } else { 0 }])
                        .collect();
                    let bq: Vec<i32> = b
                        .data
                        .iter()
                        .zip(&scales)
                        .map(|(v, s)| {
                            (v / s).round().clamp(i32::MIN as f32, i32::MAX as f32) as i32
                        })
                        .collect();
                    let (qn, sn, zn, dn) = (
                        names.fresh(&format!("{}_bias_quantized", l.id)),
                        names.fresh(&format!("{}_bias_scale", l.id)),
                        names.fresh(&format!("{}_bias_zero_point", l.id)),
                        names.fresh(&format!("{}_bias_dequantized", l.id)),
                    );
                    inits.push(i32_tensor(&qn, &[b.len() as i64], &bq));
                    // One scale per channel with per-channel weights (opset 13's axis), else
                    // one for the tensor.
                    let axis = if q.scales.len() > 1 {
                        inits.push(f32_tensor(&sn, &[b.len() as i64], &scales));
                        inits.push(i32_tensor(&zn, &[b.len() as i64], &vec![0; b.len()]));
                        vec![attr_int("axis", 0)]
                    } else {
                        inits.push(f32_tensor(&sn, &[], &scales[..1]));
                        inits.push(i32_tensor(&zn, &[], &[0]));
                        vec![]
                    };
                    bytes_after += 4 * b.len() as u64;
                    nodes.push(node(
                        "DequantizeLinear",
                        &names.fresh(&format!("{}_bias_DequantizeLinear", l.id)),
                        &[&qn, &sn, &zn],
                        &[&dn],
                        axis,
                    ));
                    Some(dn)
                }
            };
            let mut n2 = n.clone();
            n2.input = vec![x_dq, w_dq];
            if let Some(b) = b_in {
                n2.input.push(b);
            }
            if n2.op_type == "Gemm" {
                // The weight is laid out [K, N] with alpha applied, the bias with beta.
                n2.attribute
                    .retain(|a| !matches!(a.name.as_str(), "transB" | "alpha" | "beta"));
            }
            let to_quantize = l.quantize_out && l.activation.is_none();
            if to_quantize {
                n2.output[0] = names.fresh(&format!("{}_float", l.out));
            }
            let float_out = n2.output[0].clone();
            nodes.push(n2);
            if to_quantize {
                qdq(
                    &l.out, &float_out, &l.out, &mut names, &mut nodes, &mut inits,
                )?;
                dequantized.insert(l.out.clone(), l.out.clone());
            }
            let (xr, or) = (range(&l.x)?, range(&l.out).ok());
            cov.change_static(
                &l.id,
                &l.op,
                format!(
                    "static int8: {} weight {:?}{}; input uint8 over [{:.3}, {:.3}]{}",
                    if q.scales.len() > 1 {
                        "per-channel int8"
                    } else {
                        "per-tensor int8"
                    },
                    w.dims,
                    if vnni {
                        ""
                    } else {
                        " (7-bit: no VNNI here, so no u8 x s8 pair saturates)"
                    },
                    xr.0,
                    xr.1,
                    match (l.quantize_out, or) {
                        (true, Some(r)) => format!(", output uint8 over [{:.3}, {:.3}]", r.0, r.1),
                        _ => ", output float (a graph output, or read only by float layers)".into(),
                    }
                ),
                4 * w.len() as u64,
                bytes_after,
            );
        } else if let Some(l) = at_activation.get(&i).filter(|l| l.quantize_out) {
            let mut n2 = n.clone();
            n2.output[0] = names.fresh(&format!("{}_float", l.out));
            let float_out = n2.output[0].clone();
            nodes.push(n2);
            qdq(
                &l.out, &float_out, &l.out, &mut names, &mut nodes, &mut inits,
            )?;
            dequantized.insert(l.out.clone(), l.out.clone());
        } else {
            nodes.push(n);
        }
    }
    g.node = nodes;
    g.initializer.extend(inits);
    remove_unused(g);
    Ok(layers)
}
