//! How far a study has come and about how long it has left, read from its events: one estimate
//! for the command line's progress bar, the Profile tab and the Compare tab.

use super::{Event, Phase, Plan, StopRule, Warmup};
use std::time::{Duration, Instant};

/// The progress of a study of `total_runs` runs.
pub struct StudyProgress {
    plan: Plan,
    total_runs: usize,
    runs_done: usize,
    run_started: Option<Instant>,
    /// Latencies of the current run so far (warm-up included): their mean paces the estimate.
    latency_sum_ns: u128,
    latency_n: u64,
    phase: Phase,
    finished: Vec<Duration>,
    /// The last sign of life: a run's start or its latest requests.
    last_answer: Option<Instant>,
}

/// Silence longer than this (and than three requests' time) is said: a request, a load or a
/// compilation that has run this long gets its own clock in the text.
const STALL: Duration = Duration::from_secs(5);

impl StudyProgress {
    pub fn new(plan: &Plan, total_runs: usize) -> StudyProgress {
        StudyProgress {
            plan: plan.clone(),
            total_runs: total_runs.max(1),
            runs_done: 0,
            run_started: None,
            latency_sum_ns: 0,
            latency_n: 0,
            phase: Phase::Loading,
            finished: Vec::new(),
            last_answer: None,
        }
    }

    /// Takes one event of the study.
    pub fn event(&mut self, e: &Event) {
        self.event_at(e, Instant::now())
    }

    fn event_at(&mut self, e: &Event, now: Instant) {
        match e {
            Event::Started { .. } => {
                self.last_answer = Some(now);
                self.run_started = Some(now);
                self.latency_sum_ns = 0;
                self.latency_n = 0;
            }
            Event::Progress { phase, .. } => {
                self.phase = *phase;
                self.last_answer = Some(now);
            }
            Event::Samples { latencies_ns, .. } => {
                self.last_answer = Some(now);
                self.latency_sum_ns += latencies_ns.iter().map(|&v| v as u128).sum::<u128>();
                self.latency_n += latencies_ns.len() as u64;
            }
            Event::Skipped { .. } => {
                self.runs_done = (self.runs_done + 1).min(self.total_runs);
            }
            Event::RunDone { .. } | Event::Failed { run: Some(_), .. } => {
                if let Some(s) = self.run_started.take() {
                    self.finished.push(now.saturating_duration_since(s));
                }
                self.runs_done = (self.runs_done + 1).min(self.total_runs);
            }
            Event::Failed { run: None, .. } | Event::Finished | Event::Cancelled { .. } => {}
        }
    }

    /// Runs finished (or failed) so far, and how many there are.
    pub fn runs(&self) -> (usize, usize) {
        (self.runs_done, self.total_runs)
    }

    /// What one run should take at `latency` per request, by the plan's warm-up and stop rule
    /// (the upper bound for a stability rule).
    fn expected_run(&self, latency: Duration) -> Duration {
        let per = latency.div_f64(self.plan.concurrency.max(1) as f64);
        let n = |k: u64| per.saturating_mul(k.min(u32::MAX as u64) as u32);
        let warm = match self.plan.warmup {
            Warmup::Iterations(k) => {
                let t = n(k);
                self.plan.warmup_max_time.map_or(t, |cap| t.min(cap))
            }
            Warmup::Duration(d) => d,
        };
        let measure = match self.plan.stop {
            StopRule::Iterations(k) => n(k),
            StopRule::MinTime {
                min_time,
                min_iterations,
                max_time,
            } => {
                let t = n(min_iterations).max(min_time);
                max_time.map_or(t, |cap| t.min(cap))
            }
            StopRule::UntilStable {
                max_iterations,
                max_time,
                ..
            } => n(max_iterations).min(max_time),
        };
        warm + measure
    }

    /// About how long the study has left: the current run by its pace so far, the runs to come
    /// by the ones already finished. `None` before there is anything to go by.
    pub fn remaining(&self) -> Option<Duration> {
        self.remaining_at(Instant::now())
    }

