//! int8 rewrites: dynamic quantization of MatMul/Gemm (and Conv on request) weights in the
//! operator form (DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast -> Mul) or the QDQ
//! form (DynamicQuantizeLinear -> DequantizeLinear -> MatMul <- DequantizeLinear <- int8 weight),
//! and weight-only int8 (int8 weights dequantized at load).

use super::graph::*;
use super::prune::Chains;
use super::{node_id, Coverage, Int8Options, QuantFormat, Reordered};
use anyhow::{bail, Result};
use std::collections::HashMap;
use tract_onnx::pb;

/// Quantized weights: values, one scale and zero point per channel (or one for the tensor).
struct Quantized {
    signed_q: Vec<i8>,
    unsigned_q: Vec<u8>,
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    signed: bool,
}

/// Quantizes `w` laid out as `[outer.., channel, inner..]` with channels along `axis`, or per
/// tensor when `per_channel` is false. Signed: symmetric, zero point 0, range [-qmax, qmax].
/// Unsigned: asymmetric over [min(0, w), max(0, w)], range [0, 255].
fn quantize(w: &Weight, axis: usize, per_channel: bool, signed: bool, qmax: &[f32]) -> Quantized {
    let dims: Vec<usize> = w.dims.iter().map(|&d| d.max(1) as usize).collect();
    let channels = if per_channel { dims[axis] } else { 1 };
    let inner: usize = if per_channel {
        dims[axis + 1..].iter().product()
    } else {
        1
    };
    let channel_of = |i: usize| {
        if per_channel {
            (i / inner) % channels
        } else {
            0
        }
    };
    let mut lo = vec![0f32; channels];
    let mut hi = vec![0f32; channels];
    for (i, &v) in w.data.iter().enumerate() {
        let c = channel_of(i);
        if v.is_finite() {
            lo[c] = lo[c].min(v);
            hi[c] = hi[c].max(v);
        }
    }
    let mut scales = Vec::with_capacity(channels);
    let mut zero_points = Vec::with_capacity(channels);
    for c in 0..channels {
        if signed {
            let m = lo[c].abs().max(hi[c].abs());
            scales.push(if m > 0.0 {
                m / qmax[c.min(qmax.len() - 1)]
            } else {
                1.0
            });
            zero_points.push(0);
        } else {
            let range = hi[c] - lo[c];
            let s = if range > 0.0 { range / 255.0 } else { 1.0 };
            scales.push(s);
            zero_points.push((-lo[c] / s).round().clamp(0.0, 255.0) as i32);
        }
    }
    let mut signed_q = Vec::new();
    let mut unsigned_q = Vec::new();
    for (i, &v) in w.data.iter().enumerate() {
        let c = channel_of(i);
        let q = (v / scales[c]).round() + zero_points[c] as f32;
        if signed {
            let m = qmax[c.min(qmax.len() - 1)];
            signed_q.push(q.clamp(-m, m) as i8);
        } else {
            unsigned_q.push(q.clamp(0.0, 255.0) as u8);
        }
    }
    Quantized {
        signed_q,
        unsigned_q,
        scales,
        zero_points,
        signed,
    }
}

impl Quantized {
    /// `per-channel int8 weight [64, 256]`, for the coverage report.
    fn describe(&self, w: &Weight) -> String {
        format!(
            "{} {} weight {:?}",
            if self.scales.len() > 1 {
                "per-channel"
            } else {
                "per-tensor"
            },
            if self.signed { "int8" } else { "uint8" },
            w.dims
        )
    }

    fn bytes(&self) -> u64 {
        (self.signed_q.len() + self.unsigned_q.len() + self.scales.len() * 5) as u64
    }

