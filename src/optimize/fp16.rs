//! float16 weights and compute, with float32 inputs and outputs kept at the graph boundary.

use super::graph::*;
use super::{node_id, Coverage};
use anyhow::{bail, Result};
use std::collections::HashSet;
use tract_onnx::pb;

/// Inputs that ONNX requires in float32 whatever the data type (sizes, not values).
fn keeps_float(n: &pb::NodeProto, slot: usize) -> bool {
    matches!(
        (n.op_type.as_str(), slot),
        ("Resize", 1 | 2) | ("Upsample", 1)
    )
}

/// Ops whose outputs are never float whatever their inputs.
const NON_FLOAT_OUT: &[&str] = &[
    "Shape",
    "Size",
    "ArgMax",
    "ArgMin",
    "NonZero",
    "Equal",
    "Less",
    "LessOrEqual",
    "Greater",
    "GreaterOrEqual",
    "Not",
    "And",
    "Or",
    "Xor",
    "IsNaN",
    "IsInf",
];

/// Ops kept in float32 inside the float16 graph (their float inputs cast up, their first
/// output cast back), as ONNX Runtime's own float16 converter keeps them by default
/// (`onnxruntime.transformers.float16.DEFAULT_OP_BLOCK_LIST`): coordinates, sizes and
/// selections that float16's 11-bit mantissa would move.
const KEEP_FLOAT32: &[&str] = &[
    "NonMaxSuppression",
    "TopK",
    "RoiAlign",
    "Resize",
    "Range",
    "CumSum",
    "Min",
    "Max",
    "Upsample",
];

/// Wraps every [`KEEP_FLOAT32`] node of `g` in casts: float16 inputs to float32 before it, its
/// float output back to float16 after it. Says each in `cov`.
fn keep_in_float32(
    g: &mut pb::GraphProto,
    floats: &HashSet<String>,
    names: &mut Names,
    cov: &mut Coverage,
) {
    let mut out = Vec::with_capacity(g.node.len());
    for mut n in std::mem::take(&mut g.node) {
        if !is_default_domain(&n) || !KEEP_FLOAT32.contains(&n.op_type.as_str()) {
            out.push(n);
            continue;
        }
        let id = node_id(&n);
        // Sizes and scales kept float32 (see `keeps_float`) are cast too: where they were
        // computed in the graph they are now float16, and a cast of float32 is a no-op.
        let slots: Vec<usize> = (0..n.input.len())
            .filter(|&s| !n.input[s].is_empty() && floats.contains(&n.input[s]))
            .collect();
        for s in slots {
            let wide = names.fresh(&format!("{}_fp32", n.input[s]));
            out.push(node(
                "Cast",
                &names.fresh(&format!("{id}_in{s}_to_fp32")),
                &[&n.input[s]],
                &[&wide],
                vec![attr_int("to", FLOAT as i64)],
            ));
            n.input[s] = wide;
        }
        // The first output is the float one (TopK's second is its indices; NonMaxSuppression
        // gives indices only).
        let mut after = None;
        if let Some(o) = n.output.first_mut().filter(|o| floats.contains(o.as_str())) {
            if n.op_type != "NonMaxSuppression" {
                let wide = names.fresh(&format!("{o}_fp32"));
                after = Some(node(
                    "Cast",
                    &names.fresh(&format!("{id}_out_to_fp16")),
                    &[&wide],
                    &[o],
                    vec![attr_int("to", FLOAT16 as i64)],
                ));
                *o = wide;
            }
        }
        cov.skip(
            &id,
            &n.op_type,
            format!(
                "kept in float32, as ONNX Runtime's float16 conversion keeps {}: cast to float32 on the way in and back after",
                n.op_type
            ),
        );
        out.push(n);
        out.extend(after);
    }
    g.node = out;
}

fn elem_type_mut(v: &mut pb::ValueInfoProto) -> Option<&mut i32> {
    let pb::type_proto::Value::TensorType(t) = v.r#type.as_mut()?.value.as_mut()?;
    Some(&mut t.elem_type)
}

fn elem_type(v: &pb::ValueInfoProto) -> Option<i32> {
    let pb::type_proto::Value::TensorType(t) = v.r#type.as_ref()?.value.as_ref()?;
    Some(t.elem_type)
}

