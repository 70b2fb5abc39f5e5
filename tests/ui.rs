//! The real app, driven through egui_kittest: drop a model, run, watch, cancel, break things.
//!
//! Set `INFERSCOPE_SCREENSHOTS=1` to also write the PNGs in `screenshots/` (the README's).

mod common;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use inferscope::app::InferscopeApp;
use inferscope::cost::Tier;
use inferscope::engine::EngineChoice;
use inferscope::settings::Stop;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The app as `InferscopeApp::new` builds it, except that finished runs are not kept in the
/// user's history folder (a test that wants a history gives it a temporary one).
fn harness() -> Harness<'static, InferscopeApp> {
    // The app measures each model's memory in a process of its own: this binary is the test
    // harness, so it is told where Inferscope's is (the same value each time).
    std::env::set_var("INFERSCOPE_EXE", env!("CARGO_BIN_EXE_inferscope"));
    Harness::builder()
        .with_size(egui::vec2(1280.0, 860.0))
        .build_eframe(|cc| InferscopeApp::new_with_storage(cc, cc.storage))
}

/// A file dropped from the desktop, as the windowing layer hands it to egui.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Drops files on the window exactly as the OS does.
fn drop_file(h: &mut Harness<'static, InferscopeApp>, path: &Path) {
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.to_path_buf())));
    h.step();
    h.step();
}

/// Steps the UI while the worker runs, until `done` or the timeout.
fn step_until(
    h: &mut Harness<'static, InferscopeApp>,
    timeout: Duration,
    done: impl Fn(&InferscopeApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < timeout,
            "timed out waiting; errors: {:?}",
            h.state().errors
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.step();
    h.step();
}

/// Clicks Run and waits until a new run session exists (it may already have finished: a model
/// an engine cannot load fails at once).
fn click_run(h: &mut Harness<'static, InferscopeApp>) {
    let before = h.state().session.as_ref().map(|s| s.started);
    h.get_by_label("Run").click();
    for _ in 0..5 {
        h.step();
        if h.state().session.as_ref().map(|s| s.started) != before {
            return;
        }
    }
    panic!("the run did not start; errors: {:?}", h.state().errors);
}

/// The Compare tab's comparison has finished with a result.
fn compared(a: &InferscopeApp) -> bool {
    a.compare
        .as_ref()
        .is_some_and(|c| c.worker.is_none() && c.result.is_some())
}

fn finished(app: &InferscopeApp) -> bool {
    app.session.as_ref().is_some_and(|s| s.finished)
}

/// File > Export as PDF to `pdf`, as the menu does; the report's text, words joined by one space.
fn export_pdf_text(h: &mut Harness<'static, InferscopeApp>, pdf: &Path) -> String {
    h.state_mut().command(inferscope::app::Command::Export(
        inferscope::app::ExportKind::Pdf,
        pdf.to_path_buf(),
    ));
    h.run();
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    let text = std::process::Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    String::from_utf8_lossy(&text.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn screenshot(h: &mut Harness<'static, InferscopeApp>, name: &str) {
    if std::env::var_os("INFERSCOPE_SCREENSHOTS").is_some() {
        let img = h.render().expect("render");
        img.save(root(&format!("screenshots/{name}.png")))
            .expect("save screenshot");
    }
}

#[test]
fn drop_a_model_run_a_benchmark_and_read_the_results() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/mlp.onnx"));
    drop_file(&mut h, &root("assets/digits.npz"));
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    h.get_by_label("mlp");
    h.get_by_label_contains("float32[?, 64]");
    h.get_by_label_contains("digits.npz");
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Both;
        s.batch_sizes = vec![1, 8, 32];
        s.stop = Stop::Iterations(400);
    }
    h.step();
    click_run(&mut h);
    // While it runs: the MLP's runs take milliseconds, but each engine's model is first
    // measured in a process of its own, and the progress bar says so meanwhile.
    step_until(&mut h, Duration::from_secs(60), |a| {
        finished(a) || a.session.as_ref().is_some_and(|s| s.progress.is_some())
    });
    if !finished(h.state()) {
        screenshot(&mut h, "profile_running");
    }
    step_until(&mut h, Duration::from_secs(60), |a| {
        a.session
            .as_ref()
            .is_some_and(|s| s.runs.values().any(|r| !r.measure_ms.is_empty()))
    });
    step_until(&mut h, Duration::from_secs(120), finished);
    let app = h.state();
    let session = app.session.as_ref().unwrap();
    assert_eq!(session.results().len(), 6, "errors: {:?}", app.errors);
    // The plots have points: every run streamed its samples, and memory was sampled.
    for r in session.runs.values() {
        assert_eq!(r.measure_ms.len(), 400);
        assert_eq!(r.warmup_ms.len(), 10);
    }
    assert!(!session.memory.is_empty());
    // The table shows percentiles with intervals, for both engines.
    h.get_by_label("p50 ms [95% CI]");
    h.get_by_label("p99 ms [95% CI]");
    // One table row per run (the plot legends name the engines too).
    assert!(h.get_all_by_label("onnxruntime").count() >= 3);
    assert!(h.get_all_by_label("tract").count() >= 3);
    let first = &h.state().session.as_ref().unwrap().results()[0].clone();
    h.get_by_label_contains(&format!("{:.3} [", first.latency_p50));
    // The checklist judged the run.
    h.get_by_label_contains("Several batch sizes tried");
    assert!(h.query_all_by_label("pass").count() >= 3);
    screenshot(&mut h, "profile_done");
}

#[test]
fn cancel_midway_leaves_the_app_usable() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/cnn.onnx"));
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Tract;
        s.batch_sizes = vec![1, 8];
        s.stop = Stop::MinTime {
            seconds: 600.0,
            min_iterations: 100,
            max_seconds: 600.0,
        };
    }
    h.step();
    click_run(&mut h);
    step_until(&mut h, Duration::from_secs(30), |a| {
        a.session
            .as_ref()
            .is_some_and(|s| s.runs.values().any(|r| r.measure_ms.len() > 20))
    });
    // Without a GPU the live views refresh slowly, and the window says why.
    h.state_mut().software_rendering = true;
    h.run();
    assert_eq!(
        h.state().repaint_every(),
        inferscope::app::REPAINT_EVERY_SOFTWARE
    );
    h.get_by_label("Drawing without a GPU: plots refresh every 2 s");
    h.state_mut().software_rendering = false;
    h.get_by_label("Cancel").click();
    // A 600 s run: finishing at all within the hang guard means the cancel took.
    step_until(&mut h, Duration::from_secs(120), finished);
    let app = h.state();
    assert!(app.session.as_ref().unwrap().cancelled);
    assert!(app.errors.is_empty(), "{:?}", app.errors);
    h.get_by_label("Cancelled");
    // And it runs again.
    {
        let s = &mut h.state_mut().saved.settings;
        s.stop = Stop::Iterations(50);
    }
    h.step();
    click_run(&mut h);
    step_until(&mut h, Duration::from_secs(60), finished);
    assert_eq!(h.state().session.as_ref().unwrap().results().len(), 2);
}