    fn remaining_at(&self, now: Instant) -> Option<Duration> {
        let current = match (self.run_started, self.latency_n) {
            (Some(start), n) if n > 0 => {
                let latency = Duration::from_nanos((self.latency_sum_ns / n as u128) as u64);
                Some((
                    self.expected_run(latency),
                    now.saturating_duration_since(start),
                ))
            }
            _ => None,
        };
        let left_after_current = self
            .total_runs
            .saturating_sub(self.runs_done + usize::from(self.run_started.is_some()));
        let per_run = if self.finished.is_empty() {
            current.map(|(expected, _)| expected)?
        } else {
            self.finished.iter().sum::<Duration>() / self.finished.len() as u32
        };
        // A run with nothing measured yet is expected to take as long as the finished ones.
        let current_left = match (current, self.run_started) {
            (Some((expected, spent)), _) => expected.saturating_sub(spent),
            (None, Some(start)) => per_run.saturating_sub(now.saturating_duration_since(start)),
            (None, None) => Duration::ZERO,
        };
        Some(current_left + per_run * left_after_current as u32)
    }

    /// How long nothing has been heard of the current run, once that is longer than
    /// [`STALL`] and than three of its requests so far: a slow request, load or compilation.
    fn stalled_at(&self, now: Instant) -> Option<Duration> {
        let quiet = now.saturating_duration_since(self.last_answer?);
        let mean = match self.latency_n {
            0 => Duration::ZERO,
            n => Duration::from_nanos((self.latency_sum_ns / n as u128) as u64),
        };
        (quiet > STALL.max(mean * 3)).then_some(quiet)
    }

    /// `run 3 of 8, about 40 s left`; when the run has been silent a while, `run 3 of 8, 1 min
    /// 5 s without an answer` (an estimate then would be a guess).
    pub fn text(&self) -> String {
        self.text_at(Instant::now())
    }

    fn text_at(&self, now: Instant) -> String {
        let run = (self.runs_done + 1).min(self.total_runs);
        if let Some(quiet) = self.stalled_at(now) {
            return format!(
                "run {run} of {}, {} without an answer",
                self.total_runs,
                crate::format::duration(quiet)
            );
        }
        match self.remaining_at(now) {
            Some(r) => format!(
                "run {run} of {}, about {} left",
                self.total_runs,
                crate::format::duration(r)
            ),
            None => format!("run {run} of {}", self.total_runs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::RunSpec;
    use crate::engine::EngineKind;

    #[test]
    fn the_estimate_follows_the_pace_and_the_finished_runs() {
        let plan = crate::settings::BenchSettings::default()
            .to_plan(vec![EngineKind::Tract], false, None)
            .unwrap();
        let mut p = StudyProgress::new(&plan, 4);
        let t0 = Instant::now();
        assert_eq!(p.remaining_at(t0), None, "nothing to go by yet");
        let spec = RunSpec {
            engine: EngineKind::Tract,
            variant: "original".into(),
            batch_size: Some(1),
            concurrency: 1,
        };
        p.event_at(&Event::Started { run: 0, spec }, t0);
        // A model of one second per request: warm-up capped at 5 s, measurement at 10 s.
        p.event_at(
            &Event::Samples {
                run: 0,
                phase: Phase::Warmup,
                latencies_ns: vec![1_000_000_000],
                rss_bytes: 0,
                at: t0,
            },
            t0 + Duration::from_secs(1),
        );
        let r = p.remaining_at(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(r, Duration::from_secs(14 + 15 * 3), "{r:?}");
        // The first run took 20 s: the others are expected to take as long.
        p.event_at(
            &Event::Failed {
                run: Some(0),
                error: "x".into(),
            },
            t0 + Duration::from_secs(20),
        );
        assert_eq!(p.runs(), (1, 4));
        assert_eq!(
            p.remaining_at(t0 + Duration::from_secs(20)),
            Some(Duration::from_secs(60))
        );
        // The next run's first request takes minutes: the text says how long it has been
        // silent instead of an estimate that no longer moves.
        let spec = RunSpec {
            engine: EngineKind::Tract,
            variant: "original".into(),
            batch_size: Some(32),
            concurrency: 1,
        };
        let t1 = t0 + Duration::from_secs(20);
        p.event_at(&Event::Started { run: 1, spec }, t1);
        assert_eq!(
            p.text_at(t1 + Duration::from_secs(3)),
            "run 2 of 4, about 57 s left"
        );
        assert_eq!(
            p.text_at(t1 + Duration::from_secs(65)),
            "run 2 of 4, 1 min 5 s without an answer"
        );
    }
}