    /// (values, scale, zero point) tensors; scale and zero point are 1-D per channel, scalar
    /// per tensor.
    /// `scalar_zero_point`: one zero point for all channels when they are all 0 (symmetric
    /// weights in the operator form), which keeps ONNX Runtime on its fused kernel.
    fn tensors(
        &self,
        names: &mut Names,
        base: &str,
        dims: &[i64],
        scalar_zero_point: bool,
    ) -> [pb::TensorProto; 3] {
        let sdims: Vec<i64> = if self.scales.len() > 1 {
            vec![self.scales.len() as i64]
        } else {
            vec![]
        };
        let one_zp = scalar_zero_point && self.zero_points.iter().all(|&z| z == 0);
        let zdims: Vec<i64> = if one_zp { vec![] } else { sdims.clone() };
        let zps: &[i32] = if one_zp { &[0] } else { &self.zero_points };
        let (q, s, z) = (
            names.fresh(&format!("{base}_quantized")),
            names.fresh(&format!("{base}_scale")),
            names.fresh(&format!("{base}_zero_point")),
        );
        if self.signed {
            let zp: Vec<i8> = zps.iter().map(|&z| z as i8).collect();
            [
                i8_tensor(&q, dims, &self.signed_q),
                f32_tensor(&s, &sdims, &self.scales),
                i8_tensor(&z, &zdims, &zp),
            ]
        } else {
            let zp: Vec<u8> = zps.iter().map(|&z| z as u8).collect();
            [
                u8_tensor(&q, dims, &self.unsigned_q),
                f32_tensor(&s, &sdims, &self.scales),
                u8_tensor(&z, &zdims, &zp),
            ]
        }
    }
}

fn transpose2(w: &Weight) -> Weight {
    let (r, c) = (w.dims[0] as usize, w.dims[1] as usize);
    let mut data = vec![0f32; r * c];
    for i in 0..r {
        for j in 0..c {
            data[j * r + i] = w.data[i * c + j];
        }
    }
    Weight {
        dims: vec![w.dims[1], w.dims[0]],
        data,
    }
}

/// How far a pair of signed quantized weights passes what ONNX Runtime's uint8 x int8 kernels
/// can add. On x86 CPUs without VNNI they add the products of adjacent K rows (0+1, 2+3, ...)
/// in 16 bits (vpmaddubsw). Activations are uint8 (0..=255), so only a pair of one sign can
/// overflow: 255 x (|q1| + |q2|) saturates once |q1| + |q2| > 128, while a pair of opposite
/// signs stays within 255 x 127. With full-range weights that happened on the digits MLP
/// (per-channel: 8.7% drift at the first layer, as with quantize_dynamic's per-channel model).
fn pair_excess(q1: i32, q2: i32) -> i32 {
    if q1 != 0 && q2 != 0 && (q1 > 0) == (q2 > 0) {
        (q1.abs() + q2.abs() - 128).max(0)
    } else {
        0
    }
}

/// A pair brought down to 128 in magnitude, the excess split between the two (the larger
/// gives the odd step): the least squared change that makes it safe.
fn capped(q1: i32, q2: i32) -> (i32, i32) {
    let e = pair_excess(q1, q2);
    if e == 0 {
        return (q1, q2);
    }
    let (big, small) = (e - e / 2, e / 2);
    let shrink = |q: i32, d: i32| q - q.signum() * d;
    if q1.abs() >= q2.abs() {
        (shrink(q1, big), shrink(q2, small))
    } else {
        (shrink(q1, small), shrink(q2, big))
    }
}

/// Caps every same-sign adjacent row pair of a quantized `[K, N]` weight at 128; how many.
fn cap_pairs(q: &mut [i8], k: usize, n: usize) -> usize {
    let mut count = 0;
    for r in (0..k.saturating_sub(1)).step_by(2) {
        for j in 0..n {
            let (i1, i2) = (r * n + j, (r + 1) * n + j);
            let (a, b) = (q[i1] as i32, q[i2] as i32);
            let (c1, c2) = capped(a, b);
            if (c1, c2) != (a, b) {
                (q[i1], q[i2]) = (c1 as i8, c2 as i8);
                count += 1;
            }
        }
    }
    count
}

