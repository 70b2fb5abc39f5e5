//! The desktop window. `logic` ingests worker events and applies commands even when nothing is
//! drawn; the `*_ui` functions only draw and collect commands.

pub mod compare;
pub mod cost;
pub mod plots;
mod profile;
mod ui;

use crate::bench::{Event, Phase, Plan, RunResult, RunSpec, StopRule, Warmup};
use crate::data::{DataSource, SynthOptions};
use crate::engine::runtime::{self, Located};
use crate::engine::{EngineChoice, EngineOptions};
use crate::model::Model;
use crate::preset::{BenchSettings, Preset, Stop};
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

/// How measurement stops, as the settings panel edits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopKind {
    Iterations,
    Duration,
    UntilStable,
}

/// Benchmark settings, saved across restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileSettings {
    pub engine: EngineChoice,
    /// 0: the engine's default.
    pub threads: usize,
    pub batch_sizes: String,
    pub warmup_iterations: u64,
    pub stop_kind: StopKind,
    pub iterations: u64,
    pub duration_s: f64,
    pub min_iterations: u64,
    pub stable_percent: f64,
    pub max_iterations: u64,
    pub concurrency: usize,
    /// `seq=128, batch=8`
    pub dims: String,
    pub seed: u64,
    pub latency_target_ms: f64,
}

impl Default for ProfileSettings {
    fn default() -> Self {
        ProfileSettings {
            engine: EngineChoice::Auto,
            threads: 0,
            batch_sizes: "1, 8, 32, 64".into(),
            warmup_iterations: 10,
            stop_kind: StopKind::Duration,
            iterations: 1000,
            duration_s: 1.0,
            min_iterations: 100,
            stable_percent: 5.0,
            max_iterations: 100_000,
            concurrency: 1,
            dims: String::new(),
            seed: 0,
            latency_target_ms: 100.0,
        }
    }
}

impl ProfileSettings {
    /// The window's settings for a preset's plan (the checklist target is set apart).
    pub fn from_bench(b: &BenchSettings) -> ProfileSettings {
        let mut s = ProfileSettings {
            engine: b.engine,
            threads: b.threads.unwrap_or(0),
            batch_sizes: b
                .batch_sizes
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            warmup_iterations: b.warmup_iterations,
            concurrency: b.concurrency,
            dims: b
                .dims
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
            seed: b.seed,
            ..ProfileSettings::default()
        };
        match b.stop {
            Stop::Iterations(n) => {
                s.stop_kind = StopKind::Iterations;
                s.iterations = n;
            }
            Stop::MinTime {
                seconds,
                min_iterations,
            } => {
                s.stop_kind = StopKind::Duration;
                s.duration_s = seconds;
                s.min_iterations = min_iterations;
            }
            Stop::UntilStable {
                percent,
                min_iterations,
                max_iterations,
            } => {
                s.stop_kind = StopKind::UntilStable;
                s.stable_percent = percent;
                s.min_iterations = min_iterations;
                s.max_iterations = max_iterations;
            }
        }
        s
    }

    /// These settings as a preset's plan, or what is wrong with them.
    pub fn to_bench(&self) -> Result<BenchSettings, String> {
        let plan = self.plan(vec![crate::engine::EngineKind::Tract], false)?;
        Ok(BenchSettings {
            engine: self.engine,
            threads: (self.threads > 0).then_some(self.threads),
            batch_sizes: plan.batch_sizes.iter().flatten().copied().collect(),
            concurrency: self.concurrency,
            warmup_iterations: self.warmup_iterations,
            stop: match self.stop_kind {
                StopKind::Iterations => Stop::Iterations(self.iterations.max(1)),
                StopKind::Duration => Stop::MinTime {
                    seconds: self.duration_s,
                    min_iterations: self.min_iterations,
                },
                StopKind::UntilStable => Stop::UntilStable {
                    percent: self.stable_percent,
                    min_iterations: self.min_iterations.max(100),
                    max_iterations: self.max_iterations.max(self.min_iterations.max(100)),
                },
            },
            dims: self.dims_map()?,
            seed: self.seed,
        })
    }

    /// The plan these settings describe, or what is wrong with them.
    pub fn plan(
        &self,
        engines: Vec<crate::engine::EngineKind>,
        has_data_file: bool,
    ) -> Result<Plan, String> {
        let mut batch_sizes = Vec::new();
        for part in self
            .batch_sizes
            .split([',', ' '])
            .filter(|s| !s.trim().is_empty())
        {
            match part.trim().parse::<usize>() {
                Ok(b) if b > 0 => batch_sizes.push(Some(b)),
                _ => {
                    return Err(format!(
                        "'{part}' is not a batch size (use positive numbers like 1, 8, 32)"
                    ))
                }
            }
        }
        if batch_sizes.is_empty() {
            if has_data_file {
                batch_sizes.push(None);
            } else {
                return Err("give at least one batch size".into());
            }
        }
        let stop = match self.stop_kind {
            StopKind::Iterations => StopRule::Iterations(self.iterations.max(1)),
            StopKind::Duration => StopRule::MinTime {
                min_time: Duration::from_secs_f64(self.duration_s.clamp(0.01, 3600.0)),
                min_iterations: self.min_iterations,
            },
            StopKind::UntilStable => StopRule::UntilStable {
                rel_width: (self.stable_percent / 100.0).clamp(0.001, 0.99),
                min_iterations: self.min_iterations.max(100),
                max_iterations: self.max_iterations.max(100),
                max_time: Duration::from_secs(120),
            },
        };
        Ok(Plan {
            engines,
            batch_sizes,
            concurrency: self.concurrency.clamp(1, 256),
            warmup: Warmup::Iterations(self.warmup_iterations),
            stop,
            engine_options: EngineOptions {
                intra_threads: (self.threads > 0).then_some(self.threads),
                ..EngineOptions::default()
            },
            ..Plan::default()
        })
    }

