//! What one slider change in the Cost tab costs: the full plan (every tier priced, queue
//! percentiles, feasibility, the recommendation with the volumes where it flips) and the
//! cost-against-volume curves, for the service-time distribution of a measured run.
//!
//! Run: `cargo bench --bench cost_recompute`. A frame at 60 Hz is 16.7 ms.

use inferscope::cost::plan::{curves, plan, CostInputs};
use inferscope::cost::Pricing;
use std::time::Instant;

fn main() {
    // A measured-looking latency distribution: a 2 ms body with a long right tail.
    let service: Vec<f64> = (0..5000)
        .map(|i| 2.0 + 6.0 * ((i * 7919 % 5000) as f64 / 5000.0).powi(6))
        .collect();
    let pricing = Pricing::default();
    let mut times = Vec::new();
    // A slider sweep: monthly requests across its whole range, as a user drags it.
    for step in 0..=70 {
        let inputs = CostInputs {
            monthly_requests: 10f64.powf(3.0 + step as f64 * 0.1),
            budget_usd: 1e5,
            ..CostInputs::default()
        };
        let t = Instant::now();
        let p = plan(&inputs, &pricing, &service).expect("valid inputs");
        let c = curves(&inputs, &pricing, &service);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box((p, c));
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let q = |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "recompute per slider change ({} changes): median {:.2} ms, p95 {:.2} ms, max {:.2} ms ({:.0}% of a 16.7 ms frame at p95)",
        times.len(),
        q(0.5),
        q(0.95),
        times[times.len() - 1],
        q(0.95) / 16.7 * 100.0
    );
}
