//! The comparison table and each variant's details, built once for the command line, the
//! report and the Compare tab (each only lays them out).

use super::{Speedup, VariantReport};
use crate::bench::RunResult;

/// One row: a run of the original or of a variant, with what the table shows beside it.
pub struct Row<'a> {
    pub run: &'a RunResult,
    /// `None` for the original.
    pub variant: Option<&'a VariantReport>,
    pub size_bytes: u64,
    /// Peak resident memory of a process serving only this variant at this batch, MB
    /// (measured in a process of its own: all variants share this one while the rounds
    /// alternate); `None` when it could not be measured.
    pub own_peak_mb: Option<f64>,
    /// `Some(1.0)` for the original; `None` when not measured.
    pub fidelity: Option<f64>,
    pub speedup: Option<&'a Speedup>,
}

impl Row<'_> {
    /// `167.2`, or `-` when not measured.
    pub fn own_peak_text(&self) -> String {
        self.own_peak_mb
            .map(|m| format!("{m:.1}"))
            .unwrap_or_else(|| "-".into())
    }

    /// `1`, `0.9998`, or `-` when not measured.
    pub fn fidelity_text(&self) -> String {
        match (self.variant, self.fidelity) {
            (None, _) => "1".into(),
            (Some(_), Some(f)) => format!("{f:.4}"),
            (Some(_), None) => "-".into(),
        }
    }

    /// `1.70x [1.63-2.13]`, or empty for the original.
    pub fn speedup_text(&self) -> String {
        self.speedup
            .map(|s| format!("{:.2}x [{:.2}-{:.2}]", s.p50_ratio, s.ci.lo, s.ci.hi))
            .unwrap_or_default()
    }
}

/// The rows of a comparison, in run order.
pub fn rows<'a>(
    runs: &'a [RunResult],
    variants: &'a [VariantReport],
    original_size_bytes: u64,
) -> Vec<Row<'a>> {
    runs.iter()
        .map(|r| {
            let v = variants.iter().find(|v| v.name == r.variant);
            Row {
                run: r,
                variant: v,
                size_bytes: v.map(|v| v.file_size_bytes).unwrap_or(original_size_bytes),
                own_peak_mb: match &r.own_process {
                    Some(crate::bench::OwnProcess::Measured { peak_rss_mb, .. }) => {
                        Some(*peak_rss_mb)
                    }
                    _ => None,
                },
                fidelity: match v {
                    None => Some(1.0),
                    Some(v) => v.fidelity.as_ref().map(|f| f.score()),
                },
                speedup: v.and_then(|v| {
                    v.speedups
                        .iter()
                        .find(|s| s.engine == r.engine && s.batch_size == r.batch_size)
                }),
            }
        })
        .collect()
}

/// The engine x batch the per-run comparison charts show by default: the first engine, at
/// batch 1 when measured, else the first batch.
pub fn default_view(runs: &[RunResult]) -> Option<(crate::engine::EngineKind, usize)> {
    let mut keys: Vec<(crate::engine::EngineKind, usize)> =
        runs.iter().map(|r| (r.engine, r.batch_size)).collect();
    keys.sort();
    keys.dedup();
    keys.iter().find(|k| k.1 == 1).or(keys.first()).copied()
}

/// What the table's measured columns are, under it.
pub const LEGEND: &str = "Latencies interleaved: each turn after the other variants' threads were idle, with one unmeasured request. peak MB: the peak resident memory of a process serving only that variant at that batch (the runtime included), measured in a process of its own.";

/// The table as monospaced text: a header and one line per row (the command line prints it,
/// the report sets it).
pub fn text(rows: &[Row]) -> (String, Vec<String>) {
    let header = format!(
        "{:<28} {:<11} {:>5} {:>9} {:>9} {:>9} {:>11} {:>8} {:>9} {:>9} {:>20}  {}",
        "variant",
        "engine",
        "batch",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "samples/s",
        "peak MB",
        "size",
        "fidelity",
        "speedup [95% CI]",
        ""
    );
    let lines = rows
        .iter()
        .map(|r| {
            format!(
                "{:<28} {:<11} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>11.0} {:>8} {:>9} {:>9} {:>20}  {}",
                r.run.variant,
                r.run.engine.label(),
                r.run.batch_size,
                r.run.latency_p50,
                r.run.latency_p95,
                r.run.latency_p99,
                r.run.throughput_rps,
                r.own_peak_text(),
                crate::format::bytes(r.size_bytes),
                r.fidelity_text(),
                r.speedup_text(),
                if r.speedup.is_some_and(|s| !s.significant) {
                    "not significant"
                } else {
                    ""
                }
            )
        })
        .collect();
    (header, lines)
}

/// What kind of line a detail is, so each front end can style it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetailKind {
    /// What the rewrite did, and fidelity per output and layer.
    Info,
    /// A note worth a second look.
    Note,
    /// The variant could not be built, or its fidelity not measured.
    Problem,
}

impl VariantReport {
    /// What the variant did and how faithful it is, line by line.
    pub fn details(&self) -> Vec<(DetailKind, String)> {
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push((DetailKind::Problem, format!("not compared: {e}")));
            return out;
        }
        if let Some(cov) = &self.coverage {
            if cov.synthesized_data {
                out.push((
                    DetailKind::Note,
                    crate::optimize::SYNTHESIZED_WARNING.to_string(),
                ));
            }
            out.push((DetailKind::Info, cov.summary()));
            for n in &cov.notes {
                out.push((DetailKind::Note, format!("note: {n}")));
            }
            for s in cov.skipped.iter().take(8) {
                out.push((
                    DetailKind::Info,
                    format!("left {} ({}): {}", s.node, s.op, s.note),
                ));
            }
        }
        match (&self.fidelity, &self.fidelity_error) {
            (Some(f), _) => {
                for o in &f.outputs {
                    out.push((DetailKind::Info, format!("output {}", o.summary())));
                }
                if let Some(w) = f.worst_layer() {
                    out.push((DetailKind::Info, w));
                }
            }
            (None, Some(e)) => {
                out.push((DetailKind::Problem, format!("fidelity not measured: {e}")))
            }
            _ => {}
        }
        out
    }
}
