//! Monthly cost of each tier against monthly requests, and where two tiers' bills cross.

use super::plan::{price, slots, CostInputs, Service, Slot};
use super::{Pricing, Tier};
use serde::{Deserialize, Serialize};

/// Monthly cost of each tier against monthly requests, for the chart: instances from the
/// capacity rule at each volume, everything else as in the inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostCurves {
    /// Monthly requests, 1 thousand to 10 billion, 8 points a decade.
    pub volumes: Vec<f64>,
    /// Per tier, the monthly total at each volume.
    pub tiers: Vec<(Tier, Vec<f64>)>,
    pub break_evens: Vec<BreakEven>,
}

/// A volume where two tiers cost the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreakEven {
    pub monthly_requests: f64,
    pub total_cost: f64,
    /// The tier that is cheaper below this volume, and the one cheaper above it.
    pub cheaper_below: Tier,
    pub cheaper_above: Tier,
}

pub fn curves(inputs: &CostInputs, pricing: &Pricing, service_ms: &[f64]) -> CostCurves {
    let svc = Service::new(service_ms);
    let slots = slots(inputs, pricing);
    let cost_at = |slot: Slot, v: f64| {
        let probe = CostInputs {
            monthly_requests: v,
            ..inputs.clone()
        };
        price(slot, &probe, pricing, &svc).cost.total_cost
    };
    let volumes: Vec<f64> = (0..=56).map(|i| 10f64.powf(3.0 + i as f64 / 8.0)).collect();
    let tiers: Vec<(Tier, Vec<f64>)> = slots
        .iter()
        .map(|&s| {
            let tier = match s {
                Slot::Serverless => Tier::Serverless,
                Slot::Pooled(t) => t,
                Slot::Dedicated(_) => Tier::Dedicated,
            };
            (tier, volumes.iter().map(|&v| cost_at(s, v)).collect())
        })
        .collect();
    let mut break_evens = Vec::new();
    for i in 0..slots.len() {
        for j in i + 1..slots.len() {
            let diff = |v: f64| cost_at(slots[i], v) - cost_at(slots[j], v);
            for w in volumes.windows(2) {
                let (da, db) = (diff(w[0]), diff(w[1]));
                if da == 0.0 || da.signum() == db.signum() {
                    continue;
                }
                let (mut lo, mut hi) = (w[0].log10(), w[1].log10());
                for _ in 0..30 {
                    let mid = 0.5 * (lo + hi);
                    if diff(10f64.powf(mid)).signum() == da.signum() {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                let v = 10f64.powf(hi);
                let (below, above) = if da < 0.0 { (i, j) } else { (j, i) };
                break_evens.push(BreakEven {
                    monthly_requests: v,
                    total_cost: cost_at(slots[i], v),
                    cheaper_below: tiers[below].0,
                    cheaper_above: tiers[above].0,
                });
            }
        }
    }
    break_evens.sort_by(|a, b| a.monthly_requests.total_cmp(&b.monthly_requests));
    CostCurves {
        volumes,
        tiers,
        break_evens,
    }
}
