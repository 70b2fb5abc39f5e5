//! Baselines: this run against a saved one, run by run, with an interval on each change, so a
//! CI job fails on a real slowdown and not on noise.
//!
//! Runs are matched by variant, engine, batch size and concurrency. Each change is the ratio of
//! the p50s; its 95% interval comes from the two runs' own p50 intervals (distribution-free,
//! stored with every run): on a log scale, each interval's half-width over 1.96 is that
//! median's standard error, and the two add in quadrature. A change is significant when the
//! interval excludes 1; a slowdown fails only when it is significant *and* beyond the
//! threshold.

use super::RunResult;
use crate::bench::stats::Interval;
use crate::report::BenchDoc;
use serde::{Deserialize, Serialize};

/// One run's change against its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `onnxruntime batch 1` (with the variant and concurrency when not the default).
    pub run: String,
    pub old_p50_ms: f64,
    pub new_p50_ms: f64,
    /// New p50 over old (above 1: slower now).
    pub ratio: f64,
    /// 95% interval of the ratio; `None` when a run has no p50 interval (too few samples).
    pub ci: Option<Interval>,
    pub significant: bool,
    /// Significant and slower than the threshold allows.
    pub regression: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The slowdown allowed (0.05 for 5%).
    pub threshold: f64,
    pub changes: Vec<Change>,
    /// Runs of this study the baseline does not have, and the reverse.
    pub only_new: Vec<String>,
    pub only_old: Vec<String>,
    /// What differs between the two studies' conditions (CPU, cores, engines, model, settings).
    pub warnings: Vec<String>,
}

/// A significant slowdown beyond the threshold: the error `bench --baseline` ends with, which the
/// binary turns into exit code 3 (1 is any other failure, 2 a usage error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Regressed(pub String);

fn key(r: &RunResult) -> (String, crate::engine::EngineKind, usize, usize) {
    (r.variant.clone(), r.engine, r.batch_size, r.concurrency)
}

fn name(r: &RunResult) -> String {
    let mut s = format!("{} batch {}", r.engine.label(), r.batch_size);
    if r.variant != "original" {
        s = format!("{} {s}", r.variant);
    }
    if r.concurrency > 1 {
        s += &format!(" x{} clients", r.concurrency);
    }
    s
}

/// The log-scale standard error of a p50 from its 95% interval.
fn log_se(p50: f64, ci: Option<Interval>) -> Option<f64> {
    let c = ci?;
    if !(c.lo > 0.0 && c.hi >= c.lo && p50 > 0.0) {
        return None;
    }
    Some((c.hi.ln() - c.lo.ln()) / (2.0 * 1.96))
}

/// `new` against `old`, allowing a slowdown of `threshold` (a share).
pub fn against(old: &BenchDoc, new: &BenchDoc, threshold: f64) -> Verdict {
    let mut changes = Vec::new();
    let mut only_new = Vec::new();
    for n in &new.runs {
        let Some(o) = old.runs.iter().find(|o| key(o) == key(n)) else {
            only_new.push(name(n));
            continue;
        };
        let ratio = n.latency_p50 / o.latency_p50.max(1e-12);
        let ci = match (
            log_se(o.latency_p50, o.ci_p50),
            log_se(n.latency_p50, n.ci_p50),
        ) {
            (Some(a), Some(b)) => {
                let se = (a * a + b * b).sqrt();
                Some(Interval {
                    lo: ratio * (-1.96 * se).exp(),
                    hi: ratio * (1.96 * se).exp(),
                })
            }
            _ => None,
        };
        let significant = ci.is_some_and(|c| c.lo > 1.0 || c.hi < 1.0);
        changes.push(Change {
            run: name(n),
            old_p50_ms: o.latency_p50,
            new_p50_ms: n.latency_p50,
            ratio,
            ci,
            significant,
            regression: significant && ratio > 1.0 + threshold,
        });
    }
    let only_old = old
        .runs
        .iter()
        .filter(|o| !new.runs.iter().any(|n| key(n) == key(o)))
        .map(name)
        .collect();
    Verdict {
        threshold,
        changes,
        only_new,
        only_old,
        warnings: differences(old, new),
    }
}

