//! Optimized variants of a model: graph rewrites on the ONNX protobuf (int8, weight-only int8,
//! fp16, pruning, tree cuts), ONNX Runtime optimization levels, and other model files.

mod fills;
pub mod fp16;
pub mod graph;
pub mod opset;
pub mod prune;
pub mod quantize;
mod target;
pub use target::Target;
pub mod trees;
mod variant;
pub use variant::{Calibration, Int8Options, QuantFormat, Variant, SPELLINGS};

use crate::engine::OptLevel;
use crate::model::{decode_proto, Model};
use anyhow::{bail, Context, Result};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tract_onnx::pb;

/// A node that a rewrite changed or left alone, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeNote {
    pub node: String,
    pub op: String,
    pub note: String,
    #[serde(default)]
    pub bytes_before: u64,
    #[serde(default)]
    pub bytes_after: u64,
    /// Changed by static int8 (quantize and dequantize around it, ranges calibrated): what
    /// per-layer refinement weighs. Not written out.
    #[serde(skip)]
    pub static_int8: bool,
}

/// What a rewrite did: the nodes changed, those left alone with the reason, and sizes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub changed: Vec<NodeNote>,
    pub skipped: Vec<NodeNote>,
    pub file_bytes_before: u64,
    pub file_bytes_after: u64,
    /// The files compressed (deflate), which is what sparsity buys on disk.
    pub compressed_bytes_before: u64,
    pub compressed_bytes_after: u64,
    /// What else the user should know (fields this build cannot carry over, say).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Intermediate tensors whose units the rewrite reordered (the function is unchanged), so
    /// that per-layer drift compares like with like. Not written out.
    #[serde(skip)]
    pub reordered: Vec<Reordered>,
    /// The sample data int8 was calibrated and judged on was synthesized from the model's
    /// shapes (none was given): its fidelity rests on made-up inputs, which the report says
    /// first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub synthesized_data: bool,
    /// What the int8 chooser measured of the float model and of the form it kept (median
    /// time per request, microseconds), when it chose by measuring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_timing: Option<ChosenTiming>,
    /// The int8 form the chooser kept, when it chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_form: Option<Int8Form>,
}

/// The forms of int8 the chooser builds: weights int8 with activations quantized per request
/// (dynamic), activations calibrated on the data (static), or convolutions static and matrix
/// products dynamic (mix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Int8Form {
    Dynamic,
    Static,
    Mix,
}

impl Int8Form {
    pub const ALL: [Int8Form; 3] = [Int8Form::Dynamic, Int8Form::Static, Int8Form::Mix];
}

impl std::fmt::Display for Int8Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Int8Form::Dynamic => "dynamic",
            Int8Form::Static => "static",
            Int8Form::Mix => "mix",
        })
    }
}

/// What a variant built without sample data says first.
pub const SYNTHESIZED_WARNING: &str = "warning: no sample data was given, so this variant was calibrated and its fidelity judged on inputs synthesized from the model's shapes, which say little about real ones: check it with --data before using it";

/// The int8 chooser's own timing of the float model and of the form it kept.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChosenTiming {
    pub float_us: f64,
    pub kept_us: f64,
}

/// A tensor whose `axis` (negative: from the end) holds, at position i, what the original
/// holds at `order[i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reordered {
    pub tensor: String,
    pub axis: i64,
    pub order: Vec<usize>,
}

impl Reordered {
    /// `values` (of `shape`) put back in the original's order.
    pub fn restore(&self, values: &[f64], shape: &[usize]) -> Option<Vec<f64>> {
        let axis = if self.axis < 0 {
            shape.len().checked_sub(self.axis.unsigned_abs() as usize)?
        } else {
            self.axis as usize
        };
        let len = *shape.get(axis)?;
        if len != self.order.len() || values.len() != shape.iter().product::<usize>() {
            return None;
        }
        let inner: usize = shape[axis + 1..].iter().product();
        let mut out = vec![0f64; values.len()];
        for (block, chunk) in values.chunks(len * inner).enumerate() {
            let base = block * len * inner;
            for (i, &from) in self.order.iter().enumerate() {
                out[base + from * inner..base + (from + 1) * inner]
                    .copy_from_slice(&chunk[i * inner..(i + 1) * inner]);
            }
        }
        Some(out)
    }
}

impl Coverage {
    pub fn change(&mut self, node: &str, op: &str, note: String, before: u64, after: u64) {
        self.changed.push(NodeNote {
            node: node.into(),
            op: op.into(),
            note,
            bytes_before: before,
            bytes_after: after,
            static_int8: false,
        });
    }

