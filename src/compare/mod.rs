//! Comparing a model with its variants: build each variant, measure its fidelity on the sample
//! data, benchmark all of them interleaved, and say how much faster each is, with an interval.

pub mod fidelity;
pub mod importance;
pub mod table;
pub mod verdict;

use crate::bench::scheduler::{run_interleaved, RealClock, Workload};
use crate::bench::stats::Interval;
use crate::bench::{Event, Plan, RunResult};
use crate::data::{self, SampleSet};
use crate::engine::{self, EngineKind, EngineOptions};
use crate::model::Model;
use crate::optimize::{self, Built, Coverage, Variant};
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use fidelity::Fidelity;
use importance::Importance;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How much faster a variant ran than the original in one engine x batch run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Speedup {
    pub engine: EngineKind,
    pub batch_size: usize,
    /// Original p50 / variant p50 (above 1: the variant is faster).
    pub p50_ratio: f64,
    /// 95% bootstrap interval of the ratio.
    pub ci: Interval,
    /// Whether the interval excludes 1.
    pub significant: bool,
}

impl Speedup {
    /// `1.70x [1.63-2.13]`, with ` not significant` when the interval holds 1.
    pub fn label(&self) -> String {
        format!(
            "{:.2}x [{:.2}-{:.2}]{}",
            self.p50_ratio,
            self.ci.lo,
            self.ci.hi,
            if self.significant {
                ""
            } else {
                " not significant"
            }
        )
    }
}

/// One variant in a comparison: what it is, what the rewrite did, how faithful and how fast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantReport {
    pub name: String,
    pub description: String,
    pub file_size_bytes: u64,
    pub sha256: String,
    pub coverage: Option<Coverage>,
    pub fidelity: Option<Fidelity>,
    /// Why fidelity could not be measured.
    pub fidelity_error: Option<String>,
    pub speedups: Vec<Speedup>,
    /// Why the variant could not be built (then nothing else is set).
    pub error: Option<String>,
}

/// Everything `compare` produces; written as JSON and read by the report and the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub model: String,
    pub model_sha256: String,
    pub file_size_bytes: u64,
    pub data: String,
    pub runs: Vec<RunResult>,
    pub variants: Vec<VariantReport>,
    pub importance: Option<Importance>,
    /// Why importance is missing, when the model is tabular but it failed.
    pub importance_note: Option<String>,
    pub notes: Vec<String>,
}

/// Points on the Pareto front of (latency, fidelity): none faster is at least as faithful.
/// Indices in order of latency.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[b].1.total_cmp(&points[a].1))
    });
    let mut best = f64::NEG_INFINITY;
    let mut front = Vec::new();
    for i in order {
        if points[i].1 > best {
            best = points[i].1;
            front.push(i);
        }
    }
    front
}

/// Ratio of medians of two latency samples with a percentile-bootstrap interval.
pub fn speedup(original_ns: &[u64], variant_ns: &[u64], seed: u64) -> Option<(f64, Interval)> {
    if original_ns.len() < 5 || variant_ns.len() < 5 {
        return None;
    }
    fn thin(v: &[u64]) -> Vec<u64> {
        let step = v.len().div_ceil(4000).max(1);
        v.iter().step_by(step).copied().collect()
    }
    fn median(v: &mut [u64]) -> f64 {
        let m = v.len() / 2;
        let (_, x, _) = v.select_nth_unstable(m);
        *x as f64
    }
    let (a, b) = (thin(original_ns), thin(variant_ns));
    let ratio = median(&mut a.clone()) / median(&mut b.clone()).max(1.0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ratios = Vec::with_capacity(1000);
    let mut ra = vec![0u64; a.len()];
    let mut rb = vec![0u64; b.len()];
    for _ in 0..1000 {
        for x in ra.iter_mut() {
            *x = a[rng.random_range(0..a.len())];
        }
        for x in rb.iter_mut() {
            *x = b[rng.random_range(0..b.len())];
        }
        ratios.push(median(&mut ra) / median(&mut rb).max(1.0));
    }
    ratios.sort_by(f64::total_cmp);
    Some((
        ratio,
        Interval {
            lo: ratios[25],
            hi: ratios[974],
        },
    ))
}

/// Engine options for a variant: ONNX Runtime levels change only the level.
pub fn variant_options(base: &EngineOptions, built: &Built) -> EngineOptions {
    let mut o = base.clone();
    if let Some(l) = built.opt_level {
        o.opt_level = l;
    }
    o
}

/// What a comparison needs besides the model.
pub struct Request<'a> {
    pub model: &'a Model,
    pub samples: &'a SampleSet,
    pub variants: &'a [Variant],
    pub plan: &'a Plan,
    /// Permutation importance threshold (share of the total), e.g. 0.01.
    pub importance_threshold: f64,
}

