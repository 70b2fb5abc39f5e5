//! Capacity: the highest rate whose latency percentile meets a target, found by measuring.
//!
//! The rule a rate passes by (stated in every result): its percentile, measured from the
//! scheduled arrival, is within the target; every request was sent on time; none failed; the
//! queue did not grow through the run (a rate over what the servers serve can look fine in a
//! run shorter than the target allows the backlog to build). The
//! search brackets the capacity from an estimate (growing by 1.5x or halving), then bisects
//! until the highest passing and the lowest failing rate are within 5% of each other.

use super::LoadRun;
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// The search's stopping width: highest passing / lowest failing rate.
pub const RESOLUTION: f64 = 1.05;
/// Measurements the search makes at most.
pub const MAX_STEPS: usize = 14;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub rate: f64,
    pub passed: bool,
    /// Why it passed or failed, in a few words.
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// The percentile judged (0.99 for p99) and its target, ms.
    pub q: f64,
    pub target_ms: f64,
    /// The highest rate that passed, req/s; `None` when none did.
    pub max_rate: Option<f64>,
    /// The lowest rate that failed (the capacity is below it).
    pub failed_at: Option<f64>,
    pub steps: Vec<Step>,
    pub rule: String,
}

/// Whether a run meets `target_ms` at percentile `q`, and why.
pub fn judge(run: &LoadRun, q: f64, target_ms: f64) -> (bool, String) {
    let v = run.latency.at(q);
    let name = super::percentile_name(q);
    if let Some(n) = &run.not_issued {
        return (false, format!("not issued on time: {n}"));
    }
    if run.failed > 0 {
        return (false, format!("{} requests failed", run.failed));
    }
    if run.queue_growing {
        return (
            false,
            format!(
                "the queue grew through the run ({:.0}% busy): not sustainable",
                run.utilization * 100.0
            ),
        );
    }
    if v > target_ms {
        return (
            false,
            format!(
                "{name} {} over the {target_ms} ms target",
                crate::format::ms(v)
            ),
        );
    }
    (
        true,
        format!("{name} {} within {target_ms} ms", crate::format::ms(v)),
    )
}

/// Finds the capacity by measuring at rates from `estimate` (req/s) on. `measure` runs one
/// rate; a measurement error ends the search with it.
pub fn find(
    estimate: f64,
    q: f64,
    target_ms: f64,
    measure: &mut dyn FnMut(f64) -> Result<LoadRun>,
    progress: &mut dyn FnMut(&Step),
) -> Result<Capacity> {
    let mut steps = Vec::new();
    let mut pass: Option<f64> = None;
    let mut fail: Option<f64> = None;
    let mut rate = estimate.max(1e-3);
    let lowest = estimate / 1024.0;
    while steps.len() < MAX_STEPS {
        let run = measure(rate)?;
        let (ok, why) = judge(&run, q, target_ms);
        let step = Step {
            rate,
            passed: ok,
            why,
        };
        progress(&step);
        steps.push(step);
        if ok {
            pass = Some(pass.map_or(rate, |p: f64| p.max(rate)));
        } else {
            fail = Some(fail.map_or(rate, |f: f64| f.min(rate)));
        }
        rate = match (pass, fail) {
            (Some(p), Some(f)) if f / p <= RESOLUTION => break,
            (Some(p), Some(f)) => (p * f).sqrt(),
            // Growing past 8x the estimate means the estimate was wrong; stop there.
            (Some(p), None) if p * 1.5 > estimate * 8.0 => break,
            (Some(p), None) => p * 1.5,
            (None, Some(f)) if f / 2.0 < lowest => break,
            (None, Some(f)) => f / 2.0,
            (None, None) => unreachable!("a step was just judged"),
        };
    }
    let name = super::percentile_name(q);
    Ok(Capacity {
        q,
        target_ms,
        max_rate: pass,
        failed_at: fail,
        steps,
        rule: format!(
            "a rate passes when its {name}, measured from each request's scheduled arrival, is within {target_ms} ms, every request was sent on time, none failed and the queue did not grow through the run (saturated servers with the last quarter's median latency over twice the first's); the search brackets the capacity (x1.5 up, /2 down) then bisects until the highest passing and lowest failing rates are within {:.0}% (at most {MAX_STEPS} measurements)",
            (RESOLUTION - 1.0) * 100.0
        ),
    })
}
