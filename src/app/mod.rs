//! The desktop window. `logic` ingests worker events and applies commands even when nothing is
//! drawn; the `*_ui` functions only draw and collect commands.

pub mod compare;
pub mod cost;
mod files;
pub mod history;
pub mod load;
pub mod operators;
pub mod plots;
mod profile;
mod state;
mod ui;

pub use state::*;

use crate::bench::{Event, Phase, Plan};
use crate::data::DataSource;
use crate::engine::runtime::{self, Located};
use crate::engine::EngineOptions;
use crate::model::Model;
use crate::worker::{BenchJob, Worker};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// What a start button says while another job runs.
pub const BUSY: &str = "wait for the running job to finish (or cancel it) first";

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
    Operators,
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
    /// A variant being saved: its spelling and the path typed so far (the Save dialog).
    pub saving_variant: Option<(String, String)>,
    /// The comparison under way or last finished (Compare tab).
    pub compare: Option<compare::CompareSession>,
    /// Where finished benchmarks are kept per model (`None`: not kept).
    pub history_dir: Option<PathBuf>,
    /// The open model's history as last listed: (its sha256, entries).
    history_cache: Option<(String, Vec<history::Entry>)>,
    /// The saved benchmark the current runs are compared with.
    pub baseline: Option<history::Baseline>,
    /// The open-loop load job under way or last finished (Cost tab).
    pub load: Option<load::LoadSession>,
    /// The operator profile under way or last finished (Operators tab).
    pub ops: Option<operators::OpsSession>,
    pub ops_view: operators::OpsView,
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
        let mut app = InferscopeApp::new_with_storage(cc, cc.storage);
        // Finished benchmarks are kept beside the window's saved settings.
        app.history_dir = eframe::storage_dir(APP_ID).map(|d| d.join("history"));
        app
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
            saving_variant: None,
            compare: None,
            compare_selected: None,
            load: None,
            ops: None,
            ops_view: Default::default(),
            history_dir: None,
            history_cache: None,
            baseline: None,
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

    /// Whether a job is measuring: one at a time, or they would measure each other.
    pub fn busy(&self) -> bool {
        self.is_running() || self.is_comparing() || self.is_loading() || self.is_profiling_ops()
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
            None => DataSource::Synthetic(s.synth_options(&plan)),
        };
        Some((model, plan, source, notice))
    }

    fn start_run(&mut self) {
        if self.is_running() {
            return;
        }
        if self.busy() {
            self.errors.push(BUSY.into());
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
        let study = crate::bench::progress::StudyProgress::new(
            &plan_copy,
            plan_copy.engines.len() * plan_copy.batch_sizes.len(),
        );
        self.session = Some(Session {
            plan: Some(plan_copy),
            data: data_text,
            worker: Some(worker),
            runs: BTreeMap::new(),
            started: Instant::now(),
            memory: Vec::new(),
            progress: None,
            study: Some(study),
            cancelled: false,
            finished: false,
            notice: notice.map(|n| {
                n.lines().last().unwrap_or_default().to_string()
                    + " (no compatible ONNX Runtime found)"
            }),
            skipped: Vec::new(),
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
                    let _ = progress_tx.send(InstallMsg::Progress(m.to_string()));
                    if let Some(c) = &c2 {
                        c.request_repaint();
                    }
                });
                let _ = tx.send(InstallMsg::Done(match result {
                    Ok((p, v)) => Ok(format!("Installed ONNX Runtime {v} at {}", p.display())),
                    Err(e) => Err(format!("{e:#}")),
                }));
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
                    if let Some(w) = self.load.as_ref().and_then(|l| l.worker.as_ref()) {
                        w.cancel();
                    }
                    if let Some(w) = self.ops.as_ref().and_then(|o| o.worker.as_ref()) {
                        w.cancel();
                    }
                }
                Command::Compare => self.start_compare(),
                Command::ProfileOps => self.start_ops(),
                Command::OpsForVariant(v) => self.ops_for_variant(v),
                Command::Load(kind) => self.start_load(kind),
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
        self.load_logic();
        self.ops_logic();
        if let Some(inst) = &mut self.install {
            let mut finished = None;
            for m in inst.messages.try_iter() {
                match m {
                    InstallMsg::Progress(line) if inst.done.is_none() => inst.log.push(line),
                    InstallMsg::Progress(_) => {}
                    InstallMsg::Done(result) => finished = Some(result),
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
        let mut finished_now = false;
        for e in events {
            if let Some(p) = session.study.as_mut() {
                p.event(&e);
            }
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
                    at,
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
                            at.saturating_duration_since(session.started).as_secs_f64(),
                            rss_bytes as f64 / 1e6,
                        ]);
                    }
                }
                Event::RunDone { run, result } => {
                    session.runs.entry(run).or_default().result = Some(*result)
                }
                Event::Cancelled { .. } => session.cancelled = true,
                Event::Skipped { why, .. } => session.skipped.push(why),
                Event::Failed { run, error } => {
                    if let Some(r) = run {
                        session.runs.entry(r).or_default().failed = Some(error.clone());
                    }
                    self.errors.push(error);
                }
                Event::Finished => {
                    session.finished = true;
                    session.worker = None;
                    finished_now = !session.cancelled;
                }
            }
        }
        if finished_now {
            self.save_to_history();
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

/// The window's name, and the folder its settings and history are kept in.
pub const APP_ID: &str = "Inferscope";

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
        APP_ID,
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
