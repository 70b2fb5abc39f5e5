//! `inferscope bench`, and the set-up `compare` shares with it: the model, the settings
//! (defaults, then the preset, then the flags), the plan and the data.

use super::args::BenchArgs;
use super::progress::Progress;
use crate::bench::{self, Plan, RunResult};
use crate::data::{self, DataSource};
use crate::engine::{self, runtime, EngineKind, EngineOptions};
use crate::environment::Environment;
use crate::model::Model;
use crate::preset::Preset;
use crate::report::{BenchDoc, Document, Study};
use crate::settings::BenchSettings;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// What `bench` and `compare` set up the same way.
pub struct Setup {
    pub model: Model,
    pub plan: Plan,
    pub samples: data::SampleSet,
    /// The study as a preset: the settings, the model and data, and the preset's variants,
    /// cost inputs and prices (`compare` overlays its flags). Results files and reports carry
    /// it, so the study can be run again.
    pub preset: Preset,
}

/// What a command line asks for: the settings (the defaults, overlaid by the preset,
/// overlaid by the flags typed), the model and data (typed, else the preset's), and the
/// variants a preset names.
pub struct Asked {
    pub settings: BenchSettings,
    pub model: Option<PathBuf>,
    pub data: Option<PathBuf>,
    /// The preset given (or the default one): its variants, cost inputs and prices.
    pub preset: Preset,
}

pub fn asked(args: &BenchArgs) -> Result<Asked> {
    let (preset, model, data) = match &args.preset {
        Some(p) => {
            let loaded = super::preset::load(p)?;
            (loaded.preset, loaded.model_path, loaded.data_path)
        }
        None => (Preset::default(), None, None),
    };
    Ok(Asked {
        settings: args.overlay(preset.bench.clone())?,
        model: args.model.clone().or(model),
        data: args.data.clone().or(data),
        preset,
    })
}

/// The plan a command line describes (`ort_path` from the global flag), with the model and
/// data; the window builds its plan from the same settings with the same function.
pub fn setup(args: &BenchArgs, ort_path: Option<PathBuf>) -> Result<Setup> {
    for out in args
        .json
        .iter()
        .chain(args.csv.iter())
        .chain(args.export.pdf.iter())
        .chain(args.export.png.iter())
    {
        super::check_output(out)?;
    }
    let Asked {
        settings,
        model: model_path,
        data: data_path,
        preset,
    } = asked(args)?;
    let model_path = model_path.context("give a model (or a --preset that names one)")?;
    let model = Model::load(&model_path)?;
    let base_options = EngineOptions {
        ort_path: ort_path.clone(),
        ..Default::default()
    };
    let (engines, notice) = engine::resolve_engines(settings.engine, &base_options)?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    let mut plan = settings
        .to_plan(engines, data_path.is_some(), ort_path)
        .map_err(super::args::flag_error)?;
    if settings.default_batches() && data_path.is_none() {
        if let Some(note) = plan.fit_to_fixed_batch(model.fixed_batch()) {
            eprintln!("note: {note}");
        }
    }
    let source = match &data_path {
        Some(p) => DataSource::File {
            path: p.clone(),
            label_column: args.label_column.clone(),
        },
        None => DataSource::Synthetic(settings.synth_options(&plan)),
    };
    let mut samples = data::load(&model, &source)?;
    samples.notes.extend(data::batch_notes(
        &samples,
        &plan.batch_sizes,
        data_path.is_some(),
    ));
    for n in &samples.notes {
        eprintln!("note: {n}");
    }
    // FLOPs per inference at the shapes the requests have, for the JSON and the report.
    let mut model = model;
    let shapes: Vec<Vec<usize>> = samples.inputs.iter().map(|t| t.shape.clone()).collect();
    let dims: Vec<(String, usize)> = settings.dims.clone().into_iter().collect();
    crate::engine::tract::fill_flops(&mut model, &dims, Some(&shapes));
    let preset = Preset {
        bench: settings,
        ..preset
    }
    .with_files(Some(&model_path), data_path.as_deref(), None);
    Ok(Setup {
        model,
        plan,
        samples,
        preset,
    })
}

