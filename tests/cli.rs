//! The real binary, as a user runs it: every asset on both engines, and every kind of bad input.

mod common;

use inferscope::data::npy::to_npy;
use inferscope::tensor::{Tensor, TensorData};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_inferscope"))
}

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
fn fails_with(o: &Output, needles: &[&str]) {
    let t = text(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected a clean failure, got:\n{t}"
    );
    assert!(
        !t.contains("panicked") && !t.contains(inferscope::guard::INTERNAL_ERROR),
        "panic:\n{t}"
    );
    for n in needles {
        assert!(t.contains(n), "missing '{n}' in:\n{t}");
    }
}

/// The panic check above fires on what the binary prints for a caught panic.
#[test]
fn the_panic_check_catches_a_caught_panic() {
    use std::os::unix::process::ExitStatusExt;
    let e = inferscope::guard::catch("testing the check", || -> anyhow::Result<()> {
        panic!("boom")
    })
    .unwrap_err();
    let printed = Output {
        status: std::process::ExitStatus::from_raw(1 << 8),
        stdout: Vec::new(),
        stderr: format!("Error: {e:#}\n").into_bytes(),
    };
    assert_eq!(printed.status.code(), Some(1));
    let check = std::panic::catch_unwind(|| fails_with(&printed, &["boom"]));
    assert!(check.is_err(), "fails_with passed a caught panic");
}

#[track_caller]
fn succeeds(o: &Output) -> String {
    let t = text(o);
    assert!(o.status.success(), "failed:\n{t}");
    t
}

/// Files without a command open the window; a name that is neither a file nor a command is
/// refused before any window opens (a typo in CI fails fast, with the reason).
#[test]
fn a_mistyped_command_is_refused_not_opened() {
    let o = run(&["bnech", "assets/mlp.onnx"]);
    fails_with(&o, &["no such file or command: bnech", "inferscope --help"]);
}

#[test]
fn inspect_shows_every_asset() {
    for (name, expect) in [
        ("assets/mlp.onnx", "float32[?, 64]"),
        ("assets/forest.onnx", "ai.onnx.ml:TreeEnsembleClassifier"),
        ("assets/cnn.onnx", "float32[batch, 1, 8, 8]"),
        ("assets/logreg.onnx", "ai.onnx.ml:LinearClassifier"),
        ("tests/data/multi_io.onnx", "bool[n_docs, doc len]"),
        ("tests/data/sequence_output.onnx", "seq(tensor(float32))"),
    ] {
        let out = succeeds(&run(&["inspect", root(name).to_str().unwrap()]));
        assert!(out.contains(expect), "{name}: {out}");
        assert!(out.contains("sha256"), "{out}");
    }
    let o = run(&[
        "inspect",
        "--json",
        root("assets/cnn.onnx").to_str().unwrap(),
    ]);
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    // conv1: 16x1x3x3 at 8x8, conv2: 32x16x3x3 at 4x4, fc: 512x10 -> 2 x multiply-adds.
    assert_eq!(j["flops"], 2 * (16 * 9 * 64 + 32 * 16 * 9 * 16 + 512 * 10));
    assert_eq!(
        j["parameter_count"],
        16 * 9 + 16 + 32 * 16 * 9 + 32 + 512 * 10 + 10
    );
    assert_eq!(j["inputs"][0]["shape"][0], "batch");
}

