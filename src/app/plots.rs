//! Turning many samples into few drawable points; exact numbers stay in the statistics.

/// At most `max_points` points of `values` (x = sample index), keeping each bucket's minimum
/// and maximum so spikes stay visible however many samples there are.
pub fn decimate(values: &[f32], x0: f64, max_points: usize) -> Vec<[f64; 2]> {
    let max_points = max_points.max(2);
    if values.len() <= max_points {
        return values
            .iter()
            .enumerate()
            .map(|(i, &v)| [x0 + i as f64, v as f64])
            .collect();
    }
    let bucket = values.len().div_ceil(max_points / 2);
    let mut out = Vec::with_capacity(max_points + 2);
    for (b, chunk) in values.chunks(bucket).enumerate() {
        let base = b * bucket;
        let (mut lo, mut hi) = (0, 0);
        for (i, &v) in chunk.iter().enumerate() {
            if v < chunk[lo] {
                lo = i;
            }
            if v > chunk[hi] {
                hi = i;
            }
        }
        let (a, c) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push([x0 + (base + a) as f64, chunk[a] as f64]);
        if c != a {
            out.push([x0 + (base + c) as f64, chunk[c] as f64]);
        }
    }
    out
}

/// At most `max_points` of an (x, y) series, keeping each bucket's lowest and highest y.
pub fn decimate_xy(points: &[[f64; 2]], max_points: usize) -> Vec<[f64; 2]> {
    let max_points = max_points.max(2);
    if points.len() <= max_points {
        return points.to_vec();
    }
    let bucket = points.len().div_ceil(max_points / 2);
    let mut out = Vec::with_capacity(max_points + 2);
    for chunk in points.chunks(bucket) {
        let lo = chunk
            .iter()
            .min_by(|a, b| a[1].total_cmp(&b[1]))
            .copied()
            .unwrap_or(chunk[0]);
        let hi = chunk
            .iter()
            .max_by(|a, b| a[1].total_cmp(&b[1]))
            .copied()
            .unwrap_or(chunk[0]);
        let (a, b) = if lo[0] <= hi[0] { (lo, hi) } else { (hi, lo) };
        out.push(a);
        if b != a {
            out.push(b);
        }
    }
    out
}

/// What the distribution plots draw for one run, computed once per new batch of samples.
#[derive(Clone, Debug, Default)]
pub struct Distribution {
    pub n: usize,
    /// (log10 of the bin's centre in ms, count, log10 bin width)
    pub bins: Vec<(f64, f64, f64)>,
    /// (log10 ms, cumulative fraction), at most ~1000 points.
    pub cdf: Vec<[f64; 2]>,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// Log-spaced histogram, CDF and nearest-rank percentiles of latencies in ms.
pub fn distribution(values_ms: &[f32], bins: usize) -> Distribution {
    let mut sorted: Vec<f32> = values_ms
        .iter()
        .copied()
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    if sorted.is_empty() {
        return Distribution::default();
    }
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    let rank = |q: f64| crate::bench::stats::nearest_rank(&sorted, q) as f64;
    let lo = (sorted[0] as f64).log10();
    let hi = (sorted[n - 1] as f64).log10().max(lo + 1e-3);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0f64; bins];
    for &v in &sorted {
        let b = (((v as f64).log10() - lo) / width) as usize;
        counts[b.min(bins - 1)] += 1.0;
    }
    let step = n.div_ceil(1000).max(1);
    let mut cdf: Vec<[f64; 2]> = (0..n)
        .step_by(step)
        .map(|i| [(sorted[i] as f64).log10(), (i + 1) as f64 / n as f64])
        .collect();
    cdf.push([(sorted[n - 1] as f64).log10(), 1.0]);
    Distribution {
        n,
        bins: counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| (lo + (i as f64 + 0.5) * width, c, width))
            .collect(),
        cdf,
        p50: rank(0.5),
        p95: rank(0.95),
        p99: rank(0.99),
    }
}

/// Axis labels for a log10 axis: 10^x shown in ms.
pub fn log_ms_label(x: f64) -> String {
    crate::format::ms_axis(10f64.powf(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_bounds_points_and_keeps_spikes() {
        let mut v = vec![1.0f32; 1_000_000];
        v[654_321] = 50.0;
        let pts = decimate(&v, 0.0, 2000);
        assert!(pts.len() <= 2002, "{}", pts.len());
        assert!(pts.iter().any(|p| p[1] == 50.0 && p[0] == 654_321.0));
        assert_eq!(decimate(&v[..10], 5.0, 2000)[3], [8.0, 1.0]);
        let xy: Vec<[f64; 2]> = (0..100_000)
            .map(|i| [i as f64, if i == 777 { 9.0 } else { 1.0 }])
            .collect();
        let d = decimate_xy(&xy, 500);
        assert!(d.len() <= 502 && d.contains(&[777.0, 9.0]));
    }

    #[test]
    fn distribution_percentiles_and_cdf() {
        let v: Vec<f32> = (1..=1000).map(|i| i as f32 / 100.0).collect();
        let d = distribution(&v, 40);
        assert_eq!(d.n, 1000);
        assert!((d.p50 - 5.0).abs() < 1e-6 && (d.p99 - 9.9).abs() < 1e-5);
        assert_eq!(d.bins.iter().map(|b| b.1).sum::<f64>(), 1000.0);
        assert!(d
            .cdf
            .windows(2)
            .all(|w| w[0][1] <= w[1][1] && w[0][0] <= w[1][0]));
        assert_eq!(d.cdf.last().unwrap()[1], 1.0);
    }
}
