//! Reports: a study's results as a PDF (vector charts, selectable text) and a one-page PNG
//! summary. Pages are written as SVG, then drawn into the PDF by krilla-svg (text stays text)
//! and rasterized for the PNG by resvg, so both show the same thing.
//!
//! A study is what `bench --json` and `cost --json` write; sections whose results are missing
//! say so instead of disappearing.

pub mod doc;
pub mod svg;

use crate::bench::checklist::{self, Status};
use crate::bench::{Plan, RunResult, Warmup};
use crate::cost::plan::CostCurves;
use crate::environment::Environment;
use crate::model::ModelInfo;
use anyhow::{Context, Result};
pub use doc::{BenchDoc, CostDoc, Document};
use std::path::Path;
use std::sync::Arc;
use svg::{line_chart, Anchor, Axis, Rule, Series, Svg, MONO, PALETTE, SANS};

/// Everything a report can show; each part is optional.
#[derive(Clone, Debug, Default)]
pub struct Study {
    pub model: Option<ModelInfo>,
    pub environment: Option<Environment>,
    pub data: Option<String>,
    pub plan: Option<Plan>,
    pub runs: Vec<RunResult>,
    pub failures: Vec<String>,
    pub cost: Option<CostDoc>,
    /// Variants from `compare --json`: fidelity, speedups, what each rewrite did.
    pub variants: Vec<crate::compare::VariantReport>,
    /// The interleaved runs of the comparison (the original and its variants).
    pub compare_runs: Vec<RunResult>,
    pub importance: Option<crate::compare::fidelity::Importance>,
    /// The latency target the checklist judges p95 at batch 1 against, ms.
    pub latency_target_ms: f64,
}

impl Study {
    /// Reads results files (`bench --json`, `compare --json`, `cost --json`) into one study.
    pub fn from_files(paths: &[impl AsRef<Path>]) -> Result<Study> {
        let mut s = Study {
            latency_target_ms: crate::cost::plan::CostInputs::default().latency_target_ms,
            ..Study::default()
        };
        for p in paths {
            s.add(Document::read(p.as_ref())?);
        }
        Ok(s)
    }

    /// Adds one results document.
    pub fn add(&mut self, doc: Document) {
        match doc {
            Document::Bench(d) => {
                let d = *d;
                if !d.variants.is_empty() {
                    self.variants = d.variants;
                    self.compare_runs = d.runs.clone();
                }
                self.runs.extend(d.runs);
                self.model = d.model.or(self.model.take());
                self.environment = d.environment.or(self.environment.take());
                if !d.data.is_empty() {
                    self.data = Some(d.data);
                }
                self.plan = d.plan.or(self.plan.take());
                self.importance = d.importance.or(self.importance.take());
                self.failures.extend(d.failures);
            }
            Document::Cost(c) => {
                self.latency_target_ms = c.inputs.latency_target_ms;
                self.cost = Some(*c);
            }
        }
    }

    fn model_name(&self) -> String {
        self.model
            .as_ref()
            .map(|m| m.name.clone())
            .or_else(|| self.runs.first().map(|r| r.model_name.clone()))
            .unwrap_or_else(|| "model".into())
    }
}

/// Fonts for SVG text: Ubuntu Light as sans-serif and Hack as monospace, the fonts the window
/// ships, so reports look the same everywhere and need no system fonts.
fn svg_options() -> usvg::Options<'static> {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(epaint_default_fonts::UBUNTU_LIGHT.to_vec());
    db.load_font_data(epaint_default_fonts::HACK_REGULAR.to_vec());
    let family = |mono: bool| {
        db.faces()
            .find(|f| f.monospaced == mono)
            .and_then(|f| f.families.first().map(|(n, _)| n.clone()))
    };
    let (sans, mono) = (family(false), family(true));
    if let Some(s) = sans {
        db.set_sans_serif_family(s);
    }
    if let Some(m) = mono {
        db.set_monospace_family(m);
    }
    usvg::Options {
        fontdb: Arc::new(db),
        font_family: SANS.into(),
        ..usvg::Options::default()
    }
}