    /// A node static int8 changed (see [`NodeNote::static_int8`]).
    pub fn change_static(&mut self, node: &str, op: &str, note: String, before: u64, after: u64) {
        self.change(node, op, note, before, after);
        if let Some(n) = self.changed.last_mut() {
            n.static_int8 = true;
        }
    }

    pub fn skip(&mut self, node: &str, op: &str, note: String) {
        self.skipped.push(NodeNote {
            node: node.into(),
            op: op.into(),
            note,
            bytes_before: 0,
            bytes_after: 0,
            static_int8: false,
        });
    }

    /// A short human summary: counts and sizes.
    pub fn summary(&self) -> String {
        let mb = |b: u64| b as f64 / 1e6;
        format!(
            "{} nodes changed, {} left as they were; file {:.3} MB -> {:.3} MB ({:.3} -> {:.3} MB compressed)",
            self.changed.len(),
            self.skipped.len(),
            mb(self.file_bytes_before),
            mb(self.file_bytes_after),
            mb(self.compressed_bytes_before),
            mb(self.compressed_bytes_after)
        )
    }
}

impl NodeNote {
    /// Notes as lines, `node (Op): note`; beyond [`NodeNote::LISTED`] of them, one line per op
    /// type and note with a count and the first nodes, `60 Conv (conv1, conv2, ...): note`.
    pub fn lines(notes: &[NodeNote]) -> Vec<String> {
        if notes.len() <= Self::LISTED {
            return notes
                .iter()
                .map(|c| format!("{} ({}): {}", c.node, c.op, c.note))
                .collect();
        }
        let mut groups: Vec<(&str, &str, Vec<&str>)> = Vec::new();
        for c in notes {
            match groups
                .iter_mut()
                .find(|(op, note, _)| *op == c.op && *note == c.note)
            {
                Some(g) => g.2.push(&c.node),
                None => groups.push((&c.op, &c.note, vec![&c.node])),
            }
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.2.len()));
        groups
            .into_iter()
            .map(|(op, note, nodes)| match nodes.as_slice() {
                [one] => format!("{one} ({op}): {note}"),
                many => format!(
                    "{} {op} ({}{}): {note}",
                    many.len(),
                    many[..3.min(many.len())].join(", "),
                    if many.len() > 3 { ", ..." } else { "" }
                ),
            })
            .collect()
    }

    /// Notes listed one by one, at most.
    pub const LISTED: usize = 12;
}

/// How a node is named in coverage reports and exclusions: its name, or its first output.
pub fn node_id(n: &pb::NodeProto) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else {
        n.output
            .first()
            .cloned()
            .unwrap_or_else(|| n.op_type.clone())
    }
}

/// Deflate-compressed size, for the honest size of a sparse file.
pub fn compressed_size(bytes: &[u8]) -> u64 {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    if enc.write_all(bytes).is_err() {
        return bytes.len() as u64;
    }
    enc.finish()
        .map(|v| v.len() as u64)
        .unwrap_or(bytes.len() as u64)
}

/// A rewritten model: its bytes and what changed.
#[derive(Clone, Debug)]
pub struct Rewrite {
    pub bytes: Vec<u8>,
    pub coverage: Coverage,
}

/// Applies a rewrite variant to the model's bytes. Refuses with the reason when the variant
/// does not apply (nothing to change) or the result would not be a valid graph.
pub fn rewrite(model: &Model, variant: &Variant) -> Result<Rewrite> {
    rewrite_with(model, variant, None)
}

/// Batch-1 requests of `data` to calibrate static int8 with (at most 32), or of data
/// synthesized from the model's shapes when there is none (said in the coverage: the ranges
/// are then guesses); that data as given, in one request, which fidelity is judged on; and
/// the request choices are timed on, of `batch` samples (`None`: the first batch-1 request).
fn calibration_requests(
    model: &Model,
    data: Option<&crate::data::SampleSet>,
    batch: Option<usize>,
    cov: &mut Coverage,
) -> Result<quantize::Samples> {
    let synthesized;
    let set = match data {
        Some(d) => {
            cov.synthesized_data |= d.synthesized;
            d
        }
        None => {
            cov.synthesized_data = true;
            synthesized = crate::data::synthesize(
                model,
                &crate::data::SynthOptions {
                    samples: 16,
                    ..Default::default()
                },
            )?;
            cov.notes.push(
                "calibrated on data synthesized from the model's shapes: the activation ranges are guesses; give sample data (--data) for ranges that fit real inputs".into(),
            );
            &synthesized
        }
    };
    // Calibrated on batch-1 requests (the data as given where the batch is fixed); judged on
    // the data as given.
    let one = model.batch_symbol().is_some().then_some(1);
    let requests = crate::data::requests(model, set, one, 32)?;
    let timing = match batch {
        Some(b) if Some(b) != one => crate::data::requests(model, set, Some(b), 1)
            .with_context(|| format!("int8 cannot be timed at batch {b}"))?
            .swap_remove(0),
        _ => requests[0].clone(),
    };
    Ok(quantize::Samples {
        requests,
        timing,
        check: vec![set.inputs.clone()],
        labels: set
            .labels
            .as_ref()
            .map(|l| l.to_f64_vec().iter().map(|&v| v as i64).collect()),
        batch: batch.or(one).or_else(|| model.fixed_batch()),
        synthesized: set.synthesized,
    })
}