#[test]
fn a_broken_model_shows_an_error_and_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.onnx");
    let bytes = std::fs::read(root("assets/mlp.onnx")).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let mut h = harness();
    drop_file(&mut h, &root("assets/logreg.onnx"));
    drop_file(&mut h, &bad);
    h.get_by_label_contains("broken.onnx is not a valid ONNX model");
    assert_eq!(h.state().model.as_ref().unwrap().info.name, "logreg");
    // An op tract lacks fails that run only, with the reason, and the window goes on.
    drop_file(&mut h, &root("tests/data/tract_unsupported.onnx"));
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Tract;
        s.stop = Stop::Iterations(10);
    }
    h.step();
    click_run(&mut h);
    step_until(&mut h, Duration::from_secs(30), finished);
    h.get_by_label_contains("does not implement the operator Det");
    // Unsupported files say what is supported.
    drop_file(&mut h, &dir.path().join("notes.txt"));
    h.get_by_label_contains("Inferscope opens models (.onnx)");
}

#[test]
fn tabs_and_theme() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/cnn.onnx"));
    // FLOPs are estimated off the UI thread and arrive a moment later.
    step_until(&mut h, Duration::from_secs(30), |a| {
        a.model.as_ref().is_some_and(|m| m.info.flops.is_some())
    });
    assert_eq!(h.state().model.as_ref().unwrap().info.flops, Some(176_128));
    h.get_by_label("176.1 k");
    h.snapshot("profile_with_model");
    h.get_by_label("Compare").click();
    h.run();
    h.get_by_label_contains("Benchmarked with the Profile tab's settings");
    h.snapshot("compare_tab");
    // The batch int8 is timed at, typed in the tab, reaches the variant it builds.
    h.get_by_label("int8 (auto)").click();
    h.run();
    h.get_by_label("timed at batch").click();
    h.run();
    h.get_by_label("timed at batch").type_text("16");
    h.run();
    h.key_press(egui::Key::Enter);
    h.run();
    assert_eq!(h.state().saved.compare.int8_batch, 16);
    assert!(h
        .state()
        .saved
        .compare
        .variants()
        .iter()
        .any(|v| v.to_string() == "int8:auto:batch=16"));
    h.get_by_label("int8 (auto)").click();
    h.run();
    h.get_by_label("Cost").click();
    h.run();
    h.get_by_label_contains("Service time from a typed latency");
    h.snapshot("cost_tab");
    assert!(!h.state().saved.dark_mode);
}

/// eframe storage in memory, as the real one keeps it between runs.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

/// The settings' text fields parse as the user types; what does not parse is shown beside the
/// field, keeps the last good value, and keeps Run from starting.
#[test]
fn typed_batch_sizes_and_dims_parse_or_say_why() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/mlp.onnx"));
    h.get_by_label("Batch sizes").click();
    h.run();
    h.get_by_label("Batch sizes").type_text("1, 32");
    h.run();
    assert_eq!(h.state().saved.settings.batch_sizes, vec![1, 32]);
    h.get_by_label("Batch sizes").type_text(", x");
    h.run();
    assert_eq!(
        h.state().saved.settings.batch_sizes,
        vec![1, 32],
        "the last good value"
    );
    h.get_by_label_contains("'x' is not a batch size");
    h.state_mut().command(inferscope::app::Command::Run);
    h.run();
    assert!(
        h.state().session.is_none(),
        "no run with a field that does not parse"
    );
    assert!(
        h.state()
            .errors
            .iter()
            .any(|e| e.contains("'x' is not a batch size")),
        "{:?}",
        h.state().errors
    );
    h.get_by_label("Symbolic dims").click();
    h.run();
    h.get_by_label("Symbolic dims").type_text("seq=16");
    h.run();
    assert_eq!(h.state().saved.settings.dims.get("seq"), Some(&16));
}

