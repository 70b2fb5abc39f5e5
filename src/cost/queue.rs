//! Latency under load: an M/G/c queue, and a discrete-event simulation that replays measured
//! latencies to check it.
//!
//! One server is exact (Pollaczek-Khinchine, on a grid); c servers wait with the Erlang C
//! probability and, given a wait, like one server c times as fast at the same utilization.
//! Real latencies have heavy tails, so the whole measured distribution is used, not two moments.
//!
//! Checked against [`simulate`] on measured latencies (tests/cost.rs): p95 within 5% for one
//! server and 8% for several (usually 2-3%), up to 90% utilization. The known weak spot is
//! c > 1 with frequent long stalls (a few percent of requests 10x the median and more): the
//! fast-server picture lets one stall hold every server, so p95 comes out high (conservative),
//! by up to half on synthetic bimodal latencies.

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::{Arc, OnceLock};

/// Grid points of the wait distribution.
const K: usize = 1024;

type FftPair = (Arc<dyn Fft<f64>>, Arc<dyn Fft<f64>>);

/// The forward and inverse FFTs of size 2K, planned once.
fn ffts() -> &'static FftPair {
    static PLANS: OnceLock<FftPair> = OnceLock::new();
    PLANS.get_or_init(|| {
        let mut planner = FftPlanner::new();
        (
            planner.plan_fft_forward(2 * K),
            planner.plan_fft_inverse(2 * K),
        )
    })
}

/// Probability that an arriving request waits (Erlang C), for `c` servers at offered load
/// `a = lambda / mu` erlangs. 1.0 when the system is saturated.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if c == 0 || a >= c as f64 {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    let rho = a / c as f64;
    b / (1.0 - rho * (1.0 - b))
}

/// A queue of `servers` identical servers fed by Poisson arrivals.
#[derive(Clone, Debug)]
pub struct Queue {
    pub servers: u32,
    /// Requests per second.
    pub arrival_rps: f64,
    /// Mean service time, seconds.
    pub service_mean_s: f64,
}

impl Queue {
    pub fn utilization(&self) -> f64 {
        self.arrival_rps * self.service_mean_s / self.servers.max(1) as f64
    }

    /// P(wait <= t), for service times `service_s` (seconds, any order).
    ///
    /// M/G/1 is exact: the wait is a geometric sum of residual service times
    /// (Pollaczek-Khinchine), computed on a grid. For c servers the conditional wait is taken
    /// from the M/G/1 queue of a server c times as fast at the same utilization, and the
    /// probability of waiting from Erlang C.
    pub fn wait_distribution(&self, service_s: &[f64]) -> Option<WaitDistribution> {
        let rho = self.utilization();
        if rho >= 1.0
            || service_s.is_empty()
            || self.service_mean_s.is_nan()
            || self.service_mean_s <= 0.0
        {
            return None;
        }
        let c = self.servers.max(1) as f64;
        let pw = erlang_c(self.servers.max(1), self.arrival_rps * self.service_mean_s);
        // Residual (equilibrium) distribution of the fast server's service time S/c on a grid.
        let mut fast: Vec<f64> = service_s.iter().map(|s| s / c).collect();
        fast.sort_by(|a, b| a.total_cmp(b));
        let mean = fast.iter().sum::<f64>() / fast.len() as f64;
        // Grid long enough for the tail: the mean wait times a margin.
        let mean_wait = rho / (1.0 - rho) * fast.iter().map(|s| s * s).sum::<f64>()
            / fast.len() as f64
            / (2.0 * mean);
        // The grid covers the bulk of the wait and every service time, so no residual mass
        // falls off its end.
        let span = (mean_wait * 40.0)
            .max(fast[fast.len() - 1] * 1.01)
            .max(mean * 4.0);
        let h = span / K as f64;
        // G(x) = integral of P(S > u) for u in 0..x = E[min(S, x)], exactly, from the sorted
        // samples and their prefix sums.
        let mut prefix = Vec::with_capacity(fast.len() + 1);
        prefix.push(0.0);
        for s in &fast {
            prefix.push(prefix[prefix.len() - 1] + s);
        }
        let n = fast.len() as f64;
        let g = |x: f64| {
            let below = fast.partition_point(|&s| s <= x);
            (prefix[below] + x * (fast.len() - below) as f64) / n
        };
        // r[k] = P(residual within half a bin of k h): the mass sits at the grid point, so a
        // sum of residuals carries no discretization bias. The residual density is
        // P(S > x) / E[S], so a cell holds (G(b) - G(a)) / E[S]; the cells add up to 1.
        let r: Vec<f64> = (0..K)
            .map(|k| {
                let (a, b) = (((k as f64) - 0.5).max(0.0) * h, (k as f64 + 0.5) * h);
                (g(b) - g(a)) / mean
            })
            .collect();
        // w = (1 - rho) delta + rho (r * w), so W(z) = (1 - rho) / (1 - rho R(z)): solved in
        // the frequency domain on twice the grid (the wait's mass beyond the grid, which would
        // wrap around, is negligible at 40 mean waits).
        let (forward, inverse) = ffts();
        let mut spectrum: Vec<Complex<f64>> = r
            .iter()
            .map(|&v| Complex::new(v, 0.0))
            .chain(std::iter::repeat(Complex::new(0.0, 0.0)))
            .take(2 * K)
            .collect();
        forward.process(&mut spectrum);
        for z in spectrum.iter_mut() {
            *z = Complex::new(1.0 - rho, 0.0) / (Complex::new(1.0, 0.0) - *z * rho);
        }
        inverse.process(&mut spectrum);
        let w: Vec<f64> = spectrum[..K]
            .iter()
            .map(|z| (z.re / (2 * K) as f64).max(0.0))
            .collect();
        // Conditional on waiting (drop the atom at 0), as a CDF on the grid.
        let mut cdf = Vec::with_capacity(K);
        let mut run = 0.0;
        for (k, wk) in w.iter().enumerate() {
            run += if k == 0 { wk - (1.0 - rho) } else { *wk };
            cdf.push((run / rho).clamp(0.0, 1.0));
        }
        Some(WaitDistribution { pw, h, cdf })
    }

