//! One profiling pass as the CLI and the window run it: the model's operators on one engine,
//! a variant's the same way and the diff between them, then this machine's ceilings.

use super::{diff, Layers, OpProfile, ProfileDiff};
use crate::engine::{EngineKind, EngineOptions};
use crate::model::Model;
use crate::optimize::Variant;
use crate::tensor::Tensor;
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// What to profile.
pub struct Request<'a> {
    pub model: &'a Model,
    /// One request's inputs.
    pub inputs: &'a [Tensor],
    pub kind: EngineKind,
    pub options: &'a EngineOptions,
    pub warmup: usize,
    pub requests: usize,
    /// Each profiling pass (the model's, the variant's) ends by this long (`None`: no cap).
    pub max_time: Option<std::time::Duration>,
    /// A variant to profile the same way and diff against the model.
    pub variant: Option<&'a Variant>,
    /// The sample data (static int8 calibrates on it).
    pub samples: Option<&'a crate::data::SampleSet>,
    /// Whether to measure this machine's ceilings and place the nodes on the roofline.
    pub ceilings: bool,
}

/// What a pass found.
pub struct Pass {
    pub profile: OpProfile,
    /// The variant's profile and its diff against the model's.
    pub variant: Option<(OpProfile, ProfileDiff)>,
}

/// The operator profile of `model` on `kind` over `requests` requests after `warmup`, both
/// ended early by `cap` (and the profile says so).
pub fn one(
    kind: EngineKind,
    model: &Model,
    options: &EngineOptions,
    inputs: &[Tensor],
    warmup: usize,
    requests: usize,
    cap: Option<std::time::Duration>,
) -> Result<OpProfile> {
    let mut schedule = super::Schedule::new(warmup, requests, cap);
    let mut profile = profile_with(kind, model, options, inputs, &mut schedule)?;
    profile.cut = schedule.cut();
    Ok(profile)
}

fn profile_with(
    kind: EngineKind,
    model: &Model,
    options: &EngineOptions,
    inputs: &[Tensor],
    schedule: &mut super::Schedule,
) -> Result<OpProfile> {
    // Every node gets a name (exporters leave many empty; ONNX Runtime then calls them
    // `Conv_4` and `FusedConv_122`, which nothing in the graph is called), so engines name
    // what they run after the graph's nodes.
    let named = named_nodes(model)?;
    let model = named.as_ref().unwrap_or(model);
    match kind {
        EngineKind::Ort => {
            let p = crate::engine::ort::profile(model, options, inputs, schedule)?;
            let mut profile = super::from_ort_trace(&p.trace, schedule.warmed, &p.engine)?;
            if let Some(g) = p
                .optimized
                .and_then(|b| crate::model::decode_proto(&b, &model.info.path).ok())
            {
                profile.attach_tensors(&g);
            }
            Ok(profile)
        }
        EngineKind::Tract => {
            let (runs, engine) = crate::engine::tract::profile(model, options, inputs, schedule)?;
            super::from_runs(&engine, &runs)
        }
    }
}

/// `model` with every unnamed node named [`crate::optimize::node_id`] (its first output),
/// or `None` when every node has a name.
fn named_nodes(model: &Model) -> Result<Option<Model>> {
    let mut m = crate::model::decode_proto(&model.bytes, &model.info.path)?;
    let mut changed = false;
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    if let Some(g) = m.graph.as_ref() {
        crate::optimize::graph::visit(g, &mut |g: &tract_onnx::pb::GraphProto| {
            taken.extend(
                g.node
                    .iter()
                    .filter(|n| !n.name.is_empty())
                    .map(|n| n.name.clone()),
            );
        });
    }
    if let Some(g) = m.graph.as_mut() {
        crate::optimize::graph::visit_mut(g, &mut |g: &mut tract_onnx::pb::GraphProto| {
            for n in g.node.iter_mut().filter(|n| n.name.is_empty()) {
                // Its first output, as `node_id` calls it; a name another node has gets a suffix.
                let base = crate::optimize::node_id(n);
                let mut name = base.clone();
                let mut k = 1;
                while taken.contains(&name) {
                    name = format!("{base}_{k}");
                    k += 1;
                }
                taken.insert(name.clone());
                n.name = name;
                changed = true;
            }
        });
    }
    if !changed {
        return Ok(None);
    }
    let bytes = prost::Message::encode_to_vec(&m);
    Ok(Some(Model::from_bytes(&model.info.path, bytes)?))
}

/// Runs the pass; `step` hears what is under way, `cancel` stops it between steps.
pub fn run(r: &Request, cancel: &AtomicBool, step: &mut dyn FnMut(String)) -> Result<Pass> {
    if r.requests == 0 || r.requests > 100_000 {
        bail!(
            "the requests to profile must be between 1 and 100000 (got {})",
            r.requests
        );
    }
    let stopped = || -> Result<()> {
        if cancel.load(Ordering::Relaxed) {
            bail!("cancelled");
        }
        Ok(())
    };
    step(format!(
        "profiling {} requests after {} warm-up (a session of its own: profiling slows it, so no latency statistics come from it)",
        r.requests, r.warmup
    ));
    let mut profile = one(
        r.kind, r.model, r.options, r.inputs, r.warmup, r.requests, r.max_time,
    )?;
    if let Some(c) = &profile.cut {
        step(c.clone());
    }
    stopped()?;
    let mut variant = match r.variant {
        Some(v) => {
            step(format!("building the variant {v}"));
            let built = crate::optimize::build_with(r.model, v, r.samples)?;
            let mut o = r.options.clone();
            if let Some(l) = built.opt_level {
                o.opt_level = l;
            }
            stopped()?;
            step(format!("profiling the variant {} the same way", built.name));
            let q = one(
                r.kind,
                &built.model,
                &o,
                r.inputs,
                r.warmup,
                r.requests,
                r.max_time,
            )?;
            let layers = Layers::of(&crate::model::decode_proto(
                &r.model.bytes,
                &r.model.info.path,
            )?);
            let d = diff(
                &profile,
                &q,
                &built.name,
                &layers,
                &crate::environment::cpu_isa(),
            );
            Some((q, d))
        }
        None => None,
    };
    stopped()?;
    if r.ceilings {
        step("measuring this machine's ceilings (a 512x512 MatMul, a 256 MiB copy)".into());
        let c = super::roofline::measure(r.kind, r.options)?;
        profile.place(c.clone());
        if let Some((q, _)) = &mut variant {
            q.place(c);
        }
    }
    Ok(Pass { profile, variant })
}