fn tree(svg_text: &str, opts: &usvg::Options) -> Result<usvg::Tree> {
    usvg::Tree::from_str(svg_text, opts).context("internal error: a report page is not valid SVG")
}

/// The report as PDF bytes.
pub fn pdf(study: &Study) -> Result<Vec<u8>> {
    let opts = svg_options();
    let mut doc = krilla::Document::new();
    doc.set_metadata(
        krilla::metadata::Metadata::new()
            .title(format!("Inferscope report: {}", study.model_name()))
            .creator(format!("Inferscope {}", env!("CARGO_PKG_VERSION"))),
    );
    for page in pages(study) {
        let t = tree(&page, &opts)?;
        let size =
            krilla::geom::Size::from_wh(PAGE_W as f32, PAGE_H as f32).context("page size")?;
        let mut p = doc.start_page_with(
            krilla::page::PageSettings::from_wh(PAGE_W as f32, PAGE_H as f32)
                .context("page size")?,
        );
        let mut surface = p.surface();
        krilla_svg::SurfaceExt::draw_svg(
            &mut surface,
            &t,
            size,
            krilla_svg::SvgSettings::default(),
        )
        .context("could not draw a report page")?;
        surface.finish();
        p.finish();
    }
    doc.finish()
        .map_err(|e| anyhow::anyhow!("could not write the PDF: {e:?}"))
}

