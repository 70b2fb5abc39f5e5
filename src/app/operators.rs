//! The Operators tab: where the time goes, node by node, in a profiling pass of its own (the
//! same pass as `inferscope profile`): the op types, the nodes (sortable), one request as a
//! timeline over the engine's threads, the roofline against this machine's measured ceilings,
//! and a variant against the original, layer by layer. Clicking a node selects it in every
//! view and, in a comparison, its layer in the diff and the variant's nodes for that layer.

use super::profile::PALETTE;
use super::InferscopeApp;
use crate::profile::{NodeTime, OpProfile};
use crate::report::ProfileDoc;
use crate::worker::{ProfileJob, ProfileMsg, Worker};
use egui::{Color32, RichText, Sense};
use egui_plot::{HoverPosition, Legend, Line, Plot, PlotPoints, Points};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Instant;

/// What the Operators tab keeps across restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpsSettings {
    /// Requests profiled after the warm-up.
    pub requests: usize,
    /// The variant profiled against the original, spelled as `--variant` (none: `None`).
    pub variant: Option<String>,
}

impl Default for OpsSettings {
    fn default() -> Self {
        OpsSettings {
            requests: 50,
            variant: None,
        }
    }
}

/// The order of the node table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NodeSort {
    #[default]
    Time,
    Name,
    Op,
    Start,
    Gflops,
}

/// A profiling pass under way or finished.
pub struct OpsSession {
    pub worker: Option<Worker<ProfileMsg>>,
    pub step: String,
    pub doc: Option<ProfileDoc>,
    pub error: Option<String>,
    pub started: Instant,
}

/// What the views show: the node selected, the table's order, which model's nodes.
#[derive(Default)]
pub struct OpsView {
    pub selected: Option<String>,
    pub sort: NodeSort,
    /// Show the variant's nodes (when a variant was profiled) instead of the original's.
    pub show_variant: bool,
}

fn op_color(op: &str) -> Color32 {
    let h = op
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    PALETTE[h as usize % PALETTE.len()]
}

fn ms(us: f64) -> String {
    crate::format::ms(us / 1e3)
}

impl InferscopeApp {
    pub fn is_profiling_ops(&self) -> bool {
        self.ops.as_ref().is_some_and(|o| o.worker.is_some())
    }

    /// Starts a profiling pass of the open model (and the chosen variant) on the Profile
    /// tab's engine, batch and data.
    pub(super) fn start_ops(&mut self) {
        if self.busy() {
            self.errors.push(super::BUSY.into());
            return;
        }
        let variant = match &self.saved.ops.variant {
            Some(spell) => match spell.parse::<crate::optimize::Variant>() {
                Ok(v) => Some(v),
                Err(e) => {
                    self.errors.push(format!("Variant {spell}: {e:#}"));
                    return;
                }
            },
            None => None,
        };
        let Some((model, plan, source, _)) = self.bench_inputs() else {
            return;
        };
        let warmup = match plan.warmup {
            crate::bench::Warmup::Iterations(n) => n as usize,
            crate::bench::Warmup::Duration(_) => 10,
        };
        let ctx = self.ctx.clone();
        let every = self.repaint_every();
        let worker = Worker::profile(
            ProfileJob {
                model,
                source,
                kind: plan.engines[0],
                options: plan.engine_options.clone(),
                batch: plan.first_batch(),
                max_time: plan.max_time(),
                warmup,
                requests: self.saved.ops.requests.clamp(1, 100_000),
                variant,
            },
            move || {
                if let Some(c) = &ctx {
                    c.request_repaint_after(every);
                }
            },
        );
        self.ops = Some(OpsSession {
            worker: Some(worker),
            step: "starting".into(),
            doc: None,
            error: None,
            started: Instant::now(),
        });
        self.ops_view.show_variant = false;
    }

