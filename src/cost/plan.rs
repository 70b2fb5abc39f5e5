//! The planner: from measured service times and the user's inputs to a feasible, priced
//! configuration per tier, and a recommendation that explains itself.

use super::queue::Queue;
use super::{
    dedicated, instances, rule_of_thumb, serverless, Pricing, Tier, TierCost, HOURS_PER_MONTH,
};
use serde::{Deserialize, Serialize};

/// Which latency percentile the target binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Percentile {
    P95,
    P99,
}

impl Percentile {
    pub fn q(self) -> f64 {
        match self {
            Percentile::P95 => 0.95,
            Percentile::P99 => 0.99,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Percentile::P95 => "p95",
            Percentile::P99 => "p99",
        }
    }
}

/// Everything the cost planner's sliders set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CostInputs {
    pub monthly_requests: f64,
    /// Peak request rate over the monthly average.
    pub peak_factor: f64,
    pub latency_target_ms: f64,
    pub percentile: Percentile,
    /// Monthly budget in USD.
    pub budget_usd: f64,
    /// Memory of each serverless function, MB.
    pub function_memory_mb: f64,
    pub vcpus: f64,
    pub instance_memory_gb: f64,
    pub min_instances: u64,
    pub max_instances: u64,
    /// Planned utilization of instances at peak (0..1).
    pub target_utilization: f64,
    /// Share of requests served from a cache (0..1).
    pub cache_hit_rate: f64,
    /// Share of serverless requests that hit a cold start, and what one costs.
    pub cold_start_share: f64,
    pub cold_start_ms: f64,
    /// Resident memory the model needs, MB (the measured peak).
    pub model_memory_mb: f64,
}

impl Default for CostInputs {
    fn default() -> Self {
        CostInputs {
            monthly_requests: 1e6,
            peak_factor: 3.0,
            latency_target_ms: 100.0,
            percentile: Percentile::P95,
            budget_usd: 500.0,
            function_memory_mb: 256.0,
            vcpus: 1.0,
            instance_memory_gb: 2.0,
            min_instances: 1,
            max_instances: 100,
            target_utilization: 0.6,
            cache_hit_rate: 0.0,
            cold_start_share: 0.01,
            cold_start_ms: 500.0,
            model_memory_mb: 0.0,
        }
    }
}

impl CostInputs {
    /// Checks ranges; every message names the field and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(&str, f64, f64, f64); 12] = [
            ("monthly requests", self.monthly_requests, 0.0, 1e13),
            ("peak factor", self.peak_factor, 1.0, 1000.0),
            ("latency target (ms)", self.latency_target_ms, 0.001, 1e7),
            ("budget (USD)", self.budget_usd, 0.0, 1e9),
            ("function memory (MB)", self.function_memory_mb, 64.0, 1e6),
            ("vCPUs", self.vcpus, 0.25, 1024.0),
            ("instance memory (GB)", self.instance_memory_gb, 0.125, 1e5),
            ("target utilization", self.target_utilization, 0.05, 0.99),
            ("cache hit rate", self.cache_hit_rate, 0.0, 1.0),
            ("cold start share", self.cold_start_share, 0.0, 1.0),
            ("cold start (ms)", self.cold_start_ms, 0.0, 1e6),
            ("model memory (MB)", self.model_memory_mb, 0.0, 1e7),
        ];
        for (name, v, lo, hi) in checks {
            if !v.is_finite() || v < lo || v > hi {
                return Err(format!("{name} must be between {lo} and {hi} (got {v})"));
            }
        }
        if self.min_instances > self.max_instances || self.max_instances == 0 {
            return Err(format!(
                "instances: the minimum ({}) must not exceed the maximum ({}), which must be at least 1",
                self.min_instances, self.max_instances
            ));
        }
        Ok(())
    }

    fn effective_requests(&self) -> f64 {
        self.monthly_requests * (1.0 - self.cache_hit_rate)
    }

    /// Requests per second at peak, after the cache.
    pub fn peak_rps(&self) -> f64 {
        self.effective_requests() / (HOURS_PER_MONTH * 3600.0) * self.peak_factor
    }
}

