//! Small helpers over the ONNX protobuf: tensors in and out, constant lookup across scopes,
//! fresh names, dead-weight removal and a structural check of a rewritten graph.

use anyhow::{bail, Result};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

pub const FLOAT: i32 = DataType::Float as i32;
pub const FLOAT16: i32 = DataType::Float16 as i32;
pub const INT8: i32 = DataType::Int8 as i32;
pub const UINT8: i32 = DataType::Uint8 as i32;
pub const INT64: i32 = DataType::Int64 as i32;
pub const INT32: i32 = DataType::Int32 as i32;

/// A float32 constant: its dims and values.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    pub dims: Vec<i64>,
    pub data: Vec<f32>,
}

impl Weight {
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

pub fn is_default_domain(n: &pb::NodeProto) -> bool {
    n.domain.is_empty() || n.domain == "ai.onnx"
}

/// A MatMul, Gemm or Conv of the default domain: a layer with a weight, the unit that
/// quantization, pruning and per-layer drift work on.
pub fn is_weight_layer(n: &pb::NodeProto) -> bool {
    is_default_domain(n) && matches!(n.op_type.as_str(), "MatMul" | "Gemm" | "Conv")
}

/// The float32 values of a tensor, when it holds float32 data inline (not external).
pub fn tensor_f32(t: &pb::TensorProto) -> Option<Weight> {
    if t.data_type != FLOAT || !t.external_data.is_empty() {
        return None;
    }
    if t.dims.iter().any(|&d| d < 0) {
        return None;
    }
    let n = t.dims.iter().try_fold(1i64, |a, &d| a.checked_mul(d))?;
    let data: Vec<f32> = if !t.raw_data.is_empty() {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        t.float_data.clone()
    };
    (data.len() as i64 == n.max(0) || (t.dims.is_empty() && data.len() == 1)).then(|| Weight {
        dims: t.dims.clone(),
        data,
    })
}

fn raw_tensor(name: &str, dims: &[i64], data_type: i32, raw: Vec<u8>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        dims: dims.to_vec(),
        data_type,
        raw_data: raw,
        ..Default::default()
    }
}

/// A model of graph `g` in the default domain at `opset` (IR version 8).
pub fn model_of(g: pb::GraphProto, opset: i64) -> pb::ModelProto {
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(g),
        ..Default::default()
    }
}