/// The signed weight range of a `[K, N]` weight (one, or one per column) for dynamic int8,
/// given that every same-sign pair over 128 is then capped (`cap_pairs`). A narrower range
/// makes every weight's step coarser; a wider one caps more pairs. The range chosen, from 63
/// (where no pair can pass 128) to 127, has the least expected squared error: rounding,
/// step^2/12 per weight, plus what capping adds to the few pairs large enough to pass 128.
fn signed_range(w: &Weight, per_channel: bool) -> Vec<f32> {
    let (k, n) = (w.dims[0] as usize, w.dims[1] as usize);
    let columns = if per_channel { n } else { 1 };
    let channel = |j: usize| if per_channel { j } else { 0 };
    let mut max_abs = vec![0f32; columns];
    let mut count = vec![0usize; columns];
    for (i, v) in w.data.iter().enumerate() {
        if v.is_finite() {
            let c = channel(i % n);
            max_abs[c] = max_abs[c].max(v.abs());
            count[c] += 1;
        }
    }
    // Same-sign pairs large enough to pass 128 at some range, relative to their channel's max.
    let mut risky: Vec<Vec<(f32, f32)>> = vec![vec![]; columns];
    for r in (0..k.saturating_sub(1)).step_by(2) {
        for j in 0..n {
            let c = channel(j);
            let (a, b) = (w.data[r * n + j], w.data[(r + 1) * n + j]);
            if max_abs[c] > 0.0
                && a.is_finite()
                && b.is_finite()
                && a != 0.0
                && b != 0.0
                && (a > 0.0) == (b > 0.0)
                && (a.abs() + b.abs()) / max_abs[c] > 0.99
            {
                risky[c].push((a.abs() / max_abs[c], b.abs() / max_abs[c]));
            }
        }
    }
    (0..columns)
        .map(|c| {
            // Squared error in units of (max / range)^2 ... scaled back to max^2.
            let cost = |m: f32| -> f64 {
                let step = 1.0 / m as f64;
                let mut e = count[c] as f64 * step * step / 12.0;
                for &(a, b) in &risky[c] {
                    let (x, y) = ((a * m) as f64, (b * m) as f64);
                    let (q1, q2) = (x.round() as i32, y.round() as i32);
                    let (c1, c2) = capped(q1, q2);
                    let extra = (x - c1 as f64).powi(2) + (y - c2 as f64).powi(2)
                        - (x - q1 as f64).powi(2)
                        - (y - q2 as f64).powi(2);
                    e += extra * step * step;
                }
                e
            };
            (63..=127)
                .map(|m| m as f32)
                .min_by(|&x, &y| cost(x).total_cmp(&cost(y)))
                .expect("a range")
        })
        .collect()
}

/// Whether some same-sign row pair of a `[K, N]` weight passes 128 at the full range.
fn saturates_at_full_range(w: &Weight, per_channel: bool) -> bool {
    let columns = if per_channel { w.dims[1] as usize } else { 1 };
    let q = quantize(w, 1, per_channel, true, &vec![127.0; columns]);
    let (k, n) = (w.dims[0] as usize, w.dims[1] as usize);
    let mut probe = q.signed_q;
    cap_pairs(&mut probe, k, n) > 0
}

/// An order of the K rows of a `[K, N]` weight in which no same-sign adjacent pair (rows 0+1,
/// 2+3, ...) passes 128 at the full range (127, per tensor or per channel), for weights whose
/// rows as they stand would have pairs capped or a narrower range (see `signed_range`). Greedy: the
/// rows with the most large values (over 64, the only ones that can overflow a pair) pick first,
/// each taking the least constrained row it is compatible with. `None` when that finds no
/// complete pairing (per-channel weights often have none) or takes too long.
fn saturation_free_order(w: &Weight, per_channel: bool) -> Option<Vec<usize>> {
    let (k, n) = (w.dims[0] as usize, w.dims[1] as usize);
    let columns = if per_channel { n } else { 1 };
    let mut max_abs = vec![0f32; columns];
    for (i, v) in w.data.iter().enumerate() {
        if v.is_finite() {
            let c = if per_channel { i % n } else { 0 };
            max_abs[c] = max_abs[c].max(v.abs());
        }
    }
    let q = |r: usize, j: usize| -> i32 {
        let v = w.data[r * n + j];
        let m = max_abs[if per_channel { j } else { 0 }];
        if v.is_finite() && m > 0.0 {
            (v / m * 127.0).round() as i32
        } else {
            0
        }
    };
    let large: Vec<Vec<(usize, i32)>> = (0..k)
        .map(|r| {
            (0..n)
                .map(|j| (j, q(r, j)))
                .filter(|(_, v)| v.abs() > 64)
                .collect()
        })
        .collect();
    let clash = |a: i32, b: i32| (a > 0) == (b > 0) && a != 0 && b != 0 && a.abs() + b.abs() > 128;
    let compatible = |r: usize, s: usize| {
        !large[r].iter().any(|&(j, a)| clash(a, q(s, j)))
            && !large[s].iter().any(|&(j, b)| clash(q(r, j), b))
    };
    let mut rows: Vec<usize> = (0..k).collect();
    rows.sort_by_key(|&r| std::cmp::Reverse(large[r].len()));
    let mut order = Vec::with_capacity(k);
    let mut alone = None;
    // Each test reads the large values of two rows; this bounds the search to a few passes
    // over the weight (weights with many large values rarely pair anyway).
    let mut budget = 16 * w.len();
    while !rows.is_empty() {
        let r = rows.remove(0);
        let mut partner = None;
        for (i, &s) in rows.iter().enumerate().rev() {
            budget = budget.checked_sub(1 + large[r].len() + large[s].len())?;
            if compatible(r, s) {
                partner = Some(i);
                break;
            }
        }
        match partner {
            Some(i) => order.extend([r, rows.remove(i)]),
            // An odd K leaves one row alone at the end, where it has no partner.
            None if k % 2 == 1 && alone.is_none() => alone = Some(r),
            None => return None,
        }
    }
    order.extend(alone);
    Some(order)
}

