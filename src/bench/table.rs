//! The table of runs, built once: the command line prints it, the report sets it in a
//! monospaced font, the window copies it; and the CSV of runs.

use super::RunResult;
use anyhow::Result;

/// The table of runs: a header line and one line per run, with a variant column when any run
/// is of a variant. "mem MB" is the peak of the 10 ms samples (the window's memory curve),
/// "peak MB" the kernel's peak including the model load. The CLI prints it, the report sets it
/// in a monospaced font, the window copies it.
pub fn text(results: &[RunResult]) -> (String, Vec<String>) {
    let variant = variant_column(results, usize::MAX);
    let header = format!(
        "{}{:<12} {:>5} {:>7} {:>9} {:>19} {:>9} {:>9} {:>19} {:>9} {:>9} {:>12} {:>8} {:>8}",
        variant("variant"),
        "engine",
        "batch",
        "iters",
        "p50 ms",
        "p50 95% CI",
        "p95 ms",
        "p99 ms",
        "p99 95% CI",
        "mean ms",
        "std ms",
        "samples/s",
        "mem MB",
        "peak MB"
    );
    let rows = results
        .iter()
        .map(|r| {
            format!(
                "{}{:<12} {:>5} {:>7} {:>9.3} {:>19} {:>9.3} {:>9.3} {:>19} {:>9.3} {:>9.3} {:>12.1} {:>8.1} {:>8.1}",
                variant(&r.variant),
                r.engine.label(),
                r.batch_size,
                r.n_iterations,
                r.latency_p50,
                crate::format::interval(r.ci_p50.map(|c| (c.lo, c.hi))),
                r.latency_p95,
                r.latency_p99,
                crate::format::interval(r.ci_p99.map(|c| (c.lo, c.hi))),
                r.latency_mean,
                r.latency_std,
                r.throughput_rps,
                r.memory_mb,
                r.peak_memory_mb()
            )
        })
        .collect();
    (header, rows)
}

/// A column naming each run's variant, as wide as the longest name (cut at `max`), or nothing
/// when every run is of the original: the runs tables of the report and of the PNG card.
pub fn variant_column(results: &[RunResult], max: usize) -> impl Fn(&str) -> String {
    let width = results
        .iter()
        .filter(|r| r.variant != "original")
        .map(|r| r.variant.chars().count())
        .max()
        .map(|w| w.clamp("variant".len(), max.max("variant".len())) + 1);
    move |v: &str| match width {
        Some(w) => format!("{:<w$}", v.chars().take(w - 1).collect::<String>()),
        None => String::new(),
    }
}

/// The human table of runs, with each run's warnings under it.
pub fn with_warnings(results: &[RunResult]) -> String {
    let (header, rows) = text(results);
    let mut s = header + "\n";
    for (r, row) in results.iter().zip(rows) {
        s.push_str(&row);
        s.push('\n');
        for w in &r.warnings {
            s.push_str(&format!("    ! {}: {}\n", w.metric, w.message));
        }
    }
    s
}

/// One CSV row per run, with the core fields first.
pub fn csv(results: &[RunResult]) -> Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record([
        "model_name",
        "engine",
        "variant",
        "batch_size",
        "concurrency",
        "n_iterations",
        "latency_mean",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "latency_std",
        "throughput_rps",
        "memory_mb",
        "latency_min",
        "latency_max",
        "latency_p90",
        "latency_p999",
        "latency_cv",
        "requests_per_second",
        "load_time_ms",
        "warnings",
        "peak_rss_mb",
    ])?;
    for r in results {
        w.write_record([
            r.model_name.clone(),
            r.engine.label().to_string(),
            r.variant.clone(),
            r.batch_size.to_string(),
            r.concurrency.to_string(),
            r.n_iterations.to_string(),
            r.latency_mean.to_string(),
            r.latency_p50.to_string(),
            r.latency_p95.to_string(),
            r.latency_p99.to_string(),
            r.latency_std.to_string(),
            r.throughput_rps.to_string(),
            r.memory_mb.to_string(),
            r.latency_min.to_string(),
            r.latency_max.to_string(),
            r.latency_p90.to_string(),
            r.latency_p999.to_string(),
            r.latency_cv.to_string(),
            r.requests_per_second.to_string(),
            r.load_time_ms.to_string(),
            r.warnings
                .iter()
                .map(|w| w.kind.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            r.peak_rss_mb.to_string(),
        ])?;
    }
    Ok(String::from_utf8(
        w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?,
    )?)
}
