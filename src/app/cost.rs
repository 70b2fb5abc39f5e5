//! The Cost tab: sliders over the planner's inputs, the recommendation, the tier table, cost
//! against volume and the breakdown per tier. Recomputed on every change (a couple of ms).

use super::InferscopeApp;
use crate::cost::plan::{curves, plan, CostCurves, CostInputs, CostPlan, Percentile};
use crate::cost::{Pricing, Tier};
use egui::{Color32, RichText};
use egui_plot::{
    Bar, BarChart, HLine, HoverPosition, Legend, Line, Plot, PlotPoints, Points, Text, VLine,
};
use serde::{Deserialize, Serialize};

/// Where the service time comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum CostSource {
    /// A typed latency (no run yet, or the user's choice).
    Typed,
    /// A finished run of the current session.
    Run(usize),
}

/// What the Cost tab keeps across restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CostSettings {
    pub inputs: CostInputs,
    pub pricing: Pricing,
    /// The service time used when no run is picked, ms.
    pub typed_latency_ms: f64,
    /// Seconds each rate of a load measurement runs.
    pub load_seconds: f64,
}

impl Default for CostSettings {
    fn default() -> Self {
        CostSettings {
            inputs: CostInputs::default(),
            pricing: Pricing::default(),
            typed_latency_ms: 100.0,
            load_seconds: 10.0,
        }
    }
}

/// The last computed plan and what it was computed from.
pub struct CostView {
    key: (CostSettings, Option<(std::time::Instant, usize)>),
    pub plan: Result<CostPlan, String>,
    pub curves: CostCurves,
    pub source: String,
    /// The inputs as planned (with the run's batch size and memory).
    pub inputs: CostInputs,
    /// The measured run it serves, if any.
    pub served: Option<crate::report::doc::ServedRun>,
}

const TIER_COLORS: [Color32; 4] = [
    Color32::from_rgb(31, 119, 180),
    Color32::from_rgb(255, 127, 14),
    Color32::from_rgb(44, 160, 44),
    Color32::from_rgb(148, 103, 189),
];

/// The parts of a bill, as the breakdown chart colours them.
const PARTS: [(&str, Color32); 3] = [
    ("compute", Color32::from_rgb(100, 140, 200)),
    ("storage", Color32::from_rgb(230, 160, 60)),
    ("network", Color32::from_rgb(150, 150, 150)),
];

fn tier_color(t: Tier) -> Color32 {
    TIER_COLORS[Tier::ALL.iter().position(|x| *x == t).unwrap_or(0)]
}

fn volume(v: f64) -> String {
    crate::format::count(v.max(0.0).round() as u64)
}

fn log_money_label(x: f64) -> String {
    crate::format::usd_short(10f64.powf(x))
}

impl InferscopeApp {
    /// The runs the planner can price, newest session only: (run id, label).
    fn cost_runs(&self) -> Vec<(usize, String)> {
        let Some(s) = &self.session else {
            return Vec::new();
        };
        s.runs
            .iter()
            .filter_map(|(id, v)| v.result.as_ref().map(|r| (*id, r)))
            .map(|(id, r)| {
                (
                    id,
                    format!(
                        "{} {}, batch {}, p50 {:.3} ms",
                        r.engine.label(),
                        r.variant,
                        r.batch_size,
                        r.latency_p50
                    ),
                )
            })
            .collect()
    }

    /// The source in use: the picked run while it exists, else the fastest batch-1 run, else
    /// the typed latency.
    pub fn cost_source(&self) -> CostSource {
        let runs = self.cost_runs();
        match &self.cost_source {
            Some(CostSource::Typed) => CostSource::Typed,
            Some(CostSource::Run(id)) if runs.iter().any(|(r, _)| r == id) => CostSource::Run(*id),
            _ => {
                let fastest = self
                    .session
                    .as_ref()
                    .and_then(|s| crate::cost::table::default_run(s.results()).map(|r| r.run_id));
                match fastest.or(runs.first().map(|r| r.0)) {
                    Some(id) => CostSource::Run(id),
                    None => CostSource::Typed,
                }
            }
        }
    }

