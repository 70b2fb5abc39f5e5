//! Files the window opens and writes: models, data, presets, reports and results.

use super::{ExportKind, InferscopeApp, SettingsText};
use crate::model::Model;
use crate::preset::Preset;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

impl InferscopeApp {
    /// Opens a model or a data file by extension: what a drop, the File menu and the typed
    /// path all do.
    pub fn open(&mut self, path: &Path) {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "onnx" => match Model::load(path) {
                Ok(m) => {
                    self.model = Some(m);
                    self.estimate_flops();
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
                self.estimate_flops();
            }
            "ron" => self.load_preset(path),
            _ => self.errors.push(format!(
                "{}: Inferscope opens models (.onnx), sample data (.npy, .npz, .csv) and presets (.ron)",
                path.display()
            )),
        }
    }

    /// Counts the open model's FLOPs off the UI thread (tract optimizes the graph, seconds on a
    /// large model): at the shapes of the sample data when it fits the model, else at the
    /// settings' dims.
    pub(super) fn estimate_flops(&mut self) {
        let Some(m) = self.model.as_mut() else {
            return;
        };
        m.info.flops = None;
        m.info.flops_note = "estimating…".into();
        let mut for_flops = m.clone();
        let dims: Vec<(String, usize)> = self.saved.settings.dims.clone().into_iter().collect();
        let data = self.saved.data_path.clone();
        let (tx, rx) = mpsc::channel();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("inferscope-flops".into())
            .spawn(move || {
                let shapes = data.and_then(|path| {
                    let source = crate::data::DataSource::File {
                        path,
                        label_column: None,
                    };
                    crate::data::load(&for_flops, &source)
                        .ok()
                        .map(|s| s.inputs.iter().map(|t| t.shape.clone()).collect::<Vec<_>>())
                });
                crate::engine::tract::fill_flops(&mut for_flops, &dims, shapes.as_deref());
                let i = for_flops.info;
                let _ = tx.send((i.sha256, i.flops, i.flops_note));
                if let Some(c) = ctx {
                    c.request_repaint();
                }
            });
        match spawned {
            Ok(_) => self.flops = Some(rx),
            Err(e) => {
                m.info.flops_note = format!("not estimated: cannot start a thread ({e})");
                self.flops = None;
            }
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
        if let Some(plan) = self
            .compare
            .as_ref()
            .filter(|c| c.result.is_some())
            .map(|c| c.plan.clone())
        {
            study.plan = study.plan.take().or(Some(plan));
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
        let paths = self.model.as_ref().map(|m| m.info.path.clone());
        let data = self.saved.data_path.clone();
        study.preset = self
            .current_preset("")
            .ok()
            .map(|p| p.with_files(paths.as_deref(), data.as_deref(), None));
        if let Some(l) = self.load.as_ref().filter(|l| !l.runs.is_empty()) {
            study.load = Some(crate::report::LoadDoc {
                version: crate::report::doc::DOC_VERSION,
                environment: study.environment.clone(),
                model: study.model.clone(),
                data: study.data.clone().unwrap_or_default(),
                engine: l.kind,
                engine_version: l.engine.as_ref().map(|e| e.0.clone()).unwrap_or_default(),
                servers: 1,
                arrivals: "poisson".into(),
                duration_s: self.saved.cost.load_seconds,
                load_runs: l.runs.clone(),
                capacity: l.capacity.clone(),
                preset: None,
            });
        }
        if let Some(doc) = self.ops.as_ref().and_then(|o| o.doc.clone()) {
            study.profile = Some(crate::report::ProfileDoc {
                environment: study.environment.clone(),
                ..doc
            });
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
                served: view.served.clone(),
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

    pub(super) fn write_export(&mut self, kind: ExportKind, path: &Path) {
        let study = self.study();
        let bytes = match kind {
            ExportKind::Pdf => crate::report::pdf(&study),
            ExportKind::Png => crate::report::png(&study),
            ExportKind::Json => study.bench_doc().to_json().map(String::into_bytes),
            ExportKind::Csv => crate::bench::table::csv(&study.runs).map(String::into_bytes),
        };
        match bytes.and_then(|b| crate::fsutil::write_atomic(path, &b)) {
            Ok(()) => self.notices.push(format!("Wrote {}", path.display())),
            Err(e) => self
                .errors
                .push(format!("Could not write {}: {e:#}", path.display())),
        }
    }
}
