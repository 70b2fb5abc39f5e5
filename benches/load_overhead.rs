//! The open-loop load generator's own limits: an engine that does nothing, offered rising
//! rates on the real clock. For each rate: how late the sends were (p99 and max), whether the
//! rate was refused as not issued, and the latency the harness alone adds (the whole latency,
//! since the engine takes no time). The highest rate issued on time is the most `inferscope
//! load` can offer on this machine; a model is only measured at rates well below it.
//!
//! Run: `cargo bench --bench load_overhead`.

use inferscope::engine::fake::{FakeEngine, FakeTime};
use inferscope::engine::{Engine, Prepared};
use inferscope::load::{run_rate, Arrivals};
use std::sync::atomic::AtomicBool;

fn main() {
    let clock = inferscope::load::real_clock();
    println!(
        "{:>10} {:>8} {:>10} {:>12} {:>12} {:>12}  issued",
        "rate/s", "servers", "achieved", "late p99", "late max", "harness p99"
    );
    for servers in [1usize, 2] {
        for rate in [1e3, 1e4, 5e4, 1e5, 2e5, 4e5] {
            let mut engines: Vec<Box<dyn Engine>> = (0..servers)
                .map(|_| Box::new(FakeEngine::new(vec![], FakeTime::Nothing)) as Box<dyn Engine>)
                .collect();
            let mut reqs: Vec<Vec<Prepared>> = Vec::new();
            for e in engines.iter_mut() {
                reqs.push(vec![e.prepare(&[]).expect("a fake prepares")]);
            }
            let r = run_rate(
                &mut engines,
                &reqs,
                &Arrivals::Poisson,
                rate,
                2.0,
                1,
                None,
                clock.as_ref(),
                &AtomicBool::new(false),
            )
            .expect("a fake engine serves");
            println!(
                "{:>10.0} {:>8} {:>10.0} {:>9.3} ms {:>9.3} ms {:>9.4} ms  {}",
                rate,
                servers,
                r.achieved_rps,
                r.send_late_p99_ms,
                r.send_late_max_ms,
                r.latency.p99,
                if r.not_issued.is_none() { "yes" } else { "NO" }
            );
        }
    }
}
