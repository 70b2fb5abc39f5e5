//! `inferscope optimize`: write a variant of a model and say what changed.

use super::args::{CalibrationArg, FormatArg, Int8Mode, OptimizeArgs};
use crate::fsutil::write_atomic;
use crate::model::Model;
use anyhow::{bail, Result};
use std::path::Path;

impl OptimizeArgs {
    /// The fidelity target the flags set, checked.
    fn target(&self) -> Result<Option<crate::optimize::Target>> {
        [
            ("min-cosine", self.min_cosine),
            ("min-top1", self.min_top1),
            ("max-error", self.max_error),
            ("max-accuracy-drop", self.max_accuracy_drop),
        ]
        .into_iter()
        .find_map(|(k, v)| Some((k, v?)))
        .map(|(k, v)| crate::optimize::Target::of(k, v).map_err(|e| anyhow::anyhow!("--{e}")))
        .transpose()
    }

    fn variant(&self) -> Result<crate::optimize::Variant> {
        use crate::optimize::{Int8Options, QuantFormat, Variant};
        Ok(if let Some(mode) = self.int8 {
            let calibration = match self.calibration {
                CalibrationArg::Minmax => crate::optimize::Calibration::MinMax,
                CalibrationArg::Percentile => crate::optimize::Calibration::Percentile,
                CalibrationArg::Entropy => crate::optimize::Calibration::Entropy,
            };
            let o = Int8Options {
                per_channel: self.per_channel,
                format: match self.format {
                    FormatArg::Qoperator => QuantFormat::QOperator,
                    FormatArg::Qdq => QuantFormat::Qdq,
                },
                signed: !self.unsigned,
                conv: self.conv,
                exclude: self.exclude.clone(),
                calibration: match mode {
                    Int8Mode::Dynamic => None,
                    Int8Mode::Static | Int8Mode::Auto | Int8Mode::Mix => Some(calibration),
                },
                target: self.target()?,
                auto: mode == Int8Mode::Auto,
                mix: mode == Int8Mode::Mix,
                batch: self.batch,
            };
            o.check().map_err(|e| anyhow::anyhow!("--batch: {e}"))?;
            Variant::Int8(o)
        } else if self.weight_int8 {
            Variant::WeightInt8 {
                per_channel: self.per_channel,
            }
        } else if self.fp16 {
            Variant::Fp16
        } else if let Some(s) = self.prune {
            let spec = format!(
                "prune:{s}{}{}",
                if self.structured { ":structured" } else { "" },
                if self.per_layer { ":per-layer" } else { "" }
            );
            spec.parse()?
        } else if let Some(k) = self.trees {
            format!("trees:{k}").parse()?
        } else if let Some(d) = self.max_depth {
            format!("max-depth:{d}").parse()?
        } else {
            bail!("say which variant to write (--int8, --weight-int8, --fp16, --prune S, --trees K or --max-depth D)")
        })
    }
}

pub fn run(a: &OptimizeArgs) -> Result<()> {
    let variant = a.variant()?;
    let model = Model::load(&a.model)?;
    check_writable(&a.output, a.force)?;
    if let Some(j) = &a.json {
        super::check_output(j)?;
    }
    let data = match &a.data {
        Some(p) => Some(crate::data::load(
            &model,
            &crate::data::DataSource::File {
                path: p.clone(),
                label_column: None,
            },
        )?),
        None => None,
    };
    let rewrite = crate::optimize::rewrite_with(&model, &variant, data.as_ref())?;
    crate::optimize::save(&model, &rewrite, &a.output)?;
    let cov = &rewrite.coverage;
    println!("{variant}: {}", variant.describe());
    if cov.synthesized_data {
        println!("{}", crate::optimize::SYNTHESIZED_WARNING);
    }
    for (what, notes) in [("changed", &cov.changed), ("left   ", &cov.skipped)] {
        for line in crate::optimize::NodeNote::lines(notes) {
            println!("  {what}  {line}");
        }
    }
    println!("{}", cov.summary());
    for n in &cov.notes {
        println!("note: {n}");
    }
    println!("wrote {}", a.output.display());
    if let Some(j) = &a.json {
        write_atomic(j, (serde_json::to_string_pretty(cov)? + "\n").as_bytes())?;
    }
    Ok(())
}

/// The variant's file is a model the user may care about: replaced only with --force.
fn check_writable(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    super::check_output(path)
}
