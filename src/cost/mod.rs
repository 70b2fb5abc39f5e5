//! What serving a model costs per month on four kinds of infrastructure.
//!
//! The pricing and formulas reproduce the cost model Inferscope grew from (see the README's
//! reference figures); the capacity and latency model on top of it comes next.

pub mod curves;
pub mod plan;
pub mod queue;
mod sizing;
pub mod table;
pub mod variants;

use serde::{Deserialize, Serialize};

/// Hours in a billing month, as cloud price sheets count them.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Where a model is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Serverless,
    Container,
    Kubernetes,
    Dedicated,
}

impl Tier {
    pub const ALL: [Tier; 4] = [
        Tier::Serverless,
        Tier::Container,
        Tier::Kubernetes,
        Tier::Dedicated,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Tier::Serverless => "serverless",
            Tier::Container => "container",
            Tier::Kubernetes => "kubernetes",
            Tier::Dedicated => "dedicated",
        }
    }
}

/// Per-instance prices of a container or Kubernetes tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstancePricing {
    pub usd_per_vcpu_hour: f64,
    pub usd_per_gb_hour: f64,
    /// Fixed monthly fee (a Kubernetes control plane).
    pub usd_per_month_fixed: f64,
    pub storage_gb: f64,
    pub usd_per_storage_gb_month: f64,
}

/// A virtual machine size of the dedicated tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmType {
    pub name: String,
    pub vcpus: f64,
    pub memory_gb: f64,
    pub usd_per_hour: f64,
    /// GPU machines apply only to results measured on a GPU execution provider.
    pub gpu: bool,
}

/// Every price the planner uses; editable and saved with presets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pricing {
    pub serverless_usd_per_million_requests: f64,
    pub serverless_usd_per_gb_second: f64,
    pub network_usd_per_million_requests: f64,
    pub container: InstancePricing,
    pub kubernetes: InstancePricing,
    pub dedicated: Vec<VmType>,
    pub dedicated_storage_gb: f64,
    pub dedicated_usd_per_storage_gb_month: f64,
}

/// A cost input or price out of range: the message names the field and the allowed range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCostInput(pub String);

