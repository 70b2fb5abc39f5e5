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

/// A BERT encoder's service times as measured on ONNX Runtime: lognormal, p50 36.5 ms,
/// p95 52.4 ms.
fn bert() -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let sigma = (52.4f64 / 36.5).ln() / 1.6449;
    (0..4000)
        .map(|_| {
            let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            36.5 * (sigma * z).exp()
        })
        .collect()
}

fn container(p: &CostPlan) -> &TierPlan {
    p.tiers
        .iter()
        .find(|t| t.cost.tier == Tier::Container)
        .unwrap()
}

/// The case: at 5M requests a month and a 60 ms p95 target, one container instance
/// (all the 60% utilization cap needs) queues past the target; the planner sizes the tier up
/// to the fewest instances that meet it and prices that count.
#[test]
fn instances_are_sized_to_the_latency_target_not_only_to_utilization() {
    let inputs = CostInputs {
        monthly_requests: 5e6,
        latency_target_ms: 60.0,
        ..Default::default()
    };
    let pricing = Pricing::default();
    let svc = bert();
    let p = plan(&inputs, &pricing, &svc).unwrap();
    let c = container(&p);
    assert!(c.feasible, "{}", c.reason);
    let n = c.cost.instances;
    assert!(n >= 2, "more than the utilization cap's 1: {}", c.reason);
    assert!(c.predicted_p95_ms.unwrap() <= 60.0);
    assert!(
        c.reason
            .contains(&format!("{n} instances for the 60 ms target"))
            && c.reason.contains("utilization cap alone needs 1"),
        "{}",
        c.reason
    );
    // Priced at that count: the same bill as asking for exactly n instances.
    let exactly = |k: u64| {
        let fixed = CostInputs {
            min_instances: k,
            max_instances: k,
            ..inputs.clone()
        };
        container(&plan(&fixed, &pricing, &svc).unwrap()).clone()
    };
    assert_eq!(exactly(n).cost.total_cost, c.cost.total_cost);
    // And it is the fewest: one fewer misses the target, and says no count within it helps.
    let fewer = exactly(n - 1);
    assert!(!fewer.feasible, "{}", fewer.reason);
    assert!(
        fewer
            .reason
            .contains(&format!("no count up to the maximum of {} meets it", n - 1)),
        "{}",
        fewer.reason
    );
}

/// When the model alone is slower than the target, no count helps, and the plan says so.
#[test]
fn a_service_time_over_the_target_is_named_not_sized() {
    let inputs = CostInputs {
        monthly_requests: 5e6,
        latency_target_ms: 50.0,
        ..Default::default()
    };
    let p = plan(&inputs, &Pricing::default(), &bert()).unwrap();
    let c = container(&p);
    assert!(!c.feasible);
    assert_eq!(c.cost.instances, 1, "not sized up for nothing");
    let alone = crate::bench::stats::nearest_rank(&Service::new(&bert()).ms, 0.95);
    assert!(
        c.reason.starts_with(&format!(
            "the model alone takes {} at p95, over the 50 ms target",
            crate::format::ms(alone)
        )),
        "{}",
        c.reason
    );
}

/// A capacity measured under open-loop load sizes the always-on tiers when it asks for more
/// instances than the queue model does, and says so; one that needs more than the maximum makes
/// the tier infeasible.
#[test]
fn a_measured_capacity_sizes_instances() {
    let base = CostInputs {
        monthly_requests: 5e7,
        latency_target_ms: 500.0,
        ..Default::default()
    };
    let pricing = Pricing::default();
    let svc: Vec<f64> = vec![10.0; 100];
    let model_only = container(&plan(&base, &pricing, &svc).unwrap()).clone();
    // Peak: 5e7 x 3 / 730 h = 57 req/s. Measured: 5 req/s a server -> 12 instances.
    let measured = CostInputs {
        measured_capacity_rps: Some(5.0),
        ..base.clone()
    };
    let c = container(&plan(&measured, &pricing, &svc).unwrap()).clone();
    let peak = measured.peak_inferences_per_s();
    assert_eq!(c.cost.instances, (peak / 5.0).ceil() as u64);
    assert!(c.cost.instances > model_only.cost.instances);
    assert!(c.feasible, "{}", c.reason);
    assert!(
        c.reason
            .contains("by the capacity measured on this machine (5.0 req/s a server"),
        "{}",
        c.reason
    );
    assert!(c.cost.total_cost > model_only.cost.total_cost);
    // Over the maximum: infeasible, with the count it needs.
    let tight = CostInputs {
        max_instances: 5,
        ..measured.clone()
    };
    let c = container(&plan(&tight, &pricing, &svc).unwrap()).clone();
    assert!(!c.feasible);
    assert!(c.reason.contains("needs 12 instances"), "{}", c.reason);
    // A capacity above what the model needs changes nothing.
    let generous = CostInputs {
        measured_capacity_rps: Some(1000.0),
        ..base.clone()
    };
    assert_eq!(
        container(&plan(&generous, &pricing, &svc).unwrap())
            .cost
            .instances,
        model_only.cost.instances
    );
    let bad = CostInputs {
        measured_capacity_rps: Some(0.0),
        ..base
    };
    assert!(plan(&bad, &pricing, &svc)
        .unwrap_err()
        .to_string()
        .contains("measured capacity"));
}

