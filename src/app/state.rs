//! What the window holds: saved settings, the runs on screen, the commands the UI collects.

use super::{compare, cost, plots, Tab};
use crate::bench::{Phase, Plan, RunResult, RunSpec};
use crate::preset::Preset;
use crate::settings::BenchSettings;
use crate::worker::Worker;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::time::Instant;

/// The settings panel's text fields, parsed into the settings as the user types; what does not
/// parse is shown beside the field and keeps Run from starting. Not saved: it follows the
/// settings.
#[derive(Clone, Debug, Default)]
pub struct SettingsText {
    pub batch_sizes: String,
    pub dims: String,
    /// Why the text does not parse, by field.
    pub batch_error: Option<String>,
    pub dims_error: Option<String>,
}

impl SettingsText {
    pub fn of(s: &BenchSettings) -> SettingsText {
        SettingsText {
            batch_sizes: s.batch_text(),
            dims: s.dims_text(),
            ..SettingsText::default()
        }
    }

    /// Shows the settings' values again when they were changed elsewhere (a preset, a
    /// restart); text being edited with an error is left as typed.
    pub fn follow(&mut self, s: &BenchSettings) {
        if self.batch_error.is_none()
            && crate::settings::parse_batch_sizes(&self.batch_sizes)
                .ok()
                .as_ref()
                != Some(&s.batch_sizes)
        {
            self.batch_sizes = s.batch_text();
        }
        if self.dims_error.is_none()
            && crate::settings::parse_dims(&self.dims).ok().as_ref() != Some(&s.dims)
        {
            self.dims = s.dims_text();
        }
    }

    /// Parses the text into `s`; keeps the error to show when it does not parse.
    pub fn apply(&mut self, s: &mut BenchSettings) {
        match crate::settings::parse_batch_sizes(&self.batch_sizes) {
            Ok(b) => {
                s.batch_sizes = b;
                self.batch_error = None;
            }
            Err(e) => self.batch_error = Some(e),
        }
        match crate::settings::parse_dims(&self.dims) {
            Ok(d) => {
                s.dims = d;
                self.dims_error = None;
            }
            Err(e) => self.dims_error = Some(e),
        }
    }
}

/// Where the benchmark settings are stored, apart from the rest of [`Saved`]: settings saved
/// by a version with another shape then fall back to the defaults alone, and the recent files
/// and the rest survive.
pub(super) const SETTINGS_KEY: &str = "inferscope-settings";

/// What survives a restart.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Saved {
    /// Stored under its own key (see `SETTINGS_KEY`).
    #[serde(skip)]
    pub settings: BenchSettings,
    pub recent: Vec<PathBuf>,
    pub model_path: Option<PathBuf>,
    pub data_path: Option<PathBuf>,
    pub dark_mode: bool,
    pub tab: Option<Tab>,
    pub cost: cost::CostSettings,
    /// The preset last loaded or saved: File > Save preset writes it.
    pub preset_path: Option<PathBuf>,
    pub compare: compare::CompareSettings,
    pub ops: super::operators::OpsSettings,
}

/// A run as the window sees it: live samples, then the result.
#[derive(Default)]
pub struct RunView {
    pub spec: Option<RunSpec>,
    pub warmup_ms: Vec<f32>,
    pub measure_ms: Vec<f32>,
    pub result: Option<RunResult>,
    pub failed: Option<String>,
    /// Histogram and CDF of `measure_ms`, recomputed when new samples arrive.
    pub dist: Option<plots::Distribution>,
}

/// The state of the current (or last) benchmark.
pub struct Session {
    /// What was asked for, for the report.
    pub plan: Option<Plan>,
    pub data: String,
    pub worker: Option<Worker>,
    pub runs: BTreeMap<usize, RunView>,
    pub started: Instant,
    /// (seconds since start, resident MB)
    pub memory: Vec<[f64; 2]>,
    pub progress: Option<(usize, Phase, u64, Option<u64>)>,
    /// Runs done and about how long is left.
    pub study: Option<crate::bench::progress::StudyProgress>,
    pub cancelled: bool,
    pub finished: bool,
    pub notice: Option<String>,
    /// Runs of the default batch sweep skipped as too slow for the time cap, and why.
    pub skipped: Vec<String>,
}

impl Session {
    pub fn results(&self) -> Vec<&RunResult> {
        self.runs
            .values()
            .filter_map(|r| r.result.as_ref())
            .collect()
    }
}

/// What File > Export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Pdf,
    Png,
    Json,
    Csv,
}

impl ExportKind {
    pub fn extension(self) -> &'static str {
        match self {
            ExportKind::Pdf => "pdf",
            ExportKind::Png => "png",
            ExportKind::Json => "json",
            ExportKind::Csv => "csv",
        }
    }
}

/// A request made by the UI during a frame, applied at its end.
pub enum Command {
    Open(PathBuf),
    Run,
    Cancel,
    Compare,
    /// Profile the open model operator by operator (Operators tab).
    ProfileOps,
    /// Profile this variant (spelled as `--variant`) against the original (Operators tab).
    OpsForVariant(String),
    /// Measure the open model under open-loop load (Cost tab).
    Load(super::load::LoadKind),
    /// Leave this layer in float in the int8 variant and compare again.
    ExcludeLayer(String),
    /// Write the variant (spelled as `compare --variant`) to a file.
    SaveVariant(String, PathBuf),
    InstallRuntime,
    ClearData,
    /// Write a report or the results; asks first when the file exists.
    Export(ExportKind, PathBuf),
    /// The answer to "replace the existing file?".
    ConfirmExport(bool),
    SavePreset(PathBuf),
    /// Fill the settings from a preset (a shipped one: no model or data to open).
    ApplyPreset(Box<Preset>),
}

/// The state of `runtime install` started from the window.
/// What the install job sends: a line of its log, then how it ended.
pub enum InstallMsg {
    Progress(String),
    Done(Result<String, String>),
}

pub struct Install {
    pub messages: Receiver<InstallMsg>,
    pub log: Vec<String>,
    pub done: Option<Result<String, String>>,
}
