//! `inferscope inspect`: a model's inputs, outputs, operators, parameters and FLOPs.

use crate::model::Model;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn run(
    model: Option<PathBuf>,
    preset: Option<PathBuf>,
    json: bool,
    dims: Vec<(String, usize)>,
) -> Result<()> {
    let model = match (model, preset) {
        (Some(m), _) => m,
        (None, Some(p)) => super::preset::load(&p)?
            .model_path
            .with_context(|| format!("{} names no model; give one", p.display()))?,
        (None, None) => bail!("give a model (or a --preset that names one)"),
    };
    inspect(&model, json, dims)
}

fn inspect(path: &Path, json: bool, dims: Vec<(String, usize)>) -> Result<()> {
    let mut model = Model::load(path)?;
    crate::engine::tract::fill_flops(&mut model, &dims, None);
    let i = &model.info;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, i)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "Model       {} ({}, {})",
        i.path.display(),
        crate::format::bytes(i.file_size_bytes),
        i.name
    )?;
    if let Some(e) = &i.external_data {
        writeln!(
            out,
            "External    {} tensor(s), {} in {} (read into the model; counted in its size and sha256)",
            e.tensors,
            crate::format::bytes(e.bytes),
            e.files
                .iter()
                .map(|(f, n)| format!("{f} ({})", crate::format::bytes(*n)))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    writeln!(out, "sha256      {}", i.sha256)?;
    let opsets: Vec<String> = i.opsets.iter().map(|(d, v)| format!("{d} {v}")).collect();
    writeln!(
        out,
        "Producer    {}   IR {}   opsets {}",
        i.producer,
        i.ir_version,
        opsets.join(", ")
    )?;
    let width = i
        .inputs
        .iter()
        .chain(&i.outputs)
        .map(|v| v.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(out, "Inputs")?;
    for v in &i.inputs {
        writeln!(out, "  {:width$}  {}", v.name, v.type_string())?;
    }
    writeln!(out, "Outputs")?;
    for v in &i.outputs {
        let note = if v.is_tensor() {
            ""
        } else {
            "   (not a tensor: shown, skipped in numeric comparisons)"
        };
        writeln!(out, "  {:width$}  {}{note}", v.name, v.type_string())?;
    }
    let mut ops: Vec<(&String, &usize)> = i.op_histogram.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    writeln!(
        out,
        "Operators   {} nodes{}: {}",
        i.node_count,
        if i.subgraph_count > 0 {
            format!(" (in the main graph and {} subgraphs)", i.subgraph_count)
        } else {
            String::new()
        },
        ops.iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "Parameters  {} ({}){}",
        crate::format::count(i.parameter_count),
        crate::format::bytes(i.parameter_bytes),
        crate::model::parameter_notes(i)
    )?;
    match i.flops {
        Some(f) => writeln!(
            out,
            "FLOPs       {} per inference {}",
            crate::format::count(f),
            i.flops_note
        )?,
        None => writeln!(out, "FLOPs       {}", i.flops_note)?,
    }
    Ok(())
}