/// One settings type: the same preset gives the same plan from the command line and from the
/// window (engine, batches, warm-up, stop rule with its caps, threads, seed).
#[test]
fn a_preset_gives_the_same_plan_in_the_window_as_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root("assets/mlp.onnx"), dir.path().join("m.onnx")).unwrap();
    let preset = dir.path().join("study.ron");
    std::fs::write(
        &preset,
        r#"(
    version: 2,
    name: "same plan",
    model: (path: "m.onnx"),
    bench: (engine: tract, threads: 1, batch_sizes: [1, 4], warmup_iterations: 3, seed: 7,
            stop: UntilStable(percent: 20.0, min_iterations: 100, max_iterations: 300, max_seconds: 10.0)),
)"#,
    )
    .unwrap();
    let out = dir.path().join("r.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_inferscope"))
        .args(["bench", "--preset", preset.to_str().unwrap(), "--json"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc = inferscope::report::BenchDoc::read(&out).unwrap();
    let cli_plan = doc.plan.expect("the JSON holds the plan");

    let mut h = harness();
    drop_file(&mut h, &preset);
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    click_run(&mut h);
    step_until(&mut h, Duration::from_secs(120), finished);
    let window_plan = h.state().session.as_ref().unwrap().plan.clone().unwrap();
    assert_eq!(window_plan, cli_plan);
    assert_eq!(window_plan.batch_sizes, vec![Some(1), Some(4)]);
}

/// A worker that panics (a buggy engine, a malformed model) ends its job with the reason in the
/// error bar; the window does not stay "running", and the next benchmark runs.
#[test]
fn a_panicking_worker_ends_its_job_and_the_app_runs_again() {
    use inferscope::bench::Event;
    use inferscope::worker::{bench_failure, Worker};
    let mut h = harness();
    drop_file(&mut h, &root("assets/mlp.onnx"));
    let worker = Worker::spawn(
        "inferscope-bench",
        |_, _sink: &mut dyn FnMut(Event)| panic!("the engine exploded"),
        || {},
        bench_failure,
    );
    h.state_mut().session = Some(inferscope::app::Session {
        plan: None,
        data: String::new(),
        worker: Some(worker),
        runs: Default::default(),
        started: Instant::now(),
        memory: Vec::new(),
        progress: None,
        study: None,
        cancelled: false,
        finished: false,
        notice: None,
        skipped: Vec::new(),
    });
    step_until(&mut h, Duration::from_secs(60), finished);
    assert!(!h.state().is_running());
    let errors = h.state().errors.join("\n");
    assert!(
        errors.contains(inferscope::guard::INTERNAL_ERROR)
            && errors.contains("the engine exploded"),
        "{errors}"
    );
    h.get_by_label_contains("the engine exploded");
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Tract;
        s.batch_sizes = vec![1];
        s.stop = Stop::Iterations(30);
    }
    h.step();
    click_run(&mut h);
    step_until(&mut h, Duration::from_secs(120), finished);
    assert_eq!(h.state().session.as_ref().unwrap().results().len(), 1);
}

#[test]
fn settings_recent_files_and_theme_survive_a_restart() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/cnn.onnx"));
    drop_file(&mut h, &root("assets/digits_images.npz"));
    h.get_by_label("View").click();
    h.run();
    h.get_by_label("Dark theme").click();
    h.run();
    {
        let s = &mut h.state_mut().saved.settings;
        s.batch_sizes = vec![2, 4];
        s.stop = Stop::default_until_stable();
    }
    h.state_mut().saved.cost.inputs.latency_target_ms = 25.0;
    let mut storage = MemoryStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let before = h.state().saved.settings.clone();
    drop(h);
    // A new window, reading what the last one saved, as a restart does.
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 860.0))
        .build_eframe(move |cc| InferscopeApp::new_with_storage(cc, Some(&storage)));
    h.run();
    let restored = h.state();
    assert_eq!(restored.saved.settings, before);
    assert_eq!(restored.saved.cost.inputs.latency_target_ms, 25.0);
    assert!(restored.saved.dark_mode);
    assert_eq!(
        restored.saved.recent,
        vec![root("assets/digits_images.npz"), root("assets/cnn.onnx")]
    );
    // The model is open again, and the data with it.
    assert_eq!(
        restored.model.as_ref().map(|m| m.info.name.as_str()),
        Some("cnn")
    );
    assert_eq!(
        restored.saved.data_path,
        Some(root("assets/digits_images.npz"))
    );
    h.get_by_label_contains("digits_images.npz");
    assert!(
        h.query_all_by_value("2, 4").next().is_some(),
        "the batch sizes field shows the restored settings"
    );
}

#[test]
fn keyboard_shortcuts_run_and_cancel() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/mlp.onnx"));
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Tract;
        s.batch_sizes = vec![1];
        s.stop = Stop::MinTime {
            seconds: 600.0,
            min_iterations: 100,
            max_seconds: 600.0,
        };
    }
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    h.step();
    h.step();
    assert!(h.state().is_running(), "Ctrl+R starts a run");
    step_until(&mut h, Duration::from_secs(30), |a| {
        a.session
            .as_ref()
            .is_some_and(|s| s.runs.values().any(|r| !r.measure_ms.is_empty()))
    });
    h.key_press(egui::Key::Escape);
    step_until(&mut h, Duration::from_secs(10), finished);
    assert!(h.state().session.as_ref().unwrap().cancelled, "Esc cancels");
}

/// The Cost tab prices the run just measured, and its sliders move the recommendation.
#[test]
fn cost_tab_follows_the_measured_run_and_the_sliders() {
    use egui::accesskit::Role;
    let mut h = harness();
    drop_file(&mut h, &root("assets/mlp.onnx"));
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Tract;
        s.batch_sizes = vec![1, 8];
        s.stop = Stop::Iterations(300);
    }
    h.step();
    click_run(&mut h);
    step_until(&mut h, Duration::from_secs(120), finished);
    h.get_by_label("Cost").click();
    h.run();
    // The service time is the fastest batch-1 run, as measured.
    let run = h.state().session.as_ref().unwrap().results()[0].clone();
    assert_eq!(run.batch_size, 1);
    h.get_by_label_contains(&format!(
        "Service time from run {}: tract original, batch 1, 300 samples",
        run.run_id
    ));
    // The model's memory is the process's peak, which other tests running in this process
    // raise: give functions room so that the plan turns on latency and price alone.
    h.state_mut().saved.cost.inputs.function_memory_mb = 4096.0;
    h.run();
    // A million requests a month at a 100 ms p95 target: functions are cheapest.
    h.get_by_label_contains("Recommended: serverless");
    // A billion: every tier is over the $500 budget, and the panel says so.
    h.get_by_role_and_label(Role::Slider, "Monthly requests")
        .set_value_accesskit(1e9);
    h.run();
    assert_eq!(h.state().saved.cost.inputs.monthly_requests, 1e9);
    h.get_by_label("No tier fits");
    h.get_by_label_contains("none fits the $500 budget");
    // With the budget raised, one always-on container is cheaper than a billion invocations.
    h.get_by_role_and_label(Role::Slider, "Monthly budget")
        .set_value_accesskit(1e5);
    h.run();
    h.get_by_label_contains("Recommended: container");
    // It says at which volume that choice would flip (down here, to serverless).
    let flips = h
        .state()
        .cost_view()
        .unwrap()
        .plan
        .clone()
        .unwrap()
        .recommendation
        .flips;
    assert!(
        flips
            .iter()
            .any(|(v, t)| *v < 1e9 && *t == Some(Tier::Serverless)),
        "{flips:?}"
    );
    h.get_by_label_contains("below ");
    screenshot(&mut h, "cost");
    // A batch-8 run serves 8 requests per inference; the planner says what filling costs.
    h.state_mut().cost_source = Some(inferscope::app::cost::CostSource::Run(1));
    h.run();
    assert!(
        h.query_all_by_label_contains("to fill a batch of 8")
            .count()
            >= 1
    );
}

