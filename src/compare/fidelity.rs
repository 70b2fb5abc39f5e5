//! How far a variant's outputs drift from the original's on the sample data: per output and
//! per layer.

use crate::data::SampleSet;
use crate::engine::{self, EngineKind, EngineOptions, Output};
use crate::model::{decode_proto, Model};
use crate::optimize::graph::{is_weight_layer, FLOAT};
use crate::optimize::{node_id, Reordered};
use crate::tensor::{Tensor, TensorData};
use anyhow::{bail, Context, Result};
use prost::Message;
use serde::{Deserialize, Serialize};
use tract_onnx::pb;

/// One output of a variant against the same output of the original.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputFidelity {
    pub name: String,
    pub max_abs_err: f64,
    pub mean_abs_err: f64,
    /// Cosine similarity of the two outputs as flat vectors.
    pub cosine: f64,
    /// Share of predictions whose top class (argmax along the class axis, or the label
    /// itself) is the same: one per sample, or one per position of a sequence or map of class
    /// scores (a text recognizer's timesteps).
    pub top1_agreement: Option<f64>,
    /// How many predictions the agreement rests on, when more than one per sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top1_positions: Option<usize>,
    /// Against the data's labels, when it has them: variant and original.
    pub accuracy: Option<f64>,
    pub accuracy_original: Option<f64>,
    /// Macro-averaged F1 against the labels: variant and original.
    pub f1: Option<f64>,
    pub f1_original: Option<f64>,
    /// Why a metric is missing, or what else is worth knowing.
    pub note: Option<String>,
}

/// Drift of one intermediate output (a MatMul/Gemm/Conv result) in the variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerDrift {
    pub node: String,
    pub op: String,
    /// ||variant - original|| / ||original||.
    pub relative_error: f64,
    pub cosine: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    pub engine: EngineKind,
    pub samples: usize,
    pub outputs: Vec<OutputFidelity>,
    pub layers: Vec<LayerDrift>,
    /// Why per-layer drift is missing, when it is.
    pub layers_note: Option<String>,
}

impl OutputFidelity {
    /// `probabilities: max |err| 1.7e-2, mean |err| 7.5e-5, cosine 0.999997, top-1 agreement
    /// 100.00%, accuracy 98.52% (original 98.52%), F1 0.9852 (original 0.9852)`.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{}: max |err| {:.3e}, mean |err| {:.3e}, cosine {:.6}",
            self.name, self.max_abs_err, self.mean_abs_err, self.cosine
        );
        if let Some(t) = self.top1_agreement {
            line += &format!(", top-1 agreement {:.2}%", t * 100.0);
            if let Some(n) = self.top1_positions {
                line += &format!(" (of {n} positions)");
            }
        }
        if let (Some(a), Some(a0)) = (self.accuracy, self.accuracy_original) {
            line += &format!(", accuracy {:.2}% (original {:.2}%)", a * 100.0, a0 * 100.0);
        }
        if let (Some(a), Some(a0)) = (self.f1, self.f1_original) {
            line += &format!(", F1 {a:.4} (original {a0:.4})");
        }
        if let Some(n) = &self.note {
            line += &format!(" ({n})");
        }
        line
    }
}

impl Fidelity {
    /// The layer that drifts most, as one line.
    pub fn worst_layer(&self) -> Option<String> {
        self.layers
            .iter()
            .max_by(|a, b| a.relative_error.total_cmp(&b.relative_error))
            .map(|w| {
                format!(
                    "largest layer drift: {} ({}) {:.3}% relative error, cosine {:.5}",
                    w.node,
                    w.op,
                    w.relative_error * 100.0,
                    w.cosine
                )
            })
    }

    /// One number for "how faithful", 1 is identical: the lowest top-1 agreement over
    /// classifier outputs, else the lowest cosine similarity.
    pub fn score(&self) -> f64 {
        let top1: Vec<f64> = self
            .outputs
            .iter()
            .filter_map(|o| o.top1_agreement)
            .collect();
        if !top1.is_empty() {
            return top1.into_iter().fold(1.0, f64::min);
        }
        self.outputs.iter().map(|o| o.cosine).fold(1.0, f64::min)
    }