/// The one-page summary as PNG bytes, `PNG_W` x `PNG_H` pixels.
pub fn png(study: &Study) -> Result<Vec<u8>> {
    let opts = svg_options();
    let t = tree(&summary(study), &opts)?;
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(PNG_W as u32, PNG_H as u32).context("image size")?;
    resvg::render(
        &t,
        resvg::tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("could not encode the PNG")
}

pub const PAGE_W: f64 = 595.0;
pub const PAGE_H: f64 = 842.0;
pub const PNG_W: f64 = 1600.0;
pub const PNG_H: f64 = 900.0;
const MARGIN: f64 = 40.0;

/// Lays out pages top to bottom, starting a new one when a block does not fit.
struct Pages {
    done: Vec<String>,
    cur: Svg,
    y: f64,
    title: String,
}

impl Pages {
    fn new(title: String) -> Pages {
        Pages {
            done: Vec::new(),
            cur: Svg::new(PAGE_W, PAGE_H),
            y: MARGIN,
            title,
        }
    }

    fn ensure(&mut self, height: f64) {
        if self.y + height > PAGE_H - MARGIN {
            self.break_page();
        }
    }

    fn break_page(&mut self) {
        let n = self.done.len() + 1;
        let mut page = std::mem::replace(&mut self.cur, Svg::new(PAGE_W, PAGE_H));
        page.text_styled(
            MARGIN,
            PAGE_H - 20.0,
            7.0,
            SANS,
            false,
            "#888",
            Anchor::Start,
            &self.title,
        );
        page.text_styled(
            PAGE_W - MARGIN,
            PAGE_H - 20.0,
            7.0,
            SANS,
            false,
            "#888",
            Anchor::End,
            &format!("page {n}"),
        );
        self.done.push(page.finish());
        self.y = MARGIN;
    }

    fn heading(&mut self, s: &str) {
        self.ensure(40.0);
        self.y += 8.0;
        self.cur.text_styled(
            MARGIN,
            self.y + 12.0,
            13.0,
            SANS,
            true,
            "#111",
            Anchor::Start,
            s,
        );
        self.y += 20.0;
    }

    fn para(&mut self, s: &str, size: f64, color: &str) {
        let lines = svg::wrap(s, ((PAGE_W - 2.0 * MARGIN) / (size * 0.5)) as usize).len();
        self.ensure(lines as f64 * size * 1.35 + 2.0);
        self.y = self
            .cur
            .paragraph(MARGIN, self.y + size, PAGE_W - 2.0 * MARGIN, size, color, s)
            - size
            + 2.0;
    }

    /// Label: value rows.
    fn facts(&mut self, rows: &[(String, String)]) {
        for (k, v) in rows {
            let lines = svg::wrap(v, 88);
            self.ensure(lines.len() as f64 * 11.0);
            self.cur.text_styled(
                MARGIN,
                self.y + 9.0,
                8.0,
                SANS,
                true,
                "#333",
                Anchor::Start,
                k,
            );
            for (i, l) in lines.iter().enumerate() {
                self.cur.text_styled(
                    MARGIN + 110.0,
                    self.y + 9.0 + i as f64 * 10.5,
                    8.0,
                    SANS,
                    false,
                    "#222",
                    Anchor::Start,
                    l,
                );
            }
            self.y += lines.len().max(1) as f64 * 10.5 + 1.0;
        }
    }

    /// A monospaced table: header, then rows.
    fn table(&mut self, header: &str, rows: &[(String, Option<String>)], size: f64) {
        self.ensure(size * 3.0);
        self.cur.text_styled(
            MARGIN,
            self.y + size,
            size,
            MONO,
            true,
            "#111",
            Anchor::Start,
            header,
        );
        self.y += size * 1.5;
        for (row, color) in rows {
            self.ensure(size * 1.4);
            self.cur.text_styled(
                MARGIN,
                self.y + size,
                size,
                MONO,
                false,
                color.as_deref().unwrap_or("#222"),
                Anchor::Start,
                row,
            );
            self.y += size * 1.35;
        }
        self.y += 4.0;
    }

    fn chart(&mut self, height: f64, draw: impl FnOnce(&mut Svg, (f64, f64, f64, f64))) {
        self.ensure(height);
        draw(
            &mut self.cur,
            (MARGIN, self.y, PAGE_W - 2.0 * MARGIN, height),
        );
        self.y += height + 6.0;
    }

    fn finish(mut self) -> Vec<String> {
        self.break_page();
        self.done
    }
}

/// CDF of each run from its stored quantiles (log ms against percent).
fn cdf_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), runs: &[RunResult], title: &str) {
    let series: Vec<Series> = runs
        .iter()
        .filter(|r| r.latency_quantiles_ms.len() > 1)
        .take(8)
        .enumerate()
        .map(|(i, r)| {
            let n = r.latency_quantiles_ms.len() - 1;
            Series {
                name: format!("{} b{}", r.engine.label(), r.batch_size),
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
fn throughput_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), runs: &[RunResult]) {
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
fn cost_chart(svg: &mut Svg, rect: (f64, f64, f64, f64), c: &CostDoc, curves: &CostCurves) {
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
        (
            "Threads".into(),
            format!(
                "intra-op {}, inter-op {}; ONNX Runtime graph optimization {:?}{}",
                p.engine_options
                    .intra_threads
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "default".into()),
                p.engine_options
                    .inter_threads
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "default".into()),
                p.engine_options.opt_level,
                p.engine_options
                    .execution_provider
                    .as_ref()
                    .map(|e| format!(", {e}"))
                    .unwrap_or_default()
            ),
        ),
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
        for item in checklist::evaluate(&refs, study.latency_target_ms, study.importance.as_ref()) {
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

    p.heading("Variants");
    if study.variants.is_empty() {
        p.para("Not part of this study: compare optimized variants (int8, pruning, fp16, fewer trees, another model) with `inferscope compare MODEL --variant ... --json FILE` and pass the file to the report.", 8.5, "#a05a00");
    } else {
        p.para("Each variant was benchmarked with the original's settings, interleaved in rounds (A B A B ...) so that drift of the machine hits all alike. Speedup is the original's p50 over the variant's, with a 95% bootstrap interval; fidelity is the lowest top-1 agreement (classifiers) or cosine similarity of the outputs on the sample data.", 8.0, "#333");
        let original_size = study.model.as_ref().map(|m| m.file_size_bytes).unwrap_or(0);
        let rows = crate::compare::table::rows(&study.compare_runs, &study.variants, original_size);
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
        None => p.para("Not part of this study: run `inferscope cost --json FILE` (with --results from a benchmark) and pass the file to the report.", 8.5, "#a05a00"),
        Some(c) => {
            p.para(&format!("Service time from {}; {} requests a month, peak x{}, {} target {:.0} ms, budget ${:.0}.",
                c.service_source, crate::format::count_short(c.inputs.monthly_requests), c.inputs.peak_factor, c.inputs.percentile.label(), c.inputs.latency_target_ms, c.inputs.budget_usd), 8.0, "#333");
            let header = format!("{:<11} {:>5} {:>11} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9}  {}", "tier", "inst", "compute $", "storage $", "network $", "total $/mo", "$/1k req", "p95 ms", "p99 ms", "status");
            let ms = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "sat.".into());
            let rows: Vec<(String, Option<String>)> = c.tiers.iter().map(|t| {
                let status = match (t.feasible, t.within_budget) { (true, true) => "ok", (true, false) => "over budget", (false, _) => "misses target" };
                (format!("{:<11} {:>5} {:>11.2} {:>9.2} {:>9.2} {:>11.2} {:>9.4} {:>9} {:>9}  {}", t.cost.tier.label(), t.cost.instances, t.cost.compute_cost, t.cost.storage_cost, t.cost.network_cost, t.cost.total_cost, t.cost.cost_per_1k_requests, ms(t.predicted_p95_ms), ms(t.predicted_p99_ms), status),
                 (!t.feasible).then(|| "#b02020".to_string()))
            }).collect();
            p.table(&header, &rows, 6.2);
            for t in &c.tiers {
                p.para(&format!("{}: {}", t.cost.tier.label(), t.reason), 7.0, "#444");
            }
            p.para(&format!("Recommendation: {}", c.recommendation.explanation), 8.5, "#111");
            if let Some(u) = c.recommendation.runner_up {
                p.para(&format!("Runner-up: {}.", u.label()), 8.0, "#333");
            }
            for (v, t) in &c.recommendation.flips {
                p.para(&format!("At {} requests a month the choice becomes {}.", crate::format::count_short(*v), t.map(|t| t.label()).unwrap_or("no tier")), 8.0, "#333");
            }
            p.para(&format!("Rule of thumb: {}.{}", c.recommendation.rule_of_thumb.label(), c.recommendation.rule_of_thumb_note.as_ref().map(|n| format!(" {n}")).unwrap_or_default()), 8.0, "#333");
            if let Some(curves) = &c.curves {
                let c2 = c.clone();
                let cv = curves.clone();
                p.chart(220.0, |svg, rect| cost_chart(svg, rect, &c2, &cv));
            }
        }
    }

    p.heading("Methods");
    for m in METHODS {
        p.para(m, 8.0, "#333");
        p.y += 3.0;
    }
    p.finish()
}

/// The one-page summary: title, key table, the main charts.
pub fn summary(study: &Study) -> String {
    let mut s = Svg::new(PNG_W, PNG_H);
    let name = study.model_name();
    s.text_styled(
        40.0,
        58.0,
        36.0,
        SANS,
        true,
        "#111",
        Anchor::Start,
        &format!("Inferscope: {name}"),
    );
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
        s.text_styled(
            40.0,
            y + 16.0,
            15.0,
            MONO,
            true,
            "#111",
            Anchor::Start,
            &format!(
                "{:<12} {:>5} {:>9} {:>9} {:>9} {:>11} {:>8}",
                "engine", "batch", "p50 ms", "p95 ms", "p99 ms", "samples/s", "peak MB"
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
                    "{:<12} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>11.1} {:>8.1}",
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