/// A preset dropped on the window fills the settings, the cost inputs and the prices and opens
/// its model; File > Save preset writes the changed study back; a broken one changes nothing.
#[test]
fn presets_load_by_drop_and_save_from_the_menu() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::copy(root("assets/mlp.onnx"), &model).unwrap();
    let preset = dir.path().join("study.ron");
    std::fs::write(
        &preset,
        r#"(
    version: 2,
    name: "my study",
    model: (path: "m.onnx"),
    bench: (engine: tract, batch_sizes: [1, 16], stop: UntilStable(percent: 4.0, min_iterations: 200, max_iterations: 3000)),
    cost: (monthly_requests: 25000000.0, latency_target_ms: 40.0),
    pricing: (network_usd_per_million_requests: 0.5),
)"#,
    )
    .unwrap();
    let mut h = harness();
    drop_file(&mut h, &preset);
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    h.get_by_label_contains("Loaded my study");
    let app = h.state();
    assert_eq!(app.model.as_ref().unwrap().info.name, "m");
    assert_eq!(app.saved.settings.engine, EngineChoice::Tract);
    assert_eq!(app.saved.settings.batch_sizes, vec![1, 16]);
    assert!(matches!(
        app.saved.settings.stop,
        Stop::UntilStable { percent, .. } if percent == 4.0
    ));
    assert_eq!(app.saved.cost.inputs.latency_target_ms, 40.0);
    assert_eq!(app.saved.cost.inputs.monthly_requests, 25e6);
    assert_eq!(app.saved.cost.pricing.network_usd_per_million_requests, 0.5);
    // Change a setting and save through the menu.
    h.state_mut().saved.settings.concurrency = 3;
    h.get_by_label("File").click();
    h.run();
    h.get_by_label_contains("Save preset  (").click();
    h.run();
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    let saved = inferscope::preset::Preset::load(&preset).unwrap();
    assert_eq!(saved.preset.bench.concurrency, 3);
    assert_eq!(saved.preset.bench.batch_sizes, vec![1, 16]);
    assert_eq!(saved.preset.cost.monthly_requests, 25e6);
    let m = saved.preset.model.unwrap();
    assert_eq!(m.path, PathBuf::from("m.onnx"), "relative to the preset");
    assert_eq!(
        m.sha256.as_deref(),
        Some(h.state().model.as_ref().unwrap().info.sha256.as_str())
    );
    assert!(saved.warnings.is_empty(), "{:?}", saved.warnings);
    // A broken preset is refused with where and why; nothing changes.
    let bad = dir.path().join("bad.ron");
    std::fs::write(&bad, "(version: 2, bench: (concurrency: 0))").unwrap();
    drop_file(&mut h, &bad);
    h.get_by_label_contains("bench.concurrency must be between 1 and 256");
    assert_eq!(h.state().saved.settings.concurrency, 3);
    // Shipped presets are one click away.
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Shipped presets").hover();
    h.run();
    h.get_by_label("Thorough").click();
    h.run();
    assert_eq!(h.state().saved.settings.engine, EngineChoice::Both);
    assert!(matches!(
        h.state().saved.settings.stop,
        Stop::UntilStable { .. }
    ));
}

/// A variant that cannot be built says why in full, below the verdicts where it wraps to the
/// panel, and the comparison of the rest goes on (int8 of a tree ensemble).
#[test]
fn a_variant_that_cannot_be_built_says_why_in_the_compare_tab() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/forest.onnx"));
    drop_file(&mut h, &root("assets/breast_cancer.npz"));
    {
        let s = &mut h.state_mut().saved.settings;
        s.batch_sizes = vec![1];
        s.stop = Stop::Iterations(30);
        s.warmup_iterations = 2;
    }
    h.get_by_label("Compare").click();
    h.run();
    assert!(h.state().saved.compare.int8, "int8 is on by default");
    h.get_by_label("Run comparison").click();
    h.step();
    step_until(&mut h, Duration::from_secs(120), compared);
    let cmp = h.state().compare.as_ref().unwrap().result.clone().unwrap();
    let why = cmp.variants[0]
        .error
        .clone()
        .expect("int8 of a forest is not built");
    assert_eq!(
        why,
        "int8:dynamic does not apply to forest: it has no MatMul, Gemm or Conv with constant float weights"
    );
    h.get_by_label("not built (why: below)");
    h.get_by_label(&format!("int8:dynamic: not built: {why}"));
}

