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

/// Evaluates the checklist on finished runs of a model that fixes its batch size at
/// `fixed_batch` (`Model::fixed_batch`; `None`: the batch is the caller's to choose). A model
/// with a fixed batch runs that batch only, so it is not asked to sweep batch sizes.
pub fn evaluate(
    results: &[&RunResult],
    latency_target_ms: f64,
    importance: Option<&Importance>,
    fixed_batch: Option<usize>,
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
            .map(|r| r.peak_memory_mb())
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        {
            Some(mb) if mb > 0.0 => Item {
                title: "Memory measured".into(),
                status: Status::Pass,
                detail: format!(
                    "Peak resident memory {mb:.0} MB (a process serving only this model, where it was measured in one of its own): size functions or instances above it."
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
    items.push(match (fixed_batch, batches.as_slice()) {
        (Some(n), [b]) if *b == n => Item {
            title: "Batch size fixed by the model".into(),
            status: Status::Pass,
            detail: format!(
                "The model fixes its batch size at {n}, so it runs batch {n} only: there are no batch sizes to sweep. Export it with a symbolic batch dimension to try others."
            ),
        },
        _ => Item {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep_item(runs: &[RunResult], fixed_batch: Option<usize>) -> Item {
        let refs: Vec<&RunResult> = runs.iter().collect();
        evaluate(&refs, 100.0, None, fixed_batch).swap_remove(2)
    }

    /// A model that fixes its batch cannot sweep batch sizes: the item says so instead of
    /// failing; a model that could sweep and did not still fails.
    #[test]
    fn a_fixed_batch_is_not_asked_to_sweep() {
        let one = [RunResult {
            batch_size: 1,
            latency_p95: 2.0,
            ..RunResult::default()
        }];
        let fixed = sweep_item(&one, Some(1));
        assert_eq!(fixed.status, Status::Pass);
        assert!(
            fixed.title.contains("fixed") && fixed.detail.contains("fixes its batch size at 1"),
            "{}: {}",
            fixed.title,
            fixed.detail
        );
        let free = sweep_item(&one, None);
        assert_eq!(free.status, Status::Fail);
        assert_eq!(free.title, "Several batch sizes tried");
        // `evaluate` is the model whose batch is free.
        let refs: Vec<&RunResult> = one.iter().collect();
        assert_eq!(evaluate(&refs, 100.0, None, None)[2].status, Status::Fail);
        // No runs yet: nothing to judge, fixed or not.
        assert_eq!(sweep_item(&[], Some(1)).status, Status::NotYet);
    }
}