    /// What [`Self::score`] measures and what it rests on: `top-1 agreement over 300
    /// samples`, `top-1 agreement over 1,200 positions of 3 samples`.
    pub fn score_label(&self) -> String {
        let samples = crate::format::plural(self.samples as u64, "sample");
        if !self.outputs.iter().any(|o| o.top1_agreement.is_some()) {
            return format!("cosine similarity over {samples}");
        }
        match self.outputs.iter().filter_map(|o| o.top1_positions).min() {
            Some(n) => format!(
                "top-1 agreement over {} of {samples}",
                crate::format::plural(n as u64, "position")
            ),
            None => format!("top-1 agreement over {samples}"),
        }
    }
}

/// Runs `model` once on every sample (the data as given) and returns its tensor outputs.
pub fn run_all(
    model: &Model,
    samples: &SampleSet,
    kind: EngineKind,
    options: &EngineOptions,
) -> Result<Vec<Output>> {
    let mut e = engine::load(kind, model, options)?;
    crate::guard::catch("running the model on the sample data", || {
        e.run(&samples.inputs)
    })
}

pub(super) fn rows(t: &Tensor) -> (usize, usize) {
    match t.shape.as_slice() {
        [] => (1, 1),
        [n] => (*n, 1),
        [n, rest @ ..] => (*n, rest.iter().product()),
    }
}

pub(super) fn is_int(t: &Tensor) -> bool {
    !matches!(t.data, TensorData::F32(_) | TensorData::F64(_))
}

/// Per-sample predicted class: the label itself for integer outputs of one value per sample,
/// the argmax for float outputs with several columns.
pub(super) fn predictions(t: &Tensor) -> Option<Vec<i64>> {
    let (_, c) = rows(t);
    if is_int(t) && c == 1 {
        return Some(t.to_f64_vec().iter().map(|&x| x as i64).collect());
    }
    if t.shape.len() == 2 {
        return predictions_along(t, 1);
    }
    None
}

/// The argmax along `axis` (negative from the end) at every other position of a float
/// tensor: one prediction per sample for `[N, C]`, one per timestep for `[N, T, C]`.
pub(super) fn predictions_along(t: &Tensor, axis: i64) -> Option<Vec<i64>> {
    let rank = t.shape.len() as i64;
    if is_int(t) || rank < 2 {
        return None;
    }
    let a = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&a) {
        return None;
    }
    let a = a as usize;
    let c = t.shape[a];
    if c < 2 {
        return None;
    }
    let outer: usize = t.shape[..a].iter().product();
    let inner: usize = t.shape[a + 1..].iter().product();
    let v = t.to_f64_vec();
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let mut best = (0usize, f64::NEG_INFINITY);
            for j in 0..c {
                let x = v[(o * c + j) * inner + i];
                if x > best.1 {
                    best = (j, x);
                }
            }
            out.push(best.0 as i64);
        }
    }
    Some(out)
}

pub(super) fn accuracy(pred: &[i64], labels: &[i64]) -> f64 {
    let hits = pred.iter().zip(labels).filter(|(a, b)| a == b).count();
    hits as f64 / pred.len().max(1) as f64
}

