//! `inferscope cost`: the monthly bill on each tier, from a measured run or a typed latency.

use super::args::CostArgs;
use crate::bench::RunResult;
use crate::cost::plan::CostInputs;
use crate::cost::Pricing;
use crate::report::{BenchDoc, CostDoc, Document, Study};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The run of a results file the cost planner prices: `run`, or the default choice.
fn run_from_results(
    doc: &BenchDoc,
    path: &Path,
    run: Option<usize>,
    variant: Option<&str>,
) -> Result<RunResult> {
    let runs = &doc.runs;
    let chosen = match (run, variant) {
        (Some(id), _) => runs.iter().find(|r| r.run_id == id).with_context(|| {
            format!(
                "{} has no run {id} (runs: {})",
                path.display(),
                runs.iter()
                    .map(|r| r.run_id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
        (None, Some(v)) => crate::cost::table::default_run(crate::cost::variants::runs_of(runs, v))
            .with_context(|| {
                let mut names: Vec<&str> = runs.iter().map(|r| r.variant.as_str()).collect();
                names.dedup();
                names.sort_unstable();
                names.dedup();
                format!(
                    "{} has no runs of the variant {v} (variants: {})",
                    path.display(),
                    names.join(", ")
                )
            })?,
        // A comparison's file holds every variant's runs: without --variant, the original's.
        (None, None) => {
            crate::cost::table::default_run(crate::cost::variants::runs_of(runs, "original"))
                .or_else(|| crate::cost::table::default_run(runs))
                .with_context(|| format!("{} holds no runs", path.display()))?
        }
    };
    Ok(chosen.clone())
}

/// The plan as the terminal shows it.
fn text(doc: &CostDoc) -> String {
    let i = &doc.inputs;
    let mut out = format!(
        "Service time from {}; {:.0} requests/month, peak x{}.\n",
        doc.service_source, i.monthly_requests, i.peak_factor
    );
    let (header, lines) = crate::cost::table::text(&doc.tiers);
    out.push_str(&header);
    out.push('\n');
    for (t, line) in doc.tiers.iter().zip(lines) {
        out.push_str(&format!("{line}: {}\n", t.reason));
    }
    let r = &doc.recommendation;
    out.push_str(&format!("\nRecommendation: {}\n", r.explanation));
    if let Some(u) = r.runner_up {
        out.push_str(&format!("Runner-up: {}\n", u.label()));
    }
    for line in r.flip_lines(i.monthly_requests) {
        out.push_str(&format!("The choice changes {line}\n"));
    }
    out.push_str(&format!("Rule of thumb: {}", r.rule_of_thumb.label()));
    out.push_str(
        &r.rule_of_thumb_note
            .as_ref()
            .map(|n| format!(" ({n})\n"))
            .unwrap_or_else(|| "\n".into()),
    );
    out
}

pub fn run(a: &CostArgs) -> Result<()> {
    for p in a
        .json
        .iter()
        .chain(a.export.pdf.iter())
        .chain(a.export.png.iter())
    {
        super::check_output(p)?;
    }
    let (base, pricing) = match &a.preset {
        Some(p) => {
            let loaded = super::preset::load(p)?;
            (loaded.preset.cost, loaded.preset.pricing)
        }
        None => (CostInputs::default(), Pricing::default()),
    };
    let mut inputs = a.inputs.overlay(base);
    let results = a.results.as_ref().map(|p| BenchDoc::read(p)).transpose()?;
    let mut served = None;
    let (service, source) = match (&results, &a.results) {
        (Some(doc), Some(p)) => {
            let run = run_from_results(doc, p, a.run, a.variant.as_deref())?;
            served = Some(crate::report::doc::ServedRun::of(&run, doc.model.as_ref()));
            let (service, mut source) = inputs.serve_run(&run);
            let threads = inputs.threads_per_inference as f64;
            if threads > 1.0 && threads > inputs.vcpus {
                if let Some(v) = a.inputs.vcpus {
                    bail!(
                        "run {} of {} was measured with {threads} threads per inference, more than the {v} vCPU(s) per instance asked for: its latency needs {threads} cores. Measure at {n} thread(s) (inferscope bench MODEL --threads {n} --json results.json) or price --vcpus {threads}",
                        run.run_id,
                        p.display(),
                        n = v.floor().max(1.0)
                    );
                }
                inputs.vcpus = threads;
                source.push_str(&format!(
                    "; {threads} vCPUs per instance, the run's threads per inference"
                ));
            }
            (service, source)
        }
        _ => {
            if a.variant.is_some() {
                bail!("--variant picks a variant's runs from --results; give the results file");
            }
            let ms = a.latency_ms.unwrap_or(100.0);
            if !(ms.is_finite() && ms >= 0.0) {
                bail!("--latency-ms must be a number of at least 0 (got {ms})");
            }
            inputs.serve_typed(ms)
        }
    };
    let mut doc = CostDoc::new(inputs, pricing, &service, source)?;
    doc.served = served;
    if a.export.pdf.is_some() || a.export.png.is_some() {
        let mut study = Study::default();
        if let Some(r) = results {
            study.add(Document::Bench(Box::new(r)));
        }
        study.add(Document::Cost(Box::new(doc.clone())));
        super::write_export(&a.export, &study)?;
    }
    let out = text(&doc);
    match a.json.as_deref() {
        Some(p) if p == Path::new("-") => {
            eprint!("{out}");
            super::write_text(p, &doc.to_json()?)?;
        }
        Some(p) => {
            print!("{out}");
            super::write_text(p, &doc.to_json()?)?;
        }
        None => print!("{out}"),
    }
    Ok(())
}
