//! The charts the PDF and the PNG share, drawn as SVG.

use super::svg::{bar_chart, line_chart, Axis, Bar, Rule, Series, Svg, PALETTE};
use super::{CostDoc, Study};
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

/// The colour of a variant: the original gray, the variants in palette order.
pub(super) fn variant_color(study: &Study, name: &str) -> String {
    if name == "original" {
        return "#8c8c8c".into();
    }
    let i = study
        .variants
        .iter()
        .position(|v| v.name == name)
        .unwrap_or(0);
    PALETTE[i % PALETTE.len()].into()
}

/// The runs the per-run comparison charts show: one engine x batch (the window's default).
pub(super) fn view_runs(study: &Study) -> (String, Vec<&RunResult>) {
    let Some(key) = crate::compare::table::default_view(&study.compare_runs) else {
        return (String::new(), Vec::new());
    };
    (
        format!("{} batch {}", key.0.label(), key.1),
        study
            .compare_runs
            .iter()
            .filter(|r| (r.engine, r.batch_size) == key)
            .collect(),
    )
}

/// Speedup of every variant at every engine x batch, with the 95% interval; a dashed line at 1.
pub(super) fn speedup_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), study: &Study) {
    let many_engines = study
        .compare_runs
        .iter()
        .map(|r| r.engine)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let bars: Vec<Bar> = study
        .variants
        .iter()
        .flat_map(|v| {
            v.speedups.iter().map(move |s| Bar {
                label: if many_engines {
                    format!("{} {} b{}", v.name, s.engine.label(), s.batch_size)
                } else {
                    format!("{} b{}", v.name, s.batch_size)
                },
                value: s.p50_ratio,
                interval: Some((s.ci.lo, s.ci.hi)),
                color: variant_color(study, &v.name),
                note: format!(
                    "{:.2}x{}",
                    s.p50_ratio,
                    if s.significant { "" } else { " (n.s.)" }
                ),
            })
        })
        .take(24)
        .collect();
    bar_chart(
        svg,
        rect,
        "Speedup over the original (p50 ratio, 95% interval; n.s. = not significant)",
        &bars,
        &|v| format!("{v:.1}x"),
        Some((1.0, "1x")),
    );
}

/// p50 latency of each variant in one engine x batch, with the interval of p50.
pub(super) fn latency_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), study: &Study) {
    let (view, runs) = view_runs(study);
    let bars: Vec<Bar> = runs
        .iter()
        .map(|r| Bar {
            label: r.variant.clone(),
            value: r.latency_p50,
            interval: r.ci_p50.map(|c| (c.lo, c.hi)),
            color: variant_color(study, &r.variant),
            note: format!("{:.3} ms", r.latency_p50),
        })
        .collect();
    bar_chart(
        svg,
        rect,
        &format!("p50 latency, ms ({view}; whiskers: 95% interval)"),
        &bars,
        &crate::format::ms_axis,
        None,
    );
}

/// File size of the original and each variant.
pub(super) fn size_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), study: &Study) {
    let original = study.model.as_ref().map(|m| m.file_size_bytes).unwrap_or(0);
    let bars: Vec<Bar> = std::iter::once(("original".to_string(), original))
        .chain(
            study
                .variants
                .iter()
                .filter(|v| v.error.is_none())
                .map(|v| (v.name.clone(), v.file_size_bytes)),
        )
        .map(|(n, b)| Bar {
            color: variant_color(study, &n),
            label: n,
            value: b as f64,
            interval: None,
            note: crate::format::bytes(b),
        })
        .collect();
    bar_chart(
        svg,
        rect,
        "File size",
        &bars,
        &|v| crate::format::bytes(v as u64),
        None,
    );
}

/// Latency against fidelity in one engine x batch, with the Pareto front.
pub(super) fn pareto_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), study: &Study) {
    let (view, runs) = view_runs(study);
    let fidelity = |n: &str| -> Option<f64> {
        if n == "original" {
            return Some(1.0);
        }
        study
            .variants
            .iter()
            .find(|v| v.name == n)?
            .fidelity
            .as_ref()
            .map(|f| f.score())
    };
    let pts: Vec<(String, f64, f64)> = runs
        .iter()
        .filter_map(|r| Some((r.variant.clone(), r.latency_p50, fidelity(&r.variant)?)))
        .collect();
    let front = crate::compare::pareto_front(&pts.iter().map(|p| (p.1, p.2)).collect::<Vec<_>>());
    let mut series: Vec<Series> = vec![Series {
        name: "Pareto front".into(),
        color: "#bbb".into(),
        points: front.iter().map(|&i| (pts[i].1, pts[i].2)).collect(),
        markers: false,
    }];
    series.extend(pts.iter().map(|(n, x, y)| Series {
        name: n.clone(),
        color: variant_color(study, n),
        points: vec![(*x, *y)],
        markers: true,
    }));
    let xa = Axis::fit(pts.iter().map(|p| p.1), false, true);
    let lo = pts.iter().map(|p| p.2).fold(1.0, f64::min);
    let ya = Axis {
        lo: (lo - (1.0 - lo).max(0.001) * 0.3).max(0.0),
        hi: 1.0 + (1.0 - lo).max(0.001) * 0.15,
        log: false,
    };
    line_chart(
        svg,
        rect,
        &format!("Latency (p50 ms) against fidelity, {view}: up and left is better"),
        &series,
        xa,
        ya,
        &crate::format::ms_axis,
        &|v| format!("{v:.4}"),
        &[],
    );
}

