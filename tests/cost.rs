//! The cost planner's queueing model on real measured latencies. A test binary of its own, so
//! that no other test competes for the CPU while the latencies are measured (cargo runs test
//! binaries one after another).

use inferscope::bench::scheduler::run_model;
use inferscope::bench::{Plan, StopRule, Warmup};
use inferscope::cost::queue::{simulate, Queue};
use inferscope::data::{self, DataSource, SynthOptions};
use inferscope::engine::EngineKind;
use inferscope::model::Model;
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn asset(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The cost planner's queueing model against a discrete-event simulation that replays the same
/// measured latencies: p95 response times agree within a few percent at the loads it plans for.
#[test]
fn queue_model_agrees_with_simulation_on_measured_latencies() {
    for name in ["cnn", "forest"] {
        let model = Model::load(&asset(&format!("assets/{name}.onnx"))).unwrap();
        let samples = data::load(&model, &DataSource::Synthetic(SynthOptions::default())).unwrap();
        let p = Plan {
            engines: vec![EngineKind::Tract],
            batch_sizes: vec![Some(1)],
            warmup: Warmup::Iterations(50),
            stop: StopRule::Iterations(2000),
            ..Plan::default()
        };
        let results = run_model(&p, &model, &samples, &AtomicBool::new(false), &mut |_| {});
        let service: Vec<f64> = results[0]
            .raw_latencies_ns
            .iter()
            .map(|&ns| ns as f64 * 1e-9)
            .collect();
        assert_eq!(service.len(), 2000);
        let mean = service.iter().sum::<f64>() / service.len() as f64;
        for (servers, utilization) in [(1, 0.5), (1, 0.8), (2, 0.6), (4, 0.7), (8, 0.85)] {
            let rps = utilization * servers as f64 / mean;
            let model =
                Queue::from_samples(servers, rps, &service).response_quantile_s(0.95, &service);
            let mut sim = simulate(servers, rps, &service, 300_000, 5);
            sim.sort_by(|a, b| a.total_cmp(b));
            let sim = sim[(0.95 * sim.len() as f64).ceil() as usize - 1];
            let err = (model - sim).abs() / sim;
            assert!(
                err < 0.05,
                "{name} c={servers} rho={utilization}: model {:.1} us, simulation {:.1} us ({:.1}% apart)",
                model * 1e6,
                sim * 1e6,
                err * 100.0
            );
        }
    }
}
