//! Latency under load: an M/G/c queue (Erlang C with the Allen-Cunneen correction for the
//! service-time variability), and a discrete-event simulation that replays measured latencies
//! to check it.

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
    /// Squared coefficient of variation of the service time.
    pub service_scv: f64,
}

impl Queue {
    pub fn utilization(&self) -> f64 {
        self.arrival_rps * self.service_mean_s / self.servers.max(1) as f64
    }

    /// The `q` quantile of the waiting time before service, seconds; infinite when saturated.
    /// The waiting time is 0 with probability 1 - C and, given a wait, close to exponential
    /// with rate (c mu - lambda) scaled by 2 / (1 + scv) (Allen-Cunneen).
    pub fn wait_quantile_s(&self, q: f64) -> f64 {
        let rho = self.utilization();
        if rho >= 1.0 {
            return f64::INFINITY;
        }
        let a = self.arrival_rps * self.service_mean_s;
        let pw = erlang_c(self.servers, a);
        if pw <= 1.0 - q {
            return 0.0;
        }
        let mu = 1.0 / self.service_mean_s;
        let rate = (self.servers as f64 * mu - self.arrival_rps) * 2.0 / (1.0 + self.service_scv);
        (pw / (1.0 - q)).ln() / rate
    }
}

impl Queue {
    /// Builds the queue for measured service times (seconds).
    pub fn from_samples(servers: u32, arrival_rps: f64, service_s: &[f64]) -> Queue {
        let n = service_s.len().max(1) as f64;
        let mean = service_s.iter().sum::<f64>() / n;
        let var = service_s.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
        Queue {
            servers,
            arrival_rps,
            service_mean_s: mean,
            service_scv: if mean > 0.0 { var / (mean * mean) } else { 0.0 },
        }
    }

    /// The `q` quantile of the response time (wait + service), seconds, for measured service
    /// times: the wait model above convolved with the empirical service distribution, solved
    /// by bisection. Infinite when saturated.
    pub fn response_quantile_s(&self, q: f64, service_s: &[f64]) -> f64 {
        if self.utilization() >= 1.0 || service_s.is_empty() {
            return f64::INFINITY;
        }
        let pw = erlang_c(self.servers, self.arrival_rps * self.service_mean_s);
        let rate = (self.servers as f64 / self.service_mean_s - self.arrival_rps) * 2.0
            / (1.0 + self.service_scv);
        let cdf = |t: f64| {
            service_s
                .iter()
                .map(|&s| {
                    if t < s {
                        0.0
                    } else {
                        1.0 - pw * (-rate * (t - s)).exp()
                    }
                })
                .sum::<f64>()
                / service_s.len() as f64
        };
        let mut lo = 0.0;
        let mut hi = service_s.iter().cloned().fold(0.0, f64::max)
            + self.wait_quantile_s(q.max(0.5)) * 4.0
            + 1e-9;
        while cdf(hi) < q {
            hi *= 2.0;
        }
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if cdf(mid) < q {
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
        v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
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
    fn mm1_wait_quantile_is_exact() {
        // M/M/1 (scv 1): P(W > t) = rho exp(-(mu - lambda) t).
        let q = Queue {
            servers: 1,
            arrival_rps: 80.0,
            service_mean_s: 0.01,
            service_scv: 1.0,
        };
        let t = q.wait_quantile_s(0.95);
        assert!((0.8 * (-(100.0 - 80.0) * t).exp() - 0.05).abs() < 1e-12);
        assert_eq!(
            Queue {
                arrival_rps: 100.0,
                ..q.clone()
            }
            .wait_quantile_s(0.95),
            f64::INFINITY
        );
    }
}