/// Reorders hidden units wherever that lets the next MatMul/Gemm keep its full weight range:
/// the producer's output units (its weight columns, bias, and what follows through activations)
/// and the consumer's weight rows move alike, which leaves the function unchanged, into an
/// order whose row pairs cannot saturate (`saturation_free_order`). Free at run time, unlike
/// gathering the activation (ONNX Runtime's Gather on the last axis took as long as the
/// quantized MatMul here). Main graph only; returns consumer -> producer for the coverage.
fn pair_rows(
    g: &mut pb::GraphProto,
    names: &mut Names,
    o: &Int8Options,
    cov: &mut Coverage,
) -> HashMap<String, String> {
    let mut chains = Chains::of(g);
    let mut done = HashMap::new();
    for p in 0..g.node.len() {
        let n = &g.node[p];
        if !is_weight_layer(n) {
            continue;
        }
        let Ok(chain) = chains.find(g, p) else {
            continue;
        };
        let consumer = &g.node[chain.consumer];
        let last = chain.cuts.last().expect("a chain ends at its consumer");
        if last.block != 1
            || !matches!(consumer.op_type.as_str(), "MatMul" | "Gemm")
            || o.exclude.contains(&node_id(consumer))
        {
            continue;
        }
        let Some(w) = chains.weight(g, last) else {
            continue;
        };
        // Gemm with transB holds the weight as [N, K].
        let w = if last.axis == 1 {
            transpose2(w)
        } else {
            w.clone()
        };
        if !saturates_at_full_range(&w, o.per_channel) {
            continue;
        }
        let Some(order) = saturation_free_order(&w, o.per_channel) else {
            continue;
        };
        chains.cut(g, names, &chain, &order, "reordered");
        done.insert(node_id(&g.node[chain.consumer]), node_id(&g.node[p]));
        // The producer's output now holds its units in this order: channels for Conv
        // ([N, C, ...]), the last axis for MatMul/Gemm.
        let producer = &g.node[p];
        cov.reordered.push(Reordered {
            tensor: producer.output[0].clone(),
            axis: if producer.op_type == "Conv" { 1 } else { -1 },
            order,
        });
    }
    done
}

/// Conv weights (QDQ form only) keep the plain 7-bit range.
const CONV_QMAX: f32 = 63.0;

/// Where new constants go: initializers at the top level, `Constant` nodes in subgraphs
/// (both engines accept those everywhere).
struct Emit<'a> {
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    top: bool,
    names: &'a mut Names,
}

