//! A variant's profile against the original's: op type by op type, and layer by layer. A
//! layer is a node of the original graph that does the arithmetic (Conv, MatMul, Gemm, ...)
//! with the bias, normalization and activation nodes after it that engines fuse into it; every
//! profiled node of either model is matched to a layer through its name (ONNX Runtime names a
//! fused node after the first node it fuses, `fused X` or `X/Fusion`; tract `X.part`; our
//! rewrites `X_Op`, and an activation's quantizer after the tensor it quantizes), so a
//! quantized MatMul maps to its quantizer, integer kernel and casts, and a pruned layer to its
//! smaller self. Every node lands in exactly one layer, so the layers' changes add up to the
//! change in operator time.

use super::OpProfile;
use crate::optimize::graph::visit;
use crate::optimize::node_id;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tract_onnx::pb;

/// Ops that start a layer: the ones that carry the weights and the arithmetic.
const HEADS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "ConvInteger",
    "QLinearConv",
    "MatMul",
    "MatMulInteger",
    "QLinearMatMul",
    "Gemm",
    "Einsum",
    "LSTM",
    "GRU",
    "RNN",
    "Attention",
];

/// Ops an engine fuses into the layer before them.
const FOLLOWERS: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "BatchNormalization",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Elu",
    "Selu",
    "Gelu",
    "Softplus",
];

/// Kernels that mean the variant computes in int8.
const INT8_OPS: &[&str] = &[
    "MatMulInteger",
    "ConvInteger",
    "DynamicQuantizeMatMul",
    "DynamicQuantizeLinear",
    "MatMulIntegerToFloat",
    "QLinearConv",
    "QLinearMatMul",
    "QuantizeLinear",
    "DequantizeLinear",
];

/// Where the nodes no layer claims go (an engine's layout changes, say).
pub const OUTSIDE: &str = "(the engine's own nodes)";

/// The layers of a model's graph (subgraphs included) and the names that lead to them.
#[derive(Clone, Debug, Default)]
pub struct Layers {
    /// Node id -> its layer.
    nodes: HashMap<String, String>,
    /// Tensor -> the layer that consumes it (the first with arithmetic, else the first).
    tensors: HashMap<String, String>,
    /// Tensor -> the layer that produces it.
    produced: HashMap<String, String>,
    /// Layer -> its ops as the graph has them, `Conv+Relu`.
    labels: HashMap<String, String>,
}

impl Layers {
    pub fn of(model: &pb::ModelProto) -> Layers {
        let mut l = Layers::default();
        let Some(g) = &model.graph else {
            return l;
        };
        visit(g, &mut |g: &pb::GraphProto| {
            let mut consumers: HashMap<&str, usize> = HashMap::new();
            for n in &g.node {
                for i in n.input.iter().filter(|i| !i.is_empty()) {
                    *consumers.entry(i).or_default() += 1;
                }
            }
            let mut producer: HashMap<&str, String> = HashMap::new();
            for n in &g.node {
                let id = node_id(n);
                let joined = FOLLOWERS
                    .contains(&n.op_type.as_str())
                    .then(|| {
                        n.input.iter().find_map(|i| {
                            let layer = producer.get(i.as_str())?;
                            (consumers.get(i.as_str()) == Some(&1) && l.is_head(layer))
                                .then(|| layer.clone())
                        })
                    })
                    .flatten();
                let layer = joined.unwrap_or_else(|| id.clone());
                l.labels
                    .entry(layer.clone())
                    .and_modify(|lab| {
                        lab.push('+');
                        lab.push_str(&n.op_type)
                    })
                    .or_insert_with(|| n.op_type.clone());
                // A tensor leads to its first consumer with arithmetic, else its first.
                let head = HEADS.contains(&n.op_type.as_str());
                for i in n.input.iter().filter(|i| !i.is_empty()) {
                    let replace = match l.tensors.get(i) {
                        None => true,
                        Some(prev) => head && !l.is_head(prev),
                    };
                    if replace {
                        l.tensors.insert(i.clone(), layer.clone());
                    }
                }
                for o in &n.output {
                    producer.insert(o, layer.clone());
                    l.produced.insert(o.clone(), layer.clone());
                }
                l.nodes.insert(id, layer);
            }
        });
        l
    }