/// The Compare tab through the real app: switch on variants, run the interleaved comparison,
/// read the table and the drift, and exclude a layer with one click, which compares again.
#[test]
fn compare_tab_runs_variants_and_excludes_a_layer() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/mlp.onnx"));
    drop_file(&mut h, &root("assets/digits.npz"));
    // FLOPs are estimated off the UI thread; their arrival repaints the window, so the clicks
    // below wait for it (on a loaded machine it can come mid-test).
    step_until(&mut h, Duration::from_secs(60), |a| {
        a.model.as_ref().is_some_and(|m| m.info.flops.is_some())
    });
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Auto;
        s.batch_sizes = vec![1, 32];
        s.stop = Stop::Iterations(200);
        s.warmup_iterations = 5;
    }
    h.get_by_label("Compare").click();
    h.run();
    assert!(h.state().saved.compare.int8, "int8 is on by default");
    h.get_by_label("pruning").click();
    h.run();
    assert!(h.state().saved.compare.prune);
    h.get_by_label("Run comparison").click();
    h.step();
    let done = compared;
    step_until(&mut h, Duration::from_secs(240), done);
    let cmp = h.state().compare.as_ref().unwrap().result.clone().unwrap();
    let names: Vec<&str> = cmp.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["int8:dynamic", "prune:0.5:structured"]);
    assert_eq!(cmp.runs.len(), 6, "original + 2 variants at batch 1 and 32");
    assert!(
        h.query_all_by_label("prune:0.5:structured").count() >= 2,
        "a table row per batch"
    );
    h.get_by_label_contains("Per-layer drift of");
    h.get_by_label_contains("Pareto");
    // Each variant's verdict and monthly bill, as the report prints them.
    h.get_by_label("Verdicts");
    for v in &cmp.variants {
        let verdict = inferscope::compare::verdict::verdict(v, cmp.file_size_bytes);
        h.get_by_label(&verdict.text);
    }
    let bills = inferscope::cost::variants::per_variant(
        &h.state().saved.cost.inputs,
        &h.state().saved.cost.pricing,
        &cmp.runs,
    )
    .unwrap();
    h.get_by_label(&bills[0].label());
    screenshot(&mut h, "compare");
    // File > Export on the Compare tab writes the comparison report, with its files attached.
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("cmp.pdf");
    let text = export_pdf_text(&mut h, &pdf);
    assert!(
        text.contains("Comparison: 2 variants against the original"),
        "{text}"
    );
    assert!(
        !text.contains("Settings Not recorded"),
        "the comparison's settings are in it"
    );
    let bill = format!(
        "{} {} {} {}",
        bills[1].variant,
        bills[1].tier.unwrap().label(),
        inferscope::format::usd(bills[1].monthly_usd.unwrap()),
        bills[1].saving_over(&bills[0]).unwrap()
    );
    assert!(text.contains(&bill), "{bill} in {text}");
    let listed = std::process::Command::new("pdfdetach")
        .args(["-list", pdf.to_str().unwrap()])
        .output()
        .expect("pdfdetach (poppler-utils) is installed");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("inferscope-preset.ron") && listed.contains("inferscope-results.json"),
        "{listed}"
    );
    assert!(
        h.state().notices.iter().any(|n| n.contains("cmp.pdf")),
        "the export says where it wrote"
    );
    h.state_mut().notices.clear();
    h.run();
    // One click leaves MatMul1 in float and compares again.
    h.get_by_label("Exclude MatMul1").scroll_to_me();
    h.run();
    h.get_by_label("Exclude MatMul1").click();
    h.step();
    assert!(h.state().is_comparing(), "errors: {:?}", h.state().errors);
    step_until(&mut h, Duration::from_secs(240), done);
    let cmp = h.state().compare.as_ref().unwrap().result.clone().unwrap();
    let q = &cmp.variants[0];
    assert_eq!(q.name, "int8:dynamic:exclude=MatMul1");
    let cov = q.coverage.as_ref().unwrap();
    assert_eq!(cov.changed.len(), 2);
    assert!(cov
        .skipped
        .iter()
        .any(|s| s.node == "MatMul1" && s.note == "excluded by you"));
    // The notice of the comparison's start sits over the bottom of the table: dismissed, as a
    // user does before reaching for a row under it.
    if !h.state().notices.is_empty() {
        h.get_by_label("Dismiss").click();
        h.run();
    }
    // A variant is saved from its row, as a user does: Save…, a path, Save; never over the
    // original.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q.onnx");
    let save_as = |h: &mut Harness<'static, InferscopeApp>, path: &Path| {
        // Clicked through AccessKit, as assistive technology does: a pointer click at the
        // row's centre sometimes missed it in a full test run (the row moved between the
        // frame that placed it and the one that took the click).
        h.get_all_by_label("Save…")
            .next()
            .expect("a Save button per variant")
            .click_accesskit();
        h.run();
        let Some((name, default)) = h.state().saving_variant.clone() else {
            if let Ok(img) = h.render() {
                let _ = img.save("/tmp/save_fail.png");
            }
            panic!(
                "the Save dialog is not open: comparing {}, errors {:?}, notices {:?}, {} Save buttons, pending export {}",
                h.state().is_comparing(),
                h.state().errors,
                h.state().notices,
                h.get_all_by_label("Save…").count(),
                h.state().pending_export.is_some()
            );
        };
        assert!(default.ends_with(".onnx"), "{default}");
        h.get_by_label("Save as")
            .set_text_value_accesskit(path.to_str().unwrap());
        h.run();
        h.get_by_label(if path.exists() { "Replace" } else { "Save" })
            .click();
        h.run();
        assert!(h.state().saving_variant.is_none(), "the dialog closes");
        name
    };
    let name = save_as(&mut h, &out);
    assert_eq!(name, "int8:dynamic:exclude=MatMul1");
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    let saved = inferscope::model::Model::load(&out).unwrap();
    assert_eq!(saved.info.op_histogram.get("MatMulInteger"), Some(&2));
    save_as(&mut h, &root("assets/mlp.onnx"));
    assert!(
        h.state()
            .errors
            .iter()
            .any(|e| e.contains("the original model")),
        "{:?}",
        h.state().errors
    );
    h.state_mut().errors.clear();
    // The chip under int8 puts it back.
    h.get_by_label("MatMul1 ×").scroll_to_me();
    h.run();
    h.get_by_label("MatMul1 ×").click();
    h.run();
    assert!(h.state().saved.compare.int8_options.exclude.is_empty());
}