    /// Recomputes the plan when anything it depends on changed (the logic does, each frame);
    /// says whether it did.
    pub(super) fn refresh_cost_view(&mut self) -> bool {
        let source = self.cost_source();
        let run = match (&source, &self.session) {
            (CostSource::Run(id), Some(s)) => s
                .runs
                .get(id)
                .and_then(|v| v.result.as_ref())
                .map(|r| (s.started, r)),
            _ => None,
        };
        let key = (
            self.saved.cost.clone(),
            run.map(|(started, r)| (started, r.run_id)),
        );
        if self.cost_cache.as_ref().is_some_and(|c| c.key == key) {
            return false;
        }
        // A newly chosen run measured with more threads per inference than the instances
        // have vCPUs: price instances that can run it as measured (the slider shows it, and
        // dragging it lower shows why those tiers cannot serve).
        let new_run = self.cost_cache.as_ref().map(|c| c.key.1) != Some(key.1);
        if let (true, Some((_, r))) = (new_run, run) {
            let threads = r.threads.unwrap_or(1) as f64;
            if threads > 1.0 && threads > self.saved.cost.inputs.vcpus {
                self.saved.cost.inputs.vcpus = threads;
            }
        }
        let key = (self.saved.cost.clone(), key.1);
        let mut settings = self.saved.cost.clone();
        let (service, what) = match run {
            Some((_, r)) => settings.inputs.serve_run(r),
            None => settings.inputs.serve_typed(settings.typed_latency_ms),
        };
        self.cost_cache = Some(CostView {
            plan: plan(&settings.inputs, &settings.pricing, &service).map_err(|e| e.to_string()),
            curves: curves(&settings.inputs, &settings.pricing, &service),
            source: what,
            inputs: settings.inputs.clone(),
            served: run.map(|(_, r)| {
                crate::report::doc::ServedRun::of(r, self.model.as_ref().map(|m| &m.info))
            }),
            key,
        });
        true
    }

    /// The plan for the current inputs, as the logic last computed it.
    pub fn cost_view(&self) -> Option<&CostView> {
        self.cost_cache.as_ref()
    }