impl Pricing {
    /// Prices are finite and not negative; sizes positive. Messages name the field.
    pub fn validate(&self) -> Result<(), InvalidCostInput> {
        let mut fields: Vec<(String, f64, f64)> = vec![
            (
                "serverless_usd_per_million_requests".into(),
                self.serverless_usd_per_million_requests,
                0.0,
            ),
            (
                "serverless_usd_per_gb_second".into(),
                self.serverless_usd_per_gb_second,
                0.0,
            ),
            (
                "network_usd_per_million_requests".into(),
                self.network_usd_per_million_requests,
                0.0,
            ),
            (
                "dedicated_storage_gb".into(),
                self.dedicated_storage_gb,
                0.0,
            ),
            (
                "dedicated_usd_per_storage_gb_month".into(),
                self.dedicated_usd_per_storage_gb_month,
                0.0,
            ),
        ];
        for (name, ip) in [
            ("container", &self.container),
            ("kubernetes", &self.kubernetes),
        ] {
            fields.push((
                format!("{name}.usd_per_vcpu_hour"),
                ip.usd_per_vcpu_hour,
                0.0,
            ));
            fields.push((format!("{name}.usd_per_gb_hour"), ip.usd_per_gb_hour, 0.0));
            fields.push((
                format!("{name}.usd_per_month_fixed"),
                ip.usd_per_month_fixed,
                0.0,
            ));
            fields.push((format!("{name}.storage_gb"), ip.storage_gb, 0.0));
            fields.push((
                format!("{name}.usd_per_storage_gb_month"),
                ip.usd_per_storage_gb_month,
                0.0,
            ));
        }
        for (i, vm) in self.dedicated.iter().enumerate() {
            fields.push((format!("dedicated[{i}].vcpus"), vm.vcpus, 0.25));
            fields.push((format!("dedicated[{i}].memory_gb"), vm.memory_gb, 0.125));
            fields.push((format!("dedicated[{i}].usd_per_hour"), vm.usd_per_hour, 0.0));
        }
        for (name, v, lo) in fields {
            if !v.is_finite() || v < lo || v > 1e9 {
                return Err(InvalidCostInput(format!(
                    "{name} must be between {lo} and 1000000000 (got {v})"
                )));
            }
        }
        Ok(())
    }
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            serverless_usd_per_million_requests: 0.20,
            serverless_usd_per_gb_second: 0.0000166667,
            network_usd_per_million_requests: 1.0,
            container: InstancePricing {
                usd_per_vcpu_hour: 0.04,
                usd_per_gb_hour: 0.004,
                usd_per_month_fixed: 0.0,
                storage_gb: 20.0,
                usd_per_storage_gb_month: 0.10,
            },
            kubernetes: InstancePricing {
                usd_per_vcpu_hour: 0.05,
                usd_per_gb_hour: 0.005,
                usd_per_month_fixed: 72.0,
                storage_gb: 20.0,
                usd_per_storage_gb_month: 0.10,
            },
            dedicated: vec![
                VmType {
                    name: "2 vCPU / 8 GB".into(),
                    vcpus: 2.0,
                    memory_gb: 8.0,
                    usd_per_hour: 0.096,
                    gpu: false,
                },
                VmType {
                    name: "4 vCPU / 16 GB".into(),
                    vcpus: 4.0,
                    memory_gb: 16.0,
                    usd_per_hour: 0.192,
                    gpu: false,
                },
                VmType {
                    name: "8 vCPU / 32 GB".into(),
                    vcpus: 8.0,
                    memory_gb: 32.0,
                    usd_per_hour: 0.384,
                    gpu: false,
                },
                VmType {
                    name: "4 vCPU / 16 GB + 1 GPU (T4)".into(),
                    vcpus: 4.0,
                    memory_gb: 16.0,
                    usd_per_hour: 0.526,
                    gpu: true,
                },
            ],
            dedicated_storage_gb: 20.0,
            dedicated_usd_per_storage_gb_month: 0.08,
        }
    }
}

/// The monthly bill of one tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TierCost {
    pub tier: Tier,
    pub compute_cost: f64,
    pub storage_cost: f64,
    pub network_cost: f64,
    pub total_cost: f64,
    pub cost_per_1k_requests: f64,
    pub instances: u64,
}

impl TierCost {
    fn new(
        tier: Tier,
        compute: f64,
        storage: f64,
        network: f64,
        monthly_requests: f64,
        instances: u64,
    ) -> TierCost {
        let total = compute + storage + network;
        TierCost {
            tier,
            compute_cost: compute,
            storage_cost: storage,
            network_cost: network,
            total_cost: total,
            cost_per_1k_requests: if monthly_requests > 0.0 {
                total / monthly_requests * 1000.0
            } else {
                0.0
            },
            instances,
        }
    }
}

fn network(p: &Pricing, monthly_requests: f64) -> f64 {
    monthly_requests / 1e6 * p.network_usd_per_million_requests
}

/// Functions billed per request and per GB-second of the memory they are given.
pub fn serverless(
    p: &Pricing,
    monthly_requests: f64,
    duration_ms: f64,
    memory_mb: f64,
) -> TierCost {
    let requests = monthly_requests / 1e6 * p.serverless_usd_per_million_requests;
    let gb_seconds = monthly_requests * (duration_ms / 1000.0) * (memory_mb / 1024.0);
    let compute = requests + gb_seconds * p.serverless_usd_per_gb_second;
    TierCost::new(
        Tier::Serverless,
        compute,
        0.0,
        network(p, monthly_requests),
        monthly_requests,
        0,
    )
}