/// A long comparison cancels promptly and leaves the app ready for the next one.
#[test]
fn a_comparison_cancels_and_the_app_stays_usable() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/mlp.onnx"));
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Tract;
        s.batch_sizes = vec![1];
        s.stop = Stop::MinTime {
            seconds: 60.0,
            min_iterations: 100,
            max_seconds: 60.0,
        };
    }
    h.get_by_label("Compare").click();
    h.run();
    h.get_by_label("Run comparison").click();
    h.step();
    step_until(&mut h, Duration::from_secs(60), |a| {
        a.compare.as_ref().is_some_and(|c| {
            matches!(
                c.progress,
                Some((_, inferscope::bench::Phase::Measure, _, _))
            )
        })
    });
    // While it runs, the tab shows what the Profile tab shows, per variant: live latencies,
    // and how far it has come with a time estimate once there is a pace to go by.
    step_until(&mut h, Duration::from_secs(60), |a| {
        a.compare.as_ref().is_some_and(|c| {
            !c.live.is_empty() && c.study.as_ref().is_some_and(|p| p.remaining().is_some())
        })
    });
    h.run();
    h.get_by_label("Latency per variant, live");
    let status = h
        .query_all_by_label_contains("left)")
        .next()
        .map(|n| format!("{n:?}"))
        .expect("a time estimate");
    assert!(status.contains("run 1 of 2, about"), "{status}");
    h.get_by_label("Cancel").click();
    step_until(&mut h, Duration::from_secs(120), |a| !a.is_comparing());
    let c = h.state().compare.as_ref().unwrap();
    assert!(c.cancelled);
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    // The Profile tab runs again at once.
    h.state_mut().saved.settings.stop = Stop::MinTime {
        seconds: 0.2,
        min_iterations: 100,
        max_seconds: 0.2,
    };
    h.get_by_label("Profile").click();
    h.run();
    click_run(&mut h);
    step_until(&mut h, Duration::from_secs(60), finished);
}

/// A real third-party model as a user brings it: PaddleOCR's text recognizer (paddle2onnx,
/// dynamic dims) and its sample input, dropped on the window; Run on both engines, Compare with
/// int8, and the Cost tab prices the measured run.
#[test]
fn a_real_paddle_model_runs_compares_and_is_priced_in_the_window() {
    let (model, data) = common::corpus_model("ppocr-rec");
    let mut h = harness();
    drop_file(&mut h, &model);
    drop_file(&mut h, &data);
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    h.get_by_label_contains("float32[p2o.DynamicDimension.0, 3, ?, p2o.DynamicDimension.1]");
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Both;
        s.stop = Stop::Iterations(20);
        s.warmup_iterations = 2;
    }
    h.step();
    click_run(&mut h);
    step_until(&mut h, Duration::from_secs(300), finished);
    let runs = h.state().session.as_ref().unwrap().results().len();
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    assert_eq!(runs, 2, "ONNX Runtime and tract");
    // FLOPs are counted at the sample's shapes once the data is open.
    step_until(&mut h, Duration::from_secs(120), |a| {
        a.model.as_ref().is_some_and(|m| m.info.flops.is_some())
    });
    h.run();
    screenshot(&mut h, "real_model_profile");

    h.get_by_label("Compare").click();
    h.run();
    h.get_by_label("Run comparison").click();
    h.step();
    step_until(&mut h, Duration::from_secs(600), |a| !a.is_comparing());
    let c = h.state().compare.as_ref().unwrap();
    let cmp = c
        .result
        .as_ref()
        .unwrap_or_else(|| panic!("{:?} {:?}", c.failures, h.state().errors));
    let int8 = &cmp.variants[0];
    assert!(int8.error.is_none(), "{:?}", int8.error);
    assert!(int8
        .coverage
        .as_ref()
        .is_some_and(|c| !c.changed.is_empty()));
    h.run();
    screenshot(&mut h, "real_model_compare");

    h.get_by_label("Cost").click();
    h.run();
    h.get_by_label_contains("Service time from run");
    screenshot(&mut h, "real_model_cost");
}

/// The Cost tab measures the open model under open-loop load beside the queue model, finds the
/// capacity at the target, and the planner sizes instances by it when asked.
#[test]
fn the_cost_tab_measures_under_load_and_sizes_by_the_capacity() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/cnn.onnx"));
    {
        let s = &mut h.state_mut();
        s.saved.settings.engine = EngineChoice::Tract;
        s.saved.settings.threads = Some(1);
        s.saved.cost.load_seconds = 1.0;
        s.saved.cost.inputs.latency_target_ms = 20.0;
    }
    h.get_by_label("Cost").click();
    h.run();
    h.get_by_label("Measure under load").scroll_to_me();
    h.run();
    h.get_by_label("Measure under load").click();
    h.step();
    assert!(h.state().is_loading(), "errors: {:?}", h.state().errors);
    let done = |a: &InferscopeApp| a.load.as_ref().is_some_and(|l| l.worker.is_none());
    step_until(&mut h, Duration::from_secs(120), done);
    let l = h.state().load.as_ref().unwrap();
    assert!(l.error.is_none(), "{:?}", l.error);
    assert_eq!(l.runs.len(), inferscope::app::load::SWEEP.len());
    for r in &l.runs {
        // The model predicts wherever the servers were not saturated.
        if r.utilization < 0.9 {
            assert!(
                r.predicted.as_ref().is_some_and(|p| p.p95.is_some()),
                "{r:?}"
            );
        }
        assert!(r.latency.p95 >= r.service.p50);
    }
    assert!(
        l.runs[0].utilization < 0.9,
        "30% of flat out: {:?}",
        l.runs[0]
    );
    h.run();
    h.get_by_label_contains("Under load on this machine");
    assert_eq!(
        h.query_all_by_label_contains("model: ").count(),
        2 * l_runs(&h),
        "each rate shows p95 and p99, measured and modelled"
    );
    h.get_by_label("r1").scroll_to_me();
    h.run();
    screenshot(&mut h, "cost_load");
    // The capacity at the 20 ms p95 target, then the planner sized by it.
    h.get_by_label("Find capacity at the target").click();
    h.step();
    step_until(&mut h, Duration::from_secs(240), done);
    let c = h
        .state()
        .load
        .as_ref()
        .unwrap()
        .capacity
        .clone()
        .expect("searched");
    let rate = c.max_rate.expect("a tiny CNN meets 20 ms");
    h.run();
    h.get_by_label_contains("Capacity: ");
    h.get_by_label("Size instances by the measured capacity")
        .scroll_to_me();
    h.run();
    h.get_by_label("Size instances by the measured capacity")
        .click();
    h.run();
    assert_eq!(
        h.state().saved.cost.inputs.measured_capacity_rps,
        Some(rate)
    );
    // The tier table follows: always-on tiers are sized by it, and say so.
    let view = h.state().cost_view().unwrap().plan.clone().unwrap();
    let container = view
        .tiers
        .iter()
        .find(|t| t.cost.tier == Tier::Container)
        .unwrap();
    let peak = h.state().saved.cost.inputs.peak_inferences_per_s();
    assert!(container.cost.instances as f64 >= peak / rate);
    h.get_by_label("Size instances by the measured capacity")
        .click();
    h.run();
    assert_eq!(h.state().saved.cost.inputs.measured_capacity_rps, None);
}

