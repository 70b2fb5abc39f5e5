//! The Compare tab: variant toggles with their settings, the interleaved comparison, its table,
//! bar charts of latency and size, the latency-vs-fidelity scatter with its Pareto front, and
//! the per-layer drift of one variant where a click excludes a layer from quantization. This
//! file holds its state and logic; `ui.rs` draws it.

mod ui;

use super::{Command, InferscopeApp};
use crate::bench::{Phase, RunSpec};
use crate::compare::Comparison;
use crate::engine::OptLevel;
use crate::optimize::{Int8Options, QuantFormat, Variant};
use crate::worker::{CompareJob, CompareMsg, Worker};
use egui::Color32;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// Which variants are on, and their settings; saved across restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompareSettings {
    pub int8: bool,
    pub int8_options: Int8Options,
    /// Static int8 (QDQ, calibrated on the data), and int8 chosen by measuring (dynamic,
    /// static or their mix), with the calibration method and fidelity target both use.
    pub static_int8: bool,
    pub mix_int8: bool,
    pub auto_int8: bool,
    pub calibration: crate::optimize::Calibration,
    pub target: crate::optimize::Target,
    /// The batch static, mix and auto int8 time their choices at (the batch to be served).
    pub int8_batch: usize,
    pub weight_int8: bool,
    pub fp16: bool,
    pub prune: bool,
    pub sparsity: f64,
    pub structured: bool,
    pub trees: bool,
    pub trees_k: usize,
    pub max_depth: bool,
    pub depth: usize,
    pub ort_level: bool,
    pub level: OptLevel,
    /// Other models for the same task.
    pub files: Vec<PathBuf>,
    pub importance_threshold: f64,
}

impl Default for CompareSettings {
    fn default() -> Self {
        CompareSettings {
            int8: true,
            int8_options: Int8Options {
                signed: true,
                ..Default::default()
            },
            static_int8: false,
            mix_int8: false,
            auto_int8: false,
            calibration: crate::optimize::Calibration::MinMax,
            target: crate::optimize::Target::default(),
            int8_batch: 1,
            weight_int8: false,
            fp16: false,
            prune: false,
            sparsity: 0.5,
            structured: true,
            trees: false,
            trees_k: 10,
            max_depth: false,
            depth: 4,
            ort_level: false,
            level: OptLevel::Basic,
            files: Vec::new(),
            importance_threshold: 0.01,
        }
    }
}

impl CompareSettings {
    /// The variants switched on, in a fixed order.
    pub fn variants(&self) -> Vec<Variant> {
        let mut v = Vec::new();
        if self.int8 {
            v.push(Variant::Int8(self.int8_options.clone()));
        }
        let target = (self.target != crate::optimize::Target::default()).then_some(self.target);
        let batch = (self.int8_batch > 1).then_some(self.int8_batch);
        if self.static_int8 {
            v.push(Variant::Int8(Int8Options {
                signed: true,
                calibration: Some(self.calibration),
                target,
                batch,
                ..Default::default()
            }));
        }
        if self.mix_int8 {
            v.push(Variant::Int8(Int8Options {
                signed: true,
                mix: true,
                calibration: Some(self.calibration),
                target,
                batch,
                ..Default::default()
            }));
        }
        if self.auto_int8 {
            v.push(Variant::Int8(Int8Options {
                signed: true,
                auto: true,
                calibration: (self.calibration != crate::optimize::Calibration::MinMax)
                    .then_some(self.calibration),
                target,
                batch,
                ..Default::default()
            }));
        }
        if self.weight_int8 {
            v.push(Variant::WeightInt8 {
                per_channel: self.int8_options.per_channel,
            });
        }
        if self.fp16 {
            v.push(Variant::Fp16);
        }
        if self.prune {
            v.push(Variant::Prune {
                sparsity: self.sparsity,
                structured: self.structured,
                per_layer: false,
            });
        }
        if self.trees {
            v.push(Variant::Trees(self.trees_k.max(1)));
        }
        if self.max_depth {
            v.push(Variant::MaxDepth(self.depth.max(1)));
        }
        if self.ort_level {
            v.push(Variant::OrtOpt(self.level));
        }
        v.extend(self.files.iter().cloned().map(Variant::File));
        v
    }