/// One tier priced and judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TierPlan {
    #[serde(flatten)]
    pub cost: TierCost,
    /// Predicted latency percentiles at peak, ms (`None`: saturated).
    pub predicted_p95_ms: Option<f64>,
    pub predicted_p99_ms: Option<f64>,
    pub feasible: bool,
    /// Why the tier is infeasible, or what bounds it when it is feasible.
    pub reason: String,
    pub within_budget: bool,
    /// The machine type, for the dedicated tier.
    pub machine: Option<String>,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub tier: Option<Tier>,
    pub explanation: String,
    /// Latency headroom of the recommended tier, ms (target minus predicted).
    pub margin_ms: Option<f64>,
    pub runner_up: Option<Tier>,
    /// Monthly volumes at which the recommendation changes, and to what.
    pub flips: Vec<(f64, Option<Tier>)>,
    pub rule_of_thumb: Tier,
    pub rule_of_thumb_note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostPlan {
    pub tiers: Vec<TierPlan>,
    pub recommendation: Recommendation,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Prices and judges every tier. `service_ms` are measured latencies of one inference (a
/// run's raw samples) or a single typed latency.
pub fn plan_tiers(inputs: &CostInputs, pricing: &Pricing, service_ms: &[f64]) -> Vec<TierPlan> {
    let mut service: Vec<f64> = service_ms
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .collect();
    if service.is_empty() {
        service.push(0.0);
    }
    service.sort_by(|a, b| a.total_cmp(b));
    let mean_ms = service.iter().sum::<f64>() / service.len() as f64;
    // The queue model convolves the wait with the service distribution: 256 evenly spaced
    // quantiles of it are as good as a million samples and keep a recompute far under a frame.
    let service = if service.len() > 256 {
        (0..256)
            .map(|i| service[(i * (service.len() - 1)) / 255])
            .collect()
    } else {
        service
    };
    let q = inputs.percentile.q();
    let requests = inputs.effective_requests();
    let peak = inputs.peak_rps();
    let target = inputs.latency_target_ms;
    let mut out = Vec::new();

    // Serverless: one request per function instance, no queue; cold starts add to the tail.
    {
        let cost = serverless(pricing, requests, mean_ms, inputs.function_memory_mb);
        let mut with_cold: Vec<f64> = service.clone();
        let cold_n = (inputs.cold_start_share * service.len() as f64).round() as usize;
        for v in with_cold.iter_mut().rev().take(cold_n) {
            *v += inputs.cold_start_ms;
        }
        with_cold.sort_by(|a, b| a.total_cmp(b));
        let (p95, p99) = (quantile(&with_cold, 0.95), quantile(&with_cold, 0.99));
        let predicted = quantile(&with_cold, q);
        let (feasible, reason) = if inputs.model_memory_mb > inputs.function_memory_mb {
            (
                false,
                format!(
                    "the model needs {:.0} MB but a function has {:.0} MB",
                    inputs.model_memory_mb, inputs.function_memory_mb
                ),
            )
        } else if predicted > target {
            (
                false,
                format!(
                    "{} {:.1} ms (with {:.0}% cold starts of {:.0} ms) is over the {:.0} ms target",
                    inputs.percentile.label(),
                    predicted,
                    inputs.cold_start_share * 100.0,
                    inputs.cold_start_ms,
                    target
                ),
            )
        } else {
            (
                true,
                format!(
                    "{} {:.1} ms; scales per request",
                    inputs.percentile.label(),
                    predicted
                ),
            )
        };
        out.push(judge(
            cost,
            Some(p95),
            Some(p99),
            feasible,
            reason,
            inputs,
            None,
        ));
    }

    // Always-on tiers: enough servers for the peak at the target utilization, then the queue.
    let mut pooled = |vcpus: f64,
                      memory_gb: f64,
                      price: &dyn Fn(u64) -> TierCost,
                      machine: Option<String>| {
        let per_instance = vcpus.floor().max(1.0);
        let busy = peak * mean_ms / 1000.0; // erlangs of work at peak
        let needed = (busy / (per_instance * inputs.target_utilization))
            .ceil()
            .max(0.0) as u64;
        let count = needed.clamp(inputs.min_instances.max(1), inputs.max_instances.max(1));
        let cost = price(count);
        let servers = (count as f64 * per_instance) as u32;
        let queue = Queue::from_samples(
            servers,
            peak,
            &service.iter().map(|s| s / 1000.0).collect::<Vec<_>>(),
        );
        let service_s: Vec<f64> = service.iter().map(|s| s / 1000.0).collect();
        let pct = |q: f64| {
            if peak <= 0.0 {
                Some(quantile(&service, q))
            } else {
                let v = queue.response_quantile_s(q, &service_s) * 1000.0;
                v.is_finite().then_some(v)
            }
        };
        let (p95, p99) = (pct(0.95), pct(0.99));
        let predicted = if q >= 0.99 { p99 } else { p95 };
        let (feasible, reason) = if inputs.model_memory_mb > memory_gb * 1000.0 {
            (
                false,
                format!(
                    "the model needs {:.0} MB but an instance has {:.1} GB",
                    inputs.model_memory_mb, memory_gb
                ),
            )
        } else if needed > inputs.max_instances {
            (false, format!("the peak of {peak:.1} req/s needs {needed} instances at {:.0}% utilization; the maximum is {}", inputs.target_utilization * 100.0, inputs.max_instances))
        } else {
            match predicted {
                None => (false, format!("{count} instances saturate at the peak of {peak:.1} req/s")),
                Some(p) if p > target => (false, format!("{} {p:.1} ms with {count} instances at peak is over the {target:.0} ms target", inputs.percentile.label())),
                Some(p) => (true, format!("{} {p:.1} ms with {count} instances ({:.0}% busy at peak)", inputs.percentile.label(), queue.utilization() * 100.0)),
            }
        };
        out.push(judge(cost, p95, p99, feasible, reason, inputs, machine));
    };
    pooled(
        inputs.vcpus,
        inputs.instance_memory_gb,
        &|n| {
            instances(
                Tier::Container,
                &pricing.container,
                pricing,
                requests,
                n,
                inputs.vcpus,
                inputs.instance_memory_gb,
            )
        },
        None,
    );
    pooled(
        inputs.vcpus,
        inputs.instance_memory_gb,
        &|n| {
            instances(
                Tier::Kubernetes,
                &pricing.kubernetes,
                pricing,
                requests,
                n,
                inputs.vcpus,
                inputs.instance_memory_gb,
            )
        },
        None,
    );
    // Dedicated: the smallest CPU machine that holds the model.
    if let Some(vm) = pricing
        .dedicated
        .iter()
        .filter(|v| !v.gpu && v.memory_gb * 1000.0 >= inputs.model_memory_mb)
        .min_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour))
    {
        pooled(
            vm.vcpus,
            vm.memory_gb,
            &|n| dedicated(pricing, vm, requests, n),
            Some(vm.name.clone()),
        );
    }
    out
}

