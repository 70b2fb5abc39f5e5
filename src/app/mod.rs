//! The desktop window. `logic` ingests worker events and applies commands even when nothing is
//! drawn; the `*_ui` functions only draw and collect commands.

pub mod compare;
pub mod cost;
pub mod plots;
mod profile;
mod ui;

use crate::bench::{Event, Phase, Plan, RunResult, RunSpec};
use crate::data::{DataSource, SynthOptions};
use crate::engine::runtime::{self, Located};
use crate::engine::EngineOptions;
use crate::model::Model;
use crate::preset::Preset;
use crate::settings::BenchSettings;
use crate::worker::{BenchJob, Worker};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How often the window repaints while a benchmark streams events.
pub const REPAINT_EVERY: Duration = Duration::from_millis(250);
/// The same with software rendering (no GPU): drawing a frame of plots then takes tens of
/// milliseconds of CPU, which a benchmark of a model using every core would measure.
pub const REPAINT_EVERY_SOFTWARE: Duration = Duration::from_secs(2);

/// The tabs of the main area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    Profile,
    Compare,
    Cost,
}

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
const SETTINGS_KEY: &str = "inferscope-settings";

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
    pub cancelled: bool,
    pub finished: bool,
    pub notice: Option<String>,
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
pub struct Install {
    pub messages: Receiver<Result<String, String>>,
    pub log: Vec<String>,
    pub done: Option<Result<String, String>>,
}

pub struct InferscopeApp {
    pub saved: Saved,
    /// The settings panel's text fields (batch sizes, dims).
    pub settings_text: SettingsText,
    pub model: Option<Model>,
    pub session: Option<Session>,
    pub errors: Vec<String>,
    /// Things worth knowing that are not errors (what a preset changed, how this machine
    /// differs from the one it was saved on).
    pub notices: Vec<String>,
    pub located: Located,
    pub install: Option<Install>,
    pub path_input: String,
    pub selected_run: Option<usize>,
    /// The Cost tab's service-time source as picked (`None`: the default choice).
    pub cost_source: Option<cost::CostSource>,
    cost_cache: Option<cost::CostView>,
    /// An export waiting for "replace the existing file?".
    pub pending_export: Option<(ExportKind, PathBuf)>,
    /// The comparison under way or last finished (Compare tab).
    pub compare: Option<compare::CompareSession>,
    /// The variant whose per-layer drift is shown.
    pub compare_selected: Option<String>,
    /// The engine x batch the Compare charts show.
    pub compare_view: Option<(crate::engine::EngineKind, usize)>,
    commands: Vec<Command>,
    ctx: Option<egui::Context>,
    /// Whether frames are drawn on the CPU (no GPU): live plots then refresh less often.
    pub software_rendering: bool,
    /// FLOPs of the open model, estimated on another thread: (sha256, flops, note).
    flops: Option<Receiver<(String, Option<u64>, String)>>,
}

impl InferscopeApp {
    /// The app with saved state from eframe storage.
    pub fn new(cc: &eframe::CreationContext<'_>) -> InferscopeApp {
        InferscopeApp::new_with_storage(cc, cc.storage)
    }

