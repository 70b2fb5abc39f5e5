//! The charts the PDF and the PNG share, drawn as SVG.

use super::svg::{line_chart, Axis, Rule, Series, Svg, PALETTE};
use super::CostDoc;
use crate::bench::RunResult;
use crate::cost::plan::CostCurves;

/// A run as a legend names it: `onnxruntime b1`, or `int8 onnxruntime b1` for a variant.
pub(super) fn run_name(r: &RunResult) -> String {
    if r.variant == "original" {
        format!("{} b{}", r.engine.label(), r.batch_size)
    } else {
        format!("{} {} b{}", r.variant, r.engine.label(), r.batch_size)
    }
}

/// CDF of each run from its stored quantiles (log ms against percent).
pub(super) fn cdf_chart(
    svg: &mut Svg,
    rect: (f64, f64, f64, f64),
    runs: &[RunResult],
    title: &str,
) {
    let series: Vec<Series> = runs
        .iter()
        .filter(|r| r.latency_quantiles_ms.len() > 1)
        .take(8)
        .enumerate()
        .map(|(i, r)| {
            let n = r.latency_quantiles_ms.len() - 1;
            Series {
                name: run_name(r),
                color: PALETTE[i % PALETTE.len()].into(),
                points: r
                    .latency_quantiles_ms
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| (v, k as f64 / n as f64 * 100.0))
                    .collect(),
                markers: false,
            }
        })
        .collect();
    let xa = Axis::fit(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
        true,
        false,
    );
    let ya = Axis {
        lo: 0.0,
        hi: 100.0,
        log: false,
    };
    let first = runs.first();
    let rules: Vec<Rule> = first
        .map(|r| {
            vec![
                Rule {
                    x: r.latency_p50,
                    label: "p50".into(),
                    color: "#2ca02c".into(),
                },
                Rule {
                    x: r.latency_p95,
                    label: "p95".into(),
                    color: "#ff7f0e".into(),
                },
                Rule {
                    x: r.latency_p99,
                    label: "p99".into(),
                    color: "#d62728".into(),
                },
            ]
        })
        .unwrap_or_default();
    line_chart(
        svg,
        rect,
        title,
        &series,
        xa,
        ya,
        &crate::format::ms_axis,
        &|v| format!("{v:.0}%"),
        &rules,
    );
}

/// Throughput against batch size, one line per engine and variant.
pub(super) fn throughput_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), runs: &[RunResult]) {
    let mut keys: Vec<String> = runs
        .iter()
        .map(|r| format!("{} {}", r.engine.label(), r.variant))
        .collect();
    keys.dedup();
    keys.sort();
    keys.dedup();
    let series: Vec<Series> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut pts: Vec<(f64, f64)> = runs
                .iter()
                .filter(|r| &format!("{} {}", r.engine.label(), r.variant) == k)
                .map(|r| (r.batch_size as f64, r.throughput_rps))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                name: k.replace(" original", ""),
                color: PALETTE[i % PALETTE.len()].into(),
                points: pts,
                markers: true,
            }
        })
        .collect();
    let xa = Axis::fit(runs.iter().map(|r| r.batch_size as f64), true, false);
    let ya = Axis::fit(runs.iter().map(|r| r.throughput_rps), false, true);
    line_chart(
        svg,
        rect,
        "Throughput against batch size (samples/s)",
        &series,
        xa,
        ya,
        &|v| format!("{v:.0}"),
        &crate::format::count_short,
        &[],
    );
}

/// Monthly cost of each tier against monthly requests, break-evens and the current volume.
pub(super) fn cost_chart(
    svg: &mut Svg,
    rect: (f64, f64, f64, f64),
    c: &CostDoc,
    curves: &CostCurves,
) {
    let series: Vec<Series> = curves
        .tiers
        .iter()
        .enumerate()
        .map(|(i, (t, costs))| Series {
            name: t.label().into(),
            color: PALETTE[i % PALETTE.len()].into(),
            points: curves
                .volumes
                .iter()
                .copied()
                .zip(costs.iter().copied())
                .collect(),
            markers: false,
        })
        .collect();
    let xa = Axis {
        lo: 1e3,
        hi: 1e10,
        log: true,
    };
    let ya = Axis::fit(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        true,
        false,
    );
    let rules = vec![Rule {
        x: c.inputs.monthly_requests.max(1e3),
        label: "current volume".into(),
        color: "#d62728".into(),
    }];
    line_chart(
        svg,
        rect,
        "Monthly cost against monthly requests",
        &series,
        xa,
        ya,
        &crate::format::count_short,
        &crate::format::usd_short,
        &rules,
    );
    // Break-even points on top.
    let (left, bottom, top) = (48.0, 30.0, 18.0);
    let (px, py, pw, ph) = (
        rect.0 + left,
        rect.1 + top,
        rect.2 - left - 8.0,
        rect.3 - top - bottom,
    );
    for b in &curves.break_evens {
        let fx = (b.monthly_requests.log10() - 3.0) / 7.0;
        let fy =
            (b.total_cost.max(1e-300).log10() - ya.lo.log10()) / (ya.hi.log10() - ya.lo.log10());
        if (0.0..=1.0).contains(&fx) && (0.0..=1.0).contains(&fy) {
            svg.circle(px + fx * pw, py + ph - fy * ph, 2.5, "#555");
        }
    }
}