    /// The layer a profiled node belongs to, by its name.
    pub fn layer_of(&self, profiled: &str) -> Option<&str> {
        // ONNX Runtime's fusions: `fused X`, `X/MatMulAddFusion`; exporters put `/` and `:`
        // in names too (`model/Conv_0/Conv2D:0`), so every boundary is tried, longest first.
        let s = profiled.strip_prefix("fused ").unwrap_or(profiled);
        // An activation's quantizer is named after the tensor it quantizes; ONNX Runtime's
        // layout rewrites name a node after the tensor it produces (`r1_nchwc`).
        let tables = if s.ends_with("QuantizeLinear") {
            [&self.tensors, &self.nodes, &self.produced]
        } else {
            [&self.nodes, &self.produced, &self.tensors]
        };
        for table in tables {
            let mut best = None;
            for (i, c) in s.char_indices().chain(std::iter::once((s.len(), '_'))) {
                if i > 0 && matches!(c, '_' | '.' | '/' | ':') {
                    if let Some(layer) = table.get(&s[..i]) {
                        best = Some(layer.as_str());
                    }
                }
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }

    /// The layer a profiled node belongs to: through the graph first (the layer that
    /// produces a tensor it writes, as the engine's optimized graph says), then by its name,
    /// then through what it reads (the layer that consumes its input).
    pub fn layer_of_node(&self, n: &super::NodeTime) -> Option<&str> {
        n.output_tensors
            .iter()
            .find_map(|t| self.produced.get(t))
            .map(String::as_str)
            .or_else(|| self.layer_of(&n.name))
            .or_else(|| {
                n.input_tensors
                    .iter()
                    .find_map(|t| self.tensors.get(t))
                    .map(String::as_str)
            })
    }

    /// Whether `layer` starts with a node that does the arithmetic.
    fn is_head(&self, layer: &str) -> bool {
        self.labels
            .get(layer)
            .is_some_and(|lab| HEADS.iter().any(|h| lab.split('+').next() == Some(h)))
    }

    pub fn label(&self, layer: &str) -> Option<&str> {
        self.labels.get(layer).map(String::as_str)
    }
}

/// One op type in a variant against the original: its nodes and time per request in each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpDelta {
    pub op: String,
    pub nodes_before: usize,
    pub nodes_after: usize,
    pub us_before: f64,
    pub us_after: f64,
}

impl OpDelta {
    pub fn delta_us(&self) -> f64 {
        self.us_after - self.us_before
    }
}

/// A profiled node, as a layer of the diff lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRef {
    pub name: String,
    pub op: String,
    /// Median time per request, microseconds.
    pub us: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flops: Option<f64>,
}

/// One layer of the original graph: the nodes the engine ran for it in the original and in
/// the variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerDelta {
    pub layer: String,
    /// Its ops in the original graph, `Conv+Relu` (empty for [`OUTSIDE`]).
    pub ops: String,
    pub before: Vec<NodeRef>,
    pub after: Vec<NodeRef>,
}

impl LayerDelta {
    pub fn us_before(&self) -> f64 {
        self.before.iter().map(|n| n.us).sum::<f64>() + 0.0
    }
    pub fn us_after(&self) -> f64 {
        self.after.iter().map(|n| n.us).sum::<f64>() + 0.0
    }
    pub fn delta_us(&self) -> f64 {
        self.us_after() - self.us_before()
    }
    /// `layer (Conv+Relu)`, the layer's name shortened to its end.
    pub fn title(&self) -> String {
        let name = super::short_name(&self.layer, 48);
        if self.ops.is_empty() {
            name
        } else {
            format!("{name} ({})", self.ops)
        }
    }

    /// Whether the rewrite changed the layer: other ops or other arithmetic. The time of an
    /// unchanged layer moves only with run-to-run variation.
    pub fn changed(&self) -> bool {
        !self.same_ops() || LayerDelta::flops(&self.before) != LayerDelta::flops(&self.after)
    }

    /// Whether both sides run the same op types (a pruned layer; not a quantized one, whose
    /// integer kernels have no FLOP count to compare).
    fn same_ops(&self) -> bool {
        fn ops(side: &[NodeRef]) -> Vec<&str> {
            let mut v: Vec<&str> = side.iter().map(|n| n.op.as_str()).collect();
            v.sort_unstable();
            v
        }
        ops(&self.before) == ops(&self.after)
    }

    fn flops(side: &[NodeRef]) -> Option<f64> {
        let f: Vec<f64> = side.iter().filter_map(|n| n.flops).collect();
        (!f.is_empty()).then(|| f.iter().sum())
    }
}