    /// The app with saved state read from `storage`: what [`Self::new`] does with eframe's
    /// storage, and what a test does with its own.
    pub fn new_with_storage(
        cc: &eframe::CreationContext<'_>,
        storage: Option<&dyn eframe::Storage>,
    ) -> InferscopeApp {
        let mut saved: Saved = storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        saved.settings = storage
            .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
            .unwrap_or_default();
        let mut app = InferscopeApp::with_saved(saved);
        app.ctx = Some(cc.egui_ctx.clone());
        app.software_rendering = cc.wgpu_render_state.as_ref().is_some_and(|rs| {
            rs.adapter.get_info().device_type == eframe::egui_wgpu::wgpu::DeviceType::Cpu
        });
        cc.egui_ctx.set_theme(if app.saved.dark_mode {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
        // Reopen what was open last time, if it is still there.
        if let Some(p) = app.saved.model_path.clone().filter(|p| p.exists()) {
            // Reopening is not a new use: the recent files keep their order.
            let recent = app.saved.recent.clone();
            app.open(&p);
            app.saved.recent = recent;
        }
        if let Some(p) = app.saved.data_path.clone() {
            if !p.exists() {
                app.saved.data_path = None;
            }
        }
        app
    }

    pub fn with_saved(saved: Saved) -> InferscopeApp {
        InferscopeApp {
            settings_text: SettingsText::of(&saved.settings),
            saved,
            model: None,
            session: None,
            errors: Vec::new(),
            notices: Vec::new(),
            located: runtime::locate(None),
            install: None,
            path_input: String::new(),
            selected_run: None,
            cost_source: None,
            cost_cache: None,
            pending_export: None,
            compare: None,
            compare_selected: None,
            compare_view: None,
            software_rendering: false,
            commands: Vec::new(),
            ctx: None,
            flops: None,
        }
    }

    pub fn command(&mut self, c: Command) {
        self.commands.push(c);
    }

    fn remember(&mut self, path: &Path) {
        self.saved.recent.retain(|p| p != path);
        self.saved.recent.insert(0, path.to_path_buf());
        self.saved.recent.truncate(10);
    }

    /// Opens a model or a data file by extension: what a drop, the File menu and the typed
    /// path all do.
    pub fn open(&mut self, path: &Path) {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "onnx" => match Model::load(path) {
                Ok(mut m) => {
                    // FLOPs need tract to optimize the graph, which can take seconds on a large
                    // model: estimate them off the UI thread.
                    m.info.flops_note = "estimating…".into();
                    let dims: Vec<(String, usize)> = self.saved.settings.dims.clone().into_iter().collect();
                    let (tx, rx) = mpsc::channel();
                    let mut for_flops = m.clone();
                    let ctx = self.ctx.clone();
                    let _ = std::thread::Builder::new().name("inferscope-flops".into()).spawn(move || {
                        crate::engine::tract::fill_flops(&mut for_flops, &dims);
                        let _ = tx.send((for_flops.info.sha256, for_flops.info.flops, for_flops.info.flops_note));
                        if let Some(c) = ctx {
                            c.request_repaint();
                        }
                    });
                    self.flops = Some(rx);
                    self.model = Some(m);
                    self.saved.model_path = Some(path.to_path_buf());
                    self.remember(path);
                }
                Err(e) => self.errors.push(format!("{e:#}")),
            },
            "npy" | "npz" | "csv" => {
                if !path.exists() {
                    self.errors.push(format!("{} does not exist", path.display()));
                    return;
                }
                self.saved.data_path = Some(path.to_path_buf());
                self.remember(path);
            }
            "ron" => self.load_preset(path),
            _ => self.errors.push(format!(
                "{}: Inferscope opens models (.onnx), sample data (.npy, .npz, .csv) and presets (.ron)",
                path.display()
            )),
        }
    }

    /// Loads a preset file: its settings, cost inputs and prices, and the model and data it
    /// names. A broken preset changes nothing.
    pub fn load_preset(&mut self, path: &Path) {
        match Preset::load(path) {
            Ok(loaded) => {
                self.apply_preset(&loaded.preset, loaded.model_path, loaded.data_path);
                self.notices
                    .extend(loaded.warnings.iter().map(|w| format!("Preset: {w}")));
                self.saved.preset_path = Some(path.to_path_buf());
                self.remember(path);
            }
            Err(e) => self.errors.push(format!("{e:#}")),
        }
    }

    /// Fills the settings from a preset; opens the model and data it names.
    pub fn apply_preset(&mut self, p: &Preset, model: Option<PathBuf>, data: Option<PathBuf>) {
        self.saved.settings = p.bench.clone();
        self.settings_text = SettingsText::of(&p.bench);
        self.saved.cost.inputs = p.cost.clone();
        self.saved.cost.pricing = p.pricing.clone();
        let variants: Vec<crate::optimize::Variant> =
            p.variants.iter().filter_map(|v| v.parse().ok()).collect();
        if !variants.is_empty() {
            self.saved.compare.apply(&variants);
        }
        if let Some(m) = model {
            if m.exists() {
                self.open(&m);
                self.saved.data_path = None;
            } else {
                self.notices
                    .push(format!("Preset: the model {} is not there", m.display()));
            }
        }
        if let Some(d) = data {
            if d.exists() {
                self.saved.data_path = Some(d);
            } else {
                self.notices
                    .push(format!("Preset: the data {} is not there", d.display()));
            }
        }
        let name = if p.name.is_empty() {
            "preset"
        } else {
            p.name.as_str()
        };
        self.notices.push(format!(
            "Loaded {name}: settings, cost inputs and prices are the preset's."
        ));
    }

    /// The current study as a preset.
    pub fn current_preset(&self, name: &str) -> Result<Preset, String> {
        self.saved.settings.validate().map_err(|e| e.to_string())?;
        Ok(Preset {
            name: name.to_string(),
            bench: self.saved.settings.clone(),
            cost: self.saved.cost.inputs.clone(),
            pricing: self.saved.cost.pricing.clone(),
            variants: self
                .saved
                .compare
                .variants()
                .iter()
                .map(|v| v.to_string())
                .collect(),
            ..Preset::default()
        })
    }

    /// Saves the current study to `path` (atomically), with the model and data it uses.
    pub fn save_preset(&mut self, path: &Path) {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let result = self
            .current_preset(&name)
            .map_err(anyhow::Error::msg)
            .and_then(|p| {
                p.save(
                    path,
                    self.saved.model_path.as_deref(),
                    self.saved.data_path.as_deref(),
                )
            });
        match result {
            Ok(()) => {
                self.notices
                    .push(format!("Saved the preset {}", path.display()));
                self.saved.preset_path = Some(path.to_path_buf());
                self.remember(path);
            }
            Err(e) => self
                .errors
                .push(format!("Could not save the preset: {e:#}")),
        }
    }

    /// The study on screen, as the report shows it: the model, this machine, the plan, the
    /// finished runs and the cost plan.
    pub fn study(&mut self) -> crate::report::Study {
        let mut study = crate::report::Study {
            latency_target_ms: self.saved.cost.inputs.latency_target_ms,
            ..Default::default()
        };
        if let Some(m) = &self.model {
            study.model = Some(m.info.clone());
        }
        let ort = match &self.located.chosen {
            Some(c) => Ok((c.version.as_deref().unwrap_or("?"), c.path.as_path())),
            None => Err(self.located.why_not_found()),
        };
        study.environment = Some(crate::environment::Environment::detect(
            ort,
            self.model.as_ref().map(|m| m.info.sha256.as_str()),
        ));
        if let Some(s) = &self.session {
            study.plan = s.plan.clone();
            study.data = Some(s.data.clone());
            study.runs = s.results().into_iter().cloned().collect();
        }
        if let Some(c) = self.compare.as_ref().and_then(|c| c.result.as_ref()) {
            study.variants = c.variants.clone();
            study.importance = c.importance.clone();
            study.compare_runs = c.runs.clone();
            if study.runs.is_empty() {
                study.runs = c.runs.clone();
                study.data = Some(c.data.clone());
            }
        }
        let pricing = self.saved.cost.pricing.clone();
        self.refresh_cost_view();
        if let Some((view, Ok(p))) = self.cost_view().map(|v| (v, &v.plan)) {
            study.cost = Some(crate::report::CostDoc {
                version: crate::report::doc::DOC_VERSION,
                inputs: view.inputs.clone(),
                service_source: view.source.clone(),
                tiers: p.tiers.clone(),
                recommendation: p.recommendation.clone(),
                pricing,
                curves: Some(view.curves.clone()),
            });
        }
        study
    }

    /// Writes an export; when the file exists, asks first (see [`Self::confirm_export`]).
    pub fn export(&mut self, kind: ExportKind, path: PathBuf) {
        if path.exists() {
            self.pending_export = Some((kind, path));
            return;
        }
        self.write_export(kind, &path);
    }

    /// The answer to "replace the existing file?".
    pub fn confirm_export(&mut self, replace: bool) {
        if let Some((kind, path)) = self.pending_export.take() {
            if replace {
                self.write_export(kind, &path);
            }
        }
    }

    fn write_export(&mut self, kind: ExportKind, path: &Path) {
        let study = self.study();
        let bytes = match kind {
            ExportKind::Pdf => crate::report::pdf(&study),
            ExportKind::Png => crate::report::png(&study),
            ExportKind::Json => self.bench_doc(&study).to_json().map(String::into_bytes),
            ExportKind::Csv => crate::bench::table::csv(&study.runs).map(String::into_bytes),
        };
        match bytes.and_then(|b| crate::fsutil::write_atomic(path, &b)) {
            Ok(()) => self.notices.push(format!("Wrote {}", path.display())),
            Err(e) => self
                .errors
                .push(format!("Could not write {}: {e:#}", path.display())),
        }
    }

    /// The finished runs as the document `bench --json` writes.
    fn bench_doc(&self, study: &crate::report::Study) -> crate::report::BenchDoc {
        crate::report::BenchDoc {
            version: crate::report::doc::DOC_VERSION,
            environment: study.environment.clone(),
            model: study.model.clone(),
            data: study.data.clone().unwrap_or_default(),
            plan: study.plan.clone(),
            runs: study.runs.clone(),
            failures: study.failures.clone(),
            variants: study.variants.clone(),
            importance: study.importance.clone(),
            ..Default::default()
        }
    }

    /// How often live views repaint while a benchmark runs.
    pub fn repaint_every(&self) -> Duration {
        if self.software_rendering {
            REPAINT_EVERY_SOFTWARE
        } else {
            REPAINT_EVERY
        }
    }

    pub fn is_running(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.worker.is_some())
    }