impl Emit<'_> {
    fn constant(&mut self, t: pb::TensorProto) -> String {
        let name = t.name.clone();
        if self.top {
            self.inits.push(t);
        } else {
            self.nodes.push(constant_node(t));
        }
        name
    }

    fn fresh(&mut self, base: &str) -> String {
        self.names.fresh(base)
    }

    /// Appends a node named after `base` and its op.
    fn push(
        &mut self,
        op: &str,
        base: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
    ) {
        let name = self.fresh(&format!("{base}_{op}"));
        self.nodes.push(node(op, &name, inputs, outputs, attrs));
    }

    /// Operator form: `op` (MatMulInteger, ConvInteger) on the quantized activation and
    /// weight, Cast to float, times activation scale x weight scale, into `out`.
    fn integer_op(
        &mut self,
        id: &str,
        op: &str,
        x: &[String; 3],
        w: &[String; 3],
        attrs: Vec<pb::AttributeProto>,
        out: &str,
    ) {
        let (i32_out, f_out, s) = (
            self.fresh(&format!("{id}_int32")),
            self.fresh(&format!("{id}_float")),
            self.fresh(&format!("{id}_output_scale")),
        );
        self.push(op, id, &[&x[0], &w[0], &x[2], &w[2]], &[&i32_out], attrs);
        self.push(
            "Cast",
            id,
            &[&i32_out],
            &[&f_out],
            vec![attr_int("to", FLOAT as i64)],
        );
        self.push(
            "Mul",
            &format!("{id}_scale"),
            &[&x[1], &w[1]],
            &[&s],
            vec![],
        );
        self.push("Mul", id, &[&f_out, &s], &[out], vec![]);
    }

    /// QDQ form: the activation and the weight dequantized back to float (the weight along
    /// `axis` when it has one scale per channel).
    fn dequantize_both(
        &mut self,
        id: &str,
        x: &str,
        xq: &[String; 3],
        wq: &[String; 3],
        axis: i64,
    ) -> (String, String) {
        let (xd, wd) = (
            self.fresh(&format!("{x}_dequantized")),
            self.fresh(&format!("{id}_weight_dequantized")),
        );
        self.push(
            "DequantizeLinear",
            x,
            &[&xq[0], &xq[1], &xq[2]],
            &[&xd],
            vec![],
        );
        self.push(
            "DequantizeLinear",
            &format!("{id}_weight"),
            &[&wq[0], &wq[1], &wq[2]],
            &[&wd],
            vec![attr_int("axis", axis)],
        );
        (xd, wd)
    }
}

/// What the activation of one tensor quantizes to, shared by every consumer in a graph.
type ActCache = HashMap<String, [String; 3]>;