/// A variant's profile against the original's: what the rewrite added, removed and changed,
/// in time per request, by op type and by layer, and the likely reasons. The deltas add up
/// to the change in operator time; the change in the engine's own work is apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileDiff {
    pub variant: String,
    pub ops: Vec<OpDelta>,
    /// Largest change first.
    #[serde(default)]
    pub layers: Vec<LayerDelta>,
    /// Why the variant is slower or faster, as this machine and these nodes show it.
    #[serde(default)]
    pub reasons: Vec<String>,
    pub operators_before_us: f64,
    pub operators_after_us: f64,
    pub request_before_us: f64,
    pub request_after_us: f64,
    /// Nodes per request in each.
    #[serde(default)]
    pub nodes_before: usize,
    #[serde(default)]
    pub nodes_after: usize,
    /// Share of the original's and of the variant's operator time in nodes that match no
    /// layer of the graph ([`OUTSIDE`]).
    #[serde(default)]
    pub unmatched_share: [f64; 2],
}

/// Above this share of either side's operator time matching no layer, a diff by layer is
/// not shown: it would not be one.
pub const MAX_UNMATCHED: f64 = 0.2;

/// `after` (the variant `variant`) against `before` (the original, whose graph gave
/// `layers`), largest change first; `isa` is this CPU's extensions
/// ([`crate::environment::cpu_isa`]).
pub fn diff(
    before: &OpProfile,
    after: &OpProfile,
    variant: &str,
    layers: &Layers,
    isa: &[String],
) -> ProfileDiff {
    let mut ops: BTreeMap<&str, OpDelta> = BTreeMap::new();
    for (o, after_side) in before
        .by_op
        .iter()
        .map(|o| (o, false))
        .chain(after.by_op.iter().map(|o| (o, true)))
    {
        let d = ops.entry(&o.op).or_insert_with(|| OpDelta {
            op: o.op.clone(),
            nodes_before: 0,
            nodes_after: 0,
            us_before: 0.0,
            us_after: 0.0,
        });
        if after_side {
            d.nodes_after += o.nodes;
            d.us_after += o.us;
        } else {
            d.nodes_before += o.nodes;
            d.us_before += o.us;
        }
    }
    let mut ops: Vec<OpDelta> = ops.into_values().collect();
    ops.sort_by(|a, b| b.delta_us().abs().total_cmp(&a.delta_us().abs()));

    let mut by_layer: BTreeMap<String, LayerDelta> = BTreeMap::new();
    for (p, after_side) in [(before, false), (after, true)] {
        for n in &p.nodes {
            let layer = layers.layer_of_node(n).unwrap_or(OUTSIDE).to_string();
            let d = by_layer.entry(layer.clone()).or_insert_with(|| LayerDelta {
                ops: layers.label(&layer).unwrap_or_default().to_string(),
                layer,
                before: Vec::new(),
                after: Vec::new(),
            });
            let r = NodeRef {
                name: n.name.clone(),
                op: n.op.clone(),
                us: n.median_us,
                flops: n.work.flops,
            };
            if after_side {
                d.after.push(r)
            } else {
                d.before.push(r)
            }
        }
    }
    let mut layers: Vec<LayerDelta> = by_layer.into_values().collect();
    layers.sort_by(|a, b| b.delta_us().abs().total_cmp(&a.delta_us().abs()));
    let mut d = ProfileDiff {
        variant: variant.to_string(),
        ops,
        layers,
        reasons: Vec::new(),
        operators_before_us: before.operators_us,
        operators_after_us: after.operators_us,
        request_before_us: before.request_us,
        request_after_us: after.request_us,
        nodes_before: before.nodes.len(),
        nodes_after: after.nodes.len(),
        unmatched_share: [0.0; 2],
    };
    if let Some(o) = d.layers.iter().find(|l| l.layer == OUTSIDE) {
        let share = |us: f64, total: f64| if total > 0.0 { us / total } else { 0.0 };
        let total = |side: &[NodeRef]| side.iter().map(|n| n.us).sum::<f64>();
        let all_before: f64 = d.layers.iter().map(|l| total(&l.before)).sum();
        let all_after: f64 = d.layers.iter().map(|l| total(&l.after)).sum();
        d.unmatched_share = [
            share(o.us_before(), all_before),
            share(o.us_after(), all_after),
        ];
    }
    d.reasons = reasons(&d, isa);
    d
}