    /// The model, plan and data source the settings describe, or `None` with an error shown.
    fn bench_inputs(&mut self) -> Option<(Model, Plan, DataSource, Option<String>)> {
        let Some(model) = self.model.clone() else {
            self.errors.push(
                "open a model first (drop an .onnx file on the window or use File > Open)".into(),
            );
            return None;
        };
        if let Some(e) = self
            .settings_text
            .batch_error
            .clone()
            .or(self.settings_text.dims_error.clone())
        {
            self.errors.push(format!("Settings: {e}"));
            return None;
        }
        let s = &self.saved.settings;
        let (engines, notice) =
            match crate::engine::resolve_engines(s.engine, &EngineOptions::default()) {
                Ok(x) => x,
                Err(e) => {
                    self.errors.push(format!("{e:#}"));
                    return None;
                }
            };
        let has_data = self.saved.data_path.is_some();
        let mut plan = match s.to_plan(engines, has_data, None) {
            Ok(p) => p,
            Err(e) => {
                self.errors.push(format!("Settings: {e}"));
                return None;
            }
        };
        if s.default_batches() && !has_data {
            if let Some(note) = plan.fit_to_fixed_batch(model.fixed_batch()) {
                self.notices.push(format!("Note: {note}."));
            }
        }
        let source = match &self.saved.data_path {
            Some(p) => DataSource::File {
                path: p.clone(),
                label_column: None,
            },
            None => DataSource::Synthetic(SynthOptions::for_plan(s, &plan)),
        };
        Some((model, plan, source, notice))
    }