/// Always-on instances (containers or Kubernetes nodes) billed per vCPU-hour and GB-hour.
pub fn instances(
    tier: Tier,
    ip: &InstancePricing,
    p: &Pricing,
    monthly_requests: f64,
    count: u64,
    vcpus: f64,
    memory_gb: f64,
) -> TierCost {
    let n = count as f64;
    let compute = n * vcpus * HOURS_PER_MONTH * ip.usd_per_vcpu_hour
        + n * memory_gb * HOURS_PER_MONTH * ip.usd_per_gb_hour
        + ip.usd_per_month_fixed;
    let storage = ip.storage_gb * ip.usd_per_storage_gb_month;
    TierCost::new(
        tier,
        compute,
        storage,
        network(p, monthly_requests),
        monthly_requests,
        count,
    )
}

/// Whole virtual machines of one size, billed per hour.
pub fn dedicated(p: &Pricing, vm: &VmType, monthly_requests: f64, count: u64) -> TierCost {
    let compute = count as f64 * vm.usd_per_hour * HOURS_PER_MONTH;
    let storage = count as f64 * p.dedicated_storage_gb * p.dedicated_usd_per_storage_gb_month;
    TierCost::new(
        Tier::Dedicated,
        compute,
        storage,
        network(p, monthly_requests),
        monthly_requests,
        count,
    )
}

/// The rule of thumb the field uses (and the course this product grew from): serverless under
/// 1M requests a month when the latency target is above 100 ms, containers under 10M,
/// Kubernetes above.
pub fn rule_of_thumb(monthly_requests: f64, latency_target_ms: f64) -> Tier {
    if monthly_requests < 1e6 && latency_target_ms > 100.0 {
        Tier::Serverless
    } else if monthly_requests < 1e7 {
        Tier::Container
    } else {
        Tier::Kubernetes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(x: f64) -> f64 {
        (x * 100.0).round() / 100.0
    }

    /// The reference figures at 1,000,000 requests a month, to the cent.
    #[test]
    fn reproduces_the_reference_figures() {
        let p = Pricing::default();
        let s = serverless(&p, 1e6, 100.0, 256.0);
        assert_eq!(
            (
                cents(s.compute_cost),
                cents(s.network_cost),
                cents(s.total_cost)
            ),
            (0.62, 1.00, 1.62)
        );
        let c = instances(Tier::Container, &p.container, &p, 1e6, 2, 1.0, 2.0);
        assert_eq!(
            (
                cents(c.compute_cost),
                cents(c.storage_cost),
                cents(c.network_cost),
                cents(c.total_cost)
            ),
            (70.08, 2.00, 1.00, 73.08)
        );
        let k = instances(Tier::Kubernetes, &p.kubernetes, &p, 1e6, 2, 1.0, 2.0);
        assert_eq!(
            (
                cents(k.compute_cost),
                cents(k.storage_cost),
                cents(k.network_cost),
                cents(k.total_cost)
            ),
            (159.60, 2.00, 1.00, 162.60)
        );
        assert!((c.cost_per_1k_requests - 0.07308).abs() < 1e-9);
    }

    #[test]
    fn zero_requests_cost_nothing_per_request_and_never_nan() {
        let p = Pricing::default();
        let s = serverless(&p, 0.0, 100.0, 256.0);
        assert_eq!((s.total_cost, s.cost_per_1k_requests), (0.0, 0.0));
        let c = instances(Tier::Container, &p.container, &p, 0.0, 1, 1.0, 2.0);
        assert!(c.total_cost > 0.0 && c.cost_per_1k_requests == 0.0);
    }

    #[test]
    fn rule_of_thumb_thresholds() {
        assert_eq!(rule_of_thumb(5e5, 200.0), Tier::Serverless);
        assert_eq!(rule_of_thumb(5e5, 50.0), Tier::Container);
        assert_eq!(rule_of_thumb(5e6, 200.0), Tier::Container);
        assert_eq!(rule_of_thumb(2e7, 200.0), Tier::Kubernetes);
    }
}
