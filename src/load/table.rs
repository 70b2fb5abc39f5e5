//! The load table: each measured rate beside the queue model's prediction, built once for the
//! command line and the report.

use super::LoadRun;

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}"))
        .unwrap_or_else(|| "sat.".into())
}

/// Signed relative error of the prediction, `+12%`, or `-` when the model saturates.
pub fn error(predicted: Option<f64>, measured: f64) -> String {
    match predicted {
        Some(p) if measured > 0.0 => format!("{:+.0}%", (p / measured - 1.0) * 100.0),
        _ => "-".into(),
    }
}

/// A header and one line per rate: measured percentiles (from the scheduled arrival) with the
/// queue model's beside them, the replay of the measured service times through the same
/// arrivals (`replay p95`: what no pause of the servers would give), the lag-1 autocorrelation of
/// the service times (`r1`), send lateness, and whether p99 rests on enough.
pub fn text(runs: &[LoadRun]) -> (String, Vec<String>) {
    let header = format!(
        "{:>9} {:>9} {:>5} {:>9} {:>9} {:>19} {:>9} {:>9} {:>6} {:>6} {:>10} {:>5} {:>6} {:>10}  {}",
        "rate/s",
        "achieved",
        "busy",
        "p50 ms",
        "p95 ms",
        "p99 ms [95% CI]",
        "model p95",
        "model p99",
        "err95",
        "err99",
        "replay p95",
        "r1",
        "n",
        "late p99",
        "note"
    );
    let lines = runs
        .iter()
        .map(|r| {
            let pred = r.predicted.as_ref();
            let p99 = match r.latency.ci_p99 {
                Some(c) => format!("{:.2} [{:.2}-{:.2}]", r.latency.p99, c.lo, c.hi),
                None => format!("{:.2}", r.latency.p99),
            };
            let mut note = Vec::new();
            if let Some(n) = &r.not_issued {
                note.push(format!("NOT ISSUED: {n}"));
            }
            if r.failed > 0 {
                note.push(format!("{} failed", r.failed));
            }
            let over = r.bound_ms.is_some_and(|b| r.latency.p99 > b);
            if over {
                note.push(format!("p99 over the {} ms bound", r.bound_ms.unwrap_or_default()));
            } else if !r.enough_for_p99 {
                note.push(format!(
                    "p99 needs {} requests{}",
                    r.min_queries_p99,
                    r.bound_ms
                        .map(|b| format!(" with {} over {b} ms", r.over_bound))
                        .unwrap_or_default()
                ));
            }
            format!(
                "{:>9.1} {:>9.1} {:>4.0}% {:>9.2} {:>9.2} {:>19} {:>9} {:>9} {:>6} {:>6} {:>10} {:>5.2} {:>6} {:>10}  {}",
                r.rate,
                r.achieved_rps,
                r.utilization * 100.0,
                r.latency.p50,
                r.latency.p95,
                p99,
                ms(pred.and_then(|p| p.p95)),
                ms(pred.and_then(|p| p.p99)),
                error(pred.and_then(|p| p.p95), r.latency.p95),
                error(pred.and_then(|p| p.p99), r.latency.p99),
                r.replayed
                    .as_ref()
                    .map(|p| format!("{:.2}", p.p95))
                    .unwrap_or_else(|| "-".into()),
                r.service_autocorrelation,
                r.completed,
                crate::format::ms(r.send_late_p99_ms),
                note.join("; ")
            )
        })
        .collect();
    (header, lines)
}
