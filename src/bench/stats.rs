//! Latency statistics: exact moments, HdrHistogram percentiles, distribution-free confidence
//! intervals from the raw samples, and measurement-quality warnings.

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A closed interval, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// Collects latencies as they arrive: a histogram of all of them, exact running moments, and
/// a bounded buffer of raw samples in arrival order (for intervals, drift and plots): every
/// sample up to the cap, then every 2nd, every 4th, ... of all that arrived (a systematic
/// subsample, so the order that the drift check reads is kept).
pub struct Recorder {
    hist: Histogram<u64>,
    n: u64,
    mean: f64,
    m2: f64,
    min: u64,
    max: u64,
    raw: Vec<u64>,
    raw_cap: usize,
    /// `raw` holds the samples whose 0-based arrival index is a multiple of this.
    stride: u64,
}

impl Recorder {
    pub fn new(raw_cap: usize) -> Recorder {
        Recorder {
            // 1 ns .. ~1 hour at 3 significant digits: every latency an engine can produce.
            hist: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("static bounds are valid"),
            n: 0,
            mean: 0.0,
            m2: 0.0,
            min: u64::MAX,
            max: 0,
            raw: Vec::with_capacity(raw_cap.min(1 << 16)),
            raw_cap: raw_cap.max(2),
            stride: 1,
        }
    }