    /// Applies the profiling worker's messages.
    pub(super) fn ops_logic(&mut self) {
        let Some(o) = &mut self.ops else {
            return;
        };
        let msgs = o.worker.as_ref().map(|w| w.drain()).unwrap_or_default();
        for m in msgs {
            match m {
                ProfileMsg::Step(s) => o.step = s,
                ProfileMsg::Done(r) => {
                    o.worker = None;
                    match *r {
                        Ok(d) => {
                            // The slowest node is selected to start with.
                            self.ops_view.selected =
                                d.profile.nodes.first().map(|n| n.name.clone());
                            o.doc = Some(d);
                        }
                        Err(e) => o.error = Some(e),
                    }
                }
            }
        }
    }

    /// Profiles `variant` (a Compare tab row) against the original on the Operators tab.
    pub(super) fn ops_for_variant(&mut self, variant: String) {
        self.saved.ops.variant = Some(variant);
        self.saved.tab = Some(super::Tab::Operators);
        self.start_ops();
    }

    pub(super) fn operators_ui(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                self.ops_controls_ui(ui);
                let Some(doc) = self.ops.as_ref().and_then(|o| o.doc.clone()) else {
                    return;
                };
                ui.separator();
                let highlighted = self.ops_highlighted(&doc);
                let p = match (&doc.variant, self.ops_view.show_variant) {
                    (Some(v), true) => v,
                    _ => &doc.profile,
                };
                ui.label(format!(
                    "{}: {} requests profiled; a request takes {}, of which operators {} ({:.0}%); the rest is the engine's own work (binding inputs, allocating outputs, scheduling).",
                    p.engine,
                    p.requests,
                    ms(p.request_us),
                    ms(p.operators_us),
                    if p.request_us > 0.0 { p.operators_us / p.request_us * 100.0 } else { 0.0 }
                ));
                if let Some(c) = &p.ceilings {
                    ui.label(format!(
                        "This machine: {:.1} GFLOP/s, {:.1} GB/s (ridge at {:.1} FLOP/byte), measured at the start of the pass.",
                        c.gflops,
                        c.gbytes_per_s,
                        c.ridge()
                    ))
                    .on_hover_text(&c.how);
                }
                if let Some(v) = &doc.diff {
                    ui.horizontal(|ui| {
                        ui.label("Nodes of");
                        ui.radio_value(&mut self.ops_view.show_variant, false, "original");
                        ui.radio_value(&mut self.ops_view.show_variant, true, v.variant.clone());
                    });
                }
                egui::CollapsingHeader::new(RichText::new("Time per op type").strong())
                    .default_open(true)
                    .show(ui, |ui| op_bars_ui(ui, p));
                egui::CollapsingHeader::new(RichText::new("Nodes").strong())
                    .default_open(true)
                    .show(ui, |ui| self.nodes_table_ui(ui, p, &highlighted));
                egui::CollapsingHeader::new(RichText::new("Timeline of one request").strong())
                    .default_open(true)
                    .show(ui, |ui| self.timeline_ui(ui, p, &highlighted));
                egui::CollapsingHeader::new(RichText::new("Roofline").strong())
                    .default_open(true)
                    .show(ui, |ui| self.roofline_ui(ui, p, &highlighted));
                if let Some(d) = &doc.diff {
                    egui::CollapsingHeader::new(
                        RichText::new(format!("{} against the original", d.variant)).strong(),
                    )
                    .default_open(true)
                    .show(ui, |ui| self.diff_ui(ui, d, &highlighted));
                }
            });
    }

    /// The names to highlight: the selected node, and in a comparison every node of its layer
    /// in the original and in the variant.
    pub fn ops_highlighted(&self, doc: &ProfileDoc) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(sel) = &self.ops_view.selected else {
            return out;
        };
        out.insert(sel.clone());
        if let Some(d) = &doc.diff {
            if let Some(l) = d
                .layers
                .iter()
                .find(|l| l.before.iter().chain(&l.after).any(|n| &n.name == sel))
                .filter(|l| l.layer != crate::profile::diff::OUTSIDE)
            {
                out.extend(l.before.iter().chain(&l.after).map(|n| n.name.clone()));
            }
        }
        out
    }

    fn ops_controls_ui(&mut self, ui: &mut egui::Ui) {
        let busy = self.is_profiling_ops();
        let variants: Vec<String> = self
            .saved
            .compare
            .variants()
            .iter()
            .map(|v| v.to_string())
            .collect();
        use crate::engine::EngineChoice;
        let engine = match self.saved.settings.engine {
            EngineChoice::Ort | EngineChoice::Both => "ONNX Runtime",
            EngineChoice::Tract => "tract",
            EngineChoice::Auto if self.located.chosen.is_some() => "ONNX Runtime",
            EngineChoice::Auto => "tract",
        };
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("On {engine}")).on_hover_text(
                "The Profile tab's engine (with Both, ONNX Runtime), batch size (the first), threads and data",
            );
            ui.add_enabled_ui(!busy, |ui| {
                let l = ui.label("Requests").on_hover_text(
                    "Requests profiled after the warm-up; each node's time is its median over them",
                );
                ui.add(egui::DragValue::new(&mut self.saved.ops.requests).range(1..=100_000))
                    .labelled_by(l.id);
                let l = ui.label("Against").on_hover_text(
                    "A variant profiled the same way and matched to the original layer by layer (the Compare tab's variants)",
                );
                let shown = self
                    .saved
                    .ops
                    .variant
                    .clone()
                    .unwrap_or_else(|| "no variant".into());
                egui::ComboBox::from_id_salt("ops_variant")
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut self.saved.ops.variant, None, "no variant");
                        for v in &variants {
                            ui.selectable_value(&mut self.saved.ops.variant, Some(v.clone()), v);
                        }
                    })
                    .response
                    .labelled_by(l.id);
            });
            if busy {
                if ui.button("Cancel").clicked() {
                    if let Some(w) = self.ops.as_ref().and_then(|o| o.worker.as_ref()) {
                        w.cancel();
                    }
                }
            } else if ui
                .add_enabled(self.model.is_some(), egui::Button::new("Profile operators"))
                .on_hover_text("Run the model node by node on the Profile tab's engine, batch and data, in a session of its own (profiling slows a run, so none of this enters the latency statistics)")
                .clicked()
            {
                self.command(super::Command::ProfileOps);
            }
        });
        if let Some(o) = &self.ops {
            if o.worker.is_some() {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!(
                        "{} ({:.0} s)",
                        o.step,
                        o.started.elapsed().as_secs_f64()
                    ));
                });
            }
            if let Some(e) = &o.error {
                ui.label(
                    RichText::new(format!("Profiling failed: {e}"))
                        .color(Color32::from_rgb(190, 40, 40)),
                );
            }
        } else if self.model.is_some() {
            ui.label("Which operators take the time: press Profile operators.");
        }
    }

    fn nodes_table_ui(&mut self, ui: &mut egui::Ui, p: &OpProfile, highlighted: &BTreeSet<String>) {
        let mut nodes: Vec<&NodeTime> = p.nodes.iter().collect();
        match self.ops_view.sort {
            NodeSort::Time => {}
            NodeSort::Name => nodes.sort_by(|a, b| a.name.cmp(&b.name)),
            NodeSort::Op => {
                nodes.sort_by(|a, b| a.op.cmp(&b.op).then(b.median_us.total_cmp(&a.median_us)))
            }
            NodeSort::Start => nodes.sort_by(|a, b| a.start_us.total_cmp(&b.start_us)),
            NodeSort::Gflops => nodes.sort_by(|a, b| {
                let g = |n: &NodeTime| n.roofline.as_ref().map_or(-1.0, |r| r.gflops);
                g(b).total_cmp(&g(a))
            }),
        }
        egui::ScrollArea::both()
            .id_salt("ops_nodes")
            .max_height(260.0)
            .show(ui, |ui| {
                egui::Grid::new("ops_nodes_grid")
                    .striped(true)
                    .num_columns(12)
                    .spacing([12.0, 2.0])
                    .show(ui, |ui| {
                        for (label, sort, tip) in [
                            ("node", Some(NodeSort::Name), "The node as the engine ran it (after its own fusions); click a row to select it in every view"),
                            ("op", Some(NodeSort::Op), "Its op type (an engine's fused kernel has its own name, e.g. FusedGemm)"),
                            ("per request", Some(NodeSort::Time), "Median time per request over the profiled requests"),
                            ("share", None, "Share of the time spent in operators"),
                            ("starts at", Some(NodeSort::Start), "Where it starts in the median request"),
                            ("MFLOP", None, "Floating-point operations per request, from its input and output shapes (MatMul/Gemm 2K per output, Conv 2 Cin/group kh kw per output, element-wise 1)"),
                            ("moves", None, "Bytes its inputs and outputs take: what it reads and writes at least once"),
                            ("GB/s", None, "Bytes moved per second: the moved bytes over its time"),
                            ("GFLOP/s", Some(NodeSort::Gflops), "Floating-point operations per second it reached: FLOPs from its shapes / its time"),
                            ("FLOP/B", None, "Arithmetic intensity: FLOPs per byte its inputs and outputs move"),
                            ("of roof", None, "Share of what this machine allows at this intensity (the roofline)"),
                            ("roofline", None, "Compute-bound (right of the ridge), memory-bound (left of it), or far from both (under 10% of its roof: overhead, not arithmetic or bandwidth)"),
                        ] {
                            // The column the table is sorted by is underlined.
                            let mut text = RichText::new(label).strong();
                            if sort == Some(self.ops_view.sort) {
                                text = text.underline();
                            }
                            let r = ui.add(egui::Label::new(text).sense(Sense::click()));
                            let r = r.on_hover_text(tip);
                            if let (true, Some(s)) = (r.clicked(), sort) {
                                self.ops_view.sort = s;
                            }
                        }
                        ui.end_row();
                        for n in nodes {
                            let hit = highlighted.contains(&n.name);
                            let sel = self.ops_view.selected.as_deref() == Some(n.name.as_str());
                            let short = crate::profile::short_name(&n.name, 48);
                            let r = ui.selectable_label(sel || hit, &short);
                            let r = if short != n.name { r.on_hover_text(&n.name) } else { r };
                            if r.clicked() {
                                self.ops_view.selected = Some(n.name.clone());
                            }
                            ui.label(RichText::new(&n.op).color(op_color(&n.op)));
                            ui.label(ms(n.median_us));
                            ui.label(format!(
                                "{:.1}%",
                                if p.operators_us > 0.0 { n.median_us / p.operators_us * 100.0 } else { 0.0 }
                            ));
                            ui.label(ms(n.start_us));
                            ui.label(n.work.flops.map_or("-".into(), |f| format!("{:.3}", f / 1e6)));
                            ui.label(crate::format::bytes(n.work.bytes as u64));
                            ui.label(n.gbytes_per_s().map_or("-".into(), |g| format!("{g:.2}")));
                            match &n.roofline {
                                Some(r) => {
                                    ui.label(format!("{:.2}", r.gflops));
                                    ui.label(format!("{:.1}", r.intensity));
                                    ui.label(format!("{:.0}%", r.efficiency * 100.0));
                                    ui.label(&r.bound);
                                }
                                None => {
                                    for _ in 0..3 {
                                        ui.label("-");
                                    }
                                    ui.label("").on_hover_text("FLOPs not counted for this op (or no ceilings)");
                                }
                            }
                            ui.end_row();
                        }
                    });
            });
    }

    fn timeline_ui(&mut self, ui: &mut egui::Ui, p: &OpProfile, highlighted: &BTreeSet<String>) {
        let threads: Vec<u64> = p
            .nodes
            .iter()
            .map(|n| n.thread)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let lane = 22.0;
        let label_w = 70.0;
        let width = ui.available_width().max(200.0);
        let (rect, response) = ui.allocate_exact_size(
            egui::vec2(width, lane * threads.len() as f32 + 24.0),
            Sense::click(),
        );
        let painter = ui.painter_at(rect);
        let span = p
            .nodes
            .iter()
            .map(|n| n.start_us + n.median_us)
            .fold(p.request_us, f64::max)
            .max(1e-3);
        let x = |us: f64| rect.left() + label_w + ((us / span) as f32) * (width - label_w - 8.0);
        let text_color = ui.visuals().text_color();
        let font = egui::FontId::proportional(11.0);
        let mut boxes: Vec<(egui::Rect, &NodeTime)> = Vec::new();
        for (i, t) in threads.iter().enumerate() {
            let top = rect.top() + i as f32 * lane;
            painter.text(
                egui::pos2(rect.left(), top + lane / 2.0),
                egui::Align2::LEFT_CENTER,
                format!("thread {}", i + 1),
                font.clone(),
                text_color,
            );
            for n in p.nodes.iter().filter(|n| n.thread == *t) {
                let r = egui::Rect::from_min_max(
                    egui::pos2(x(n.start_us), top + 3.0),
                    egui::pos2(
                        x(n.start_us + n.median_us).max(x(n.start_us) + 1.5),
                        top + lane - 3.0,
                    ),
                );
                let hit = highlighted.contains(&n.name);
                painter.rect_filled(
                    r,
                    2.0,
                    op_color(&n.op).gamma_multiply(if hit || highlighted.is_empty() {
                        1.0
                    } else {
                        0.55
                    }),
                );
                if hit {
                    painter.rect_stroke(
                        r,
                        2.0,
                        egui::Stroke::new(2.0, text_color),
                        egui::StrokeKind::Outside,
                    );
                }
                if r.width() > 40.0 {
                    painter.with_clip_rect(r).text(
                        r.left_center() + egui::vec2(3.0, 0.0),
                        egui::Align2::LEFT_CENTER,
                        &n.op,
                        font.clone(),
                        Color32::WHITE,
                    );
                }
                boxes.push((r, n));
            }
        }
        // The time axis: the request's start and end.
        let axis_y = rect.top() + lane * threads.len() as f32 + 12.0;
        painter.text(
            egui::pos2(x(0.0), axis_y),
            egui::Align2::LEFT_CENTER,
            "0",
            font.clone(),
            text_color,
        );
        painter.text(
            egui::pos2(x(span), axis_y),
            egui::Align2::RIGHT_CENTER,
            ms(span),
            font,
            text_color,
        );
        let under = |pos: Option<egui::Pos2>| {
            pos.and_then(|pos| {
                boxes
                    .iter()
                    .find(|(r, _)| r.expand(1.0).contains(pos))
                    .map(|(_, n)| *n)
            })
        };
        if response.clicked() {
            if let Some(n) = under(response.interact_pointer_pos()) {
                self.ops_view.selected = Some(n.name.clone());
            }
        }
        if let Some(n) = under(response.hover_pos()) {
            response.on_hover_text(format!(
                "{} ({}): {} from {}",
                n.name,
                n.op,
                ms(n.median_us),
                ms(n.start_us)
            ));
        }
    }

    fn roofline_ui(&mut self, ui: &mut egui::Ui, p: &OpProfile, highlighted: &BTreeSet<String>) {
        let Some(c) = &p.ceilings else {
            ui.label("No ceilings were measured.");
            return;
        };
        let placed: Vec<(&NodeTime, [f64; 2])> = p
            .nodes
            .iter()
            .filter_map(|n| {
                let r = n.roofline.as_ref()?;
                (r.intensity > 0.0 && r.gflops > 0.0)
                    .then(|| (n, [r.intensity.log10(), r.gflops.log10()]))
            })
            .collect();
        if placed.is_empty() {
            ui.label("No node has counted FLOPs (Conv, MatMul, Gemm and element-wise ops are counted from their shapes).");
            return;
        }
        let xmin = placed
            .iter()
            .map(|p| p.1[0])
            .fold(c.ridge().log10(), f64::min)
            - 0.5;
        let xmax = placed
            .iter()
            .map(|p| p.1[0])
            .fold(c.ridge().log10(), f64::max)
            + 0.5;
        let roof: Vec<[f64; 2]> = (0..=60)
            .map(|i| {
                let lx = xmin + (xmax - xmin) * i as f64 / 60.0;
                [lx, (10f64.powf(lx) * c.gbytes_per_s).min(c.gflops).log10()]
            })
            .collect();
        let pow = |v: f64| {
            let x = 10f64.powf(v);
            if x >= 10.0 {
                format!("{x:.0}")
            } else if x >= 1.0 {
                format!("{x:.1}")
            } else {
                // One significant digit: 0.3, 0.02, 0.001.
                let digits = (-x.log10().floor()).max(1.0) as usize;
                format!("{x:.digits$}")
            }
        };
        let (hit, rest): (Vec<_>, Vec<_>) = placed
            .iter()
            .partition(|(n, _)| highlighted.contains(&n.name));
        let names = |v: &[&(&NodeTime, [f64; 2])]| -> Vec<String> {
            v.iter()
                .map(|(n, _)| format!("{} ({})", n.name, n.op))
                .collect()
        };
        let (hit_names, rest_names) = (names(&hit), names(&rest));
        let resp = Plot::new("ops_roofline")
            .height(240.0)
            .legend(Legend::default().position(egui_plot::Corner::RightBottom))
            .allow_scroll(false)
            .x_axis_label("FLOP per byte moved (log)")
            .y_axis_label("GFLOP/s (log)")
            .x_axis_formatter(move |m, _| pow(m.value))
            .y_axis_formatter(move |m, _| pow(m.value))
            .label_formatter(|h| {
                let (name, v) = match h {
                    HoverPosition::NearDataPoint {
                        plot_name,
                        position,
                        index,
                    } => {
                        let names = if *plot_name == "selected" {
                            &hit_names
                        } else {
                            &rest_names
                        };
                        (names.get(*index).cloned().unwrap_or_default(), position)
                    }
                    HoverPosition::Elsewhere { position } => (String::new(), position),
                };
                Some(format!(
                    "{name}\n{:.2} FLOP/B, {:.2} GFLOP/s",
                    10f64.powf(v.x),
                    10f64.powf(v.y)
                ))
            })
            .show(ui, |plot| {
                plot.add(
                    Line::new(
                        format!(
                            "this machine: {:.0} GFLOP/s, {:.0} GB/s",
                            c.gflops, c.gbytes_per_s
                        ),
                        PlotPoints::from(roof),
                    )
                    .color(Color32::GRAY),
                );
                plot.add(
                    Points::new(
                        "nodes",
                        PlotPoints::from(rest.iter().map(|p| p.1).collect::<Vec<_>>()),
                    )
                    .radius(3.5)
                    .color(PALETTE[0]),
                );
                if !hit.is_empty() {
                    plot.add(
                        Points::new(
                            "selected",
                            PlotPoints::from(hit.iter().map(|p| p.1).collect::<Vec<_>>()),
                        )
                        .radius(6.0)
                        .color(PALETTE[3]),
                    );
                }
            });
        if resp.response.clicked() {
            if let Some(pos) = resp.response.interact_pointer_pos() {
                let near = placed
                    .iter()
                    .map(|(n, xy)| {
                        let s = resp
                            .transform
                            .position_from_point(&egui_plot::PlotPoint::new(xy[0], xy[1]));
                        (n, s.distance(pos))
                    })
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((n, d)) = near.filter(|(_, d)| *d < 14.0) {
                    let _ = d;
                    self.ops_view.selected = Some(n.name.clone());
                }
            }
        }
    }

    fn diff_ui(
        &mut self,
        ui: &mut egui::Ui,
        d: &crate::profile::ProfileDiff,
        highlighted: &BTreeSet<String>,
    ) {
        ui.label(format!("Per request (medians): {}.", d.totals()));
        if !d.reasons.is_empty() {
            ui.label(RichText::new(d.why()).strong());
            for r in &d.reasons {
                ui.label(format!("• {r}"));
            }
        }
        ui.add_space(4.0);
        ui.label(RichText::new("By layer of the original graph").strong()).on_hover_text(
            "Each node of either model matched to the layer of the original graph it computes (through the engine's fusions and the rewrite's names); the changes add up to the change in operator time",
        );
        egui::ScrollArea::horizontal()
            .id_salt("ops_diff_scroll")
            .show(ui, |ui| self.diff_layers_ui(ui, d, highlighted));
    }

    fn diff_layers_ui(
        &mut self,
        ui: &mut egui::Ui,
        d: &crate::profile::ProfileDiff,
        highlighted: &BTreeSet<String>,
    ) {
        egui::Grid::new("ops_diff_layers")
            .striped(true)
            .num_columns(4)
            .spacing([12.0, 2.0])
            .show(ui, |ui| {
                for h in ["layer", "change", "original", "variant"] {
                    ui.label(RichText::new(h).strong());
                }
                ui.end_row();
                for l in d.shown_layers(40) {
                    let hit = l
                        .before
                        .iter()
                        .chain(&l.after)
                        .any(|n| highlighted.contains(&n.name));
                    let r = ui.selectable_label(hit, l.title()).on_hover_text(&l.layer);
                    if r.clicked() {
                        self.ops_view.selected =
                            l.before.first().or(l.after.first()).map(|n| n.name.clone());
                    }
                    let delta = l.delta_us();
                    ui.label(
                        RichText::new(format!(
                            "{}{}",
                            if delta >= 0.0 { "+" } else { "-" },
                            ms(delta.abs())
                        ))
                        .color(if !l.changed() {
                            Color32::GRAY
                        } else if delta > 0.0 {
                            Color32::from_rgb(190, 40, 40)
                        } else {
                            Color32::from_rgb(30, 140, 30)
                        }),
                    )
                    .on_hover_text(if l.changed() {
                        "The rewrite changed this layer's nodes or arithmetic"
                    } else {
                        "The same nodes in both: the change is run-to-run variation"
                    });
                    ui.label(crate::profile::ProfileDiff::side(&l.before));
                    ui.label(crate::profile::ProfileDiff::side(&l.after));
                    ui.end_row();
                }
            });
    }
}