/// A latency measured with two threads per inference needs two cores per inference: an
/// instance of one vCPU cannot serve it as measured (the tier says why and what to measure),
/// one of two serves one inference at a time, one of four two at once.
#[test]
fn instances_take_the_cores_one_inference_was_measured_on() {
    let p = Pricing::default();
    let inputs = |vcpus: f64, threads: u64| CostInputs {
        monthly_requests: 5e7,
        latency_target_ms: 200.0,
        budget_usd: 1e6,
        vcpus,
        threads_per_inference: threads,
        ..Default::default()
    };
    let container = |i: &CostInputs| -> TierPlan {
        plan(i, &p, &service())
            .unwrap()
            .tiers
            .into_iter()
            .find(|t| t.cost.tier == Tier::Container)
            .unwrap()
    };
    let short = container(&inputs(1.0, 2));
    assert!(!short.feasible, "{}", short.reason);
    assert!(
        short.reason.contains("2 threads per inference") && short.reason.contains("--threads 1"),
        "{}",
        short.reason
    );
    let two = container(&inputs(2.0, 2));
    assert!(two.feasible, "{}", two.reason);
    let four = container(&inputs(4.0, 2));
    let one_thread_on_two = container(&inputs(2.0, 1));
    assert!(four.feasible && one_thread_on_two.feasible);
    // Four vCPUs at two threads serve as many at once as two vCPUs at one thread.
    assert_eq!(four.cost.instances, one_thread_on_two.cost.instances);
    assert!(two.cost.instances >= four.cost.instances);
}

/// Two flips may both name the same tier: one is where the answer changes going down, the
/// other going up. One dedicated VM of 2 vCPUs ($71.68) undercuts two 1-vCPU containers
/// ($72.08) only in the band where the peak needs two servers; below it one container is
/// cheaper, above it three containers are.
#[test]
fn flips_lie_on_their_own_side_of_the_volume() {
    let p = Pricing::default();
    let at = |monthly_requests: f64| {
        plan(
            &CostInputs {
                monthly_requests,
                latency_target_ms: 1000.0,
                // Over a function's 256 MB: serverless does not apply.
                model_memory_mb: 300.0,
                ..Default::default()
            },
            &p,
            &[100.0],
        )
        .unwrap()
        .recommendation
    };
    let r = at(7e6);
    assert_eq!(r.tier, Some(Tier::Dedicated), "{}", r.explanation);
    assert_eq!(r.flips.len(), 2, "{:?}", r.flips);
    let ((below, to_below), (above, to_above)) = (r.flips[0], r.flips[1]);
    assert_eq!(
        (to_below, to_above),
        (Some(Tier::Container), Some(Tier::Container))
    );
    // The peak needs a second server above 5.256M requests, a third above 10.512M.
    assert!((4.9e6..5.3e6).contains(&below), "{below}");
    assert!((1.05e7..1.1e7).contains(&above), "{above}");
}

/// A volume under the scanned range (1 thousand requests) still finds the flips above it, and
/// the scan down from it does not look above it.
#[test]
fn flips_from_under_a_thousand_requests_look_up() {
    let p = Pricing::default();
    let at = |monthly_requests: f64| {
        plan(
            &CostInputs {
                monthly_requests,
                latency_target_ms: 200.0,
                // Serverless at 100 ms and 256 MB costs $1.6167 a million requests with the
                // network: over $5 above 3.09M; every always-on tier is over it from the start.
                budget_usd: 5.0,
                ..Default::default()
            },
            &p,
            &[100.0],
        )
        .unwrap()
        .recommendation
    };
    for v in [100.0, 1e6] {
        let r = at(v);
        assert_eq!(r.tier, Some(Tier::Serverless), "{v}: {}", r.explanation);
        assert_eq!(r.flips.len(), 1, "{v}: {:?}", r.flips);
        let (flip, to) = r.flips[0];
        assert_eq!(to, None, "{v}");
        assert!((3.09e6..3.2e6).contains(&flip), "{v}: {flip}");
    }
}
