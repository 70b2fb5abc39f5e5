//! `inferscope runtime [install]`: which ONNX Runtime is used, or why none.

use crate::engine::runtime;
use anyhow::Result;
use std::io::Write;
use std::path::Path;

pub fn show(explicit: Option<&Path>) -> Result<()> {
    let located = runtime::locate(explicit);
    let mut out = std::io::stdout().lock();
    match &located.chosen {
        Some(c) => {
            writeln!(
                out,
                "ONNX Runtime {} at {}",
                c.version.as_deref().unwrap_or("?"),
                c.path.display()
            )?;
            writeln!(out, "  found via: {}", c.source.label())?;
            match runtime::global(explicit) {
                Ok(rt) => writeln!(out, "  execution providers: {}", rt.providers.join(", "))?,
                Err(e) => writeln!(out, "  but it could not be started: {e:#}")?,
            }
            let rejected: Vec<_> = located
                .candidates
                .iter()
                .filter(|c| c.problem.is_some())
                .collect();
            for c in rejected {
                writeln!(
                    out,
                    "  skipped {} ({}): {}",
                    c.path.display(),
                    c.source.label(),
                    c.problem.as_deref().unwrap_or("")
                )?;
            }
        }
        None => {
            writeln!(out, "{}", located.why_not_found())?;
            writeln!(out, "Benchmarks will use tract, the built-in engine.")?;
        }
    }
    Ok(())
}

pub fn install() -> Result<()> {
    let (path, version) = runtime::install(&mut |msg| eprintln!("{msg}"))?;
    println!("Installed ONNX Runtime {version} at {}", path.display());
    println!("Inferscope finds it there from now on (see `inferscope runtime`).");
    Ok(())
}