pub fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> pb::TensorProto {
    raw_tensor(
        name,
        dims,
        FLOAT,
        data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

pub fn f16_tensor(name: &str, dims: &[i64], data: &[f32]) -> pb::TensorProto {
    raw_tensor(
        name,
        dims,
        FLOAT16,
        data.iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect(),
    )
}

pub fn i8_tensor(name: &str, dims: &[i64], data: &[i8]) -> pb::TensorProto {
    raw_tensor(name, dims, INT8, data.iter().map(|&v| v as u8).collect())
}

pub fn u8_tensor(name: &str, dims: &[i64], data: &[u8]) -> pb::TensorProto {
    raw_tensor(name, dims, UINT8, data.to_vec())
}

pub fn i32_tensor(name: &str, dims: &[i64], data: &[i32]) -> pb::TensorProto {
    raw_tensor(
        name,
        dims,
        INT32,
        data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

pub fn i64_tensor(name: &str, dims: &[i64], data: &[i64]) -> pb::TensorProto {
    raw_tensor(
        name,
        dims,
        INT64,
        data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

/// Bytes a tensor's values take.
pub fn tensor_bytes(t: &pb::TensorProto) -> u64 {
    if !t.raw_data.is_empty() {
        return t.raw_data.len() as u64;
    }
    (t.float_data.len() * 4
        + t.int32_data.len() * 4
        + t.int64_data.len() * 8
        + t.double_data.len() * 8
        + t.uint64_data.len() * 8) as u64
}

pub fn attr<'a>(n: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

pub fn attr_i(n: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map(|a| a.i).unwrap_or(default)
}

pub fn attr_f(n: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map(|a| a.f).unwrap_or(default)
}

pub fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attributes: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attributes,
        ..Default::default()
    }
}

/// A `Constant` node producing `t` (its name becomes the output name).
pub fn constant_node(t: pb::TensorProto) -> pb::NodeProto {
    let out = t.name.clone();
    pb::NodeProto {
        op_type: "Constant".into(),
        name: format!("{out}_const"),
        output: vec![out],
        attribute: vec![pb::AttributeProto {
            name: "value".into(),
            r#type: pb::attribute_proto::AttributeType::Tensor as i32,
            t: Some(t),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The tensor a default-domain `Constant` node holds in its `value` attribute.
pub fn constant_value(n: &pb::NodeProto) -> Option<&pb::TensorProto> {
    if n.op_type != "Constant" || !is_default_domain(n) {
        return None;
    }
    attr(n, "value").and_then(|a| a.t.as_ref())
}

pub fn constant_value_mut(n: &mut pb::NodeProto) -> Option<&mut pb::TensorProto> {
    if n.op_type != "Constant" || !is_default_domain(n) {
        return None;
    }
    n.attribute
        .iter_mut()
        .find(|a| a.name == "value")
        .and_then(|a| a.t.as_mut())
}

/// Constant tensors visible in a graph: its initializers and `Constant` node values, plus
/// those of enclosing graphs (a subgraph sees its parents' names).
#[derive(Clone, Default)]
pub struct Scope {
    tensors: HashMap<String, pb::TensorProto>,
}

impl Scope {
    /// `parent` extended with what `g` defines; names `g` computes shadow outer constants.
    pub fn child(parent: &Scope, g: &pb::GraphProto) -> Scope {
        let mut s = parent.clone();
        for i in &g.input {
            s.tensors.remove(&i.name);
        }
        for n in &g.node {
            for o in &n.output {
                s.tensors.remove(o);
            }
        }
        for t in &g.initializer {
            s.tensors.insert(t.name.clone(), t.clone());
        }
        for n in &g.node {
            if let (Some(t), Some(o)) = (constant_value(n), n.output.first()) {
                s.tensors.insert(o.clone(), t.clone());
            }
        }
        s
    }

    pub fn tensor(&self, name: &str) -> Option<&pb::TensorProto> {
        self.tensors.get(name)
    }

    pub fn weight(&self, name: &str) -> Option<Weight> {
        self.tensors.get(name).and_then(tensor_f32)
    }
}

/// Every name used anywhere in the model, so new names never collide.
pub struct Names(HashSet<String>);

impl Names {
    pub fn of(g: &pb::GraphProto) -> Names {
        let mut set = HashSet::new();
        visit(g, &mut |g| {
            for t in &g.initializer {
                set.insert(t.name.clone());
            }
            for v in g.input.iter().chain(&g.output).chain(&g.value_info) {
                set.insert(v.name.clone());
            }
            for n in &g.node {
                set.insert(n.name.clone());
                set.extend(n.input.iter().cloned());
                set.extend(n.output.iter().cloned());
            }
        });
        Names(set)
    }

    pub fn fresh(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "t" } else { base };
        let mut name = base.to_string();
        let mut i = 1;
        while self.0.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.0.insert(name.clone());
        name
    }
}

/// [`visit`], changing each graph.
pub fn visit_mut(g: &mut pb::GraphProto, f: &mut dyn FnMut(&mut pb::GraphProto)) {
    f(g);
    for n in &mut g.node {
        for a in &mut n.attribute {
            if let Some(sub) = &mut a.g {
                visit_mut(sub, f);
            }
            for sub in &mut a.graphs {
                visit_mut(sub, f);
            }
        }
    }
}

/// Calls `f` on `g` and on every subgraph held in node attributes.
pub fn visit(g: &pb::GraphProto, f: &mut dyn FnMut(&pb::GraphProto)) {
    f(g);
    for n in &g.node {
        for a in &n.attribute {
            if let Some(sub) = &a.g {
                visit(sub, f);
            }
            for sub in &a.graphs {
                visit(sub, f);
            }
        }
    }
}

/// The subgraphs of a node, mutably.
pub fn subgraphs_mut(n: &mut pb::NodeProto) -> Vec<&mut pb::GraphProto> {
    let mut out = Vec::new();
    for a in &mut n.attribute {
        if let Some(g) = a.g.as_mut() {
            out.push(g);
        }
        for g in &mut a.graphs {
            out.push(g);
        }
    }
    out
}

/// Names a graph and its subgraphs read (node inputs and graph outputs).
fn names_read(g: &pb::GraphProto, into: &mut HashSet<String>) {
    visit(g, &mut |g| {
        for n in &g.node {
            into.extend(n.input.iter().filter(|s| !s.is_empty()).cloned());
        }
        into.extend(g.output.iter().map(|o| o.name.clone()));
    });
}

/// Drops initializers and `Constant` nodes nothing reads any more, in `g` and its subgraphs.
pub fn remove_unused(g: &mut pb::GraphProto) {
    let mut read = HashSet::new();
    names_read(g, &mut read);
    fn prune(g: &mut pb::GraphProto, read: &HashSet<String>, removed: &mut HashSet<String>) {
        g.initializer.retain(|t| {
            let keep = read.contains(&t.name);
            if !keep {
                removed.insert(t.name.clone());
            }
            keep
        });
        g.node
            .retain(|n| constant_value(n).is_none() || n.output.iter().any(|o| read.contains(o)));
        for n in &mut g.node {
            for sub in subgraphs_mut(n) {
                prune(sub, read, removed);
            }
        }
    }
    let mut removed = HashSet::new();
    prune(g, &read, &mut removed);
    // Older exporters list initializers among the inputs: those we removed leave them too.
    g.input.retain(|i| !removed.contains(&i.name));
}

/// Checks what a rewrite must never break: every node input is defined before it is read
/// (by a graph input, an initializer, an earlier node or an enclosing graph), outputs are
/// produced once, and graph outputs exist.
pub fn check_structure(g: &pb::GraphProto) -> Result<()> {
    fn check(g: &pb::GraphProto, outer: &HashSet<String>, path: &str) -> Result<()> {
        let mut defined = outer.clone();
        defined.extend(g.input.iter().map(|i| i.name.clone()));
        defined.extend(g.initializer.iter().map(|t| t.name.clone()));
        let mut produced = HashSet::new();
        for n in &g.node {
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                if !defined.contains(i) {
                    bail!(
                        "{path}node `{}` ({}) reads `{i}`, which nothing defines before it",
                        n.name,
                        n.op_type
                    );
                }
            }
            for a in &n.attribute {
                for sub in a.g.iter().chain(&a.graphs) {
                    check(sub, &defined, &format!("{path}{} > ", n.name))?;
                }
            }
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                if !produced.insert(o.clone()) {
                    bail!("{path}`{o}` is produced twice");
                }
                defined.insert(o.clone());
            }
        }
        for o in &g.output {
            if !defined.contains(&o.name) {
                bail!("{path}graph output `{}` is not produced", o.name);
            }
        }
        Ok(())
    }
    check(g, &HashSet::new(), "")
}

/// How many nodes read each name, in `g` and its subgraphs, plus one per graph output.
pub fn use_counts(g: &pb::GraphProto) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    visit(g, &mut |g| {
        for n in &g.node {
            for i in n.input.iter().filter(|s| !s.is_empty()) {
                *counts.entry(i.clone()).or_insert(0) += 1;
            }
        }
        for o in &g.output {
            *counts.entry(o.name.clone()).or_insert(0) += 1;
        }
    });
    counts
}

/// Ops that mark a model as already quantized: integer kernels (ONNX's and ONNX Runtime's
/// com.microsoft ones) and the quantize/dequantize nodes around them.
const QUANTIZED_OPS: &[&str] = &[
    "MatMulInteger",
    "ConvInteger",
    "QLinearConv",
    "QLinearMatMul",
    "QGemm",
    "DynamicQuantizeLSTM",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
    "MatMulNBits",
    "GatherBlockQuantized",
    "QAttention",
    "QLinearAdd",
    "QLinearMul",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
];

/// The [`QUANTIZED_OPS`] in `g` and its subgraphs, with how many of each, in the order first
/// met: "3 DynamicQuantizeLSTM, 4 MatMulInteger". Empty for a float model.
pub fn quantized_ops(g: &pb::GraphProto) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    visit(g, &mut |g| {
        for n in g
            .node
            .iter()
            .filter(|n| QUANTIZED_OPS.contains(&n.op_type.as_str()))
        {
            match counts.iter_mut().find(|(op, _)| *op == n.op_type) {
                Some((_, c)) => *c += 1,
                None => counts.push((n.op_type.clone(), 1)),
            }
        }
    });
    counts
        .iter()
        .map(|(op, c)| format!("{c} {op}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn default_opset(m: &pb::ModelProto) -> i64 {
    m.opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .unwrap_or(0)
}

/// Which message a nested field holds, for [`unknown_fields`].
#[derive(Clone, Copy, PartialEq)]
enum Msg {
    Model,
    Graph,
    Node,
    Attribute,
}

impl Msg {
    fn name(self) -> &'static str {
        match self {
            Msg::Model => "ModelProto",
            Msg::Graph => "GraphProto",
            Msg::Node => "NodeProto",
            Msg::Attribute => "AttributeProto",
        }
    }

    /// Field numbers this build's schema knows, and the nested messages worth walking.
    fn field(self, tag: u64) -> Option<Option<Msg>> {
        match (self, tag) {
            (Msg::Model, 7) => Some(Some(Msg::Graph)),
            (Msg::Model, 1..=6 | 8 | 14 | 20 | 25) => Some(None),
            (Msg::Graph, 1) => Some(Some(Msg::Node)),
            (Msg::Graph, 2 | 5 | 10..=15) => Some(None),
            (Msg::Node, 5) => Some(Some(Msg::Attribute)),
            (Msg::Node, 1..=7) => Some(None),
            (Msg::Attribute, 6 | 11) => Some(Some(Msg::Graph)),
            (Msg::Attribute, 1..=11 | 13 | 15 | 20..=23) => Some(None),
            _ => None,
        }
    }
}

/// Fields of the model, its graphs, nodes and attributes that this build's schema does not
/// know (prost drops them on re-encoding), as `NodeProto field 9` with a count.
pub fn unknown_fields(bytes: &[u8]) -> Vec<(String, usize)> {
    fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i)?;
            *i += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn walk(
        b: &[u8],
        msg: Msg,
        out: &mut std::collections::BTreeMap<String, usize>,
        depth: usize,
    ) -> Option<()> {
        if depth > 64 {
            return None;
        }
        let mut i = 0;
        while i < b.len() {
            let key = varint(b, &mut i)?;
            let (tag, wire) = (key >> 3, key & 7);
            let body = match wire {
                0 => {
                    varint(b, &mut i)?;
                    None
                }
                1 => {
                    i += 8;
                    None
                }
                2 => {
                    let len = varint(b, &mut i)? as usize;
                    let start = i;
                    i = i.checked_add(len)?;
                    Some(b.get(start..i)?)
                }
                5 => {
                    i += 4;
                    None
                }
                _ => return None,
            };
            match msg.field(tag) {
                None => {
                    *out.entry(format!("{} field {tag}", msg.name()))
                        .or_insert(0) += 1
                }
                Some(Some(inner)) => {
                    if let Some(body) = body {
                        walk(body, inner, out, depth + 1)?;
                    }
                }
                Some(None) => {}
            }
        }
        Some(())
    }
    let mut out = std::collections::BTreeMap::new();
    let _ = walk(bytes, Msg::Model, &mut out, 0);
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_round_trip_and_scopes_see_outer_constants() {
        let t = f32_tensor("w", &[2, 2], &[1.0, -2.0, 3.5, 0.0]);
        assert_eq!(tensor_f32(&t).unwrap().data, vec![1.0, -2.0, 3.5, 0.0]);
        let mut g = pb::GraphProto::default();
        g.initializer.push(t);
        g.node.push(constant_node(f32_tensor("c", &[1], &[7.0])));
        let s = Scope::child(&Scope::default(), &g);
        assert_eq!(s.weight("c").unwrap().data, vec![7.0]);
        let mut sub = pb::GraphProto::default();
        sub.node.push(node("Relu", "r", &["x"], &["w"], vec![]));
        let inner = Scope::child(&s, &sub);
        assert!(
            inner.weight("w").is_none(),
            "computed names shadow outer constants"
        );
        assert!(inner.weight("c").is_some());
    }

    #[test]
    fn structure_check_finds_undefined_inputs() {
        let mut g = pb::GraphProto::default();
        g.node.push(node("Relu", "r", &["missing"], &["y"], vec![]));
        g.output.push(pb::ValueInfoProto {
            name: "y".into(),
            ..Default::default()
        });
        let e = check_structure(&g).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }
}
