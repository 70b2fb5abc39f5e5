//! `inferscope load`: open-loop load at one rate, a range of rates, or a search for the highest
//! rate that meets a latency target; each measurement beside the queue model's prediction.

use super::args::{ArrivalsArg, LoadArgs};
use super::bench::setup;
use crate::load::{self, capacity, Arrivals, LoadRun};
use crate::report::{Document, LoadDoc, Study};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Refuses the bench flags that mean nothing under open-loop load.
fn refuse_closed_loop_flags(a: &LoadArgs) -> Result<()> {
    let b = &a.bench;
    if !b.batch.is_empty() && b.batch != [1] {
        bail!("--batch does not apply to load: each request is one sample, as clients send them (`cost` plans serving batches)");
    }
    if b.concurrency.is_some() {
        bail!("--concurrency does not apply to load: requests arrive on their own schedule; --servers sets the engine sessions serving them");
    }
    if b.iterations.is_some()
        || b.until_stable.is_some()
        || b.min_iterations.is_some()
        || b.max_iterations.is_some()
        || b.max_time.is_some()
    {
        bail!("--iterations, --until-stable, --min-iterations, --max-iterations and --max-time do not apply to load: each rate runs for --duration");
    }
    if b.csv.is_some() {
        bail!("load writes --json (and --pdf/--png); it has no CSV");
    }
    if a.servers == 0 || a.servers > 256 {
        bail!("--servers must be between 1 and 256 (got {})", a.servers);
    }
    Ok(())
}

/// The rates a range spells: `10:50:10` is 10, 20, 30, 40, 50.
fn parse_range(s: &str) -> Result<Vec<f64>> {
    let parts: Vec<f64> = s
        .split(':')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            anyhow::anyhow!(
                "--rate-range is A:B:STEP in requests a second, e.g. 10:50:10 (got {s})"
            )
        })?;
    let [a, b, step] = parts[..] else {
        bail!("--rate-range is A:B:STEP in requests a second, e.g. 10:50:10 (got {s})");
    };
    if !(a > 0.0 && b >= a && step > 0.0 && a.is_finite() && b.is_finite()) {
        bail!("--rate-range needs 0 < A <= B and STEP > 0 (got {s})");
    }
    let n = ((b - a) / step + 1e-9).floor() as usize + 1;
    if n > 100 {
        bail!("--rate-range {s} is {n} rates; at most 100");
    }
    Ok((0..n).map(|i| a + i as f64 * step).collect())
}

/// Seconds per rate: `--duration`, else [`load::default_duration`].
fn duration_for(a: &LoadArgs, rate: f64) -> Result<f64> {
    match &a.bench.duration {
        Some(d) => {
            let s = crate::settings::parse_seconds(d)
                .map_err(|e| anyhow::anyhow!("--duration: {e}"))?;
            if s <= 0.0 {
                bail!("--duration must be above 0 s");
            }
            Ok(s)
        }
        None => Ok(load::default_duration(rate)),
    }
}

