//! The command line: argument definitions ([`args`]) and one file per command. Only `main.rs`
//! uses it; everything it prints or writes comes from the core.

pub mod args;
mod bench;
mod compare;
mod cost;
mod inspect;
mod load;
mod optimize;
mod preset;
mod profile;
mod progress;
mod runtime;

pub use args::Cli;
use args::{Command, ExportArgs, RuntimeAction};

use crate::fsutil::write_atomic;
use anyhow::{bail, Result};
use std::io::Write;
use std::path::Path;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(())
        }
        Some(Command::Inspect {
            model,
            preset,
            json,
            dims,
        }) => inspect::run(model, preset, json, dims),
        Some(Command::Bench(args)) => bench::run(*args, cli.ort_path),
        Some(Command::Optimize(args)) => optimize::run(&args),
        Some(Command::Compare(args)) => compare::run(*args, cli.ort_path),
        Some(Command::Cost(args)) => cost::run(&args),
        Some(Command::Load(args)) => load::run(*args, cli.ort_path),
        Some(Command::Profile(args)) => profile::run(*args, cli.ort_path),
        Some(Command::Preset { action }) => preset::run(action),
        Some(Command::Report { results, export }) => {
            if export.pdf.is_none() && export.png.is_none() {
                bail!("say what to write: --pdf OUT.pdf and/or --png OUT.png");
            }
            let study = crate::report::Study::from_files(&results)?;
            write_export(&export, &study)
        }
        Some(Command::Isolated { spec }) => crate::bench::isolated::child_main(&spec),
        Some(Command::Runtime { action: None }) => runtime::show(cli.ort_path.as_deref()),
        Some(Command::Runtime {
            action: Some(RuntimeAction::Install),
        }) => runtime::install(),
    }
}

/// Writes the report files asked for, atomically (an existing file is replaced).
fn write_export(e: &ExportArgs, study: &crate::report::Study) -> Result<()> {
    if let Some(p) = &e.pdf {
        write_atomic(p, &crate::report::pdf(study)?)?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &e.png {
        write_atomic(p, &crate::report::png(study)?)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// Writes `text` to `path` atomically, or to stdout for `-`.
fn write_text(path: &Path, text: &str) -> Result<()> {
    if path == Path::new("-") {
        std::io::stdout().write_all(text.as_bytes())?;
        Ok(())
    } else {
        write_atomic(path, text.as_bytes())
    }
}

/// Refuses an output path whose folder does not exist, before any work is done (a long
/// benchmark should not end in "cannot create a file").
fn check_output(path: &Path) -> Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => bail!(
            "cannot write {}: the folder {} does not exist",
            path.display(),
            dir.display()
        ),
        _ if path.is_dir() => bail!("cannot write {}: it is a folder", path.display()),
        _ => Ok(()),
    }
}
