use super::*;
use crate::engine::fake::{FakeClock, FakeEngine, FakeTime};

fn one_server(latencies_ns: Vec<u64>, clock: &Arc<FakeClock>) -> Vec<Box<dyn Engine>> {
    vec![Box::new(FakeEngine::new(
        latencies_ns,
        FakeTime::Scripted(clock.clone()),
    ))]
}

fn prepared() -> Vec<Vec<Prepared>> {
    vec![vec![Prepared(Box::new(()))]]
}

/// With one server, open-loop latency is the Lindley recursion exactly: each request waits for
/// the one before it to end, and its latency runs from its scheduled arrival.
#[test]
fn open_loop_latency_includes_the_queue_exactly() {
    let clock = Arc::new(FakeClock::default());
    // Independent service times of 2-14 ms (mean 8 ms) at 80 req/s: 64% busy.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let service: Vec<u64> = (0..20_000)
        .map(|_| rng.random_range(2_000_000..14_000_000))
        .collect();
    let due = schedule(&Arrivals::Poisson, 80.0, 200.0, 11);
    assert!(due.len() > 15_000, "{}", due.len());
    let served = serve(
        &mut one_server(service.clone(), &clock),
        &prepared(),
        &due,
        clock.as_ref(),
        &AtomicBool::new(false),
    );
    assert_eq!(served.len(), due.len());
    let mut free_at = 0u64;
    for (i, s) in served.iter().enumerate() {
        let start = due[i].max(free_at);
        let end = start + service[i % service.len()];
        free_at = end;
        assert_eq!((s.due, s.start, s.end), (due[i], start, end), "request {i}");
    }
    let run = summarize(&served, 80.0, &Arrivals::Poisson, 1, due.len(), None).unwrap();
    assert!((run.utilization - 0.64).abs() < 0.03, "{}", run.utilization);
    assert!(run.wait.p99 > 0.0, "some requests queued");
    assert!(
        run.latency.p99 > run.service.p99,
        "the queue shows in the tail"
    );
    assert!(run.not_issued.is_none());
    // The replay of the measured service times is the measurement itself: the server never
    // paused while requests waited.
    assert_eq!(run.replayed.as_ref().unwrap(), &run.latency);
    assert!(
        run.service_autocorrelation.abs() < 0.05,
        "independent draws"
    );
    // The queue model (exact for one server) for the same rate and service times agrees with
    // this long measurement.
    let predicted = run.predicted.as_ref().unwrap().p95.unwrap();
    assert!(
        (predicted / run.latency.p95 - 1.0).abs() < 0.08,
        "M/G/1 p95 {predicted} vs measured {}",
        run.latency.p95
    );
}

/// A stall delays every request scheduled during it: their latencies count the stall, where a
/// closed loop (measuring from the moment a request is sent) would show one slow request.
#[test]
fn a_stall_delays_every_request_scheduled_during_it() {
    let clock = Arc::new(FakeClock::default());
    // 1 ms calls, 100 a second; call 300 takes 500 ms.
    let mut service = vec![1_000_000u64; 2000];
    service[300] = 500_000_000;
    let due = schedule(&Arrivals::Constant, 100.0, 20.0, 0);
    let served = serve(
        &mut one_server(service, &clock),
        &prepared(),
        &due,
        clock.as_ref(),
        &AtomicBool::new(false),
    );
    let stall_start = due[300];
    let stall_end = stall_start + 500_000_000;
    let during: Vec<&Served> = served
        .iter()
        .filter(|s| s.due > stall_start && s.due < stall_end)
        .collect();
    assert_eq!(during.len(), 49, "requests due during the 500 ms stall");
    for s in &during {
        assert!(
            s.end - s.due >= stall_end - s.due,
            "{s:?} waited out the stall"
        );
        assert!(s.start >= stall_end);
    }
    let run = summarize(&served, 100.0, &Arrivals::Constant, 1, due.len(), None).unwrap();
    // 50 of 2000 requests (2.5%) waited: p99 shows it; the service time's p99 does not.
    assert!(run.latency.p99 > 100.0, "p99 {} ms", run.latency.p99);
    assert!(run.service.p99 < 2.0, "service p99 {} ms", run.service.p99);
}