    fn start_run(&mut self) {
        if self.is_running() {
            return;
        }
        let Some((model, plan, source, notice)) = self.bench_inputs() else {
            return;
        };
        let data_text = match &source {
            DataSource::File { path, .. } => path.display().to_string(),
            DataSource::Synthetic(o) => format!("synthetic (seed {})", o.seed),
        };
        let plan_copy = plan.clone();
        let ctx = self.ctx.clone();
        let every = self.repaint_every();
        // A few repaints a second while events arrive: enough to look live, little enough that
        // drawing does not compete with the benchmark for the CPU.
        let worker = Worker::start(
            BenchJob {
                model,
                source,
                plan,
            },
            move || {
                if let Some(c) = &ctx {
                    c.request_repaint_after(every);
                }
            },
        );
        self.selected_run = None;
        self.session = Some(Session {
            plan: Some(plan_copy),
            data: data_text,
            worker: Some(worker),
            runs: BTreeMap::new(),
            started: Instant::now(),
            memory: Vec::new(),
            progress: None,
            cancelled: false,
            finished: false,
            notice: notice.map(|n| {
                n.lines().last().unwrap_or_default().to_string()
                    + " (no compatible ONNX Runtime found)"
            }),
        });
    }

    fn start_install(&mut self) {
        if self.install.as_ref().is_some_and(|i| i.done.is_none()) {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("inferscope-install".into())
            .spawn(move || {
                let progress_tx = tx.clone();
                let c2 = ctx.clone();
                let result = runtime::install(&mut |m| {
                    let _ = progress_tx.send(Ok(m.to_string()));
                    if let Some(c) = &c2 {
                        c.request_repaint();
                    }
                });
                let _ = tx.send(match result {
                    Ok((p, v)) => Ok(format!("Installed ONNX Runtime {v} at {}", p.display())),
                    Err(e) => Err(format!("{e:#}")),
                });
                if let Some(c) = &ctx {
                    c.request_repaint();
                }
            });
        match spawned {
            Ok(_) => {
                self.install = Some(Install {
                    messages: rx,
                    log: Vec::new(),
                    done: None,
                })
            }
            Err(e) => self.errors.push(format!("cannot start the install: {e}")),
        }
    }

    /// Ingests worker and install events and applies the frame's commands.
    pub fn logic(&mut self) {
        self.settings_text.follow(&self.saved.settings);
        for c in std::mem::take(&mut self.commands) {
            match c {
                Command::Open(p) => self.open(&p),
                Command::Run => self.start_run(),
                Command::Cancel => {
                    if let Some(w) = self.session.as_ref().and_then(|s| s.worker.as_ref()) {
                        w.cancel();
                    }
                    if let Some(w) = self.compare.as_ref().and_then(|c| c.worker.as_ref()) {
                        w.cancel();
                    }
                }
                Command::Compare => self.start_compare(),
                Command::ExcludeLayer(n) => self.exclude_layer(n),
                Command::SaveVariant(n, p) => self.save_variant(&n, &p),
                Command::InstallRuntime => self.start_install(),
                Command::ClearData => self.saved.data_path = None,
                Command::Export(kind, path) => self.export(kind, path),
                Command::ConfirmExport(replace) => self.confirm_export(replace),
                Command::SavePreset(path) => self.save_preset(&path),
                Command::ApplyPreset(p) => self.apply_preset(&p, None, None),
            }
        }
        if self.refresh_cost_view() {
            if let Some(c) = &self.ctx {
                c.request_repaint();
            }
        }
        if let Some((sha, flops, note)) = self.flops.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.flops = None;
            if let Some(m) = self.model.as_mut().filter(|m| m.info.sha256 == sha) {
                m.info.flops = flops;
                m.info.flops_note = note;
            }
        }
        self.compare_logic();
        if let Some(inst) = &mut self.install {
            let mut finished = None;
            for m in inst.messages.try_iter() {
                match m {
                    Ok(line) if inst.done.is_none() && !line.starts_with("Installed") => {
                        inst.log.push(line)
                    }
                    other => finished = Some(other),
                }
            }
            if let Some(f) = finished {
                inst.done = Some(f);
                self.located = runtime::locate(None);
            }
        }
        let Some(session) = &mut self.session else {
            return;
        };
        let events = session
            .worker
            .as_ref()
            .map(|w| w.drain())
            .unwrap_or_default();
        for e in events {
            match e {
                Event::Started { run, spec } => {
                    session.runs.entry(run).or_default().spec = Some(spec)
                }
                Event::Progress {
                    run,
                    phase,
                    done,
                    total,
                } => session.progress = Some((run, phase, done, total)),
                Event::Samples {
                    run,
                    phase,
                    latencies_ns,
                    rss_bytes,
                } => {
                    let view = session.runs.entry(run).or_default();
                    let target = if phase == Phase::Warmup {
                        &mut view.warmup_ms
                    } else {
                        &mut view.measure_ms
                    };
                    target.extend(latencies_ns.iter().map(|&ns| (ns as f64 / 1e6) as f32));
                    if rss_bytes > 0 {
                        session.memory.push([
                            session.started.elapsed().as_secs_f64(),
                            rss_bytes as f64 / 1e6,
                        ]);
                    }
                }
                Event::RunDone { run, result } => {
                    session.runs.entry(run).or_default().result = Some(*result)
                }
                Event::Cancelled { .. } => session.cancelled = true,
                Event::Failed { run, error } => {
                    if let Some(r) = run {
                        session.runs.entry(r).or_default().failed = Some(error.clone());
                    }
                    self.errors.push(error);
                }
                Event::Finished => {
                    session.finished = true;
                    session.worker = None;
                }
            }
        }
    }
}

impl eframe::App for InferscopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if self.ctx.is_none() {
            self.ctx = Some(ctx.clone());
        }
        InferscopeApp::logic(self);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
        // Commands collected while drawing take effect now, not a frame later.
        InferscopeApp::logic(self);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.saved);
        eframe::set_value(storage, SETTINGS_KEY, &self.saved.settings);
    }
}

/// Opens the window (blocks until it is closed), with `files` opened as if dropped on it.
pub fn run_window(files: Vec<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Inferscope")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "Inferscope",
        options,
        Box::new(|cc| {
            let mut app = InferscopeApp::new(cc);
            for f in &files {
                app.open(f);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the window: {e}. Without a display, use the commands: inferscope --help"
        )
    })
}

/// A path as the window shows it: relative to the working directory when it lies below it,
/// with the home folder as `~` otherwise (the full path is in the tooltip).
pub fn short_path(p: &Path) -> String {
    if let Some(rel) = std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf))
    {
        return rel.display().to_string();
    }
    if let Some(rest) = dirs::home_dir().and_then(|h| p.strip_prefix(h).ok().map(Path::to_path_buf))
    {
        return format!("~/{}", rest.display());
    }
    p.display().to_string()
}