fn ms(us: f64) -> String {
    crate::format::ms(us / 1e3)
}

fn signed_ms(us: f64) -> String {
    format!("{}{}", if us >= 0.0 { "+" } else { "-" }, ms(us.abs()))
}

/// The integer-dot-product extension of this CPU, if it has one.
fn int8_dot(isa: &[String]) -> Option<&str> {
    ["AVX-512-VNNI", "AVX-VNNI", "I8MM", "DOTPROD"]
        .into_iter()
        .find(|x| isa.iter().any(|i| i == x))
}

/// Why the variant is slower or faster, from its nodes and this CPU.
fn reasons(d: &ProfileDiff, isa: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let all_after = || d.layers.iter().flat_map(|l| l.after.iter());
    let int8 = all_after().any(|n| INT8_OPS.contains(&n.op.as_str()));
    let slower = d.request_after_us > d.request_before_us * 1.05;
    let faster = d.request_after_us < d.request_before_us / 1.05;
    if int8 && slower {
        let conv: Vec<&LayerDelta> = d
            .layers
            .iter()
            .filter(|l| l.after.iter().any(|n| n.op == "ConvInteger"))
            .collect();
        if !conv.is_empty() {
            let (b, a): (f64, f64) = (
                conv.iter().map(|l| l.us_before()).sum(),
                conv.iter().map(|l| l.us_after()).sum(),
            );
            out.push(format!(
                "Conv through ConvInteger: the {} convolution layer(s) take {} in int8 against {} in float; ONNX Runtime has no fast CPU kernel for ConvInteger (static int8, QLinearConv, is the fast path for convolutions)",
                conv.len(),
                ms(a),
                ms(b)
            ));
        }
        let dql: Vec<&NodeRef> = all_after()
            .filter(|n| n.op == "DynamicQuantizeLinear")
            .collect();
        if !dql.is_empty() {
            out.push(format!(
                "activations quantized at run time: {} DynamicQuantizeLinear node(s) add {}",
                dql.len(),
                ms(dql.iter().map(|n| n.us).sum())
            ));
        }
        let quantized: Vec<&LayerDelta> = d
            .layers
            .iter()
            .filter(|l| l.after.iter().any(|n| INT8_OPS.contains(&n.op.as_str())))
            .collect();
        let largest = quantized
            .iter()
            .filter_map(|l| LayerDelta::flops(&l.before))
            .fold(None::<f64>, |m, f| Some(m.map_or(f, |m| m.max(f))));
        if let Some(f) = largest.filter(|&f| f < 2e6) {
            out.push(format!(
                "small matrices: the largest quantized layer does {:.2} MFLOP per request, too little for faster arithmetic to pay for the extra nodes",
                f / 1e6
            ));
        }
        // Activations and biases that ran fused into the float layer and now run alone.
        let mut unfused: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
        for l in &quantized {
            for op in FOLLOWERS {
                let count = |side: &[NodeRef]| side.iter().filter(|n| n.op == *op).count();
                let (b, a) = (count(&l.before), count(&l.after));
                if a > b && l.ops.split('+').skip(1).any(|o| o == *op) {
                    let e = unfused.entry(op).or_default();
                    e.0 += a - b;
                    e.1 += l
                        .after
                        .iter()
                        .filter(|n| n.op == *op)
                        .map(|n| n.us)
                        .sum::<f64>();
                }
            }
        }
        if !unfused.is_empty() {
            let n: usize = unfused.values().map(|v| v.0).sum();
            let t: f64 = unfused.values().map(|v| v.1).sum();
            out.push(format!(
                "fusions lost: {} ({} node(s)) ran fused into the float layers and now run on their own, {}",
                unfused.keys().copied().collect::<Vec<_>>().join(", "),
                n,
                ms(t)
            ));
        }
        match int8_dot(isa) {
            Some(x) => out.push(format!(
                "this CPU has {x}, so the integer arithmetic itself is not what is slow"
            )),
            None => out.push(
                "this CPU has no int8 dot-product instructions (VNNI): ONNX Runtime multiplies u8 x s8 in 16-bit pair sums, which saturate and gain little over float"
                    .to_string(),
            ),
        }
    }
    let own =
        (d.request_after_us - d.operators_after_us) - (d.request_before_us - d.operators_before_us);
    if slower && d.nodes_after > d.nodes_before && own > 0.0 {
        out.push(format!(
            "{} more node(s) per request ({} -> {}): the engine's own work (scheduling, allocation) {}",
            d.nodes_after - d.nodes_before,
            d.nodes_before,
            d.nodes_after,
            signed_ms(own)
        ));
    }
    if faster {
        let mut quicker: Vec<&LayerDelta> = d
            .layers
            .iter()
            .filter(|l| l.delta_us() < 0.0 && l.layer != OUTSIDE && l.changed())
            .collect();
        quicker.sort_by(|a, b| a.delta_us().total_cmp(&b.delta_us()));
        for l in quicker.into_iter().take(3) {
            let work = match (LayerDelta::flops(&l.before), LayerDelta::flops(&l.after)) {
                (Some(b), Some(a)) if a < b * 0.95 && l.same_ops() => {
                    format!(", its arithmetic {:.2} -> {:.2} MFLOP", b / 1e6, a / 1e6)
                }
                _ => String::new(),
            };
            out.push(format!(
                "{} ({}) {} -> {}{}",
                l.layer,
                l.ops,
                ms(l.us_before()),
                ms(l.us_after()),
                work
            ));
        }
    }
    out
}

