//! Operators of the ONNX-ML domain that tract does not implement, written as the standard
//! operators they are defined by, before tract reads the model: skl2onnx pipelines put a
//! `Scaler`, an `Imputer` or a `FeatureVectorizer` in front of the estimator, which tract runs.
//! ONNX Runtime reads the model as it is.

use anyhow::Result;
use prost::Message;
use tract_onnx::pb;

/// The ONNX-ML operators lowered here.
const LOWERED: &[&str] = &["Scaler", "Imputer", "Binarizer", "FeatureVectorizer"];

/// `bytes` with each lowered operator replaced by standard ones; `None` when the model has
/// none (the bytes stand as they are).
pub fn lower_ml_ops(bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let mentions = |op: &str| bytes.windows(op.len()).any(|w| w == op.as_bytes());
    if !LOWERED.iter().any(|op| mentions(op)) {
        return Ok(None);
    }
    let mut m = pb::ModelProto::decode(bytes)?;
    let Some(g) = m.graph.as_mut() else {
        return Ok(None);
    };
    if !lower_graph(g) {
        return Ok(None);
    }
    Ok(Some(m.encode_to_vec()))
}

fn lower_graph(g: &mut pb::GraphProto) -> bool {
    let mut changed = false;
    let mut out = Vec::with_capacity(g.node.len());
    for (i, n) in std::mem::take(&mut g.node).into_iter().enumerate() {
        let ml = n.domain == "ai.onnx.ml" && LOWERED.contains(&n.op_type.as_str());
        let lowered = if ml { lower(&n, i) } else { None };
        match lowered {
            Some(mut nodes) => {
                changed = true;
                out.append(&mut nodes);
            }
            None => out.push(n),
        }
    }
    g.node = out;
    changed
}

fn attr<'a>(n: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn floats(n: &pb::NodeProto, name: &str) -> Vec<f32> {
    attr(n, name).map(|a| a.floats.clone()).unwrap_or_default()
}

fn float(n: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map_or(default, |a| a.f)
}

fn op(op_type: &str, name: String, inputs: &[&str], outputs: &[&str]) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op_type.into(),
        name,
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// A `Constant` node holding float32 `values` (a scalar when `scalar`, else 1-D).
fn constant(name: &str, values: &[f32], scalar: bool) -> pb::NodeProto {
    let t = pb::TensorProto {
        name: name.into(),
        dims: if scalar {
            vec![]
        } else {
            vec![values.len() as i64]
        },
        data_type: 1,
        float_data: values.to_vec(),
        ..Default::default()
    };
    pb::NodeProto {
        op_type: "Constant".into(),
        name: name.into(),
        output: vec![name.into()],
        attribute: vec![pb::AttributeProto {
            name: "value".into(),
            r#type: pb::attribute_proto::AttributeType::Tensor as i32,
            t: Some(t),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn cast_to_float(name: String, x: &str, y: &str) -> pb::NodeProto {
    let mut c = op("Cast", name, &[x], &[y]);
    c.attribute.push(pb::AttributeProto {
        name: "to".into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: 1,
        ..Default::default()
    });
    c
}

/// The standard nodes computing what `n` (node `i` of its graph) computes; `None` where its
/// attributes are of a form not lowered here (tract then names it as unsupported).
fn lower(n: &pb::NodeProto, i: usize) -> Option<Vec<pb::NodeProto>> {
    let base = if n.name.is_empty() {
        format!("{}_{i}", n.op_type)
    } else {
        n.name.clone()
    };
    let (x, y) = (n.input.first()?.as_str(), n.output.first()?.as_str());
    let prefix = base.clone();
    let t = |s: &str| format!("{prefix}__lowered_{s}");
    match n.op_type.as_str() {
        // Y = (X - offset) * scale, per feature or one for all.
        "Scaler" => {
            let (offset, scale) = (floats(n, "offset"), floats(n, "scale"));
            let one = |v: &[f32]| v.len() == 1;
            Some(vec![
                cast_to_float(t("cast"), x, &t("x")),
                constant(&t("offset"), &offset, one(&offset)),
                op("Sub", t("sub"), &[&t("x"), &t("offset")], &[&t("centred")]),
                constant(&t("scale"), &scale, one(&scale)),
                op("Mul", base, &[&t("centred"), &t("scale")], &[y]),
            ])
        }
        // Missing values (NaN, or the value named) replaced per feature or by one value.
        "Imputer" => {
            let imputed = floats(n, "imputed_value_floats");
            if imputed.is_empty() {
                return None; // integer imputation
            }
            // The spec's default is 0; skl2onnx writes NaN.
            let replaced = float(n, "replaced_value_float", 0.0);
            let mut nodes = vec![cast_to_float(t("cast"), x, &t("x"))];
            if replaced.is_nan() {
                nodes.push(op("IsNaN", t("isnan"), &[&t("x")], &[&t("missing")]));
            } else {
                nodes.push(constant(&t("replaced"), &[replaced], true));
                nodes.push(op(
                    "Equal",
                    t("equal"),
                    &[&t("x"), &t("replaced")],
                    &[&t("missing")],
                ));
            }
            nodes.push(constant(&t("imputed"), &imputed, imputed.len() == 1));
            nodes.push(op(
                "Where",
                base,
                &[&t("missing"), &t("imputed"), &t("x")],
                &[y],
            ));
            Some(nodes)
        }
        // 1 where X > threshold, else 0, in X's type (float here).
        "Binarizer" => Some(vec![
            cast_to_float(t("cast"), x, &t("x")),
            constant(&t("threshold"), &[float(n, "threshold", 0.0)], true),
            op(
                "Greater",
                t("greater"),
                &[&t("x"), &t("threshold")],
                &[&t("above")],
            ),
            constant(&t("one"), &[1.0], true),
            constant(&t("zero"), &[0.0], true),
            op("Where", base, &[&t("above"), &t("one"), &t("zero")], &[y]),
        ]),
        // The inputs, each [N, d_i] (or [N]), side by side as float: [N, sum d_i].
        "FeatureVectorizer" => {
            let dims = attr(n, "inputdimensions").map(|a| a.ints.clone())?;
            if dims.len() != n.input.len() {
                return None;
            }
            let mut nodes = Vec::new();
            let mut parts = Vec::new();
            for (k, (input, d)) in n.input.iter().zip(&dims).enumerate() {
                let shape = t(&format!("shape{k}"));
                nodes.push(pb::NodeProto {
                    attribute: vec![pb::AttributeProto {
                        name: "value".into(),
                        r#type: pb::attribute_proto::AttributeType::Tensor as i32,
                        t: Some(pb::TensorProto {
                            name: shape.clone(),
                            dims: vec![2],
                            data_type: 7,
                            int64_data: vec![-1, *d],
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..op("Constant", shape.clone(), &[], &[&shape])
                });
                let (f, r) = (t(&format!("float{k}")), t(&format!("part{k}")));
                nodes.push(cast_to_float(t(&format!("cast{k}")), input, &f));
                nodes.push(op(
                    "Reshape",
                    t(&format!("reshape{k}")),
                    &[&f, &shape],
                    &[&r],
                ));
                parts.push(r);
            }
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let mut concat = op("Concat", base, &refs, &[y]);
            concat.attribute.push(pb::AttributeProto {
                name: "axis".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: 1,
                ..Default::default()
            });
            nodes.push(concat);
            Some(nodes)
        }
        _ => None,
    }
}
