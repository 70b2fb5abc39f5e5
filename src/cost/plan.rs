//! The planner: from measured service times and the user's inputs to a feasible, priced
//! configuration per tier, and a recommendation that explains itself.

use super::queue::Queue;
use super::sizing::{fill_ms, size_for_latency, Sizing};
use super::{
    dedicated, instances, rule_of_thumb, serverless, InvalidCostInput, Pricing, Tier, TierCost,
    VmType, HOURS_PER_MONTH,
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
#[serde(default, deny_unknown_fields)]
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
    /// Requests served by one inference on always-on tiers (the measured run's batch size).
    pub serving_batch: u64,
    /// The service times were measured on a GPU execution provider: dedicated GPU rows apply.
    pub measured_on_gpu: bool,
    /// Cores one inference used when it was measured (the run's intra-op threads): an
    /// instance of `vcpus` serves `vcpus / threads` inferences at once, and one with fewer
    /// vCPUs than this cannot serve at the measured latency.
    pub threads_per_inference: u64,
    /// The highest rate one server sustained within the latency target under open-loop load
    /// on this machine (`inferscope load --find-max-rate`, or the Cost tab's), requests a
    /// second: always-on tiers then get at least peak / (this x servers per instance)
    /// instances, whatever the queue model says.
    pub measured_capacity_rps: Option<f64>,
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
            serving_batch: 1,
            measured_on_gpu: false,
            threads_per_inference: 1,
            measured_capacity_rps: None,
        }
    }
}

