//! `inferscope profile`: per-operator times, in a pass of its own: ONNX Runtime's session
//! profiler, or tract timed node by node.

use super::args::ProfileArgs;
use super::bench::{say, setup};
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
    let batch = s.plan.first_batch();
    let requests = crate::data::requests(&s.model, &s.samples, batch, 1)?;
    let inputs = requests
        .first()
        .ok_or_else(|| anyhow::anyhow!("no request could be made from the data"))?;
    let warmup = match s.plan.warmup {
        crate::bench::Warmup::Iterations(n) => n as usize,
        crate::bench::Warmup::Duration(_) => 10,
    };
    let options = &s.plan.engine_options;
    let variant = a
        .variant
        .as_deref()
        .map(str::parse::<crate::optimize::Variant>)
        .transpose()?;
    let pass = crate::profile::pass::run(
        &crate::profile::pass::Request {
            model: &s.model,
            inputs,
            kind,
            options,
            warmup,
            requests: a.requests,
            max_time: s.plan.max_time(),
            variant: variant.as_ref(),
            samples: Some(&s.samples),
            ceilings: !a.no_ceilings,
        },
        &std::sync::atomic::AtomicBool::new(false),
        &mut |step| eprintln!("{step} ..."),
    )?;
    let doc = crate::report::ProfileDoc::of(
        pass,
        super::bench::document(&s, &[], &[]).environment,
        Some(s.model.info.clone()),
    );
    say(&a.bench, &doc.profile.text(a.top));
    if let Some(d) = &doc.diff {
        say(&a.bench, &d.text());
    }
    if let Some(path) = &a.bench.json {
        super::write_text(path, &doc.to_json()?)?;
    }
    if let Some(path) = &a.trace {
        super::write_text(path, &doc.profile.chrome_trace()?)?;
    }
    Ok(())
}
