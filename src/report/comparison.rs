//! A comparison leads its report: the verdict per variant, the table with speedups and
//! fidelity, the monthly bill per variant, and the Compare tab's charts; and the PNG card that
//! says the same at a glance.

use super::charts::{
    drift_bars, drift_chart, latency_chart, pareto_chart, size_chart, speedup_chart, variant_color,
    view_runs,
};
use super::layout::{Pages, MARGIN, PAGE_W, PNG_H, PNG_W};
use super::svg::{self, Anchor, Svg, MONO, SANS};
use super::Study;
use crate::compare::verdict::{self, Kind};

fn kind_color(k: Kind) -> &'static str {
    match k {
        Kind::Use => "#1a7a1a",
        Kind::Weigh => "#a05a00",
        Kind::Keep => "#555555",
        Kind::Broken => "#b02020",
    }
}

fn original_size(study: &Study) -> u64 {
    study.model.as_ref().map(|m| m.file_size_bytes).unwrap_or(0)
}

/// What the bills rest on, as one sentence.
fn cost_basis_text(study: &Study) -> Option<String> {
    let (i, _) = study.cost_basis()?;
    Some(format!(
        "Monthly cost: each variant's fastest run at batch 1 priced at {} requests a month (peak x{}), {} under {:.0} ms, budget {}; the tier is the one the planner recommends for that variant (inferscope cost --results FILE --variant NAME gives the same figure).",
        crate::format::count_short(i.monthly_requests),
        i.peak_factor,
        i.percentile.label(),
        i.latency_target_ms,
        crate::format::usd(i.budget_usd)
    ))
}

/// Height of a bar chart with `n` bars.
fn bars_height(n: usize) -> f64 {
    (n as f64 * 13.0 + 40.0).clamp(80.0, 330.0)
}

/// The comparison section: first in a comparison's report.
pub(super) fn section(p: &mut Pages, study: &Study) {
    let size = original_size(study);
    p.heading(&format!(
        "Comparison: {} against the original",
        crate::format::plural(study.variants.len() as u64, "variant")
    ));
    p.para("Verdicts. Faster means the 95% interval of the speedup excludes 1 at every batch size measured; faithful means a fidelity of at least 0.99 (top-1 agreement for class scores, else cosine similarity of the outputs) and no labelled accuracy lost beyond half a point.", 7.5, "#444");
    for v in &study.variants {
        let verdict = verdict::verdict(v, size);
        p.ensure(24.0);
        p.cur.text_styled(
            MARGIN,
            p.y + 9.0,
            8.5,
            SANS,
            true,
            &variant_color(study, &v.name),
            Anchor::Start,
            &v.name,
        );
        let x = MARGIN + 110.0;
        p.y = p.cur.paragraph(
            x,
            p.y + 9.0,
            PAGE_W - MARGIN - x,
            8.5,
            kind_color(verdict.kind),
            &verdict.text,
        ) - 8.5
            + 2.0;
        if let Some(c) = &v.coverage {
            p.y = p
                .cur
                .paragraph(x, p.y + 7.0, PAGE_W - MARGIN - x, 7.0, "#666", &c.summary())
                - 7.0
                + 2.0;
        }
        if let Some(f) = &v.fidelity {
            p.y = p.cur.paragraph(
                x,
                p.y + 7.0,
                PAGE_W - MARGIN - x,
                7.0,
                "#666",
                &format!("fidelity measured as {}", f.score_label()),
            ) - 7.0
                + 4.0;
        }
    }
    p.y += 4.0;
    let rows = crate::compare::table::rows(&study.compare_runs, &study.variants, size);
    let (header, lines) = crate::compare::table::text(&rows);
    let colored: Vec<(String, Option<String>)> = rows
        .iter()
        .zip(lines)
        .map(|(r, line)| {
            let color = r.speedup.filter(|s| s.significant).map(|s| {
                if s.p50_ratio > 1.0 {
                    "#1a7a1a"
                } else {
                    "#b02020"
                }
                .to_string()
            });
            (line, color)
        })
        .collect();
    p.table(&header, &colored, 5.0);
    match (study.variant_costs(), cost_basis_text(study)) {
        (Some(Ok(costs)), Some(basis)) => {
            p.para(&basis, 7.5, "#333");
            let (header, lines) = crate::cost::variants::text(&costs);
            let rows: Vec<(String, Option<String>)> =
                lines.into_iter().map(|l| (l, None)).collect();
            p.table(&header, &rows, 6.2);
        }
        (Some(Err(e)), _) => p.para(&format!("Monthly cost not priced: {e}."), 8.0, "#b02020"),
        _ => p.para("Monthly cost: not priced (no cost inputs in this study; give compare the cost flags or a --preset).", 8.0, "#a05a00"),
    }
    let speedups: usize = study.variants.iter().map(|v| v.speedups.len()).sum();
    if speedups > 0 {
        p.chart(bars_height(speedups.min(24)), |svg, rect| {
            speedup_chart(svg, rect, study)
        });
    }
    let (_, runs) = view_runs(study);
    if !runs.is_empty() {
        p.chart(bars_height(runs.len()), |svg, rect| {
            latency_chart(svg, rect, study)
        });
    }
    p.chart(bars_height(study.variants.len() + 1), |svg, rect| {
        size_chart(svg, rect, study)
    });
    if !runs.is_empty() {
        p.chart(200.0, |svg, rect| pareto_chart(svg, rect, study));
    }
    let drift = drift_bars(study);
    if drift > 0 {
        p.chart(bars_height(drift), |svg, rect| {
            drift_chart(svg, rect, study)
        });
    }
}

