//! The production checklist: what a run shows about readiness, and what to do next.

use crate::bench::RunResult;
use crate::compare::importance::Importance;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    NotYet,
}

pub struct Item {
    pub title: String,
    pub status: Status,
    pub detail: String,
}

/// Evaluates the checklist on finished runs.
pub fn evaluate(
    results: &[&RunResult],
    latency_target_ms: f64,
    importance: Option<&Importance>,
) -> Vec<Item> {
    let mut items = Vec::new();
    let batch1: Vec<&&RunResult> = results.iter().filter(|r| r.batch_size == 1).collect();
    items.push(match batch1.iter().min_by(|a, b| a.latency_p95.total_cmp(&b.latency_p95)) {
        None => Item {
            title: format!("p95 at batch 1 under {latency_target_ms:.0} ms"),
            status: Status::NotYet,
            detail: "Run a benchmark that includes batch size 1.".into(),
        },
        Some(r) if r.latency_p95 <= latency_target_ms => Item {
            title: format!("p95 at batch 1 under {latency_target_ms:.0} ms"),
            status: Status::Pass,
            detail: {
                let ratio = latency_target_ms / r.latency_p95.max(1e-9);
                let margin = if ratio >= 2.0 {
                    format!("{ratio:.0}x below the target")
                } else {
                    format!("{:.1} ms under the target", latency_target_ms - r.latency_p95)
                };
                format!("{} p95 is {:.3} ms, {margin}.", r.engine, r.latency_p95)
            },
        },
        Some(r) => Item {
            title: format!("p95 at batch 1 under {latency_target_ms:.0} ms"),
            status: Status::Fail,
            detail: format!(
                "Best p95 is {:.1} ms ({}). Try the other engine, more threads, or an optimized variant (int8, pruning) in Compare.",
                r.latency_p95, r.engine
            ),
        },
    });
    items.push(
        match results
            .iter()
            .map(|r| r.memory_mb)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        {
            Some(mb) if mb > 0.0 => Item {
                title: "Memory measured".into(),
                status: Status::Pass,
                detail: format!(
                    "Peak resident memory {mb:.0} MB: size functions or instances above it."
                ),
            },
            _ => Item {
                title: "Memory measured".into(),
                status: Status::NotYet,
                detail: "Run a benchmark.".into(),
            },
        },
    );
    let mut batches: Vec<usize> = results.iter().map(|r| r.batch_size).collect();
    batches.sort_unstable();
    batches.dedup();
    items.push(Item {
        title: "Several batch sizes tried".into(),
        status: match batches.len() {
            0 => Status::NotYet,
            1 => Status::Fail,
            _ => Status::Pass,
        },
        detail: match batches.len() {
            0 => "Run a benchmark.".into(),
            1 => "Only one batch size: add 1, 8, 32, 64 to see where throughput saturates.".into(),
            _ => format!(
                "Batch sizes {}.",
                batches
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    });
    items.push(match results.iter().max_by(|a, b| a.throughput_rps.total_cmp(&b.throughput_rps)) {
        Some(r) => Item {
            title: "Batch size with the best throughput".into(),
            status: Status::Pass,
            detail: format!(
                "Batch {} on {}: {:.0} samples/s at p95 {:.3} ms. Serve batched if clients can wait that long.",
                r.batch_size, r.engine, r.throughput_rps, r.latency_p95
            ),
        },
        None => Item { title: "Batch size with the best throughput".into(), status: Status::NotYet, detail: "Run a benchmark.".into() },
    });
    items.push(Item {
        title: "Features of low importance".into(),
        status: if importance.is_some() {
            Status::Pass
        } else {
            Status::NotYet
        },
        detail: match importance {
            None => "Compare a tabular model (one samples x features input): permutation importance lists the features that barely matter.".into(),
            Some(i) if i.low.is_empty() => format!(
                "Every feature carries at least {:.0}% of the importance ({}).",
                i.threshold * 100.0,
                i.metric
            ),
            Some(i) => format!(
                "{} of {} features carry less than {:.0}% of the importance ({}): {}. Dropping them and retraining gives a smaller model.",
                i.low.len(),
                i.features.len(),
                i.threshold * 100.0,
                i.metric,
                i.low
                    .iter()
                    .map(|f| i.features[*f].name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    });
    items
}
