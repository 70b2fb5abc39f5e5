//! Our int8 (`--int8`: dynamic, static or their mix, whichever runs faster here and holds
//! cosine 0.99; timed at batch 1, and where the batch is free also at 32 with `--batch 32`)
//! against ONNX Runtime's own tools on the real-model corpus and the assets, side by side in
//! one interleaved run per model and thread setting: `quantize_dynamic` (defaults) and
//! `quantize_static` (QDQ, per-channel, MinMax, calibrated on the same sample data). For each:
//! file size, p50 at batch 1 (and 32 where the batch is free) on ONNX Runtime with one thread
//! and with all (each thread setting one interleaved run), and the outputs' cosine similarity
//! and top-1 agreement with the float model.
//!
//! Run: `cargo bench --bench int8` (needs python3 with onnxruntime 1.31.1, numpy and onnx, which
//! `onnxruntime.quantization` imports; the corpus test subset is fetched by corpus/corpus.py);
//! `INFERSCOPE_INT8_MODELS=magika,cnn` runs only the models whose names start so.

use inferscope::bench::{Plan, StopRule, Warmup};
use inferscope::compare::{self, Comparison, Request};
use inferscope::data::{self, DataSource};
use inferscope::engine::EngineKind;
use inferscope::model::Model;
use inferscope::optimize::Variant;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

/// ONNX Runtime's quantizer from Python: `quantize_dynamic` with its defaults, or
/// `quantize_static` (QDQ, per channel, uint8 activations, int8 weights, MinMax) calibrated on
/// up to 32 samples of `data` (one at a time where the batch is free).
fn theirs(kind: &str, model: &Path, data: &Path, out: &Path) -> Result<PathBuf, String> {
    let script = r#"
import sys, numpy as np, onnxruntime as ort
from onnxruntime.quantization import (quantize_dynamic, quantize_static, QuantFormat, QuantType,
    CalibrationDataReader, CalibrationMethod)
kind, model, data, out = sys.argv[1:5]
if kind == "dynamic":
    quantize_dynamic(model, out)
    sys.exit(0)
d = np.load(data)
s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
inputs = s.get_inputs()
def free(i): return len(i.shape) > 0 and not isinstance(i.shape[0], int)
n = min([d[i.name].shape[0] for i in inputs if free(i) and d[i.name].ndim > 0] or [1])
feeds = [{i.name: (d[i.name][k:k + 1] if free(i) and d[i.name].ndim > 0 else d[i.name]) for i in inputs}
         for k in range(min(n, 32))]
class Reader(CalibrationDataReader):
    def __init__(self): self.it = iter(feeds)
    def get_next(self): return next(self.it, None)
quantize_static(model, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
    calibrate_method=CalibrationMethod.MinMax)
"#;
    let o = Command::new("python3")
        .args(["-c", script, kind])
        .args([model, data, out])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_string());
    }
    Ok(out.to_path_buf())
}

fn compare(
    model: &Model,
    source: &DataSource,
    variants: &[Variant],
    threads: Option<usize>,
    batches: &[usize],
) -> Result<Comparison, String> {
    let samples = data::load(model, source).map_err(|e| format!("{e:#}"))?;
    let mut plan = Plan {
        engines: vec![EngineKind::Ort],
        batch_sizes: batches.iter().map(|&b| Some(b)).collect(),
        warmup: Warmup::Iterations(10),
        // About 2 s per run, at least 30 requests, at most 6 s (the detector at batch 32).
        stop: StopRule::MinTime {
            min_time: std::time::Duration::from_secs(2),
            min_iterations: 30,
            max_time: Some(std::time::Duration::from_secs(6)),
        },
        ..Plan::default()
    };
    plan.engine_options.intra_threads = threads;
    let req = Request {
        model,
        samples: &samples,
        variants,
        plan: &plan,
        importance_threshold: 0.01,
    };
    compare::run(&req, &AtomicBool::new(false), &mut |_| {}, &mut |_| {})
        .map_err(|e| format!("{e:#}"))
}

/// "0.123 ms", or "-" where the batch is fixed or the variant did not run at it.
fn p50(c: &Comparison, variant: &str, batch: usize) -> String {
    c.runs
        .iter()
        .find(|r| r.variant == variant && r.batch_size == batch)
        .map(|r| format!("{:.3} ms", r.latency_p50))
        .unwrap_or_else(|| "-".into())
}

