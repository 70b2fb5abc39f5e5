//! What a variant is and how it is spelled: the int8 options, the variants of a model, their
//! spellings (`int8:static:min-cosine=0.99`, `prune:0.5:structured`, ...) both ways, and one
//! line on each.

use super::Target;
use crate::engine::OptLevel;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
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