    /// `seq=128, batch=8` as a map, or the part that does not parse.
    pub fn dims_map(&self) -> Result<BTreeMap<String, usize>, String> {
        let mut m = BTreeMap::new();
        for part in self.dims.split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' should look like name=size"))?;
            let n: usize = v
                .trim()
                .parse()
                .map_err(|_| format!("'{v}' is not a size"))?;
            if n == 0 {
                return Err(format!("dim '{}' must be at least 1", k.trim()));
            }
            m.insert(k.trim().to_string(), n);
        }
        Ok(m)
    }
}

/// What survives a restart.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Saved {
    pub settings: ProfileSettings,
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
}

/// The state of `runtime install` started from the window.
pub struct Install {
    pub messages: Receiver<Result<String, String>>,
    pub log: Vec<String>,
    pub done: Option<Result<String, String>>,
}

pub struct InferscopeApp {
    pub saved: Saved,
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
    /// The app with saved state from eframe storage (none in tests).
    pub fn new(cc: &eframe::CreationContext<'_>) -> InferscopeApp {
        let saved: Saved = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
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
            app.open(&p);
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
                    let dims: Vec<(String, usize)> = self.saved.settings.dims_map().unwrap_or_default().into_iter().collect();
                    let (tx, rx) = mpsc::channel();
                    let mut for_flops = m.clone();
                    let ctx = self.ctx.clone();
                    let _ = std::thread::Builder::new().name("inferscope-flops".into()).spawn(move || {
                        crate::cli::with_flops(&mut for_flops, &dims);
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
        let mut settings = ProfileSettings::from_bench(&p.bench);
        settings.latency_target_ms = p.cost.latency_target_ms;
        self.saved.settings = settings;
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
        let mut cost = self.saved.cost.inputs.clone();
        cost.latency_target_ms = self.saved.settings.latency_target_ms;
        Ok(Preset {
            name: name.to_string(),
            bench: self.saved.settings.to_bench()?,
            cost,
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
            latency_target_ms: self.saved.settings.latency_target_ms,
            ..Default::default()
        };
        if let Some(m) = &self.model {
            study.model = serde_json::to_value(&m.info).ok();
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
        let view = self.cost_view();
        if let Ok(p) = &view.plan {
            study.cost = Some(crate::report::CostSection {
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
            ExportKind::Json => serde_json::to_vec_pretty(&study.runs).map_err(anyhow::Error::from),
            ExportKind::Csv => {
                let runs: Vec<RunResult> = study.runs.clone();
                crate::cli::runs_csv(&runs).map(String::into_bytes)
            }
        };
        match bytes.and_then(|b| crate::fsutil::write_atomic(path, &b)) {
            Ok(()) => self.notices.push(format!("Wrote {}", path.display())),
            Err(e) => self
                .errors
                .push(format!("Could not write {}: {e:#}", path.display())),
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
        let s = &self.saved.settings;
        let (engines, notice) =
            match crate::engine::resolve_engines(s.engine, &EngineOptions::default()) {
                Ok(x) => x,
                Err(e) => {
                    self.errors.push(format!("{e:#}"));
                    return None;
                }
            };
        let mut plan = match s.plan(engines, self.saved.data_path.is_some()) {
            Ok(p) => p,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        if let Some(note) = plan.fit_to_fixed_batch(model.fixed_batch()) {
            self.notices.push(format!("Note: {note}."));
        }
        let source = match &self.saved.data_path {
            Some(p) => DataSource::File {
                path: p.clone(),
                label_column: None,
            },
            None => match s.dims_map() {
                Ok(dims) => DataSource::Synthetic(SynthOptions {
                    dims,
                    seed: s.seed,
                    samples: plan
                        .batch_sizes
                        .iter()
                        .flatten()
                        .copied()
                        .max()
                        .unwrap_or(1)
                        .max(64),
                    int_range: None,
                }),
                Err(e) => {
                    self.errors.push(e);
                    return None;
                }
            },
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
                Event::Failed { run, error } => {
                    if error == "cancelled" {
                        session.cancelled = true;
                    } else {
                        if let Some(r) = run {
                            session.runs.entry(r).or_default().failed = Some(error.clone());
                        }
                        self.errors.push(error);
                    }
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
