//! Our int8 against ONNX Runtime's `quantize_dynamic` on the same models, side by side in one
//! interleaved run (original, ours, theirs): latency ratio, size ratio, fidelity; plus models
//! where that tool does nothing (weights in `Constant` nodes, in `If` branches). Then
//! structured pruning of half the hidden units of an MLP against the original.
//!
//! Run: `cargo bench --bench variants` (needs python3 with onnxruntime 1.31.1 and numpy).

use inferscope::bench::{Plan, StopRule, Warmup};
use inferscope::compare::{self, Comparison, Request};
use inferscope::data::{self, DataSource, SynthOptions};
use inferscope::engine::EngineKind;
use inferscope::model::Model;
use inferscope::optimize::graph::{constant_node, f32_tensor, node, FLOAT};
use inferscope::optimize::Variant;
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use tract_onnx::pb;

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// An MLP `sizes[0] -> ... -> sizes[n]` (MatMul + Add + Relu), weights as initializers or as
/// `Constant` nodes.
fn mlp(sizes: &[usize], constants: bool) -> Vec<u8> {
    let mut g = pb::GraphProto::default();
    let vi = |name: &str, width: usize| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        pb::tensor_shape_proto::Dimension {
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimParam(
                                "batch".into(),
                            )),
                            ..Default::default()
                        },
                        pb::tensor_shape_proto::Dimension {
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(
                                width as i64,
                            )),
                            ..Default::default()
                        },
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    g.input.push(vi("x", sizes[0]));
    g.output.push(vi("y", *sizes.last().unwrap()));
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let mut x = "x".to_string();
    for (i, w) in sizes.windows(2).enumerate() {
        let scale = (3.0 / w[0] as f32).sqrt();
        let wt: Vec<f32> = (0..w[0] * w[1]).map(|_| rnd() * scale).collect();
        let bt: Vec<f32> = (0..w[1]).map(|_| rnd() * 0.1).collect();
        let (wn, bn) = (format!("w{i}"), format!("b{i}"));
        let tw = f32_tensor(&wn, &[w[0] as i64, w[1] as i64], &wt);
        let tb = f32_tensor(&bn, &[w[1] as i64], &bt);
        if constants {
            g.node.push(constant_node(tw));
            g.node.push(constant_node(tb));
        } else {
            g.initializer.push(tw);
            g.initializer.push(tb);
        }
        let last = i + 2 == sizes.len();
        let (m, a, r) = (format!("mm{i}"), format!("add{i}"), format!("relu{i}"));
        g.node.push(node(
            "MatMul",
            &format!("MatMul{i}"),
            &[&x, &wn],
            &[&m],
            vec![],
        ));
        let out = if last { "y".to_string() } else { a.clone() };
        g.node
            .push(node("Add", &format!("Add{i}"), &[&m, &bn], &[&out], vec![]));
        if !last {
            g.node
                .push(node("Relu", &format!("Relu{i}"), &[&a], &[&r], vec![]));
            x = r;
        }
    }
    pb::ModelProto {
        producer_name: "inferscope-bench".into(),
        ..inferscope::optimize::graph::model_of(g, 17)
    }
    .encode_to_vec()
}

/// ONNX Runtime's `quantize_dynamic` (default settings: per tensor, int8 weights): the path of
/// its model, or why it failed.
fn theirs(model: &Path, out: &Path) -> Result<PathBuf, String> {
    let script = "import sys\nfrom onnxruntime.quantization import quantize_dynamic\nquantize_dynamic(sys.argv[1], sys.argv[2])\n";
    let o = Command::new("python3")
        .args(["-c", script, model.to_str().unwrap(), out.to_str().unwrap()])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_string());
    }
    Ok(out.to_path_buf())
}

fn plan() -> Plan {
    Plan {
        engines: vec![EngineKind::Ort],
        batch_sizes: vec![Some(1), Some(32)],
        warmup: Warmup::Iterations(50),
        stop: StopRule::Iterations(2000),
        ..Plan::default()
    }
}

fn compare(model: &Model, source: &DataSource, variants: &[Variant]) -> Comparison {
    let samples = data::load(model, source).expect("data");
    let p = plan();
    let req = Request {
        model,
        samples: &samples,
        variants,
        plan: &p,
        importance_threshold: 0.01,
    };
    compare::run(&req, &AtomicBool::new(false), &mut |_| {}, &mut |_| {}).expect("compare")
}

fn p50(c: &Comparison, variant: &str, batch: usize) -> Option<f64> {
    c.runs
        .iter()
        .find(|r| r.variant == variant && r.batch_size == batch)
        .map(|r| r.latency_p50)
}

