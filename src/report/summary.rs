//! The one-page PNG summary.

use super::charts::{cdf_chart, cost_chart, throughput_chart};
use super::layout::{PNG_H, PNG_W};
use super::svg::{self, Anchor, Svg, MONO, SANS};
use super::Study;
use crate::cost::plan::CostCurves;

/// A PNG card with its title set.
pub(super) fn card(title: &str) -> Svg {
    let mut s = Svg::new(PNG_W, PNG_H);
    s.text_styled(40.0, 58.0, 36.0, SANS, true, "#111", Anchor::Start, title);
    s
}

/// The one-page summary: title, key table, the main charts.
pub fn summary(study: &Study) -> String {
    if !study.variants.is_empty() {
        return super::comparison::card(study);
    }
    if study.runs.is_empty() && study.cost.is_none() {
        if let Some(l) = &study.load {
            return load_card(study, l);
        }
    }
    let name = study.model_name();
    let mut s = card(&format!("Inferscope: {name}"));
    let env = study
        .environment
        .as_ref()
        .map(|e| {
            format!(
                "{}, {} cores; tract {}, ONNX Runtime {}; {}",
                e.cpu_model,
                e.logical_cores,
                e.tract_version,
                e.onnxruntime_version.as_deref().unwrap_or("not found"),
                e.date
            )
        })
        .unwrap_or_default();
    s.text_styled(40.0, 88.0, 16.0, SANS, false, "#555", Anchor::Start, &env);
    let mut y = 120.0;
    if !study.runs.is_empty() {
        // A variant column when any run is of a variant, so the rows can be told apart.
        let variant = crate::bench::table::variant_column(&study.runs, 24);
        s.text_styled(
            40.0,
            y + 16.0,
            15.0,
            MONO,
            true,
            "#111",
            Anchor::Start,
            &format!(
                "{}{:<12} {:>5} {:>9} {:>9} {:>9} {:>11} {:>8}",
                variant("variant"),
                "engine",
                "batch",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "samples/s",
                "peak MB"
            ),
        );
        y += 22.0;
        for r in study.runs.iter().take(8) {
            s.text_styled(
                40.0,
                y + 16.0,
                15.0,
                MONO,
                false,
                "#222",
                Anchor::Start,
                &format!(
                    "{}{:<12} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>11.1} {:>8.1}",
                    variant(&r.variant),
                    r.engine.label(),
                    r.batch_size,
                    r.latency_p50,
                    r.latency_p95,
                    r.latency_p99,
                    r.throughput_rps,
                    r.peak_memory_mb()
                ),
            );
            y += 20.0;
        }
        if study.runs.len() > 8 {
            s.text_styled(
                40.0,
                y + 16.0,
                13.0,
                SANS,
                false,
                "#777",
                Anchor::Start,
                &format!("and {} more runs in the PDF", study.runs.len() - 8),
            );
            y += 20.0;
        }
    }
    if let Some(c) = &study.cost {
        y += 10.0;
        let text = svg::wrap(&format!("Cost: {}", c.recommendation.explanation), 100);
        for l in text.iter().take(3) {
            s.text_styled(40.0, y + 16.0, 15.0, SANS, false, "#111", Anchor::Start, l);
            y += 20.0;
        }
    }
    let chart_y = y.max(330.0) + 10.0;
    let h = PNG_H - chart_y - 30.0;
    if !study.runs.is_empty() {
        // Charts drawn at PDF scale into a scaled group.
        let scale = 2.0;
        let (w2, h2) = ((PNG_W - 100.0) / 2.0 / scale, h / scale);
        let mut a = Svg::new(w2, h2);
        cdf_chart(
            &mut a,
            (0.0, 0.0, w2, h2),
            &study.runs,
            "Latency distribution (CDF)",
        );
        let mut b = Svg::new(w2, h2);
        match &study.cost {
            Some(c) if c.curves.is_some() => cost_chart(
                &mut b,
                (0.0, 0.0, w2, h2),
                c,
                c.curves.as_ref().unwrap_or(&empty_curves()),
            ),
            _ => throughput_chart(&mut b, (0.0, 0.0, w2, h2), &study.runs),
        }
        s.embed(a, 40.0, chart_y, scale);
        s.embed(b, 60.0 + w2 * scale, chart_y, scale);
    } else if let Some(c) = &study.cost {
        if let Some(curves) = &c.curves {
            let scale = 2.0;
            let (w2, h2) = ((PNG_W - 80.0) / scale, h / scale);
            let mut b = Svg::new(w2, h2);
            cost_chart(&mut b, (0.0, 0.0, w2, h2), c, curves);
            s.embed(b, 40.0, chart_y, scale);
        }
    }
    s.finish()
}

fn empty_curves() -> CostCurves {
    CostCurves {
        volumes: Vec::new(),
        tiers: Vec::new(),
        break_evens: Vec::new(),
    }
}

/// The PNG of an open-loop load test: the table of rates against the queue model, and the chart.
fn load_card(study: &Study, l: &super::LoadDoc) -> String {
    let mut s = card(&format!(
        "Inferscope: {} under open-loop load",
        study.model_name()
    ));
    s.text_styled(
        40.0,
        88.0,
        16.0,
        SANS,
        false,
        "#555",
        Anchor::Start,
        &format!(
            "{} on {}, {} arrivals, {:.0} s per rate; latency from each request's scheduled arrival",
            crate::format::plural(l.servers as u64, "server"),
            l.engine_version,
            l.arrivals,
            l.duration_s
        ),
    );
    let (header, lines) = crate::load::table::text(&l.load_runs);
    let mut y = 130.0;
    s.text_styled(40.0, y, 12.0, MONO, true, "#111", Anchor::Start, &header);
    for line in lines.iter().take(12) {
        y += 18.0;
        s.text_styled(40.0, y, 12.0, MONO, false, "#222", Anchor::Start, line);
    }
    if let Some(c) = &l.capacity {
        y += 26.0;
        let text = match c.max_rate {
            Some(r) => format!(
                "Capacity: {r:.1} req/s meets the target of {} ms",
                c.target_ms
            ),
            None => format!(
                "Capacity: no rate measured meets the target of {} ms",
                c.target_ms
            ),
        };
        s.text_styled(40.0, y, 16.0, SANS, true, "#111", Anchor::Start, &text);
    }
    let chart_y = y + 20.0;
    let h = PNG_H - chart_y - 30.0;
    if h > 100.0 && l.load_runs.len() > 1 {
        let scale = 2.0;
        let (w2, h2) = ((PNG_W - 80.0) / scale, h / scale);
        let mut b = Svg::new(w2, h2);
        super::charts::load_chart(&mut b, (0.0, 0.0, w2, h2), &l.load_runs);
        s.embed(b, 40.0, chart_y, scale);
    }
    s.finish()
}
