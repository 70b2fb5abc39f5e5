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

/// Every spelling [`Variant`]'s parser accepts (also `compare --help` and its errors).
pub const SPELLINGS: &str = "int8 (int8 alone is int8:auto), \
int8:auto[:minmax|:percentile|:entropy][:TARGET][:batch=N][:exclude=NODE,NODE] (dynamic, static and \
their mix built, held to the target, the fastest here kept), \
int8:dynamic[:per-channel|:per-tensor][:qdq|:qoperator][:unsigned|:uint8|:signed][:conv][:exclude=NODE,NODE] \
(int8 with one of these options and no form, e.g. int8:conv, is dynamic), \
int8:static[:minmax|:percentile|:entropy][:TARGET][:batch=N][:exclude=NODE,NODE], \
int8:mix[:minmax|:percentile|:entropy][:TARGET][:batch=N][:exclude=NODE,NODE] (TARGET: \
min-cosine=C, min-top1=P, max-error=E or max-accuracy-drop=D; batch=N: the batch size to time at), \
weight-int8[:per-channel], fp16, prune:S[:structured][:per-layer|:global], trees:K, max-depth:D, \
ort:disabled|basic|extended|all, file:PATH";

/// The options only dynamic int8 takes: named after `int8` with no form, they make it dynamic.
const DYNAMIC_OPTIONS: [&str; 8] = [
    "per-channel",
    "per-tensor",
    "qdq",
    "qoperator",
    "unsigned",
    "uint8",
    "signed",
    "conv",
];

/// Why `int8:dynamic` cannot be named with another form.
const DYNAMIC_ALONE: &str =
    "dynamic int8 is a form of its own: it does not go with auto, static or mix";

/// The int8 forms, as a spelling names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Auto,
    Dynamic,
    Static,
    Mix,
}

/// What `int8` with no form named means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bare {
    /// The form that runs fastest here (`int8:auto`), as `optimize --int8` is; dynamic where an
    /// option only dynamic int8 takes is named.
    Auto,
    /// As spelled before bare `int8` meant auto: dynamic, or static where a calibration method
    /// or a fidelity target is named.
    DynamicOrStatic,
}

/// Writes the options of the dynamic form that differ from its defaults.
fn write_dynamic_options(f: &mut fmt::Formatter<'_>, o: &Int8Options) -> fmt::Result {
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
    Ok(())
}

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
                    // Auto's dynamic candidate takes them.
                    write_dynamic_options(f, o)?;
                    if !o.exclude.is_empty() {
                        write!(f, ":exclude={}", o.exclude.join(","))?;
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
                // An option only dynamic int8 takes names the form; without one, it is named.
                if !(o.per_channel || o.format == QuantFormat::Qdq || !o.signed || o.conv) {
                    f.write_str(":dynamic")?;
                }
                write_dynamic_options(f, o)?;
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

    /// `int8` alone is `int8:auto`, as `optimize --int8` is.
    fn from_str(s: &str) -> Result<Variant> {
        Variant::parse(s, Bare::Auto)
    }
}

impl Variant {
    /// Reads a variant as it was spelled before bare `int8` meant `int8:auto` (presets of
    /// schema version 2): `int8` with no form named is dynamic int8, or static int8 where a
    /// calibration method or a fidelity target is named.
    pub fn parse_dynamic_default(s: &str) -> Result<Variant> {
        Variant::parse(s, Bare::DynamicOrStatic)
    }

