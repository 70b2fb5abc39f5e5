//! `inferscope preset show|check`, and loading a preset for any command.

use super::args::PresetAction;
use anyhow::{bail, Result};
use std::path::Path;

/// Loads a preset for a command, printing what differs on this machine.
pub fn load(path: &Path) -> Result<crate::preset::Loaded> {
    let loaded = crate::preset::Preset::load(path)?;
    for w in &loaded.warnings {
        eprintln!("preset: {w}");
    }
    Ok(loaded)
}

pub fn run(action: PresetAction) -> Result<()> {
    match action {
        PresetAction::Show { file } => {
            let loaded = load(&file)?;
            print!("{}", loaded.preset.to_ron()?);
            if let Some(m) = &loaded.model_path {
                println!("// model resolves to {}", m.display());
            }
            if let Some(d) = &loaded.data_path {
                println!("// data resolves to {}", d.display());
            }
            Ok(())
        }
        PresetAction::Check { file } => {
            let loaded = crate::preset::Preset::load(&file)?;
            // Said once, as the reason it fails, not also as a warning.
            if let Some(m) = loaded.missing_model() {
                bail!(
                    "{}: the model file {} is missing (the preset's `model` names it); put the model there or change `model`",
                    file.display(),
                    m.display()
                );
            }
            for w in &loaded.warnings {
                eprintln!("preset: {w}");
            }
            println!(
                "{}: a valid preset (schema version {}{}){}",
                file.display(),
                loaded.file_version,
                if loaded.file_version < crate::preset::VERSION {
                    ", migrated"
                } else {
                    ""
                },
                if loaded.preset.name.is_empty() {
                    String::new()
                } else {
                    format!(": {}", loaded.preset.name)
                }
            );
            Ok(())
        }
    }
}