fn bench_json(model: &str, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let mut args = vec![
        "bench",
        model,
        "--iterations",
        "60",
        "--warmup",
        "3",
        "--json",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    succeeds(&run(&args));
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

#[test]
fn bench_runs_every_asset_on_both_engines() {
    for (model, data) in [
        ("assets/mlp.onnx", "assets/digits.npz"),
        ("assets/cnn.onnx", "assets/digits_images.npz"),
        ("assets/forest.onnx", "assets/breast_cancer.npz"),
        ("assets/logreg.onnx", "assets/breast_cancer.npz"),
    ] {
        let j = bench_json(
            root(model).to_str().unwrap(),
            &[
                "--engine",
                "both",
                "--data",
                root(data).to_str().unwrap(),
                "--batch",
                "1,32",
            ],
        );
        let runs = j["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 4, "{model}");
        let engines: Vec<&str> = runs.iter().map(|r| r["engine"].as_str().unwrap()).collect();
        assert_eq!(engines, ["ort", "ort", "tract", "tract"]);
        for r in runs {
            for k in [
                "model_name",
                "batch_size",
                "n_iterations",
                "latency_mean",
                "latency_p50",
                "latency_p95",
                "latency_p99",
                "latency_std",
                "throughput_rps",
                "memory_mb",
            ] {
                assert!(!r[k].is_null(), "{model}: no {k}");
            }
            let f = |k: &str| r[k].as_f64().unwrap();
            assert!(
                f("latency_p50") <= f("latency_p95")
                    && f("latency_p95") <= f("latency_p99")
                    && f("latency_p99") <= f("latency_max")
            );
            let per_request = f("batch_size") / (f("latency_mean") / 1e3);
            assert!(
                f("throughput_rps") <= per_request * 1.001
                    && f("throughput_rps") > per_request * 0.1,
                "{model}: {r}"
            );
            assert_eq!(r["n_iterations"], 60);
        }
        let env = &j["environment"];
        assert_eq!(env["onnxruntime_version"].as_str().unwrap(), "1.31.1");
        assert_eq!(env["model_sha256"], j["model"]["sha256"]);
        assert!(env["cpu_isa"].is_array() && env["logical_cores"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn data_as_given_and_csv_with_labels() {
    let j = bench_json(
        root("assets/logreg.onnx").to_str().unwrap(),
        &[
            "--engine",
            "tract",
            "--data",
            root("assets/breast_cancer.csv").to_str().unwrap(),
            "--label-column",
            "label",
        ],
    );
    assert_eq!(
        j["runs"][0]["batch_size"], 171,
        "one request holds all CSV rows as given"
    );
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("runs.csv");
    let o = run(&[
        "bench",
        root("assets/mlp.onnx").to_str().unwrap(),
        "--engine",
        "tract",
        "--batch",
        "4",
        "--iterations",
        "20",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    succeeds(&o);
    let body = std::fs::read_to_string(&csv).unwrap();
    assert!(
        body.starts_with("model_name,engine,variant,batch_size"),
        "{body}"
    );
    assert_eq!(body.lines().count(), 2);
    // A named output is replaced, as a re-run in CI expects (atomically: no temp file left).
    let o = run(&[
        "bench",
        root("assets/mlp.onnx").to_str().unwrap(),
        "--engine",
        "tract",
        "--iterations",
        "5",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    succeeds(&o);
    let body = std::fs::read_to_string(&csv).unwrap();
    assert!(body.lines().nth(1).unwrap().contains(",5,"), "{body}");
    assert_eq!(
        std::fs::read_dir(csv.parent().unwrap()).unwrap().count(),
        1,
        "only the CSV in its folder"
    );
    // An output in a folder that does not exist is refused before any work is done.
    let o = run(&[
        "bench",
        root("assets/mlp.onnx").to_str().unwrap(),
        "--csv",
        "/nowhere/at/all/r.csv",
    ]);
    fails_with(&o, &["/nowhere/at/all", "does not exist"]);
}

#[test]
fn unusual_models_run_and_json_goes_to_stdout() {
    let o = run(&[
        "bench",
        root("tests/data/multi_io.onnx").to_str().unwrap(),
        "--engine",
        "both",
        "--batch",
        "2",
        "--dim",
        "doc len=16",
        "--iterations",
        "20",
        "--json",
        "-",
    ]);
    let j: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(j["runs"].as_array().unwrap().len(), 2);
    for m in ["tests/data/if_subgraph.onnx", "tests/data/recurrent.onnx"] {
        succeeds(&run(&[
            "bench",
            root(m).to_str().unwrap(),
            "--engine",
            "both",
            "--batch",
            "1,4",
            "--iterations",
            "20",
        ]));
    }
    succeeds(&run(&[
        "bench",
        root("tests/data/sequence_output.onnx").to_str().unwrap(),
        "--engine",
        "ort",
        "--iterations",
        "20",
        "--batch",
        "3",
    ]));
}

#[test]
fn an_op_tract_lacks_is_named_and_the_other_engine_suggested() {
    let m = root("tests/data/tract_unsupported.onnx");
    fails_with(
        &run(&[
            "bench",
            m.to_str().unwrap(),
            "--engine",
            "tract",
            "--iterations",
            "5",
        ]),
        &["Det", "--engine ort"],
    );
    succeeds(&run(&[
        "bench",
        m.to_str().unwrap(),
        "--engine",
        "ort",
        "--iterations",
        "5",
        "--batch",
        "2",
    ]));
}

#[test]
fn bad_model_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(root("assets/mlp.onnx")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("empty.onnx", vec![], "empty"),
        (
            "truncated.onnx",
            good[..good.len() / 3].to_vec(),
            "truncated",
        ),
        ("text.onnx", b"name,value\nx,1\n".to_vec(), "not"),
    ];
    for (name, bytes, needle) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        for cmd in ["inspect", "bench"] {
            fails_with(&run(&[cmd, p.to_str().unwrap()]), &[needle, name]);
        }
    }
    fails_with(
        &run(&["inspect", dir.path().join("missing.onnx").to_str().unwrap()]),
        &["cannot read", "missing.onnx"],
    );
}

fn write_npy(dir: &Path, name: &str, t: Tensor) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, to_npy(&t)).unwrap();
    p
}

#[test]
fn bad_data_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mlp = root("assets/mlp.onnx");
    let bench = |data: &Path| {
        run(&[
            "bench",
            mlp.to_str().unwrap(),
            "--engine",
            "tract",
            "--iterations",
            "5",
            "--data",
            data.to_str().unwrap(),
        ])
    };
    let wrong_shape = write_npy(
        dir.path(),
        "shape.npy",
        Tensor::new(vec![4, 63], TensorData::F32(vec![0.5; 252])).unwrap(),
    );
    fails_with(&bench(&wrong_shape), &["expects shape", "[4, 63]"]);
    let wrong_dtype = write_npy(
        dir.path(),
        "dtype.npy",
        Tensor::new(vec![4, 64], TensorData::F64(vec![0.5; 256])).unwrap(),
    );
    fails_with(
        &bench(&wrong_dtype),
        &["expects float32", "float64", "astype"],
    );
    let mut v = vec![0.5f32; 256];
    v[130] = f32::NAN;
    let nan = write_npy(
        dir.path(),
        "nan.npy",
        Tensor::new(vec![4, 64], TensorData::F32(v)).unwrap(),
    );
    // NaN is a value (a missing one, to tree ensembles): fed, and the run says how much.
    let printed = succeeds(&bench(&nan));
    assert!(
        printed.contains("holds 1 NaN (0.4% of its values): fed as given"),
        "{printed}"
    );
    let not_npy = dir.path().join("x.npy");
    std::fs::write(&not_npy, b"1,2,3").unwrap();
    fails_with(&bench(&not_npy), &["not a NumPy"]);
    let odd = dir.path().join("x.parquet");
    std::fs::write(&odd, b"PAR1").unwrap();
    fails_with(&bench(&odd), &[".npz"]);
    let bad_csv = dir.path().join("x.csv");
    std::fs::write(&bad_csv, "a,b\n1,2\n").unwrap();
    fails_with(&bench(&bad_csv), &["2 feature columns", "expects 64"]);
    // A fixed batch dimension cannot be batched.
    let fixed = root("tests/data/fixed_batch.onnx");
    fails_with(
        &run(&[
            "bench",
            fixed.to_str().unwrap(),
            "--batch",
            "8",
            "--iterations",
            "5",
        ]),
        &["fixed batch dimension"],
    );
    // Without --batch, the default sweep shrinks to the model's own batch size, and says so.
    let o = run(&[
        "bench",
        fixed.to_str().unwrap(),
        "--engine",
        "tract",
        "--iterations",
        "5",
    ]);
    let t = succeeds(&o);
    assert!(
        t.contains("fixed batch size of 1: running batch 1 only (not 8, 32, 64)"),
        "{t}"
    );
    fails_with(
        &run(&["bench", mlp.to_str().unwrap(), "--batch", "0"]),
        &["at least 1"],
    );
    fails_with(
        &run(&["bench", mlp.to_str().unwrap(), "--warmup", "soon"]),
        &["not a duration"],
    );
    // Values that would overflow a duration or an element count: refused, not a panic.
    fails_with(
        &run(&["bench", mlp.to_str().unwrap(), "--duration", "1e300s"]),
        &["--duration", "not a duration"],
    );
    fails_with(
        &run(&["bench", mlp.to_str().unwrap(), "--warmup", "1e300s"]),
        &["--warmup"],
    );
    fails_with(
        &run(&[
            "bench",
            root("tests/data/multi_io.onnx").to_str().unwrap(),
            "--batch",
            "65536",
            "--dim",
            "doc len=10000000",
        ]),
        &["too large to synthesize"],
    );
}

#[test]
fn without_onnx_runtime_the_user_is_told_and_tract_is_used() {
    let mlp = root("assets/mlp.onnx");
    let no_ort = |args: &[&str]| {
        bin()
            .args(args)
            .env("INFERSCOPE_ORT_SEARCH", "explicit")
            .env_remove("ORT_DYLIB_PATH")
            .output()
            .unwrap()
    };
    let o = no_ort(&[
        "bench",
        mlp.to_str().unwrap(),
        "--iterations",
        "5",
        "--batch",
        "1",
        "--json",
        "-",
    ]);
    let t = succeeds(&o);
    assert!(
        t.contains("No compatible ONNX Runtime") && t.contains("Using tract"),
        "{t}"
    );
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["runs"][0]["engine"], "tract");
    assert!(j["environment"]["onnxruntime_problem"]
        .as_str()
        .unwrap()
        .contains("runtime install"));
    fails_with(
        &no_ort(&[
            "bench",
            mlp.to_str().unwrap(),
            "--engine",
            "ort",
            "--iterations",
            "5",
        ]),
        &["No compatible ONNX Runtime", "inferscope runtime install"],
    );
    let t = succeeds(&no_ort(&["runtime"]));
    assert!(
        t.contains("No compatible ONNX Runtime") && t.contains("tract"),
        "{t}"
    );
    // An explicit library that is not ONNX Runtime, or not there.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"not a library").unwrap();
    fails_with(
        &run(&[
            "--ort-path",
            fake.to_str().unwrap(),
            "bench",
            mlp.to_str().unwrap(),
            "--engine",
            "ort",
        ]),
        &["cannot be loaded", "libonnxruntime.so"],
    );
    fails_with(
        &run(&[
            "--ort-path",
            "/nowhere/libonnxruntime.so",
            "bench",
            mlp.to_str().unwrap(),
            "--engine",
            "ort",
        ]),
        &["no such file"],
    );
}

#[test]
fn runtime_reports_what_it_found() {
    let t = succeeds(&run(&["runtime"]));
    assert!(
        t.contains("ONNX Runtime 1.31.1 at") && t.contains("CPUExecutionProvider"),
        "{t}"
    );
}

/// Downloads the wheel from PyPI with pip: the same route a user's first install takes.
#[test]
fn runtime_install_puts_a_working_library_in_the_user_folder() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["runtime", "install"])
        .env("INFERSCOPE_DATA_DIR", dir.path())
        .output()
        .unwrap();
    let t = succeeds(&o);
    assert!(t.contains("Installed ONNX Runtime 1.31.1"), "{t}");
    let lib = dir.path().join("onnxruntime/libonnxruntime.so.1.31.1");
    assert!(lib.exists(), "{t}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("onnxruntime"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the library is left: {leftovers:?}"
    );
    let o = bin()
        .args(["runtime"])
        .env("INFERSCOPE_DATA_DIR", dir.path())
        .env("INFERSCOPE_ORT_SEARCH", "user")
        .output()
        .unwrap();
    let t = succeeds(&o);
    assert!(
        t.contains(lib.to_str().unwrap()) && t.contains("per-user data folder"),
        "{t}"
    );
}

/// The reference figures, to the cent, through the real binary.
#[test]
fn cost_reproduces_the_reference_figures() {
    let o = run(&[
        "cost",
        "--monthly-requests",
        "1000000",
        "--latency-ms",
        "100",
        "--memory-mb",
        "256",
        "--instances",
        "2",
        "--vcpus",
        "1",
        "--instance-memory-gb",
        "2",
        "--json",
        "-",
    ]);
    let j: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let tier = |name: &str| {
        j["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tier"] == name)
            .unwrap()
            .clone()
    };
    let cents = |v: &Value| (v.as_f64().unwrap() * 100.0).round() / 100.0;
    let s = tier("serverless");
    assert_eq!(
        (
            cents(&s["compute_cost"]),
            cents(&s["network_cost"]),
            cents(&s["total_cost"])
        ),
        (0.62, 1.00, 1.62)
    );
    let c = tier("container");
    assert_eq!(
        (
            cents(&c["compute_cost"]),
            cents(&c["storage_cost"]),
            cents(&c["total_cost"])
        ),
        (70.08, 2.00, 73.08)
    );
    let k = tier("kubernetes");
    assert_eq!(
        (
            cents(&k["compute_cost"]),
            cents(&k["storage_cost"]),
            cents(&k["total_cost"])
        ),
        (159.60, 2.00, 162.60)
    );
    for t in j["tiers"].as_array().unwrap() {
        for k in [
            "tier",
            "compute_cost",
            "storage_cost",
            "network_cost",
            "total_cost",
            "cost_per_1k_requests",
            "instances",
            "feasible",
            "reason",
        ] {
            assert!(!t[k].is_null(), "no {k} in {t}");
        }
    }
    assert_eq!(j["recommendation"]["rule_of_thumb"], "container");
    fails_with(
        &run(&["cost", "--monthly-requests=-5"]),
        &["monthly requests", "between 0"],
    );
    fails_with(&run(&["cost", "--latency-ms", "NaN"]), &["--latency-ms"]);
}

/// The planner reads a run's latency distribution from `bench --json`.
#[test]
fn cost_uses_a_measured_run() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    succeeds(&run(&[
        "bench",
        root("assets/mlp.onnx").to_str().unwrap(),
        "--engine",
        "tract",
        "--batch",
        "1,8",
        "--iterations",
        "300",
        "--json",
        results.to_str().unwrap(),
    ]));
    let o = run(&[
        "cost",
        "--results",
        results.to_str().unwrap(),
        "--monthly-requests",
        "5000000",
        "--json",
        "-",
    ]);
    let j: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert!(
        j["service_source"].as_str().unwrap().contains("batch 1"),
        "{}",
        j["service_source"]
    );
    assert!(
        j["recommendation"]["tier"].is_string(),
        "{}",
        j["recommendation"]
    );
    assert!(j["inputs"]["model_memory_mb"].as_f64().unwrap() > 1.0);
    fails_with(
        &run(&["cost", "--results", results.to_str().unwrap(), "--run", "7"]),
        &["no run 7"],
    );
    fails_with(
        &run(&[
            "cost",
            "--results",
            root("assets/mlp.onnx").to_str().unwrap(),
        ]),
        &["not JSON"],
    );
}

/// Every shipped preset loads and runs a benchmark as it stands; flags typed beside it win.
#[test]
fn shipped_presets_load_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<PathBuf> = std::fs::read_dir(root("presets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    for p in &names {
        let ps = p.to_str().unwrap();
        let t = succeeds(&run(&["preset", "check", ps]));
        assert!(t.contains("a valid preset (schema version 3)"), "{t}");
        let out = dir.path().join("r.json");
        succeeds(&run(&[
            "bench",
            "--preset",
            ps,
            root("assets/logreg.onnx").to_str().unwrap(),
            "--json",
            out.to_str().unwrap(),
            "--force",
        ]));
        let j: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        let preset = inferscope::preset::Preset::load(p).unwrap().preset;
        let runs = j["runs"].as_array().unwrap();
        let batches: std::collections::BTreeSet<u64> = runs
            .iter()
            .map(|r| r["batch_size"].as_u64().unwrap())
            .collect();
        let want: std::collections::BTreeSet<u64> =
            preset.bench.batch_sizes.iter().map(|&b| b as u64).collect();
        assert_eq!(batches, want, "{}", p.display());
        for r in runs {
            assert_eq!(
                r["concurrency"].as_u64().unwrap(),
                preset.bench.concurrency as u64
            );
        }
    }
    // A flag typed on the command line overrides the preset.
    let out = dir.path().join("o.json");
    succeeds(&run(&[
        "bench",
        "--preset",
        root("presets/thorough.ron").to_str().unwrap(),
        root("assets/logreg.onnx").to_str().unwrap(),
        "--engine",
        "tract",
        "--batch",
        "4",
        "--iterations",
        "50",
        "--json",
        out.to_str().unwrap(),
    ]));
    let j: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let runs = j["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["batch_size"], 4);
    assert_eq!(runs[0]["n_iterations"], 50);
    assert_eq!(runs[0]["engine"], "tract");
}

/// A preset carries a study: the model (relative to the preset), the cost inputs and the
/// pricing table; old versions migrate, broken ones say where.
#[test]
fn presets_carry_models_costs_and_prices() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("models").join("m.onnx");
    std::fs::create_dir_all(model.parent().unwrap()).unwrap();
    std::fs::copy(root("assets/logreg.onnx"), &model).unwrap();
    let preset = dir.path().join("study").join("s.ron");
    std::fs::create_dir_all(preset.parent().unwrap()).unwrap();
    std::fs::write(
        &preset,
        r#"(
    version: 2,
    name: "study",
    model: (path: "../models/m.onnx"),
    bench: (engine: tract, batch_sizes: [2], stop: Iterations(40)),
    cost: (monthly_requests: 2000000.0, budget_usd: 50.0, percentile: p99),
    pricing: (serverless_usd_per_million_requests: 0.4),
)"#,
    )
    .unwrap();
    let ps = preset.to_str().unwrap();
    // The model comes from the preset, found relative to it.
    let t = succeeds(&run(&["inspect", "--preset", ps]));
    assert!(t.contains("m"), "{t}");
    let out = dir.path().join("r.json");
    succeeds(&run(&[
        "bench",
        "--preset",
        ps,
        "--json",
        out.to_str().unwrap(),
    ]));
    let j: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(j["runs"][0]["batch_size"], 2);
    assert_eq!(j["runs"][0]["n_iterations"], 40);
    // Cost inputs and prices from the preset; a typed flag wins.
    let o = run(&[
        "cost",
        "--preset",
        ps,
        "--latency-ms",
        "100",
        "--budget",
        "80",
        "--json",
        "-",
    ]);
    let j: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(j["inputs"]["monthly_requests"], 2e6);
    assert_eq!(j["inputs"]["percentile"], "p99");
    assert_eq!(j["inputs"]["budget_usd"], 80.0);
    assert_eq!(j["pricing"]["serverless_usd_per_million_requests"], 0.4);
    // Serverless compute at 2M requests, 100 ms, 256 MB with the preset's request price:
    // 2 x 0.40 + 2e6 x 0.1 s x 0.25 GB x 0.0000166667 = 0.80 + 0.83 = 1.63.
    let s = &j["tiers"][0];
    assert_eq!(s["tier"], "serverless");
    assert!(
        (s["compute_cost"].as_f64().unwrap() - 1.633).abs() < 0.001,
        "{s}"
    );
    // Version 1 loads, migrated, with a warning.
    let old = dir.path().join("old.ron");
    std::fs::write(
        &old,
        r#"(version: 1, engine: tract, batch_sizes: Some("1, 4"), iterations: Some(30))"#,
    )
    .unwrap();
    let t = succeeds(&run(&["preset", "show", old.to_str().unwrap()]));
    assert!(
        t.contains("version: 3") && t.contains("Iterations(30)"),
        "{t}"
    );
    assert!(t.contains("migrated"), "{t}");
    // Broken presets: the line, the column and the field.
    let bad = dir.path().join("bad.ron");
    std::fs::write(
        &bad,
        "(\n  version: 2,\n  bench: (concurrency: \"four\"),\n)",
    )
    .unwrap();
    fails_with(
        &run(&["preset", "check", bad.to_str().unwrap()]),
        &["line 3, column 23", "concurrency"],
    );
    std::fs::write(&bad, "(\n  version: 2,\n  run_command: \"rm -rf /\",\n)").unwrap();
    fails_with(
        &run(&[
            "bench",
            "--preset",
            bad.to_str().unwrap(),
            root("assets/logreg.onnx").to_str().unwrap(),
        ]),
        &["line 3", "run_command"],
    );
    std::fs::write(&bad, "(version: 2, cost: (cache_hit_rate: 2.0))").unwrap();
    fails_with(
        &run(&["cost", "--preset", bad.to_str().unwrap()]),
        &["cache hit rate must be between 0 and 1"],
    );
    fails_with(
        &run(&[
            "preset",
            "check",
            root("assets/logreg.onnx").to_str().unwrap(),
        ]),
        &["not a valid preset"],
    );
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

/// Reports: the PDF renders page by page with pdftoppm and its text (found by pdftotext) holds
/// the key numbers; the PNG summary decodes at its size; nothing is overwritten silently.
#[test]
fn reports_render_and_hold_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    succeeds(&run(&[
        "bench",
        root("assets/mlp.onnx").to_str().unwrap(),
        "--engine",
        "tract",
        "--batch",
        "1,8",
        "--iterations",
        "200",
        "--json",
        &d("r.json"),
        "--pdf",
        &d("bench.pdf"),
    ]));
    succeeds(&run(&[
        "cost",
        "--results",
        &d("r.json"),
        "--monthly-requests",
        "3000000",
        "--json",
        &d("c.json"),
        "--png",
        &d("cost.png"),
    ]));
    succeeds(&run(&[
        "report",
        &d("r.json"),
        &d("c.json"),
        "--pdf",
        &d("all.pdf"),
        "--png",
        &d("all.png"),
    ]));
    let results: Value = serde_json::from_slice(&std::fs::read(d("r.json")).unwrap()).unwrap();
    let cost: Value = serde_json::from_slice(&std::fs::read(d("c.json")).unwrap()).unwrap();
    for pdf in ["bench.pdf", "all.pdf"] {
        // Every page renders.
        let out = Command::new("pdftoppm")
            .args(["-r", "40", "-png", &d(pdf), &d(&format!("{pdf}-page"))])
            .output()
            .expect("pdftoppm (poppler-utils) is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pages: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{pdf}-page"))
            })
            .collect();
        assert!(pages.len() >= 2, "{pdf}: {} pages", pages.len());
        for p in &pages {
            let (w, h) = png_size(&std::fs::read(p.path()).unwrap());
            assert!(w > 300 && h > w, "{pdf}: a portrait page, got {w}x{h}");
        }
        // The text is real text, with the numbers in it.
        let out = Command::new("pdftotext")
            .args([&d(pdf), "-"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(results["model"]["sha256"].as_str().unwrap()),
            "{pdf}"
        );
        for r in results["runs"].as_array().unwrap() {
            let p50 = format!("{:.3}", r["latency_p50"].as_f64().unwrap());
            assert!(text.contains(&p50), "{pdf}: p50 {p50} missing");
        }
        assert!(
            text.contains("Methods") && text.contains("Production checklist"),
            "{pdf}"
        );
        if pdf == "all.pdf" {
            let total = cost["tiers"][1]["total_cost"].as_f64().unwrap();
            assert!(
                text.contains(&format!("{total:.2}")),
                "container total {total:.2}"
            );
            assert!(text.contains("Recommendation:"));
        } else {
            assert!(
                text.contains("Not part of this study"),
                "the missing cost section says so"
            );
        }
    }
    assert_eq!(png_size(&std::fs::read(d("all.png")).unwrap()), (1600, 900));
    assert_eq!(
        png_size(&std::fs::read(d("cost.png")).unwrap()),
        (1600, 900)
    );
    // A named output is replaced.
    let before = std::fs::read(d("all.pdf")).unwrap();
    succeeds(&run(&["report", &d("r.json"), "--pdf", &d("all.pdf")]));
    assert_ne!(
        std::fs::read(d("all.pdf")).unwrap(),
        before,
        "bench-only report"
    );
    fails_with(&run(&["report", &d("r.json")]), &["--pdf"]);
    fails_with(
        &run(&[
            "report",
            root("assets/mlp.onnx").to_str().unwrap(),
            "--pdf",
            &d("x.pdf"),
        ]),
        &["not JSON"],
    );
}