    /// The `q` quantile of the waiting time before service, seconds; infinite when saturated.
    pub fn wait_quantile_s(&self, q: f64, service_s: &[f64]) -> f64 {
        match self.wait_distribution(service_s) {
            None => f64::INFINITY,
            Some(d) => d.quantile(q),
        }
    }
}

/// `n` service times standing for a sorted sample: the midpoint of each of `n` equally likely
/// bins (the `(i + 0.5) / n` quantiles), so each carries the probability it stands for. (Taking
/// evenly spaced order statistics instead would always keep the maximum, giving one outlier
/// of a million samples a weight of 1/n in the queue.) A sample of `n` or fewer is kept whole.
pub fn reduce_sorted(sorted: &[f64], n: usize) -> Vec<f64> {
    if sorted.len() <= n {
        return sorted.to_vec();
    }
    (0..n)
        .map(|i| sorted[(((i as f64 + 0.5) / n as f64) * sorted.len() as f64) as usize])
        .collect()
}

/// The waiting time of a queue: 0 with probability `1 - pw`, else spread as `cdf` on a grid.
#[derive(Clone, Debug)]
pub struct WaitDistribution {
    pub pw: f64,
    h: f64,
    cdf: Vec<f64>,
}

impl WaitDistribution {
    /// P(wait <= t): the masses sit on grid points `k h`; linear between them.
    pub fn cdf(&self, t: f64) -> f64 {
        if t < 0.0 {
            return 0.0;
        }
        let x = t / self.h;
        let k = x.floor() as usize;
        let cond = if k + 1 >= self.cdf.len() {
            1.0
        } else {
            self.cdf[k] + (self.cdf[k + 1] - self.cdf[k]) * (x - k as f64)
        };
        (1.0 - self.pw) + self.pw * cond
    }

    pub fn quantile(&self, q: f64) -> f64 {
        if self.cdf(0.0) >= q {
            return 0.0;
        }
        let (mut lo, mut hi) = (0.0, self.h * self.cdf.len() as f64);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if self.cdf(mid) < q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }
}

impl Queue {
    /// Builds the queue for measured service times (seconds).
    pub fn from_samples(servers: u32, arrival_rps: f64, service_s: &[f64]) -> Queue {
        let n = service_s.len().max(1) as f64;
        let mean = service_s.iter().sum::<f64>() / n;
        Queue {
            servers,
            arrival_rps,
            service_mean_s: mean,
        }
    }

    /// The `q` quantile of the response time (wait + service), seconds; infinite when
    /// saturated.
    pub fn response_quantile_s(&self, q: f64, service_s: &[f64]) -> f64 {
        match self.wait_distribution(service_s) {
            None => f64::INFINITY,
            Some(d) => d.response_quantile(q, service_s),
        }
    }
}