impl ProfileDiff {
    /// The layers worth showing: the largest changes, down to half a percent of the operator
    /// time, at most `top`.
    pub fn shown_layers(&self, top: usize) -> impl Iterator<Item = &LayerDelta> {
        let floor = 0.005 * self.operators_before_us.max(self.operators_after_us);
        self.layers
            .iter()
            .filter(move |l| l.delta_us().abs() > floor)
            .take(top)
    }

    /// One side of a layer as a line: `ConvInteger 0.007 ms, Mul 2 x 0.004 ms`.
    pub fn side(nodes: &[NodeRef]) -> String {
        if nodes.is_empty() {
            return "-".into();
        }
        let mut by: Vec<(&str, usize, f64)> = Vec::new();
        for n in nodes {
            match by.iter_mut().find(|b| b.0 == n.op) {
                Some(b) => {
                    b.1 += 1;
                    b.2 += n.us
                }
                None => by.push((&n.op, 1, n.us)),
            }
        }
        by.sort_by(|a, b| b.2.total_cmp(&a.2));
        by.iter()
            .map(|(op, k, us)| {
                if *k == 1 {
                    format!("{op} {}", ms(*us))
                } else {
                    format!("{op} {k} x {}", ms(us / *k as f64))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The op types that changed: a header and a line each.
    pub fn ops_table(&self) -> (String, Vec<String>) {
        let header = format!(
            "{:<28} {:>13} {:>13} {:>12}",
            "op type", "original", "variant", "change"
        );
        let rows = self
            .ops
            .iter()
            .filter(|d| d.delta_us().abs() > 0.0)
            .map(|d| {
                let side = |n: usize, us: f64| {
                    if n == 0 {
                        "-".to_string()
                    } else {
                        format!("{n} x {}", ms(us / n as f64))
                    }
                };
                format!(
                    "{:<28} {:>13} {:>13} {:>12}  {}",
                    d.op,
                    side(d.nodes_before, d.us_before),
                    side(d.nodes_after, d.us_after),
                    signed_ms(d.delta_us()),
                    match (d.nodes_before, d.nodes_after) {
                        (0, n) => format!("added: the {n} node(s) add {}", ms(d.us_after)),
                        (n, 0) => format!("removed: the {n} node(s) took {}", ms(d.us_before)),
                        _ if d.delta_us() < 0.0 => format!("faster by {}", ms(-d.delta_us())),
                        _ => format!("slower by {}", ms(d.delta_us())),
                    }
                )
            })
            .collect();
        (header, rows)
    }

    /// The layers that changed most, three lines each (the change, then the nodes on each
    /// side), and a line for the rest.
    pub fn layers_table(&self, top: usize) -> Vec<String> {
        if !self.layers_matched() {
            return vec![self.unmatched_note()];
        }
        let shown: Vec<&LayerDelta> = self.shown_layers(top).collect();
        let mut out = Vec::new();
        for l in &shown {
            out.push(format!(
                "{:<40} {:>11}  ({} -> {}){}",
                l.title(),
                signed_ms(l.delta_us()),
                ms(l.us_before()),
                ms(l.us_after()),
                if l.changed() {
                    ""
                } else {
                    "  same nodes: run-to-run variation"
                }
            ));
            out.push(format!("    original: {}", Self::side(&l.before)));
            out.push(format!("    variant:  {}", Self::side(&l.after)));
        }
        let rest: Vec<&LayerDelta> = self.layers.iter().skip(shown.len()).collect();
        if !rest.is_empty() {
            out.push(format!(
                "{} other layer(s): {} in all",
                rest.len(),
                signed_ms(rest.iter().map(|l| l.delta_us()).sum())
            ));
        }
        out
    }

    /// Whether the profiled nodes matched the graph's layers well enough for a diff by layer
    /// ([`MAX_UNMATCHED`]).
    pub fn layers_matched(&self) -> bool {
        self.unmatched_share.iter().all(|&s| s <= MAX_UNMATCHED)
    }

    /// Why no diff by layer is shown.
    pub fn unmatched_note(&self) -> String {
        format!(
            "by layer: not shown, since {:.0}% of the original's operator time and {:.0}% of the variant's is in nodes that match no layer of the graph (the engine named them after nothing the graph has), so a diff by layer would not be one; the op types above add up",
            self.unmatched_share[0] * 100.0,
            self.unmatched_share[1] * 100.0
        )
    }

    /// The totals in a line: operators, the engine's own work, a request.
    pub fn totals(&self) -> String {
        let ops = self.operators_after_us - self.operators_before_us;
        let own = (self.request_after_us - self.operators_after_us)
            - (self.request_before_us - self.operators_before_us);
        format!(
            "operators {} -> {} ({}); the engine's own work {}; a request {} -> {}",
            ms(self.operators_before_us),
            ms(self.operators_after_us),
            signed_ms(ops),
            signed_ms(own),
            ms(self.request_before_us),
            ms(self.request_after_us)
        )
    }

    /// `why it is slower:` or `why it is faster:`.
    pub fn why(&self) -> &'static str {
        if self.request_after_us > self.request_before_us {
            "why it is slower:"
        } else {
            "why it is faster:"
        }
    }

    /// The diff as the terminal shows it: a line per op type that changed, the layers that
    /// changed most with their nodes on each side, the totals and the reasons.
    pub fn text(&self) -> String {
        let (header, rows) = self.ops_table();
        let mut out = format!(
            "\n{} against the original, per request (median over the profiled requests):\n{header}\n",
            self.variant
        );
        for r in rows {
            out += &format!("{r}\n");
        }
        let layers = self.layers_table(12);
        if !layers.is_empty() {
            out += "\nby layer of the original graph (what each became, node by node):\n";
            for r in layers {
                out += &format!("{r}\n");
            }
        }
        out += &format!("{}\n", self.totals());
        if !self.reasons.is_empty() {
            out += &format!("{}\n", self.why());
            for r in &self.reasons {
                out += &format!("  - {r}\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{roofline::Work, NodeTime, OpTypeTime};

    fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> pb::NodeProto {
        pb::NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Conv -> Relu -> MaxPool -> Conv -> Relu -> Flatten -> MatMul -> Add (the CNN asset's
    /// shape), named as ONNX Runtime names its nodes in float and after our int8 rewrite.
    fn graph() -> pb::ModelProto {
        pb::ModelProto {
            graph: Some(pb::GraphProto {
                node: vec![
                    node("conv1", "Conv", &["x", "w1"], &["c1"]),
                    node("r1", "Relu", &["c1"], &["r1"]),
                    node("pool", "MaxPool", &["r1"], &["p1"]),
                    node("conv2", "Conv", &["p1", "w2"], &["c2"]),
                    node("r2", "Relu", &["c2"], &["r2"]),
                    node("flat", "Flatten", &["r2"], &["f"]),
                    node("fc", "MatMul", &["f", "w3"], &["m"]),
                    node("bias", "Add", &["m", "b3"], &["y"]),
                    node(
                        "net/block_0/Conv2D",
                        "Conv",
                        &["y", "w4"],
                        &["net/block_0/Conv2D:0"],
                    ),
                ],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn prof(nodes: &[(&str, &str, f64)], request: f64) -> OpProfile {
        let nodes: Vec<NodeTime> = nodes
            .iter()
            .map(|&(name, op, us)| NodeTime {
                name: name.into(),
                op: op.into(),
                provider: String::new(),
                median_us: us,
                start_us: 0.0,
                thread: 0,
                inputs: String::new(),
                work: Work {
                    flops: (op == "Conv" || op == "FusedConv").then_some(50_000.0),
                    bytes: 1.0,
                },
                roofline: None,
                input_tensors: Vec::new(),
                output_tensors: Vec::new(),
            })
            .collect();
        let mut by: BTreeMap<String, (usize, f64)> = BTreeMap::new();
        for n in &nodes {
            let e = by.entry(n.op.clone()).or_default();
            e.0 += 1;
            e.1 += n.median_us;
        }
        OpProfile {
            engine: "x".into(),
            requests: 1,
            request_us: request,
            operators_us: nodes.iter().map(|n| n.median_us).sum(),
            nodes,
            by_op: by
                .into_iter()
                .map(|(op, (nodes, us))| OpTypeTime {
                    op,
                    nodes,
                    us,
                    share: 0.0,
                })
                .collect(),
            ceilings: None,
            cut: None,
        }
    }

    #[test]
    fn names_lead_to_layers_through_fusions_and_rewrites() {
        let l = Layers::of(&graph());
        assert_eq!(l.label("conv1"), Some("Conv+Relu"));
        assert_eq!(l.label("fc"), Some("MatMul+Add"));
        assert_eq!(l.label("flat"), Some("Flatten"));
        for (profiled, layer) in [
            ("conv1", "conv1"),
            ("r1", "conv1"),
            ("r2_nchwc", "conv2"),
            ("p1_nchwc", "pool"),
            ("fused fc/MatMulAddFusion", "fc"),
            ("conv2_ConvInteger", "conv2"),
            ("conv2_scale_Mul", "conv2"),
            ("p1_DynamicQuantizeLinear", "conv2"),
            ("f_DynamicQuantizeLinear", "fc"),
            ("fc.matmul", "fc"),
            ("flat", "flat"),
            ("net/block_0/Conv2D:0_nchwc", "net/block_0/Conv2D"),
            ("net/block_0/Conv2D/MatMulAddFusion", "net/block_0/Conv2D"),
        ] {
            assert_eq!(l.layer_of(profiled), Some(layer), "{profiled}");
        }
        assert_eq!(l.layer_of("conv12"), None, "a prefix only at a boundary");
        assert_eq!(l.layer_of("ReorderInput"), None);
    }

    #[test]
    fn an_int8_slowdown_is_explained_layer_by_layer_and_adds_up() {
        let before = prof(
            &[
                ("r1_nchwc", "Conv", 5.0),
                ("r2_nchwc", "Conv", 6.0),
                ("ReorderOutput", "ReorderOutput", 2.0),
                ("flat", "Flatten", 1.0),
                ("fused fc/MatMulAddFusion", "FusedGemm", 4.0),
            ],
            30.0,
        );
        let after = prof(
            &[
                ("x_DynamicQuantizeLinear", "DynamicQuantizeLinear", 3.0),
                ("conv1_ConvInteger", "ConvInteger", 9.0),
                ("conv1_Cast", "Cast", 2.0),
                ("conv1_Mul", "Mul", 2.0),
                ("r1", "Relu", 2.0),
                ("p1_DynamicQuantizeLinear", "DynamicQuantizeLinear", 3.0),
                ("conv2_ConvInteger", "ConvInteger", 11.0),
                ("conv2_Cast", "Cast", 2.0),
                ("conv2_Mul", "Mul", 2.0),
                ("r2", "Relu", 2.0),
                ("flat", "Flatten", 1.0),
                ("fc_MatMulInteger", "DynamicQuantizeMatMul", 4.0),
            ],
            80.0,
        );
        let d = diff(&before, &after, "int8:conv", &Layers::of(&graph()), &[]);
        let layers: f64 = d.layers.iter().map(|l| l.delta_us()).sum();
        let ops: f64 = d.ops.iter().map(|o| o.delta_us()).sum();
        let total = d.operators_after_us - d.operators_before_us;
        assert!((layers - total).abs() < 1e-9 && (ops - total).abs() < 1e-9);
        assert_eq!(d.layers[0].layer, "conv2", "the largest change first");
        assert_eq!(d.layers[0].us_before(), 6.0);
        assert_eq!(d.layers[0].us_after(), 20.0);
        let outside = d.layers.iter().find(|l| l.layer == OUTSIDE).unwrap();
        assert_eq!(outside.before[0].op, "ReorderOutput");
        let t = d.text();
        assert!(
            t.contains("conv2 (Conv+Relu)") && t.contains("+0.014 ms"),
            "{t}"
        );
        assert!(t.contains("ConvInteger 0.011 ms"), "{t}");
        assert!(t.contains("added: the 2 node(s) add 0.020 ms"), "{t}");
        assert!(t.contains("why it is slower"), "{t}");
        assert!(t.contains("Conv through ConvInteger: the 2 convolution layer(s) take 0.038 ms in int8 against 0.011 ms in float"), "{t}");
        assert!(
            t.contains("2 DynamicQuantizeLinear node(s) add 0.006 ms"),
            "{t}"
        );
        assert!(t.contains("small matrices"), "{t}");
        assert!(t.contains("fusions lost: Relu (2 node(s))"), "{t}");
        assert!(t.contains("no int8 dot-product instructions"), "{t}");
        let vnni = diff(
            &before,
            &after,
            "int8",
            &Layers::of(&graph()),
            &["AVX-512-VNNI".to_string()],
        );
        assert!(vnni
            .reasons
            .iter()
            .any(|r| r.contains("has AVX-512-VNNI, so the integer arithmetic itself is not")));
    }

    #[test]
    fn a_faster_variant_names_its_faster_layers_and_unchanged_ones_are_not_listed() {
        let before = prof(&[("conv1", "Conv", 50.0), ("flat", "Flatten", 1.0)], 60.0);
        let mut after = prof(&[("conv1", "Conv", 20.0), ("flat", "Flatten", 1.0)], 30.0);
        after.nodes[0].work.flops = Some(20_000.0);
        let d = diff(&before, &after, "prune", &Layers::of(&graph()), &[]);
        assert_eq!(
            d.reasons,
            vec!["conv1 (Conv+Relu) 0.050 ms -> 0.020 ms, its arithmetic 0.05 -> 0.02 MFLOP"]
        );
        let t = d.text();
        assert!(t.contains("why it is faster"), "{t}");
        assert!(!t.contains("flat"), "unchanged layers are not listed: {t}");
        // Quantized: the integer kernel has no FLOP count, so no arithmetic is compared (the
        // quantizer's element-wise FLOPs would read as the layer's).
        let mut after = prof(
            &[
                ("conv1_QLinearConv", "QLinearConv", 20.0),
                ("x_QuantizeLinear", "QuantizeLinear", 2.0),
                ("flat", "Flatten", 1.0),
            ],
            30.0,
        );
        after.nodes[1].work.flops = Some(64.0);
        let d = diff(&before, &after, "int8:static", &Layers::of(&graph()), &[]);
        assert_eq!(d.reasons, vec!["conv1 (Conv+Relu) 0.050 ms -> 0.022 ms"]);
    }

    /// A fused node named after nothing in the graph still lands in its layer through the
    /// tensors it writes (or, failing that, reads); when most of the time matches no layer,
    /// the diff says so instead of listing layers.
    #[test]
    fn nodes_match_layers_through_their_tensors_and_an_unmatched_diff_says_so() {
        let layers = Layers::of(&graph());
        let mut fused = prof(&[("FusedConv_122", "FusedConv", 40.0)], 45.0);
        fused.nodes[0].output_tensors = vec!["r1".into()];
        assert_eq!(layers.layer_of_node(&fused.nodes[0]), Some("conv1"));
        fused.nodes[0].output_tensors = vec!["r1_nchwc".into()];
        fused.nodes[0].input_tensors = vec!["p1".into()];
        assert_eq!(layers.layer_of_node(&fused.nodes[0]), Some("conv2"));

        let before = prof(&[("Conv_0", "Conv", 50.0), ("conv2", "Conv", 5.0)], 60.0);
        let after = prof(&[("Conv_0", "Conv", 45.0), ("conv2", "Conv", 5.0)], 55.0);
        let d = diff(&before, &after, "int8", &layers, &[]);
        assert!(!d.layers_matched(), "{:?}", d.unmatched_share);
        assert!((d.unmatched_share[0] - 50.0 / 55.0).abs() < 1e-9);
        let table = d.layers_table(12);
        assert_eq!(table.len(), 1);
        assert!(
            table[0].contains("not shown") && table[0].contains("91%"),
            "{table:?}"
        );
        let matched = diff(
            &prof(&[("conv1", "Conv", 50.0)], 55.0),
            &prof(&[("conv1", "Conv", 40.0)], 45.0),
            "int8",
            &layers,
            &[],
        );
        assert!(matched.layers_matched());
        assert!(!matched.layers_table(12)[0].contains("not shown"));
    }
}