/// `compare`: every variant benchmarked interleaved with the original on both engines, with
/// fidelity, speedups and importance in the JSON and the report; one that does not apply says
/// so without failing the others.
#[test]
fn compare_runs_variants_with_fidelity_speedups_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.json");
    let pdf = dir.path().join("c.pdf");
    let t = succeeds(&run(&[
        "compare",
        root("assets/mlp.onnx").to_str().unwrap(),
        "--data",
        root("assets/digits.npz").to_str().unwrap(),
        "--engine",
        "both",
        "--batch",
        "1,32",
        "--iterations",
        "100",
        "--warmup",
        "5",
        "--variant",
        "int8:per-channel",
        "--variant",
        "prune:0.5:structured",
        "--variant",
        "trees:3",
        "--variant",
        "ort:basic",
        "--json",
        out.to_str().unwrap(),
        "--pdf",
        pdf.to_str().unwrap(),
    ]));
    assert!(
        t.contains("trees:3") && t.contains("no tree ensemble"),
        "{t}"
    );
    let j: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let runs = j["runs"].as_array().unwrap();
    let count = |variant: &str, engine: &str| {
        runs.iter()
            .filter(|r| r["variant"] == variant && r["engine"] == engine)
            .count()
    };
    for v in ["original", "int8:per-channel", "prune:0.5:structured"] {
        assert_eq!(count(v, "ort"), 2, "{v}");
        assert_eq!(count(v, "tract"), 2, "{v}");
    }
    assert_eq!(count("ort:basic", "ort"), 2);
    assert_eq!(
        count("ort:basic", "tract"),
        0,
        "an ONNX Runtime level is not run on tract"
    );
    for r in runs {
        assert_eq!(r["n_iterations"], 100);
        assert!(r["stop_reason"].as_str().unwrap().contains("interleaved"));
    }
    let vs = j["variants"].as_array().unwrap();
    assert_eq!(vs.len(), 4);
    let by = |n: &str| vs.iter().find(|v| v["name"] == n).unwrap();
    assert!(by("trees:3")["error"]
        .as_str()
        .unwrap()
        .contains("no tree ensemble"));
    let q = by("int8:per-channel");
    assert_eq!(q["coverage"]["changed"].as_array().unwrap().len(), 3);
    let probs = &q["fidelity"]["outputs"][1];
    assert_eq!(probs["name"], "probabilities");
    assert!(probs["top1_agreement"].as_f64().unwrap() >= 0.99);
    assert!(probs["max_abs_err"].as_f64().unwrap() < 0.05);
    assert!(
        probs["accuracy"].as_f64().unwrap() > 0.9,
        "labels from the npz"
    );
    assert_eq!(q["fidelity"]["layers"].as_array().unwrap().len(), 3);
    // int8 reorders MatMul1's units (to pair MatMul2's rows): its drift is measured in the
    // original's order, so every layer stays close.
    for l in q["fidelity"]["layers"].as_array().unwrap() {
        assert!(l["relative_error"].as_f64().unwrap() < 0.05, "{l}");
        assert!(l["cosine"].as_f64().unwrap() > 0.999, "{l}");
    }
    let sp = q["speedups"].as_array().unwrap();
    assert_eq!(sp.len(), 4, "one per engine x batch");
    for s in sp {
        let (r, lo, hi) = (
            s["p50_ratio"].as_f64().unwrap(),
            s["ci"]["lo"].as_f64().unwrap(),
            s["ci"]["hi"].as_f64().unwrap(),
        );
        assert!(lo <= r && r <= hi, "{s}");
        assert_eq!(s["significant"], lo > 1.0 || hi < 1.0);
    }
    // Structured pruning changes predictions (no retraining): the fidelity says by how much.
    let p = &by("prune:0.5:structured")["fidelity"]["outputs"][1];
    assert!(p["top1_agreement"].as_f64().unwrap() < 1.0);
    let imp = &j["importance"];
    assert_eq!(imp["features"].as_array().unwrap().len(), 64);
    assert!(
        !imp["low"].as_array().unwrap().is_empty(),
        "digits has blank border pixels"
    );
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    let text = String::from_utf8_lossy(&text.stdout);
    // The Variants table: a row per variant run, with the speedup and its interval.
    let rows = text
        .lines()
        .filter(|l| l.trim_start().starts_with("prune:0.5:structured") && l.contains("x ["))
        .count();
    assert_eq!(rows, 4, "variant rows in:\n{text}");
    for needle in [
        "int8:per-channel",
        "top-1 agreement",
        "Permutation importance",
        "no tree ensemble",
    ] {
        assert!(text.contains(needle), "report lacks {needle}");
    }
    assert!(
        !text.contains("Not part of this study: compare"),
        "the Variants section is filled"
    );
}

