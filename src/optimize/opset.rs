//! Raising a model's ai.onnx opset where every operator keeps its meaning: 9 or 10 to 11 for
//! int8 (DynamicQuantizeLinear), and up to 13 for weights scaled per output channel.

use super::graph::*;
use tract_onnx::pb;

/// Raises the model's ai.onnx opset from 9 to 12 to `to` (11, or 13 for per-channel
/// DequantizeLinear) when every operator of every graph keeps its meaning across those
/// versions, and says which one does not otherwise: Upsample (replaced by Resize), Resize
/// before 11 (its coordinate rules changed in 11), Slice and TopK before 10 (their attributes
/// became inputs), Pad before 11 (pads and value became inputs), Clip with min/max attributes
/// (they became inputs in 11), Dropout before 10 whose mask is read (it became bool), and to
/// 13, Softmax, LogSoftmax and Hardmax with dimensions
/// after their axis other than 1 (before 13 they flattened the input to 2D at their axis;
/// `shape` gives an input's shape on the sample data where it is known). The attributes that became inputs in 13 (Split's split, Squeeze's,
/// Unsqueeze's and ReduceSum's axes) are moved to constant inputs, and Dropout's ratio (an
/// input from 12, unused at inference) is dropped. Ops that only gained
/// negative axes, optional inputs or new types keep their meaning. Returns the opset it came
/// from.
pub fn raise_opset(
    m: &mut pb::ModelProto,
    to: i64,
    shape: &dyn Fn(&str) -> Option<Vec<usize>>,
) -> anyhow::Result<i64> {
    let from = default_opset(m);
    if from >= to {
        return Ok(from);
    }
    if from < 9 || !(11..=13).contains(&to) {
        anyhow::bail!(
            "this model uses ONNX opset {from}; only opsets 9 to 12 are raised (to 11 or 13), where the operators' meanings are known not to change"
        );
    }
    let mut changed: Vec<String> = Vec::new();
    let used = m.graph.as_ref().map(use_counts).unwrap_or_default();
    if let Some(g) = &m.graph {
        visit(g, &mut |g: &pb::GraphProto| {
            for n in g.node.iter().filter(|n| is_default_domain(n)) {
                let has = |a: &str| n.attribute.iter().any(|x| x.name == a);
                let why = match n.op_type.as_str() {
                    "Upsample" => {
                        Some("deprecated in opset 10 and replaced by Resize, whose rules differ")
                    }
                    "Resize" if from < 11 => {
                        Some("its coordinate transformation changed in opset 11")
                    }
                    "Slice" if from < 10 => Some("its starts/ends/axes became inputs in opset 10"),
                    "TopK" if from < 10 => Some("its k became an input in opset 10"),
                    "Pad" if from < 11 => Some("its pads and value became inputs in opset 11"),
                    "Dropout"
                        if from < 10 && n.output.get(1).is_some_and(|k| used.contains_key(k)) =>
                    {
                        Some("its mask output became a bool tensor in opset 10, and it is read")
                    }
                    "Clip" if has("min") || has("max") => {
                        Some("its min and max became inputs in opset 11")
                    }
                    "Softmax" | "LogSoftmax" | "Hardmax" if to >= 13 => {
                        let axis = attr_i(n, "axis", 1);
                        let same = axis == -1
                            || n.input.first().and_then(|x| shape(x)).is_some_and(|d| {
                                let a = if axis < 0 {
                                    axis + d.len() as i64
                                } else {
                                    axis
                                };
                                a >= 0 && d.iter().skip(a as usize + 1).all(|&k| k == 1)
                            });
                        (!same).then_some(
                            "before opset 13 it flattened its input to 2D at its axis, which is the same only where every dimension after the axis is 1, and this one's are not (or its input's shape is unknown)",
                        )
                    }
                    _ => None,
                };
                if let Some(why) = why {
                    changed.push(format!("{} (node {}): {why}", n.op_type, super::node_id(n)));
                }
            }
        });
    }
    if !changed.is_empty() {
        anyhow::bail!(
            "this model uses ONNX opset {from} and {} needs {to}; it cannot be raised because an operator's meaning changed in between: {}",
            if to >= 13 { "per-channel int8" } else { "int8" },
            changed.join("; ")
        );
    }
    if let Some(g) = m.graph.as_mut() {
        if to >= 12 && from < 12 {
            drop_dropout_ratio(g);
        }
        if to >= 13 {
            let mut names = Names::of(g);
            attributes_to_inputs(g, &mut names);
        }
    }
    for o in m
        .opset_import
        .iter_mut()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
    {
        o.version = to;
    }
    Ok(from)
}

/// Dropout's ratio attribute, an input from opset 12 on, removed in `g` and its subgraphs: at
/// inference (the only mode before 12) Dropout passes its input through whatever the ratio.
fn drop_dropout_ratio(g: &mut pb::GraphProto) {
    for n in &mut g.node {
        if n.op_type == "Dropout" && is_default_domain(n) {
            n.attribute.retain(|a| a.name != "ratio");
        }
        for sub in subgraphs_mut(n) {
            drop_dropout_ratio(sub);
        }
    }
}

/// The attributes that became inputs in opset 13 (Split's split; Squeeze's, Unsqueeze's and
/// ReduceSum's axes) moved to int64 constants read as the second input, in `g` and its
/// subgraphs.
fn attributes_to_inputs(g: &mut pb::GraphProto, names: &mut Names) {
    let mut constants = Vec::new();
    for n in &mut g.node {
        let key = match n.op_type.as_str() {
            "Split" => "split",
            "Squeeze" | "Unsqueeze" | "ReduceSum" => "axes",
            _ => "",
        };
        if !key.is_empty() && is_default_domain(n) && n.input.len() == 1 {
            if let Some(at) = n.attribute.iter().position(|a| a.name == key) {
                let a = n.attribute.remove(at);
                let name = names.fresh(&format!("{}_{key}", super::node_id(n)));
                constants.push(i64_tensor(&name, &[a.ints.len() as i64], &a.ints));
                n.input.push(name);
            }
        }
        for sub in subgraphs_mut(n) {
            attributes_to_inputs(sub, names);
        }
    }
    g.initializer.extend(constants);
}