/// What differs between the conditions of two studies.
fn differences(old: &BenchDoc, new: &BenchDoc) -> Vec<String> {
    let mut w = Vec::new();
    let differs = |w: &mut Vec<String>, what: &str, a: String, b: String| {
        if a != b {
            w.push(format!("{what} differs: {a} in the baseline, {b} now"));
        }
    };
    if let (Some(a), Some(b)) = (&old.model, &new.model) {
        differs(&mut w, "the model", short(&a.sha256), short(&b.sha256));
    }
    match (&old.environment, &new.environment) {
        (Some(a), Some(b)) => {
            differs(&mut w, "the CPU", a.cpu_model.clone(), b.cpu_model.clone());
            differs(
                &mut w,
                "the core count",
                a.logical_cores.to_string(),
                b.logical_cores.to_string(),
            );
            differs(&mut w, "the OS", a.os.clone(), b.os.clone());
            differs(
                &mut w,
                "tract",
                a.tract_version.clone(),
                b.tract_version.clone(),
            );
            differs(
                &mut w,
                "ONNX Runtime",
                a.onnxruntime_version
                    .clone()
                    .unwrap_or_else(|| "none".into()),
                b.onnxruntime_version
                    .clone()
                    .unwrap_or_else(|| "none".into()),
            );
        }
        _ => {
            w.push("the baseline does not record its machine: differences cannot be checked".into())
        }
    }
    if let (Some(a), Some(b)) = (&old.plan, &new.plan) {
        differs(
            &mut w,
            "the engine settings",
            a.engine_options.describe(),
            b.engine_options.describe(),
        );
    }
    w
}

fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

impl Verdict {
    /// The changes that fail the check.
    pub fn regressions(&self) -> Vec<&Change> {
        self.changes.iter().filter(|c| c.regression).collect()
    }

    /// The comparison as the terminal shows it.
    pub fn text(&self) -> String {
        let mut out = format!(
            "\nAgainst the baseline (p50 now / then, 95% interval; a slowdown fails when significant and over {:.1}%):\n",
            self.threshold * 100.0
        );
        for c in &self.changes {
            let (lo, hi) = c.ci.map(|i| (i.lo, i.hi)).unwrap_or((f64::NAN, f64::NAN));
            let what = if c.regression {
                "SLOWER: fails"
            } else if !c.significant {
                "no significant change"
            } else if c.ratio > 1.0 {
                "slower, within the threshold"
            } else {
                "faster"
            };
            out += &format!(
                "  {:<34} {:>9.3} -> {:>9.3} ms  {:>+6.1}% [{:+.1}% {:+.1}%]  {what}\n",
                c.run,
                c.old_p50_ms,
                c.new_p50_ms,
                (c.ratio - 1.0) * 100.0,
                (lo - 1.0) * 100.0,
                (hi - 1.0) * 100.0
            );
        }
        for n in &self.only_new {
            out += &format!("  {n}: not in the baseline\n");
        }
        for n in &self.only_old {
            out += &format!("  {n}: in the baseline, not run now\n");
        }
        for w in &self.warnings {
            out += &format!("  warning: {w}\n");
        }
        out
    }
}

