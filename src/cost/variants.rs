//! What each variant of a comparison costs a month: the planner prices each variant's measured
//! run (its fastest at batch 1, as `inferscope cost --results FILE --variant NAME` picks it) at
//! the user's volume and target, and the saving over the original follows.

use super::plan::{self, CostInputs};
use super::{Pricing, Tier};
use crate::bench::{RunId, RunResult};

/// The monthly bill of one variant on the tier the planner recommends for it.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantCost {
    pub variant: String,
    /// The run priced (see [`super::table::default_run`]).
    pub run_id: RunId,
    /// The recommended tier, `None` when no tier meets the target within the budget.
    pub tier: Option<Tier>,
    /// Its total a month, USD.
    pub monthly_usd: Option<f64>,
    /// The planner's explanation (why this tier, or why none).
    pub explanation: String,
}

/// The runs of one variant (`original` for the model as given), in run order.
pub fn runs_of<'a>(runs: &'a [RunResult], variant: &'a str) -> impl Iterator<Item = &'a RunResult> {
    runs.iter().filter(move |r| r.variant == variant)
}

/// Prices the run of `variant` the cost planner would take by default.
pub fn price(
    inputs: &CostInputs,
    pricing: &Pricing,
    runs: &[RunResult],
    variant: &str,
) -> Option<Result<VariantCost, String>> {
    let run = super::table::default_run(runs_of(runs, variant))?;
    let mut inputs = inputs.clone();
    let (service, _) = inputs.serve_run(run);
    Some(
        plan::plan(&inputs, pricing, &service)
            .map(|p| {
                let tier = p.recommendation.tier;
                VariantCost {
                    variant: variant.to_string(),
                    run_id: run.run_id,
                    tier,
                    monthly_usd: tier.and_then(|t| {
                        p.tiers
                            .iter()
                            .find(|x| x.cost.tier == t)
                            .map(|x| x.cost.total_cost)
                    }),
                    explanation: p.recommendation.explanation,
                }
            })
            .map_err(|e| e.to_string()),
    )
}

/// The original and each variant with runs, priced; the first is the original.
pub fn per_variant(
    inputs: &CostInputs,
    pricing: &Pricing,
    runs: &[RunResult],
) -> Result<Vec<VariantCost>, String> {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        if !names.contains(&r.variant.as_str()) {
            names.push(&r.variant);
        }
    }
    names.sort_by_key(|n| *n != "original");
    names
        .into_iter()
        .filter_map(|n| price(inputs, pricing, runs, n))
        .collect()
}

impl VariantCost {
    /// `$12.34/mo on container`, or `no tier meets the target`.
    pub fn label(&self) -> String {
        match (self.monthly_usd, self.tier) {
            (Some(c), Some(t)) => format!("{}/mo on {}", crate::format::usd(c), t.label()),
            _ => "no tier meets the target".into(),
        }
    }

    /// What this variant saves a month over `original` (negative: it costs more), and whether
    /// the recommended tier changes.
    pub fn saving_over(&self, original: &VariantCost) -> Option<String> {
        let (a, b) = (original.monthly_usd?, self.monthly_usd?);
        let d = a - b;
        let what = if d.abs() < 0.005 {
            "the same bill".to_string()
        } else if d > 0.0 {
            format!("saves {}/mo", crate::format::usd(d))
        } else {
            format!("costs {}/mo more", crate::format::usd(-d))
        };
        Some(match (self.tier, original.tier) {
            (Some(t), Some(o)) if t != o => {
                format!("{what} (moves from {} to {})", o.label(), t.label())
            }
            _ => what,
        })
    }
}

/// The bills as monospaced text: a header and one line per variant (the command line prints
/// it, the report sets it). The first is the original.
pub fn text(costs: &[VariantCost]) -> (String, Vec<String>) {
    let header = format!(
        "{:<28} {:<11} {:>12}  {}",
        "variant", "tier", "$/month", "against the original"
    );
    let original = costs.iter().find(|c| c.variant == "original");
    let lines = costs
        .iter()
        .map(|c| {
            format!(
                "{:<28} {:<11} {:>12}  {}",
                c.variant,
                c.tier.map(|t| t.label()).unwrap_or("none"),
                c.monthly_usd
                    .map(crate::format::usd)
                    .unwrap_or_else(|| "-".into()),
                match original {
                    Some(o) if c.variant != "original" => c
                        .saving_over(o)
                        .unwrap_or_else(|| "no tier meets the target".into()),
                    _ => String::new(),
                }
            )
        })
        .collect();
    (header, lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::RunResult;

    fn run(id: usize, variant: &str, batch: usize, ms: f64) -> RunResult {
        RunResult {
            run_id: id,
            variant: variant.into(),
            batch_size: batch,
            latency_p50: ms,
            latency_p95: ms,
            latency_p99: ms,
            n_iterations: 200,
            raw_latencies_ns: (0..200).map(|i| (ms * 1e6) as u64 + i).collect(),
            ..RunResult::default()
        }
    }

    #[test]
    fn each_variant_is_priced_from_its_fastest_batch_one_run() {
        let runs = vec![
            run(0, "original", 1, 40.0),
            run(1, "int8", 1, 10.0),
            run(2, "original", 8, 100.0),
            run(3, "int8", 8, 30.0),
        ];
        let inputs = CostInputs {
            monthly_requests: 50e6,
            ..CostInputs::default()
        };
        let costs = per_variant(&inputs, &Pricing::default(), &runs).unwrap();
        assert_eq!(costs.len(), 2);
        assert_eq!(
            (costs[0].variant.as_str(), costs[0].run_id),
            ("original", 0)
        );
        assert_eq!((costs[1].variant.as_str(), costs[1].run_id), ("int8", 1));
        let (o, v) = (costs[0].monthly_usd.unwrap(), costs[1].monthly_usd.unwrap());
        assert!(v < o, "a 4x faster variant costs less: {v} vs {o}");
        let saving = costs[1].saving_over(&costs[0]).unwrap();
        assert!(saving.starts_with("saves $"), "{saving}");
        // The same figure as pricing that run alone.
        let mut alone = inputs.clone();
        let (service, _) = alone.serve_run(&runs[1]);
        let p = plan::plan(&alone, &Pricing::default(), &service).unwrap();
        let t = p.recommendation.tier.unwrap();
        let total = p
            .tiers
            .iter()
            .find(|x| x.cost.tier == t)
            .unwrap()
            .cost
            .total_cost;
        assert_eq!(total, v);
        let (header, lines) = text(&costs);
        assert!(header.starts_with("variant"));
        assert!(lines[1].contains("saves $"), "{}", lines[1]);
    }
}