#[test]
fn optimize_writes_variants_and_never_over_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q.onnx");
    let cov = dir.path().join("cov.json");
    let mlp = root("assets/mlp.onnx");
    let t = succeeds(&run(&[
        "optimize",
        mlp.to_str().unwrap(),
        "--int8",
        "dynamic",
        "--per-channel",
        "-o",
        q.to_str().unwrap(),
        "--json",
        cov.to_str().unwrap(),
    ]));
    assert!(t.contains("changed  MatMul1"), "{t}");
    let j: Value =
        serde_json::from_slice(&run(&["inspect", "--json", q.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(j["op_histogram"]["MatMulInteger"], 3);
    let c: Value = serde_json::from_slice(&std::fs::read(&cov).unwrap()).unwrap();
    assert!(c["file_bytes_after"].as_u64().unwrap() * 3 < c["file_bytes_before"].as_u64().unwrap());
    // The variant benchmarks like any model.
    succeeds(&run(&[
        "bench",
        q.to_str().unwrap(),
        "--batch",
        "4",
        "--iterations",
        "20",
        "--engine",
        "both",
    ]));
    fails_with(
        &run(&[
            "optimize",
            mlp.to_str().unwrap(),
            "--fp16",
            "-o",
            q.to_str().unwrap(),
        ]),
        &["exists", "--force"],
    );
    let copy = dir.path().join("m.onnx");
    std::fs::copy(&mlp, &copy).unwrap();
    fails_with(
        &run(&[
            "optimize",
            copy.to_str().unwrap(),
            "--int8",
            "-o",
            copy.to_str().unwrap(),
            "--force",
        ]),
        &["original"],
    );
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&mlp).unwrap());
    let none = dir.path().join("none.onnx");
    fails_with(
        &run(&[
            "optimize",
            root("assets/forest.onnx").to_str().unwrap(),
            "--int8",
            "-o",
            none.to_str().unwrap(),
        ]),
        &["does not apply", "forest"],
    );
    assert!(!none.exists());
    let t = succeeds(&run(&[
        "optimize",
        mlp.to_str().unwrap(),
        "--prune",
        "0.5",
        "--structured",
        "-o",
        dir.path().join("p.onnx").to_str().unwrap(),
    ]));
    assert!(t.contains("256 -> 128 units"), "{t}");

    // compare: a preset brings the plan and the variants; bad spellings are named.
    let out = dir.path().join("c.json");
    succeeds(&run(&[
        "compare",
        "--preset",
        root("presets/int8-vs-original.ron").to_str().unwrap(),
        mlp.to_str().unwrap(),
        "--engine",
        "tract",
        "--iterations",
        "30",
        "--json",
        out.to_str().unwrap(),
    ]));
    let j: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(j["variants"][0]["name"], "int8:auto");
    assert_eq!(
        j["runs"].as_array().unwrap().len(),
        4,
        "batches 1 and 32 from the preset"
    );
    fails_with(
        &run(&["compare", mlp.to_str().unwrap()]),
        &["say which variants"],
    );
    fails_with(
        &run(&["compare", mlp.to_str().unwrap(), "--variant", "int4"]),
        &["unknown variant", "int8"],
    );
    fails_with(
        &run(&[
            "compare",
            root("assets/forest.onnx").to_str().unwrap(),
            "--variant",
            "int8",
            "--iterations",
            "10",
        ]),
        &["no variant applies"],
    );
}

/// Permutation importance names the features by the CSV header and finds the ones that do not
/// matter to a random forest on breast-cancer data.
#[test]
fn importance_names_csv_features() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.json");
    let t = succeeds(&run(&[
        "compare",
        root("assets/forest.onnx").to_str().unwrap(),
        "--data",
        root("assets/breast_cancer.csv").to_str().unwrap(),
        "--label-column",
        "label",
        "--engine",
        "ort",
        "--batch",
        "16",
        "--iterations",
        "30",
        "--variant",
        "trees:10",
        "--json",
        out.to_str().unwrap(),
    ]));
    let j: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let imp = &j["importance"];
    assert_eq!(imp["features"][0]["name"], "mean_radius");
    assert!(imp["metric"]
        .as_str()
        .unwrap()
        .contains("accuracy against the labels"));
    let shares: f64 = imp["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["share"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares add up to 1: {shares}");
    let low = imp["low"].as_array().unwrap();
    assert!(!low.is_empty() && low.len() < 30, "{imp}");
    let first_low = &imp["features"][low[0].as_u64().unwrap() as usize]["name"];
    assert!(
        t.contains(first_low.as_str().unwrap()),
        "the terminal lists it: {t}"
    );
}

/// The columns of a monospaced table as pdftotext lays it out: the header's words and where
/// each starts.
fn header_columns(header: &str, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| header.find(n).unwrap_or_else(|| panic!("{n} in {header}")))
        .collect()
}