    pub fn record(&mut self, latency_ns: u64) {
        let v = latency_ns.max(1);
        self.hist.saturating_record(v);
        self.n += 1;
        let x = v as f64;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if (self.n - 1) % self.stride == 0 {
            self.raw.push(v);
            if self.raw.len() >= self.raw_cap {
                // Full: keep every other sample, and from now on every other one of those.
                let mut k = 0;
                self.raw.retain(|_| {
                    k += 1;
                    k % 2 == 1
                });
                self.stride *= 2;
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    /// Raw samples in arrival order (evenly thinned once more than the cap arrived).
    pub fn raw(&self) -> &[u64] {
        &self.raw
    }

    /// The relative width of the 95% interval of `q`: `(hi - lo) / value`.
    pub fn relative_ci_width(&self, q: f64) -> Option<f64> {
        let mut sorted = self.raw.clone();
        sorted.sort_unstable();
        let ci = quantile_ci(&sorted, q)?;
        let v = self.hist.value_at_quantile(q) as f64;
        (v > 0.0).then(|| (ci.1 - ci.0) as f64 / v)
    }

    pub fn summarize(&self) -> Result<Summary> {
        if self.n == 0 {
            bail!("no latency was measured");
        }
        let ms = |ns: f64| ns / 1e6;
        // The histogram reports a bucket's highest equivalent value, which can pass the exact
        // extremes by up to its precision (0.1%): clamp so min <= p50 <= ... <= max holds.
        let q = |p: f64| ms(self.hist.value_at_quantile(p).clamp(self.min, self.max) as f64);
        let mut sorted = self.raw.clone();
        sorted.sort_unstable();
        let ci = |p: f64| {
            quantile_ci(&sorted, p).map(|(lo, hi)| Interval {
                lo: ms(lo as f64),
                hi: ms(hi as f64),
            })
        };
        let std = if self.n > 1 {
            (self.m2 / (self.n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Ok(Summary {
            n: self.n,
            mean_ms: ms(self.mean),
            std_ms: ms(std),
            cv: if self.mean > 0.0 {
                std / self.mean
            } else {
                0.0
            },
            min_ms: ms(self.min as f64),
            max_ms: ms(self.max as f64),
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            ci_p50: ci(0.50),
            ci_p95: ci(0.95),
            ci_p99: ci(0.99),
        })
    }
}

/// What a set of latencies says, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: u64,
    pub mean_ms: f64,
    pub std_ms: f64,
    /// Coefficient of variation: std / mean.
    pub cv: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// 95% confidence intervals, `None` when there are too few samples to bound them.
    pub ci_p50: Option<Interval>,
    pub ci_p95: Option<Interval>,
    pub ci_p99: Option<Interval>,
}

/// A 95% distribution-free confidence interval for the `q` quantile of `sorted`: the order
/// statistics at ranks `nq -/+ 1.96 sqrt(nq(1-q))` (normal approximation to the binomial).
/// `None` when either rank falls outside the sample: too few samples to bound the quantile.
pub fn quantile_ci(sorted: &[u64], q: f64) -> Option<(u64, u64)> {
    let n = sorted.len() as f64;
    if sorted.is_empty() {
        return None;
    }
    let half = 1.96 * (n * q * (1.0 - q)).sqrt();
    let lo = (n * q - half).floor();
    let hi = (n * q + half).ceil();
    if lo < 1.0 || hi > n {
        return None;
    }
    Some((sorted[lo as usize - 1], sorted[hi as usize - 1]))
}

/// `n + 1` evenly spaced quantiles (0 to 1) of `raw` latencies in ns, returned in ms.
pub fn quantile_sketch_ms(raw: &[u64], n: usize) -> Vec<f64> {
    if raw.is_empty() || n == 0 {
        return Vec::new();
    }
    let mut sorted = raw.to_vec();
    sorted.sort_unstable();
    (0..=n)
        .map(|i| sorted[i * (sorted.len() - 1) / n] as f64 / 1e6)
        .collect()
}

/// The nearest-rank quantile of sorted samples (what HdrHistogram approximates).
pub fn nearest_rank<T: Copy>(sorted: &[T], q: f64) -> T {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A measurement-quality problem, kept next to the numbers it concerns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// `high_cv`, `slow_first_iteration`, `too_few_samples`, `drift`.
    pub kind: String,
    /// The metric it concerns (`latency_p99`, `latency_mean`, ...).
    pub metric: String,
    pub message: String,
}

/// Coefficient of variation above which percentiles are flagged as noisy.
pub const HIGH_CV: f64 = 0.25;
/// Relative change between the medians of the first and last fifth that counts as drift.
pub const DRIFT: f64 = 0.10;
/// Samples needed beyond a percentile for it to rest on more than a handful of values.
pub const TAIL_SAMPLES: f64 = 5.0;

/// Warnings about one run. `first_ns` is the very first call's latency (warm-up included).
pub fn quality_warnings(
    s: &Summary,
    raw_in_order: &[u64],
    first_ns: Option<u64>,
    warmup_iterations: u64,
) -> Vec<Warning> {
    let mut w = Vec::new();
    if s.cv > HIGH_CV && s.n >= 10 {
        w.push(Warning {
            kind: "high_cv".into(),
            metric: "latency_std".into(),
            message: format!(
                "latencies vary a lot (CV {:.0}%, over {:.0}%): the machine may be busy or throttling; \
                 close other programs or pin threads, and treat percentiles as approximate",
                s.cv * 100.0,
                HIGH_CV * 100.0
            ),
        });
    }
    if let Some(first) = first_ns {
        let first_ms = first as f64 / 1e6;
        if s.p50_ms > 0.0 && first_ms > 10.0 * s.p50_ms {
            let where_ = if warmup_iterations == 0 {
                "and there was no warm-up, so it is inside the measurement: add --warmup"
            } else {
                "warm-up kept it out of the statistics"
            };
            w.push(Warning {
                kind: "slow_first_iteration".into(),
                metric: "latency_max".into(),
                message: format!(
                    "the first call took {first_ms:.3} ms, {:.0}x the median; {where_}",
                    first_ms / s.p50_ms
                ),
            });
        }
    }
    for (q, name) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
        let needed = (TAIL_SAMPLES / (1.0 - q)).ceil() as u64;
        if s.n < needed {
            w.push(Warning {
                kind: "too_few_samples".into(),
                metric: format!("latency_{name}"),
                message: format!(
                    "{name} rests on {} samples; it needs at least {needed} to be meaningful \
                     (raise --iterations or use --until-stable)",
                    s.n
                ),
            });
        }
    }
    let fifth = raw_in_order.len() / 5;
    if fifth >= 10 {
        let median = |xs: &[u64]| {
            let mut v = xs.to_vec();
            v.sort_unstable();
            v[v.len() / 2] as f64
        };
        let a = median(&raw_in_order[..fifth]);
        let b = median(&raw_in_order[raw_in_order.len() - fifth..]);
        if a > 0.0 && ((b - a) / a).abs() > DRIFT {
            w.push(Warning {
                kind: "drift".into(),
                metric: "latency_p50".into(),
                message: format!(
                    "the median moved from {:.3} ms in the first fifth of the run to {:.3} ms in the last ({:+.0}%): \
                     something changed during the run (thermal throttling, other load); rerun to confirm",
                    a / 1e6,
                    b / 1e6,
                    (b - a) / a * 100.0
                ),
            });
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_agree_with_raw_samples_within_histogram_precision() {
        let mut r = Recorder::new(100_000);
        let mut x: u64 = 12345;
        let mut all = Vec::new();
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = 50_000 + (x >> 40) % 2_000_000; // 50 us .. 2.05 ms
            r.record(v);
            all.push(v);
        }
        let s = r.summarize().unwrap();
        all.sort_unstable();
        for (q, got) in [
            (0.5, s.p50_ms),
            (0.95, s.p95_ms),
            (0.99, s.p99_ms),
            (0.999, s.p999_ms),
        ] {
            let exact = nearest_rank(&all, q) as f64 / 1e6;
            assert!(
                (got - exact).abs() / exact <= 1e-3,
                "q{q}: {got} vs {exact}"
            );
        }
        let mean = all.iter().map(|&v| v as f64).sum::<f64>() / all.len() as f64 / 1e6;
        assert!((s.mean_ms - mean).abs() < 1e-9);
        assert_eq!(s.min_ms, all[0] as f64 / 1e6);
        assert_eq!(s.max_ms, *all.last().unwrap() as f64 / 1e6);
        let ci = s.ci_p99.unwrap();
        assert!(
            ci.lo <= s.p99_ms * 1.001 && s.p99_ms <= ci.hi * 1.001,
            "{ci:?} {}",
            s.p99_ms
        );
    }

    #[test]
    fn quantile_interval_needs_enough_samples() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile_ci(&v, 0.99), None);
        let (lo, hi) = quantile_ci(&v, 0.5).unwrap();
        assert!(lo < 50 && hi > 50 && lo >= 39 && hi <= 61, "{lo} {hi}");
        let v: Vec<u64> = (1..=10_000).collect();
        let (lo, hi) = quantile_ci(&v, 0.99).unwrap();
        assert!(lo < 9900 && hi > 9900 && hi - lo < 50);
    }

    #[test]
    fn raw_buffer_stays_bounded_and_in_arrival_order() {
        let mut r = Recorder::new(1000);
        for i in 0..50_000u64 {
            r.record(i + 1);
        }
        let raw = r.raw();
        assert!((500..1000).contains(&raw.len()), "{}", raw.len());
        assert_eq!(r.count(), 50_000);
        assert!(raw.windows(2).all(|w| w[0] < w[1]), "arrival order kept");
        // Evenly spread over the run: its median is near the true one.
        assert!((raw[raw.len() / 2] as f64 - 25_000.0).abs() < 1_000.0);
        assert_eq!(raw[0], 1);
        assert!(*raw.last().unwrap() > 49_000);
    }

    #[test]
    fn drift_after_the_buffer_filled_is_still_seen() {
        let mut r = Recorder::new(1000);
        for i in 0..20_000u64 {
            r.record(if i < 10_000 { 1_000_000 } else { 2_000_000 });
        }
        let s = r.summarize().unwrap();
        let w = quality_warnings(&s, r.raw(), None, 0);
        assert!(w.iter().any(|w| w.kind == "drift"), "{w:?}");
    }

    #[test]
    fn warns_on_noise_slow_start_few_samples_and_drift() {
        let mut r = Recorder::new(10_000);
        let mut raw = Vec::new();
        for i in 0..200u64 {
            let v = if i < 100 { 1_000_000 } else { 2_000_000 };
            r.record(v);
            raw.push(v);
        }
        let s = r.summarize().unwrap();
        let w = quality_warnings(&s, &raw, Some(100_000_000), 0);
        let kinds: Vec<&str> = w.iter().map(|w| w.kind.as_str()).collect();
        assert!(
            kinds.contains(&"high_cv")
                && kinds.contains(&"drift")
                && kinds.contains(&"slow_first_iteration"),
            "{kinds:?}"
        );
        assert!(w
            .iter()
            .any(|w| w.kind == "too_few_samples" && w.metric == "latency_p99"));
        assert!(!w
            .iter()
            .any(|w| w.kind == "too_few_samples" && w.metric == "latency_p95"));

        let mut r = Recorder::new(10_000);
        for _ in 0..1000 {
            r.record(1_000_000);
        }
        let steady: Vec<u64> = vec![1_000_000; 1000];
        assert!(quality_warnings(&r.summarize().unwrap(), &steady, Some(1_000_000), 10).is_empty());
    }
}
