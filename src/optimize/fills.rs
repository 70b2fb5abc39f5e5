//! Weights filled at run time: some exporters (Caffe2's, in ONNX's own "light" test models)
//! store a weight as `ConstantOfShape(shape)` with one value instead of its numbers. int8 needs
//! the numbers, so [`fold`] turns each such fill into a constant before the rewrite, and
//! [`collapse`] stores every tensor that is still one value repeated (the int8 weight of a
//! uniform fill, its scales, the fills left in float) as a `ConstantOfShape` again, so that the
//! file stores only the values that differ (a BatchNormalization folded into a Conv makes its
//! weight differ per channel). ONNX Runtime folds the fills back into constants when it loads
//! the model, before it fuses DequantizeLinear into its int8 kernels.

use super::graph::*;
use std::collections::HashSet;
use tract_onnx::pb;

/// The largest fill folded (values): a weight beyond this is not a weight.
const MAX_VALUES: i64 = 1 << 24;
/// The smallest tensor [`collapse`] stores as a fill: below this the node costs more than the
/// values.
const MIN_VALUES: usize = 16;

/// Folds every float `ConstantOfShape` of the main graph whose shape is a stored int64 tensor
/// into an initializer of that name (not one the graph outputs). A stored shape counts even
/// where an old exporter also lists it among the inputs, as every weight there is listed: the
/// rewrites treat initializers as constants throughout. Returns the names folded.
pub fn fold(g: &mut pb::GraphProto) -> Vec<String> {
    let open: HashSet<String> = g.output.iter().map(|v| v.name.clone()).collect();
    let shapes: std::collections::HashMap<String, Vec<i64>> = g
        .initializer
        .iter()
        .filter(|t| t.data_type == INT64 && t.dims.len() == 1)
        .map(|t| (t.name.clone(), crate::model::i64_values(t)))
        .collect();
    let mut folded = Vec::new();
    let mut inits = Vec::new();
    g.node.retain(|n| {
        if n.op_type != "ConstantOfShape" || !is_default_domain(n) {
            return true;
        }
        let (Some(shape), Some(out)) = (
            n.input.first().and_then(|s| shapes.get(s)),
            n.output.first(),
        ) else {
            return true;
        };
        if open.contains(out) {
            return true;
        }
        let value = match attr(n, "value").and_then(|a| a.t.as_ref()) {
            None => 0.0,
            Some(t) => match tensor_f32(t) {
                Some(w) if w.len() == 1 => w.data[0],
                _ => return true,
            },
        };
        let count = shape
            .iter()
            .try_fold(1i64, |a, &d| (d >= 0).then(|| a.checked_mul(d)).flatten());
        match count {
            Some(c) if c <= MAX_VALUES => {
                inits.push(f32_tensor(out, shape, &vec![value; c as usize]));
                folded.push(out.clone());
                false
            }
            _ => true,
        }
    });
    g.initializer.extend(inits);
    folded
}

/// Stores each initializer of the main graph that holds one value repeated (at least
/// [`MIN_VALUES`] of them, not listed among the graph's inputs) as a `ConstantOfShape` node at
/// the head of the graph. Returns how many.
pub fn collapse(g: &mut pb::GraphProto) -> usize {
    let inputs: HashSet<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
    let mut names = Names::of(g);
    let mut kept = Vec::new();
    let mut nodes = Vec::new();
    let mut shapes = Vec::new();
    for t in std::mem::take(&mut g.initializer) {
        let one = match uniform(&t) {
            Some(v) if !inputs.contains(t.name.as_str()) && t.external_data.is_empty() => v,
            _ => {
                kept.push(t);
                continue;
            }
        };
        let shape = names.fresh(&format!("{}_shape", t.name));
        shapes.push(i64_tensor(&shape, &[t.dims.len() as i64], &t.dims));
        let value = pb::TensorProto {
            dims: vec![1],
            data_type: t.data_type,
            raw_data: one,
            ..Default::default()
        };
        let mut n = node(
            "ConstantOfShape",
            &format!("{}_fill", t.name),
            &[&shape],
            &[&t.name],
            vec![],
        );
        n.attribute.push(pb::AttributeProto {
            name: "value".into(),
            r#type: pb::attribute_proto::AttributeType::Tensor as i32,
            t: Some(value),
            ..Default::default()
        });
        nodes.push(n);
    }
    let count = nodes.len();
    kept.extend(shapes);
    g.initializer = kept;
    nodes.append(&mut g.node);
    g.node = nodes;
    count
}

/// The bytes of the one value `t` repeats, when it holds raw float32/int8/uint8/int32 data of
/// at least [`MIN_VALUES`] values all alike.
fn uniform(t: &pb::TensorProto) -> Option<Vec<u8>> {
    let size = match t.data_type {
        FLOAT | INT32 => 4,
        INT8 | UINT8 => 1,
        _ => return None,
    };
    let raw = &t.raw_data;
    if raw.len() < MIN_VALUES * size || raw.len() % size != 0 {
        return None;
    }
    let first = &raw[..size];
    raw.chunks_exact(size)
        .all(|c| c == first)
        .then(|| first.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_folds_to_its_values_and_a_uniform_tensor_collapses_back_to_a_fill() {
        let mut value = f32_tensor("", &[1], &[0.02]);
        value.name.clear();
        let mut fill = node("ConstantOfShape", "w", &["w_shape"], &["w"], vec![]);
        fill.attribute.push(pb::AttributeProto {
            name: "value".into(),
            r#type: pb::attribute_proto::AttributeType::Tensor as i32,
            t: Some(value),
            ..Default::default()
        });
        let mut g = pb::GraphProto {
            node: vec![fill, node("MatMul", "mm", &["x", "w"], &["y"], vec![])],
            // IR 3 exporters list every initializer among the inputs too.
            input: ["x", "w_shape", "varied"]
                .map(|name| pb::ValueInfoProto {
                    name: name.into(),
                    ..Default::default()
                })
                .to_vec(),
            initializer: vec![
                i64_tensor("w_shape", &[2], &[4, 8]),
                f32_tensor(
                    "varied",
                    &[16],
                    &(0..16).map(|i| i as f32).collect::<Vec<_>>(),
                ),
            ],
            ..Default::default()
        };
        assert_eq!(fold(&mut g), vec!["w".to_string()]);
        assert_eq!(g.node.len(), 1);
        let w = g
            .initializer
            .iter()
            .find(|t| t.name == "w")
            .and_then(tensor_f32);
        assert_eq!(
            w.map(|w| (w.dims, w.data)),
            Some((vec![4, 8], vec![0.02; 32]))
        );

        g.initializer.push(i8_tensor("q", &[4, 8], &[127; 32]));
        g.initializer.push(i8_tensor("small", &[4], &[1; 4]));
        // "w" (float fill), "q" (int8) collapse; "varied" and "small" stay stored.
        assert_eq!(collapse(&mut g), 2);
        let stored: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
        assert!(
            stored.contains(&"varied") && stored.contains(&"small"),
            "{stored:?}"
        );
        assert!(
            !stored.contains(&"w") && !stored.contains(&"q"),
            "{stored:?}"
        );
        let fills: Vec<&str> = g
            .node
            .iter()
            .filter(|n| n.op_type == "ConstantOfShape")
            .map(|n| n.output[0].as_str())
            .collect();
        assert_eq!(fills, vec!["w", "q"]);
        check_structure(&g).unwrap();
    }
}
