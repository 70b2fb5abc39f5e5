//! The PDF's sections: the model, the environment, the settings, the results, the variants,
//! the cost and the methods.

use super::charts::{cdf_chart, cost_chart, throughput_chart};
use super::layout::{Pages, MARGIN, PAGE_W};
use super::svg::{Anchor, SANS};
use super::Study;
use crate::bench::checklist::{self, Status};
use crate::bench::{Plan, RunResult, Warmup};
use crate::environment::Environment;
use crate::model::ModelInfo;

fn model_facts(m: &ModelInfo) -> Vec<(String, String)> {
    let specs = |vs: &[crate::model::ValueSpec]| {
        vs.iter()
            .map(|v| format!("{} {}", v.name, v.type_string()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut ops: Vec<(&String, &usize)> = m.op_histogram.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    vec![
        ("Model".into(), m.name.clone()),
        (
            "File".into(),
            format!(
                "{} ({})",
                m.path.display(),
                crate::format::bytes(m.file_size_bytes)
            ),
        ),
        ("sha256".into(), m.sha256.clone()),
        ("Producer".into(), m.producer.clone()),
        (
            "Parameters".into(),
            format!(
                "{} ({})",
                crate::format::count(m.parameter_count),
                crate::format::bytes(m.parameter_bytes)
            ),
        ),
        (
            "FLOPs".into(),
            match m.flops {
                Some(f) => format!("{} per inference {}", crate::format::count(f), m.flops_note),
                None => format!("unknown: {}", m.flops_note),
            },
        ),
        ("Inputs".into(), specs(&m.inputs)),
        ("Outputs".into(), specs(&m.outputs)),
        (
            "Operators".into(),
            ops.iter()
                .take(12)
                .map(|(o, n)| format!("{o} x{n}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]
}

fn env_facts(e: &Environment) -> Vec<(String, String)> {
    vec![
        (
            "CPU".into(),
            format!(
                "{} ({} logical cores{})",
                e.cpu_model,
                e.logical_cores,
                e.physical_cores
                    .map(|p| format!(", {p} physical"))
                    .unwrap_or_default()
            ),
        ),
        ("ISA".into(), e.cpu_isa.join(", ")),
        ("OS".into(), e.os.clone()),
        (
            "Engines".into(),
            format!(
                "tract {}; ONNX Runtime {}",
                e.tract_version,
                match (&e.onnxruntime_version, &e.onnxruntime_problem) {
                    (Some(v), _) => v.clone(),
                    (None, Some(p)) => format!("not found ({p})"),
                    _ => "not found".into(),
                }
            ),
        ),
        ("Inferscope".into(), e.inferscope_version.clone()),
        ("Date".into(), e.date.clone()),
    ]
}

fn plan_facts(p: &Plan, data: Option<&str>) -> Vec<(String, String)> {
    vec![
        (
            "Engines".into(),
            p.engines
                .iter()
                .map(|e| e.label())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "Batch sizes".into(),
            p.batch_sizes
                .iter()
                .map(|b| {
                    b.map(|b| b.to_string())
                        .unwrap_or_else(|| "as given".into())
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "Concurrency".into(),
            format!("{} closed-loop client(s)", p.concurrency),
        ),
        (
            "Warm-up".into(),
            match p.warmup {
                Warmup::Iterations(n) => format!("{n} requests"),
                Warmup::Duration(d) => format!("{:.1} s", d.as_secs_f64()),
            },
        ),
        ("Measurement".into(), p.stop.to_string()),
        ("Threads".into(), p.engine_options.describe()),
        ("Data".into(), data.unwrap_or("not recorded").to_string()),
    ]
}

const METHODS: &[&str] = &[
    "Timing. Each request's latency is the wall time of the engine call alone (a monotonic clock read before and after); inputs are prepared before the clock starts. Warm-up requests run first and are kept out of the statistics.",
    "Percentiles. Latencies go into an HdrHistogram (nanoseconds, 3 significant digits) and a raw buffer; p50, p90, p95, p99 and p99.9 are read from the histogram, so they are within 0.1% of the nearest-rank percentiles of all measured samples (clamped to the exact minimum and maximum); mean and standard deviation are exact. The raw buffer (every sample up to a million, then an even thinning that keeps the arrival order) gives the confidence intervals, the drift check and the plots. Throughput is samples per second: requests per second times the batch size, over the measured span.",
    "Memory. \"mem MB\" is the peak of the process's resident set sampled every 10 ms on its own thread during the run (the curve the window draws); \"peak MB\" is the kernel's own peak (VmHWM) from the start of the model load to the end of the run, which no short spike escapes. The cost planner sizes functions and instances from the kernel's peak.",
    "Confidence intervals. The 95% interval of a percentile q over n samples uses the order statistics at ranks n q +/- 1.96 sqrt(n q (1 - q)) (distribution-free, binomial); it is reported only when both ranks fall inside the sample.",
    "Stop rules. A fixed count; a minimum time and count; or until stable: measurement continues until the 95% interval of p99 is narrower than the chosen share of p99, within a cap on requests and time.",
    "Quality warnings. A coefficient of variation over 25%, a first request much slower than the median, too few samples for the percentile shown (p99 needs about 500), and a median that moves between the first and last fifth of a run are reported next to the run.",
    "Cost model. Instances at peak follow from per-instance throughput at the target utilization; latency percentiles under load come from an M/G/c queueing model over the measured latency distribution (exact Pollaczek-Khinchine for one server, Erlang C scaling for several), checked against a discrete-event simulation in the tests. Serverless adds the cold-start share to the tail.",
];

/// The report's pages as SVG documents.
pub fn pages(study: &Study) -> Vec<String> {
    let name = study.model_name();
    let mut p = Pages::new(format!("Inferscope report: {name}"));
    p.cur.text_styled(
        MARGIN,
        p.y + 20.0,
        20.0,
        SANS,
        true,
        "#111",
        Anchor::Start,
        "Inferscope report",
    );
    p.y += 30.0;
    let date = study
        .environment
        .as_ref()
        .map(|e| e.date.clone())
        .unwrap_or_default();
    p.para(&format!("{name}  {date}"), 10.0, "#444");
    if !study.mismatches.is_empty() {
        p.heading("Check before reading");
        for m in &study.mismatches {
            p.para(m, 8.5, "#b02020");
        }
    }
    if !study.variants.is_empty() {
        super::comparison::section(&mut p, study);
    }

    p.heading("Model");
    match &study.model {
        Some(m) => p.facts(&model_facts(m)),
        None => p.para(
            "Not part of this study: pass the JSON of `inferscope bench` to include the model.",
            8.5,
            "#a05a00",
        ),
    }
    p.heading("Environment");
    match &study.environment {
        Some(e) => p.facts(&env_facts(e)),
        None => p.para("Not recorded.", 8.5, "#a05a00"),
    }
    p.heading("Settings");
    match &study.plan {
        Some(plan) => p.facts(&plan_facts(plan, study.data.as_deref())),
        None => p.para("Not recorded.", 8.5, "#a05a00"),
    }

    p.heading("Results");
    if study.runs.is_empty() {
        p.para("Not part of this study: run `inferscope bench --json` and pass the file to the report.", 8.5, "#a05a00");
    } else {
        let (header, rows) = crate::bench::table::text(&study.runs);
        let rows: Vec<(String, Option<String>)> = rows.into_iter().map(|r| (r, None)).collect();
        p.table(&header, &rows, 5.4);
        let runs = study.runs.clone();
        p.chart(210.0, |svg, rect| {
            cdf_chart(
                svg,
                rect,
                &runs,
                "Latency distribution (CDF; p50/p95/p99 of the first run marked)",
            )
        });
        let batches: std::collections::BTreeSet<usize> =
            runs.iter().map(|r| r.batch_size).collect();
        if batches.len() > 1 {
            p.chart(190.0, |svg, rect| throughput_chart(svg, rect, &runs));
        } else {
            p.para("Throughput against batch size: one batch size was measured; a sweep (for example 1, 8, 32, 64) shows where throughput saturates.", 8.0, "#555");
        }
        p.heading("Measurement quality");
        let mut any = false;
        for r in &study.runs {
            for w in &r.warnings {
                any = true;
                p.para(
                    &format!("{} batch {}: {}", r.engine.label(), r.batch_size, w.message),
                    7.5,
                    "#a05a00",
                );
            }
        }
        if !any {
            p.para(
                "No warnings: every run had a low spread, enough samples and no drift.",
                8.0,
                "#2a7a3a",
            );
        }
        for f in &study.failures {
            p.para(&format!("Failed: {f}"), 7.5, "#b02020");
        }
        p.heading("Production checklist");
        let refs: Vec<&RunResult> = study.runs.iter().collect();
        for item in checklist::evaluate(
            &refs,
            study.latency_target_ms,
            study.importance.as_ref(),
            study.model.as_ref().and_then(|m| m.fixed_batch()),
        ) {
            let (mark, color) = match item.status {
                Status::Pass => ("PASS", "#2a7a3a"),
                Status::Fail => ("FAIL", "#b02020"),
                Status::NotYet => ("NOT YET", "#888"),
            };
            p.ensure(20.0);
            p.cur.text_styled(
                MARGIN,
                p.y + 9.0,
                8.0,
                SANS,
                true,
                color,
                Anchor::Start,
                mark,
            );
            p.cur.text_styled(
                MARGIN + 50.0,
                p.y + 9.0,
                8.0,
                SANS,
                true,
                "#222",
                Anchor::Start,
                &item.title,
            );
            p.y += 11.0;
            let x = MARGIN + 50.0;
            p.ensure(12.0);
            p.y = p
                .cur
                .paragraph(x, p.y + 8.0, PAGE_W - MARGIN - x, 7.5, "#444", &item.detail)
                - 6.0;
        }
    }

    p.heading(if study.variants.is_empty() {
        "Variants"
    } else {
        "Variant details"
    });
    if study.variants.is_empty() {
        p.para("Not part of this study: compare optimized variants (int8, pruning, fp16, fewer trees, another model) with `inferscope compare MODEL --variant ... --json FILE` and pass the file to the report.", 8.5, "#a05a00");
    } else {
        p.para("Each variant was benchmarked with the original's settings, interleaved in rounds (A B A B ...) so that drift of the machine hits all alike; each turn began once the other sessions' threads were idle (ONNX Runtime's idle workers spin for a while after a run, on the cores the next session needs) and with one unmeasured request, so each variant measures what it would alone. Peak MB is each variant's own: the peak resident memory of a process serving only it, measured in a process of its own. The comparison's table is on the first page. Speedup is the original's p50 over the variant's, with a 95% bootstrap interval; fidelity is the lowest top-1 agreement over class-score outputs (made by Softmax, read by ArgMax, or named like logits or probabilities), else the lowest cosine similarity of the outputs, on the sample data; an embedding or a regression is never judged by its argmax.", 8.0, "#333");
        for v in &study.variants {
            p.para(&format!("{}: {}", v.name, v.description), 8.0, "#111");
            for (kind, line) in v.details() {
                use crate::compare::table::DetailKind;
                let (size, color) = match kind {
                    DetailKind::Info => (7.5, "#444"),
                    DetailKind::Note => (7.0, "#a05a00"),
                    DetailKind::Problem => (7.5, "#b02020"),
                };
                p.para(&crate::format::sentence(&line), size, color);
            }
        }
        if let Some(i) = &study.importance {
            p.para(&format!("{}.", i.summary()), 8.0, "#333");
        }
    }

    p.heading("Cost");
    match &study.cost {
        None if study.variant_costs().is_some() => p.para("The comparison's monthly cost per variant (first page) is priced from the study's cost inputs; for every tier in full, with the recommendation, run `inferscope cost --results FILE --json cost.json` and pass cost.json to the report.", 8.5, "#444"),
        None => p.para("Not part of this study: run `inferscope cost --json FILE` (with --results from a benchmark) and pass the file to the report.", 8.5, "#a05a00"),
        Some(c) => {
            p.para(&format!("Service time from {}; {} requests a month, peak x{}, {} target {:.0} ms, budget ${:.0}.",
                c.service_source, crate::format::count_short(c.inputs.monthly_requests), c.inputs.peak_factor, c.inputs.percentile.label(), c.inputs.latency_target_ms, c.inputs.budget_usd), 8.0, "#333");
            let (header, lines) = crate::cost::table::text(&c.tiers);
            let rows: Vec<(String, Option<String>)> = c
                .tiers
                .iter()
                .zip(lines)
                .map(|(t, line)| (line, (!t.feasible).then(|| "#b02020".to_string())))
                .collect();
            p.table(&header, &rows, 6.2);
            for t in &c.tiers {
                p.para(&format!("{}: {}", t.cost.tier.label(), t.reason), 7.0, "#444");
            }
            p.para(&format!("Recommendation: {}", c.recommendation.explanation), 8.5, "#111");
            if let Some(u) = c.recommendation.runner_up {
                p.para(&format!("Runner-up: {}.", u.label()), 8.0, "#333");
            }
            for line in c.recommendation.flip_lines(c.inputs.monthly_requests) {
                p.para(&format!("The choice changes {line}."), 8.0, "#333");
            }
            p.para(&format!("Rule of thumb: {}.{}", c.recommendation.rule_of_thumb.label(), c.recommendation.rule_of_thumb_note.as_ref().map(|n| format!(" {n}")).unwrap_or_default()), 8.0, "#333");
            if let Some(curves) = &c.curves {
                let c2 = c.clone();
                let cv = curves.clone();
                p.chart(220.0, |svg, rect| cost_chart(svg, rect, &c2, &cv));
            }
        }
    }

    if let Some(l) = &study.load {
        p.heading("Under load (open loop)");
        p.para(&format!(
            "{} on {}: {} arrivals, {} rate(s), {} s each. Latency runs from each request's scheduled arrival to its answer, so time spent queued counts; the model columns are the cost planner's queue model (M/G/c over the service times measured in the same run) for the same servers and rate, and err is the model's error against the measurement. replay p95 replays the measured service times, in the order measured, through the same arrivals: measured above it means the servers paused while requests waited; the model below it means slow calls came in runs (r1, the lag-1 autocorrelation of the service times, well above 0), which a model of independent service times misses.",
            crate::format::plural(l.servers as u64, "server"),
            l.engine_version,
            l.arrivals,
            l.load_runs.len(),
            l.duration_s
        ), 8.0, "#333");
        let (header, lines) = crate::load::table::text(&l.load_runs);
        let rows: Vec<(String, Option<String>)> = l
            .load_runs
            .iter()
            .zip(lines)
            .map(|(r, line)| (line, r.not_issued.as_ref().map(|_| "#b02020".to_string())))
            .collect();
        p.table(&header, &rows, 5.0);
        if l.load_runs.len() > 1 {
            let runs = l.load_runs.clone();
            p.chart(200.0, |svg, rect| {
                super::charts::load_chart(svg, rect, &runs)
            });
        }
        if let Some(c) = &l.capacity {
            p.para(
                &match c.max_rate {
                    Some(r) => format!(
                        "Capacity: {r:.1} req/s meets the target of {} ms{}.",
                        c.target_ms,
                        c.failed_at
                            .map(|f| format!(" ({f:.1} req/s does not)"))
                            .unwrap_or_default()
                    ),
                    None => format!(
                        "Capacity: no rate measured meets the target of {} ms.",
                        c.target_ms
                    ),
                },
                8.5,
                "#111",
            );
            p.para(&format!("Rule: {}.", c.rule), 7.5, "#444");
        }
    }

    if let Some(doc) = &study.profile {
        let pr = &doc.profile;
        p.heading("Where the time goes");
        p.para(&format!(
            "{}: {} requests profiled in a pass of their own (profiling slows a run; none of these numbers enter the latency statistics). A request takes {}, of which operators {} ({:.0}%); the rest is the engine's own work.{}",
            pr.engine,
            pr.requests,
            crate::format::ms(pr.request_us / 1e3),
            crate::format::ms(pr.operators_us / 1e3),
            if pr.request_us > 0.0 { pr.operators_us / pr.request_us * 100.0 } else { 0.0 },
            pr.ceilings.as_ref().map(|c| format!(" This machine: {:.1} GFLOP/s and {:.1} GB/s ({}).", c.gflops, c.gbytes_per_s, c.how)).unwrap_or_default()
        ), 8.0, "#333");
        let ops = pr.by_op.clone();
        let n = ops.len().min(16);
        p.chart((n as f64 * 13.0 + 40.0).clamp(80.0, 260.0), |svg, rect| {
            super::charts::op_chart(svg, rect, &ops[..n])
        });
        let (header, rows) = pr.hotspots(20);
        let rows: Vec<(String, Option<String>)> = rows.into_iter().map(|r| (r, None)).collect();
        p.table(&header, &rows, 4.0);
        if let Some(d) = &doc.diff {
            p.heading(&format!(
                "{}: what changed, operator by operator",
                d.variant
            ));
            p.para(
                &format!(
                    "The variant profiled the same way, per request (medians). {}.",
                    d.totals()
                ),
                8.0,
                "#333",
            );
            let (header, rows) = d.ops_table();
            let rows: Vec<(String, Option<String>)> = rows.into_iter().map(|r| (r, None)).collect();
            p.table(&header, &rows, 5.5);
            let layers: Vec<(String, Option<String>)> =
                d.layers_table(12).into_iter().map(|r| (r, None)).collect();
            if !layers.is_empty() {
                p.table(
                    "by layer of the original graph (what each became, node by node)",
                    &layers,
                    5.5,
                );
            }
            if !d.reasons.is_empty() {
                p.para(d.why(), 8.0, "#111");
                for r in &d.reasons {
                    p.para(&format!("- {r}"), 8.0, "#333");
                }
            }
        }
    }

    p.heading("Methods");
    for m in METHODS {
        p.para(m, 8.0, "#333");
        p.y += 3.0;
    }
    p.heading("Files in this report");
    match study.attachments() {
        Ok(files) if !files.is_empty() => {
            p.para("This PDF carries the files to rerun and re-read the study (extract them with your PDF viewer's attachments panel, or pdfdetach -saveall report.pdf):", 8.0, "#333");
            for a in &files {
                p.para(
                    &format!(
                        "{} ({}): {}.",
                        a.name,
                        crate::format::bytes(a.bytes.len() as u64),
                        a.what
                    ),
                    8.0,
                    "#111",
                );
            }
        }
        Ok(_) => p.para(
            "None: this study has no preset or results to attach.",
            8.0,
            "#555",
        ),
        Err(e) => p.para(&format!("Not attached: {e:#}"), 8.0, "#b02020"),
    }
    p.finish()
}
