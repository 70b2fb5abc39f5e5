//! Optimized variants of a model: graph rewrites on the ONNX protobuf (int8, weight-only int8,
//! fp16, pruning, tree cuts), ONNX Runtime optimization levels, and other model files.

mod fills;
pub mod fp16;
pub mod graph;
pub mod prune;
pub mod quantize;
mod target;
pub use target::Target;
pub mod trees;

use crate::engine::OptLevel;
use crate::model::{decode_proto, Model};
use anyhow::{bail, Context, Result};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tract_onnx::pb;

/// How int8 weights and activations are written into the graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantFormat {
    /// DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast -> Mul.
    #[default]
    QOperator,
    /// DynamicQuantizeLinear -> DequantizeLinear -> float op <- DequantizeLinear <- int8 weight.
    Qdq,
}

/// How static int8 learns each activation's range from the sample data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Calibration {
    /// The smallest and largest value seen.
    #[default]
    MinMax,
    /// The 0.01% and 99.99% percentiles: outliers clipped.
    Percentile,
    /// The clipping threshold that keeps the 8-bit histogram closest (KL divergence) to the
    /// float one.
    Entropy,
}

impl Calibration {
    pub fn name(self) -> &'static str {
        match self {
            Calibration::MinMax => "minmax",
            Calibration::Percentile => "percentile",
            Calibration::Entropy => "entropy",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Int8Options {
    pub per_channel: bool,
    pub format: QuantFormat,
    /// int8 weights (symmetric); false: uint8 (asymmetric).
    pub signed: bool,
    /// Also quantize Conv (ConvInteger is usually slower than float Conv on CPU).
    pub conv: bool,
    /// Node names (or first output names) left in float.
    pub exclude: Vec<String>,
    /// Static int8 (QDQ with activation ranges calibrated on the sample data) by this method;
    /// `None`: dynamic (activations quantized per request).
    pub calibration: Option<Calibration>,
    /// Static and automatic int8's fidelity target ([`Target::default`], the outputs' cosine
    /// similarity 0.99, when unset).
    pub target: Option<Target>,
    /// Build dynamic and static int8 and keep the one that runs fastest on this machine
    /// among those that meet the fidelity target.
    pub auto: bool,
    /// The mix: convolutions in static int8 (calibrated), matrix products in dynamic int8.
    pub mix: bool,
    /// The batch size the model will serve: static, mix and auto int8 time their choices (the
    /// forms, the per-layer pass's profile, returned layers' cost) on requests of this many
    /// samples. `None`: batch 1 (or the model's fixed batch).
    pub batch: Option<usize>,
}

impl Int8Options {
    /// Refuses options that cannot go together, as the user spelled them.
    pub fn check(&self) -> Result<()> {
        match self.batch {
            Some(0) => bail!("the batch size must be a whole number of at least 1"),
            Some(_) if self.calibration.is_none() && !self.auto => bail!(
                "dynamic int8 times nothing, so it takes no batch: a batch is for static, mix and auto int8"
            ),
            _ => Ok(()),
        }
    }
}

/// One variant of the model being compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Variant {
    Int8(Int8Options),
    WeightInt8 {
        per_channel: bool,
    },
    Fp16,
    Prune {
        sparsity: f64,
        structured: bool,
        per_layer: bool,
    },
    Trees(usize),
    MaxDepth(usize),
    /// The same model with another ONNX Runtime graph optimization level.
    OrtOpt(OptLevel),
    /// Another model for the same task (a distilled student, say).
    File(PathBuf),
}

pub const SPELLINGS: &str = "int8[:per-channel][:qdq][:unsigned][:conv][:exclude=NODE,NODE], \
int8:static[:minmax|:percentile|:entropy][:TARGET], int8:mix[:TARGET], int8:auto[:TARGET] (TARGET: \
min-cosine=C, min-top1=P, max-error=E or max-accuracy-drop=D; each also takes :batch=N, the batch \
size to time at), \
weight-int8[:per-channel], fp16, prune:S[:structured|:per-layer], trees:K, max-depth:D, \
ort:disabled|basic|extended|all, file:PATH";

fn opt_level_name(l: OptLevel) -> &'static str {
    match l {
        OptLevel::Disabled => "disabled",
        OptLevel::Basic => "basic",
        OptLevel::Extended => "extended",
        OptLevel::All => "all",
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variant::Int8(o) => {
                f.write_str("int8")?;
                if o.auto {
                    f.write_str(":auto")?;
                    if let Some(c) = o.calibration.filter(|c| *c != Calibration::MinMax) {
                        write!(f, ":{}", c.name())?;
                    }
                    if let Some(t) = o.target {
                        write!(f, ":{t}")?;
                    }
                    if let Some(b) = o.batch {
                        write!(f, ":batch={b}")?;
                    }
                    return Ok(());
                }
                if let Some(c) = o.calibration {
                    f.write_str(if o.mix { ":mix" } else { ":static" })?;
                    if c != Calibration::MinMax {
                        write!(f, ":{}", c.name())?;
                    }
                    if let Some(t) = o.target {
                        write!(f, ":{t}")?;
                    }
                    if let Some(b) = o.batch {
                        write!(f, ":batch={b}")?;
                    }
                    if !o.exclude.is_empty() {
                        write!(f, ":exclude={}", o.exclude.join(","))?;
                    }
                    return Ok(());
                }
                if o.per_channel {
                    f.write_str(":per-channel")?;
                }
                if o.format == QuantFormat::Qdq {
                    f.write_str(":qdq")?;
                }
                if !o.signed {
                    f.write_str(":unsigned")?;
                }
                if o.conv {
                    f.write_str(":conv")?;
                }
                if !o.exclude.is_empty() {
                    write!(f, ":exclude={}", o.exclude.join(","))?;
                }
                Ok(())
            }
            Variant::WeightInt8 { per_channel } => {
                write!(
                    f,
                    "weight-int8{}",
                    if *per_channel { ":per-channel" } else { "" }
                )
            }
            Variant::Fp16 => f.write_str("fp16"),
            Variant::Prune {
                sparsity,
                structured,
                per_layer,
            } => write!(
                f,
                "prune:{sparsity}{}{}",
                if *structured { ":structured" } else { "" },
                if *per_layer { ":per-layer" } else { "" }
            ),
            Variant::Trees(k) => write!(f, "trees:{k}"),
            Variant::MaxDepth(d) => write!(f, "max-depth:{d}"),
            Variant::OrtOpt(l) => write!(f, "ort:{}", opt_level_name(*l)),
            Variant::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl FromStr for Variant {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Variant> {
        let s = s.trim();
        if let Some(p) = s.strip_prefix("file:") {
            if p.is_empty() {
                bail!("`file:` needs a path to an ONNX model");
            }
            return Ok(Variant::File(PathBuf::from(p)));
        }
        let mut parts = s.split(':');
        let head = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        let bad = |what: &str| anyhow::anyhow!("`{s}`: {what}. Variants are spelled {SPELLINGS}");
        let number = |v: Option<&&str>, what: &str| -> Result<f64> {
            v.and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| bad(&format!("{what} must be a number")))
        };
        match head {
            "int8" => {
                let mut o = Int8Options {
                    signed: true,
                    ..Default::default()
                };
                for r in rest.iter().copied() {
                    match r {
                        "per-channel" => o.per_channel = true,
                        "per-tensor" => o.per_channel = false,
                        "qdq" => o.format = QuantFormat::Qdq,
                        "qoperator" => o.format = QuantFormat::QOperator,
                        "unsigned" | "uint8" => o.signed = false,
                        "signed" => o.signed = true,
                        "conv" => o.conv = true,
                        "static" => {
                            o.calibration.get_or_insert(Calibration::MinMax);
                        }
                        "auto" => o.auto = true,
                        "mix" => {
                            o.mix = true;
                            o.calibration.get_or_insert(Calibration::MinMax);
                        }
                        "minmax" => o.calibration = Some(Calibration::MinMax),
                        "percentile" => o.calibration = Some(Calibration::Percentile),
                        "entropy" => o.calibration = Some(Calibration::Entropy),
                        x if Target::KINDS
                            .iter()
                            .any(|k| x.strip_prefix(k).is_some_and(|v| v.starts_with('='))) =>
                        {
                            let (kind, v) = x.split_once('=').unwrap_or_default();
                            let v = number(Some(&v), kind)?;
                            o.target = Some(Target::of(kind, v).map_err(|e| bad(&e.to_string()))?);
                            if !o.auto {
                                o.calibration.get_or_insert(Calibration::MinMax);
                            }
                        }
                        x if x.starts_with("batch=") => {
                            o.batch = Some(x["batch=".len()..].parse::<usize>().map_err(|_| {
                                bad("the batch size must be a whole number of at least 1")
                            })?)
                        }
                        x if x.starts_with("exclude=") => o.exclude.extend(
                            x["exclude=".len()..]
                                .split(',')
                                .filter(|n| !n.is_empty())
                                .map(String::from),
                        ),
                        x => return Err(bad(&format!("unknown int8 option `{x}`"))),
                    }
                }
                if o.calibration.is_some()
                    && (o.format == QuantFormat::Qdq || o.per_channel || o.conv || !o.signed)
                    && rest.iter().any(|r| {
                        matches!(*r, "qdq" | "per-channel" | "conv" | "unsigned" | "uint8")
                    })
                {
                    return Err(bad(
                        "static int8 (and the mix) is always QDQ, per-channel int8 weights, uint8 activations, Conv included: it takes only a calibration method, a fidelity target, a batch and exclude",
                    ));
                }
                o.check().map_err(|e| bad(&e.to_string()))?;
                Ok(Variant::Int8(o))
            }
            "weight-int8" => match rest.as_slice() {
                [] => Ok(Variant::WeightInt8 { per_channel: false }),
                ["per-channel"] => Ok(Variant::WeightInt8 { per_channel: true }),
                _ => Err(bad("weight-int8 takes only :per-channel")),
            },
            "fp16" if rest.is_empty() => Ok(Variant::Fp16),
            "prune" => {
                let sparsity = number(rest.first(), "the sparsity")?;
                if !(sparsity > 0.0 && sparsity < 1.0) {
                    return Err(bad(
                        "the sparsity must be between 0 and 1 (0.5 removes half)",
                    ));
                }
                let mut structured = false;
                let mut per_layer = false;
                for r in &rest[1..] {
                    match *r {
                        "structured" => structured = true,
                        "per-layer" => per_layer = true,
                        "global" => per_layer = false,
                        x => return Err(bad(&format!("unknown prune option `{x}`"))),
                    }
                }
                Ok(Variant::Prune {
                    sparsity,
                    structured,
                    per_layer,
                })
            }
            "trees" | "max-depth" => {
                let v = number(rest.first(), "the count")?;
                if v < 1.0 || v.fract() != 0.0 || rest.len() > 1 {
                    return Err(bad("needs a whole number of at least 1"));
                }
                Ok(if head == "trees" {
                    Variant::Trees(v as usize)
                } else {
                    Variant::MaxDepth(v as usize)
                })
            }
            "ort" => Ok(Variant::OrtOpt(match rest.as_slice() {
                ["disabled"] => OptLevel::Disabled,
                ["basic"] => OptLevel::Basic,
                ["extended"] => OptLevel::Extended,
                ["all"] => OptLevel::All,
                _ => return Err(bad("the level is disabled, basic, extended or all")),
            })),
            _ => Err(bad("unknown variant")),
        }
    }
}

impl Variant {
    /// One line on what the variant is and what to expect from it.
    pub fn describe(&self) -> String {
        match self {
            Variant::Int8(Int8Options {
                auto: true,
                target,
                batch,
                ..
            }) => format!(
                "int8 as this machine runs it fastest: dynamic, static and their mix (static convolutions, dynamic matrix products) built, each held to {} on the sample data, timed against the float model at batch {}, the fastest kept",
                target.unwrap_or_default().describe(),
                batch.unwrap_or(1)
            ),
            Variant::Int8(Int8Options {
                mix: true, target, ..
            }) => format!(
                "int8 mixed: convolutions in static int8 (QDQ, ranges calibrated on the sample data), matrix products in dynamic int8; held to {}",
                target.unwrap_or_default().describe()
            ),
            Variant::Int8(Int8Options {
                calibration: Some(c),
                target,
                ..
            }) => format!(
                "static int8 (QDQ: ONNX Runtime fuses it into QLinearConv/QLinearMatMul): per-channel int8 weights, uint8 activations with ranges calibrated ({}) on the sample data; layers returned to float until it holds {}",
                c.name(),
                target.unwrap_or_default().describe()
            ),
            Variant::Int8(o) => format!(
                "dynamic int8 ({}, {}, {} weights): activations quantized per request",
                if o.format == QuantFormat::Qdq { "QDQ" } else { "operator form" },
                if o.per_channel { "per channel" } else { "per tensor" },
                if o.signed { "int8" } else { "uint8" }
            ),
            Variant::WeightInt8 { .. } => {
                "int8 weights turned back into float by DequantizeLinear: a file about 4x smaller; tract folds that at load, ONNX Runtime runs it on every request".into()
            }
            Variant::Fp16 => {
                "float16 weights and compute (float32 in and out); on CPUs without native fp16 this is usually slower".into()
            }
            Variant::Prune {
                structured: false, ..
            } => "zeros in the weights: the file compresses better, but dense kernels do the same work, so it does not run faster".into(),
            Variant::Prune { .. } => {
                "hidden units and channels removed: smaller tensors and less work".into()
            }
            Variant::Trees(k) => format!("the first {k} trees of each ensemble"),
            Variant::MaxDepth(d) => format!("every tree cut at depth {d}"),
            Variant::OrtOpt(l) => format!(
                "the same model with ONNX Runtime's graph optimizations at `{}` (tract ignores this)",
                opt_level_name(*l)
            ),
            Variant::File(p) => format!("another model: {}", p.display()),
        }
    }

    /// Whether this variant is a rewrite of the model (what `optimize` can save).
    pub fn is_rewrite(&self) -> bool {
        !matches!(self, Variant::OrtOpt(_) | Variant::File(_))
    }
}

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
        });
    }

    pub fn skip(&mut self, node: &str, op: &str, note: String) {
        self.skipped.push(NodeNote {
            node: node.into(),
            op: op.into(),
            note,
            bytes_before: 0,
            bytes_after: 0,
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
        Some(d) => d,
        None => {
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