/// The layers that drift most in each variant: relative error of their outputs, percent.
pub(super) fn drift_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), study: &Study) {
    let with_layers: Vec<_> = study
        .variants
        .iter()
        .filter_map(|v| Some((v, v.fidelity.as_ref().filter(|f| !f.layers.is_empty())?)))
        .collect();
    let per = (18 / with_layers.len().max(1)).clamp(3, 8);
    let bars: Vec<Bar> = with_layers
        .iter()
        .flat_map(|(v, f)| {
            let mut layers: Vec<_> = f.layers.iter().collect();
            layers.sort_by(|a, b| b.relative_error.total_cmp(&a.relative_error));
            layers.into_iter().take(per).map(|l| Bar {
                label: format!("{}: {} ({})", v.name, l.node, l.op),
                value: l.relative_error * 100.0,
                interval: None,
                color: variant_color(study, &v.name),
                note: format!("{:.3}%", l.relative_error * 100.0),
            })
        })
        .collect();
    bar_chart(
        svg,
        rect,
        "Per-layer drift: relative error of each layer's output against the original, %",
        &bars,
        &|v| format!("{v:.2}"),
        None,
    );
}

/// How many bars [`drift_chart`] draws, to size it.
pub(super) fn drift_bars(study: &Study) -> usize {
    let with: Vec<usize> = study
        .variants
        .iter()
        .filter_map(|v| v.fidelity.as_ref().map(|f| f.layers.len()))
        .filter(|&n| n > 0)
        .collect();
    let per = (18 / with.len().max(1)).clamp(3, 8);
    with.iter().map(|n| (*n).min(per)).sum()
}

/// Measured p95 and p99 against the offered rate, with the queue model's beside them.
pub(super) fn load_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), runs: &[crate::load::LoadRun]) {
    let series = vec![
        Series {
            name: "measured p95".into(),
            color: PALETTE[0].into(),
            points: runs.iter().map(|r| (r.rate, r.latency.p95)).collect(),
            markers: true,
        },
        Series {
            name: "measured p99".into(),
            color: PALETTE[4].into(),
            points: runs.iter().map(|r| (r.rate, r.latency.p99)).collect(),
            markers: true,
        },
        Series {
            name: "queue model p95".into(),
            color: PALETTE[1].into(),
            points: runs
                .iter()
                .filter_map(|r| Some((r.rate, r.predicted.as_ref()?.p95?)))
                .collect(),
            markers: false,
        },
        Series {
            name: "queue model p99".into(),
            color: PALETTE[3].into(),
            points: runs
                .iter()
                .filter_map(|r| Some((r.rate, r.predicted.as_ref()?.p99?)))
                .collect(),
            markers: false,
        },
    ];
    let xa = Axis::fit(runs.iter().map(|r| r.rate), false, true);
    let ya = Axis::fit(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        true,
        false,
    );
    line_chart(
        svg,
        rect,
        "Latency under open-loop load: measured against the queue model",
        &series,
        xa,
        ya,
        &|v| format!("{v:.0}/s"),
        &crate::format::ms_axis,
        &[],
    );
}

/// Time per op type, as a share of the time in operators.
pub(super) fn op_chart(
    svg: &mut Svg,
    rect: (f64, f64, f64, f64),
    ops: &[crate::profile::OpTypeTime],
) {
    let bars: Vec<Bar> = ops
        .iter()
        .enumerate()
        .map(|(i, o)| Bar {
            label: format!("{} (x{})", o.op, o.nodes),
            value: o.us / 1e3,
            interval: None,
            color: PALETTE[i % PALETTE.len()].into(),
            note: format!(
                "{} ({:.1}%)",
                crate::format::ms(o.us / 1e3),
                o.share * 100.0
            ),
        })
        .collect();
    bar_chart(
        svg,
        rect,
        "Time per op type in one request (median over the profiled requests)",
        &bars,
        &crate::format::ms_axis,
        None,
    );
}
