//! How many instances an always-on tier needs for the latency target: from the count the
//! utilization cap asks for, the fewest (up to the maximum) whose predicted percentile meets the
//! target under the queue model, and what set the count.

use super::plan::{CostInputs, Service};
use super::queue::Queue;

/// What set an always-on tier's instance count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Sizing {
    /// The utilization cap (or the minimum count), and the latency target holds there.
    Utilization,
    /// More instances than the utilization cap needs, for the latency target; the cap alone
    /// needs `by_utilization`.
    Latency { by_utilization: u64 },
    /// The service time alone misses the target: no count helps.
    ServiceAlone { ms: f64 },
    /// Not even the maximum count meets the target.
    NotWithinMax,
    /// The capacity measured on this machine asks for more than the utilization cap; the
    /// cap alone needs `by_utilization`.
    Measured { by_utilization: u64 },
    /// The measured capacity needs `needed` instances, over the maximum.
    MeasuredOverMax { needed: u64 },
}

/// Milliseconds the request at quantile `q` of a batch waits for the batch to fill at the peak.
pub(super) fn fill_ms(inputs: &CostInputs, q: f64) -> f64 {
    let (batch, peak) = (inputs.serving_batch.max(1), inputs.peak_rps());
    if batch > 1 && peak > 0.0 {
        q * (batch - 1) as f64 / peak * 1000.0
    } else {
        0.0
    }
}

/// Whether `servers` parallel servers fed at the peak meet the latency target (queue model).
fn meets_target(servers: u32, inputs: &CostInputs, svc: &Service) -> bool {
    let q = inputs.percentile.q();
    let budget_ms = inputs.latency_target_ms - fill_ms(inputs, q);
    let arrival = inputs.peak_inferences_per_s();
    if budget_ms < 0.0 {
        return false;
    }
    if arrival <= 0.0 {
        return svc.quantile_ms(q) <= budget_ms;
    }
    let queue = Queue::from_samples(servers, arrival, &svc.s);
    match queue.wait_distribution(&svc.s) {
        Some(d) => d.response_cdf(budget_ms / 1000.0, &svc.s) >= q,
        None => false,
    }
}

/// The fewest instances from `start` (what the utilization cap needs, within the bounds) up to
/// the maximum that meet the latency target under the queue model, and what set the count.
pub(super) fn size_for_latency(
    start: u64,
    per_instance: f64,
    inputs: &CostInputs,
    svc: &Service,
) -> (u64, Sizing) {
    let servers = |c: u64| (c as f64 * per_instance).min(u32::MAX as f64) as u32;
    if meets_target(servers(start), inputs, svc) {
        return (start, Sizing::Utilization);
    }
    let q = inputs.percentile.q();
    let alone = svc.quantile_ms(q) + fill_ms(inputs, q);
    if alone > inputs.latency_target_ms {
        return (start, Sizing::ServiceAlone { ms: alone });
    }
    let max = inputs.max_instances.max(1);
    if start >= max || !meets_target(servers(max), inputs, svc) {
        return (start, Sizing::NotWithinMax);
    }
    // More servers never make the queue longer: the first count that meets it, by bisection.
    let (mut lo, mut hi) = (start, max);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if meets_target(servers(mid), inputs, svc) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    (
        hi,
        Sizing::Latency {
            by_utilization: start,
        },
    )
}