/// A comparison's report, as a reviewer reads it: it leads with the comparison (verdicts,
/// the table with each row under the right header, the monthly bill per variant, charts whose
/// legends name the variants), renders page by page, and carries the preset and the results
/// as embedded files that load again; the PNG card says the same; each variant's monthly cost
/// is the figure `cost --results FILE --variant NAME` gives.
#[test]
fn a_comparison_report_leads_with_verdicts_costs_and_charts_and_carries_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let cost_flags = [
        "--monthly-requests",
        "300000000",
        "--latency-target-ms",
        "50",
        "--utilization",
        "0.5",
    ];
    let mut args: Vec<String> = vec![
        "compare".into(),
        root("assets/mlp.onnx").to_str().unwrap().into(),
        "--data".into(),
        root("assets/digits.npz").to_str().unwrap().into(),
        "--engine".into(),
        "ort".into(),
        "--batch".into(),
        "1,32".into(),
        "--iterations".into(),
        "300".into(),
        "--warmup".into(),
        "10".into(),
    ];
    for v in ["int8:dynamic", "prune:0.5:structured", "fp16"] {
        args.push("--variant".into());
        args.push(v.into());
    }
    args.extend(cost_flags.iter().map(|s| s.to_string()));
    for (flag, file) in [("--json", "c.json"), ("--pdf", "c.pdf"), ("--png", "c.png")] {
        args.push(flag.into());
        args.push(d(file));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let printed = succeeds(&run(&args));
    let doc = inferscope::report::BenchDoc::read(Path::new(&d("c.json"))).unwrap();
    let names = ["original", "int8:dynamic", "prune:0.5:structured", "fp16"];
    assert_eq!(doc.variants.len(), 3);
    let original_size = doc.model.as_ref().unwrap().file_size_bytes;
    let verdicts: Vec<(String, String)> = doc
        .variants
        .iter()
        .map(|v| {
            (
                v.name.clone(),
                inferscope::compare::verdict::verdict(v, original_size).text,
            )
        })
        .collect();
    // Structured pruning without retraining loses accuracy on digits: its verdict names it.
    let prune = &verdicts[1].1;
    assert!(prune.contains("accuracy"), "{prune}");
    // Each variant's bill is what `cost` says for that variant's results.
    let mut bills = Vec::new();
    let results = d("c.json");
    for n in names {
        let mut a = vec!["cost", "--results", &results];
        if n != "original" {
            a.extend(["--variant", n]);
        }
        a.extend(cost_flags);
        let out = d(&format!("cost-{}.json", n.replace(':', "_")));
        a.extend(["--json", &out]);
        succeeds(&run(&a));
        let c: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        let tier = c["recommendation"]["tier"]
            .as_str()
            .expect("a tier fits")
            .to_string();
        let total = c["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tier"] == tier.as_str())
            .unwrap()["total_cost"]
            .as_f64()
            .unwrap();
        bills.push((n, tier, inferscope::format::usd(total)));
    }
    fails_with(
        &run(&["cost", "--results", &d("c.json"), "--variant", "int9"]),
        &["has no runs of the variant int9", "prune:0.5:structured"],
    );
    // The terminal says the same.
    for (n, v) in &verdicts {
        assert!(
            printed.contains(&format!("{n}: {v}")),
            "{n}: {v}\n{printed}"
        );
    }
    // Every page renders.
    let out = Command::new("pdftoppm")
        .args(["-r", "30", "-png", &d("c.pdf"), &d("page")])
        .output()
        .expect("pdftoppm (poppler-utils) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pages = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("page"))
        .count();
    assert!(pages >= 3, "{pages} pages");
    let layout = String::from_utf8_lossy(
        &Command::new("pdftotext")
            .args(["-layout", &d("c.pdf"), "-"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    let flat = layout.split_whitespace().collect::<Vec<_>>().join(" ");
    // It leads with the comparison: the verdicts come before the model's facts.
    let lead = flat
        .find("Comparison: 3 variants against the original")
        .expect(&flat);
    assert!(
        lead < flat.find("sha256").unwrap(),
        "the comparison comes first"
    );
    for (n, v) in &verdicts {
        assert!(flat.contains(&format!("{n} {v}")), "verdict of {n}: {v}");
    }
    // Every row of both tables names its variant under the right header.
    for (first, cols) in [
        (
            "speedup [95% CI]",
            &["variant", "engine", "batch", "p50 ms"][..],
        ),
        ("p50 95% CI", &["variant", "engine", "batch", "iters"][..]),
    ] {
        let lines: Vec<&str> = layout.lines().collect();
        let h = lines
            .iter()
            .position(|l| l.contains(first) && l.trim_start().starts_with("variant"))
            .unwrap_or_else(|| panic!("a table headed {first}"));
        let at = header_columns(lines[h], cols);
        let rows: Vec<&str> = lines[h + 1..]
            .iter()
            .take_while(|l| names.iter().any(|n| l.trim_start().starts_with(n)))
            .copied()
            .collect();
        assert_eq!(
            rows.len(),
            8,
            "4 variants x 2 batches under {first}:\n{}",
            lines[h]
        );
        for r in rows {
            let name = r.split_whitespace().next().unwrap();
            assert_eq!(r.find(name), Some(at[0]), "variant under its header: {r}");
            let engine = r.find("onnxruntime").unwrap();
            assert!(
                engine.abs_diff(at[1]) <= 1,
                "engine under its header:\n{}\n{r}",
                lines[h]
            );
            let batch = r[engine + 11..].split_whitespace().next().unwrap();
            assert!(batch == "1" || batch == "32", "{r}");
        }
    }
    // The monthly cost per variant, as `cost` priced it.
    for (n, tier, usd) in &bills {
        let line = layout.lines().find(|l| {
            l.trim_start().starts_with(n) && l.contains(usd.as_str()) && l.contains(tier.as_str())
        });
        assert!(line.is_some(), "the bill of {n}: {tier} {usd} in\n{layout}");
    }
    // The charts' legends and labels name the variants.
    for chart in [
        "Speedup over the original",
        "Latency (p50 ms) against fidelity",
    ] {
        let at = flat.find(chart).unwrap_or_else(|| panic!("{chart}"));
        let after = &flat[at..(at + 800).min(flat.len())];
        for n in &names[1..] {
            assert!(after.contains(n), "{chart} names {n}: {after}");
        }
    }
    assert!(
        flat.contains("int8:dynamic onnxruntime b1"),
        "the CDF legend names the variant"
    );
    assert!(flat.contains("Per-layer drift"));
    // The embedded files: the preset loads and names the model; the results are the results.
    let out = Command::new("pdfdetach")
        .args(["-saveall", "-o", &d(""), &d("c.pdf")])
        .output()
        .expect("pdfdetach (poppler-utils) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let preset = d("inferscope-preset.ron");
    let checked = succeeds(&run(&["preset", "check", &preset]));
    assert!(checked.contains("a valid preset"), "{checked}");
    let loaded = inferscope::preset::Preset::load(Path::new(&preset)).unwrap();
    assert_eq!(
        loaded.model_path.as_deref(),
        Some(root("assets/mlp.onnx").as_path())
    );
    assert_eq!(
        loaded.preset.variants,
        ["int8:dynamic", "prune:0.5:structured", "fp16"]
    );
    assert_eq!(loaded.preset.cost.monthly_requests, 300e6);
    assert_eq!(loaded.preset.bench.batch_sizes, [1, 32]);
    let embedded =
        inferscope::report::BenchDoc::read(Path::new(&d("inferscope-results.json"))).unwrap();
    assert_eq!(embedded.runs, doc.runs);
    assert_eq!(embedded.variants, doc.variants);
    assert!(flat.contains("inferscope-preset.ron") && flat.contains("inferscope-results.json"));
    // The PNG card: its size, and the SVG it is drawn from holds the same verdicts and bills.
    assert_eq!(png_size(&std::fs::read(d("c.png")).unwrap()), (1600, 900));
    let study = inferscope::report::Study::from_files(&[d("c.json")]).unwrap();
    let card = inferscope::report::summary(&study);
    for (n, v) in &verdicts {
        let shown = inferscope::report::svg::escape(&format!("{n}: {v}"));
        assert!(
            card.contains(&shown[..shown.len().min(100)]),
            "card verdict {n}"
        );
    }
    for (_, _, usd) in &bills {
        assert!(card.contains(usd.as_str()), "card bill {usd}");
    }
    assert_eq!(
        inferscope::report::png(&study).unwrap(),
        std::fs::read(d("c.png")).unwrap()
    );
}

/// `load`: open-loop runs on a real engine, each rate beside the queue model, in the JSON and a
/// report; flags that mean nothing under open-loop load are refused with what to use instead.
#[test]
fn load_offers_rates_open_loop_beside_the_queue_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let mlp = root("assets/mlp.onnx");
    let mlp = mlp.to_str().unwrap();
    let printed = succeeds(&run(&[
        "load",
        mlp,
        "--engine",
        "tract",
        "--rate-range",
        "200:400:200",
        "--arrivals",
        "constant",
        "--duration",
        "2",
        "--target-p99",
        "50",
        "--json",
        &d("l.json"),
        "--pdf",
        &d("l.pdf"),
    ]));
    assert!(
        printed.contains("model p95") && printed.contains("late p99"),
        "{printed}"
    );
    let j: Value = serde_json::from_slice(&std::fs::read(d("l.json")).unwrap()).unwrap();
    let runs = j["load_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (r, rate) in runs.iter().zip([200.0, 400.0]) {
        assert_eq!(r["rate"], rate);
        assert_eq!(
            r["scheduled"].as_u64().unwrap(),
            (rate * 2.0) as u64,
            "constant arrivals"
        );
        assert_eq!(r["completed"], r["scheduled"]);
        let lat = &r["latency"];
        let svc = &r["service"];
        assert!(lat["p50"].as_f64().unwrap() >= svc["p50"].as_f64().unwrap());
        assert!(r["predicted"]["p95"].as_f64().is_some(), "{r}");
        assert_eq!(r["bound_ms"], 50.0);
        assert_eq!(r["min_queries_p99"], 662, "none over the 50 ms bound");
        assert_eq!(r["enough_for_p99"], rate * 2.0 >= 662.0, "{r}");
    }
    assert_eq!(j["servers"], 1);
    assert_eq!(j["arrivals"], "constant");
    // The report carries the table.
    let text = Command::new("pdftotext")
        .args(["-layout", &d("l.pdf"), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Under load (open loop)"), "{text}");
    assert!(
        text.contains("model p95") && text.contains("400.0"),
        "{text}"
    );
    succeeds(&run(&["report", &d("l.json"), "--png", &d("l.png")]));
    assert_eq!(png_size(&std::fs::read(d("l.png")).unwrap()), (1600, 900));
    // A trace replays its own arrivals.
    std::fs::write(d("t.txt"), "0\n0.01\n0.02\n0.5\n").unwrap();
    let t = succeeds(&run(&[
        "load",
        mlp,
        "--engine",
        "tract",
        "--arrivals",
        "trace",
        "--trace",
        &d("t.txt"),
    ]));
    assert!(t.contains("rate/s"), "{t}");
    // What does not apply, or is missing, is said.
    for (extra, says) in [
        (
            &["--rate", "10", "--batch", "8"][..],
            "--batch does not apply to load",
        ),
        (
            &["--rate", "10", "--concurrency", "4"][..],
            "--servers sets the engine sessions",
        ),
        (
            &["--rate", "10", "--iterations", "100"][..],
            "each rate runs for --duration",
        ),
        (
            &["--rate", "10", "--engine", "both"][..],
            "load runs on one engine",
        ),
        (&[][..], "say what load to offer"),
        (&["--find-max-rate"][..], "--target-p99 MS"),
        (&["--rate-range", "50:10:5"][..], "0 < A <= B"),
        (&["--rate", "0"][..], "--rate must be a number"),
        (
            &["--rate", "10", "--servers", "0"][..],
            "--servers must be between 1 and 256",
        ),
        (
            &["--arrivals", "trace"][..],
            "--arrivals trace needs --trace FILE",
        ),
    ] {
        let mut a = vec!["load", mlp];
        a.extend_from_slice(extra);
        fails_with(&run(&a), &[says]);
    }
    std::fs::write(d("bad.txt"), "0\nsoon\n").unwrap();
    fails_with(
        &run(&["load", mlp, "--arrivals", "trace", "--trace", &d("bad.txt")]),
        &["line 2: `soon` is not a time in seconds"],
    );
}

/// `--baseline`: each run against the same run of an earlier file; a significant slowdown past
/// `--fail-if-slower` exits with code 3 (2 is a usage error), anything else reports and passes; a different machine
/// is a warning.
#[test]
fn a_baseline_fails_a_significant_slowdown_with_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let mlp = root("assets/mlp.onnx");
    let mlp = mlp.to_str().unwrap();
    let bench = |extra: &[&str]| {
        let mut a = vec![
            "bench",
            mlp,
            "--engine",
            "tract",
            "--batch",
            "1",
            "--iterations",
            "2000",
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    succeeds(&bench(&["--json", &d("now.json")]));
    // Baselines doctored from this run: one where the model was 5x faster then (so it is slower
    // now), one where it was 5x slower, on another machine. (Reruns of this 30 us model differ
    // by up to 2x on a busy 2-core machine: the factors leave room for that.)
    let now: Value = serde_json::from_slice(&std::fs::read(d("now.json")).unwrap()).unwrap();
    let scaled = |k: f64, cpu: &str| {
        let mut b = now.clone();
        for r in b["runs"].as_array_mut().unwrap() {
            r["latency_p50"] = (r["latency_p50"].as_f64().unwrap() * k).into();
            for e in ["lo", "hi"] {
                r["ci_p50"][e] = (r["ci_p50"][e].as_f64().unwrap() * k).into();
            }
        }
        b["environment"]["cpu_model"] = cpu.into();
        serde_json::to_string(&b).unwrap()
    };
    std::fs::write(d("faster-then.json"), scaled(0.2, "Same CPU")).unwrap();
    std::fs::write(d("slower-then.json"), scaled(5.0, "Another CPU")).unwrap();
    let o = bench(&[
        "--baseline",
        &d("faster-then.json"),
        "--fail-if-slower",
        "5%",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("SLOWER: fails") && t.contains("slower than the baseline"),
        "{t}"
    );
    assert!(!t.contains(inferscope::guard::INTERNAL_ERROR), "{t}");
    // Without --fail-if-slower it reports and passes.
    let t = succeeds(&bench(&["--baseline", &d("faster-then.json")]));
    assert!(t.contains("Against the baseline"), "{t}");
    // Faster now: passes, and the other machine is a warning.
    let t = succeeds(&bench(&[
        "--baseline",
        &d("slower-then.json"),
        "--fail-if-slower",
        "5%",
    ]));
    assert!(t.contains("faster"), "{t}");
    assert!(
        t.contains("warning: the CPU differs: Another CPU in the baseline"),
        "{t}"
    );
    // A baseline with no matching run, and a flag without a baseline, are errors.
    fails_with(
        &run(&[
            "bench",
            mlp,
            "--engine",
            "tract",
            "--batch",
            "4",
            "--iterations",
            "50",
            "--baseline",
            &d("now.json"),
        ]),
        &["no run matches the baseline"],
    );
    let o = run(&["bench", mlp, "--fail-if-slower", "5%"]);
    assert_eq!(o.status.code(), Some(2), "clap's usage error: {}", text(&o));
    assert!(text(&o).contains("--baseline"), "{}", text(&o));
}

/// `profile`: per-operator times from ONNX Runtime's profiler, and from tract timed node by
/// node. Node times nest inside their request (the rest is the engine's own work, reported as
/// such); the top op type agrees with ONNX Runtime's profiler run independently from Python;
/// the trace is valid Chrome trace JSON.
#[test]
fn profile_says_where_the_time_goes_and_agrees_with_onnx_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let cnn = root("assets/cnn.onnx");
    let printed = succeeds(&run(&[
        "profile",
        cnn.to_str().unwrap(),
        "--engine",
        "ort",
        "--requests",
        "60",
        "--json",
        &d("p.json"),
        "--trace",
        &d("t.json"),
    ]));
    assert!(
        printed.contains("op type") && printed.contains("slowest nodes"),
        "{printed}"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(d("p.json")).unwrap()).unwrap();
    assert_eq!(doc["version"], 1);
    assert!(
        doc["model"]["sha256"].is_string(),
        "the document names its model"
    );
    let p = &doc["profile"];
    let (request, operators) = (
        p["request_us"].as_f64().unwrap(),
        p["operators_us"].as_f64().unwrap(),
    );
    // Medians of parts need not add to the median of the whole exactly: allow a microsecond.
    assert!(
        operators <= request + 1.0,
        "operators {operators} within the request {request}"
    );
    assert!(
        operators >= 0.3 * request,
        "operators {operators} of {request}"
    );
    let shares: f64 = p["by_op"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["share"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9);
    let ours = p["by_op"][0]["op"].as_str().unwrap().to_string();
    // The roofline: ceilings measured on this machine, and the convolutions placed on it from
    // their shapes (FLOPs: 2 x Cin/group x kh x kw per output element).
    let c = &p["ceilings"];
    assert!(
        c["gflops"].as_f64().unwrap() > 0.1 && c["gbytes_per_s"].as_f64().unwrap() > 0.1,
        "{c}"
    );
    let conv = p["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "r2_nchwc")
        .expect("ONNX Runtime's fused second convolution");
    assert_eq!(
        conv["work"]["flops"].as_f64().unwrap(),
        2.0 * 16.0 * 9.0 * 32.0 * 16.0
    );
    let bound = conv["roofline"]["bound"].as_str().unwrap();
    assert!(
        bound.ends_with("-bound") || bound.starts_with("far from both"),
        "{bound}"
    );
    // ONNX Runtime's own profiler, from Python, read by this test alone.
    let theirs = common::onnxruntime_top_op(cnn.to_str().unwrap(), None, dir.path());
    assert_eq!(ours, theirs, "top op type");
    // The trace: the Chrome trace event format's object form.
    let t: Value = serde_json::from_slice(&std::fs::read(d("t.json")).unwrap()).unwrap();
    let events = t["traceEvents"].as_array().expect("traceEvents");
    assert!(events.len() >= 2);
    for e in events {
        assert_eq!(e["ph"], "X", "{e}");
        assert!(e["name"].is_string() && e["cat"].is_string(), "{e}");
        assert!(
            e["ts"].as_f64().unwrap() >= 0.0 && e["dur"].as_f64().unwrap() >= 0.0,
            "{e}"
        );
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
    }
    // The report reads it: the op types and the hotspots, with the profile attached.
    succeeds(&run(&["report", &d("p.json"), "--pdf", &d("p.pdf")]));
    let text = String::from_utf8_lossy(
        &Command::new("pdftotext")
            .args(["-layout", &d("p.pdf"), "-"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(
        text.contains("Where the time goes")
            && text.contains("r2_nchwc")
            && text.contains("inferscope-profile.json"),
        "{text}"
    );
    // tract, timed node by node: its own (rewritten) nodes, named after the ONNX ones, nested
    // within the request.
    succeeds(&run(&[
        "profile",
        cnn.to_str().unwrap(),
        "--engine",
        "tract",
        "--json",
        &d("tract.json"),
    ]));
    let doc: Value = serde_json::from_slice(&std::fs::read(d("tract.json")).unwrap()).unwrap();
    let p = &doc["profile"];
    assert!(p["engine"].as_str().unwrap().starts_with("tract"));
    let (request, operators) = (
        p["request_us"].as_f64().unwrap(),
        p["operators_us"].as_f64().unwrap(),
    );
    assert!(
        operators <= request + 1.0 && operators > 0.0,
        "{operators} of {request}"
    );
    assert!(
        p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"].as_str().unwrap().starts_with("conv1")),
        "tract's nodes keep the ONNX names: {p}"
    );
    // A variant against the original, op type by op type: int8 replaces the float matmuls
    // with quantized ones, and the changes add up to the change in operator time.
    let mlp = root("assets/mlp.onnx");
    let t = succeeds(&run(&[
        "profile",
        mlp.to_str().unwrap(),
        "--engine",
        "ort",
        "--no-ceilings",
        "--variant",
        "int8:dynamic",
        "--json",
        &d("diff.json"),
    ]));
    assert!(t.contains("int8:dynamic against the original"), "{t}");
    let doc: Value = serde_json::from_slice(&std::fs::read(d("diff.json")).unwrap()).unwrap();
    let diff = &doc["diff"];
    let ops = diff["ops"].as_array().unwrap();
    let added: Vec<&str> = ops
        .iter()
        .filter(|o| o["nodes_before"] == 0 && o["nodes_after"].as_u64().unwrap() > 0)
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    let removed: Vec<&str> = ops
        .iter()
        .filter(|o| o["nodes_after"] == 0 && o["nodes_before"].as_u64().unwrap() > 0)
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert!(
        added
            .iter()
            .any(|o| o.contains("Quantize") || o.contains("Integer")),
        "an int8 kernel added: {added:?}"
    );
    assert!(
        removed
            .iter()
            .any(|o| o.contains("Gemm") || o.contains("MatMul")),
        "a float matmul removed: {removed:?}"
    );
    let sum: f64 = ops
        .iter()
        .map(|o| o["us_after"].as_f64().unwrap() - o["us_before"].as_f64().unwrap())
        .sum();
    let change = diff["operators_after_us"].as_f64().unwrap()
        - diff["operators_before_us"].as_f64().unwrap();
    assert!((sum - change).abs() < 1e-6, "{sum} vs {change}");
    fails_with(
        &run(&["profile", cnn.to_str().unwrap(), "--engine", "both"]),
        &["profile runs on one engine"],
    );
    fails_with(
        &run(&["profile", cnn.to_str().unwrap(), "--requests", "0"]),
        &["--requests must be between 1 and 100000"],
    );
}

/// A float tensor of `dims` whose values vary smoothly (a deterministic stand-in for trained
/// weights; `scale` sets each output unit's norm so that structured pruning has a choice).
fn weights(name: &str, dims: &[i64], seed: f32) -> tract_onnx::pb::TensorProto {
    let n: i64 = dims.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i as f32 * 0.618 + seed).sin()) * 0.05 * (1.0 + (i % 7) as f32 / 7.0))
        .collect();
    inferscope::optimize::graph::f32_tensor(name, dims, &data)
}

/// The variant diff, node by node, on two models built here: int8 through ConvInteger makes a
/// convolution model slower, and the diff says which nodes added the time and why; structured
/// pruning makes an MLP faster, and the diff shows the pruned layers' smaller arithmetic. In
/// both the layers' changes add up to the change in operator time.
#[test]
fn a_profile_diff_explains_an_int8_slowdown_and_a_pruning_speedup_node_by_node() {
    use inferscope::optimize::graph::node;
    use tract_onnx::pb;
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let layers_add_up = |diff: &Value| {
        let sum: f64 = diff["layers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| {
                let side = |k: &str| -> f64 {
                    l[k].as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n["us"].as_f64().unwrap())
                        .sum()
                };
                [side("after") - side("before")]
            })
            .sum();
        let change = diff["operators_after_us"].as_f64().unwrap()
            - diff["operators_before_us"].as_f64().unwrap();
        assert!((sum - change).abs() < 1e-6, "layers {sum} vs {change}");
    };
    let layer = |diff: &Value, name: &str| -> Value {
        diff["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["layer"] == name)
            .unwrap_or_else(|| panic!("no layer {name}: {diff}"))
            .clone()
    };
    let ops = |l: &Value, side: &str| -> Vec<String> {
        l[side]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["op"].as_str().unwrap().to_string())
            .collect()
    };

    // Two 3x3 convolutions with ReLU: fused and fast in float; int8:conv runs them through
    // ConvInteger.
    let mut g = pb::GraphProto::default();
    g.input.push(common::value_info("x", &[1, 16, 34, 34]));
    g.output.push(common::value_info("y", &[1, 32, 30, 30]));
    g.initializer.push(weights("w1", &[32, 16, 3, 3], 0.1));
    g.initializer.push(weights("w2", &[32, 32, 3, 3], 0.7));
    g.node
        .push(node("Conv", "conv1", &["x", "w1"], &["c1"], vec![]));
    g.node.push(node("Relu", "relu1", &["c1"], &["r1"], vec![]));
    g.node
        .push(node("Conv", "conv2", &["r1", "w2"], &["c2"], vec![]));
    g.node.push(node("Relu", "relu2", &["c2"], &["y"], vec![]));
    // The model `g` written as NAME.onnx, profiled against `variant`: what it printed and
    // the document.
    let profile = |g: pb::GraphProto, name: &str, variant: &str| -> (String, Value) {
        let (model, json) = (d(&format!("{name}.onnx")), d(&format!("{name}.json")));
        std::fs::write(&model, common::model_bytes(g)).unwrap();
        let printed = succeeds(&run(&[
            "profile",
            &model,
            "--engine",
            "ort",
            "--requests",
            "40",
            "--no-ceilings",
            "--variant",
            variant,
            "--json",
            &json,
        ]));
        (
            printed,
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap(),
        )
    };
    let (printed, doc) = profile(g, "conv", "int8:conv");
    let diff = &doc["diff"];
    assert!(
        diff["request_after_us"].as_f64().unwrap() > diff["request_before_us"].as_f64().unwrap(),
        "int8 through ConvInteger is slower here: {printed}"
    );
    layers_add_up(diff);
    for conv in ["conv1", "conv2"] {
        let l = layer(diff, conv);
        assert_eq!(l["ops"], "Conv+Relu");
        assert!(ops(&l, "before").iter().any(|o| o.contains("Conv")), "{l}");
        let after = ops(&l, "after");
        assert!(
            after.contains(&"ConvInteger".to_string())
                && after.contains(&"DynamicQuantizeLinear".to_string()),
            "the quantized convolution's nodes are matched to it: {after:?}"
        );
    }
    assert!(
        printed.contains("by layer of the original graph")
            && printed.contains("conv1 (Conv+Relu)")
            && printed.contains("why it is slower")
            && printed.contains("Conv through ConvInteger: the 2 convolution layer(s)"),
        "{printed}"
    );
    assert!(
        doc["variant"]["nodes"].as_array().unwrap().len()
            > doc["profile"]["nodes"].as_array().unwrap().len(),
        "the variant's own profile is kept"
    );

    // An MLP whose hidden layers structured pruning halves: a quarter of the arithmetic in
    // the middle layer, half in the first.
    let mut g = pb::GraphProto::default();
    g.input.push(common::value_info("x", &[16, 512]));
    g.output.push(common::value_info("y", &[16, 10]));
    for (w, dims, seed) in [
        ("w1", [512, 1024], 0.3),
        ("w2", [1024, 1024], 0.9),
        ("w3", [1024, 10], 1.7),
    ] {
        g.initializer.push(weights(w, &dims, seed));
    }
    g.node
        .push(node("MatMul", "fc1", &["x", "w1"], &["h1"], vec![]));
    g.node.push(node("Relu", "act1", &["h1"], &["a1"], vec![]));
    g.node
        .push(node("MatMul", "fc2", &["a1", "w2"], &["h2"], vec![]));
    g.node.push(node("Relu", "act2", &["h2"], &["a2"], vec![]));
    g.node
        .push(node("MatMul", "fc3", &["a2", "w3"], &["y"], vec![]));
    let (printed, doc) = profile(g, "mlp", "prune:0.5:structured");
    let diff = &doc["diff"];
    layers_add_up(diff);
    let fc2 = layer(diff, "fc2");
    let side = |l: &Value, k: &str, f: &str| -> f64 {
        l[k].as_array()
            .unwrap()
            .iter()
            .map(|n| n[f].as_f64().unwrap())
            .sum()
    };
    let matmul_flops = |l: &Value, k: &str| -> f64 {
        l[k].as_array()
            .unwrap()
            .iter()
            .filter(|n| n["op"] == "MatMul")
            .map(|n| n["flops"].as_f64().unwrap())
            .sum()
    };
    assert_eq!(matmul_flops(&fc2, "before"), 2.0 * 16.0 * 1024.0 * 1024.0);
    assert_eq!(
        matmul_flops(&fc2, "after"),
        2.0 * 16.0 * 512.0 * 512.0,
        "a quarter of the arithmetic: {fc2}"
    );
    assert!(
        side(&fc2, "after", "us") < side(&fc2, "before", "us"),
        "the pruned layer is faster: {fc2}"
    );
    assert!(
        diff["request_after_us"].as_f64().unwrap() < diff["request_before_us"].as_f64().unwrap(),
        "{printed}"
    );
    assert!(
        printed.contains("why it is faster") && printed.contains("its arithmetic"),
        "{printed}"
    );
}

/// `optimize --int8 --static` as a user runs it: calibrated on the data, every Conv in int8,
/// the fidelity target met; ONNX Runtime runs it as QLinearConv (its integer convolution,
/// seen in the profile); constant or NaN calibration data is refused with the reason.
#[test]
fn static_int8_from_the_command_line_calibrates_and_runs_as_integer_convolutions() {
    let dir = tempfile::tempdir().unwrap();
    let cnn = root("assets/cnn.onnx");
    let data = root("assets/digits_images.npz");
    let out = dir.path().join("cnn.s8.onnx");
    let printed = succeeds(&run(&[
        "optimize",
        cnn.to_str().unwrap(),
        "--int8",
        "static",
        "--calibration",
        "percentile",
        "--data",
        data.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    // The Gemm's weights hold outliers (up to 285) that int8 cannot keep: the target
    // returns it to float.
    assert!(
        printed
            .contains("changed  conv1 (Conv): static int8: per-channel int8 weight [16, 1, 3, 3]")
            && printed.contains("changed  conv2 (Conv): static int8")
            && printed.contains("left     fc (Gemm): returned to float")
            && printed.contains("activations calibrated by percentile on 32 samples")
            && printed
                .contains("meets the target min-cosine=0.99 with 1 of 3 layers returned to float"),
        "{printed}"
    );
    // The same model profiled against it: ONNX Runtime fused the QDQ into QLinearConv.
    let printed = succeeds(&run(&[
        "profile",
        cnn.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--engine",
        "ort",
        "--requests",
        "20",
        "--no-ceilings",
        "--variant",
        "int8:static",
    ]));
    assert!(
        printed.contains("QLinearConv") && printed.contains("by layer of the original graph"),
        "{printed}"
    );
    // Data a range cannot be learned from.
    let zeros = write_npy(
        dir.path(),
        "zeros.npy",
        Tensor::new(vec![4, 1, 8, 8], TensorData::F32(vec![0.0; 256])).unwrap(),
    );
    let mut nan: Vec<f32> = (0..256).map(|i| (i % 17) as f32 / 17.0).collect();
    nan[17] = f32::NAN;
    let nan = write_npy(
        dir.path(),
        "nan.npy",
        Tensor::new(vec![4, 1, 8, 8], TensorData::F32(nan)).unwrap(),
    );
    // NaN is a missing value: static int8 calibrates on the finite values around it.
    succeeds(&run(&[
        "optimize",
        cnn.to_str().unwrap(),
        "--int8",
        "static",
        "--min-cosine",
        "0",
        "--data",
        nan.to_str().unwrap(),
        "-o",
        dir.path().join("from_nan.onnx").to_str().unwrap(),
    ]));
    fails_with(
        &run(&[
            "optimize",
            cnn.to_str().unwrap(),
            "--int8",
            "static",
            "--data",
            zeros.to_str().unwrap(),
            "-o",
            dir.path().join("bad.onnx").to_str().unwrap(),
        ]),
        &["the calibration data is constant (every input value is 0)"],
    );
    assert!(!dir.path().join("bad.onnx").exists());
    fails_with(
        &run(&[
            "optimize",
            cnn.to_str().unwrap(),
            "--int8",
            "static",
            "--min-cosine",
            "1.5",
            "-o",
            dir.path().join("bad.onnx").to_str().unwrap(),
        ]),
        &["--min-cosine is between 0 and 1 (got 1.5); 0 sets no target"],
    );
    // --int8 alone: both forms built and timed here, the faster kept, and the written model
    // is the one the note names.
    let auto = dir.path().join("cnn.auto.onnx");
    let printed = succeeds(&run(&[
        "optimize",
        cnn.to_str().unwrap(),
        "--int8",
        "--data",
        data.to_str().unwrap(),
        "-o",
        auto.to_str().unwrap(),
    ]));
    assert!(
        printed.contains("int8 chosen by measuring on onnxruntime")
            && printed.contains("float ")
            && printed.contains("dynamic ")
            && printed.contains("static ")
            && printed.contains("mix"),
        "{printed}"
    );
    let ops: Value =
        serde_json::from_slice(&run(&["inspect", "--json", auto.to_str().unwrap()]).stdout)
            .unwrap();
    if printed.contains("kept static") {
        assert!(ops["op_histogram"]["QuantizeLinear"].as_u64().unwrap() > 0);
    } else {
        assert!(printed.contains("kept dynamic"), "{printed}");
        assert!(ops["op_histogram"]["MatMulInteger"].as_u64().unwrap() > 0);
    }
    assert!(
        printed.contains("median of 20 runs in 5 interleaved turns at batch 1"),
        "{printed}"
    );
    // Timed at the batch to be served.
    let printed = succeeds(&run(&[
        "optimize",
        cnn.to_str().unwrap(),
        "--int8",
        "--batch",
        "16",
        "--data",
        data.to_str().unwrap(),
        "-o",
        auto.to_str().unwrap(),
        "--force",
    ]));
    assert!(
        printed.contains("int8 chosen by measuring on onnxruntime")
            && printed.contains("median of 20 runs in 5 interleaved turns at batch 16"),
        "{printed}"
    );
    fails_with(
        &run(&[
            "optimize",
            cnn.to_str().unwrap(),
            "--int8",
            "dynamic",
            "--batch",
            "16",
            "-o",
            dir.path().join("d.onnx").to_str().unwrap(),
        ]),
        &["--batch: dynamic int8 times nothing, so it takes no batch"],
    );
    // Neither form applies to a tree ensemble: both reasons.
    fails_with(
        &run(&[
            "optimize",
            root("assets/forest.onnx").to_str().unwrap(),
            "--int8",
            "-o",
            dir.path().join("f.onnx").to_str().unwrap(),
        ]),
        &[
            "int8:auto does not apply to forest",
            "dynamic (int8): no layer with constant float weights it quantizes",
            "static (int8): no layer with constant float weights it quantizes",
        ],
    );
}

/// `int8` is one thing on every command: the form that runs fastest here, as `optimize --int8`
/// builds; the dynamic form is named `int8:dynamic`. `compare --help` lists every spelling the
/// parser takes.
#[test]
fn int8_means_auto_in_compare_as_in_optimize() {
    let forest = root("assets/forest.onnx");
    fails_with(
        &run(&[
            "compare",
            forest.to_str().unwrap(),
            "--engine",
            "tract",
            "--iterations",
            "10",
            "--variant",
            "int8",
            "--variant",
            "int8:dynamic",
        ]),
        &[
            "no variant applies",
            "int8:auto does not apply to forest",
            "int8:dynamic does not apply to forest",
        ],
    );
    let help = succeeds(&run(&["compare", "--help"]));
    assert!(help.contains(inferscope::optimize::SPELLINGS), "{help}");
    for s in [
        "int8:auto",
        "int8:dynamic",
        "int8:static",
        "int8:mix",
        ":per-tensor",
        ":qoperator",
        ":uint8",
        "max-accuracy-drop=D",
        ":batch=N",
        ":global",
        "ort:disabled|basic|extended|all",
    ] {
        assert!(help.contains(s), "{s} missing from compare --help:\n{help}");
    }
    let short = succeeds(&run(&["compare", "-h"]));
    assert!(
        short.contains("int8:dynamic") && short.contains("optimize --int8"),
        "{short}"
    );
}

/// Presets of schema version 2 spelled dynamic int8 as bare `int8`: they keep that study,
/// said in the current spelling; a current preset's `int8` is auto.
#[test]
fn old_presets_keep_their_int8() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.ron");
    std::fs::write(
        &old,
        r#"(version: 2, variants: ["int8", "int8:percentile", "prune:0.5:structured"])"#,
    )
    .unwrap();
    let t = succeeds(&run(&["preset", "show", old.to_str().unwrap()]));
    assert!(
        t.contains("\"int8:dynamic\"")
            && t.contains("\"int8:static:percentile\"")
            && t.contains("\"prune:0.5:structured\"")
            && t.contains("migrated"),
        "{t}"
    );
    let now = dir.path().join("now.ron");
    std::fs::write(
        &now,
        format!(
            r#"(version: {}, variants: ["int8"])"#,
            inferscope::preset::VERSION
        ),
    )
    .unwrap();
    let t = succeeds(&run(&["preset", "show", now.to_str().unwrap()]));
    assert!(
        t.contains("\"int8\"") && !t.contains("int8:") && !t.contains("migrated"),
        "{t}"
    );
}

/// `preset check` calls a preset valid only if the model it names is there; a preset that
/// names no model is valid.
#[test]
fn preset_check_names_a_missing_model() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.ron");
    std::fs::write(
        &p,
        format!(
            r#"(version: {}, name: "gone", model: (path: "models/gone.onnx"))"#,
            inferscope::preset::VERSION
        ),
    )
    .unwrap();
    let gone = dir.path().join("models").join("gone.onnx");
    let o = run(&["preset", "check", p.to_str().unwrap()]);
    fails_with(
        &o,
        &["the model file", gone.to_str().unwrap(), "is missing"],
    );
    assert!(!text(&o).contains("a valid preset"), "{}", text(&o));
    std::fs::create_dir_all(gone.parent().unwrap()).unwrap();
    std::fs::copy(root("assets/logreg.onnx"), &gone).unwrap();
    let t = succeeds(&run(&["preset", "check", p.to_str().unwrap()]));
    assert!(t.contains("a valid preset") && t.contains("gone"), "{t}");
    std::fs::write(&p, format!(r#"(version: {})"#, inferscope::preset::VERSION)).unwrap();
    let t = succeeds(&run(&["preset", "check", p.to_str().unwrap()]));
    assert!(t.contains("a valid preset"), "{t}");
}

/// `load --target-p95` judges and names p95 against its bound, not p99.
#[test]
fn load_names_the_percentile_of_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("l.json");
    let printed = succeeds(&run(&[
        "load",
        root("assets/mlp.onnx").to_str().unwrap(),
        "--engine",
        "tract",
        "--rate",
        "50",
        "--arrivals",
        "constant",
        "--duration",
        "1",
        "--target-p95",
        "100",
        "--json",
        json.to_str().unwrap(),
    ]));
    // 50 requests: too few to show p95 under the bound (130 with none over).
    assert!(
        printed.contains("p95 needs") || printed.contains("p95 over the 100 ms bound"),
        "{printed}"
    );
    assert!(
        !printed.contains("p99 needs") && !printed.contains("p99 over"),
        "{printed}"
    );
    let j: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(j["load_runs"][0]["bound_q"], 0.95);
}

/// `--monthly-requests` takes 5M, 2.5k and 1B; a negative count is refused by the planner,
/// which says what is allowed, rather than read as a flag; anything else is a usage error.
#[test]
fn monthly_requests_take_suffixes() {
    for (typed, v) in [("5M", 5e6), ("2.5k", 2500.0), ("1B", 1e9), ("1G", 1e9)] {
        let o = run(&["cost", "--monthly-requests", typed, "--json", "-"]);
        let j: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
        assert_eq!(j["inputs"]["monthly_requests"], v, "{typed}");
    }
    for negative in ["-5", "-5M"] {
        fails_with(
            &run(&["cost", "--monthly-requests", negative]),
            &["monthly requests must be between 0"],
        );
    }
    let o = run(&["cost", "--monthly-requests", "5X"]);
    assert_eq!(o.status.code(), Some(2), "a usage error: {}", text(&o));
    assert!(
        text(&o).contains("`5X` is not a count of requests"),
        "{}",
        text(&o)
    );
    fails_with(
        &run(&["cost", "--budget", "-1"]),
        &["budget (USD) must be between 0"],
    );
}

/// A model that fixes its batch at 1 runs batch 1 only: the report's checklist says so instead
/// of failing it for not sweeping batch sizes.
#[test]
fn the_checklist_does_not_ask_a_fixed_batch_to_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("fixed.pdf");
    succeeds(&run(&[
        "bench",
        root("tests/data/fixed_batch.onnx").to_str().unwrap(),
        "--engine",
        "tract",
        "--iterations",
        "20",
        "--pdf",
        pdf.to_str().unwrap(),
    ]));
    let out = Command::new("pdftotext")
        .args([pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Batch size fixed by the model"), "{text}");
    assert!(!text.contains("add 1, 8, 32, 64"), "{text}");
}

/// A run measured with two threads per inference needs two cores per inference: `cost
/// --results` prices instances of the run's threads and says so, and `--vcpus 1` is refused
/// with the reason and the command that measures at one thread.
#[test]
fn cost_prices_instances_with_the_runs_threads_or_refuses_fewer_vcpus() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.json");
    succeeds(&run(&[
        "bench",
        root("assets/mlp.onnx").to_str().unwrap(),
        "--engine",
        "ort",
        "--threads",
        "2",
        "--batch",
        "1",
        "--iterations",
        "50",
        "--json",
        results.to_str().unwrap(),
    ]));
    let doc: Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    assert_eq!(doc["runs"][0]["threads"], 2);
    let printed = succeeds(&run(&["cost", "--results", results.to_str().unwrap()]));
    assert!(
        printed.contains("2 thread(s) per inference")
            && printed.contains("2 vCPUs per instance, the run's threads per inference"),
        "{printed}"
    );
    fails_with(
        &run(&[
            "cost",
            "--results",
            results.to_str().unwrap(),
            "--vcpus",
            "1",
        ]),
        &[
            "measured with 2 threads per inference",
            "inferscope bench MODEL --threads 1",
        ],
    );
}

/// `profile` follows the settings' one batch rule (data and no --batch: the data as given, so
/// a model fixed at batch 3 runs), and stops at its time cap on a long run, saying so.
#[test]
fn profile_runs_a_fixed_batch_model_as_given_and_stops_at_its_time_cap() {
    use inferscope::optimize::graph::node;
    use tract_onnx::pb;
    let dir = tempfile::tempdir().unwrap();
    let mut g = pb::GraphProto::default();
    g.input.push(common::value_info("x", &[3, 4]));
    g.output.push(common::value_info("y", &[3, 4]));
    g.node.push(node("Relu", "relu", &["x"], &["y"], vec![]));
    let model = dir.path().join("fixed3.onnx");
    std::fs::write(&model, common::model_bytes(g)).unwrap();
    let data = write_npy(
        dir.path(),
        "x.npy",
        Tensor::new(
            vec![3, 4],
            TensorData::F32((0..12).map(|i| i as f32).collect()),
        )
        .unwrap(),
    );
    let printed = succeeds(&run(&[
        "profile",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--engine",
        "tract",
        "--no-ceilings",
        "--requests",
        "20",
    ]));
    assert!(printed.contains("20 requests profiled"), "{printed}");
    // A cap far below what 100000 requests take.
    let printed = succeeds(&run(&[
        "profile",
        root("assets/cnn.onnx").to_str().unwrap(),
        "--engine",
        "tract",
        "--no-ceilings",
        "--requests",
        "100000",
        "--max-time",
        "1",
    ]));
    assert!(
        printed.contains("time cap of 1 s reached")
            && !printed.contains(": 100000 requests profiled"),
        "{printed}"
    );
}

/// Gradient-boosted and random-forest trees read NaN as a missing value: data with 3% NaN is
/// fed as it is to bench, compare and cost, and the run's notes say how much of which input
/// is NaN.
#[test]
fn nan_inputs_are_fed_to_bench_compare_and_cost_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let arrays = inferscope::data::npy::read_npz(&root("assets/breast_cancer.npz")).unwrap();
    let mut x = arrays.iter().find(|(n, _)| n == "X").unwrap().1.clone();
    let n = x.len();
    if let TensorData::F32(v) = &mut x.data {
        for i in (0..n).step_by(33) {
            v[i] = f32::NAN;
        }
    }
    let labels = arrays
        .iter()
        .find(|(n, _)| n == "labels")
        .unwrap()
        .1
        .clone();
    let data = dir.path().join("missing.npz");
    inferscope::data::npy::write_npz(&data, &[("X".into(), &x), ("labels".into(), &labels)])
        .unwrap();
    let forest = root("assets/forest.onnx");
    let results = dir.path().join("r.json");
    let printed = succeeds(&run(&[
        "bench",
        forest.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--engine",
        "ort",
        "--iterations",
        "20",
        "--json",
        results.to_str().unwrap(),
    ]));
    assert!(
        printed.contains("input 'X' holds 156 NaN (3.0% of its values): fed as given"),
        "{printed}"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    assert!(
        doc["notes"].to_string().contains("156 NaN"),
        "the document keeps the note: {}",
        doc["notes"]
    );
    succeeds(&run(&[
        "compare",
        forest.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--engine",
        "ort",
        "--iterations",
        "20",
        "--variant",
        "trees:10",
    ]));
    succeeds(&run(&["cost", "--results", results.to_str().unwrap()]));
}

/// int8 without sample data: static ranges calibrated on made-up inputs do not fit real ones,
/// so auto keeps the form that needs no calibration and says why static was not chosen, and
/// the report's first lines say its fidelity was judged on synthesized inputs.
#[test]
fn int8_without_data_prefers_dynamic_and_says_its_fidelity_rests_on_made_up_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn.int8.onnx");
    let printed = succeeds(&run(&[
        "optimize",
        root("assets/cnn.onnx").to_str().unwrap(),
        "--int8",
        "-o",
        out.to_str().unwrap(),
    ]));
    let lines: Vec<&str> = printed.lines().collect();
    assert!(
        lines[1].starts_with("warning: no sample data was given"),
        "{printed}"
    );
    assert!(
        printed.contains("static: not chosen without sample data")
            && printed.contains("kept dynamic"),
        "{printed}"
    );
}

/// Output into a pipe that closed (`inferscope ... | head -1`) ends the command quietly, as cat
/// and ripgrep end: no panic, no exit code 101.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    for args in [
        vec!["compare", "assets/mlp.onnx", "--variant", "bogus"],
        vec!["inspect", "assets/cnn.onnx"],
    ] {
        let mut child = bin()
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes anything.
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert!(
            status.code() != Some(101)
                && (status.signal() == Some(13) || status.code().is_some_and(|c| c <= 1)),
            "{args:?}: {status:?}"
        );
    }
}