/// The search converges on the rate a 10 ms server sustains under a 15 ms p99 target: 100
/// req/s with evenly spaced arrivals.
#[test]
fn the_capacity_search_converges() {
    let mut measure = |rate: f64| {
        let clock = Arc::new(FakeClock::default());
        run_rate(
            &mut one_server(vec![10_000_000], &clock),
            &prepared(),
            &Arrivals::Constant,
            rate,
            10.0,
            1,
            Some(15.0),
            clock.as_ref(),
            &AtomicBool::new(false),
        )
    };
    let mut seen = Vec::new();
    let c = capacity::find(30.0, 0.99, 15.0, &mut measure, &mut |s| seen.push(s.rate)).unwrap();
    let max = c.max_rate.unwrap();
    let failed = c.failed_at.unwrap();
    assert!(max <= 100.0 && max > 100.0 / capacity::RESOLUTION, "{c:?}");
    assert!(
        failed > 100.0 && failed / max <= capacity::RESOLUTION,
        "{c:?}"
    );
    assert!(
        c.steps.len() < capacity::MAX_STEPS,
        "{} steps",
        c.steps.len()
    );
    assert_eq!(seen.len(), c.steps.len());
    // A target the model alone misses: no rate passes, and the search stops.
    let c = capacity::find(30.0, 0.99, 5.0, &mut measure, &mut |_| {}).unwrap();
    assert_eq!(c.max_rate, None);
}

#[test]
fn min_queries_match_mlperf_early_stopping() {
    assert_eq!(min_queries(0.99, 0), 662);
    assert_eq!(min_queries(0.90, 0), 64);
    // Each request over the bound asks for more.
    assert!(min_queries(0.99, 1) > 662 && min_queries(0.99, 5) > min_queries(0.99, 1));
}

#[test]
fn schedules_and_traces() {
    let c = schedule(&Arrivals::Constant, 50.0, 2.0, 0);
    assert_eq!(c.len(), 100);
    assert_eq!(c[1] - c[0], 20_000_000);
    let p = schedule(&Arrivals::Poisson, 200.0, 50.0, 3);
    let rate = p.len() as f64 / 50.0;
    assert!((rate / 200.0 - 1.0).abs() < 0.05, "{rate}");
    let t = Arrivals::parse_trace("# seconds\n1.5\n1.0, 2.0\n\n3\n").unwrap();
    assert_eq!(t, Arrivals::Trace(vec![0.0, 0.5, 1.0, 2.0]));
    assert_eq!(
        schedule(&t, 0.0, 1.5, 0),
        vec![0, 500_000_000, 1_000_000_000]
    );
    for (bad, says) in [
        ("1\nabc\n", "line 2: `abc` is not a time in seconds"),
        ("-1\n", "at least 0"),
        ("# nothing\n", "holds no arrival times"),
    ] {
        let e = Arrivals::parse_trace(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
}

/// A generator that cannot keep up is caught: with sends scripted late, the rate is refused.
#[test]
fn late_sends_refuse_the_rate() {
    let served: Vec<Served> = (0..1000)
        .map(|i| Served {
            due: i * 1_000_000,
            start: i * 1_000_000 + 5_000_000,
            end: i * 1_000_000 + 5_100_000,
            late_wake: if i % 20 == 0 { 5_000_000 } else { 0 },
            ok: true,
        })
        .collect();
    let run = summarize(&served, 1000.0, &Arrivals::Constant, 1, 1000, None).unwrap();
    let why = run.not_issued.clone().expect("5% of sends 5 ms late");
    assert!(
        why.contains("could not issue 1000.0 req/s on schedule"),
        "{why}"
    );
    let (ok, _) = capacity::judge(&run, 0.99, 1e9);
    assert!(!ok, "a rate not issued never passes");
}

#[test]
fn autocorrelation_tells_runs_of_slow_calls_from_independent_ones() {
    let runs: Vec<f64> = (0..1000)
        .map(|i| if (i / 50) % 2 == 0 { 1.0 } else { 5.0 })
        .collect();
    assert!(lag1_autocorrelation(&runs) > 0.9);
    let alternating: Vec<f64> = (0..1000)
        .map(|i| if i % 2 == 0 { 1.0 } else { 5.0 })
        .collect();
    assert!(lag1_autocorrelation(&alternating) < -0.9);
    assert_eq!(lag1_autocorrelation(&[2.0; 10]), 0.0);
}

/// A rate just over what the server serves builds a backlog slowly: in a short run its p99 can
/// sit under a loose target. The growth rule fails it anyway.
#[test]
fn a_saturated_rate_fails_however_loose_the_target() {
    let clock = Arc::new(FakeClock::default());
    let run = run_rate(
        &mut one_server(vec![10_000_000], &clock),
        &prepared(),
        &Arrivals::Constant,
        105.0,
        2.0,
        1,
        Some(1000.0),
        clock.as_ref(),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(
        run.latency.p99 < 1000.0,
        "within the target: {}",
        run.latency.p99
    );
    assert!(run.queue_growing);
    let (ok, why) = capacity::judge(&run, 0.99, 1000.0);
    assert!(!ok && why.contains("the queue grew"), "{why}");
    // Just under: stable, passes.
    let clock = Arc::new(FakeClock::default());
    let run = run_rate(
        &mut one_server(vec![10_000_000], &clock),
        &prepared(),
        &Arrivals::Constant,
        95.0,
        2.0,
        1,
        Some(1000.0),
        clock.as_ref(),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(!run.queue_growing);
    assert!(capacity::judge(&run, 0.99, 1000.0).0);
}