fn main() {
    // Memory and cold start are measured in a process of the real binary, not of this bench.
    std::env::set_var("INFERSCOPE_EXE", env!("CARGO_BIN_EXE_inferscope"));
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("mlp_512x1024x1024x10.onnx");
    std::fs::write(&big, mlp(&[512, 1024, 1024, 10], false)).unwrap();
    let big_c = dir.path().join("mlp_constants.onnx");
    std::fs::write(&big_c, mlp(&[512, 1024, 1024, 10], true)).unwrap();
    let synth = DataSource::Synthetic(SynthOptions {
        samples: 64,
        ..Default::default()
    });
    let file = |p: &str| DataSource::File {
        path: root(p),
        label_column: None,
    };
    let cases: Vec<(String, PathBuf, DataSource)> = vec![
        (
            "digits MLP (asset)".into(),
            root("assets/mlp.onnx"),
            file("assets/digits.npz"),
        ),
        ("MLP 512-1024-1024-10".into(), big.clone(), synth.clone()),
        (
            "same MLP, weights in Constant nodes".into(),
            big_c.clone(),
            synth.clone(),
        ),
        (
            "MatMuls in If branches (Constant nodes)".into(),
            root("tests/data/if_subgraph.onnx"),
            synth.clone(),
        ),
    ];
    println!("int8 on ONNX Runtime: ours against quantize_dynamic (defaults: per tensor, int8 weights), interleaved with the original, 2000 iterations per run");
    println!("ratios are ours / theirs (below 1: ours smaller or faster); fidelity on the worst output\n");
    let ours_specs = ["int8:dynamic", "int8:unsigned", "int8:per-channel"];
    for (name, path, source) in &cases {
        let model = Model::load(path).expect("model");
        let q = dir.path().join(format!("theirs_{}.onnx", model.info.name));
        let mut variants: Vec<Variant> = ours_specs.iter().map(|s| s.parse().unwrap()).collect();
        let their_note = match theirs(path, &q) {
            Ok(p) => {
                let m = Model::load(&p).unwrap();
                let n: usize = m
                    .info
                    .op_histogram
                    .iter()
                    .filter(|(k, _)| {
                        k.contains("MatMulInteger") || k.contains("DynamicQuantizeMatMul")
                    })
                    .map(|(_, n)| n)
                    .sum();
                variants.push(Variant::File(p.clone()));
                if n == 0 {
                    "quantize_dynamic quantized nothing".to_string()
                } else {
                    format!("quantize_dynamic quantized {n} MatMul")
                }
            }
            Err(e) => format!("quantize_dynamic failed: {e}"),
        };
        let c = compare(&model, source, &variants);
        let tname = c.variants.get(ours_specs.len()).map(|v| v.name.clone());
        println!("{name}: {their_note}");
        println!(
            "  {:<18} {:>10} {:>11} {:>11} {:>10} {:>9} {:>9}  {:>9} {:>9} {:>9}",
            "",
            "size",
            "p50 b1 ms",
            "p50 b32 ms",
            "cosine",
            "max|err|",
            "mean|err|",
            "size/th",
            "b1/th",
            "b32/th"
        );
        for v in &c.variants {
            let f = v.fidelity.as_ref().and_then(|f| {
                f.outputs
                    .iter()
                    .min_by(|a, b| a.cosine.total_cmp(&b.cosine))
            });
            let label = if Some(&v.name) == tname.as_ref() {
                "quantize_dynamic".to_string()
            } else {
                v.name.clone()
            };
            let th = tname
                .as_ref()
                .and_then(|t| c.variants.iter().find(|x| &x.name == t));
            let r = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "-".into(),
            };
            println!(
                "  {:<18} {:>10} {:>11.4} {:>11.4} {:>10.6} {:>9.2e} {:>9.2e}  {:>9} {:>9} {:>9}",
                label,
                inferscope::format::bytes(v.file_size_bytes),
                p50(&c, &v.name, 1).unwrap_or(f64::NAN),
                p50(&c, &v.name, 32).unwrap_or(f64::NAN),
                f.map(|f| f.cosine).unwrap_or(f64::NAN),
                f.map(|f| f.max_abs_err).unwrap_or(f64::NAN),
                f.map(|f| f.mean_abs_err).unwrap_or(f64::NAN),
                r(
                    Some(v.file_size_bytes as f64),
                    th.map(|t| t.file_size_bytes as f64)
                ),
                r(
                    p50(&c, &v.name, 1),
                    tname.as_ref().and_then(|t| p50(&c, t, 1))
                ),
                r(
                    p50(&c, &v.name, 32),
                    tname.as_ref().and_then(|t| p50(&c, t, 32))
                ),
            );
        }
        println!(
            "  {:<18} {:>10} {:>11.4} {:>11.4}\n",
            "original",
            inferscope::format::bytes(model.info.file_size_bytes),
            p50(&c, "original", 1).unwrap_or(f64::NAN),
            p50(&c, "original", 32).unwrap_or(f64::NAN)
        );
    }

    println!("\nStructured pruning of half the hidden units (MLP 512-1024-1024-10), interleaved with the original, 2000 iterations per run\n");
    let model = Model::load(&big).unwrap();
    let mut p = plan();
    p.engines = vec![EngineKind::Ort, EngineKind::Tract];
    let samples = data::load(&model, &synth).unwrap();
    let variants = ["prune:0.5:structured".parse::<Variant>().unwrap()];
    let req = Request {
        model: &model,
        samples: &samples,
        variants: &variants,
        plan: &p,
        importance_threshold: 0.01,
    };
    let c = compare::run(&req, &AtomicBool::new(false), &mut |_| {}, &mut |_| {}).unwrap();
    for s in &c.variants[0].speedups {
        println!(
            "{:<12} batch {:>3}: {:.2}x faster [95% {:.2}-{:.2}] (goal: at least 1.6x)",
            s.engine.label(),
            s.batch_size,
            s.p50_ratio,
            s.ci.lo,
            s.ci.hi
        );
    }
}
