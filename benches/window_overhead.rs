//! Does an open window disturb the measurement? The same benchmark (mlp on ONNX Runtime at
//! batch 1) runs headless as the CLI runs it, and inside the real app while it repaints and renders
//! every frame (wgpu, as in a window), interleaved A B A B so machine drift hits both alike.
//! Also: the time to draw a frame whose plots hold a thousand vs a million samples.
//!
//! Run: `cargo bench --bench window_overhead`.

use egui_kittest::Harness;
use inferscope::app::{Command, InferscopeApp, RunView, Session, REPAINT_EVERY};
use inferscope::bench::scheduler::run_model;
use inferscope::bench::{Plan, RunSpec, StopRule, Warmup};
use inferscope::data::{self, DataSource};
use inferscope::engine::{EngineChoice, EngineKind};
use inferscope::model::Model;
use inferscope::settings::Stop;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

const ITERATIONS: u64 = 20_000;
const ROUNDS: usize = 3;

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn headless() -> (f64, f64) {
    let model = Model::load(&root("assets/mlp.onnx")).unwrap();
    let samples = data::load(
        &model,
        &DataSource::File {
            path: root("assets/digits.npz"),
            label_column: None,
        },
    )
    .unwrap();
    let plan = Plan {
        engines: vec![EngineKind::Ort],
        batch_sizes: vec![Some(1)],
        warmup: Warmup::Iterations(10),
        stop: StopRule::Iterations(ITERATIONS),
        ..Plan::default()
    };
    let r = run_model(
        &plan,
        &model,
        &samples,
        &AtomicBool::new(false),
        &mut |_| {},
    );
    (r[0].latency_p50, r[0].latency_p99)
}

fn harness() -> Harness<'static, InferscopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(|cc| InferscopeApp::new_with_storage(cc, cc.storage))
}

fn in_window() -> (f64, f64) {
    let mut h = harness();
    h.state_mut().open(&root("assets/mlp.onnx"));
    h.state_mut().open(&root("assets/digits.npz"));
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Ort;
        s.batch_sizes = vec![1];
        s.stop = Stop::Iterations(ITERATIONS);
        s.warmup_iterations = 10;
        s.threads = None;
    }
    h.state_mut().command(Command::Run);
    h.step();
    while !h.state().session.as_ref().is_some_and(|s| s.finished) {
        h.step();
        h.render().expect("render");
        std::thread::sleep(REPAINT_EVERY);
    }
    let s = h.state().session.as_ref().unwrap();
    let r = s.results()[0];
    (r.latency_p50, r.latency_p99)
}

fn frame_time(samples: usize) -> f64 {
    let mut h = harness();
    h.state_mut().open(&root("assets/mlp.onnx"));
    let mut view = RunView {
        spec: Some(RunSpec {
            engine: EngineKind::Ort,
            variant: "original".into(),
            batch_size: Some(1),
            concurrency: 1,
        }),
        ..Default::default()
    };
    view.measure_ms = (0..samples)
        .map(|i| 0.05 + ((i * 7919) % 1000) as f32 * 1e-4)
        .collect();
    h.state_mut().session = Some(Session {
        plan: None,
        data: String::new(),
        worker: None,
        runs: [(0, view)].into_iter().collect(),
        started: Instant::now(),
        memory: (0..samples / 100)
            .map(|i| [i as f64 * 0.01, 100.0])
            .collect(),
        progress: None,
        study: None,
        cancelled: false,
        finished: true,
        notice: None,
        skipped: Vec::new(),
    });
    h.step();
    h.render().unwrap();
    let n = 10;
    let t = Instant::now();
    for _ in 0..n {
        // A repaint as a mouse move would cause it: layout, plots, tessellation and GPU work.
        h.step();
        h.render().unwrap();
    }
    t.elapsed().as_secs_f64() * 1e3 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // Memory and cold start are measured in a process of the real binary, not of this bench.
    std::env::set_var("INFERSCOPE_EXE", env!("CARGO_BIN_EXE_inferscope"));
    let (mut a50, mut a99, mut b50, mut b99) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let (p50, p99) = headless();
        a50.push(p50);
        a99.push(p99);
        let (q50, q99) = in_window();
        b50.push(q50);
        b99.push(q99);
        println!("round {round}: headless p50 {p50:.4} ms p99 {p99:.4} ms | window p50 {q50:.4} ms p99 {q99:.4} ms");
    }
    let r50: Vec<f64> = b50.iter().zip(&a50).map(|(b, a)| b / a).collect();
    let r99: Vec<f64> = b99.iter().zip(&a99).map(|(b, a)| b / a).collect();
    println!(
        "window / headless: p50 ratio {:.3} (rounds {:?}), p99 ratio {:.3} (rounds {:?})",
        median(r50.clone()),
        r50,
        median(r99.clone()),
        r99
    );
    let small = frame_time(1_000);
    let large = frame_time(1_000_000);
    println!("frame with 1k samples: {small:.1} ms; with 1M samples: {large:.1} ms (ratio {:.2}); repaint interval while running: {:?}", large / small, REPAINT_EVERY);
}