/// Names that hold float32 values, by a forward pass over the main graph.
fn float_names(g: &pb::GraphProto) -> HashSet<String> {
    let mut f: HashSet<String> = g
        .input
        .iter()
        .filter(|i| elem_type(i) == Some(FLOAT))
        .map(|i| i.name.clone())
        .collect();
    f.extend(
        g.initializer
            .iter()
            .filter(|t| t.data_type == FLOAT)
            .map(|t| t.name.clone()),
    );
    for n in &g.node {
        let out_float = if let Some(t) = constant_value(n) {
            t.data_type == FLOAT
        } else if n.op_type == "Cast" {
            attr_i(n, "to", 0) == FLOAT as i64
        } else if NON_FLOAT_OUT.contains(&n.op_type.as_str()) || !is_default_domain(n) {
            false
        } else {
            n.input.iter().any(|i| f.contains(i))
        };
        if out_float {
            f.extend(n.output.iter().cloned());
        }
    }
    f
}

fn convert_graph(g: &mut pb::GraphProto, cov: &mut Coverage) -> (u64, u64) {
    let mut keep: HashSet<String> = HashSet::new();
    for n in &g.node {
        for (s, i) in n.input.iter().enumerate() {
            if keeps_float(n, s) {
                keep.insert(i.clone());
            }
        }
    }
    let (mut before, mut after) = (0, 0);
    let mut converted = HashSet::new();
    for t in &mut g.initializer {
        if keep.contains(&t.name) {
            continue;
        }
        if let Some(w) = tensor_f32(t) {
            before += 4 * w.len() as u64;
            after += 2 * w.len() as u64;
            *t = f16_tensor(&t.name, &w.dims, &w.data);
            converted.insert(t.name.clone());
        }
    }
    // Models before IR 4 also list initializers among the graph inputs, with their type.
    for i in g.input.iter_mut().filter(|i| converted.contains(&i.name)) {
        if let Some(t) = elem_type_mut(i) {
            *t = FLOAT16;
        }
    }
    for n in &mut g.node {
        let out = n.output.first().cloned().unwrap_or_default();
        if !keep.contains(&out) {
            if let Some(t) = constant_value_mut(n) {
                if let Some(w) = tensor_f32(t) {
                    before += 4 * w.len() as u64;
                    after += 2 * w.len() as u64;
                    *t = f16_tensor(&t.name, &w.dims, &w.data);
                }
            }
        }
        if n.op_type == "Cast" && attr_i(n, "to", 0) == FLOAT as i64 {
            n.attribute
                .iter_mut()
                .filter(|a| a.name == "to")
                .for_each(|a| a.i = FLOAT16 as i64);
            cov.change(&node_id(n), "Cast", "casts to float16".into(), 0, 0);
        }
        if n.op_type == "ConstantOfShape" {
            for a in n.attribute.iter_mut().filter(|a| a.name == "value") {
                if let Some(w) = a.t.as_ref().and_then(tensor_f32) {
                    a.t = Some(f16_tensor("", &w.dims, &w.data));
                }
            }
        }
        for sub in subgraphs_mut(n) {
            for v in sub.input.iter_mut().chain(sub.output.iter_mut()) {
                if let Some(t) = elem_type_mut(v).filter(|t| **t == FLOAT) {
                    *t = FLOAT16;
                }
            }
            let (b, a) = convert_graph(sub, cov);
            before += b;
            after += a;
        }
    }
    for v in &mut g.value_info {
        if let Some(t) = elem_type_mut(v).filter(|t| **t == FLOAT) {
            *t = FLOAT16;
        }
    }
    (before, after)
}

