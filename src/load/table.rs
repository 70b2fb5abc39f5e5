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
            // The percentile the bound was asked for (p99 without one).
            let name = super::percentile_name(r.bound_q);
            let needed = r.min_queries_for_bound();
            let over = r.bound_ms.is_some_and(|b| r.latency.at(r.bound_q) > b);
            if over {
                note.push(format!(
                    "{name} over the {} ms bound",
                    r.bound_ms.unwrap_or_default()
                ));
            } else if r.completed < needed {
                note.push(format!(
                    "{name} needs {needed} requests{}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{summarize, Arrivals, Served};

    /// A run of `n` requests a second apart (no queue): `slow` of them 200 ms, the rest 50 ms,
    /// held to a 100 ms bound at percentile `q`.
    fn bounded(n: u64, slow: u64, q: f64) -> String {
        let served: Vec<Served> = (0..n)
            .map(|i| {
                let due = i * 1_000_000_000;
                let ms = if i < slow { 200 } else { 50 };
                Served {
                    due,
                    start: due,
                    end: due + ms * 1_000_000,
                    late_wake: 0,
                    ok: true,
                }
            })
            .collect();
        let mut run = summarize(
            &served,
            1.0,
            &Arrivals::Constant,
            1,
            n as usize,
            Some(100.0),
        )
        .unwrap();
        run.bound_q = q;
        let (_, lines) = text(&[run]);
        lines.into_iter().next().unwrap()
    }

    /// The note judges and names the percentile the bound was asked for, not always p99.
    #[test]
    fn the_note_names_the_bound_s_percentile() {
        // 2% at 200 ms: p95 50 ms, p99 200 ms.
        let p95 = bounded(2000, 40, 0.95);
        assert!(!p95.contains("over the") && !p95.contains("needs"), "{p95}");
        let p99 = bounded(2000, 40, 0.99);
        assert!(p99.ends_with("p99 over the 100 ms bound"), "{p99}");
        let over = bounded(100, 100, 0.95);
        assert!(over.ends_with("p95 over the 100 ms bound"), "{over}");
        // Too few to claim p95 under the bound: 130 with none over (p99 would need 662).
        let few = bounded(100, 0, 0.95);
        assert!(
            few.ends_with("p95 needs 130 requests with 0 over 100 ms"),
            "{few}"
        );
    }
}
