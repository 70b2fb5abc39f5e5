//! `inferscope bench` against the loop users would otherwise write (Python, onnxruntime,
//! time.perf_counter), on the same model, data, batch and thread count, interleaved so that
//! machine drift hits both alike. Prints the ratio of p50s (ours / Python; lower is better).
//!
//! Run: `cargo bench --bench vs_python` (needs python3 with onnxruntime 1.31.1 and numpy).

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const ROUNDS: usize = 3;
const ITERATIONS: &str = "3000";
const WARMUP: &str = "200";

fn root(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .to_string_lossy()
        .into_owned()
}

fn python_p50(model: &str, data: &str) -> f64 {
    let out = Command::new("python3")
        .args([
            &root("benches/python_loop.py"),
            model,
            data,
            "1",
            "1",
            WARMUP,
            ITERATIONS,
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["p50_ms"].as_f64().expect("p50")
}

fn ours_p50(model: &str, data: &str) -> f64 {
    let out = Command::new(env!("CARGO_BIN_EXE_inferscope"))
        .args([
            "bench",
            model,
            "--engine",
            "ort",
            "--threads",
            "1",
            "--batch",
            "1",
            "--warmup",
            WARMUP,
            "--iterations",
            ITERATIONS,
            "--data",
            data,
            "--json",
            "-",
        ])
        .output()
        .expect("inferscope runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["runs"][0]["latency_p50"].as_f64().expect("p50")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    println!(
        "{:<8} {:>14} {:>14} {:>10}",
        "model", "inferscope p50", "python p50", "ratio"
    );
    for (name, data) in [
        ("logreg", "breast_cancer.npz"),
        ("forest", "breast_cancer.npz"),
        ("mlp", "digits.npz"),
        ("cnn", "digits_images.npz"),
    ] {
        let (model, data) = (
            root(&format!("assets/{name}.onnx")),
            root(&format!("assets/{data}")),
        );
        let mut ours = Vec::new();
        let mut python = Vec::new();
        for _ in 0..ROUNDS {
            python.push(python_p50(&model, &data));
            ours.push(ours_p50(&model, &data));
        }
        let ratios: Vec<f64> = ours.iter().zip(&python).map(|(o, p)| o / p).collect();
        println!(
            "{:<8} {:>11.4} ms {:>11.4} ms {:>9.2}x   (per round: {})",
            name,
            median(ours),
            median(python),
            median(ratios.clone()),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}
