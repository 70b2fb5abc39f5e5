//! `inferscope profile`: per-operator times, in a pass of its own: ONNX Runtime's session
//! profiler, or tract timed node by node.

use super::args::ProfileArgs;
use super::bench::{say, setup};
use crate::engine::EngineKind;
use anyhow::{bail, Result};
use std::path::PathBuf;

pub fn run(a: ProfileArgs, ort_path: Option<PathBuf>) -> Result<()> {
    if a.requests == 0 || a.requests > 100_000 {
        bail!(
            "--requests must be between 1 and 100000 (got {})",
            a.requests
        );
    }
    for p in a.bench.json.iter().chain(a.trace.iter()) {
        super::check_output(p)?;
    }
    let s = setup(&a.bench, ort_path)?;
    let kind = match s.plan.engines.as_slice() {
        [k] => *k,
        _ => bail!("profile runs on one engine: pick --engine ort or --engine tract"),
    };
    let batch = s.plan.batch_sizes.first().copied().flatten().or(Some(1));
    let requests = crate::data::requests(&s.model, &s.samples, batch, 1)?;
    let inputs = requests
        .first()
        .ok_or_else(|| anyhow::anyhow!("no request could be made from the data"))?;
    let warmup = match s.plan.warmup {
        crate::bench::Warmup::Iterations(n) => n as usize,
        crate::bench::Warmup::Duration(_) => 10,
    };
    eprintln!(
        "profiling {} requests of batch {} after {warmup} warm-up (a session of its own: profiling slows it, so no latency statistics come from it) ...",
        a.requests,
        batch.unwrap_or(1)
    );
    let options = &s.plan.engine_options;
    let run = |model: &crate::model::Model, options: &crate::engine::EngineOptions| match kind {
        EngineKind::Ort => {
            let (trace, engine) =
                crate::engine::ort::profile(model, options, inputs, warmup, a.requests)?;
            crate::profile::from_ort_trace(&trace, warmup, &engine)
        }
        EngineKind::Tract => {
            let (runs, engine) =
                crate::engine::tract::profile(model, options, inputs, warmup, a.requests)?;
            crate::profile::from_runs(&engine, &runs)
        }
    };
    let mut p = run(&s.model, options)?;
    let diff = match &a.variant {
        Some(spec) => {
            let v: crate::optimize::Variant = spec.parse()?;
            let built = crate::optimize::build(&s.model, &v)?;
            let mut o = options.clone();
            if let Some(l) = built.opt_level {
                o.opt_level = l;
            }
            eprintln!("profiling the variant {} the same way ...", built.name);
            let q = run(&built.model, &o)?;
            Some(crate::profile::diff(&p, &q, &built.name))
        }
        None => None,
    };
    if !a.no_ceilings {
        eprintln!("measuring this machine's ceilings (a 512x512 MatMul, a 256 MiB copy) ...");
        p.place(crate::profile::roofline::measure(kind, options)?);
    }
    say(&a.bench, &p.text(a.top));
    if let Some(d) = &diff {
        say(&a.bench, &d.text());
    }
    if let Some(path) = &a.bench.json {
        let doc = crate::report::ProfileDoc {
            version: crate::report::doc::DOC_VERSION,
            environment: super::bench::document(&s, &[], &[]).environment,
            model: Some(s.model.info.clone()),
            profile: p.clone(),
            diff: diff.clone(),
        };
        super::write_text(path, &doc.to_json()?)?;
    }
    if let Some(path) = &a.trace {
        super::write_text(path, &p.chrome_trace()?)?;
    }
    Ok(())
}