pub fn run(a: LoadArgs, ort_path: Option<PathBuf>) -> Result<()> {
    refuse_closed_loop_flags(&a)?;
    let target = match (a.target_p99, a.target_p95) {
        (Some(t), _) => Some((0.99, t)),
        (None, Some(t)) => Some((0.95, t)),
        _ => None,
    };
    if let Some((_, t)) = target {
        if !(t.is_finite() && t > 0.0) {
            bail!("the latency target must be a number of ms above 0 (got {t})");
        }
    }
    let rates: Option<Vec<f64>> = match (&a.rate, &a.rate_range, a.find_max_rate) {
        (Some(r), _, _) => {
            if !(r.is_finite() && *r > 0.0) {
                bail!("--rate must be a number of requests a second above 0 (got {r})");
            }
            Some(vec![*r])
        }
        (_, Some(range), _) => Some(parse_range(range)?),
        (_, _, true) => {
            if target.is_none() {
                bail!("--find-max-rate needs the target it searches for: --target-p99 MS (or --target-p95 MS)");
            }
            None
        }
        _ if a.arrivals == ArrivalsArg::Trace => Some(vec![0.0]),
        _ => bail!("say what load to offer: --rate R, --rate-range A:B:STEP, --find-max-rate --target-p99 MS, or --arrivals trace --trace FILE"),
    };
    let arrivals = match (a.arrivals, &a.trace) {
        (ArrivalsArg::Poisson, None) => Arrivals::Poisson,
        (ArrivalsArg::Constant, None) => Arrivals::Constant,
        (ArrivalsArg::Trace, Some(p)) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the trace {}", p.display()))?;
            Arrivals::parse_trace(&text)
                .with_context(|| format!("reading the trace {}", p.display()))?
        }
        (ArrivalsArg::Trace, None) => {
            bail!("--arrivals trace needs --trace FILE (arrival times in seconds, one per line)")
        }
        (_, Some(_)) => bail!("--trace replays recorded arrivals: give it with --arrivals trace"),
    };
    if matches!(arrivals, Arrivals::Trace(_)) && (a.find_max_rate || a.rate_range.is_some()) {
        bail!("a trace brings its own rate: --find-max-rate and --rate-range do not apply to it");
    }
    for p in a
        .bench
        .json
        .iter()
        .chain(a.bench.export.pdf.iter())
        .chain(a.bench.export.png.iter())
    {
        super::check_output(p)?;
    }
    let s = setup(&a.bench, ort_path)?;
    if s.plan.engines.len() != 1 {
        bail!("load runs on one engine: pick --engine ort or --engine tract");
    }
    let warmup = match s.plan.warmup {
        crate::bench::Warmup::Iterations(n) => n,
        crate::bench::Warmup::Duration(_) => 20,
    };
    let mut sv = load::Servers::start(
        &s.model,
        &s.samples,
        s.plan.engines[0],
        &s.plan.engine_options,
        a.servers,
        warmup,
        s.plan.max_distinct_requests,
    )?;
    let estimate = sv.estimate_rps();
    eprintln!(
        "{} x {} {}: about {:.3} ms a request after warm-up, so {} can serve about {:.1} req/s",
        a.servers,
        s.plan.engines[0].label(),
        sv.version,
        sv.service_s * 1e3,
        crate::format::plural(a.servers as u64, "server"),
        estimate
    );
    let cancel = AtomicBool::new(false);
    let seed = a.bench.seed.unwrap_or(1);
    let bound = target.map(|t| t.1);
    let mut durations = Vec::new();
    let mut measure = |rate: f64| -> Result<LoadRun> {
        let d = match &arrivals {
            Arrivals::Trace(t) => t.last().copied().unwrap_or(0.0) + 1e-9,
            _ => duration_for(&a, rate)?,
        };
        durations.push(d);
        eprintln!("offering {rate:.1} req/s for {d:.0} s ...");
        let mut run = sv.run(&arrivals, rate, d, seed, bound, &cancel)?;
        // The bound is the target's percentile, as asked (`--target-p95` or `--target-p99`).
        if let Some((q, _)) = target {
            run.bound_q = q;
        }
        Ok(run)
    };
    let (runs, capacity) = match rates {
        Some(rates) => {
            let mut runs = Vec::new();
            for r in rates {
                runs.push(measure(r)?);
            }
            (runs, None)
        }
        None => {
            let (q, t) = target.expect("checked above");
            let mut runs = Vec::new();
            let mut measure_keep = |rate: f64| -> Result<LoadRun> {
                let r = measure(rate)?;
                runs.push(r.clone());
                Ok(r)
            };
            let c = capacity::find(estimate * 0.7, q, t, &mut measure_keep, &mut |st| {
                eprintln!(
                    "  {:.1} req/s: {} ({})",
                    st.rate,
                    if st.passed { "passes" } else { "fails" },
                    st.why
                )
            })?;
            runs.sort_by(|x, y| x.rate.total_cmp(&y.rate));
            (runs, Some(c))
        }
    };
    let (header, lines) = crate::load::table::text(&runs);
    let mut out = format!("{header}\n{}\n", lines.join("\n"));
    if let Some(c) = &capacity {
        out += &match c.max_rate {
            Some(r) => format!(
                "\nCapacity: {r:.1} req/s meets the target of {} ms{} with {}.\n",
                c.target_ms,
                c.failed_at
                    .map(|f| format!(" ({f:.1} req/s does not)"))
                    .unwrap_or_default(),
                crate::format::plural(a.servers as u64, "server")
            ),
            None => format!(
                "\nCapacity: no rate measured meets the target of {} ms.\n",
                c.target_ms
            ),
        };
        out += &format!("Rule: {}.\n", c.rule);
    }
    super::bench::say(&a.bench, &out);
    let doc = LoadDoc {
        version: crate::report::doc::DOC_VERSION,
        environment: super::bench::document(&s, &[], &[]).environment,
        model: Some(s.model.info.clone()),
        data: s.samples.description.clone(),
        engine: s.plan.engines[0],
        engine_version: sv.version.clone(),
        servers: a.servers,
        arrivals: arrivals.label().into(),
        duration_s: durations.iter().cloned().fold(0.0, f64::max),
        load_runs: runs,
        capacity,
        preset: Some(s.preset.clone()),
    };
    if let Some(p) = &a.bench.json {
        super::write_text(p, &doc.to_json()?)?;
    }
    if a.bench.export.pdf.is_some() || a.bench.export.png.is_some() {
        let mut study = Study::default();
        study.add(Document::Load(Box::new(doc)));
        super::write_export(&a.bench.export, &study)?;
    }
    Ok(())
}
