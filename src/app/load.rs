//! The Cost tab's "under load" section: open-loop requests to one engine session of the open
//! model on this machine, measured against the queue model, and the capacity at the latency
//! target, which the planner can size instances by.

use super::{Command, InferscopeApp};
use crate::load::capacity::Capacity;
use crate::load::LoadRun;
use crate::worker::{LoadJob, LoadMsg, LoadWhat, Worker};
use egui::{Color32, RichText};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};
use std::time::Instant;

/// The shares of one server's flat-out rate a sweep offers.
pub const SWEEP: [f64; 4] = [0.3, 0.5, 0.7, 0.85];

/// A load job under way or finished.
pub struct LoadSession {
    pub worker: Option<Worker<LoadMsg>>,
    pub step: String,
    /// `onnxruntime 1.31.1`, and the service time after warm-up, s.
    pub engine: Option<(String, f64)>,
    pub runs: Vec<LoadRun>,
    pub capacity: Option<Capacity>,
    pub error: Option<String>,
    pub started: Instant,
    /// The engine it runs on.
    pub kind: crate::engine::EngineKind,
    /// The percentile and target the job judged against.
    pub q: f64,
    pub target_ms: f64,
}

/// Which load job the buttons start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadKind {
    /// Rates at [`SWEEP`] shares of one server's flat-out rate.
    Sweep,
    /// The highest rate that meets the Cost tab's target.
    Capacity,
}

impl InferscopeApp {
    pub fn is_loading(&self) -> bool {
        self.load.as_ref().is_some_and(|l| l.worker.is_some())
    }

    pub(super) fn start_load(&mut self, kind: LoadKind) {
        if self.busy() {
            self.errors.push(super::BUSY.into());
            return;
        }
        let Some((model, plan, source, _)) = self.bench_inputs() else {
            return;
        };
        let inputs = &self.saved.cost.inputs;
        let q = inputs.percentile.q();
        let target_ms = inputs.latency_target_ms;
        let warmup = match plan.warmup {
            crate::bench::Warmup::Iterations(n) => n,
            crate::bench::Warmup::Duration(_) => 20,
        };
        let ctx = self.ctx.clone();
        let every = self.repaint_every();
        let engine_kind = plan.engines[0];
        let worker = Worker::load(
            LoadJob {
                model,
                source,
                kind: plan.engines[0],
                options: plan.engine_options.clone(),
                warmup,
                max_distinct: plan.max_distinct_requests,
                what: match kind {
                    LoadKind::Sweep => LoadWhat::Shares(SWEEP.to_vec()),
                    LoadKind::Capacity => LoadWhat::Capacity,
                },
                seconds: self.saved.cost.load_seconds,
                q,
                target_ms,
            },
            move || {
                if let Some(c) = &ctx {
                    c.request_repaint_after(every);
                }
            },
        );
        self.load = Some(LoadSession {
            worker: Some(worker),
            step: "starting".into(),
            engine: None,
            runs: Vec::new(),
            capacity: None,
            error: None,
            started: Instant::now(),
            kind: engine_kind,
            q,
            target_ms,
        });
    }

    /// Applies the load worker's messages.
    pub(super) fn load_logic(&mut self) {
        let Some(l) = &mut self.load else {
            return;
        };
        let msgs = l.worker.as_ref().map(|w| w.drain()).unwrap_or_default();
        for m in msgs {
            match m {
                LoadMsg::Step(s) => l.step = s,
                LoadMsg::Started { version, service_s } => l.engine = Some((version, service_s)),
                LoadMsg::Run(r) => {
                    l.runs.push(*r);
                    l.runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
                }
                LoadMsg::Done(r) => {
                    l.worker = None;
                    match *r {
                        Ok(c) => l.capacity = c,
                        Err(e) => l.error = Some(e),
                    }
                }
            }
        }
    }

