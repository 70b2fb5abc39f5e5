//! One truth: what `compare` measures of the original, interleaved with a variant, against what
//! `bench` measures of it alone, with the same settings (the defaults: every core), alternated
//! several times in one run so that drift of the machine hits both alike. The variant is
//! `ort:all`, the same model at the level it already runs at, so the two must agree; before
//! each turn waited for the other session's spinning threads, compare's p95 read 1.6x
//! bench's on a text encoder here. Then the int8 chooser: the time it reports for the form it
//! kept against `bench` of that form, as written.
//!
//! Run: `cargo bench --bench interleave` (needs ONNX Runtime 1.31.1, e.g. `pip install
//! onnxruntime==1.31.1`; the corpus test subset is fetched by corpus/corpus.py).
//! `INFERSCOPE_INTERLEAVE_MODELS=cnn` limits the models (comma-separated ids; `cnn` is the
//! asset).

use inferscope::bench::scheduler::run_model;
use inferscope::bench::{Plan, RunResult};
use inferscope::compare::{self, Request};
use inferscope::data::{self, DataSource, SampleSet};
use inferscope::engine::EngineKind;
use inferscope::model::Model;
use inferscope::optimize::Variant;
use inferscope::settings::BenchSettings;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

const REPEATS: usize = 4;

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The models: the CNN asset and corpus models of the test subset, with their sample data.
fn models() -> Vec<(String, PathBuf, Option<PathBuf>)> {
    let mut out = vec![(
        "cnn".to_string(),
        root("assets/cnn.onnx"),
        Some(root("assets/digits_images.npz")),
    )];
    let o = Command::new("python3")
        .arg(root("corpus/corpus.py"))
        .args(["fetch", "--subset", "test"])
        .output()
        .expect("python3 runs corpus/corpus.py");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let corpus: Vec<Value> = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    for id in ["nudenet-yolov8n", "ppocr-rec"] {
        if let Some(m) = corpus.iter().find(|m| m["id"] == id) {
            out.push((
                id.to_string(),
                m["model"].as_str().unwrap().into(),
                m["data"].as_str().map(PathBuf::from),
            ));
        }
    }
    if let Ok(only) = std::env::var("INFERSCOPE_INTERLEAVE_MODELS") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        out.retain(|(id, _, _)| only.contains(&id.as_str()));
    }
    out
}

/// The default settings' plan on ONNX Runtime at batch 1 (default threads), with 600 requests
/// a run so that a p95 rests on 30 samples above it rather than the default minimum's 5.
fn plan() -> Plan {
    let mut p = BenchSettings::default()
        .to_plan(vec![EngineKind::Ort], false, None)
        .unwrap();
    p.batch_sizes = vec![Some(1)];
    p.stop = inferscope::bench::StopRule::Iterations(600);
    p
}

fn original(runs: &[RunResult]) -> &RunResult {
    runs.iter()
        .find(|r| r.variant == "original")
        .expect("the original ran")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    std::env::set_var("INFERSCOPE_EXE", env!("CARGO_BIN_EXE_inferscope"));
    inferscope::engine::runtime::global(None).expect("ONNX Runtime 1.31.1 is installed");
    println!(
        "| model | bench p50 | bench p95 | compare p50 | compare p95 | p95 compare / bench (median of {REPEATS}: each run) |\n|---|---|---|---|---|---|"
    );
    let mut chooser_rows = Vec::new();
    for (id, path, data_path) in models() {
        let model = Model::load(&path).expect("the model loads");
        let samples: SampleSet = match &data_path {
            Some(d) => data::load(
                &model,
                &DataSource::File {
                    path: d.clone(),
                    label_column: None,
                },
            )
            .unwrap(),
            None => data::load(&model, &DataSource::Synthetic(Default::default())).unwrap(),
        };
        let p = plan();
        let same: Vec<Variant> = vec!["ort:all".parse().unwrap()];
        let (mut ratios, mut cells) = (Vec::new(), Vec::new());
        for rep in 0..REPEATS {
            // Alternately first, so that drift of the machine favours neither.
            let lone = || run_model(&p, &model, &samples, &AtomicBool::new(false), &mut |_| {});
            let early = (rep % 2 == 0).then(lone);
            let cmp = compare::run(
                &Request {
                    model: &model,
                    samples: &samples,
                    variants: &same,
                    plan: &p,
                    importance_threshold: 0.01,
                },
                &AtomicBool::new(false),
                &mut |_| {},
                &mut |_| {},
            )
            .expect("the comparison runs");
            let alone = early.unwrap_or_else(lone);
            let (a, c) = (original(&alone), original(&cmp.runs));
            ratios.push(c.latency_p95 / a.latency_p95);
            cells.push((a.latency_p50, a.latency_p95, c.latency_p50, c.latency_p95));
        }
        let m = |f: fn(&(f64, f64, f64, f64)) -> f64| median(cells.iter().map(f).collect());
        println!(
            "| {id} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.2} ({}) |",
            m(|c| c.0),
            m(|c| c.1),
            m(|c| c.2),
            m(|c| c.3),
            median(ratios.clone()),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );

        // The int8 chooser's time for the form it kept, against bench of that form as written.
        let int8: Variant = "int8:auto".parse().unwrap();
        let built = match inferscope::optimize::build_with(&model, &int8, Some(&samples)) {
            Ok(b) => b,
            Err(e) => {
                chooser_rows.push(format!("| {id} | int8 does not apply: {e:#} | | |"));
                continue;
            }
        };
        let Some(t) = built.coverage.as_ref().and_then(|c| c.chosen_timing) else {
            chooser_rows.push(format!("| {id} | int8 chose without timing | | |"));
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let written = dir.path().join("int8.onnx");
        std::fs::write(&written, built.model.bytes.as_slice()).unwrap();
        let int8_model = Model::load(&written).unwrap();
        let benched = run_model(
            &p,
            &int8_model,
            &samples,
            &AtomicBool::new(false),
            &mut |_| {},
        );
        let b = original(&benched).latency_p50;
        chooser_rows.push(format!(
            "| {id} | {:.3} ms | {b:.3} ms | {:.2} |",
            t.kept_us / 1e3,
            t.kept_us / 1e3 / b
        ));
    }
    println!("\n| model | int8 chooser's time for the kept form | bench p50 of the written file | ratio |\n|---|---|---|---|");
    for r in chooser_rows {
        println!("{r}");
    }
}