fn judge(
    cost: TierCost,
    p95: Option<f64>,
    p99: Option<f64>,
    feasible: bool,
    reason: String,
    inputs: &CostInputs,
    machine: Option<String>,
) -> TierPlan {
    let within_budget = cost.total_cost <= inputs.budget_usd;
    TierPlan {
        cost,
        predicted_p95_ms: p95,
        predicted_p99_ms: p99,
        feasible,
        reason,
        within_budget,
        machine,
    }
}

fn best(tiers: &[TierPlan]) -> (Option<&TierPlan>, Option<&TierPlan>) {
    let mut ok: Vec<&TierPlan> = tiers
        .iter()
        .filter(|t| t.feasible && t.within_budget)
        .collect();
    ok.sort_by(|a, b| a.cost.total_cost.total_cmp(&b.cost.total_cost));
    (ok.first().copied(), ok.get(1).copied())
}

/// Prices every tier and recommends the cheapest one that meets the target within budget.
pub fn plan(
    inputs: &CostInputs,
    pricing: &Pricing,
    service_ms: &[f64],
) -> Result<CostPlan, String> {
    inputs.validate()?;
    let tiers = plan_tiers(inputs, pricing, service_ms);
    let (first, second) = best(&tiers);
    let thumb = rule_of_thumb(inputs.monthly_requests, inputs.latency_target_ms);
    let explanation = match first {
        Some(t) => format!(
            "{} is the cheapest tier that meets the {} target of {:.0} ms within the ${:.0} budget: ${:.2}/month, {}.",
            t.cost.tier.label(), inputs.percentile.label(), inputs.latency_target_ms, inputs.budget_usd, t.cost.total_cost, t.reason
        ),
        None => {
            let feasible: Vec<&TierPlan> = tiers.iter().filter(|t| t.feasible).collect();
            if feasible.is_empty() {
                format!("No tier meets the {} target of {:.0} ms: {}", inputs.percentile.label(), inputs.latency_target_ms,
                    tiers.iter().map(|t| format!("{}: {}", t.cost.tier.label(), t.reason)).collect::<Vec<_>>().join("; "))
            } else {
                let cheapest = feasible.iter().min_by(|a, b| a.cost.total_cost.total_cmp(&b.cost.total_cost)).copied();
                format!("Tiers meet the latency target but none fits the ${:.0} budget; the cheapest, {}, costs ${:.2}/month.",
                    inputs.budget_usd, cheapest.map(|t| t.cost.tier.label()).unwrap_or(""), cheapest.map(|t| t.cost.total_cost).unwrap_or(0.0))
            }
        }
    };
    let margin_ms = first
        .and_then(|t| match inputs.percentile {
            Percentile::P95 => t.predicted_p95_ms,
            Percentile::P99 => t.predicted_p99_ms,
        })
        .map(|p| inputs.latency_target_ms - p);
    // Where would the answer change? Scan volumes on a log grid.
    let mut flips = Vec::new();
    let here = inputs.monthly_requests.max(1.0).log10();
    for dir in [1.0, -1.0] {
        let mut prev = first.map(|t| t.cost.tier);
        for step in 1..=60 {
            let v = 10f64.powf(here + dir * step as f64 * 0.1);
            if !(1e3..=1e10).contains(&v) {
                break;
            }
            let probe = CostInputs {
                monthly_requests: v,
                ..inputs.clone()
            };
            let t = best(&plan_tiers(&probe, pricing, service_ms))
                .0
                .map(|t| t.cost.tier);
            if t != prev {
                flips.push((v, t));
                break;
            }
            prev = t;
        }
    }
    flips.sort_by(|a, b| a.0.total_cmp(&b.0));
    let rule_of_thumb_note = match first {
        Some(t) if t.cost.tier != thumb => Some(format!(
            "The rule of thumb says {} at this volume and target; the measured latencies and prices say {}.",
            thumb.label(), t.cost.tier.label()
        )),
        _ => None,
    };
    Ok(CostPlan {
        recommendation: Recommendation {
            tier: first.map(|t| t.cost.tier),
            explanation,
            margin_ms,
            runner_up: second.map(|t| t.cost.tier),
            flips,
            rule_of_thumb: thumb,
            rule_of_thumb_note,
        },
        tiers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Vec<f64> {
        (0..2000).map(|i| 20.0 + (i % 100) as f64 * 0.2).collect()
    }

    #[test]
    fn recommends_serverless_at_low_volume_and_an_always_on_tier_at_high_volume() {
        let p = Pricing::default();
        let low = plan(
            &CostInputs {
                monthly_requests: 1e5,
                latency_target_ms: 200.0,
                ..Default::default()
            },
            &p,
            &service(),
        )
        .unwrap();
        assert_eq!(
            low.recommendation.tier,
            Some(Tier::Serverless),
            "{}",
            low.recommendation.explanation
        );
        // A p99 target that 1% of 500 ms cold starts break moves the answer to an always-on tier.
        let strict = CostInputs {
            monthly_requests: 5e7,
            latency_target_ms: 100.0,
            percentile: Percentile::P99,
            budget_usd: 1e6,
            ..Default::default()
        };
        let high = plan(&strict, &p, &service()).unwrap();
        assert_eq!(
            high.recommendation.tier,
            Some(Tier::Container),
            "{}",
            high.recommendation.explanation
        );
        let s = high
            .tiers
            .iter()
            .find(|t| t.cost.tier == Tier::Serverless)
            .unwrap();
        assert!(
            !s.feasible && s.reason.contains("cold starts"),
            "{}",
            s.reason
        );
        assert!(
            high.recommendation.rule_of_thumb_note.is_some(),
            "the rule of thumb says kubernetes at 50M"
        );
        assert!(
            !low.recommendation.flips.is_empty(),
            "some volume changes the answer"
        );
        for t in low.tiers.iter().chain(&high.tiers) {
            assert!(t.cost.total_cost.is_finite() && t.cost.cost_per_1k_requests.is_finite());
        }
    }

    #[test]
    fn edge_inputs_are_explained_never_nan() {
        let p = Pricing::default();
        let zero = plan(
            &CostInputs {
                monthly_requests: 0.0,
                ..Default::default()
            },
            &p,
            &service(),
        )
        .unwrap();
        assert!(zero.tiers.iter().all(|t| t.cost.total_cost.is_finite()));
        let broke = plan(
            &CostInputs {
                budget_usd: 0.0,
                ..Default::default()
            },
            &p,
            &service(),
        )
        .unwrap();
        assert_eq!(broke.recommendation.tier, None);
        assert!(
            broke.recommendation.explanation.contains("budget"),
            "{}",
            broke.recommendation.explanation
        );
        let too_fast = plan(
            &CostInputs {
                latency_target_ms: 5.0,
                ..Default::default()
            },
            &p,
            &service(),
        )
        .unwrap();
        assert_eq!(too_fast.recommendation.tier, None);
        assert!(
            too_fast
                .recommendation
                .explanation
                .contains("No tier meets"),
            "{}",
            too_fast.recommendation.explanation
        );
        for bad in [
            CostInputs {
                monthly_requests: -1.0,
                ..Default::default()
            },
            CostInputs {
                peak_factor: f64::NAN,
                ..Default::default()
            },
            CostInputs {
                min_instances: 5,
                max_instances: 2,
                ..Default::default()
            },
        ] {
            assert!(plan(&bad, &p, &service()).is_err());
        }
        let empty = plan(&CostInputs::default(), &p, &[]).unwrap();
        assert!(empty.tiers.iter().all(|t| t.cost.total_cost.is_finite()));
    }

    #[test]
    fn a_model_bigger_than_a_function_cannot_be_serverless() {
        let p = Pricing::default();
        let r = plan(
            &CostInputs {
                model_memory_mb: 900.0,
                ..Default::default()
            },
            &p,
            &service(),
        )
        .unwrap();
        let s = r
            .tiers
            .iter()
            .find(|t| t.cost.tier == Tier::Serverless)
            .unwrap();
        assert!(!s.feasible && s.reason.contains("900 MB"), "{}", s.reason);
    }
}
