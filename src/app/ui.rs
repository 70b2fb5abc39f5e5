//! The frame around the tabs: menu, shortcuts, drops, errors, and the model panel.

use super::{Command, InferscopeApp, Tab};
use egui::{Color32, RichText};

impl InferscopeApp {
    pub(super) fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        // Drops anywhere on the window, and keyboard shortcuts.
        let dropped: Vec<std::path::PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        for p in dropped {
            self.command(Command::Open(p));
        }
        use egui::{Key, KeyboardShortcut, Modifiers};
        if ctx.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::O)))
        {
            self.pick_file();
        }
        if ctx.input_mut(|i| {
            i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::R))
                || i.key_pressed(Key::F5)
        }) {
            self.command(Command::Run);
        }
        if ctx.input(|i| i.key_pressed(Key::Escape)) && self.is_running() {
            self.command(Command::Cancel);
        }

        egui::Panel::top("menu").show(ui, |ui| self.menu_ui(ui));
        if let Some((_, path)) = self.pending_export.clone() {
            egui::Modal::new(egui::Id::unique("replace_export")).show(&ctx, |ui| {
                ui.label(format!("{} exists. Replace it?", path.display()));
                ui.horizontal(|ui| {
                    if ui.button("Replace").clicked() {
                        self.command(Command::ConfirmExport(true));
                    }
                    if ui.button("Keep it").clicked() {
                        self.command(Command::ConfirmExport(false));
                    }
                });
            });
        }
        if self.saving_variant.is_some() {
            self.save_variant_modal_ui(&ctx);
        }
        if !self.errors.is_empty() || !self.notices.is_empty() {
            egui::Panel::bottom("errors").show(ui, |ui| self.errors_ui(ui));
        }
        egui::Panel::left("model")
            .resizable(true)
            .default_size(290.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.model_panel_ui(ui));
            });
        egui::CentralPanel::default_margins().show(ui, |ui| {
            let tab = self.saved.tab.unwrap_or(Tab::Profile);
            ui.horizontal(|ui| {
                for (t, label) in [
                    (Tab::Profile, "Profile"),
                    (Tab::Compare, "Compare"),
                    (Tab::Cost, "Cost"),
                    (Tab::Operators, "Operators"),
                ] {
                    if ui
                        .selectable_label(tab == t, RichText::new(label).size(16.0))
                        .clicked()
                    {
                        self.saved.tab = Some(t);
                    }
                }
            });
            ui.separator();
            match tab {
                Tab::Profile => self.profile_ui(ui),
                Tab::Compare => self.compare_ui(ui),
                Tab::Cost => self.cost_ui(ui),
                Tab::Operators => self.operators_ui(ui),
            }
        });
    }

    fn pick_file(&mut self) {
        let picked = rfd::FileDialog::new()
            .add_filter(
                "Models, data and presets",
                &["onnx", "npy", "npz", "csv", "ron"],
            )
            .pick_file();
        match picked {
            Some(p) => self.command(Command::Open(p)),
            None => {
                // Where no dialog service runs, rfd returns at once: point at the other ways.
                if self.path_input.is_empty() {
                    self.errors.push("No file was chosen. You can also drop files on the window or type a path in the model panel.".into());
                }
            }
        }
    }

    /// "Save the variant as": a typed path (no desktop portal is needed), or a file dialog.
    fn save_variant_modal_ui(&mut self, ctx: &egui::Context) {
        let Some((name, mut path)) = self.saving_variant.take() else {
            return;
        };
        let mut done = false;
        egui::Modal::new(egui::Id::unique("save_variant")).show(ctx, |ui| {
            ui.label(RichText::new(format!("Save the {name} variant as ONNX")).strong());
            ui.horizontal(|ui| {
                let l = ui.label("Save as");
                ui.add(egui::TextEdit::singleline(&mut path).desired_width(420.0))
                    .labelled_by(l.id);
                if ui.button("Browse…").clicked() {
                    if let Some(p) = rfd::FileDialog::new()
                        .add_filter("ONNX model", &["onnx"])
                        .save_file()
                    {
                        path = p.display().to_string();
                    }
                }
            });
            let exists = std::path::Path::new(&path).exists();
            if exists {
                ui.label(
                    RichText::new("This file exists: saving replaces it.")
                        .color(Color32::from_rgb(190, 120, 0)),
                );
            }
            ui.horizontal(|ui| {
                let label = if exists { "Replace" } else { "Save" };
                if ui
                    .add_enabled(!path.trim().is_empty(), egui::Button::new(label))
                    .clicked()
                {
                    self.command(Command::SaveVariant(
                        name.clone(),
                        std::path::PathBuf::from(path.trim()),
                    ));
                    done = true;
                }
                if ui.button("Cancel").clicked() {
                    done = true;
                }
            });
        });
        if !done {
            self.saving_variant = Some((name, path));
        }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open model or data…  (Ctrl+O)").clicked() {
                    ui.close();
                    self.pick_file();
                }
                ui.menu_button("Recent", |ui| {
                    if self.saved.recent.is_empty() {
                        ui.label("Nothing yet");
                    }
                    for p in self.saved.recent.clone() {
                        if ui
                            .button(super::short_path(&p))
                            .on_hover_text(p.display().to_string())
                            .clicked()
                        {
                            ui.close();
                            self.command(Command::Open(p));
                        }
                    }
                });
                if self.saved.data_path.is_some() && ui.button("Use synthesized data").clicked() {
                    ui.close();
                    self.command(Command::ClearData);
                }
                ui.separator();
                if ui.button("Load preset…").on_hover_text("A .ron preset fills the settings, cost inputs and prices, and opens the model and data it names").clicked() {
                    ui.close();
                    if let Some(p) = rfd::FileDialog::new().add_filter("Inferscope preset", &["ron"]).pick_file() {
                        self.command(Command::Open(p));
                    }
                }
                ui.menu_button("Shipped presets", |ui| {
                    for (file, text) in crate::preset::SHIPPED {
                        if let Ok((p, _)) = crate::preset::Preset::parse(text) {
                            if ui.button(&p.name).on_hover_text(format!("{}\n({file})", p.description)).clicked() {
                                ui.close();
                                self.command(Command::ApplyPreset(Box::new(p)));
                            }
                        }
                    }
                });
                if let Some(p) = self.saved.preset_path.clone() {
                    if ui.button(format!("Save preset  ({})", super::short_path(&p))).clicked() {
                        ui.close();
                        self.command(Command::SavePreset(p));
                    }
                }
                ui.separator();
                for (kind, label, tip) in [
                    (super::ExportKind::Pdf, "Export report (PDF)…", "Model, environment, settings, results with intervals, charts, checklist, warnings, cost and methods; after a comparison it leads with the verdicts, speedups, fidelity, charts and monthly cost per variant, and carries the preset and results as attached files"),
                    (super::ExportKind::Png, "Export summary (PNG)…", "One page for a chat message, a pull request or a slide: the key table and the main charts; after a comparison, the variants against the original"),
                    (super::ExportKind::Json, "Export results (JSON)…", "Every run, as `inferscope bench --json` writes them"),
                    (super::ExportKind::Csv, "Export results (CSV)…", "One row per run"),
                ] {
                    if ui.button(label).on_hover_text(tip).clicked() {
                        ui.close();
                        let name = format!("{}-report.{}", self.model.as_ref().map(|m| m.info.name.as_str()).unwrap_or("inferscope"), kind.extension());
                        if let Some(p) = rfd::FileDialog::new().add_filter(kind.extension(), &[kind.extension()]).set_file_name(name).save_file() {
                            self.command(Command::Export(kind, p));
                        }
                    }
                }
                ui.separator();
                if ui.button("Save preset as…").on_hover_text("Writes the model and data paths (relative to the preset) with their sha256, the settings, the cost inputs and the prices").clicked() {
                    ui.close();
                    if let Some(p) = rfd::FileDialog::new().add_filter("Inferscope preset", &["ron"]).set_file_name("study.ron").save_file() {
                        self.command(Command::SavePreset(p));
                    }
                }
            });
            ui.menu_button("View", |ui| {
                let label = if self.saved.dark_mode {
                    "Light theme"
                } else {
                    "Dark theme"
                };
                if ui.button(label).clicked() {
                    self.saved.dark_mode = !self.saved.dark_mode;
                    ui.ctx().set_theme(if self.saved.dark_mode {
                        egui::Theme::Dark
                    } else {
                        egui::Theme::Light
                    });
                    ui.close();
                }
            });
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.label(RichText::new(format!("Inferscope {}", env!("CARGO_PKG_VERSION"))).weak());
            });
        });
    }

    fn errors_ui(&mut self, ui: &mut egui::Ui) {
        dismissable(ui, &mut self.notices, 4, Color32::from_rgb(190, 120, 0));
        dismissable(ui, &mut self.errors, 3, Color32::from_rgb(200, 40, 40));
    }

    fn model_panel_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Model");
        ui.horizontal(|ui| {
            let edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path_input)
                        .hint_text("path to .onnx / .npz / .csv")
                        .desired_width(190.0),
                )
                .on_hover_text("Type or paste a path and press Enter");
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Open").clicked() || enter) && !self.path_input.trim().is_empty() {
                self.command(Command::Open(self.path_input.trim().into()));
                self.path_input.clear();
            }
        });
        match &self.model {
            None => {
                ui.label(RichText::new("Drop an .onnx model (and .npz/.npy/.csv data) anywhere on the window, use File > Open, or type a path.").weak());
            }
            Some(m) => {
                let i = &m.info;
                // The estimate runs on a thread of its own until its answer arrives.
                let flops_pending = self.flops.is_some();
                ui.label(RichText::new(&i.name).strong().size(16.0));
                ui.label(RichText::new(super::short_path(&i.path)).weak().small())
                    .on_hover_text(i.path.display().to_string());
                egui::Grid::new("model_facts").num_columns(2).show(ui, |ui| {
                    ui.label("Size");
                    ui.label(crate::format::bytes(i.file_size_bytes));
                    ui.end_row();
                    ui.label("Parameters").on_hover_text("Elements in initializers, Constant nodes (subgraphs included), ML-operator attributes and ConstantOfShape fills");
                    let notes = crate::model::parameter_notes(i);
                    let l = ui.label(format!("{} ({})", crate::format::count(i.parameter_count), crate::format::bytes(i.parameter_bytes)));
                    if !notes.is_empty() {
                        l.on_hover_text(crate::format::sentence(notes.trim_start_matches(", ")));
                    }
                    ui.end_row();
                    ui.label("FLOPs").on_hover_text("2 x multiply-adds per inference (MatMul, Gemm, Conv...), from tract's cost model");
                    match i.flops {
                        Some(f) => ui.label(crate::format::count(f)).on_hover_text(&i.flops_note),
                        None => ui.label(if flops_pending { "…" } else { "unknown" }).on_hover_text(&i.flops_note),
                    };
                    ui.end_row();
                    ui.label("Producer");
                    ui.label(&i.producer);
                    ui.end_row();
                    ui.label("IR / opsets");
                    ui.label(format!("{} / {}", i.ir_version, i.opsets.iter().map(|(d, v)| format!("{d} {v}")).collect::<Vec<_>>().join(", ")));
                    ui.end_row();
                    ui.label("sha256");
                    ui.label(format!("{}…", &i.sha256[..12])).on_hover_text(&i.sha256);
                    ui.end_row();
                });
                ui.add_space(4.0);
                ui.label(RichText::new("Inputs").strong());
                for v in &i.inputs {
                    ui.label(format!("{}  {}", v.name, v.type_string()));
                }
                ui.label(RichText::new("Outputs").strong());
                for v in &i.outputs {
                    ui.label(format!("{}  {}", v.name, v.type_string()));
                }
                egui::CollapsingHeader::new(format!("Operators ({} nodes)", i.node_count))
                    .default_open(false)
                    .show(ui, |ui| {
                        let mut ops: Vec<_> = i.op_histogram.iter().collect();
                        ops.sort_by(|a, b| b.1.cmp(a.1));
                        for (op, n) in ops {
                            ui.label(format!("{op} × {n}"));
                        }
                    });
            }
        }
        ui.separator();
        ui.label(RichText::new("Data").strong());
        match &self.saved.data_path {
            Some(p) => {
                ui.label(super::short_path(p))
                    .on_hover_text(p.display().to_string());
            }
            None => {
                ui.label("Synthesized from the model's shapes")
                    .on_hover_text("Drop an .npy/.npz/.csv file to use your own samples");
            }
        }
        ui.separator();
        self.engine_status_ui(ui);
    }

    fn engine_status_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Engines").strong());
        ui.label(format!(
            "tract {} (built in)",
            env!("INFERSCOPE_TRACT_VERSION")
        ));
        match &self.located.chosen {
            Some(c) => {
                ui.label(format!(
                    "ONNX Runtime {}",
                    c.version.as_deref().unwrap_or("?")
                ))
                .on_hover_text(c.path.display().to_string());
                ui.label(
                    RichText::new(format!("found via {}", c.source.label()))
                        .weak()
                        .small(),
                );
            }
            None => {
                ui.label(
                    RichText::new("ONNX Runtime not found").color(Color32::from_rgb(190, 120, 0)),
                )
                .on_hover_text(self.located.why_not_found());
                let busy = self.install.as_ref().is_some_and(|i| i.done.is_none());
                let button = ui.add_enabled(!busy, egui::Button::new("Install ONNX Runtime"))
                    .on_hover_text("Runs `inferscope runtime install`: pip downloads the onnxruntime wheel and the library is copied to your user folder");
                if button.clicked() {
                    self.command(Command::InstallRuntime);
                }
            }
        }
        if let Some(inst) = &self.install {
            for l in &inst.log {
                ui.label(RichText::new(l).small());
            }
            match &inst.done {
                None => {
                    ui.spinner();
                }
                Some(Ok(m)) => {
                    ui.label(RichText::new(m).color(Color32::from_rgb(30, 140, 60)));
                }
                Some(Err(e)) => {
                    ui.label(RichText::new(e).color(Color32::from_rgb(200, 40, 40)));
                }
            }
        }
    }
}

/// The newest `show` messages, each with a Dismiss button that removes it.
fn dismissable(ui: &mut egui::Ui, messages: &mut Vec<String>, show: usize, color: Color32) {
    let mut dismiss = None;
    for (i, m) in messages.iter().enumerate().rev().take(show) {
        ui.horizontal(|ui| {
            if ui.small_button("Dismiss").clicked() {
                dismiss = Some(i);
            }
            ui.label(RichText::new(m).color(color));
        });
    }
    if let Some(i) = dismiss {
        messages.remove(i);
    }
}