/// Rewrites plain Gemm nodes with a constant weight (alpha = beta = 1, no transposed input) as
/// MatMul + Add: tract's Gemm keeps float32 scalars and refuses float16 graphs.
fn gemm_to_matmul(g: &mut pb::GraphProto, names: &mut Names) {
    let scope = Scope::child(&Scope::default(), g);
    let mut out = Vec::with_capacity(g.node.len());
    for n in std::mem::take(&mut g.node) {
        let plain = n.op_type == "Gemm"
            && is_default_domain(&n)
            && attr_i(&n, "transA", 0) == 0
            && attr_f(&n, "alpha", 1.0) == 1.0
            && attr_f(&n, "beta", 1.0) == 1.0;
        let w = n
            .input
            .get(1)
            .and_then(|b| scope.weight(b))
            .filter(|w| w.dims.len() == 2);
        let (true, Some(mut w)) = (plain, w) else {
            out.push(n);
            continue;
        };
        if attr_i(&n, "transB", 0) != 0 {
            let (r, c) = (w.dims[0] as usize, w.dims[1] as usize);
            let mut t = vec![0f32; r * c];
            for i in 0..r {
                for j in 0..c {
                    t[j * r + i] = w.data[i * c + j];
                }
            }
            w = Weight {
                dims: vec![w.dims[1], w.dims[0]],
                data: t,
            };
        }
        let wname = names.fresh(&format!("{}_matmul_weight", n.input[1]));
        g.initializer.push(f32_tensor(&wname, &w.dims, &w.data));
        let id = node_id(&n);
        let y = n.output[0].clone();
        match n.input.get(2).filter(|c| !c.is_empty()) {
            Some(c) => {
                let mm = names.fresh(&format!("{y}_matmul"));
                out.push(node(
                    "MatMul",
                    &names.fresh(&format!("{id}_MatMul")),
                    &[&n.input[0], &wname],
                    &[&mm],
                    vec![],
                ));
                out.push(node(
                    "Add",
                    &names.fresh(&format!("{id}_Add")),
                    &[&mm, c],
                    &[&y],
                    vec![],
                ));
            }
            None => out.push(node(
                "MatMul",
                &names.fresh(&format!("{id}_MatMul")),
                &[&n.input[0], &wname],
                &[&y],
                vec![],
            )),
        }
    }
    g.node = out;
    remove_unused(g);
}

/// Converts float32 weights and compute to float16; float32 graph inputs are cast on the way
/// in and float32 outputs cast back on the way out, so callers see the same signature.
pub fn convert(m: &mut pb::ModelProto, cov: &mut Coverage) -> Result<()> {
    let Some(g) = m.graph.as_mut() else {
        bail!("the model has no graph")
    };
    let floats = float_names(g);
    if let Some(n) = g
        .node
        .iter()
        .find(|n| !is_default_domain(n) && n.input.iter().any(|i| floats.contains(i)))
    {
        bail!(
            "fp16 does not apply: `{}` ({}:{}) computes in float32 only",
            node_id(n),
            n.domain,
            n.op_type
        );
    }
    if floats.is_empty() {
        bail!("fp16 does not apply: the model computes nothing in float32");
    }
    let mut names = Names::of(g);
    gemm_to_matmul(g, &mut names);
    let (before, after) = convert_graph(g, cov);
    keep_in_float32(g, &floats, &mut names, cov);
    // Every other node with a float input now computes in float16.
    for n in &g.node {
        let computes = is_default_domain(n)
            && !matches!(n.op_type.as_str(), "Cast" | "Constant")
            && !KEEP_FLOAT32.contains(&n.op_type.as_str())
            && n.input.iter().any(|i| floats.contains(i));
        if computes {
            cov.change(&node_id(n), &n.op_type, "computes in float16".into(), 0, 0);
        }
    }
    // Graph boundary: float32 in, float16 inside, float32 out.
    let mut head = Vec::new();
    for i in &mut g.input {
        if elem_type(i) != Some(FLOAT) || g.initializer.iter().any(|t| t.name == i.name) {
            continue;
        }
        let inner = names.fresh(&format!("{}_fp16", i.name));
        for n in &mut g.node {
            for x in n.input.iter_mut().filter(|x| **x == i.name) {
                *x = inner.clone();
            }
        }
        let nm = names.fresh(&format!("{}_to_fp16", i.name));
        head.push(node(
            "Cast",
            &nm,
            &[&i.name],
            &[&inner],
            vec![attr_int("to", FLOAT16 as i64)],
        ));
    }
    let mut tail = Vec::new();
    for o in &mut g.output {
        if elem_type(o) != Some(FLOAT) {
            continue;
        }
        let inner = names.fresh(&format!("{}_fp16", o.name));
        for n in &mut g.node {
            for x in n.output.iter_mut().filter(|x| **x == o.name) {
                *x = inner.clone();
            }
            for x in n.input.iter_mut().filter(|x| **x == o.name) {
                *x = inner.clone();
            }
        }
        let nm = names.fresh(&format!("{}_to_fp32", o.name));
        tail.push(node(
            "Cast",
            &nm,
            &[&inner],
            &[&o.name],
            vec![attr_int("to", FLOAT as i64)],
        ));
    }
    head.append(&mut g.node);
    head.extend(tail);
    g.node = head;
    cov.change("weights", "all", "float32 -> float16".into(), before, after);
    Ok(())
}