/// The PNG card of a comparison: the variants against the original, speedups with intervals,
/// fidelity, size, monthly cost and the verdicts.
pub(super) fn card(study: &Study) -> String {
    let name = study.model_name();
    let mut s = super::summary::card(&format!(
        "{name}: {} against the original",
        crate::format::plural(study.variants.len() as u64, "variant")
    ));
    let env = study
        .environment
        .as_ref()
        .map(|e| format!("{}, {} cores; {}", e.cpu_model, e.logical_cores, e.date))
        .unwrap_or_default();
    s.text_styled(40.0, 84.0, 15.0, SANS, false, "#555", Anchor::Start, &env);
    let size = original_size(study);
    let costs = study
        .variant_costs()
        .and_then(Result::ok)
        .unwrap_or_default();
    let original_cost = costs.iter().find(|c| c.variant == "original");
    let cost_of = |n: &str| costs.iter().find(|c| c.variant == n);
    // One row per variant: name, speedup at each batch of the charts' engine, fidelity, size,
    // cost and the saving.
    let (_, runs) = view_runs(study);
    let engine = runs.first().map(|r| r.engine);
    let mut batches: Vec<usize> = study
        .compare_runs
        .iter()
        .filter(|r| Some(r.engine) == engine)
        .map(|r| r.batch_size)
        .collect();
    batches.sort_unstable();
    batches.dedup();
    batches.truncate(3);
    let mut y = 118.0;
    let mut head = format!("{:<22}", "variant");
    for b in &batches {
        head += &format!(" {:>20}", format!("speedup b{b}"));
    }
    head += &format!(
        " {:>9} {:>10} {:>11}  {}",
        "fidelity", "size", "$/month", "vs original"
    );
    s.text_styled(40.0, y, 15.0, MONO, true, "#111", Anchor::Start, &head);
    y += 24.0;
    let cut = |n: &str, w: usize| -> String {
        if n.chars().count() > w {
            format!("{}…", n.chars().take(w - 1).collect::<String>())
        } else {
            n.to_string()
        }
    };
    let money = |n: &str| {
        cost_of(n)
            .and_then(|c| c.monthly_usd)
            .map(crate::format::usd)
            .unwrap_or_else(|| "-".into())
    };
    let mut line = format!("{:<22}", "original");
    for _ in &batches {
        line += &format!(" {:>20}", "1.00x");
    }
    line += &format!(
        " {:>9} {:>10} {:>11}",
        "1",
        crate::format::bytes(size),
        money("original")
    );
    s.text_styled(40.0, y, 15.0, MONO, false, "#555", Anchor::Start, &line);
    y += 22.0;
    for v in &study.variants {
        let mut line = format!("{:<22}", cut(&v.name, 22));
        for b in &batches {
            let sp = v
                .speedups
                .iter()
                .find(|x| Some(x.engine) == engine && x.batch_size == *b)
                .map(|x| {
                    format!(
                        "{:.2}x [{:.2}-{:.2}]{}",
                        x.p50_ratio,
                        x.ci.lo,
                        x.ci.hi,
                        if x.significant { " " } else { "*" }
                    )
                })
                .unwrap_or_else(|| "-".into());
            line += &format!(" {sp:>20}");
        }
        let fid = v
            .fidelity
            .as_ref()
            .map(|f| format!("{:.4}", f.score()))
            .unwrap_or_else(|| "-".into());
        let saving = match (cost_of(&v.name), original_cost) {
            (Some(c), Some(o)) => c.saving_over(o).unwrap_or_default(),
            _ => String::new(),
        };
        line += &format!(
            " {:>9} {:>10} {:>11}  {}",
            fid,
            if v.error.is_some() {
                "-".into()
            } else {
                crate::format::bytes(v.file_size_bytes)
            },
            money(&v.name),
            saving
        );
        s.text_styled(
            40.0,
            y,
            15.0,
            MONO,
            false,
            &variant_color(study, &v.name),
            Anchor::Start,
            &line,
        );
        y += 22.0;
    }
    y += 6.0;
    for v in &study.variants {
        let verdict = verdict::verdict(v, size);
        let lines = svg::wrap(&format!("{}: {}", v.name, verdict.text), 150);
        for l in lines.iter().take(2) {
            s.text_styled(
                40.0,
                y,
                15.0,
                SANS,
                false,
                kind_color(verdict.kind),
                Anchor::Start,
                l,
            );
            y += 20.0;
        }
    }
    s.text_styled(
        40.0,
        y + 2.0,
        12.0,
        SANS,
        false,
        "#777",
        Anchor::Start,
        "* not significant (the 95% interval holds 1). Fidelity: top-1 agreement for class scores, else cosine similarity. Details, charts and the files to rerun the study are in the PDF.",
    );
    y += 14.0;
    // Two charts at PDF scale: speedups with intervals, and latency against fidelity.
    let chart_y = y + 12.0;
    let h = PNG_H - chart_y - 24.0;
    if h > 120.0 {
        let scale = 2.0;
        let (w2, h2) = ((PNG_W - 100.0) / 2.0 / scale, h / scale);
        let mut a = Svg::new(w2, h2);
        speedup_chart(&mut a, (0.0, 0.0, w2, h2), study);
        let mut b = Svg::new(w2, h2);
        pareto_chart(&mut b, (0.0, 0.0, w2, h2), study);
        s.embed(a, 40.0, chart_y, scale);
        s.embed(b, 60.0 + w2 * scale, chart_y, scale);
    }
    s.finish()
}
