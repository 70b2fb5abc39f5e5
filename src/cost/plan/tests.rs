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

#[test]
fn break_evens_are_where_the_bills_are_equal() {
    let p = Pricing::default();
    let inputs = CostInputs::default();
    let c = curves(&inputs, &p, &service());
    assert_eq!(c.volumes.len(), 57);
    assert!(!c.break_evens.is_empty());
    for b in &c.break_evens {
        let at = |v: f64| {
            plan_tiers(
                &CostInputs {
                    monthly_requests: v,
                    ..inputs.clone()
                },
                &p,
                &service(),
            )
        };
        // Just below, the first is cheaper; just above, the second. (Bills of always-on
        // tiers are steps, one instance at a time, so they may cross at a step.)
        let below = at(b.monthly_requests * 0.995);
        let above = at(b.monthly_requests * 1.005);
        let of = |ts: &[TierPlan], t: Tier| {
            ts.iter()
                .find(|x| x.cost.tier == t)
                .unwrap()
                .cost
                .total_cost
        };
        assert!(
            of(&below, b.cheaper_below) <= of(&below, b.cheaper_above),
            "{b:?}"
        );
        assert!(
            of(&above, b.cheaper_above) <= of(&above, b.cheaper_below),
            "{b:?}"
        );
    }
}

#[test]
fn gpu_machines_price_only_gpu_runs() {
    let p = Pricing::default();
    let machine = |gpu: bool| {
        plan_tiers(
            &CostInputs {
                measured_on_gpu: gpu,
                ..Default::default()
            },
            &p,
            &service(),
        )
        .into_iter()
        .find(|t| t.cost.tier == Tier::Dedicated)
        .and_then(|t| t.machine)
        .unwrap()
    };
    assert_eq!(machine(false), "2 vCPU / 8 GB");
    assert!(machine(true).contains("GPU"), "{}", machine(true));
}

#[test]
fn serving_batches_need_fewer_instances_and_wait_to_fill() {
    let p = Pricing::default();
    // 30 ms per inference at 3e8 requests a month (about 342 req/s at a 3x peak).
    let svc = vec![30.0; 100];
    let run = |batch: u64| {
        plan_tiers(
            &CostInputs {
                monthly_requests: 3e8,
                serving_batch: batch,
                max_instances: 10_000,
                ..Default::default()
            },
            &p,
            &svc,
        )
        .into_iter()
        .find(|t| t.cost.tier == Tier::Container)
        .unwrap()
    };
    let (one, eight) = (run(1), run(8));
    assert!(
        eight.cost.instances * 4 <= one.cost.instances,
        "{} vs {}",
        eight.cost.instances,
        one.cost.instances
    );
    assert!(
        eight.reason.contains("to fill a batch of 8"),
        "{}",
        eight.reason
    );
    // p95 = service + queue + 0.95 * 7 arrivals at the peak rate.
    let peak = 3e8 / (HOURS_PER_MONTH * 3600.0) * 3.0;
    let fill = 0.95 * 7.0 / peak * 1000.0;
    assert!(eight.predicted_p95_ms.unwrap() >= 30.0 + fill - 1e-9);
}