    /// Switches on the variants a preset lists (spelled as `compare --variant`).
    pub fn apply(&mut self, variants: &[Variant]) {
        *self = CompareSettings {
            int8: false,
            importance_threshold: self.importance_threshold,
            ..CompareSettings::default()
        };
        for v in variants {
            match v {
                Variant::Int8(o) if o.auto || o.calibration.is_some() => {
                    if o.auto {
                        self.auto_int8 = true;
                    } else if o.mix {
                        self.mix_int8 = true;
                    } else {
                        self.static_int8 = true;
                    }
                    self.calibration = o.calibration.unwrap_or_default();
                    self.target = o.target.unwrap_or_default();
                    self.int8_batch = o.batch.unwrap_or(1);
                }
                Variant::Int8(o) => {
                    self.int8 = true;
                    self.int8_options = o.clone();
                }
                Variant::WeightInt8 { per_channel } => {
                    self.weight_int8 = true;
                    self.int8_options.per_channel |= per_channel;
                }
                Variant::Fp16 => self.fp16 = true,
                Variant::Prune {
                    sparsity,
                    structured,
                    ..
                } => {
                    self.prune = true;
                    self.sparsity = *sparsity;
                    self.structured = *structured;
                }
                Variant::Trees(k) => {
                    self.trees = true;
                    self.trees_k = *k;
                }
                Variant::MaxDepth(d) => {
                    self.max_depth = true;
                    self.depth = *d;
                }
                Variant::OrtOpt(l) => {
                    self.ort_level = true;
                    self.level = *l;
                }
                Variant::File(p) => self.files.push(p.clone()),
            }
        }
    }
}

/// The comparison under way or last finished.
pub struct CompareSession {
    pub worker: Option<Worker<CompareMsg>>,
    pub step: String,
    pub specs: BTreeMap<usize, RunSpec>,
    pub progress: Option<(usize, Phase, u64, Option<u64>)>,
    /// Runs done and about how long is left.
    pub study: Option<crate::bench::progress::StudyProgress>,
    /// Measured latencies per run as they arrive (ms), for the live view.
    pub live: BTreeMap<usize, Vec<f32>>,
    pub result: Option<Comparison>,
    pub started: Instant,
    /// How long the comparison took, once it is done.
    pub took: Option<std::time::Duration>,
    pub cancelled: bool,
    pub failures: Vec<String>,
    /// The monthly bill per variant, and the cost inputs and prices it was priced with
    /// (priced again when the Cost tab's inputs change).
    pub costs: Option<VariantCosts>,
    /// The plan the comparison runs (for its report's settings).
    pub plan: crate::bench::Plan,
}

/// The comparison priced at some cost inputs.
pub struct VariantCosts {
    pub inputs: crate::cost::plan::CostInputs,
    pub pricing: crate::cost::Pricing,
    pub costs: Result<Vec<crate::cost::variants::VariantCost>, String>,
}

/// The original in gray, then the Profile tab's palette.
fn color(i: usize) -> Color32 {
    if i == 0 {
        Color32::from_rgb(120, 120, 120)
    } else {
        super::profile::PALETTE[(i - 1) % super::profile::PALETTE.len()]
    }
}

impl InferscopeApp {
    pub fn is_comparing(&self) -> bool {
        self.compare.as_ref().is_some_and(|c| c.worker.is_some())
    }

    pub(super) fn start_compare(&mut self) {
        if self.busy() {
            self.errors.push(super::BUSY.into());
            return;
        }
        let variants = self.saved.compare.variants();
        if variants.is_empty() {
            self.errors
                .push("switch on at least one variant to compare with the original".into());
            return;
        }
        let Some((model, plan, source, notice)) = self.bench_inputs() else {
            return;
        };
        if let Some(n) = notice {
            self.notices
                .push(n.lines().last().unwrap_or_default().to_string());
        }
        let study_runs = plan.engines.len() * plan.batch_sizes.len() * (variants.len() + 1);
        let study_plan = plan.clone();
        let ctx = self.ctx.clone();
        let every = self.repaint_every();
        let worker = Worker::compare(
            CompareJob {
                model,
                source,
                plan,
                variants,
                importance_threshold: self.saved.compare.importance_threshold,
            },
            move || {
                if let Some(c) = &ctx {
                    c.request_repaint_after(every);
                }
            },
        );
        self.compare = Some(CompareSession {
            worker: Some(worker),
            step: "starting".into(),
            specs: BTreeMap::new(),
            progress: None,
            study: Some(crate::bench::progress::StudyProgress::new(
                &study_plan,
                study_runs,
            )),
            live: BTreeMap::new(),
            result: None,
            started: Instant::now(),
            took: None,
            cancelled: false,
            failures: Vec::new(),
            costs: None,
            plan: study_plan,
        });
    }

    /// The comparison's monthly bill per variant at the Cost tab's inputs (priced once per
    /// change of inputs).
    pub fn variant_costs(
        &mut self,
    ) -> Option<&Result<Vec<crate::cost::variants::VariantCost>, String>> {
        let (inputs, pricing) = (&self.saved.cost.inputs, &self.saved.cost.pricing);
        let c = self.compare.as_mut()?;
        let cmp = c.result.as_ref()?;
        let stale = c
            .costs
            .as_ref()
            .is_none_or(|k| &k.inputs != inputs || &k.pricing != pricing);
        if stale {
            c.costs = Some(VariantCosts {
                inputs: inputs.clone(),
                pricing: pricing.clone(),
                costs: crate::cost::variants::per_variant(inputs, pricing, &cmp.runs),
            });
        }
        c.costs.as_ref().map(|k| &k.costs)
    }

