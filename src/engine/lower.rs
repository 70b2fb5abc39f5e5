//! Operators tract does not implement, written as the standard operators they are defined by,
//! before tract reads the model: skl2onnx pipelines put a `Scaler`, an `Imputer` or a
//! `FeatureVectorizer` (ONNX-ML) in front of the estimator, which tract runs; ONNX Runtime's
//! dynamic quantization turns LSTMs into `com.microsoft.DynamicQuantizeLSTM`, which is an
//! LSTM over int8 weights (dequantized here, once, into a float LSTM). ONNX Runtime reads the
//! model as it is.

use anyhow::Result;
use prost::Message;
use tract_onnx::pb;

/// The ONNX-ML operators lowered here.
const LOWERED: &[&str] = &["Scaler", "Imputer", "Binarizer", "FeatureVectorizer"];
/// The com.microsoft operators lowered here.
const LOWERED_MS: &[&str] = &["DynamicQuantizeLSTM"];
/// tract 0.23 labels every sample of a binary `TreeEnsembleClassifier` with its first class
/// although its probabilities are right: the label is taken from them here instead (the class
/// of the larger one, as ONNX Runtime gives it).
const BINARY_LABELS: &str = "TreeEnsembleClassifier";

/// `bytes` with each lowered operator replaced by standard ones; `None` when the model has
/// none (the bytes stand as they are).
pub fn lower_ml_ops(bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let mentions = |op: &str| bytes.windows(op.len()).any(|w| w == op.as_bytes());
    if !LOWERED
        .iter()
        .chain(LOWERED_MS)
        .chain([&BINARY_LABELS])
        .any(|op| mentions(op))
    {
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
    let mut weights = Vec::new();
    for (i, n) in std::mem::take(&mut g.node).into_iter().enumerate() {
        let ml = n.domain == "ai.onnx.ml" && LOWERED.contains(&n.op_type.as_str());
        let ms = n.domain == "com.microsoft" && LOWERED_MS.contains(&n.op_type.as_str());
        let lowered = if n.domain == "ai.onnx.ml" && n.op_type == BINARY_LABELS {
            binary_labels(&n, i)
        } else if ml {
            lower(&n, i)
        } else if ms {
            lower_lstm(&n, i, &g.initializer, &mut weights)
        } else {
            None
        };
        match lowered {
            Some(mut nodes) => {
                changed = true;
                out.append(&mut nodes);
            }
            None => out.push(n),
        }
    }
    g.node = out;
    g.initializer.append(&mut weights);
    changed
}

/// A binary `TreeEnsembleClassifier` with integer classes, its label output computed from its
/// probabilities: `Gather(classes, ArgMax(probabilities, axis 1))`.
fn binary_labels(n: &pb::NodeProto, i: usize) -> Option<Vec<pb::NodeProto>> {
    let classes = attr(n, "classlabels_int64s").map(|a| a.ints.clone())?;
    let (label, probs) = (n.output.first()?.clone(), n.output.get(1)?.clone());
    if classes.len() != 2 || label.is_empty() || probs.is_empty() {
        return None;
    }
    let base = if n.name.is_empty() {
        format!("{}_{i}", n.op_type)
    } else {
        n.name.clone()
    };
    let t = |s: &str| format!("{base}__lowered_{s}");
    let mut tree = n.clone();
    tree.output[0] = t("tract_label");
    let mut argmax = op("ArgMax", t("argmax"), &[&probs], &[&t("index")]);
    for (name, v) in [("axis", 1), ("keepdims", 0)] {
        argmax.attribute.push(pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: v,
            ..Default::default()
        });
    }
    let mut table = constant(&t("classes"), &[], false);
    table.attribute[0].t = Some(pb::TensorProto {
        name: t("classes"),
        dims: vec![2],
        data_type: 7,
        int64_data: classes,
        ..Default::default()
    });
    Some(vec![
        tree,
        argmax,
        table,
        op(
            "Gather",
            t("label"),
            &[&t("classes"), &t("index")],
            &[&label],
        ),
    ])
}

/// The values of an int8 or uint8 tensor.
fn ints(t: &pb::TensorProto) -> Option<Vec<i32>> {
    match t.data_type {
        3 if !t.raw_data.is_empty() => Some(t.raw_data.iter().map(|&b| b as i8 as i32).collect()),
        2 if !t.raw_data.is_empty() => Some(t.raw_data.iter().map(|&b| b as i32).collect()),
        2 | 3 => Some(t.int32_data.clone()),
        _ => None,
    }
}

/// The values of a float32 tensor.
fn f32s(t: &pb::TensorProto) -> Option<Vec<f32>> {
    match t.data_type {
        1 if !t.raw_data.is_empty() => Some(
            t.raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        1 => Some(t.float_data.clone()),
        _ => None,
    }
}

/// `com.microsoft.DynamicQuantizeLSTM` as the float `LSTM` it computes: its int8 weights
/// `W` `[dirs, input, 4*hidden]` and `R` `[dirs, hidden, 4*hidden]`, with scales and zero
/// points per direction or per output channel, dequantized and transposed to LSTM's `[dirs,
/// 4*hidden, input]` and `[dirs, 4*hidden, hidden]`. `None` unless they are initializers.
fn lower_lstm(
    n: &pb::NodeProto,
    i: usize,
    initializers: &[pb::TensorProto],
    weights: &mut Vec<pb::TensorProto>,
) -> Option<Vec<pb::NodeProto>> {
    let get = |slot: usize| {
        let name = n.input.get(slot).filter(|s| !s.is_empty())?;
        initializers.iter().find(|t| &t.name == name)
    };
    let base = if n.name.is_empty() {
        format!("{}_{i}", n.op_type)
    } else {
        n.name.clone()
    };
    // W, R at 1 and 2; their scales and zero points at 8..=11.
    let mut lowered = Vec::new();
    for (slot, scale, zero, what) in [(1, 8, 9, "W"), (2, 10, 11, "R")] {
        let q = get(slot)?;
        let (dirs, rows, cols) = match q.dims[..] {
            [d, r, c] => (d as usize, r as usize, c as usize),
            _ => return None,
        };
        let v = ints(q)?;
        let s = f32s(get(scale)?)?;
        let z = ints(get(zero)?)?;
        if v.len() != dirs * rows * cols || s.len() != z.len() {
            return None;
        }
        let per_channel = match s.len() {
            k if k == dirs => false,
            k if k == dirs * cols => true,
            _ => return None,
        };
        let mut w = vec![0f32; v.len()];
        for d in 0..dirs {
            for r in 0..rows {
                for c in 0..cols {
                    let k = if per_channel { d * cols + c } else { d };
                    let x = (v[(d * rows + r) * cols + c] - z[k]) as f32 * s[k];
                    w[(d * cols + c) * rows + r] = x;
                }
            }
        }
        let name = format!("{base}__lowered_{what}");
        weights.push(pb::TensorProto {
            name: name.clone(),
            dims: vec![dirs as i64, cols as i64, rows as i64],
            data_type: 1,
            raw_data: w.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        });
        lowered.push(name);
    }
    let mut inputs: Vec<String> = n.input.iter().take(8).cloned().collect();
    inputs[1] = lowered[0].clone();
    inputs[2] = lowered[1].clone();
    while inputs.last().is_some_and(String::is_empty) {
        inputs.pop();
    }
    Some(vec![pb::NodeProto {
        op_type: "LSTM".into(),
        domain: String::new(),
        name: base,
        input: inputs,
        output: n.output.clone(),
        attribute: n.attribute.clone(),
        ..Default::default()
    }])
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
