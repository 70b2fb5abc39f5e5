//! The Profile tab: settings, run controls, live plots, the results table and the checklist.

use super::plots::{decimate, decimate_xy, distribution, log_ms_label};
use super::{Command, InferscopeApp};
use crate::bench::checklist::{self, Status};
use crate::bench::Phase;
use crate::engine::EngineChoice;
use crate::settings::Stop;
use egui::{Color32, RichText};
use egui_plot::{Bar, BarChart, HLine, Legend, Line, Plot, PlotPoints, Span, VLine};

const PLOT_HEIGHT: f32 = 190.0;
const MAX_POINTS: usize = 2000;

fn header(ui: &mut egui::Ui, text: &str, tip: &str) {
    ui.label(RichText::new(text).strong()).on_hover_text(tip);
}

pub(super) const PALETTE: [Color32; 6] = [
    Color32::from_rgb(31, 119, 180),
    Color32::from_rgb(255, 127, 14),
    Color32::from_rgb(44, 160, 44),
    Color32::from_rgb(214, 39, 40),
    Color32::from_rgb(148, 103, 189),
    Color32::from_rgb(140, 86, 75),
];

impl InferscopeApp {
    pub(super) fn profile_ui(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                self.settings_ui(ui);
                ui.separator();
                self.run_controls_ui(ui);
                if self.session.is_some() {
                    ui.add_space(6.0);
                    self.plots_ui(ui);
                    ui.add_space(6.0);
                    self.results_table_ui(ui);
                }
                self.history_ui(ui);
                ui.add_space(6.0);
                self.checklist_ui(ui);
            });
    }

    fn settings_ui(&mut self, ui: &mut egui::Ui) {
        let running = self.is_running();
        let s = &mut self.saved.settings;
        let text = &mut self.settings_text;
        let target = &mut self.saved.cost.inputs.latency_target_ms;
        let has_data = self.saved.data_path.is_some();
        let warn = Color32::from_rgb(200, 40, 40);
        egui::CollapsingHeader::new(RichText::new("Settings").strong()).default_open(true).show(ui, |ui| {
            ui.add_enabled_ui(!running, |ui| {
                egui::Grid::new("settings").num_columns(4).spacing([18.0, 6.0]).show(ui, |ui| {
                    let l = ui.label("Engine").on_hover_text("Auto: ONNX Runtime when found, else tract (pure Rust, built in)");
                    egui::ComboBox::from_id_salt("engine")
                        .selected_text(match s.engine {
                            EngineChoice::Auto => "Auto",
                            EngineChoice::Ort => "ONNX Runtime",
                            EngineChoice::Tract => "tract",
                            EngineChoice::Both => "Both",
                        })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut s.engine, EngineChoice::Auto, "Auto");
                            ui.selectable_value(&mut s.engine, EngineChoice::Ort, "ONNX Runtime");
                            ui.selectable_value(&mut s.engine, EngineChoice::Tract, "tract");
                            ui.selectable_value(&mut s.engine, EngineChoice::Both, "Both");
                        })
                        .response
                        .labelled_by(l.id);
                    let l = ui.label("Threads").on_hover_text("Threads inside one operator (intra-op); 0 = the engine's default");
                    let mut threads = s.threads.unwrap_or(0);
                    if ui.add(egui::DragValue::new(&mut threads).range(0..=256)).labelled_by(l.id).changed() {
                        s.threads = (threads > 0).then_some(threads);
                    }
                    ui.end_row();

                    let l = ui.label("Batch sizes").on_hover_text("Samples per request, comma-separated. Empty: 1, 8, 32, 64, or with a data file the data as given");
                    ui.vertical(|ui| {
                        let hint = if has_data { "the data as given" } else { "1, 8, 32, 64" };
                        let r = ui.add(egui::TextEdit::singleline(&mut text.batch_sizes).hint_text(hint).desired_width(120.0)).labelled_by(l.id);
                        if r.changed() {
                            text.apply(s);
                        }
                        if let Some(e) = &text.batch_error {
                            ui.label(RichText::new(e).small().color(warn));
                        }
                    });
                    let l = ui.label("Concurrency").on_hover_text("Closed-loop client threads, each with its own session");
                    ui.add(egui::DragValue::new(&mut s.concurrency).range(1..=256)).labelled_by(l.id);
                    ui.end_row();

                    let l = ui.label("Warm-up").on_hover_text("Iterations run before measuring; shown shaded, kept out of the statistics");
                    ui.add(egui::DragValue::new(&mut s.warmup_iterations).range(0..=100_000).suffix(" it")).labelled_by(l.id);
                    ui.label("Stop rule");
                    ui.horizontal(|ui| {
                        let kind = std::mem::discriminant(&s.stop);
                        for (stop, label) in [
                            (Stop::default_iterations(), "Iterations"),
                            (Stop::default_min_time(), "Time"),
                            (Stop::default_until_stable(), "Until stable"),
                        ] {
                            let on = kind == std::mem::discriminant(&stop);
                            let r = ui.radio(on, label);
                            let r = if matches!(stop, Stop::UntilStable { .. }) {
                                r.on_hover_text("Stop when the 95% confidence interval of p99 is within the given percentage of p99")
                            } else {
                                r
                            };
                            if r.clicked() && !on {
                                s.stop = stop;
                            }
                        }
                    });
                    ui.end_row();

                    ui.label("");
                    ui.label("");
                    ui.label("");
                    ui.horizontal(|ui| match &mut s.stop {
                        Stop::Iterations(n) => {
                            let l = ui.label("measure");
                            ui.add(egui::DragValue::new(n).range(1..=10_000_000).suffix(" it")).labelled_by(l.id);
                        }
                        Stop::MinTime { seconds, min_iterations, max_seconds } => {
                            let l = ui.label("measure for");
                            ui.add(egui::DragValue::new(seconds).range(0.05..=3600.0).speed(0.1).suffix(" s")).labelled_by(l.id);
                            let l = ui.label("and at least");
                            ui.add(egui::DragValue::new(min_iterations).range(1..=10_000_000).suffix(" it")).labelled_by(l.id);
                            let l = ui.label("at most").on_hover_text("A slow model stops here with fewer requests, and the run says so");
                            let lo = *seconds;
                            ui.add(egui::DragValue::new(max_seconds).range(lo..=86_400.0).suffix(" s")).labelled_by(l.id);
                        }
                        Stop::UntilStable { percent, max_iterations, max_seconds, .. } => {
                            let l = ui.label("p99 interval within");
                            ui.add(egui::DragValue::new(percent).range(0.5..=50.0).speed(0.1).suffix(" %")).labelled_by(l.id);
                            let l = ui.label("cap");
                            ui.add(egui::DragValue::new(max_iterations).range(100..=10_000_000).suffix(" it")).labelled_by(l.id);
                            let l = ui.label("or");
                            ui.add(egui::DragValue::new(max_seconds).range(1.0..=86_400.0).suffix(" s")).labelled_by(l.id);
                        }
                    });
                    ui.end_row();

                    let l = ui.label("Symbolic dims").on_hover_text("Sizes for named dims of synthesized inputs, e.g. seq=128");
                    ui.vertical(|ui| {
                        let r = ui.add(egui::TextEdit::singleline(&mut text.dims).hint_text("seq=128").desired_width(120.0)).labelled_by(l.id);
                        if r.changed() {
                            text.apply(s);
                        }
                        if let Some(e) = &text.dims_error {
                            ui.label(RichText::new(e).small().color(warn));
                        }
                    });
                    let l = ui.label("Latency target").on_hover_text("p95 at batch 1 must stay under this (checklist); also the Cost tab's target");
                    ui.add(egui::DragValue::new(target).range(0.01..=100_000.0).suffix(" ms")).labelled_by(l.id);
                    ui.end_row();
                });
            });
        });
    }

    fn run_controls_ui(&mut self, ui: &mut egui::Ui) {
        let running = self.is_running();
        ui.horizontal(|ui| {
            let can_run = self.model.is_some() && !running;
            if ui
                .add_enabled(can_run, egui::Button::new(RichText::new("Run").strong()))
                .on_hover_text("Ctrl+R or F5")
                .clicked()
            {
                self.command(Command::Run);
            }
            if ui
                .add_enabled(running, egui::Button::new("Cancel"))
                .on_hover_text("Esc")
                .clicked()
            {
                self.command(Command::Cancel);
            }
            if let Some(session) = &self.session {
                let label_of = |run: usize| {
                    session
                        .runs
                        .get(&run)
                        .and_then(|r| r.spec.as_ref())
                        .map(|s| {
                            format!(
                                "{} · batch {}",
                                s.engine,
                                s.batch_size
                                    .map(|b| b.to_string())
                                    .unwrap_or_else(|| "as given".into())
                            )
                        })
                };
                if running {
                    if let Some((run, phase, done, total)) = session.progress {
                        let what = match phase {
                            Phase::OwnProcess => "memory and cold start in a process of its own".to_string(),
                            Phase::Loading => "loading model".to_string(),
                            Phase::Warmup => {
                                format!("{} · warming up", label_of(run).unwrap_or_default())
                            }
                            Phase::Measure => {
                                format!("{} · measuring", label_of(run).unwrap_or_default())
                            }
                        };
                        let frac = total.map(|t| done as f32 / t.max(1) as f32).unwrap_or(0.0);
                        let eta = session.study.as_ref().map(|p| format!(" · {}", p.text())).unwrap_or_default();
                        let text = match total {
                            Some(t) => format!("{what}: {done}/{t}{eta}"),
                            None => format!("{what}: {done}{eta}"),
                        };
                        // No animation: an animated bar (or a spinner) repaints every frame,
                        // and with software rendering that takes CPU from the benchmark.
                        match total {
                            Some(_) => {
                                ui.add(
                                    egui::ProgressBar::new(frac.min(1.0))
                                        .text(text)
                                        .desired_width(420.0),
                                );
                            }
                            None => {
                                ui.label(text);
                            }
                        }
                    } else {
                        ui.label("starting…");
                    }
                } else if session.cancelled {
                    ui.label(RichText::new("Cancelled").color(Color32::from_rgb(190, 120, 0)));
                } else if session.finished {
                    ui.label(match session.results().len() {
                        1 => "Done: 1 run".to_string(),
                        n => format!("Done: {n} runs"),
                    });
                }
                if let Some(n) = &session.notice {
                    ui.label(RichText::new(n).weak());
                }
                for why in &session.skipped {
                    ui.label(RichText::new(why).weak());
                }
                if running && self.software_rendering {
                    ui.label(RichText::new("Drawing without a GPU: plots refresh every 2 s").weak())
                        .on_hover_text("This window is rendered on the CPU. Each frame of plots takes CPU time that a model using every core would measure, so the live views refresh slowly during a run. `inferscope bench` measures with no window at all.");
                }
            } else if self.model.is_none() {
                ui.label(RichText::new("Open a model to run a benchmark.").weak());
            }
        });
    }

    fn plots_ui(&mut self, ui: &mut egui::Ui) {
        let Some(session) = &self.session else { return };
        let warmup = self.saved.settings.warmup_iterations as f64;
        let width = (ui.available_width() / 2.0 - 8.0).max(200.0);
        let runs: Vec<(usize, String)> = session
            .runs
            .iter()
            .filter_map(|(id, r)| {
                r.spec.as_ref().map(|s| {
                    (
                        *id,
                        format!(
                            "{} b{}",
                            s.engine,
                            s.batch_size
                                .map(|b| b.to_string())
                                .unwrap_or_else(|| "·".into())
                        ),
                    )
                })
            })
            .collect();
        // Unless the user picked one, show the latest run that has measured samples.
        let latest_measured = session
            .runs
            .iter()
            .rev()
            .find(|(_, r)| !r.measure_ms.is_empty())
            .map(|(id, _)| *id);
        let selected = self
            .selected_run
            .filter(|r| session.runs.contains_key(r))
            .or(latest_measured);

        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.set_width(width);
                header(ui, "Latency over time", "Each request's latency in order, per run; the shaded band is warm-up (not in the statistics)");
                Plot::new("latency_time").allow_scroll(false).height(PLOT_HEIGHT).legend(Legend::default().follow_insertion_order(true)).x_axis_label("request").y_axis_label("ms").show(ui, |p| {
                    if warmup > 0.0 {
                        p.add(Span::new("warm-up", 0.0..=warmup).fill(Color32::from_gray(128).gamma_multiply(0.25)));
                    }
                    for (i, (id, name)) in runs.iter().enumerate() {
                        let r = &session.runs[id];
                        let color = PALETTE[i % PALETTE.len()];
                        let mut pts = decimate(&r.warmup_ms, 0.0, MAX_POINTS / 4);
                        pts.extend(decimate(&r.measure_ms, r.warmup_ms.len() as f64, MAX_POINTS));
                        p.add(Line::new(name.as_str(), PlotPoints::from(pts)).color(color));
                    }
                });
            });
            ui.vertical(|ui| {
                ui.set_width(width);
                header(ui, "Resident memory", "Resident set size of the process over the session, sampled every 10 ms; lines mark after-load and peak");
                Plot::new("memory").allow_scroll(false).height(PLOT_HEIGHT).x_axis_label("s").y_axis_label("MB").show(ui, |p| {
                    // A line, not a filled band (the axis does not start at zero), with room
                    // around it so the axis has several labels.
                    p.add(Line::new("RSS", PlotPoints::from(decimate_xy(&session.memory, MAX_POINTS))).color(PALETTE[0]));
                    let (lo, hi) = session.memory.iter().fold((f64::MAX, f64::MIN), |(lo, hi), m| (lo.min(m[1]), hi.max(m[1])));
                    if lo <= hi {
                        let pad = ((hi - lo) * 0.25).max(hi * 0.05).max(1.0);
                        p.set_plot_bounds_y((lo - pad).max(0.0)..=hi + pad);
                    }
                    if let Some(r) = session.results().first() {
                        p.add(HLine::new("after load", r.rss_after_load_mb).color(Color32::from_rgb(44, 160, 44)));
                    }
                    if let Some(peak) = session.memory.iter().map(|m| m[1]).reduce(f64::max) {
                        p.add(HLine::new("peak", peak).color(Color32::from_rgb(214, 39, 40)));
                    }
                });
            });
        });

        ui.horizontal(|ui| {
            let l = ui.label("Distribution of");
            let mut sel = selected.unwrap_or(0);
            egui::ComboBox::from_id_salt("dist_run")
                .selected_text(
                    runs.iter()
                        .find(|r| r.0 == sel)
                        .map(|r| r.1.clone())
                        .unwrap_or_default(),
                )
                .show_ui(ui, |ui| {
                    for (id, name) in &runs {
                        ui.selectable_value(&mut sel, *id, name);
                    }
                })
                .response
                .labelled_by(l.id);
            if Some(sel) != selected {
                self.selected_run = Some(sel);
            }
        });
        let Some(session) = &mut self.session else {
            return;
        };
        // The pinned baseline's run of the same engine and batch, as (log10 ms, share) points.
        let baseline_cdf: Option<Vec<[f64; 2]>> = selected
            .and_then(|id| session.runs.get(&id))
            .and_then(|view| {
                let spec = view.spec.as_ref()?;
                let batch = view
                    .result
                    .as_ref()
                    .map(|r| r.batch_size)
                    .or(spec.batch_size);
                let b = self.baseline.as_ref()?;
                let run = b.doc.runs.iter().find(|r| {
                    r.engine == spec.engine
                        && Some(r.batch_size) == batch
                        && r.variant == spec.variant
                })?;
                let q = &run.latency_quantiles_ms;
                (q.len() > 1).then(|| {
                    q.iter()
                        .enumerate()
                        .filter(|(_, v)| **v > 0.0)
                        .map(|(k, v)| [v.log10(), k as f64 / (q.len() - 1) as f64])
                        .collect()
                })
            });
        let dist = selected.and_then(|id| session.runs.get_mut(&id)).map(|r| {
            let stale = r.dist.as_ref().is_none_or(|d| d.n != r.measure_ms.len());
            if stale {
                r.dist = Some(distribution(&r.measure_ms, 40));
            }
            r.dist.clone().unwrap_or_default()
        });
        ui.horizontal(|ui| {
            let d = dist.clone().unwrap_or_default();
            ui.vertical(|ui| {
                ui.set_width(width);
                header(
                    ui,
                    "Latency histogram (log scale)",
                    "Measured latencies in log-spaced bins; lines at p50, p95, p99",
                );
                Plot::new("histogram")
                    .allow_scroll(false)
                    .height(PLOT_HEIGHT)
                    .legend(Legend::default().follow_insertion_order(true))
                    .x_axis_formatter(|m, _| log_ms_label(m.value))
                    .y_axis_label("requests")
                    .show(ui, |p| {
                        let bars: Vec<Bar> = d
                            .bins
                            .iter()
                            .map(|&(x, c, w)| Bar::new(x, c).width(w * 0.95))
                            .collect();
                        p.add(BarChart::new("requests", bars).color(PALETTE[0]));
                        percentile_lines(p, &d);
                    });
            });
            ui.vertical(|ui| {
                ui.set_width(width);
                header(
                    ui,
                    "Cumulative distribution (log scale)",
                    "Fraction of requests at or under a latency; lines at p50, p95, p99",
                );
                Plot::new("cdf")
                    .allow_scroll(false)
                    .height(PLOT_HEIGHT)
                    .legend(Legend::default().follow_insertion_order(true))
                    .x_axis_formatter(|m, _| log_ms_label(m.value))
                    .include_y(0.0)
                    .include_y(1.0)
                    .show(ui, |p| {
                        if let Some(b) = &baseline_cdf {
                            p.add(
                                Line::new("baseline", PlotPoints::from(b.clone()))
                                    .color(Color32::GRAY)
                                    .style(egui_plot::LineStyle::dashed_dense()),
                            );
                        }
                        p.add(Line::new("CDF", PlotPoints::from(d.cdf.clone())).color(PALETTE[0]));
                        percentile_lines(p, &d);
                    });
            });
        });

        let results = session.results();
        if !results.is_empty() {
            header(ui, "Throughput against batch size", "Samples per second per engine; where the curve flattens, bigger batches only add latency");
            Plot::new("throughput")
                .allow_scroll(false)
                .height(PLOT_HEIGHT)
                .width(width * 2.0)
                .legend(Legend::default().follow_insertion_order(true))
                .x_axis_label("batch size")
                .y_axis_label("samples/s")
                .show(ui, |p| {
                    let mut engines: Vec<_> = results.iter().map(|r| r.engine).collect();
                    engines.dedup();
                    for (i, e) in engines.iter().enumerate() {
                        let mut pts: Vec<[f64; 2]> = results
                            .iter()
                            .filter(|r| r.engine == *e)
                            .map(|r| [r.batch_size as f64, r.throughput_rps])
                            .collect();
                        pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
                        p.add(
                            Line::new(e.label(), PlotPoints::from(pts))
                                .color(PALETTE[i % PALETTE.len()]),
                        );
                    }
                });
        }
    }

    fn results_table_ui(&mut self, ui: &mut egui::Ui) {
        let Some(session) = &self.session else { return };
        let results: Vec<_> = session.results().into_iter().cloned().collect();
        ui.horizontal(|ui| {
            ui.label(RichText::new("Results").strong().size(15.0));
            if ui
                .add_enabled(!results.is_empty(), egui::Button::new("Copy as text"))
                .on_hover_text("Copies the table as the CLI prints it")
                .clicked()
            {
                ui.ctx()
                    .copy_text(crate::bench::table::with_warnings(&results));
            }
        });
        if results.is_empty() {
            ui.label(RichText::new("Results appear here as each run finishes.").weak());
            return;
        }
        let ci = |c: &Option<crate::bench::stats::Interval>| {
            c.map(|c| format!("[{:.3}, {:.3}]", c.lo, c.hi))
                .unwrap_or_else(|| "[n/a]".into())
        };
        egui::Grid::new("results").striped(true).spacing([14.0, 4.0]).show(ui, |ui| {
            header(ui, "Engine", "The engine that ran the model");
            header(ui, "Batch", "Samples per request");
            header(ui, "Iterations", "Measured requests (warm-up excluded)");
            header(ui, "p50 ms [95% CI]", "Median latency; the interval is distribution-free, from the raw samples' order statistics");
            header(ui, "p95 ms", "95% of requests finished within this");
            header(ui, "p99 ms [95% CI]", "99% of requests finished within this; needs several hundred samples to be bounded");
            header(ui, "Mean ± std ms", "Exact mean and standard deviation of all measured latencies");
            header(ui, "Samples/s", "Throughput: requests per second x batch size, over the measured window");
            header(ui, "Memory MB", "Peak resident memory of this process (the window included) during the run, sampled every 10 ms (the memory plot)");
            header(ui, "Peak MB", "The peak resident memory (VmHWM) of a process serving only this model at this batch, measured in a process of its own (the runtime included): what a server must hold; the cost planner uses it");
            ui.end_row();
            for r in &results {
                let warn_for = |metric: &str| r.warnings.iter().filter(|w| w.metric == metric).map(|w| w.message.clone()).collect::<Vec<_>>();
                let cell = |ui: &mut egui::Ui, text: String, metric: &str| {
                    let w = warn_for(metric);
                    if w.is_empty() {
                        ui.label(text);
                    } else {
                        ui.label(RichText::new(format!("{text} (!)")).color(Color32::from_rgb(190, 120, 0))).on_hover_text(w.join("\n\n"));
                    }
                };
                ui.label(r.engine.label());
                ui.label(r.batch_size.to_string());
                ui.label(r.n_iterations.to_string());
                cell(ui, format!("{:.3} {}", r.latency_p50, ci(&r.ci_p50)), "latency_p50");
                cell(ui, format!("{:.3}", r.latency_p95), "latency_p95");
                cell(ui, format!("{:.3} {}", r.latency_p99, ci(&r.ci_p99)), "latency_p99");
                cell(ui, format!("{:.3} ± {:.3}", r.latency_mean, r.latency_std), "latency_std");
                ui.label(format!("{:.1}", r.throughput_rps));
                ui.label(format!("{:.1}", r.memory_mb));
                ui.label(format!("{:.1}", r.peak_memory_mb()));
                ui.end_row();
            }
        });
    }

    fn checklist_ui(&mut self, ui: &mut egui::Ui) {
        let results: Vec<_> = self
            .session
            .as_ref()
            .map(|s| s.results())
            .unwrap_or_default();
        let items = checklist::evaluate(
            &results,
            self.saved.cost.inputs.latency_target_ms,
            self.compare
                .as_ref()
                .and_then(|c| c.result.as_ref())
                .and_then(|c| c.importance.as_ref()),
            self.model.as_ref().and_then(|m| m.fixed_batch()),
        );
        egui::CollapsingHeader::new(RichText::new("Production checklist").strong())
            .default_open(true)
            .show(ui, |ui| {
                egui::Grid::new("checklist")
                    .num_columns(3)
                    .spacing([10.0, 4.0])
                    .show(ui, |ui| {
                        for it in items {
                            let (mark, color) = match it.status {
                                Status::Pass => ("pass", Color32::from_rgb(30, 140, 60)),
                                Status::Fail => ("fail", Color32::from_rgb(200, 40, 40)),
                                Status::NotYet => ("not yet", Color32::GRAY),
                            };
                            ui.label(RichText::new(mark).color(color));
                            ui.label(it.title);
                            ui.label(RichText::new(it.detail).weak());
                            ui.end_row();
                        }
                    });
            });
    }
}

fn percentile_lines(p: &mut egui_plot::PlotUi, d: &super::plots::Distribution) {
    if d.n == 0 {
        return;
    }
    for (name, v, color) in [
        ("p50", d.p50, PALETTE[2]),
        ("p95", d.p95, PALETTE[1]),
        ("p99", d.p99, PALETTE[3]),
    ] {
        p.add(VLine::new(name, v.log10()).color(color));
    }
}