fn l_runs(h: &Harness<'static, InferscopeApp>) -> usize {
    h.state().load.as_ref().map(|l| l.runs.len()).unwrap_or(0)
}

/// Every finished benchmark is kept per model; one pinned as the baseline is compared with the
/// current runs as `bench --baseline` does, and a significant slowdown is marked.
#[test]
fn history_keeps_runs_and_a_pinned_baseline_marks_what_changed() {
    use egui::accesskit::Role;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness();
    h.state_mut().history_dir = Some(dir.path().to_path_buf());
    drop_file(&mut h, &root("assets/mlp.onnx"));
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Tract;
        s.batch_sizes = vec![1];
        s.stop = Stop::Iterations(2000);
    }
    h.step();
    click_run(&mut h);
    step_until(&mut h, Duration::from_secs(120), finished);
    h.run();
    let kept = h.state().history();
    assert_eq!(kept.len(), 1, "the finished run is kept");
    // A baseline from when the model ran 5x faster: pinned, the current run is slower.
    let mut old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&kept[0].path).unwrap()).unwrap();
    for r in old["runs"].as_array_mut().unwrap() {
        r["latency_p50"] = (r["latency_p50"].as_f64().unwrap() * 0.2).into();
        for e in ["lo", "hi"] {
            r["ci_p50"][e] = (r["ci_p50"][e].as_f64().unwrap() * 0.2).into();
        }
        for q in r["latency_quantiles_ms"].as_array_mut().unwrap() {
            *q = (q.as_f64().unwrap() * 0.2).into();
        }
    }
    old["environment"]["date"] = "2026-01-01T00:00:00Z".into();
    let older = kept[0]
        .path
        .with_file_name("2026-01-01T000000Z-000000000.json");
    std::fs::write(&older, serde_json::to_string(&old).unwrap()).unwrap();
    h.run();
    h.get_by_role_and_label(Role::ComboBox, "History")
        .scroll_to_me();
    h.run();
    h.get_by_role_and_label(Role::ComboBox, "History").click();
    h.run();
    h.get_by_label_contains("2026-01-01 00:00:00").click();
    h.run();
    assert!(
        h.state().baseline.is_some(),
        "errors: {:?}",
        h.state().errors
    );
    h.get_by_label("Against the baseline");
    h.get_by_label_contains(": slower");
    let v = h.state().against_baseline().unwrap();
    assert!(
        v.changes[0].significant && v.changes[0].ratio > 2.0,
        "{v:?}"
    );
    h.get_by_label("Against the baseline").scroll_to_me();
    h.run();
    screenshot(&mut h, "profile_baseline");
    // Unpinned: the comparison goes away.
    h.get_by_label("Unpin baseline").scroll_to_me();
    h.run();
    h.get_by_label("Unpin baseline").click();
    h.run();
    assert!(h.state().baseline.is_none());
    assert!(h.query_by_label("Against the baseline").is_none());
}

