//! Drawing the Compare tab.

use super::*;
use crate::engine::EngineKind;
use egui::{Color32, RichText};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, Points, Text};

impl InferscopeApp {
    pub(crate) fn compare_ui(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical()
            .id_salt("compare_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                self.variant_toggles_ui(ui);
                ui.separator();
                self.compare_controls_ui(ui);
                if self.is_comparing() {
                    ui.add_space(6.0);
                    self.compare_live_ui(ui);
                }
                let Some(cmp) = self.compare.as_ref().and_then(|c| c.result.clone()) else {
                    return;
                };
                ui.add_space(6.0);
                self.verdicts_ui(ui, &cmp);
                ui.add_space(6.0);
                self.compare_table_ui(ui, &cmp);
                ui.add_space(6.0);
                self.compare_charts_ui(ui, &cmp);
                ui.add_space(6.0);
                self.variant_details_ui(ui, &cmp);
            });
    }

    /// While the comparison runs: each run's latencies as they arrive, one line per variant,
    /// engine and batch, as the Profile tab shows a benchmark.
    fn compare_live_ui(&mut self, ui: &mut egui::Ui) {
        let Some(c) = &self.compare else { return };
        ui.label(RichText::new("Latency per variant, live").strong())
            .on_hover_text("Each measured request's latency in order, per run; the rounds alternate between the variants");
        Plot::new("compare_live")
            .allow_scroll(false)
            .height(170.0)
            .legend(Legend::default().follow_insertion_order(true))
            .x_axis_label("request")
            .y_axis_label("ms")
            .show(ui, |p| {
                for (i, (run, lat)) in c.live.iter().enumerate() {
                    let name = c
                        .specs
                        .get(run)
                        .map(|s| {
                            format!(
                                "{} · {} b{}",
                                s.variant,
                                s.engine,
                                s.batch_size
                                    .map(|b| b.to_string())
                                    .unwrap_or_else(|| "·".into())
                            )
                        })
                        .unwrap_or_else(|| format!("run {run}"));
                    let pts = crate::app::plots::decimate(lat, 0.0, 1500);
                    p.add(Line::new(name, PlotPoints::from(pts)).color(color(i)));
                }
            });
    }

    fn variant_toggles_ui(&mut self, ui: &mut egui::Ui) {
        let busy = self.is_comparing();
        let has_trees = self.model.as_ref().is_some_and(|m| {
            m.info
                .op_histogram
                .keys()
                .any(|k| k.contains("TreeEnsemble"))
        });
        let s = &mut self.saved.compare;
        egui::CollapsingHeader::new(RichText::new("Variants").strong())
            .default_open(true)
            .show(ui, |ui| {
                ui.add_enabled_ui(!busy, |ui| {
                    ui.label(RichText::new("Benchmarked with the Profile tab's settings (engine, batch sizes, stop rule), interleaved with the original.").small().weak());
                    egui::Grid::new("variant_toggles").num_columns(2).spacing([16.0, 6.0]).show(ui, |ui| {
                        ui.checkbox(&mut s.int8, "int8 (dynamic)").on_hover_text("MatMul/Gemm weights in int8, activations quantized per request (DynamicQuantizeLinear). Usually faster on ONNX Runtime; tract runs the integer ops slowly.");
                        ui.horizontal(|ui| {
                            let o = &mut s.int8_options;
                            ui.checkbox(&mut o.per_channel, "per channel").on_hover_text("One scale per output channel: more faithful, slightly larger");
                            let mut qdq = o.format == QuantFormat::Qdq;
                            if ui.checkbox(&mut qdq, "QDQ form").on_hover_text("DequantizeLinear around float ops instead of MatMulInteger; ONNX Runtime fuses it, tract cannot run it").changed() {
                                o.format = if qdq { QuantFormat::Qdq } else { QuantFormat::QOperator };
                            }
                            let mut unsigned = !o.signed;
                            if ui.checkbox(&mut unsigned, "uint8 weights").on_hover_text("Asymmetric uint8 weights instead of symmetric int8").changed() {
                                o.signed = !unsigned;
                            }
                            ui.checkbox(&mut o.conv, "Conv too").on_hover_text("ConvInteger is usually slower than float Conv on CPU");
                        });
                        ui.end_row();
                        if !s.int8_options.exclude.is_empty() {
                            ui.label("  excluded layers");
                            ui.horizontal_wrapped(|ui| {
                                let mut remove = None;
                                for (i, n) in s.int8_options.exclude.iter().enumerate() {
                                    if ui.small_button(format!("{n} ×")).on_hover_text("Quantize this layer again").clicked() {
                                        remove = Some(i);
                                    }
                                }
                                if let Some(i) = remove {
                                    s.int8_options.exclude.remove(i);
                                }
                            });
                            ui.end_row();
                        }
                        ui.checkbox(&mut s.static_int8, "int8 (static)").on_hover_text("Conv, MatMul and Gemm in int8 with activation ranges calibrated on the data (QDQ, which ONNX Runtime fuses into QLinearConv/QLinearMatMul: the fast CPU path for convolutions); embedding tables and LSTMs in int8 where they hold the target (LSTMs only where faster). Layers go back to float, the most harmful first, until the fidelity target below holds.");
                        ui.horizontal(|ui| {
                            use crate::optimize::Calibration;
                            let l = ui.label("ranges by");
                            egui::ComboBox::from_id_salt("calibration")
                                .selected_text(s.calibration.name())
                                .show_ui(ui, |ui| {
                                    for (c, tip) in [
                                        (Calibration::MinMax, "the smallest and largest value seen"),
                                        (Calibration::Percentile, "the 0.01% and 99.99% percentiles: outliers clipped"),
                                        (Calibration::Entropy, "the threshold whose 8-bit histogram stays closest to the float one (KL divergence)"),
                                    ] {
                                        ui.selectable_value(&mut s.calibration, c, c.name()).on_hover_text(tip);
                                    }
                                })
                                .response
                                .labelled_by(l.id);
                        });
                        ui.end_row();
                        ui.checkbox(&mut s.mix_int8, "int8 (mix)").on_hover_text("Convolutions in static int8 (calibrated, the fast CPU path for them), MatMul and Gemm in dynamic int8 (activations quantized per request), held to the fidelity target below.");
                        ui.label(RichText::new("static convolutions, dynamic matrix products").small().weak());
                        ui.end_row();
                        ui.checkbox(&mut s.auto_int8, "int8 (auto)").on_hover_text("Dynamic, static and their mix (static convolutions, dynamic matrix products) built, each held to the fidelity target below, timed against the float model on this machine: the fastest kept. Its coverage says what it measured and which form it chose.");
                        ui.label(RichText::new("fastest form that holds the target").small().weak());
                        ui.end_row();
                        ui.label("fidelity target").on_hover_text("What static and auto int8 hold the outputs to, on the sample data");
                        ui.horizontal(|ui| {
                            use crate::optimize::Target;
                            let l = ui.label("holds");
                            egui::ComboBox::from_id_salt("target")
                                .selected_text(s.target.kind())
                                .show_ui(ui, |ui| {
                                    for (t, tip) in [
                                        (Target::MinCosine(0.99), "every float output's cosine similarity with the float model's, at least; outputs holding class scores also keep their top class on that share of the samples"),
                                        (Target::MinTop1(0.99), "top-1 agreement with the float model's predictions (outputs holding class scores), at least"),
                                        (Target::MaxError(0.05), "no output further from the float model's than this share of its range"),
                                        (Target::MaxAccuracyDrop(0.01), "accuracy on the data's labels at most this far below the float model's"),
                                    ] {
                                        let on = s.target.kind() == t.kind();
                                        if ui.selectable_label(on, t.kind()).on_hover_text(tip).clicked() && !on {
                                            s.target = t;
                                        }
                                    }
                                })
                                .response
                                .labelled_by(l.id);
                            let mut v = s.target.value();
                            let l = ui.label("at");
                            if ui.add(egui::DragValue::new(&mut v).range(0.0..=1.0).speed(0.001).fixed_decimals(3))
                                .labelled_by(l.id)
                                .on_hover_text("A share between 0 and 1 (min-cosine 0 or max-error 1: no target)")
                                .changed()
                            {
                                if let Ok(t) = crate::optimize::Target::of(s.target.kind(), v) {
                                    s.target = t;
                                }
                            }
                        });
                        ui.end_row();
                        let tip = "The batch size the model will serve: static, mix and auto int8 time their choices (which form, which layers go back to float) on requests of this many samples (the sample data wraps around). The form fastest for one request is not always the fastest for 32.";
                        let l = ui.label("timed at batch").on_hover_text(tip);
                        ui.horizontal(|ui| {
                            ui.add(egui::DragValue::new(&mut s.int8_batch).range(1..=1024)).labelled_by(l.id).on_hover_text(tip);
                        });
                        ui.end_row();
                        ui.checkbox(&mut s.weight_int8, "weight-only int8").on_hover_text("int8 weights turned back into float by DequantizeLinear: a file about 4x smaller. tract folds that at load (same speed); ONNX Runtime keeps the DequantizeLinear nodes and pays for them on every request (measured 0.4x on the CNN)");
                        ui.label(RichText::new("smaller file, same math").small().weak());
                        ui.end_row();
                        ui.checkbox(&mut s.fp16, "fp16").on_hover_text("float16 weights and compute, float32 in and out. On CPUs without native fp16 this is usually slower: it is here to be measured, not assumed.");
                        ui.label(RichText::new("usually slower on CPU").small().weak());
                        ui.end_row();
                        ui.checkbox(&mut s.prune, "pruning");
                        ui.horizontal(|ui| {
                            let l = ui.label("sparsity");
                            ui.add(egui::Slider::new(&mut s.sparsity, 0.05..=0.95).fixed_decimals(2)).labelled_by(l.id).on_hover_text("Share of weights (unstructured) or of hidden units and channels (structured) removed");
                            ui.checkbox(&mut s.structured, "structured").on_hover_text("Remove whole hidden units and channels so the tensors shrink and the model runs faster. Unstructured pruning only adds zeros: the file compresses better but dense kernels do the same work.");
                        });
                        ui.end_row();
                        ui.add_enabled_ui(has_trees, |ui| ui.checkbox(&mut s.trees, "fewer trees")).response.on_disabled_hover_text("For tree ensembles");
                        ui.horizontal(|ui| {
                            let l = ui.label("keep");
                            ui.add(egui::DragValue::new(&mut s.trees_k).range(1..=10_000)).labelled_by(l.id);
                            let l = ui.add_enabled_ui(has_trees, |ui| ui.checkbox(&mut s.max_depth, "max depth")).inner;
                            ui.add(egui::DragValue::new(&mut s.depth).range(1..=64)).labelled_by(l.id).on_hover_text("Every tree cut at this depth; the cut node becomes a leaf with the mean of the leaves below it");
                        });
                        ui.end_row();
                        let l = ui.checkbox(&mut s.ort_level, "ONNX Runtime level").on_hover_text("The same model with another graph optimization level (ONNX Runtime only)");
                        egui::ComboBox::from_id_salt("ort_level")
                            .selected_text(format!("{:?}", s.level).to_lowercase())
                            .show_ui(ui, |ui| {
                                for l in [OptLevel::Disabled, OptLevel::Basic, OptLevel::Extended, OptLevel::All] {
                                    ui.selectable_value(&mut s.level, l, format!("{l:?}").to_lowercase());
                                }
                            })
                            .response
                            .labelled_by(l.id);
                        ui.end_row();
                        ui.label("other models");
                        ui.horizontal_wrapped(|ui| {
                            let mut remove = None;
                            for (i, f) in s.files.iter().enumerate() {
                                if ui.small_button(format!("{} ×", crate::app::short_path(f))).on_hover_text(f.display().to_string()).clicked() {
                                    remove = Some(i);
                                }
                            }
                            if let Some(i) = remove {
                                s.files.remove(i);
                            }
                            if ui.small_button("Add…").on_hover_text("Another ONNX model for the same task (a distilled student, say): it must take the same inputs").clicked() {
                                if let Some(p) = rfd::FileDialog::new().add_filter("ONNX model", &["onnx"]).pick_file() {
                                    s.files.push(p);
                                }
                            }
                        });
                        ui.end_row();
                    });
                });
            });
    }

    fn compare_controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let busy = self.is_comparing();
            let can = self.model.is_some() && !busy && !self.is_running();
            if ui
                .add_enabled(can, egui::Button::new(RichText::new("Run comparison").strong()))
                .on_hover_text("Build the variants, measure their fidelity on the data, then benchmark them interleaved with the original")
                .on_disabled_hover_text("Open a model (and wait for a running benchmark)")
                .clicked()
            {
                self.command(Command::Compare);
            }
            if busy && ui.button("Cancel").clicked() {
                self.command(Command::Cancel);
            }
            if let Some(c) = &self.compare {
                if c.worker.is_some() {
                    // Text only: a spinner repaints every frame and takes CPU from the run.
                    let what = match c.progress {
                        Some((run, phase, done, total)) => {
                            let spec = c.specs.get(&run);
                            let who = spec
                                .map(|s| {
                                    format!(
                                        "{} on {}{}",
                                        s.variant,
                                        s.engine,
                                        s.batch_size.map(|b| format!(", batch {b}")).unwrap_or_default()
                                    )
                                })
                                .unwrap_or_default();
                            match (phase, total) {
                                (Phase::Measure, Some(t)) => format!("{who}: {done}/{t} requests"),
                                (Phase::Measure, None) => format!("{who}: {done} requests"),
                                (Phase::Warmup, _) => format!("{who}: warming up"),
                                (Phase::OwnProcess, _) => format!("{who}: memory and cold start in a process of its own"),
                                (Phase::Loading, _) => "loading the variants".into(),
                            }
                        }
                        None => String::new(),
                    };
                    let eta = c.study.as_ref().map(|p| format!(" ({})", p.text())).unwrap_or_default();
                    ui.label(format!("{} {what}{eta}", c.step));
                } else if c.cancelled {
                    ui.label("Cancelled.");
                } else if let Some(r) = &c.result {
                    ui.label(format!(
                        "Done: {} variants in {:.1} s.",
                        r.variants.len(),
                        c.took.unwrap_or_else(|| c.started.elapsed()).as_secs_f64()
                    ));
                }
            }
        });
        if let Some(c) = &self.compare {
            for f in &c.failures {
                ui.label(
                    RichText::new(f)
                        .small()
                        .color(Color32::from_rgb(170, 90, 0)),
                );
            }
        }
    }

    /// One line per variant: the verdict, and what it costs a month at the Cost tab's inputs.
    fn verdicts_ui(&mut self, ui: &mut egui::Ui, cmp: &Comparison) {
        use crate::compare::verdict::{verdict, Kind};
        let costs = self.variant_costs().cloned();
        let costs = match costs {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                ui.label(
                    RichText::new(format!("Monthly cost not priced: {e}"))
                        .color(Color32::from_rgb(170, 90, 0)),
                );
                Vec::new()
            }
            None => Vec::new(),
        };
        let original = costs.iter().find(|c| c.variant == "original");
        let i = &self.saved.cost.inputs;
        ui.label(RichText::new("Verdicts").strong()).on_hover_text(format!(
            "Faster: the 95% interval of the speedup excludes 1 at every batch size. Faithful: fidelity of at least {} (top-1 agreement for class scores, else cosine) and no labelled accuracy lost beyond half a point. Monthly cost: each variant's fastest batch-1 run priced at the Cost tab's inputs ({} requests/month, {} target {:.0} ms) on the tier the planner recommends for it.",
            crate::compare::verdict::FAITHFUL,
            crate::format::count_short(i.monthly_requests),
            i.percentile.label(),
            i.latency_target_ms
        ));
        let mut profile = None;
        let mut broken = Vec::new();
        egui::Grid::new("verdicts")
            .num_columns(4)
            .spacing([12.0, 3.0])
            .show(ui, |ui| {
                if let Some(o) = original {
                    ui.label("original");
                    ui.label(o.label());
                    ui.label("");
                    ui.end_row();
                }
                for v in &cmp.variants {
                    let verdict = verdict(v, cmp.file_size_bytes);
                    let color = match verdict.kind {
                        Kind::Use => Color32::from_rgb(30, 140, 30),
                        Kind::Weigh => Color32::from_rgb(190, 110, 0),
                        Kind::Keep => ui.visuals().text_color(),
                        Kind::Broken => Color32::from_rgb(190, 40, 40),
                    };
                    ui.label(&v.name);
                    let cost = costs.iter().find(|c| c.variant == v.name);
                    ui.label(match (cost, original) {
                        (Some(c), Some(o)) => match c.saving_over(o) {
                            Some(s) => format!("{}, {s}", c.label()),
                            None => c.label(),
                        },
                        (Some(c), None) => c.label(),
                        _ => String::new(),
                    });
                    if verdict.kind == Kind::Broken {
                        // Why a variant was not built can run long (every layer's reason):
                        // below the grid, where it wraps to the panel's width.
                        ui.label(RichText::new("not built (why: below)").color(color));
                        broken.push(format!("{}: {}", v.name, verdict.text));
                    } else {
                        ui.label(RichText::new(verdict.text).color(color));
                    }
                    if v.error.is_none()
                        && ui
                            .small_button("Where the time goes")
                            .on_hover_text(format!(
                                "Where the time goes in {} against the original, layer by layer (Operators tab)",
                                v.name
                            ))
                            .clicked()
                    {
                        profile = Some(v.name.clone());
                    }
                    ui.end_row();
                }
            });
        for why in broken {
            ui.label(RichText::new(why).color(Color32::from_rgb(190, 40, 40)));
        }
        if let Some(v) = profile {
            self.command(Command::OpsForVariant(v));
        }
    }

    fn compare_table_ui(&mut self, ui: &mut egui::Ui, cmp: &Comparison) {
        let h = |ui: &mut egui::Ui, t: &str, tip: &str| {
            ui.label(RichText::new(t).strong()).on_hover_text(tip);
        };
        let mut offered = std::collections::BTreeSet::new();
        let mut save = None;
        egui::Grid::new("compare_table").striped(true).num_columns(13).spacing([12.0, 3.0]).show(ui, |ui| {
            h(ui, "variant", "The original, then each variant");
            h(ui, "engine", "Engine the run was measured on");
            h(ui, "batch", "Samples per request");
            h(ui, "p50 ms", "Median latency");
            h(ui, "p95 ms", "95th percentile latency");
            h(ui, "p99 ms", "99th percentile latency");
            h(ui, "samples/s", "Throughput: requests per second x batch size");
            h(ui, "peak MB", "Peak resident memory of a process serving only this variant at this batch, the runtime included: measured in a process of its own, since all variants share one while the rounds alternate");
            h(ui, "size", "Model file size");
            h(ui, "fidelity", "Lowest top-1 agreement with the original over class-score outputs (made by Softmax, read by ArgMax, or named like logits or probabilities), else the lowest cosine similarity of the outputs (1 = identical); hover a value for the sample count");
            h(ui, "speedup", "Original p50 / variant p50 in the same interleaved run, with a 95% bootstrap interval");
            h(ui, "", "");
            h(ui, "", "");
            ui.end_row();
            for row in crate::compare::table::rows(&cmp.runs, &cmp.variants, cmp.file_size_bytes) {
                let r = row.run;
                ui.label(&r.variant).on_hover_text(row.variant.map(|v| v.description.as_str()).unwrap_or("the model as given"));
                ui.label(r.engine.label());
                ui.label(r.batch_size.to_string());
                ui.label(format!("{:.3}", r.latency_p50));
                ui.label(format!("{:.3}", r.latency_p95));
                ui.label(format!("{:.3}", r.latency_p99));
                ui.label(format!("{:.0}", r.throughput_rps));
                ui.label(row.own_peak_text());
                ui.label(crate::format::bytes(row.size_bytes));
                let what = row
                    .variant
                    .and_then(|v| v.fidelity.as_ref())
                    .map(|f| f.score_label())
                    .unwrap_or_else(|| "the original itself".into());
                ui.label(row.fidelity_text()).on_hover_text(what);
                match row.speedup {
                    Some(s) => {
                        let color = if !s.significant {
                            ui.visuals().text_color()
                        } else if s.p50_ratio > 1.0 {
                            Color32::from_rgb(30, 140, 30)
                        } else {
                            Color32::from_rgb(190, 40, 40)
                        };
                        ui.label(RichText::new(row.speedup_text()).color(color));
                        ui.label(if s.significant { "" } else { "not significant" });
                    }
                    None => {
                        ui.label("");
                        ui.label("");
                    }
                }
                // One Save button per variant, on its first row.
                match row.variant {
                    Some(v) if v.error.is_none() && offered.insert(v.name.clone()) => {
                        if ui.button("Save…").on_hover_text(format!("Write the {} variant as an ONNX file, as `inferscope optimize` does", v.name)).clicked() {
                            save = Some(v.name.clone());
                        }
                    }
                    _ => {
                        ui.label("");
                    }
                }
                ui.end_row();
            }
        });
        if let Some(name) = save {
            let path = self.default_variant_path(&name);
            self.saving_variant = Some((name, path));
        }
    }

    fn compare_charts_ui(&mut self, ui: &mut egui::Ui, cmp: &Comparison) {
        // Charts show one engine x batch; default: the first engine, batch 1 if measured.
        let mut keys: Vec<(EngineKind, usize)> =
            cmp.runs.iter().map(|r| (r.engine, r.batch_size)).collect();
        keys.sort();
        keys.dedup();
        let Some(first) = crate::compare::table::default_view(&cmp.runs) else {
            return;
        };
        let mut key = self
            .compare_view
            .filter(|k| keys.contains(k))
            .unwrap_or(first);
        ui.horizontal(|ui| {
            let l = ui.label("Charts for");
            egui::ComboBox::from_id_salt("compare_view")
                .selected_text(format!("{} batch {}", key.0, key.1))
                .show_ui(ui, |ui| {
                    for k in &keys {
                        ui.selectable_value(&mut key, *k, format!("{} batch {}", k.0, k.1));
                    }
                })
                .response
                .labelled_by(l.id);
        });
        self.compare_view = Some(key);
        let runs: Vec<&crate::bench::RunResult> = cmp
            .runs
            .iter()
            .filter(|r| (r.engine, r.batch_size) == key)
            .collect();
        let names: Vec<String> = runs.iter().map(|r| r.variant.clone()).collect();
        let size_of = |n: &str| {
            cmp.variants
                .iter()
                .find(|v| v.name == n)
                .map(|v| v.file_size_bytes)
                .unwrap_or(cmp.file_size_bytes) as f64
        };
        let fidelity_of = |n: &str| -> Option<f64> {
            if n == "original" {
                return Some(1.0);
            }
            cmp.variants
                .iter()
                .find(|v| v.name == n)?
                .fidelity
                .as_ref()
                .map(|f| f.score())
        };
        let w = ((ui.available_width() - 24.0) / 3.0).max(220.0);
        let names2 = names.clone();
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.label(RichText::new("p50 latency, ms").strong()).on_hover_text("Bars: median; whiskers: p95");
                Plot::new("compare_latency").height(220.0).width(w).allow_drag(false).allow_zoom(false).allow_scroll(false)
                    .show_axes([false, true])
                    .include_y(0.0)
                    .show(ui, |p| {
                        for (i, r) in runs.iter().enumerate() {
                            p.add(BarChart::new(r.variant.as_str(), vec![Bar::new(i as f64, r.latency_p50).width(0.6)]).color(color(i)));
                            p.add(Line::new("", PlotPoints::from(vec![[i as f64, r.latency_p50], [i as f64, r.latency_p95]])).color(Color32::from_rgb(90, 90, 90)).width(2.5));
                            p.add(Text::new("", egui_plot::PlotPoint::new(i as f64, 0.0), RichText::new(short(&r.variant)).small()).anchor(egui::Align2::CENTER_TOP));
                        }
                    });
            });
            ui.vertical(|ui| {
                ui.label(RichText::new("File size, KB").strong());
                Plot::new("compare_size").height(220.0).width(w).allow_drag(false).allow_zoom(false).allow_scroll(false)
                    .show_axes([false, true])
                    .include_y(0.0)
                    .show(ui, |p| {
                        for (i, n) in names2.iter().enumerate() {
                            p.add(BarChart::new(n.as_str(), vec![Bar::new(i as f64, size_of(n) / 1e3).width(0.6)]).color(color(i)));
                            p.add(Text::new("", egui_plot::PlotPoint::new(i as f64, 0.0), RichText::new(short(n)).small()).anchor(egui::Align2::CENTER_TOP));
                        }
                    });
            });
            ui.vertical(|ui| {
                ui.label(RichText::new("Latency vs fidelity").strong()).on_hover_text("Up and to the left is better. The line joins the Pareto front: variants nothing else beats on both latency and fidelity.");
                let pts: Vec<(String, f64, f64)> = runs.iter().filter_map(|r| fidelity_of(&r.variant).map(|f| (r.variant.clone(), r.latency_p50, f))).collect();
                let front = crate::compare::pareto_front(&pts.iter().map(|p| (p.1, p.2)).collect::<Vec<_>>());
                // Fidelity is a share: the axis spans what the points need, up to 1.
                let lowest = pts.iter().map(|p| p.2).filter(|f| f.is_finite()).fold(1.0f64, f64::min).clamp(0.0, 1.0);
                let pad = ((1.0 - lowest) * 0.1).max(0.005);
                Plot::new("compare_pareto").allow_scroll(false).height(220.0).width(w).default_y_bounds(lowest - pad, 1.0 + pad).legend(Legend::default().follow_insertion_order(true).position(egui_plot::Corner::RightBottom))
                    .x_axis_label("p50 ms").y_axis_label("fidelity")
                    .show(ui, |p| {
                        for (i, (n, x, y)) in pts.iter().enumerate() {
                            let on = front.contains(&i);
                            p.add(Points::new(n.as_str(), PlotPoints::from(vec![[*x, *y]])).radius(if on { 6.0 } else { 4.0 }).color(color(names.iter().position(|m| m == n).unwrap_or(0))));
                        }
                        let line: Vec<[f64; 2]> = front.iter().map(|&i| [pts[i].1, pts[i].2]).collect();
                        p.add(Line::new("Pareto front", PlotPoints::from(line)).color(Color32::GRAY).style(egui_plot::LineStyle::dashed_dense()));
                    });
            });
        });
    }

    fn variant_details_ui(&mut self, ui: &mut egui::Ui, cmp: &Comparison) {
        let with_layers: Vec<String> = cmp
            .variants
            .iter()
            .filter(|v| v.fidelity.as_ref().is_some_and(|f| !f.layers.is_empty()))
            .map(|v| v.name.clone())
            .collect();
        if !with_layers.is_empty() {
            let mut sel = self
                .compare_selected
                .clone()
                .filter(|s| with_layers.contains(s))
                .unwrap_or_else(|| with_layers[0].clone());
            ui.horizontal(|ui| {
                let l = ui.label(RichText::new("Per-layer drift of").strong()).on_hover_text("Relative error of each MatMul/Gemm/Conv output against the original on the sample data: where the variant loses fidelity");
                egui::ComboBox::from_id_salt("drift_variant")
                    .selected_text(sel.clone())
                    .show_ui(ui, |ui| {
                        for n in &with_layers {
                            ui.selectable_value(&mut sel, n.clone(), n);
                        }
                    })
                    .response
                    .labelled_by(l.id);
            });
            self.compare_selected = Some(sel.clone());
            if let Some(f) = cmp
                .variants
                .iter()
                .find(|v| v.name == sel)
                .and_then(|v| v.fidelity.as_ref())
            {
                let is_int8 = sel.starts_with("int8");
                let worst = f
                    .layers
                    .iter()
                    .map(|l| l.relative_error)
                    .fold(1e-9, f64::max);
                let mut exclude = None;
                egui::Grid::new("drift")
                    .num_columns(4)
                    .spacing([12.0, 3.0])
                    .show(ui, |ui| {
                        for l in &f.layers {
                            ui.label(format!("{} ({})", l.node, l.op));
                            ui.add(
                                egui::ProgressBar::new((l.relative_error / worst) as f32)
                                    .desired_width(220.0)
                                    .text(format!("{:.3}%", l.relative_error * 100.0)),
                            );
                            ui.label(format!("cosine {:.5}", l.cosine));
                            if is_int8 {
                                if ui
                                    .button(format!("Exclude {}", l.node))
                                    .on_hover_text("Leave this layer in float and compare again")
                                    .clicked()
                                {
                                    exclude = Some(l.node.clone());
                                }
                            } else {
                                ui.label("");
                            }
                            ui.end_row();
                        }
                    });
                if let Some(n) = exclude {
                    self.command(Command::ExcludeLayer(n));
                }
            }
        }
        for v in &cmp.variants {
            let title = match &v.error {
                Some(_) => RichText::new(format!("{}: not compared", v.name))
                    .color(Color32::from_rgb(170, 90, 0)),
                None => RichText::new(format!(
                    "{}: {}",
                    v.name,
                    v.coverage
                        .as_ref()
                        .map(|c| c.summary())
                        .unwrap_or_else(|| v.description.clone())
                )),
            };
            egui::CollapsingHeader::new(title)
                .id_salt(("variant", &v.name))
                .show(ui, |ui| {
                    ui.label(&v.description);
                    if let Some(e) = &v.error {
                        ui.label(RichText::new(e).color(Color32::from_rgb(170, 90, 0)));
                    }
                    if let Some(c) = &v.coverage {
                        for n in &c.changed {
                            ui.label(
                                RichText::new(format!("changed {} ({}): {}", n.node, n.op, n.note))
                                    .small(),
                            );
                        }
                        for n in &c.skipped {
                            ui.label(
                                RichText::new(format!("left {} ({}): {}", n.node, n.op, n.note))
                                    .small()
                                    .weak(),
                            );
                        }
                        for n in &c.notes {
                            ui.label(RichText::new(format!("note: {n}")).small());
                        }
                    }
                    if let Some(f) = &v.fidelity {
                        for o in &f.outputs {
                            ui.label(RichText::new(o.summary()).small());
                        }
                    }
                    if let Some(e) = &v.fidelity_error {
                        ui.label(RichText::new(format!("fidelity not measured: {e}")).small());
                    }
                });
        }
        if let Some(i) = &cmp.importance {
            ui.add_space(4.0);
            ui.label(RichText::new(i.summary()).small()).on_hover_text(
                "How much the metric drops when one feature's column is shuffled, as a share of all drops",
            );
        }
    }
}

fn short(name: &str) -> String {
    if name.chars().count() > 14 {
        format!("{}…", name.chars().take(13).collect::<String>())
    } else {
        name.to_string()
    }
}