/// Macro F1 over the classes present in the labels or the predictions.
pub fn macro_f1(pred: &[i64], labels: &[i64]) -> f64 {
    let mut classes: Vec<i64> = labels.iter().chain(pred).copied().collect();
    classes.sort_unstable();
    classes.dedup();
    let mut sum = 0.0;
    for &c in &classes {
        let tp = pred
            .iter()
            .zip(labels)
            .filter(|(p, l)| **p == c && **l == c)
            .count() as f64;
        let fp = pred
            .iter()
            .zip(labels)
            .filter(|(p, l)| **p == c && **l != c)
            .count() as f64;
        let fnn = pred
            .iter()
            .zip(labels)
            .filter(|(p, l)| **p != c && **l == c)
            .count() as f64;
        let denom = 2.0 * tp + fp + fnn;
        sum += if denom > 0.0 { 2.0 * tp / denom } else { 1.0 };
    }
    sum / classes.len().max(1) as f64
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 && nb == 0.0 {
        1.0
    } else if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// The class axis of an output whose scores are independent (Sigmoid): a prediction per sample
/// only for `[N, C]`; a map of probabilities (a text detector's `[N, 1, H, W]`) has no top-1.
pub const PER_SAMPLE: i64 = i64::MIN;

/// The model's outputs that hold class scores, whose argmax is a prediction, with their class
/// axis: made by Softmax or LogSoftmax (their axis), or Sigmoid, read by ArgMax/ArgMin/TopK
/// (their axis), or named like probabilities, logits, scores or classes (the last axis). Any
/// other float output (an embedding, a regression, a feature map) is judged by cosine and
/// error alone: the top-1 of a sentence embedding means nothing.
pub fn class_outputs(model: &Model) -> std::collections::HashMap<String, i64> {
    let mut out = std::collections::HashMap::new();
    let named = |n: &str| {
        let n = n.to_lowercase();
        ["prob", "logit", "score", "class", "label"]
            .iter()
            .any(|k| n.contains(k))
    };
    for o in &model.info.outputs {
        if named(&o.name) {
            out.insert(o.name.clone(), -1);
        }
    }
    if let Ok(p) = decode_proto(&model.bytes, &model.info.path) {
        let opset = crate::optimize::graph::default_opset(&p);
        let g = p.graph.unwrap_or_default();
        let outputs: std::collections::HashSet<&str> =
            g.output.iter().map(|o| o.name.as_str()).collect();
        let axis =
            |n: &pb::NodeProto, default: i64| crate::optimize::graph::attr_i(n, "axis", default);
        for n in &g.node {
            let made = match n.op_type.as_str() {
                // Before opset 13 Softmax's axis defaults to 1 (the rest flattened behind it).
                "Softmax" | "LogSoftmax" => Some(axis(n, if opset >= 13 { -1 } else { 1 })),
                "Sigmoid" => Some(PER_SAMPLE),
                _ => None,
            };
            if let Some(a) = made {
                for o in n.output.iter().filter(|o| outputs.contains(o.as_str())) {
                    out.insert(o.clone(), a);
                }
            }
            let read = match n.op_type.as_str() {
                "ArgMax" | "ArgMin" => Some(axis(n, 0)),
                "TopK" => Some(axis(n, -1)),
                _ => None,
            };
            if let Some(a) = read {
                for i in n
                    .input
                    .iter()
                    .take(1)
                    .filter(|i| outputs.contains(i.as_str()))
                {
                    out.insert(i.clone(), a);
                }
            }
        }
    }
    out
}

/// Compares one output of the variant with the original's. `class_axis`: the output holds
/// class scores along this axis (see [`class_outputs`]), so their argmax is compared too.
pub fn compare_output(
    name: &str,
    original: &Tensor,
    variant: &Tensor,
    labels: Option<&[i64]>,
    class_axis: Option<i64>,
) -> OutputFidelity {
    let mut f = OutputFidelity {
        name: name.to_string(),
        max_abs_err: f64::NAN,
        mean_abs_err: f64::NAN,
        cosine: f64::NAN,
        top1_agreement: None,
        top1_positions: None,
        accuracy: None,
        accuracy_original: None,
        f1: None,
        f1_original: None,
        note: None,
    };
    if original.shape != variant.shape {
        f.note = Some(format!(
            "shape changed: {:?} -> {:?}",
            original.shape, variant.shape
        ));
        return f;
    }
    // Text outputs (a string label, a normalized token): the share that agree.
    if let (Some(a), Some(b)) = (original.strings(), variant.strings()) {
        let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
        f.top1_agreement = Some(same as f64 / a.len().max(1) as f64);
        f.note = Some("text output: compared by agreement".into());
        return f;
    }
    let a = original.to_f64_vec();
    let b = variant.to_f64_vec();
    let errs: Vec<f64> = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).collect();
    f.max_abs_err = errs.iter().copied().fold(0.0, f64::max);
    f.mean_abs_err = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
    f.cosine = cosine(&a, &b);
    let predictions = |t: &Tensor| {
        // Integer label outputs always; float outputs only when they are class scores (along
        // their class axis), or per sample when labels come with the data.
        match class_axis {
            _ if is_int(t) => predictions(t),
            Some(PER_SAMPLE) => predictions(t),
            Some(a) => predictions_along(t, a).or_else(|| predictions(t)),
            None if labels.is_some() => predictions(t),
            None => None,
        }
    };
    if let (Some(pa), Some(pb)) = (predictions(original), predictions(variant)) {
        f.top1_agreement = Some(accuracy(&pb, &pa));
        let samples = original.shape.first().copied().unwrap_or(1);
        if pa.len() > samples {
            f.top1_positions = Some(pa.len());
        }
        if let Some(l) = labels.filter(|l| l.len() == pa.len()) {
            f.accuracy = Some(accuracy(&pb, l));
            f.accuracy_original = Some(accuracy(&pa, l));
            f.f1 = Some(macro_f1(&pb, l));
            f.f1_original = Some(macro_f1(&pa, l));
        }
    }
    f
}