/// The Operators tab: a profiling pass of the open model on ONNX Runtime, its op types, nodes,
/// timeline and roofline; a click on a node selects it; a Compare row's Operators button
/// profiles that variant against the original and shows the diff layer by layer, with the
/// selected layer's nodes highlighted in the variant.
#[test]
fn the_operators_tab_profiles_nodes_and_diffs_a_compared_variant() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/cnn.onnx"));
    {
        let s = &mut h.state_mut().saved;
        s.settings.engine = EngineChoice::Ort;
        s.settings.batch_sizes = vec![1];
        s.settings.stop = Stop::Iterations(200);
        s.ops.requests = 30;
    }
    // The tab (the model panel has an Operators list too).
    {
        use egui_kittest::kittest::NodeT;
        h.get_all_by_label("Operators")
            .find(|n| n.accesskit_node().toggled().is_some())
            .unwrap()
            .click();
    }
    h.run();
    h.get_by_label_contains("press Profile operators");
    h.get_by_label("Profile operators").click();
    h.step();
    assert!(h.state().is_profiling_ops(), "{:?}", h.state().errors);
    let done = |a: &InferscopeApp| a.ops.as_ref().is_some_and(|o| o.worker.is_none());
    step_until(&mut h, Duration::from_secs(120), done);
    let o = h.state().ops.as_ref().unwrap();
    assert!(o.error.is_none(), "{:?}", o.error);
    let doc = o.doc.clone().unwrap();
    assert!(doc.profile.engine.starts_with("onnxruntime"));
    assert!(
        doc.profile.ceilings.is_some(),
        "the roofline's ceilings were measured"
    );
    h.run();
    for l in [
        "Time per op type",
        "Nodes",
        "Timeline of one request",
        "Roofline",
    ] {
        h.get_by_label(l);
    }
    h.get_by_label_contains("requests profiled; a request takes");
    h.get_by_label_contains("This machine: ");
    // The slowest node starts selected; a click selects another.
    assert_eq!(
        h.state().ops_view.selected.as_deref(),
        Some(doc.profile.nodes[0].name.as_str())
    );
    h.get_by_label("fc").click();
    h.run();
    assert_eq!(h.state().ops_view.selected.as_deref(), Some("fc"));
    // Sorting by name puts the nodes in name order.
    h.get_by_label("node").click();
    h.run();
    assert_eq!(
        h.state().ops_view.sort,
        inferscope::app::operators::NodeSort::Name
    );
    screenshot(&mut h, "operators");

    // A comparison with int8 through ConvInteger; its row's Operators button profiles it.
    {
        let c = &mut h.state_mut().saved.compare;
        c.int8 = true;
        c.int8_options.conv = true;
    }
    h.get_by_label("Compare").click();
    h.run();
    h.get_by_label("Run comparison").click();
    h.step();
    step_until(&mut h, Duration::from_secs(240), compared);
    h.run();
    h.get_by_label("Where the time goes").click();
    h.step();
    assert_eq!(h.state().saved.tab, Some(inferscope::app::Tab::Operators));
    assert_eq!(h.state().saved.ops.variant.as_deref(), Some("int8:conv"));
    assert!(h.state().is_profiling_ops(), "{:?}", h.state().errors);
    step_until(&mut h, Duration::from_secs(120), done);
    let o = h.state().ops.as_ref().unwrap();
    assert!(o.error.is_none(), "{:?}", o.error);
    let doc = o.doc.clone().unwrap();
    let d = doc.diff.clone().expect("the variant's diff");
    assert!(
        d.request_after_us > d.request_before_us,
        "ConvInteger is slower: {d:?}"
    );
    h.run();
    h.get_by_label("int8:conv against the original");
    h.get_by_label("why it is slower:");
    h.get_by_label_contains("Conv through ConvInteger");
    // A click on a layer selects it: its nodes in the original and in the variant light up.
    h.get_by_label("conv2 (Conv+Relu)").scroll_to_me();
    h.run();
    h.state_mut().ops_view.selected = Some("fc".into());
    h.get_by_label("conv2 (Conv+Relu)").click_accesskit();
    h.run();
    // The views above folded away to show the diff whole, then unfolded.
    let fold = |h: &mut Harness<'static, InferscopeApp>| {
        for l in [
            "Time per op type",
            "Nodes",
            "Timeline of one request",
            "Roofline",
        ] {
            h.get_by_label(l).click_accesskit();
            h.run();
        }
    };
    fold(&mut h);
    screenshot(&mut h, "operators_diff");
    fold(&mut h);
    let lit = h.state().ops_highlighted(&doc);
    assert!(
        lit.contains("conv2_ConvInteger") && lit.iter().any(|n| n.ends_with("_nchwc")),
        "{lit:?}"
    );
    // The variant's own nodes, with the selected layer's quantized kernel among them.
    h.get_by_label("int8:conv").click();
    h.run();
    assert!(h.state().ops_view.show_variant);
    h.get_by_label("conv2_ConvInteger");
    // The report of the study carries the profile and its diff.
    let dir = tempfile::tempdir().unwrap();
    let text = export_pdf_text(&mut h, &dir.path().join("ops.pdf"));
    assert!(
        text.contains("Where the time goes")
            && text.contains("int8:conv: what changed, operator by operator")
            && text.contains("Conv through ConvInteger"),
        "{text}"
    );
}

/// The Compare tab offers static int8 and int8 chosen by measuring, with the calibration and
/// the fidelity target (here top-1 agreement instead of the default cosine); the comparison
/// builds both on the data and shows each layer's form, the layers returned to float, whether
/// the target held and which form auto kept.
#[test]
fn the_compare_tab_offers_static_int8_and_shows_each_layers_form() {
    let mut h = harness();
    drop_file(&mut h, &root("assets/cnn.onnx"));
    drop_file(&mut h, &root("assets/digits_images.npz"));
    {
        let s = &mut h.state_mut().saved.settings;
        s.engine = EngineChoice::Ort;
        s.batch_sizes = vec![1];
        s.stop = Stop::Iterations(100);
        s.warmup_iterations = 5;
    }
    h.get_by_label("Compare").click();
    h.run();
    h.get_by_label("int8 (dynamic)").click();
    h.get_by_label("int8 (static)").click();
    h.get_by_label("int8 (auto)").click();
    h.run();
    assert_eq!(
        h.state().saved.compare.target,
        inferscope::optimize::Target::MinCosine(0.99),
        "the default target"
    );
    h.get_by_label("holds").click();
    h.run();
    h.get_by_label("min-top1").click();
    h.run();
    {
        let c = &h.state().saved.compare;
        assert!(!c.int8 && c.static_int8 && c.auto_int8);
        assert_eq!(c.target, inferscope::optimize::Target::MinTop1(0.99));
    }
    h.get_by_label("Run comparison").click();
    h.step();
    let done = compared;
    step_until(&mut h, Duration::from_secs(400), done);
    let cmp = h.state().compare.as_ref().unwrap().result.clone().unwrap();
    // The time it took stays what it was once it is done.
    h.run();
    let took = |h: &Harness<'static, InferscopeApp>| {
        use egui_kittest::kittest::NodeT;
        h.get_by_label_contains("Done: 2 variants in")
            .accesskit_node()
            .value()
            .unwrap_or_default()
    };
    let first = took(&h);
    std::thread::sleep(Duration::from_millis(1200));
    h.run();
    assert_eq!(took(&h), first, "{first}");
    let names: Vec<&str> = cmp.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        ["int8:static:min-top1=0.99", "int8:auto:min-top1=0.99"],
        "{:?}",
        cmp.variants.iter().map(|v| &v.error).collect::<Vec<_>>()
    );
    h.run();
    h.get_by_label_contains("int8:static:min-top1=0.99: ")
        .scroll_to_me();
    h.run();
    h.get_by_label_contains("int8:static:min-top1=0.99: ")
        .click_accesskit();
    h.run();
    h.get_by_label_contains("changed conv1 (Conv): static int8: per-channel int8 weight");
    h.get_by_label_contains("top-1 agreement 100.00% (cosine 1.0000) with the float model on the sample data meets the target min-top1=0.99");
    h.get_by_label_contains("int8:auto:min-top1=0.99: ")
        .click_accesskit();
    h.run();
    h.get_by_label_contains("int8 chosen by measuring on onnxruntime");
}