fn quantize_activation(e: &mut Emit, cache: &mut ActCache, x: &str) -> [String; 3] {
    if let Some(q) = cache.get(x) {
        return q.clone();
    }
    let q = [
        e.fresh(&format!("{x}_quantized")),
        e.fresh(&format!("{x}_scale")),
        e.fresh(&format!("{x}_zero_point")),
    ];
    e.push(
        "DynamicQuantizeLinear",
        x,
        &[x],
        &[&q[0], &q[1], &q[2]],
        vec![],
    );
    cache.insert(x.to_string(), q.clone());
    q
}

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
            if attr_i(n, "group", 1) != 1 {
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

/// Dynamic int8 quantization of `m` (every graph, subgraphs included).
pub fn dynamic(m: &mut pb::ModelProto, o: &Int8Options, cov: &mut Coverage) -> Result<()> {
    let opset = default_opset(m);
    if opset < 11 {
        bail!("int8 needs ONNX opset 11 or later (DynamicQuantizeLinear); this model uses opset {opset}");
    }
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

#[cfg(test)]
mod tests {
    use super::super::prune::slice_units;
    use super::*;

    #[test]
    fn per_channel_quantization_keeps_each_column_within_half_a_step() {
        let w = Weight {
            dims: vec![3, 2],
            data: vec![1.0, 100.0, -0.5, -50.0, 0.25, 3.0],
        };
        for signed in [true, false] {
            let q = quantize(&w, 1, true, signed, &[127.0]);
            assert_eq!(q.scales.len(), 2);
            for (i, &v) in w.data.iter().enumerate() {
                let c = i % 2;
                let qv = if signed {
                    q.signed_q[i] as f32
                } else {
                    q.unsigned_q[i] as f32
                };
                let back = (qv - q.zero_points[c] as f32) * q.scales[c];
                assert!(
                    (back - v).abs() <= q.scales[c] * 0.5 + 1e-6,
                    "{v} -> {back}"
                );
            }
            // The small column gets its own, finer step.
            assert!(q.scales[0] < q.scales[1] / 50.0);
        }
    }

    /// Every adjacent row pair (0+1, 2+3, ...) of a quantized `[K, N]` weight sums within 128.
    fn assert_no_pair_saturates(q: &Quantized, dims: &[i64]) {
        let (k, n) = (dims[0] as usize, dims[1] as usize);
        for r in (0..k - 1).step_by(2) {
            for j in 0..n {
                let (a, b) = (
                    q.signed_q[r * n + j] as i32,
                    q.signed_q[(r + 1) * n + j] as i32,
                );
                assert!(
                    (a + b).abs() <= 128,
                    "rows {r}+{}, column {j}: {a} + {b}",
                    r + 1
                );
            }
        }
    }

    /// After capping, no same-sign adjacent pair passes 128 (where ONNX Runtime's 16-bit pair
    /// sums saturate). A lone large pair is capped at the full range; when many pairs are large
    /// the range narrows instead; pairs of opposite signs need neither.
    #[test]
    fn signed_weights_are_capped_or_narrowed_so_that_no_pair_saturates() {
        let quantized = |w: &Weight, per_channel: bool| {
            let mut q = quantize(w, 1, per_channel, true, &signed_range(w, per_channel));
            let capped = cap_pairs(&mut q.signed_q, w.dims[0] as usize, w.dims[1] as usize);
            assert_no_pair_saturates(&q, &w.dims);
            (q, capped)
        };
        // Among many small weights, one same-sign pair a little over 128 (76 + 70 at the full
        // range): capping those two costs less than a coarser step for all 20,000.
        let mut data: Vec<f32> = (0..20_000)
            .map(|i| ((i as f32) * 0.37).sin() * 0.3)
            .collect();
        (data[0], data[1], data[2], data[3]) = (0.6, 0.55, 1.0, -0.9);
        let lone = Weight {
            dims: vec![20_000, 1],
            data,
        };
        assert_eq!(signed_range(&lone, false), vec![127.0]);
        let (q, capped) = quantized(&lone, false);
        assert_eq!(capped, 1);
        assert_eq!(
            (q.signed_q[0], q.signed_q[1]),
            (67, 61),
            "the excess of 18 split"
        );
        // The same pair far over 128 (127 + 121) is cheaper to avoid by narrowing.
        let mut far = lone.data.clone();
        (far[0], far[1]) = (1.0, 0.95);
        let far = Weight {
            dims: vec![20_000, 1],
            data: far,
        };
        assert!(signed_range(&far, false)[0] < 80.0);
        quantized(&far, false);
        // Every pair large and of one sign: narrowing is cheaper than capping them all.
        let crowded = Weight {
            dims: vec![8, 2],
            data: vec![
                1.0, -0.9, 0.9, -0.95, 0.95, -1.0, 0.85, -0.9, 0.9, -0.85, 0.95, -0.9, 0.8, -0.95,
                0.9, -0.8,
            ],
        };
        for per_channel in [false, true] {
            let range = signed_range(&crowded, per_channel);
            assert!(range.iter().all(|&m| m < 80.0), "{range:?}");
            quantized(&crowded, per_channel);
        }
        // Opposite signs within a pair (rows 0+1, 2+3) cannot overflow with uint8 activations,
        // and rows 1 and 2, of one sign, never meet in a pair: full range, nothing capped.
        let opposite = Weight {
            dims: vec![4, 1],
            data: vec![1.0, -0.95, -1.0, 0.9],
        };
        assert_eq!(signed_range(&opposite, false), vec![127.0]);
        assert_eq!(quantized(&opposite, false).1, 0);
        assert!(!saturates_at_full_range(&opposite, false));
    }

    /// Rows whose pairs would saturate at the full range are reordered so that none does, and
    /// the order is a permutation; an odd row out goes last; impossible pairings give `None`.
    #[test]
    fn reordered_rows_pair_without_saturating_at_the_full_range() {
        // Rows 0 and 1 are both large and positive in column 0; rows 2 and 3 both large and
        // negative in column 1. Crossing them (0 with 2, 1 with 3) is safe.
        let w = Weight {
            dims: vec![5, 2],
            data: vec![1.0, 0.1, 0.9, 0.2, -0.1, -1.0, 0.05, -0.8, 0.3, 0.3],
        };
        assert!(saturates_at_full_range(&w, false));
        let order = saturation_free_order(&w, false).unwrap();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        let p = slice_units(&w, 0, &order, 1);
        assert!(!saturates_at_full_range(&p, false));
        assert_no_pair_saturates(&quantize(&p, 1, false, true, &[127.0]), &p.dims);
        // Every row large and positive in one column: no pairing exists.
        let hopeless = Weight {
            dims: vec![4, 1],
            data: vec![1.0, 0.9, 0.95, 0.85],
        };
        assert_eq!(saturation_free_order(&hopeless, false), None);
    }
}