impl CostInputs {
    /// Checks ranges; every message names the field and the allowed range.
    pub fn validate(&self) -> Result<(), InvalidCostInput> {
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
                return Err(InvalidCostInput(format!(
                    "{name} must be between {lo} and {hi} (got {v})"
                )));
            }
        }
        if !(1..=1024).contains(&self.threads_per_inference) {
            return Err(InvalidCostInput(format!(
                "threads per inference must be between 1 and 1024 (got {})",
                self.threads_per_inference
            )));
        }
        if !(1..=1_000_000).contains(&self.serving_batch) {
            return Err(InvalidCostInput(format!(
                "serving batch must be between 1 and 1000000 (got {})",
                self.serving_batch
            )));
        }
        if let Some(c) = self.measured_capacity_rps {
            if !(c.is_finite() && c > 0.0) {
                return Err(InvalidCostInput(format!(
                    "measured capacity must be a number of requests a second above 0 (got {c})"
                )));
            }
        }
        if self.min_instances > self.max_instances || self.max_instances == 0 {
            return Err(InvalidCostInput(format!(
                "instances: the minimum ({}) must not exceed the maximum ({}), which must be at least 1",
                self.min_instances, self.max_instances
            )));
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

    /// Inferences per second at peak on always-on tiers (requests grouped in serving batches).
    pub fn peak_inferences_per_s(&self) -> f64 {
        self.peak_rps() / self.serving_batch.max(1) as f64
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

impl Recommendation {
    /// Each volume where the answer changes, with its side of `monthly_requests`:
    /// `above 2.1 M requests a month: dedicated` (the CLI, the report and the window say it so).
    pub fn flip_lines(&self, monthly_requests: f64) -> Vec<String> {
        self.flips
            .iter()
            .map(|(v, t)| {
                format!(
                    "{} {} requests a month: {}",
                    if *v > monthly_requests {
                        "above"
                    } else {
                        "below"
                    },
                    crate::format::count_short(*v),
                    t.map(|t| t.label()).unwrap_or("no tier")
                )
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostPlan {
    pub tiers: Vec<TierPlan>,
    pub recommendation: Recommendation,
}

/// Measured service times, reduced once for the planner: the queue model convolves the wait
/// with the service distribution, and 256 evenly spaced quantiles of it are as good as a
/// million samples while keeping a recompute far under a frame.
#[derive(Clone, Debug)]
pub struct Service {
    /// Sorted, milliseconds.
    ms: Vec<f64>,
    /// The same in seconds, for the queue.
    pub(super) s: Vec<f64>,
    mean_ms: f64,
}

impl Service {
    /// From one inference's latencies in ms (a run's raw samples, or one typed latency).
    /// Non-finite and negative values are dropped; nothing at all counts as 0 ms.
    pub fn new(service_ms: &[f64]) -> Service {
        let mut v: Vec<f64> = service_ms
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .collect();
        if v.is_empty() {
            v.push(0.0);
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let mean_ms = v.iter().sum::<f64>() / v.len() as f64;
        let ms = super::queue::reduce_sorted(&v, 256);
        let s = ms.iter().map(|v| v / 1000.0).collect();
        Service { ms, s, mean_ms }
    }

    pub fn mean_ms(&self) -> f64 {
        self.mean_ms
    }

    pub(super) fn quantile_ms(&self, q: f64) -> f64 {
        crate::bench::stats::nearest_rank(&self.ms, q)
    }
}

/// One way to serve, before its latency is judged.
#[derive(Clone, Copy)]
pub(super) enum Slot<'a> {
    Serverless,
    Pooled(Tier),
    Dedicated(&'a VmType),
}

/// The slots in table order. Dedicated is the cheapest machine that holds the model, among
/// GPU rows for a run measured on a GPU execution provider and CPU rows otherwise.
pub(super) fn slots<'a>(inputs: &CostInputs, pricing: &'a Pricing) -> Vec<Slot<'a>> {
    let mut out = vec![
        Slot::Serverless,
        Slot::Pooled(Tier::Container),
        Slot::Pooled(Tier::Kubernetes),
    ];
    if let Some(vm) = pricing
        .dedicated
        .iter()
        .filter(|v| v.gpu == inputs.measured_on_gpu)
        .filter(|v| v.memory_gb * 1000.0 >= inputs.model_memory_mb)
        .min_by(|a, b| a.usd_per_hour.total_cmp(&b.usd_per_hour))
    {
        out.push(Slot::Dedicated(vm));
    }
    out
}

/// A slot with its bill: instances from per-instance throughput at the target utilization,
/// then more if the latency target needs them.
pub(super) struct Priced<'a> {
    slot: Slot<'a>,
    pub(super) cost: TierCost,
    /// Instances the peak needs at the utilization cap, before the min/max clamp.
    needed: u64,
    /// What set the count.
    sizing: Sizing,
    /// Parallel inferences per instance (whole vCPUs over the threads an inference takes,
    /// at least 1).
    per_instance: f64,
    memory_gb: f64,
    /// The instance's vCPUs, when fewer than the threads one inference was measured on.
    vcpus_short: Option<f64>,
}

pub(super) fn price<'a>(
    slot: Slot<'a>,
    inputs: &CostInputs,
    pricing: &Pricing,
    svc: &Service,
) -> Priced<'a> {
    let requests = inputs.effective_requests();
    let (vcpus, memory_gb) = match slot {
        Slot::Dedicated(vm) => (vm.vcpus, vm.memory_gb),
        _ => (inputs.vcpus, inputs.instance_memory_gb),
    };
    // Each inference takes the cores it was measured on; an instance with fewer has none to
    // give it (judged below), and is priced as if it served one.
    let threads = inputs.threads_per_inference.max(1) as f64;
    let fits = threads <= 1.0 || vcpus + 1e-9 >= threads;
    let per_instance = (vcpus / threads).floor().max(1.0);
    // Erlangs of work at peak: inferences per second times seconds per inference.
    let busy = inputs.peak_inferences_per_s() * svc.mean_ms / 1000.0;
    let needed = (busy / (per_instance * inputs.target_utilization))
        .ceil()
        .clamp(0.0, 1e15) as u64;
    let by_utilization = needed.clamp(inputs.min_instances.max(1), inputs.max_instances.max(1));
    // Instances the capacity measured under open-loop load asks for at the peak.
    let by_capacity = inputs.measured_capacity_rps.filter(|c| *c > 0.0).map(|c| {
        (inputs.peak_inferences_per_s() / (c * per_instance))
            .ceil()
            .clamp(0.0, 1e15) as u64
    });
    let (count, sizing) = match (slot, by_capacity) {
        (Slot::Serverless, _) => (by_utilization, Sizing::Utilization),
        _ if needed > inputs.max_instances => (by_utilization, Sizing::Utilization),
        (_, Some(n)) if n > inputs.max_instances => {
            (by_utilization, Sizing::MeasuredOverMax { needed: n })
        }
        (_, Some(n)) if n > by_utilization => {
            match size_for_latency(
                n.max(inputs.min_instances.max(1)),
                per_instance,
                inputs,
                svc,
            ) {
                (c, Sizing::Utilization) => (c, Sizing::Measured { by_utilization }),
                other => other,
            }
        }
        _ => size_for_latency(by_utilization, per_instance, inputs, svc),
    };
    let cost = match slot {
        Slot::Serverless => serverless(pricing, requests, svc.mean_ms, inputs.function_memory_mb),
        Slot::Pooled(tier) => {
            let ip = if tier == Tier::Kubernetes {
                &pricing.kubernetes
            } else {
                &pricing.container
            };
            instances(tier, ip, pricing, requests, count, vcpus, memory_gb)
        }
        Slot::Dedicated(vm) => dedicated(pricing, vm, requests, count),
    };
    Priced {
        slot,
        cost,
        needed,
        sizing,
        per_instance,
        memory_gb,
        vcpus_short: (!fits).then_some(vcpus),
    }
}

/// How much of the latency picture to compute: everything for the table, or only whether the
/// target is met (what the scan for the volumes where the answer flips needs).
#[derive(Clone, Copy, PartialEq)]
enum Detail {
    Full,
    Feasibility,
}

fn judge(p: Priced, inputs: &CostInputs, svc: &Service, detail: Detail) -> TierPlan {
    let target = inputs.latency_target_ms;
    let pct = inputs.percentile;
    let q = pct.q();
    let peak = inputs.peak_rps();
    let batch = inputs.serving_batch.max(1);
    let (feasible, reason, p95, p99) = match p.slot {
        // One request per function instance: no queue; cold starts add to the tail.
        Slot::Serverless => {
            let mut with_cold = svc.ms.clone();
            let cold_n = (inputs.cold_start_share * with_cold.len() as f64).round() as usize;
            for v in with_cold.iter_mut().rev().take(cold_n) {
                *v += inputs.cold_start_ms;
            }
            with_cold.sort_by(|a, b| a.total_cmp(b));
            let quantile = crate::bench::stats::nearest_rank::<f64>;
            let (p95, p99) = (quantile(&with_cold, 0.95), quantile(&with_cold, 0.99));
            let predicted = quantile(&with_cold, q);
            let batch_note = if batch > 1 {
                format!(" (priced at the batch-{batch} latency: functions serve one request each)")
            } else {
                String::new()
            };
            let (ok, why) = if inputs.model_memory_mb > inputs.function_memory_mb {
                (
                    false,
                    format!(
                        "the model needs {:.0} MB but a function has {:.0} MB",
                        inputs.model_memory_mb, inputs.function_memory_mb
                    ),
                )
            } else if predicted > target {
                (false, format!("{} {} (with {:.0}% cold starts of {:.0} ms) is over the {target:.0} ms target{batch_note}", pct.label(), crate::format::ms(predicted), inputs.cold_start_share * 100.0, inputs.cold_start_ms))
            } else {
                (
                    true,
                    format!(
                        "{} {}; scales per request{batch_note}",
                        pct.label(),
                        crate::format::ms(predicted)
                    ),
                )
            };
            (ok, why, Some(p95), Some(p99))
        }
        // Always-on instances: a queue of `count x per_instance` servers fed at the peak.
        Slot::Pooled(_) | Slot::Dedicated(_) => {
            let count = p.cost.instances;
            let servers = (count as f64 * p.per_instance).min(u32::MAX as f64) as u32;
            let arrival = inputs.peak_inferences_per_s();
            let queue = Queue::from_samples(servers, arrival, &svc.s);
            // Filling a batch of b at the peak rate: the request at quantile q of its batch
            // waits for q (b - 1) more arrivals.
            let fill_ms = |q: f64| fill_ms(inputs, q);
            let wait = if arrival > 0.0 {
                queue.wait_distribution(&svc.s)
            } else {
                None
            };
            let saturated = arrival > 0.0 && wait.is_none();
            let at = |q: f64| -> Option<f64> {
                if saturated {
                    None
                } else {
                    Some(
                        match &wait {
                            Some(d) => d.response_quantile(q, &svc.s) * 1000.0,
                            None => svc.quantile_ms(q),
                        } + fill_ms(q),
                    )
                }
            };
            // Whether the target holds: P(response <= target) >= q under the model, the same
            // test the sizing uses, so a count sized to meet the target is judged to meet it.
            let budget_s = (target - fill_ms(q)) / 1000.0;
            let meets = !saturated
                && budget_s >= 0.0
                && match &wait {
                    Some(d) => d.response_cdf(budget_s, &svc.s) >= q,
                    None => svc.quantile_ms(q) <= target - fill_ms(q),
                };
            let (p95, p99) = match detail {
                Detail::Full => (at(0.95), at(0.99)),
                Detail::Feasibility => (None, None),
            };
            let predicted = if pct == Percentile::P99 { p99 } else { p95 };
            let fill_note = if batch > 1 && peak > 0.0 {
                format!(
                    ", of which {} to fill a batch of {batch}",
                    crate::format::ms(fill_ms(q))
                )
            } else {
                String::new()
            };
            let (ok, why) = if let Some(v) = p.vcpus_short {
                let t = inputs.threads_per_inference;
                (
                    false,
                    format!(
                        "the latency was measured with {t} threads per inference, more than this instance's {v} vCPU(s): measure at {threads} thread(s) (inferscope bench MODEL --threads {threads}) or price instances of {t} vCPUs",
                        threads = v.floor().max(1.0)
                    ),
                )
            } else if inputs.model_memory_mb > p.memory_gb * 1000.0 {
                (
                    false,
                    format!(
                        "the model needs {:.0} MB but an instance has {:.1} GB",
                        inputs.model_memory_mb, p.memory_gb
                    ),
                )
            } else if p.needed > inputs.max_instances {
                (false, format!("the peak of {peak:.1} req/s needs {} instances at {:.0}% utilization; the maximum is {}", p.needed, inputs.target_utilization * 100.0, inputs.max_instances))
            } else if let Sizing::MeasuredOverMax { needed } = p.sizing {
                (
                    false,
                    format!(
                        "the capacity measured on this machine ({:.1} req/s a server) needs {needed} instances at the peak of {peak:.1} req/s; the maximum is {}",
                        inputs.measured_capacity_rps.unwrap_or_default(),
                        inputs.max_instances
                    ),
                )
            } else if let Sizing::ServiceAlone { ms } = p.sizing {
                (
                    false,
                    format!(
                        "the model alone takes {} at {}{fill_note}, over the {target:.0} ms target: no number of instances meets it",
                        crate::format::ms(ms),
                        pct.label()
                    ),
                )
            } else if saturated {
                (
                    false,
                    format!(
                        "{} saturate at the peak of {peak:.1} req/s",
                        crate::format::plural(count, "instance")
                    ),
                )
            } else if detail == Detail::Feasibility {
                (meets, String::new())
            } else {
                let v = predicted.unwrap_or(f64::INFINITY);
                let sized = match p.sizing {
                    Sizing::Latency { by_utilization } => format!(
                        "; {} for the {target:.0} ms target (the {:.0}% utilization cap alone needs {by_utilization})",
                        crate::format::plural(count, "instance"),
                        inputs.target_utilization * 100.0
                    ),
                    Sizing::Measured { by_utilization } => format!(
                        "; {} by the capacity measured on this machine ({:.1} req/s a server within the target; the {:.0}% utilization cap alone needs {by_utilization})",
                        crate::format::plural(count, "instance"),
                        inputs.measured_capacity_rps.unwrap_or_default(),
                        inputs.target_utilization * 100.0
                    ),
                    Sizing::NotWithinMax => format!(
                        "; no count up to the maximum of {} meets it",
                        inputs.max_instances
                    ),
                    _ => String::new(),
                };
                if meets {
                    (
                        true,
                        format!(
                            "{} {} with {} ({:.0}% busy at peak){fill_note}{sized}",
                            pct.label(),
                            crate::format::ms(v),
                            crate::format::plural(count, "instance"),
                            queue.utilization() * 100.0
                        ),
                    )
                } else {
                    (
                        false,
                        format!(
                            "{} {} with {} at peak is over the {target:.0} ms target{fill_note}{sized}",
                            pct.label(),
                            crate::format::ms(v),
                            crate::format::plural(count, "instance")
                        ),
                    )
                }
            };
            (ok, why, p95, p99)
        }
    };
    let within_budget = p.cost.total_cost <= inputs.budget_usd;
    TierPlan {
        machine: match p.slot {
            Slot::Dedicated(vm) => Some(vm.name.clone()),
            _ => None,
        },
        cost: p.cost,
        predicted_p95_ms: p95,
        predicted_p99_ms: p99,
        feasible,
        reason,
        within_budget,
    }
}

/// Prices and judges every tier. `service_ms` are measured latencies of one inference (a
/// run's raw samples) or a single typed latency.
pub fn plan_tiers(inputs: &CostInputs, pricing: &Pricing, service_ms: &[f64]) -> Vec<TierPlan> {
    let svc = Service::new(service_ms);
    price_and_judge(inputs, pricing, &svc)
}

fn price_and_judge(inputs: &CostInputs, pricing: &Pricing, svc: &Service) -> Vec<TierPlan> {
    slots(inputs, pricing)
        .into_iter()
        .map(|s| judge(price(s, inputs, pricing, svc), inputs, svc, Detail::Full))
        .collect()
}

fn best(tiers: &[TierPlan]) -> (Option<&TierPlan>, Option<&TierPlan>) {
    let mut ok: Vec<&TierPlan> = tiers
        .iter()
        .filter(|t| t.feasible && t.within_budget)
        .collect();
    ok.sort_by(|a, b| a.cost.total_cost.total_cmp(&b.cost.total_cost));
    (ok.first().copied(), ok.get(1).copied())
}

/// The recommended tier alone: tiers are judged cheapest first, and only until one passes.
fn cheapest_ok(inputs: &CostInputs, pricing: &Pricing, svc: &Service) -> Option<Tier> {
    let mut priced: Vec<Priced> = slots(inputs, pricing)
        .into_iter()
        .map(|s| price(s, inputs, pricing, svc))
        .filter(|p| p.cost.total_cost <= inputs.budget_usd)
        .collect();
    priced.sort_by(|a, b| a.cost.total_cost.total_cmp(&b.cost.total_cost));
    priced
        .into_iter()
        .map(|p| judge(p, inputs, svc, Detail::Feasibility))
        .find(|t| t.feasible)
        .map(|t| t.cost.tier)
}

/// The monthly volumes nearest to the current one, up and down, at which the recommendation
/// changes: a scan in quarter decades over 1 thousand to 10 billion, refined by bisection to
/// about 2%. Each direction scans only its own side of the current volume, which may lie
/// outside that range. A volume below the current one is where the answer changes going down
/// (below it, the tier given), one above it where it changes going up.
fn flips(
    inputs: &CostInputs,
    pricing: &Pricing,
    svc: &Service,
    here_tier: Option<Tier>,
) -> Vec<(f64, Option<Tier>)> {
    let at = |log_v: f64| {
        let probe = CostInputs {
            monthly_requests: 10f64.powf(log_v),
            ..inputs.clone()
        };
        cheapest_ok(&probe, pricing, svc)
    };
    let here = inputs.monthly_requests.max(1.0).log10();
    let mut out = Vec::new();
    for dir in [1.0, -1.0] {
        let mut prev = here;
        for step in 1..=40 {
            let unclamped = here + dir * step as f64 * 0.25;
            // Below 1 thousand going up (or above 10 billion going down): not in range yet.
            if (dir > 0.0 && unclamped < 3.0) || (dir < 0.0 && unclamped > 10.0) {
                continue;
            }
            let v = unclamped.clamp(3.0, 10.0);
            // Clamped at the range's end, or behind the current volume: nothing further here.
            if (v - prev) * dir < 1e-9 {
                break;
            }
            let t = at(v);
            if t != here_tier {
                // The change lies between prev and v: bisect to 0.01 decade.
                let (mut same, mut changed, mut tier) = (prev, v, t);
                while (changed - same).abs() > 0.01 {
                    let mid = 0.5 * (same + changed);
                    let tm = at(mid);
                    if tm == here_tier {
                        same = mid;
                    } else {
                        changed = mid;
                        tier = tm;
                    }
                }
                out.push((10f64.powf(changed), tier));
                break;
            }
            prev = v;
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Prices every tier and recommends the cheapest one that meets the target within budget.
pub fn plan(
    inputs: &CostInputs,
    pricing: &Pricing,
    service_ms: &[f64],
) -> Result<CostPlan, InvalidCostInput> {
    inputs.validate()?;
    let svc = Service::new(service_ms);
    let tiers = price_and_judge(inputs, pricing, &svc);
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
    let here_tier = first.map(|t| t.cost.tier);
    let flips = flips(inputs, pricing, &svc, here_tier);
    let rule_of_thumb_note = match first {
        Some(t) if t.cost.tier != thumb => Some(format!(
            "The rule of thumb says {} at this volume and target; the measured latencies and prices say {}.",
            thumb.label(), t.cost.tier.label()
        )),
        _ => None,
    };
    Ok(CostPlan {
        recommendation: Recommendation {
            tier: here_tier,
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

pub use super::curves::{curves, BreakEven, CostCurves};

#[cfg(test)]
mod tests;