fn main() {
    // Memory and cold start are measured in a process of the real binary, not of this bench.
    std::env::set_var("INFERSCOPE_EXE", env!("CARGO_BIN_EXE_inferscope"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new("python3")
        .arg(root.join("corpus/corpus.py"))
        .args(["fetch", "--subset", "test"])
        .output()
        .expect("python3 runs corpus/corpus.py");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let corpus: Vec<Value> = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let mut cases: Vec<(String, PathBuf, PathBuf)> = vec![
        (
            "mlp (asset)".into(),
            root.join("assets/mlp.onnx"),
            root.join("assets/digits.npz"),
        ),
        (
            "cnn (asset)".into(),
            root.join("assets/cnn.onnx"),
            root.join("assets/digits_images.npz"),
        ),
    ];
    for m in &corpus {
        cases.push((
            m["id"].as_str().unwrap().into(),
            m["model"].as_str().unwrap().into(),
            m["data"].as_str().unwrap().into(),
        ));
    }
    // INFERSCOPE_INT8_MODELS=id,id keeps only those (to redo a few rows).
    if let Ok(only) = std::env::var("INFERSCOPE_INT8_MODELS") {
        let only: Vec<&str> = only.split(',').collect();
        cases.retain(|(id, _, _)| only.iter().any(|o| id.starts_with(o)));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "| model | form | size | p50 b1, 1 thread | p50 b1, all | p50 b32, 1 thread | p50 b32, all | cosine | top-1 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (id, path, data_path) in cases {
        let Ok(model) = Model::load(&path) else {
            continue;
        };
        // Only models with a weight layer are int8's business.
        if !model
            .info
            .op_histogram
            .keys()
            .any(|k| matches!(k.as_str(), "Conv" | "MatMul" | "Gemm"))
        {
            continue;
        }
        let source = DataSource::File {
            path: data_path.clone(),
            label_column: None,
        };
        let samples = match data::load(&model, &source) {
            Ok(s) => s,
            Err(e) => {
                println!("| {id} | - | data: {e:#} |");
                continue;
            }
        };
        let mut variants = Vec::new();
        let mut notes = Vec::new();
        // Ours timed at batch 1 (the default), and where the batch is free, timed at batch 32
        // too (`--batch 32`): a row of its own when it keeps another model.
        let batch_free = model.batch_symbol().is_some();
        // What each of ours kept: the form and the layers it changed (the files' bytes differ
        // by their doc string, which names the spelling).
        let mut kept_as: Vec<(String, Vec<String>)> = Vec::new();
        for (spec, suffix) in [("int8:auto", ""), ("int8:auto:batch=32", ", --batch 32")] {
            if !suffix.is_empty() && !batch_free {
                continue;
            }
            let ours = dir.path().join(format!("{id}.ours{}.onnx", kept_as.len()));
            match inferscope::optimize::rewrite_with(&model, &spec.parse().unwrap(), Some(&samples))
                .and_then(|r| {
                    std::fs::write(&ours, &r.bytes)?;
                    Ok(r)
                }) {
                Ok(r) => {
                    let kept = r
                        .coverage
                        .notes
                        .iter()
                        .find_map(|n| {
                            n.split("; kept ")
                                .nth(1)
                                .and_then(|k| k.split([',', ' ']).next())
                        })
                        .unwrap_or("?")
                        .to_string();
                    let changed = r.coverage.changed.iter().map(|c| c.node.clone()).collect();
                    let key = (kept.clone(), changed);
                    if !kept_as.contains(&key) {
                        variants.push((format!("ours ({kept}{suffix})"), ours.clone()));
                        kept_as.push(key);
                    }
                }
                Err(e) => notes.push(format!("ours{suffix}: {e:#}")),
            }
        }
        for kind in ["dynamic", "static"] {
            let out = dir.path().join(format!("{id}.{kind}.onnx"));
            match theirs(kind, &path, &data_path, &out) {
                Ok(p) => variants.push((format!("quantize_{kind}"), p)),
                Err(e) => notes.push(format!("quantize_{kind}: {e}")),
            }
        }
        let specs: Vec<Variant> = variants
            .iter()
            .map(|(_, p)| Variant::File(p.clone()))
            .collect();
        let batches: Vec<usize> = if batch_free { vec![1, 32] } else { vec![1] };
        let one = compare(&model, &source, &specs, Some(1), &batches);
        let all = compare(&model, &source, &specs, None, &batches);
        let (one, all) = match (one, all) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                println!("| {id} | - | {e} |");
                continue;
            }
        };
        println!(
            "| {id} | float | {} | {} | {} | {} | {} | 1 | 1 |",
            inferscope::format::bytes(model.bytes.len() as u64),
            p50(&one, "original", 1),
            p50(&all, "original", 1),
            p50(&one, "original", 32),
            p50(&all, "original", 32),
        );
        for ((label, _), v) in variants.iter().zip(&all.variants) {
            let f = v.fidelity.as_ref();
            let cosine = f
                .map(|f| f.outputs.iter().map(|o| o.cosine).fold(1.0, f64::min))
                .map(|c| format!("{c:.4}"))
                .unwrap_or_else(|| "-".into());
            let top1 = f
                .and_then(|f| {
                    f.outputs
                        .iter()
                        .filter_map(|o| o.top1_agreement)
                        .reduce(f64::min)
                })
                .map(|t| format!("{:.1}%", t * 100.0))
                .unwrap_or_else(|| "-".into());
            match &v.error {
                Some(e) => println!("| {id} | {label} | - | {e} |"),
                None => println!(
                    "| {id} | {label} | {} | {} | {} | {} | {} | {cosine} | {top1} |",
                    inferscope::format::bytes(v.file_size_bytes),
                    p50(&one, &v.name, 1),
                    p50(&all, &v.name, 1),
                    p50(&one, &v.name, 32),
                    p50(&all, &v.name, 32),
                ),
            }
        }
        for n in notes {
            println!("| {id} | - | {} |", n.replace('|', "/"));
        }
    }
}