/// Builds the variants (each failure is reported for that variant only).
/// Builds the variants (each failure is reported for that variant only); static int8
/// calibrates on `samples`.
pub fn build_all(model: &Model, variants: &[Variant], samples: &SampleSet) -> Vec<Result<Built>> {
    variants
        .iter()
        .map(|v| optimize::build_with(model, v, Some(samples)))
        .collect()
}

/// Runs a full comparison: build, fidelity, interleaved benchmark, speedups, importance.
/// `progress` gets human-readable steps; `sink` the benchmark events.
pub fn run(
    req: &Request,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(String),
    sink: &mut dyn FnMut(Event),
) -> Result<Comparison> {
    if req.variants.is_empty() {
        bail!("no variant to compare: add one (e.g. --variant int8)");
    }
    let model = req.model;
    let engine_opts = &req.plan.engine_options;
    let reference = *req.plan.engines.first().unwrap_or(&EngineKind::Tract);
    let mut notes = Vec::new();
    let mut reports = Vec::new();
    let mut built_ok: Vec<Built> = Vec::new();
    for (v, b) in req
        .variants
        .iter()
        .zip(build_all(model, req.variants, req.samples))
    {
        progress(format!("building {v}"));
        let mut r = VariantReport {
            name: v.to_string(),
            description: v.describe(),
            file_size_bytes: 0,
            sha256: String::new(),
            coverage: None,
            fidelity: None,
            fidelity_error: None,
            speedups: Vec::new(),
            error: None,
        };
        match b {
            Ok(b) => {
                r.file_size_bytes = b.model.info.file_size_bytes;
                r.sha256 = b.model.info.sha256.clone();
                r.coverage = b.coverage.clone();
                if let Variant::File(_) = v {
                    if let Err(e) = data::validate(&b.model, &req.samples.inputs) {
                        r.error = Some(format!("the sample data does not fit it: {e:#}"));
                        reports.push(r);
                        continue;
                    }
                }
                if matches!(v, Variant::OrtOpt(_)) && !req.plan.engines.contains(&EngineKind::Ort) {
                    r.error = Some(
                        "ONNX Runtime levels need the onnxruntime engine (--engine ort or both)"
                            .into(),
                    );
                    reports.push(r);
                    continue;
                }
                progress(format!("measuring the fidelity of {v}"));
                let kind = if matches!(v, Variant::OrtOpt(_)) {
                    EngineKind::Ort
                } else {
                    reference
                };
                let reordered = b.coverage.as_ref().map(|c| &c.reordered[..]);
                match fidelity::fidelity(
                    model,
                    &b.model,
                    reordered.unwrap_or_default(),
                    req.samples,
                    kind,
                    engine_opts,
                    &variant_options(engine_opts, &b),
                ) {
                    Ok(f) => r.fidelity = Some(f),
                    Err(e) => r.fidelity_error = Some(format!("{e:#}")),
                }
                built_ok.push(b);
            }
            Err(e) => r.error = Some(format!("{e:#}")),
        }
        reports.push(r);
    }
    let importance = if req.samples.inputs.len() == 1 && req.samples.inputs[0].shape.len() == 2 {
        progress("permutation importance".into());
        Some(importance::permutation_importance(
            model,
            req.samples,
            reference,
            engine_opts,
            req.importance_threshold,
            7,
        ))
    } else {
        None
    };
    let (importance, importance_note) = match importance {
        Some(Ok(i)) => (Some(i), None),
        Some(Err(e)) => (None, Some(format!("{e:#}"))),
        None => (None, None),
    };

    // The benchmark: the original first, then every variant that built.
    progress("benchmarking, interleaved".into());
    let contenders: Vec<(String, Model, EngineOptions, bool)> = std::iter::once((
        "original".to_string(),
        model.clone(),
        engine_opts.clone(),
        false,
    ))
    .chain(built_ok.iter().map(|b| {
        (
            b.name.clone(),
            b.model.clone(),
            variant_options(engine_opts, b),
            b.opt_level.is_some(),
        )
    }))
    .collect();
    let request_fns: Vec<_> = contenders
        .iter()
        .map(|(_, m, _, _)| {
            let m = m.clone();
            let samples = req.samples;
            let max = req.plan.max_distinct_requests;
            move |batch: Option<usize>| -> Result<(Vec<Vec<Tensor>>, usize)> {
                let reqs = data::requests(&m, samples, batch, max)?;
                Ok((reqs, batch.or(samples.n_samples).unwrap_or(1)))
            }
        })
        .collect();
    let load_fns: Vec<_> = contenders
        .iter()
        .map(|(name, m, o, ort_only)| {
            let (name, m, o, ort_only) = (name.clone(), m.clone(), o.clone(), *ort_only);
            move |k: EngineKind| {
                if ort_only && k != EngineKind::Ort {
                    bail!("{name} is an ONNX Runtime setting; tract has no such level");
                }
                engine::load(k, &m, &o)
            }
        })
        .collect();
    let workloads: Vec<Workload> = contenders
        .iter()
        .zip(request_fns.iter().zip(&load_fns))
        .map(|((name, m, o, ort_only), (r, l))| Workload {
            model_name: m.info.name.clone(),
            variant: name.clone(),
            requests: r,
            load: l,
            only: ort_only.then_some(EngineKind::Ort),
            isolate: Some((m, o.clone())),
        })
        .collect();
    let mut plan = req.plan.clone();
    if plan.max_raw_samples > 200_000 {
        plan.max_raw_samples = 200_000;
    }
    let runs = run_interleaved(&plan, &workloads, Arc::new(RealClock::new()), cancel, sink);

    for r in reports.iter_mut().filter(|r| r.error.is_none()) {
        for run in runs.iter().filter(|x| x.variant == r.name) {
            let Some(orig) = runs.iter().find(|o| {
                o.variant == "original" && o.engine == run.engine && o.batch_size == run.batch_size
            }) else {
                continue;
            };
            if let Some((ratio, ci)) = speedup(&orig.raw_latencies_ns, &run.raw_latencies_ns, 11) {
                r.speedups.push(Speedup {
                    engine: run.engine,
                    batch_size: run.batch_size,
                    p50_ratio: ratio,
                    ci,
                    significant: ci.lo > 1.0 || ci.hi < 1.0,
                });
            }
        }
    }
    if reports.iter().all(|r| r.error.is_some()) {
        notes.push("no variant applies to this model".into());
    }
    Ok(Comparison {
        model: model.info.name.clone(),
        model_sha256: model.info.sha256.clone(),
        file_size_bytes: model.info.file_size_bytes,
        data: req.samples.description.clone(),
        runs,
        variants: reports,
        importance,
        importance_note,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_keeps_only_undominated_points() {
        let pts = [(1.0, 0.9), (2.0, 1.0), (1.5, 0.8), (0.5, 0.7), (3.0, 1.0)];
        let mut f = pareto_front(&pts);
        f.sort_unstable();
        assert_eq!(f, vec![0, 1, 3]);
    }

    #[test]
    fn speedup_interval_covers_the_true_ratio_and_detects_no_difference() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let a: Vec<u64> = (0..3000)
            .map(|_| 2_000_000 + rng.random_range(0..400_000))
            .collect();
        let b: Vec<u64> = (0..3000)
            .map(|_| 1_000_000 + rng.random_range(0..200_000))
            .collect();
        let (r, ci) = speedup(&a, &b, 1).unwrap();
        assert!((r - 2.0).abs() < 0.05, "{r}");
        assert!(
            ci.lo < r && r < ci.hi && ci.lo > 1.9 && ci.hi < 2.1,
            "{ci:?}"
        );
        let c: Vec<u64> = (0..3000)
            .map(|_| 2_000_000 + rng.random_range(0..400_000))
            .collect();
        let (_, ci) = speedup(&a, &c, 1).unwrap();
        assert!(ci.lo < 1.0 && ci.hi > 1.0, "same distribution: {ci:?}");
    }
}