/// [`rewrite`], with the sample data static int8 calibrates on.
pub fn rewrite_with(
    model: &Model,
    variant: &Variant,
    data: Option<&crate::data::SampleSet>,
) -> Result<Rewrite> {
    let mut proto = decode_proto(&model.bytes, &model.info.path)?;
    let mut cov = Coverage::default();
    // prost keeps only the fields it knows (IR 10's node `overload` and `metadata_props` are
    // not among them): say which ones the variant will not carry.
    let unknown = graph::unknown_fields(&model.bytes);
    if !unknown.is_empty() {
        cov.notes.push(format!(
            "fields this build does not know are not carried into the variant (newer ONNX metadata such as node overloads): {}",
            unknown
                .iter()
                .map(|(f, n)| format!("{f} x{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // int8 needs a weight's numbers: fills computed at run time become constants first.
    let int8 = matches!(variant, Variant::Int8(_) | Variant::WeightInt8 { .. });
    let filled = match (int8, proto.graph.as_mut()) {
        (true, Some(g)) => fills::fold(g),
        _ => Vec::new(),
    };
    crate::guard::catch(
        &format!("rewriting the model as {variant}"),
        || match variant {
            Variant::Int8(o) if o.auto => {
                let samples = calibration_requests(model, data, o.batch, &mut cov)?;
                quantize::chosen(model, &mut proto, o, &samples, &mut cov)
            }
            Variant::Int8(o) if o.mix => {
                let samples = calibration_requests(model, data, o.batch, &mut cov)?;
                quantize::mixed(model, &mut proto, o, &samples, &mut cov)
            }
            Variant::Int8(o) if o.calibration.is_some() => {
                let samples = calibration_requests(model, data, o.batch, &mut cov)?;
                quantize::calibrated(model, &mut proto, o, &samples, &mut cov)
            }
            Variant::Int8(o) => quantize::dynamic(&mut proto, o, &mut cov),
            Variant::WeightInt8 { per_channel } => {
                quantize::weight_only(&mut proto, *per_channel, &mut cov)
            }
            Variant::Fp16 => fp16::convert(&mut proto, &mut cov),
            Variant::Prune {
                sparsity,
                structured: true,
                ..
            } => prune::structured(&mut proto, *sparsity, &mut cov),
            Variant::Prune {
                sparsity,
                per_layer,
                ..
            } => prune::magnitude(&mut proto, *sparsity, *per_layer, &mut cov),
            Variant::Trees(k) => trees::cut(&mut proto, trees::Cut::Trees(*k), &mut cov),
            Variant::MaxDepth(d) => trees::cut(&mut proto, trees::Cut::Depth(*d), &mut cov),
            Variant::OrtOpt(_) | Variant::File(_) => {
                bail!("{variant} is not a rewrite of the model")
            }
        },
    )?;
    // Candidates built on the way (auto, per layer) may each have said the same thing.
    let mut said = std::collections::HashSet::new();
    cov.notes.retain(|n| said.insert(n.clone()));
    if cov.changed.is_empty() {
        let why = if cov.skipped.is_empty() {
            match variant {
                Variant::Trees(_) | Variant::MaxDepth(_) => "it has no tree ensemble".to_string(),
                Variant::Fp16 => "it holds no float32 weights".to_string(),
                _ => "it has no MatMul, Gemm or Conv with constant float weights".to_string(),
            }
        } else {
            cov.skipped
                .iter()
                .take(6)
                .map(|s| format!("{} ({}): {}", s.node, s.op, s.note))
                .collect::<Vec<_>>()
                .join("; ")
        };
        // A model quantized before (by its package, or by us) has no float weights left:
        // said first, rather than only each layer's reason.
        let quantized = match (int8, proto.graph.as_ref()) {
            (true, Some(g)) => graph::quantized_ops(g),
            _ => String::new(),
        };
        if !quantized.is_empty() {
            let left = if cov.skipped.is_empty() {
                String::new()
            } else {
                format!("; in float still: {why}")
            };
            bail!(
                "{variant} does not apply to {}: it is already quantized ({quantized}), so it has no float weights left to quantize{left}",
                model.info.name
            );
        }
        bail!("{variant} does not apply to {}: {why}", model.info.name);
    }
    if !filled.is_empty() {
        let stored = proto.graph.as_mut().map(fills::collapse).unwrap_or(0);
        cov.notes.push(format!(
            "{} weight(s) filled at run time (ConstantOfShape) were made constants to quantize them; {stored} tensor(s) holding one value repeated are stored as fills again, so the file holds no weight values",
            filled.len()
        ));
    }
    let graph = proto.graph.as_ref().context("no graph")?;
    graph::check_structure(graph)
        .with_context(|| format!("{variant} would produce an invalid graph; refused"))?;
    if !proto.producer_name.to_lowercase().contains("inferscope") {
        proto.doc_string = format!(
            "{}{}Rewritten by Inferscope as {variant} from {} ({}).",
            proto.doc_string,
            if proto.doc_string.is_empty() {
                ""
            } else {
                "\n"
            },
            model.info.name,
            &model.info.sha256[..12]
        );
    }
    let bytes = proto.encode_to_vec();
    cov.file_bytes_before = model.bytes.len() as u64;
    cov.file_bytes_after = bytes.len() as u64;
    cov.compressed_bytes_before = compressed_size(&model.bytes);
    cov.compressed_bytes_after = compressed_size(&bytes);
    Ok(Rewrite {
        bytes,
        coverage: cov,
    })
}

/// A variant ready to benchmark: its model, ONNX Runtime level, and what the rewrite did.
#[derive(Clone, Debug)]
pub struct Built {
    pub variant: Variant,
    pub name: String,
    pub model: Model,
    pub opt_level: Option<OptLevel>,
    pub coverage: Option<Coverage>,
}

/// Builds a variant of `model`: a rewrite, the same bytes at another ONNX Runtime level, or
/// another file (which must take the same inputs).
pub fn build(model: &Model, variant: &Variant) -> Result<Built> {
    build_with(model, variant, None)
}

/// [`build`], with the sample data static int8 calibrates on.
pub fn build_with(
    model: &Model,
    variant: &Variant,
    data: Option<&crate::data::SampleSet>,
) -> Result<Built> {
    let name = variant.to_string();
    match variant {
        Variant::OrtOpt(l) => Ok(Built {
            variant: variant.clone(),
            name,
            model: model.clone(),
            opt_level: Some(*l),
            coverage: None,
        }),
        Variant::File(p) => {
            let other = Model::load(p)?;
            check_same_task(model, &other)?;
            Ok(Built {
                variant: variant.clone(),
                name,
                model: other,
                opt_level: None,
                coverage: None,
            })
        }
        _ => {
            let r = rewrite_with(model, variant, data)?;
            let path = model.info.path.with_file_name(format!(
                "{}.{}.onnx",
                model.info.name,
                file_tag(variant)
            ));
            let mut m = Model::from_bytes(&path, r.bytes)?;
            m.info.name = format!("{} [{name}]", model.info.name);
            Ok(Built {
                variant: variant.clone(),
                name,
                model: m,
                opt_level: None,
                coverage: Some(r.coverage),
            })
        }
    }
}

/// A file-name-safe tag for a variant.
pub fn file_tag(v: &Variant) -> String {
    v.to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Another model stands in for this one only if it takes the same inputs.
pub fn check_same_task(model: &Model, other: &Model) -> Result<()> {
    let a = model.inputs();
    let b = other.inputs();
    if a.len() != b.len() {
        bail!(
            "{} takes {} inputs but {} takes {}: not a variant of the same task",
            other.info.name,
            b.len(),
            model.info.name,
            a.len()
        );
    }
    for (x, y) in a.iter().zip(b) {
        if x.dtype() != y.dtype() || x.shape().map(|s| s.len()) != y.shape().map(|s| s.len()) {
            bail!(
                "{} input `{}` is {} but {} input `{}` is {}: not a variant of the same task",
                other.info.name,
                y.name,
                y.type_string(),
                model.info.name,
                x.name,
                x.type_string()
            );
        }
    }
    Ok(())
}

/// Writes a rewrite to `out`, atomically, never over the model it came from.
pub fn save(model: &Model, rewrite: &Rewrite, out: &Path) -> Result<()> {
    if let (Ok(a), Ok(b)) = (
        std::fs::canonicalize(&model.info.path),
        std::fs::canonicalize(out),
    ) {
        if a == b {
            bail!(
                "{} is the original model: write the variant to another file",
                out.display()
            );
        }
    }
    crate::fsutil::write_atomic(out, &rewrite.bytes)
}

#[cfg(test)]
mod tests;