/// A copy of the model that also returns the outputs of its MatMul/Gemm/Conv nodes (main
/// graph), named as in the original: `(bytes, [(node id, op, tensor name)])`.
fn with_layer_outputs(model: &Model, layers: &[(String, String, String)]) -> Result<Vec<u8>> {
    let mut proto = decode_proto(&model.bytes, &model.info.path)?;
    let g = proto.graph.as_mut().context("no graph")?;
    let produced: std::collections::HashSet<&str> = g
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(String::as_str))
        .collect();
    let mut extra = Vec::new();
    for (_, _, t) in layers {
        if produced.contains(t.as_str()) && !g.output.iter().any(|o| o.name == *t) {
            extra.push(pb::ValueInfoProto {
                name: t.clone(),
                r#type: Some(pb::TypeProto {
                    value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                        elem_type: FLOAT,
                        shape: None,
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }
    g.output.extend(extra);
    Ok(proto.encode_to_vec())
}

/// The original's float-weight layers in the main graph: (node id, op, output name).
pub fn layers(model: &Model) -> Result<Vec<(String, String, String)>> {
    let proto = decode_proto(&model.bytes, &model.info.path)?;
    let g = proto.graph.context("no graph")?;
    Ok(g.node
        .iter()
        .filter(|n| is_weight_layer(n))
        .filter_map(|n| Some((node_id(n), n.op_type.clone(), n.output.first()?.clone())))
        .collect())
}

pub(super) fn labels_of(samples: &SampleSet) -> Option<Vec<i64>> {
    samples
        .labels
        .as_ref()
        .map(|l| l.to_f64_vec().iter().map(|&x| x as i64).collect())
}

/// Fidelity of `variant` against `original` on `samples`, on engine `kind`. `reordered`: the
/// variant's intermediate tensors whose units a rewrite reordered, put back in the original's
/// order before the per-layer comparison.
pub fn fidelity(
    original: &Model,
    variant: &Model,
    reordered: &[Reordered],
    samples: &SampleSet,
    kind: EngineKind,
    options: &EngineOptions,
    variant_options: &EngineOptions,
) -> Result<Fidelity> {
    let a = run_all(original, samples, kind, options)?;
    let b = run_all(variant, samples, kind, variant_options)
        .context("the variant does not run on the sample data")?;
    let labels = labels_of(samples);
    let classes = class_outputs(original);
    let mut outputs = Vec::new();
    for (i, spec) in original.info.outputs.iter().enumerate() {
        let name = spec.name.clone();
        // Sequences and maps are shown, not compared.
        if let (Some(Output::Tensor(x)), Some(Output::Tensor(y))) = (a.get(i), b.get(i)) {
            let class_axis = classes.get(&name).copied();
            outputs.push(compare_output(&name, x, y, labels.as_deref(), class_axis))
        }
    }
    if outputs.is_empty() {
        bail!("the model has no tensor output to compare");
    }
    let (layers, layers_note) = match layer_drift(
        original,
        variant,
        reordered,
        samples,
        kind,
        options,
        variant_options,
    ) {
        Ok(l) if l.is_empty() => (
            l,
            Some("no MatMul/Gemm/Conv output is shared by both models".into()),
        ),
        Ok(l) => (l, None),
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    };
    Ok(Fidelity {
        engine: kind,
        samples: samples.n_samples.unwrap_or(1),
        outputs,
        layers,
        layers_note,
    })
}

fn layer_drift(
    original: &Model,
    variant: &Model,
    reordered: &[Reordered],
    samples: &SampleSet,
    kind: EngineKind,
    options: &EngineOptions,
    variant_options: &EngineOptions,
) -> Result<Vec<LayerDrift>> {
    let ls = layers(original)?;
    if ls.is_empty() {
        return Ok(Vec::new());
    }
    let probe = |m: &Model, opts: &EngineOptions| -> Result<Vec<(String, Tensor)>> {
        let bytes = with_layer_outputs(m, &ls)?;
        let pm = Model::from_bytes(&m.info.path, bytes)?;
        let out = run_all(&pm, samples, kind, opts)?;
        Ok(pm
            .info
            .outputs
            .iter()
            .zip(out)
            .filter_map(|(s, o)| match o {
                Output::Tensor(t) => Some((s.name.clone(), t)),
                Output::NonTensor(_) => None,
            })
            .collect())
    };
    let a = probe(original, options)?;
    let b = probe(variant, variant_options).context("the variant's layer outputs")?;
    let mut out = Vec::new();
    for (id, op, t) in &ls {
        let (Some((_, x)), Some((_, y))) = (
            a.iter().find(|(n, _)| n == t),
            b.iter().find(|(n, _)| n == t),
        ) else {
            continue;
        };
        if x.shape != y.shape {
            continue;
        }
        let xv = x.to_f64_vec();
        let mut yv = y.to_f64_vec();
        if let Some(r) = reordered.iter().find(|r| r.tensor == *t) {
            match r.restore(&yv, &y.shape) {
                Some(v) => yv = v,
                None => continue,
            }
        }
        let diff: f64 = xv
            .iter()
            .zip(&yv)
            .map(|(p, q)| (p - q) * (p - q))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = xv.iter().map(|p| p * p).sum::<f64>().sqrt();
        out.push(LayerDrift {
            node: id.clone(),
            op: op.clone(),
            relative_error: if norm > 0.0 { diff / norm } else { diff },
            cosine: cosine(&xv, &yv),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_metrics_on_known_values() {
        let a = Tensor::new(
            vec![3, 2],
            TensorData::F32(vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4]),
        )
        .unwrap();
        let b = Tensor::new(
            vec![3, 2],
            TensorData::F32(vec![0.8, 0.2, 0.3, 0.7, 0.4, 0.6]),
        )
        .unwrap();
        let f = compare_output("p", &a, &b, Some(&[0, 1, 1]), None);
        assert!((f.max_abs_err - 0.2).abs() < 1e-6);
        assert!((f.mean_abs_err - (0.1 * 4.0 + 0.2 * 2.0) / 6.0).abs() < 1e-6);
        assert_eq!(f.top1_agreement, Some(2.0 / 3.0));
        assert_eq!(f.accuracy_original, Some(2.0 / 3.0));
        assert_eq!(f.accuracy, Some(1.0));
        // Perfect F1 for the variant; the original misses class 1 once.
        assert_eq!(f.f1, Some(1.0));
        let f1 = macro_f1(&[0, 1, 0], &[0, 1, 1]);
        assert!((f1 - (2.0 / 3.0 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
    }

    /// The top-1 of an embedding means nothing: float outputs that are not class scores are
    /// judged by cosine and error; class scores also by top-1 agreement.
    #[test]
    fn top1_only_for_class_scores() {
        let t = |v: Vec<f32>| Tensor::new(vec![1, 4], TensorData::F32(v)).unwrap();
        let (a, b) = (t(vec![0.1, 0.9, 0.2, 0.3]), t(vec![0.95, 0.9, 0.2, 0.3]));
        let embedding = compare_output("sentence_embedding", &a, &b, None, None);
        assert_eq!(embedding.top1_agreement, None);
        assert!(embedding.cosine > 0.5);
        let logits = compare_output("logits", &a, &b, None, Some(-1));
        assert_eq!(logits.top1_agreement, Some(0.0));
        assert_eq!(logits.top1_positions, None, "one prediction per sample");
        // A recognizer's per-timestep class scores [1, T=3, C=2]: one prediction per
        // timestep, 2 of 3 the same; along axis 1 instead (a segmentation map's classes).
        let seq = |v: Vec<f32>| Tensor::new(vec![1, 3, 2], TensorData::F32(v)).unwrap();
        let (a, b) = (
            seq(vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4]),
            seq(vec![0.9, 0.1, 0.3, 0.7, 0.4, 0.6]),
        );
        let f = compare_output("softmax_0.tmp_0", &a, &b, None, Some(-1));
        assert_eq!(
            (f.top1_agreement, f.top1_positions),
            (Some(2.0 / 3.0), Some(3))
        );
        assert!(f
            .summary()
            .contains("top-1 agreement 66.67% (of 3 positions)"));
        assert_eq!(predictions_along(&a, 1), Some(vec![0, 1]));
        // A Sigmoid's map of independent probabilities has no top-1.
        let map = Tensor::new(vec![1, 1, 2, 3], TensorData::F32(vec![0.1; 6])).unwrap();
        let f = compare_output("sigmoid_0.tmp_0", &map, &map, None, Some(PER_SAMPLE));
        assert_eq!(f.top1_agreement, None);
        assert_eq!(predictions_along(&a, -1), Some(vec![0, 1, 0]));
        let m = crate::model::Model::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mlp.onnx"),
        )
        .unwrap();
        // Its Softmax says the class axis: 1 of [N, 10].
        assert_eq!(class_outputs(&m).get("probabilities"), Some(&1));
    }
}