/// Parses `5%`, `5` or `0.05%` as a share (0.05).
pub fn parse_threshold(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%').trim();
    let v: f64 = t
        .parse()
        .map_err(|_| format!("--fail-if-slower takes a percentage, e.g. 5% (got {s})"))?;
    if !(v.is_finite() && (0.0..1000.0).contains(&v)) {
        return Err(format!(
            "--fail-if-slower takes a percentage from 0% (got {s})"
        ));
    }
    Ok(v / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scheduler::{run_plan, RequestsFn, Workload};
    use crate::bench::{Plan, StopRule, Warmup};
    use crate::engine::fake::{FakeClock, FakeEngine, FakeTime};
    use crate::engine::{Engine, EngineKind};
    use rand::{Rng, SeedableRng};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// Benchmarks a fake engine whose calls take `latencies_ns`, on a fake clock.
    fn bench(latencies_ns: Vec<u64>) -> BenchDoc {
        let clock = Arc::new(FakeClock::default());
        let engine = FakeEngine::new(latencies_ns.clone(), FakeTime::Scripted(clock.clone()));
        let plan = Plan {
            engines: vec![EngineKind::Tract],
            batch_sizes: vec![Some(1)],
            warmup: Warmup::Iterations(0),
            stop: StopRule::Iterations(latencies_ns.len() as u64),
            ..Plan::default()
        };
        let requests: &RequestsFn = &|_| Ok((vec![vec![]], 1));
        let load = move |_| Ok(Box::new(engine.clone()) as Box<dyn Engine>);
        let w = Workload {
            model_name: "fake".into(),
            variant: "original".into(),
            requests,
            load: &load,
            only: None,
            isolate: None,
        };
        let runs = run_plan(&plan, &w, clock, &AtomicBool::new(false), &mut |_| {});
        BenchDoc {
            runs,
            ..BenchDoc::default()
        }
    }

    fn noisy(n: usize, median_ns: f64, cv: f64, seed: u64) -> Vec<u64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| (median_ns * (1.0 + cv * (rng.random::<f64>() * 2.0 - 1.0))) as u64)
            .collect()
    }

    #[test]
    fn a_five_percent_slowdown_is_caught_and_noise_of_that_size_is_not() {
        // Steady runs, 2000 calls each: 5% slower is far outside both intervals.
        let old = bench(noisy(2000, 1e6, 0.02, 1));
        let new = bench(noisy(2000, 1.05e6, 0.02, 2));
        let v = against(&old, &new, 0.03);
        let c = &v.changes[0];
        assert!((c.ratio - 1.05).abs() < 0.01, "{c:?}");
        assert!(c.significant && c.regression, "{c:?}");
        assert_eq!(v.regressions().len(), 1);
        assert!(v.text().contains("SLOWER: fails"));
        // Over the threshold? A 5% slowdown passes a 10% allowance.
        assert!(against(&old, &new, 0.10).regressions().is_empty());
        // Noisy runs of 60 calls (CV 60%): the same 5% is inside the interval, so no failure.
        let old = bench(noisy(60, 1e6, 0.6, 3));
        let new = bench(noisy(60, 1.05e6, 0.6, 4));
        let v = against(&old, &new, 0.03);
        let c = &v.changes[0];
        assert!(!c.significant, "{c:?}");
        assert!(v.regressions().is_empty());
        assert!(v.text().contains("no significant change"));
    }

    #[test]
    fn unmatched_runs_and_changed_conditions_are_said() {
        let mut old = bench(noisy(100, 1e6, 0.02, 1));
        let mut new = old.clone();
        new.runs[0].batch_size = 8;
        let v = against(&old, &new, 0.05);
        assert_eq!(v.only_new, ["tract batch 8"]);
        assert_eq!(v.only_old, ["tract batch 1"]);
        assert!(v.warnings[0].contains("does not record its machine"));
        let mut env = crate::environment::Environment::detect(Err("not used".into()), None);
        old.environment = Some(env.clone());
        env.logical_cores += 2;
        new.environment = Some(env);
        let v = against(&old, &new, 0.05);
        assert!(
            v.warnings
                .iter()
                .any(|w| w.starts_with("the core count differs")),
            "{:?}",
            v.warnings
        );
    }

    #[test]
    fn thresholds_parse() {
        assert_eq!(parse_threshold("5%"), Ok(0.05));
        assert_eq!(parse_threshold("2.5"), Ok(0.025));
        assert!(parse_threshold("fast").unwrap_err().contains("e.g. 5%"));
        assert!(parse_threshold("-1%").is_err());
    }
}
