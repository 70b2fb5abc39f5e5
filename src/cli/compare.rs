//! `inferscope compare`: the model against its variants, interleaved.

use super::args::CompareArgs;
use super::bench::{document, say, setup, write_outputs};
use super::progress::Progress;
use crate::compare::table::{self, DetailKind};
use anyhow::{bail, Result};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// What each variant did and how faithful it is, for the terminal.
fn details(c: &crate::compare::Comparison) -> String {
    let mut out = String::new();
    for v in &c.variants {
        let _ = writeln!(out, "\n{}: {}", v.name, v.description);
        for (kind, line) in v.details() {
            let mark = if kind == DetailKind::Problem {
                "! "
            } else {
                ""
            };
            let _ = writeln!(out, "  {mark}{line}");
        }
    }
    if let Some(i) = &c.importance {
        let _ = writeln!(out, "\n{}", i.summary());
    }
    out
}

/// The verdict and the monthly bill of each variant.
fn verdicts(c: &crate::compare::Comparison, preset: &crate::preset::Preset) -> String {
    let mut out = String::from("\nVerdicts\n");
    for v in &c.variants {
        let _ = writeln!(
            out,
            "  {}: {}",
            v.name,
            crate::compare::verdict::verdict(v, c.file_size_bytes).text
        );
    }
    match crate::cost::variants::per_variant(&preset.cost, &preset.pricing, &c.runs) {
        Ok(costs) if !costs.is_empty() => {
            let i = &preset.cost;
            let _ = writeln!(
                out,
                "\nMonthly cost at {} requests/month, {} target {:.0} ms (each variant's fastest batch-1 run)",
                crate::format::count_short(i.monthly_requests),
                i.percentile.label(),
                i.latency_target_ms
            );
            let (header, lines) = crate::cost::variants::text(&costs);
            let _ = writeln!(out, "  {header}");
            for l in lines {
                let _ = writeln!(out, "  {l}");
            }
        }
        Ok(_) => {}
        Err(e) => {
            let _ = writeln!(out, "\nMonthly cost not priced: {e}");
        }
    }
    out
}

pub fn run(a: CompareArgs, ort_path: Option<PathBuf>) -> Result<()> {
    if !(0.0..1.0).contains(&a.importance_threshold) {
        bail!("--importance-threshold is a share between 0 and 1, e.g. 0.01");
    }
    let mut s = setup(&a.bench, ort_path)?;
    if !a.variants.is_empty() {
        s.preset.variants = a.variants.clone();
    }
    s.preset.cost = a.cost.overlay(s.preset.cost.clone());
    let spelled = &s.preset.variants;
    let variants: Vec<crate::optimize::Variant> =
        spelled.iter().map(|v| v.parse()).collect::<Result<_>>()?;
    if variants.is_empty() {
        bail!(
            "say which variants to compare, e.g. --variant int8 --variant prune:0.5:structured (spelled {})",
            crate::optimize::SPELLINGS
        );
    }
    let runs = s.plan.engines.len() * s.plan.batch_sizes.len() * (variants.len() + 1);
    let mut progress = Progress::new(&s.plan, runs);
    let cancel = AtomicBool::new(false);
    let req = crate::compare::Request {
        model: &s.model,
        samples: &s.samples,
        variants: &variants,
        plan: &s.plan,
        importance_threshold: a.importance_threshold,
    };
    let bar = progress.bar.clone();
    let comparison =
        crate::compare::run(&req, &cancel, &mut |step| bar.set_prefix(step), &mut |ev| {
            progress.event(ev)
        })?;
    progress.bar.finish_and_clear();
    let rows = table::rows(
        &comparison.runs,
        &comparison.variants,
        comparison.file_size_bytes,
    );
    let (header, lines) = table::text(&rows);
    say(
        &a.bench,
        &format!("{header}\n{}\n{}\n", lines.join("\n"), table::LEGEND),
    );
    say(&a.bench, &details(&comparison));
    say(&a.bench, &verdicts(&comparison, &s.preset));
    let mut doc = document(&s, &comparison.runs, &progress.failures);
    doc.variants = comparison.variants.clone();
    doc.importance = comparison.importance.clone();
    doc.importance_note = comparison.importance_note.clone();
    doc.notes = s.samples.notes.clone();
    doc.notes.extend(comparison.notes.iter().cloned());
    write_outputs(&a.bench, &doc)?;
    super::bench::check_baseline(&a.bench, &doc)?;
    let broken: Vec<String> = comparison
        .variants
        .iter()
        .filter_map(|v| v.error.as_ref().map(|e| format!("{}: {e}", v.name)))
        .collect();
    if broken.len() == comparison.variants.len() {
        bail!("no variant applies:\n  {}", broken.join("\n  "));
    }
    progress.result()
}