    /// The section in the Cost tab.
    pub(super) fn load_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Under load on this machine").strong()).on_hover_text(
            "Open-loop requests (Poisson arrivals, as independent users send them) to one engine session of the open model, with the Profile tab's engine and threads. Each latency runs from the request's scheduled arrival, so time spent queued counts. The queue model the planner uses is drawn for the same rates and the service times each run measured.",
        );
        let running = self.is_loading();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!running, egui::Button::new("Measure under load"))
                .on_hover_text(format!(
                    "Offers {} of what one session serves flat out, {} s each",
                    SWEEP
                        .iter()
                        .map(|f| format!("{:.0}%", f * 100.0))
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.saved.cost.load_seconds
                ))
                .clicked()
            {
                self.command(Command::Load(LoadKind::Sweep));
            }
            let i = &self.saved.cost.inputs;
            if ui
                .add_enabled(!running, egui::Button::new("Find capacity at the target"))
                .on_hover_text(format!(
                    "The highest rate one session sustains with {} within {} ms (the target above): brackets, then bisects to 5%",
                    i.percentile.label(),
                    i.latency_target_ms
                ))
                .clicked()
            {
                self.command(Command::Load(LoadKind::Capacity));
            }
            if running && ui.button("Cancel").clicked() {
                self.command(Command::Cancel);
            }
            let l = ui.label("seconds per rate");
            ui.add(
                egui::DragValue::new(&mut self.saved.cost.load_seconds)
                    .range(1.0..=120.0)
                    .speed(0.5),
            )
            .labelled_by(l.id)
            .on_hover_text("How long each rate runs; a p99 needs about 700 requests");
        });
        let Some(l) = &self.load else {
            return;
        };
        if running {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!(
                    "{} ({:.0} s)",
                    l.step,
                    l.started.elapsed().as_secs_f64()
                ));
            });
        }
        if let Some((v, s)) = &l.engine {
            ui.label(
                RichText::new(format!(
                    "{v}: {} a request after warm-up, about {:.1} req/s flat out",
                    crate::format::ms(s * 1e3),
                    1.0 / s.max(1e-9)
                ))
                .weak(),
            );
        }
        if let Some(e) = &l.error {
            ui.colored_label(Color32::from_rgb(200, 60, 40), e);
        }
        let runs = l.runs.clone();
        let capacity = l.capacity.clone();
        let (q, target) = (l.q, l.target_ms);
        if !runs.is_empty() {
            let name = crate::load::percentile_name(q);
            ui.vertical(|ui| {
                Plot::new("load_vs_model")
                    .allow_scroll(false)
                    .height(220.0)
                    .width(ui.available_width())
                    .legend(Legend::default().position(egui_plot::Corner::LeftTop))
                    .x_axis_label("req/s")
                    .y_axis_label("ms")
                    .show(ui, |p| {
                        let pts = |f: &dyn Fn(&LoadRun) -> Option<f64>| -> Vec<[f64; 2]> {
                            runs.iter().filter_map(|r| Some([r.rate, f(r)?])).collect()
                        };
                        p.add(Points::new("measured p95", PlotPoints::from(pts(&|r| Some(r.latency.p95)))).radius(4.0).color(Color32::from_rgb(31, 119, 180)));
                        p.add(Points::new("measured p99", PlotPoints::from(pts(&|r| Some(r.latency.p99)))).radius(4.0).color(Color32::from_rgb(214, 39, 40)));
                        p.add(Line::new("queue model p95", PlotPoints::from(pts(&|r| r.predicted.as_ref()?.p95))).color(Color32::from_rgb(31, 119, 180)).style(egui_plot::LineStyle::dashed_dense()));
                        p.add(Line::new("queue model p99", PlotPoints::from(pts(&|r| r.predicted.as_ref()?.p99))).color(Color32::from_rgb(214, 39, 40)).style(egui_plot::LineStyle::dashed_dense()));
                        p.add(egui_plot::HLine::new(format!("{name} target"), target).color(Color32::from_rgb(190, 120, 0)));
                    });
                ui.vertical(|ui| {
                    egui::Grid::new("load_table").striped(true).num_columns(8).spacing([8.0, 3.0]).show(ui, |ui| {
                        for (h, tip) in [
                            ("req/s", "Offered rate (achieved in brackets)"),
                            ("busy", "Share of the time the session spent in engine calls"),
                            ("p95", "Measured p95, from each request's scheduled arrival"),
                            ("model p95", "The queue model's p95 for this rate and the service times this run measured, and its error"),
                            ("p99", "Measured p99, from each request's scheduled arrival"),
                            ("model p99", "The queue model's p99, and its error"),
                            ("r1", "Lag-1 autocorrelation of the service times: well above 0 means slow calls come in runs, which queue worse than the model (independent calls) says"),
                            ("", "Notes: rates not issued on time, a queue that grew, failures, too few requests for p99"),
                        ] {
                            ui.label(RichText::new(h).strong()).on_hover_text(tip);
                        }
                        ui.end_row();
                        for r in &runs {
                            let pred = r.predicted.as_ref();
                            let model = |p: Option<f64>, m: f64| {
                                format!(
                                    "model: {} ({})",
                                    p.map(crate::format::ms).unwrap_or_else(|| "saturated".into()),
                                    crate::load::table::error(p, m)
                                )
                            };
                            ui.label(format!("{:.1} ({:.1})", r.rate, r.achieved_rps));
                            ui.label(format!("{:.0}%", r.utilization * 100.0));
                            ui.label(crate::format::ms(r.latency.p95));
                            ui.label(model(pred.and_then(|p| p.p95), r.latency.p95));
                            ui.label(crate::format::ms(r.latency.p99));
                            ui.label(model(pred.and_then(|p| p.p99), r.latency.p99));
                            ui.label(format!("{:.2}", r.service_autocorrelation));
                            let note = match (&r.not_issued, r.queue_growing, r.failed) {
                                (Some(_), _, _) => "not issued on time".to_string(),
                                (_, true, _) => "queue grew: not sustainable".to_string(),
                                (_, _, f) if f > 0 => format!("{f} failed"),
                                _ if r.min_queries_for_bound() > r.completed => format!(
                                    "{} needs {} requests",
                                    crate::load::percentile_name(r.bound_q),
                                    r.min_queries_for_bound()
                                ),
                                _ => String::new(),
                            };
                            ui.label(RichText::new(note).color(Color32::from_rgb(190, 120, 0)));
                            ui.end_row();
                        }
                    });
                });
            });
        }
        if let Some(c) = capacity {
            match c.max_rate {
                Some(rate) => {
                    ui.label(
                        RichText::new(format!(
                            "Capacity: {rate:.1} req/s per session meets {} within {} ms{}",
                            crate::load::percentile_name(c.q),
                            c.target_ms,
                            c.failed_at
                                .map(|f| format!(" ({f:.1} req/s does not)"))
                                .unwrap_or_default()
                        ))
                        .strong(),
                    )
                    .on_hover_text(format!("Rule: {}", c.rule));
                    let mut use_it = self.saved.cost.inputs.measured_capacity_rps.is_some();
                    if ui
                        .checkbox(&mut use_it, "Size instances by the measured capacity")
                        .on_hover_text("Always-on tiers get at least peak rate / (this capacity x sessions per instance) instances, whatever the queue model says")
                        .changed()
                    {
                        self.saved.cost.inputs.measured_capacity_rps = use_it.then_some(rate);
                    }
                }
                None => {
                    ui.colored_label(
                        Color32::from_rgb(200, 60, 40),
                        format!("No rate measured meets the target of {} ms", c.target_ms),
                    );
                }
            }
        } else if let Some(rate) = self.saved.cost.inputs.measured_capacity_rps {
            ui.horizontal(|ui| {
                ui.label(format!(
                    "Instances sized by a measured capacity of {rate:.1} req/s per session"
                ));
                if ui.button("Stop using it").clicked() {
                    self.saved.cost.inputs.measured_capacity_rps = None;
                }
            });
        }
    }
}