/// The `bench --json` document for these runs.
pub fn document(s: &Setup, results: &[RunResult], failures: &[String]) -> BenchDoc {
    let ort = match runtime::global(s.plan.engine_options.ort_path.as_deref()) {
        Ok(rt) if s.plan.engines.contains(&EngineKind::Ort) => {
            Ok((rt.version.as_str(), rt.path.as_path()))
        }
        Ok(_) => Err("not used".to_string()),
        Err(e) => Err(format!("{e:#}")),
    };
    BenchDoc {
        version: crate::report::doc::DOC_VERSION,
        environment: Some(Environment::detect(ort, Some(&s.model.info.sha256))),
        model: Some(s.model.info.clone()),
        data: s.samples.description.clone(),
        plan: Some(s.plan.clone()),
        runs: results.to_vec(),
        failures: failures.to_vec(),
        preset: Some(s.preset.clone()),
        notes: s.samples.notes.clone(),
        ..BenchDoc::default()
    }
}

/// Writes the JSON, CSV and report files `args` asks for.
pub fn write_outputs(args: &BenchArgs, doc: &BenchDoc) -> Result<()> {
    if let Some(p) = &args.json {
        super::write_text(p, &doc.to_json()?)?;
    }
    if let Some(p) = &args.csv {
        crate::fsutil::write_atomic(p, bench::table::csv(&doc.runs)?.as_bytes())?;
    }
    if args.export.pdf.is_some() || args.export.png.is_some() {
        let mut study = Study {
            latency_target_ms: crate::cost::plan::CostInputs::default().latency_target_ms,
            ..Default::default()
        };
        study.add(Document::Bench(Box::new(doc.clone())));
        super::write_export(&args.export, &study)?;
    }
    Ok(())
}

/// Prints to stdout, or to stderr when stdout carries the JSON.
pub fn say(args: &BenchArgs, text: &str) {
    if args.json.as_deref() == Some(Path::new("-")) {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}

pub fn run(args: BenchArgs, ort_path: Option<PathBuf>) -> Result<()> {
    let s = setup(&args, ort_path)?;
    let runs = s.plan.engines.len() * s.plan.batch_sizes.len();
    let mut progress = Progress::new(&s.plan, runs);
    let cancel = AtomicBool::new(false);
    let results = bench::scheduler::run_model(&s.plan, &s.model, &s.samples, &cancel, &mut |ev| {
        progress.event(ev)
    });
    progress.bar.finish_and_clear();
    say(&args, &bench::table::with_warnings(&results));
    let mut doc = document(&s, &results, &progress.failures);
    doc.notes.extend(progress.skipped.iter().cloned());
    write_outputs(&args, &doc)?;
    progress.result()?;
    check_baseline(&args, &doc)
}

/// With `--baseline`: prints each run's change against it, and fails with
/// [`bench::baseline::Regressed`] (exit code 3) on a significant slowdown beyond
/// `--fail-if-slower`.
pub fn check_baseline(args: &BenchArgs, doc: &BenchDoc) -> Result<()> {
    let Some(p) = &args.baseline else {
        return Ok(());
    };
    let old = BenchDoc::read(p).with_context(|| format!("reading the baseline {}", p.display()))?;
    let v = bench::baseline::against(&old, doc, args.fail_if_slower.unwrap_or(0.0));
    say(args, &v.text());
    if v.changes.is_empty() {
        anyhow::bail!(
            "no run matches the baseline {} (runs are matched by variant, engine, batch size and concurrency)",
            p.display()
        );
    }
    let slow = v.regressions();
    if args.fail_if_slower.is_some() && !slow.is_empty() {
        return Err(bench::baseline::Regressed(format!(
            "slower than the baseline {}: {}",
            p.display(),
            slow.iter()
                .map(|c| format!("{} {:+.1}%", c.run, (c.ratio - 1.0) * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    Ok(())
}
