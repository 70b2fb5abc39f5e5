//! The whole corpus of real third-party models (corpus/corpus.py): for each, the operators, ONNX
//! Runtime's and tract's p50 on the model's sample input (or why an engine cannot run it), and
//! what `optimize --int8` (auto, on the sample input) keeps. Prints the coverage table and
//! writes it into docs/corpus.md between the `corpus:start` and `corpus:end` markers.
//!
//! Run: `cargo bench --bench corpus` (downloads about 260 MB into ~/.cache/inferscope/corpus
//! the first time).

use inferscope::bench::scheduler::run_model;
use inferscope::bench::Event;
use inferscope::data::{self, DataSource};
use inferscope::engine::{EngineKind, OptLevel};
use inferscope::model::Model;
use inferscope::settings::{BenchSettings, Stop};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

/// p50 on one engine, or the first line of why it could not run: 30 requests, or as many as
/// 20 s hold on a slow model (a 1024x1024 segmenter on tract takes seconds a request).
fn p50(model: &Model, data: &data::SampleSet, kind: EngineKind) -> Result<(f64, u64), String> {
    let settings = BenchSettings {
        warmup_iterations: 3,
        stop: Stop::MinTime {
            seconds: 0.01,
            min_iterations: 30,
            max_seconds: 20.0,
        },
        opt_level: OptLevel::All,
        ..BenchSettings::default()
    };
    let plan = settings
        .to_plan(vec![kind], true, None)
        .map_err(|e| e.to_string())?;
    let mut failure = None;
    let runs = run_model(&plan, model, data, &AtomicBool::new(false), &mut |e| {
        if let Event::Failed { error, .. } = e {
            failure.get_or_insert(error);
        }
    });
    match runs.first() {
        Some(r) => Ok((r.latency_p50, r.n_iterations)),
        None => Err(failure.unwrap_or_else(|| "no run".into())),
    }
}

/// The reason in a few words: the node and what tract says, without the long symbol algebra.
fn short(reason: &str) -> String {
    let one = reason.lines().next().unwrap_or("").replace('|', "/");
    let one = one
        .strip_prefix("tract: ")
        .or_else(|| one.strip_prefix("ort: "))
        .unwrap_or(&one)
        .to_string();
    let cut: String = one.chars().take(150).collect();
    if cut.len() < one.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn main() {
    // Memory and cold start are measured in a process of the real binary, not of this bench.
    std::env::set_var("INFERSCOPE_EXE", env!("CARGO_BIN_EXE_inferscope"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new("python3")
        .arg(root.join("corpus/corpus.py"))
        .arg("fetch")
        .output()
        .expect("python3 runs corpus/corpus.py");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let models: Vec<Value> = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let mut table = String::from(
        "| model | source | license | size | nodes | what it exercises | ONNX Runtime p50 | tract p50 | int8 |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let (mut ort_ok, mut tract_ok) = (0, 0);
    for m in &models {
        let s = |k: &str| m[k].as_str().unwrap_or("").to_string();
        let model = Model::load(Path::new(&s("model"))).expect("corpus models load");
        let data = data::load(
            &model,
            &DataSource::File {
                path: s("data").into(),
                label_column: None,
            },
        )
        .expect("corpus inputs fit their models");
        let cell = |r: Result<(f64, u64), String>, ok: &mut usize| match r {
            Ok((ms, n)) if n < 30 => {
                *ok += 1;
                format!("{} ({n} requests)", inferscope::format::ms(ms))
            }
            Ok((ms, _)) => {
                *ok += 1;
                inferscope::format::ms(ms)
            }
            Err(e) => format!("no: {}", short(&e)),
        };
        let ort = cell(p50(&model, &data, EngineKind::Ort), &mut ort_ok);
        let tract = cell(p50(&model, &data, EngineKind::Tract), &mut tract_ok);
        // What `optimize --int8` does with the model's own sample data: the form it kept.
        let int8 = match inferscope::optimize::rewrite_with(
            &model,
            &"int8:auto".parse().unwrap(),
            Some(&data),
        ) {
            Ok(r) => {
                let c = &r.coverage;
                let kept = c.kept_form.map(|f| f.to_string()).unwrap_or_default();
                format!(
                    "{kept}: {} of {} layers; {} -> {}",
                    c.changed.len(),
                    c.changed.len() + c.skipped.len(),
                    inferscope::format::bytes(c.file_bytes_before),
                    inferscope::format::bytes(c.file_bytes_after)
                )
            }
            Err(e) => format!("no: {}", short(&format!("{e:#}"))),
        };
        let covers: Vec<&str> = m["covers"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let line = format!(
            "| {} | {} {} ({}) | {} | {} | {} | {} | {} | {} | {} |\n",
            s("id"),
            s("package"),
            s("version"),
            s("registry"),
            s("license"),
            inferscope::format::bytes(m["bytes"].as_u64().unwrap_or(0)),
            model.info.node_count,
            covers.join(", "),
            ort,
            tract,
            int8
        );
        eprint!("{line}");
        table.push_str(&line);
    }
    let summary = format!(
        "\n{} models: ONNX Runtime runs {ort_ok}, tract runs {tract_ok} ({:.0}%). {} on {} ({} logical cores), 30 requests after 3 of warm-up (fewer where 20 s held fewer: the count is given), batch as the sample input holds it.\n",
        models.len(),
        tract_ok as f64 * 100.0 / models.len().max(1) as f64,
        if cfg!(debug_assertions) {
            "Measured by `cargo test --bench corpus` (the engines optimized, the harness not)"
        } else {
            "Measured by `cargo bench --bench corpus`"
        },
        inferscope::environment::Environment::detect(Err(String::new()), None).cpu_model,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    );
    table.push_str(&summary);
    println!("{table}");
    let readme = root.join("docs/corpus.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let (start, end) = ("<!-- corpus:start -->\n", "<!-- corpus:end -->");
    if let (Some(a), Some(b)) = (text.find(start), text.find(end)) {
        let new = format!("{}{start}{table}{}", &text[..a], &text[b..]);
        inferscope::fsutil::write_atomic(&readme, new.as_bytes()).unwrap();
        eprintln!("wrote the table into {}", readme.display());
    }
}