impl WaitDistribution {
    /// P(wait + service <= t), seconds, for measured service times: the wait convolved with
    /// the empirical service distribution.
    pub fn response_cdf(&self, t: f64, service_s: &[f64]) -> f64 {
        service_s.iter().map(|&s| self.cdf(t - s)).sum::<f64>() / service_s.len().max(1) as f64
    }

    /// The `q` quantile of the response time, seconds, by bisection on [`Self::response_cdf`].
    pub fn response_quantile(&self, q: f64, service_s: &[f64]) -> f64 {
        let mut lo = 0.0;
        let mut hi = service_s.iter().cloned().fold(0.0, f64::max) + self.quantile(q) + 1e-9;
        while self.response_cdf(hi, service_s) < q {
            hi *= 2.0;
        }
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if self.response_cdf(mid, service_s) < q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }
}

/// Simulates a first-come-first-served queue of `servers` with Poisson arrivals at
/// `arrival_rps`, drawing service times from `service_s` (the measured latencies, replayed in a
/// seeded random order). Returns the response times (wait + service), seconds.
pub fn simulate(
    servers: u32,
    arrival_rps: f64,
    service_s: &[f64],
    requests: usize,
    seed: u64,
) -> Vec<f64> {
    let mut rng = seed.max(1);
    let mut next = || {
        // xorshift64*: fast, seeded, good enough for arrivals.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        (rng.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut free_at = vec![0.0f64; servers.max(1) as usize];
    let mut t = 0.0;
    let mut out = Vec::with_capacity(requests);
    for _ in 0..requests {
        t += -(1.0 - next()).ln() / arrival_rps;
        let s = service_s[(next() * service_s.len() as f64) as usize % service_s.len()];
        // The server that frees up first takes the request.
        let (i, &f) = free_at
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((0, &0.0));
        let start = t.max(f);
        free_at[i] = start + s;
        out.push(start + s - t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_known_values() {
        // M/M/1: P(wait) = rho.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // A textbook value: c = 2, a = 1 erlang -> C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(erlang_c(3, 3.0), 1.0);
        assert_eq!(erlang_c(3, 0.0), 0.0);
    }

    fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
        v.sort_by(|a, b| a.total_cmp(b));
        crate::bench::stats::nearest_rank(&v, q)
    }

    #[test]
    fn model_agrees_with_simulation_on_skewed_service_times() {
        // Skewed service times like real latencies: mostly 2 ms, a tail to 8 ms.
        let service: Vec<f64> = (0..5000)
            .map(|i| 0.002 + 0.006 * ((i * 7919 % 5000) as f64 / 5000.0).powi(6))
            .collect();
        for (servers, util) in [(1, 0.5), (2, 0.6), (4, 0.7), (8, 0.8)] {
            let mean = service.iter().sum::<f64>() / service.len() as f64;
            let rps = util * servers as f64 / mean;
            let model =
                Queue::from_samples(servers, rps, &service).response_quantile_s(0.95, &service);
            let sim = quantile(simulate(servers, rps, &service, 400_000, 7), 0.95);
            let err = (model - sim).abs() / sim;
            assert!(
                err < 0.05,
                "c={servers} rho={util}: model {model} sim {sim} ({:.1}%)",
                err * 100.0
            );
        }
    }

    #[test]
    fn mm1_and_mm2_wait_quantiles_match_the_closed_forms() {
        // Exponential service (mean 10 ms) as evenly spaced quantiles.
        let n = 20_000;
        let service: Vec<f64> = (0..n)
            .map(|i| -(1.0 - (i as f64 + 0.5) / n as f64).ln() * 0.01)
            .collect();
        // M/M/1 at 80 req/s: P(W > t) = rho exp(-(mu - lambda) t).
        let q = Queue::from_samples(1, 80.0, &service);
        let t = q.wait_quantile_s(0.95, &service);
        let exact = (0.8f64 / 0.05).ln() / 20.0;
        assert!((t - exact).abs() / exact < 0.02, "{t} vs {exact}");
        // M/M/2 at 150 req/s: P(W > t) = C exp(-(2 mu - lambda) t).
        let q2 = Queue::from_samples(2, 150.0, &service);
        let c = erlang_c(2, 1.5);
        let exact2 = (c / 0.05).ln() / (200.0 - 150.0);
        let t2 = q2.wait_quantile_s(0.95, &service);
        assert!((t2 - exact2).abs() / exact2 < 0.03, "{t2} vs {exact2}");
        assert_eq!(
            Queue::from_samples(1, 120.0, &service).wait_quantile_s(0.95, &service),
            f64::INFINITY
        );
    }
}