    pub(crate) fn cost_ui(&mut self, ui: &mut egui::Ui) {
        let right_width = (ui.available_width() - 310.0 - 24.0).max(300.0);
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.set_width(310.0);
                egui::ScrollArea::vertical()
                    .id_salt("cost_inputs")
                    .show(ui, |ui| self.cost_inputs_ui(ui));
            });
            ui.separator();
            ui.vertical(|ui| {
                ui.set_width(right_width);
                egui::ScrollArea::vertical()
                    .id_salt("cost_results")
                    .show(ui, |ui| self.cost_results_ui(ui));
            });
        });
    }

    fn cost_inputs_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Service time").strong());
        let runs = self.cost_runs();
        let source = self.cost_source();
        let label = match &source {
            CostSource::Typed => "typed latency".to_string(),
            CostSource::Run(id) => runs
                .iter()
                .find(|(r, _)| r == id)
                .map(|(r, l)| format!("run {r}: {l}"))
                .unwrap_or_default(),
        };
        egui::ComboBox::from_id_salt("cost_source")
            .width(300.0)
            .selected_text(label)
            .show_ui(ui, |ui| {
                if ui.selectable_label(source == CostSource::Typed, "typed latency").clicked() {
                    self.cost_source = Some(CostSource::Typed);
                }
                for (id, l) in &runs {
                    if ui
                        .selectable_label(source == CostSource::Run(*id), format!("run {id}: {l}"))
                        .clicked()
                    {
                        self.cost_source = Some(CostSource::Run(*id));
                    }
                }
            })
            .response
            .on_hover_text("The latency distribution the planner serves: a measured run (its batch size is the serving batch) or a typed latency. Run a benchmark on the Profile tab to measure one.");
        let c = &mut self.saved.cost;
        if source == CostSource::Typed {
            ui.horizontal(|ui| {
                ui.label("Latency");
                ui.add(
                    egui::DragValue::new(&mut c.typed_latency_ms)
                        .range(0.0..=1e6)
                        .speed(1.0)
                        .suffix(" ms"),
                )
                .on_hover_text("Service time of one request when no measured run is used");
            });
            ui.horizontal(|ui| {
                ui.label("Model memory");
                ui.add(egui::DragValue::new(&mut c.inputs.model_memory_mb).range(0.0..=1e6).speed(10.0).suffix(" MB"))
                    .on_hover_text("Resident memory the model needs; a tier whose functions or instances have less is infeasible");
            });
        }
        ui.add_space(6.0);
        let i = &mut c.inputs;
        egui::Grid::new("cost_inputs_grid").num_columns(2).spacing([8.0, 6.0]).show(ui, |ui| {
            slider_row(ui, "Monthly requests", "Requests a month, before the cache. Logarithmic: 1 thousand to 10 billion.",
                egui::Slider::new(&mut i.monthly_requests, 1e3..=1e10).logarithmic(true).custom_formatter(|v, _| volume(v)));
            slider_row(ui, "Peak / average", "Peak request rate over the monthly average: instances are sized for the peak.",
                egui::Slider::new(&mut i.peak_factor, 1.0..=20.0).logarithmic(true).suffix("x").max_decimals(1));
            slider_row(ui, "Latency target", "The latency the chosen percentile must stay under at peak load (queueing included).",
                egui::Slider::new(&mut i.latency_target_ms, 1.0..=10_000.0).logarithmic(true).suffix(" ms").max_decimals(1));
            ui.label("Percentile").on_hover_text("Which percentile the target binds");
            ui.horizontal(|ui| {
                ui.radio_value(&mut i.percentile, Percentile::P95, "p95");
                ui.radio_value(&mut i.percentile, Percentile::P99, "p99");
            });
            ui.end_row();
            slider_row(ui, "Monthly budget", "A tier over budget is not recommended, however fast.",
                egui::Slider::new(&mut i.budget_usd, 0.0..=1e6).logarithmic(true).smallest_positive(1.0).prefix("$").max_decimals(0));
            slider_row(ui, "Function memory", "Memory given to each serverless function; billed per GB-second.",
                egui::Slider::new(&mut i.function_memory_mb, 128.0..=10_240.0).logarithmic(true).suffix(" MB").max_decimals(0));
            slider_row(ui, "vCPUs / instance", "vCPUs of each container or Kubernetes node. Each inference takes as many as the run's threads per inference (set when a run is chosen); an instance serves vCPUs / threads inferences at once.",
                egui::Slider::new(&mut i.vcpus, 0.25..=64.0).logarithmic(true).max_decimals(2));
            slider_row(ui, "Memory / instance", "Memory of each container or Kubernetes node, GB.",
                egui::Slider::new(&mut i.instance_memory_gb, 0.25..=256.0).logarithmic(true).suffix(" GB").max_decimals(2));
            slider_row(ui, "Min instances", "Always-on tiers never run fewer (for availability).",
                egui::Slider::new(&mut i.min_instances, 1..=100).logarithmic(true));
            slider_row(ui, "Max instances", "A tier that needs more at peak is infeasible.",
                egui::Slider::new(&mut i.max_instances, 1..=10_000).logarithmic(true));
            slider_row(ui, "Target utilization", "How busy instances may be at peak. Higher is cheaper but queues longer.",
                egui::Slider::new(&mut i.target_utilization, 0.05..=0.95).custom_formatter(|v, _| format!("{:.0}%", v * 100.0)));
            slider_row(ui, "Cache hit rate", "Share of requests answered from a cache of repeated predictions: they cost no inference.",
                egui::Slider::new(&mut i.cache_hit_rate, 0.0..=0.99).custom_formatter(|v, _| format!("{:.0}%", v * 100.0)));
            slider_row(ui, "Cold starts", "Share of serverless requests that start a new function instance.",
                egui::Slider::new(&mut i.cold_start_share, 0.0..=0.2).custom_formatter(|v, _| format!("{:.1}%", v * 100.0)));
            slider_row(ui, "Cold start latency", "What a cold start adds to a serverless request.",
                egui::Slider::new(&mut i.cold_start_ms, 0.0..=10_000.0).suffix(" ms").max_decimals(0));
        });
        if i.min_instances > i.max_instances {
            i.max_instances = i.min_instances;
        }
        ui.add_space(6.0);
        egui::CollapsingHeader::new("Prices (USD)")
            .id_salt("prices")
            .show(ui, |ui| {
                let p = &mut c.pricing;
                egui::Grid::new("prices_grid")
                    .num_columns(2)
                    .show(ui, |ui| {
                        price_row(
                            ui,
                            "Serverless per million requests",
                            &mut p.serverless_usd_per_million_requests,
                        );
                        price_row(
                            ui,
                            "Serverless per GB-second",
                            &mut p.serverless_usd_per_gb_second,
                        );
                        price_row(
                            ui,
                            "Network per million requests",
                            &mut p.network_usd_per_million_requests,
                        );
                        for (name, ip) in [
                            ("Container", &mut p.container),
                            ("Kubernetes", &mut p.kubernetes),
                        ] {
                            price_row(
                                ui,
                                &format!("{name} per vCPU-hour"),
                                &mut ip.usd_per_vcpu_hour,
                            );
                            price_row(ui, &format!("{name} per GB-hour"), &mut ip.usd_per_gb_hour);
                            price_row(
                                ui,
                                &format!("{name} fixed per month"),
                                &mut ip.usd_per_month_fixed,
                            );
                            price_row(ui, &format!("{name} storage GB"), &mut ip.storage_gb);
                            price_row(
                                ui,
                                &format!("{name} per storage GB-month"),
                                &mut ip.usd_per_storage_gb_month,
                            );
                        }
                        price_row(ui, "Dedicated storage GB", &mut p.dedicated_storage_gb);
                        price_row(
                            ui,
                            "Dedicated per storage GB-month",
                            &mut p.dedicated_usd_per_storage_gb_month,
                        );
                    });
                ui.label(RichText::new("Dedicated machines").strong());
                egui::Grid::new("vm_grid").num_columns(5).show(ui, |ui| {
                    for h in ["", "vCPUs", "GB", "$/hour", "GPU"] {
                        ui.label(RichText::new(h).small());
                    }
                    ui.end_row();
                    for vm in p.dedicated.iter_mut() {
                        ui.label(RichText::new(&vm.name).small());
                        ui.add(
                            egui::DragValue::new(&mut vm.vcpus)
                                .range(0.25..=1024.0)
                                .speed(0.25),
                        );
                        ui.add(
                            egui::DragValue::new(&mut vm.memory_gb)
                                .range(0.25..=1e5)
                                .speed(0.5),
                        );
                        ui.add(
                            egui::DragValue::new(&mut vm.usd_per_hour)
                                .range(0.0..=1e4)
                                .speed(0.001)
                                .max_decimals(4),
                        );
                        ui.checkbox(&mut vm.gpu, "").on_hover_text(
                            "GPU rows apply only to runs measured on a GPU execution provider",
                        );
                        ui.end_row();
                    }
                });
                if ui.button("Reset prices to defaults").clicked() {
                    *p = Pricing::default();
                }
            });
    }

    fn cost_results_ui(&mut self, ui: &mut egui::Ui) {
        let Some(view) = self.cost_view() else {
            return;
        };
        let source = view.source.clone();
        let plan = view.plan.clone();
        let curves = view.curves.clone();
        let inputs = self.saved.cost.inputs.clone();
        ui.label(RichText::new(format!("Service time from {source}")).weak());
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                ui.colored_label(Color32::from_rgb(200, 60, 40), e);
                return;
            }
        };
        let r = &plan.recommendation;
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            match r.tier {
                Some(t) => {
                    let total = plan.tiers.iter().find(|x| x.cost.tier == t).map(|x| x.cost.total_cost).unwrap_or(0.0);
                    ui.label(RichText::new(format!("Recommended: {} at {}/month", t.label(), crate::format::usd(total))).size(18.0).strong().color(tier_color(t)));
                }
                None => {
                    ui.label(RichText::new("No tier fits").size(18.0).strong().color(Color32::from_rgb(200, 60, 40)));
                }
            }
            ui.label(&r.explanation);
            let mut facts = Vec::new();
            if let Some(m) = r.margin_ms {
                facts.push(format!("{} under the target", crate::format::ms(m)));
            }
            if let Some(u) = r.runner_up {
                facts.push(format!("runner-up: {}", u.label()));
            }
            facts.extend(r.flip_lines(inputs.monthly_requests));
            if !facts.is_empty() {
                ui.label(facts.join("  ·  "));
            }
            ui.label(RichText::new(format!(
                "Rule of thumb: {} (serverless under 1 M requests a month with a target above 100 ms, containers under 10 M, Kubernetes above).",
                r.rule_of_thumb.label()
            )).weak());
            if let Some(n) = &r.rule_of_thumb_note {
                ui.label(RichText::new(n).color(Color32::from_rgb(190, 120, 0)));
            }
        });
        ui.add_space(6.0);
        egui::Grid::new("tier_table").striped(true).num_columns(10).spacing([8.0, 4.0]).show(ui, |ui| {
            for (h, tip) in [
                ("tier", ""),
                ("instances", "Instances (or nodes, machines) at peak: per-instance throughput at the target utilization, within min/max"),
                ("compute", "Compute per month: requests and GB-seconds for serverless; vCPU-hours and GB-hours (plus the cluster fee) otherwise"),
                ("storage", "Storage per month"),
                ("network", "Network per month"),
                ("total", "Monthly total"),
                ("per 1k req", "Total over monthly requests, per thousand"),
                ("p95", "Predicted p95 latency at peak: queueing model (M/G/c) over the measured latency distribution"),
                ("p99", "Predicted p99 latency at peak"),
                ("", "Whether the tier meets the latency target within budget; hover for why"),
            ] {
                let l = ui.label(RichText::new(h).strong());
                if !tip.is_empty() {
                    l.on_hover_text(tip);
                }
            }
            ui.end_row();
            let ms = |v: Option<f64>| v.map(crate::format::ms).unwrap_or_else(|| "saturated".into());
            for t in &plan.tiers {
                let c = &t.cost;
                let name = ui.label(RichText::new(c.tier.label()).color(tier_color(c.tier)));
                if let Some(m) = &t.machine {
                    name.on_hover_text(m);
                }
                ui.label(if c.tier == Tier::Serverless { "per request".to_string() } else { c.instances.to_string() });
                ui.label(crate::format::usd(c.compute_cost));
                ui.label(crate::format::usd(c.storage_cost));
                ui.label(crate::format::usd(c.network_cost));
                ui.label(RichText::new(crate::format::usd(c.total_cost)).strong());
                ui.label(format!("${:.4}", c.cost_per_1k_requests));
                ui.label(ms(t.predicted_p95_ms));
                ui.label(ms(t.predicted_p99_ms));
                let (status, color) = match (t.feasible, t.within_budget) {
                    (true, true) => ("ok", Color32::from_rgb(30, 140, 60)),
                    (true, false) => ("over budget", Color32::from_rgb(190, 120, 0)),
                    (false, _) => ("misses target", Color32::from_rgb(200, 60, 40)),
                };
                ui.label(RichText::new(status).color(color)).on_hover_text(&t.reason);
                ui.end_row();
            }
        });
        for t in &plan.tiers {
            let machine = t
                .machine
                .as_ref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            ui.label(
                RichText::new(format!("{}{machine}: {}", t.cost.tier.label(), t.reason)).small(),
            );
        }
        ui.add_space(6.0);
        let width = ui.available_width();
        let (line_w, bars_w) = (width * 0.62, width * 0.38 - 12.0);
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.set_width(line_w);
                ui.label(RichText::new("Monthly cost against monthly requests").strong())
                    .on_hover_text("Each tier's total at each volume, instances sized by the capacity rule; crossings are the break-even volumes");
                Plot::new("cost_vs_volume")
                    // The wheel scrolls the tab, not the chart (drag pans, ctrl+wheel zooms).
                    .allow_scroll(false)
                    .height(260.0)
                    .width(line_w)
                    .legend(Legend::default().position(egui_plot::Corner::RightBottom))
                    .x_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 2.0, 6.0]))
                    .y_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 2.0, 6.0]))
                    .x_axis_formatter(|m, _| volume(10f64.powf(m.value)))
                    .y_axis_formatter(|m, _| log_money_label(m.value))
                    .label_formatter(|h| {
                        let (name, p) = match h {
                            HoverPosition::NearDataPoint { plot_name, position, .. } => (*plot_name, position),
                            HoverPosition::Elsewhere { position } => ("", position),
                        };
                        Some(format!("{name}\n{} requests: {}/month", volume(10f64.powf(p.x)), crate::format::usd(10f64.powf(p.y))))
                    })
                    .show(ui, |p| {
                        for (tier, costs) in &curves.tiers {
                            let pts: Vec<[f64; 2]> = curves.volumes.iter().zip(costs).filter(|(_, c)| **c > 0.0).map(|(v, c)| [v.log10(), c.log10()]).collect();
                            p.add(Line::new(tier.label(), PlotPoints::from(pts)).color(tier_color(*tier)).width(2.0));
                        }
                        let pts: Vec<[f64; 2]> = curves.break_evens.iter().filter(|b| b.total_cost > 0.0).map(|b| [b.monthly_requests.log10(), b.total_cost.log10()]).collect();
                        p.add(Points::new("break-even", PlotPoints::from(pts)).radius(4.0).color(Color32::GRAY));
                        p.add(VLine::new("current volume", inputs.monthly_requests.max(1.0).log10()).color(Color32::from_rgb(214, 39, 40)));
                        if inputs.budget_usd > 0.0 {
                            p.add(HLine::new("budget", inputs.budget_usd.log10()).color(Color32::from_rgb(190, 120, 0)).style(egui_plot::LineStyle::dashed_loose()));
                        }
                    });
            });
            ui.vertical(|ui| {
                ui.set_width(bars_w);
                ui.horizontal(|ui| {
                    ui.label(RichText::new("Breakdown").strong());
                    for (name, color) in PARTS {
                        ui.label(RichText::new(name).color(color));
                    }
                });
                Plot::new("cost_breakdown")
                    .height(260.0)
                    .width(bars_w)
                    .allow_drag(false)
                    .allow_zoom(false)
                    .allow_scroll(false)
                    .show_axes([false, true])
                    .y_axis_formatter(|m, _| crate::format::usd(m.value))
                    // Headroom above the tallest bar for the legend.
                    .include_y(plan.tiers.iter().map(|t| t.cost.total_cost).fold(1.0, f64::max) * 1.15)
                    .show(ui, |p| {
                        let part = |f: &dyn Fn(&crate::cost::TierCost) -> f64| -> Vec<Bar> {
                            plan.tiers.iter().enumerate().map(|(i, t)| Bar::new(i as f64, f(&t.cost)).width(0.6)).collect()
                        };
                        let compute = BarChart::new("compute", part(&|c| c.compute_cost)).color(PARTS[0].1);
                        let storage = BarChart::new("storage", part(&|c| c.storage_cost)).color(PARTS[1].1).stack_on(&[&compute]);
                        let network = BarChart::new("network", part(&|c| c.network_cost)).color(PARTS[2].1).stack_on(&[&compute, &storage]);
                        p.add(compute);
                        p.add(storage);
                        p.add(network);
                        for (i, t) in plan.tiers.iter().enumerate() {
                            p.add(
                                Text::new(
                                    "",
                                    egui_plot::PlotPoint::new(i as f64, t.cost.total_cost),
                                    RichText::new(t.cost.tier.label()).small().color(tier_color(t.cost.tier)),
                                )
                                .anchor(egui::Align2::CENTER_BOTTOM),
                            );
                        }
                    });
            });
        });
        if !curves.break_evens.is_empty() {
            let text: Vec<String> = curves
                .break_evens
                .iter()
                .map(|b| {
                    format!(
                        "{} ({}/month): {} cheaper below, {} above",
                        volume(b.monthly_requests),
                        crate::format::usd(b.total_cost),
                        b.cheaper_below.label(),
                        b.cheaper_above.label()
                    )
                })
                .collect();
            ui.label(RichText::new(format!("Break-even volumes: {}", text.join("; "))).small());
        }
        ui.add_space(8.0);
        ui.separator();
        self.load_ui(ui);
    }
}

fn slider_row(ui: &mut egui::Ui, label: &str, tip: &str, slider: egui::Slider) {
    let l = ui.label(label).on_hover_text(tip);
    ui.add(slider).labelled_by(l.id).on_hover_text(tip);
    ui.end_row();
}

fn price_row(ui: &mut egui::Ui, label: &str, v: &mut f64) {
    ui.label(RichText::new(label).small());
    ui.add(
        egui::DragValue::new(v)
            .range(0.0..=1e6)
            .speed(0.001)
            .max_decimals(7),
    );
    ui.end_row();
}