/// The op types as bars: their share of the operator time, with the time and node count.
fn op_bars_ui(ui: &mut egui::Ui, p: &OpProfile) {
    let width = ui.available_width().max(300.0);
    let label_w = 190.0;
    let text_color = ui.visuals().text_color();
    let max = p.by_op.first().map_or(1.0, |o| o.us).max(1e-9);
    for o in p.by_op.iter().take(16) {
        let (rect, resp) = ui.allocate_exact_size(egui::vec2(width, 18.0), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.text(
            rect.left_center(),
            egui::Align2::LEFT_CENTER,
            format!("{} (x{})", o.op, o.nodes),
            egui::FontId::proportional(12.0),
            text_color,
        );
        let bar_w = ((o.us / max) as f32) * (width - label_w - 130.0);
        let bar = egui::Rect::from_min_size(
            egui::pos2(rect.left() + label_w, rect.top() + 3.0),
            egui::vec2(bar_w.max(1.0), 12.0),
        );
        painter.rect_filled(bar, 2.0, op_color(&o.op));
        painter.text(
            bar.right_center() + egui::vec2(6.0, 0.0),
            egui::Align2::LEFT_CENTER,
            format!("{} ({:.1}%)", ms(o.us), o.share * 100.0),
            egui::FontId::proportional(12.0),
            text_color,
        );
        resp.on_hover_text(format!(
            "{}: {} node(s), {} per request, {:.1}% of the operator time",
            o.op,
            o.nodes,
            ms(o.us),
            o.share * 100.0
        ));
    }
}