    /// Leaves `node` in float in the int8 variant and compares again.
    pub(super) fn exclude_layer(&mut self, node: String) {
        let o = &mut self.saved.compare.int8_options;
        if !o.exclude.contains(&node) {
            o.exclude.push(node.clone());
        }
        self.saved.compare.int8 = true;
        self.notices.push(format!(
            "Excluded {node} from int8 quantization; comparing again."
        ));
        self.start_compare();
    }

    /// Where a variant is saved unless the user says otherwise: beside the model,
    /// `model.int8.onnx`.
    pub(super) fn default_variant_path(&self, name: &str) -> String {
        let Some(p) = self.model.as_ref().map(|m| m.info.path.clone()) else {
            return String::new();
        };
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let tag: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        p.with_file_name(format!("{stem}.{tag}.onnx"))
            .display()
            .to_string()
    }

    /// Writes the variant spelled `name` of the open model to `path`.
    pub fn save_variant(&mut self, name: &str, path: &std::path::Path) {
        let result = (|| -> anyhow::Result<crate::optimize::Coverage> {
            let model = self
                .model
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("no model is open"))?;
            let v: Variant = name.parse()?;
            let r = crate::optimize::rewrite(model, &v)?;
            crate::optimize::save(model, &r, path)?;
            Ok(r.coverage)
        })();
        match result {
            Ok(c) => self
                .notices
                .push(format!("Wrote {} ({})", path.display(), c.summary())),
            Err(e) => self.errors.push(format!("Could not save {name}: {e:#}")),
        }
    }

    /// Applies the comparison worker's messages.
    pub(super) fn compare_logic(&mut self) {
        let Some(c) = &mut self.compare else {
            return;
        };
        let msgs = c.worker.as_ref().map(|w| w.drain()).unwrap_or_default();
        for m in msgs {
            if let (CompareMsg::Event(e), Some(p)) = (&m, c.study.as_mut()) {
                p.event(e);
            }
            match m {
                CompareMsg::Step(s) => c.step = s,
                CompareMsg::Event(crate::bench::Event::Started { run, spec }) => {
                    c.specs.insert(run, spec);
                }
                CompareMsg::Event(crate::bench::Event::Progress {
                    run,
                    phase,
                    done,
                    total,
                }) => c.progress = Some((run, phase, done, total)),
                CompareMsg::Event(crate::bench::Event::Samples {
                    run,
                    phase: Phase::Measure,
                    latencies_ns,
                    ..
                }) => c
                    .live
                    .entry(run)
                    .or_default()
                    .extend(latencies_ns.iter().map(|&ns| (ns as f64 / 1e6) as f32)),
                CompareMsg::Event(crate::bench::Event::Cancelled { .. }) => c.cancelled = true,
                CompareMsg::Event(crate::bench::Event::Failed { error, .. }) => {
                    c.failures.push(error)
                }
                CompareMsg::Event(_) => {}
                CompareMsg::Done(r) => {
                    c.worker = None;
                    match *r {
                        Ok(cmp) => {
                            if self.compare_selected.is_none()
                                || !cmp
                                    .variants
                                    .iter()
                                    .any(|v| Some(&v.name) == self.compare_selected.as_ref())
                            {
                                self.compare_selected = cmp
                                    .variants
                                    .iter()
                                    .find(|v| {
                                        v.fidelity.as_ref().is_some_and(|f| !f.layers.is_empty())
                                    })
                                    .map(|v| v.name.clone());
                            }
                            c.result = Some(cmp);
                            c.took = Some(c.started.elapsed());
                            c.costs = None;
                        }
                        Err(e) => self.errors.push(e),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_variants() {
        let mut s = CompareSettings::default();
        let v: Vec<Variant> = [
            "int8:per-channel:exclude=fc",
            "prune:0.3:structured",
            "trees:5",
            "ort:basic",
        ]
        .iter()
        .map(|x| x.parse().unwrap())
        .collect();
        s.apply(&v);
        assert_eq!(s.variants(), v);
        // The batch int8 is timed at (a preset's, or the tab's) reaches every timed form.
        let v: Vec<Variant> = ["int8:static:batch=16", "int8:auto:batch=16"]
            .iter()
            .map(|x| x.parse().unwrap())
            .collect();
        s.apply(&v);
        assert_eq!(s.int8_batch, 16);
        assert_eq!(s.variants(), v);
    }
}