    fn parse(s: &str, bare: Bare) -> Result<Variant> {
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
                let mut form: Option<Form> = None;
                for r in rest.iter().copied() {
                    let named = match r {
                        "auto" => Some(Form::Auto),
                        "dynamic" => Some(Form::Dynamic),
                        "static" => Some(Form::Static),
                        "mix" => Some(Form::Mix),
                        _ => None,
                    };
                    if let Some(f) = named {
                        form = Some(match form {
                            None => f,
                            Some(g) if g == f => f,
                            Some(Form::Dynamic) => return Err(bad(DYNAMIC_ALONE)),
                            _ if f == Form::Dynamic => return Err(bad(DYNAMIC_ALONE)),
                            // As read before `dynamic` was a word: auto over the mix over static.
                            Some(g) => {
                                if [g, f].contains(&Form::Auto) {
                                    Form::Auto
                                } else {
                                    Form::Mix
                                }
                            }
                        });
                        continue;
                    }
                    match r {
                        "per-channel" => o.per_channel = true,
                        "per-tensor" => o.per_channel = false,
                        "qdq" => o.format = QuantFormat::Qdq,
                        "qoperator" => o.format = QuantFormat::QOperator,
                        "unsigned" | "uint8" => o.signed = false,
                        "signed" => o.signed = true,
                        "conv" => o.conv = true,
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
                let form = match (form, bare) {
                    (Some(f), _) => f,
                    (None, Bare::Auto) if rest.iter().any(|r| DYNAMIC_OPTIONS.contains(r)) => {
                        Form::Dynamic
                    }
                    (None, Bare::Auto) => Form::Auto,
                    (None, Bare::DynamicOrStatic)
                        if o.calibration.is_some() || o.target.is_some() =>
                    {
                        Form::Static
                    }
                    (None, Bare::DynamicOrStatic) => Form::Dynamic,
                };
                match form {
                    // MinMax is auto's default: one value, one spelling.
                    Form::Auto => {
                        o.auto = true;
                        o.calibration = o.calibration.filter(|c| *c != Calibration::MinMax);
                    }
                    Form::Static => {
                        o.calibration.get_or_insert(Calibration::MinMax);
                    }
                    Form::Mix => {
                        o.mix = true;
                        o.calibration.get_or_insert(Calibration::MinMax);
                    }
                    Form::Dynamic if o.calibration.is_some() || o.target.is_some() => {
                        return Err(bad(
                            "dynamic int8 quantizes activations per request: it takes no calibration method and no fidelity target (int8, int8:static and int8:mix do)",
                        ))
                    }
                    Form::Dynamic => {}
                }
                // Auto passes these to its dynamic candidate.
                if matches!(form, Form::Static | Form::Mix)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn int8(s: &str) -> Int8Options {
        match s.parse::<Variant>() {
            Ok(Variant::Int8(o)) => o,
            other => panic!("{s}: {other:?}"),
        }
    }

    /// `int8` is what `optimize --int8` builds: the form that runs fastest here, with the
    /// options auto takes; an option only dynamic int8 takes, alone, still means dynamic.
    #[test]
    fn bare_int8_is_auto_and_dynamic_is_named() {
        assert_eq!(int8("int8"), int8("int8:auto"));
        assert!(int8("int8").auto);
        let o = int8("int8:min-top1=0.95:batch=8");
        assert!(o.auto && o.calibration.is_none(), "{o:?}");
        assert_eq!((o.target, o.batch), (Some(Target::MinTop1(0.95)), Some(8)));
        assert_eq!(int8("int8:percentile"), int8("int8:auto:percentile"));
        let d = int8("int8:dynamic");
        assert!(!d.auto && !d.mix && d.calibration.is_none(), "{d:?}");
        assert_eq!(int8("int8:conv"), int8("int8:dynamic:conv"));
        assert_eq!(
            int8("int8:per-channel:qdq:unsigned"),
            int8("int8:dynamic:per-channel:qdq:unsigned")
        );
        assert_eq!(int8("int8:static").calibration, Some(Calibration::MinMax));
        assert!(int8("int8:mix:entropy").mix);
        // Two forms, as read before `dynamic` was a word: auto over the mix over static.
        assert_eq!(int8("int8:static:auto"), int8("int8:auto"));
        assert_eq!(int8("int8:static:mix"), int8("int8:mix"));
        for (bad, why) in [
            ("int8:dynamic:auto", "a form of its own"),
            ("int8:static:dynamic", "a form of its own"),
            ("int8:dynamic:min-cosine=0.9", "no fidelity target"),
            ("int8:dynamic:percentile", "no calibration method"),
            ("int8:dynamic:batch=4", "dynamic int8 times nothing"),
            ("int8:conv:batch=4", "dynamic int8 times nothing"),
        ] {
            let e = bad.parse::<Variant>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    /// What a variant prints is what it parses back to, every form with its options; int8
    /// prints the form it is (or an option only that form takes), so a name in a table or a
    /// preset never changes meaning.
    #[test]
    fn every_variant_prints_as_it_parses() {
        for (spelled, printed) in [
            ("int8", "int8:auto"),
            ("int8:auto:minmax", "int8:auto"),
            ("int8:exclude=fc", "int8:auto:exclude=fc"),
            ("int8:dynamic:conv", "int8:conv"),
            ("int8:per-tensor:qoperator:signed", "int8:dynamic"),
            ("int8:dynamic:exclude=fc", "int8:dynamic:exclude=fc"),
            ("int8:uint8", "int8:unsigned"),
            ("prune:0.5:global", "prune:0.5"),
        ] {
            let v: Variant = spelled.parse().unwrap();
            assert_eq!(v.to_string(), printed, "{spelled}");
            assert_eq!(printed.parse::<Variant>().unwrap(), v, "{printed}");
        }
        for s in [
            "int8:auto",
            "int8:auto:entropy:max-error=0.05:batch=4:exclude=a,b",
            "int8:auto:per-channel:conv",
            "int8:auto:percentile:per-channel",
            "int8:dynamic",
            "int8:per-channel:qdq:unsigned:conv:exclude=a",
            "int8:conv",
            "int8:static:percentile:min-cosine=0.95:batch=8:exclude=a",
            "int8:mix:max-accuracy-drop=0.01",
            "weight-int8",
            "weight-int8:per-channel",
            "fp16",
            "prune:0.3:structured:per-layer",
            "trees:4",
            "max-depth:2",
            "ort:extended",
            "file:other.onnx",
        ] {
            let v: Variant = s.parse().unwrap_or_else(|e| panic!("{s}: {e:#}"));
            assert_eq!(v.to_string(), s);
            assert_eq!(v.to_string().parse::<Variant>().unwrap(), v, "{s}");
        }
    }

    /// Spelled as before bare `int8` meant auto (presets of schema version 2), a variant keeps
    /// the meaning it had: dynamic, or static with a calibration method or target.
    #[test]
    fn the_old_reading_keeps_old_meanings() {
        let old = |s: &str| Variant::parse_dynamic_default(s).unwrap();
        let new = |s: &str| s.parse::<Variant>().unwrap();
        assert_eq!(old("int8"), new("int8:dynamic"));
        assert_eq!(old("int8:exclude=fc"), new("int8:dynamic:exclude=fc"));
        assert_eq!(old("int8:conv"), new("int8:dynamic:conv"));
        assert_eq!(old("int8:percentile"), new("int8:static:percentile"));
        assert_eq!(
            old("int8:min-top1=0.9:batch=4"),
            new("int8:static:min-top1=0.9:batch=4")
        );
        assert_eq!(old("int8:auto:batch=4"), new("int8:auto:batch=4"));
        assert_eq!(old("int8:mix"), new("int8:mix"));
        assert_eq!(old("prune:0.5:structured"), new("prune:0.5:structured"));
        // Dynamic took no batch then either.
        assert!(Variant::parse_dynamic_default("int8:batch=4").is_err());
    }

    /// The list `compare --help` and every spelling error show names each word the parser
    /// takes, and each of those words parses.
    #[test]
    fn spellings_name_every_word_the_parser_takes() {
        let int8_options = [
            "auto",
            "dynamic",
            "static",
            "mix",
            "minmax",
            "percentile",
            "entropy",
        ]
        .into_iter()
        .chain(DYNAMIC_OPTIONS)
        .map(String::from)
        .chain(Target::KINDS.iter().map(|k| format!("{k}=")))
        .chain(["batch=", "exclude="].map(String::from));
        for w in int8_options {
            // Targets are listed once, under TARGET.
            let listed = if Target::KINDS.iter().any(|k| w == format!("{k}=")) {
                w.clone()
            } else {
                format!(":{w}")
            };
            assert!(
                SPELLINGS.contains(&listed),
                "{listed} is not in {SPELLINGS}"
            );
            let spelled = match w.as_str() {
                "batch=" => "int8:batch=2".to_string(),
                "exclude=" => "int8:exclude=a".to_string(),
                k if k.ends_with('=') => format!("int8:{k}0.9"),
                k => format!("int8:{k}"),
            };
            assert!(spelled.parse::<Variant>().is_ok(), "{spelled}");
        }
        for s in [
            "weight-int8[:per-channel]",
            "fp16",
            "prune:S[:structured][:per-layer|:global]",
            "trees:K",
            "max-depth:D",
            "ort:disabled|basic|extended|all",
            "file:PATH",
        ] {
            assert!(SPELLINGS.contains(s), "{s} is not in {SPELLINGS}");
        }
        for s in ["prune:0.5:structured:global", "ort:disabled", "ort:all"] {
            assert!(s.parse::<Variant>().is_ok(), "{s}");
        }
    }
}
