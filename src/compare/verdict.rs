//! One line per variant that says what a reviewer needs: is it faster (significantly, at which
//! batch sizes), is it faithful (by the measure that fits the output), is it smaller, and so
//! should it be used. The command line, the Compare tab and the report print the same line.

use super::VariantReport;

/// A variant is faithful when its fidelity score (top-1 agreement for class scores, else
/// cosine similarity) is at least this, and no labelled accuracy dropped by more than
/// [`ACCURACY_DROP`].
pub const FAITHFUL: f64 = 0.99;
/// The largest drop in accuracy against the data's labels still called faithful (a share).
pub const ACCURACY_DROP: f64 = 0.005;
/// The smallest shrink of the file worth naming (a share).
const SMALLER: f64 = 0.05;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Faster (or smaller) and faithful: use it.
    Use,
    /// A trade-off to look at: faster but drifts, or mixed across batch sizes.
    Weigh,
    /// Slower or not worth it: keep the original.
    Keep,
    /// Could not be built or measured.
    Broken,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub kind: Kind,
    pub text: String,
}

/// How the variant's latency compares, over its engine x batch runs.
fn speed(v: &VariantReport) -> (Option<bool>, String) {
    let s = &v.speedups;
    if s.is_empty() {
        return (None, "not timed".into());
    }
    let at = |f: &dyn Fn(&super::Speedup) -> bool| -> Vec<&super::Speedup> {
        s.iter().filter(|x| f(x)).collect()
    };
    let faster = at(&|x| x.significant && x.p50_ratio > 1.0);
    let slower = at(&|x| x.significant && x.p50_ratio < 1.0);
    let range = |xs: &[&super::Speedup]| {
        let lo = xs.iter().map(|x| x.p50_ratio).fold(f64::INFINITY, f64::min);
        let hi = xs.iter().map(|x| x.p50_ratio).fold(0.0, f64::max);
        if (hi - lo) < 0.005 {
            format!("{lo:.2}x")
        } else {
            format!("{lo:.2}x-{hi:.2}x")
        }
    };
    // Where: `batch 1, 32`, or per engine when the comparison ran on more than one.
    let many_engines = s.iter().any(|x| x.engine != s[0].engine);
    let batches = |xs: &[&super::Speedup]| {
        let mut engines: Vec<crate::engine::EngineKind> = xs.iter().map(|x| x.engine).collect();
        engines.sort();
        engines.dedup();
        engines
            .iter()
            .map(|e| {
                let mut b: Vec<usize> = xs
                    .iter()
                    .filter(|x| x.engine == *e)
                    .map(|x| x.batch_size)
                    .collect();
                b.sort_unstable();
                b.dedup();
                let list = b
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                if many_engines {
                    format!("{} batch {list}", e.label())
                } else {
                    format!("batch {list}")
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match (faster.len(), slower.len()) {
        (f, 0) if f == s.len() => (Some(true), format!("faster ({})", range(&faster))),
        (0, n) if n == s.len() => (Some(false), format!("slower ({})", range(&slower))),
        (0, 0) => (None, "not significantly faster".into()),
        (f, 0) if f > 0 => (
            Some(true),
            format!(
                "faster at {} ({}), not significantly otherwise",
                batches(&faster),
                range(&faster)
            ),
        ),
        (0, _) => (
            Some(false),
            format!(
                "slower at {} ({}), not significantly otherwise",
                batches(&slower),
                range(&slower)
            ),
        ),
        _ => (
            None,
            format!(
                "faster at {} ({}) but slower at {} ({})",
                batches(&faster),
                range(&faster),
                batches(&slower),
                range(&slower)
            ),
        ),
    }
}

/// Whether the variant is faithful, and the measure that says so.
fn fidelity(v: &VariantReport) -> (Option<bool>, String) {
    let Some(f) = &v.fidelity else {
        return (None, "fidelity not measured".into());
    };
    // Accuracy against labels, when the data has them, is what a reviewer reads first.
    let drops: Vec<(f64, f64)> = f
        .outputs
        .iter()
        .filter_map(|o| Some((o.accuracy_original?, o.accuracy?)))
        .collect();
    let score = f.score();
    let measure = if f.outputs.iter().any(|o| o.top1_agreement.is_some()) {
        let per = if f.outputs.iter().any(|o| o.top1_positions.is_some()) {
            " per position"
        } else {
            ""
        };
        format!("top-1 agreement{per} {:.1}%", score * 100.0)
    } else {
        format!("cosine {score:.4}")
    };
    let worst = drops
        .iter()
        .copied()
        .max_by(|a, b| (a.0 - a.1).total_cmp(&(b.0 - b.1)));
    let accuracy_ok = worst.is_none_or(|(a0, a)| a0 - a <= ACCURACY_DROP);
    let ok = score >= FAITHFUL && accuracy_ok;
    let text = match worst {
        Some((a0, a)) if !accuracy_ok => {
            format!("accuracy {:.1}% -> {:.1}%", a0 * 100.0, a * 100.0)
        }
        _ => measure,
    };
    (Some(ok), text)
}

/// The variant's verdict; `original_size` is the original model's file size in bytes.
pub fn verdict(v: &VariantReport, original_size: u64) -> Verdict {
    if let Some(e) = &v.error {
        return Verdict {
            kind: Kind::Broken,
            text: format!("not built: {e}"),
        };
    }
    let (fast, speed_text) = speed(v);
    let (faithful, fid_text) = fidelity(v);
    let shrink = if original_size > 0 {
        1.0 - v.file_size_bytes as f64 / original_size as f64
    } else {
        0.0
    };
    let size_text = (shrink >= SMALLER).then(|| format!("{:.0}% smaller", shrink * 100.0));
    let with_size = |s: String| match &size_text {
        Some(z) => format!("{s}, {z}"),
        None => s,
    };
    let (kind, text) = match (fast, faithful) {
        (_, None) => (
            Kind::Weigh,
            format!("{speed_text}; {fid_text}: check its outputs before using it"),
        ),
        (Some(true), Some(true)) => (
            Kind::Use,
            with_size(format!("{speed_text} and faithful ({fid_text}): use it")),
        ),
        (Some(true), Some(false)) => (
            Kind::Weigh,
            with_size(format!(
                "{speed_text} but {fid_text}: check the accuracy before using it"
            )),
        ),
        (None, Some(true)) if speed_text.starts_with("faster at") => (
            Kind::Weigh,
            with_size(format!(
                "{speed_text}; faithful ({fid_text}): use it where it is faster"
            )),
        ),
        (None, Some(true)) if size_text.is_some() => (
            Kind::Weigh,
            format!(
                "{speed_text}; {} and faithful ({fid_text}): use it where size matters",
                size_text.clone().unwrap_or_default()
            ),
        ),
        (None, Some(true)) => (
            Kind::Keep,
            format!("{speed_text}, faithful ({fid_text}): keep the original"),
        ),
        (None, Some(false)) => (
            Kind::Keep,
            with_size(format!("{speed_text} and {fid_text}: keep the original")),
        ),
        (Some(false), Some(ok)) => (
            Kind::Keep,
            with_size(format!(
                "{speed_text}{} ({fid_text}): keep the original",
                if ok {
                    " though faithful"
                } else {
                    " and drifts"
                }
            )),
        ),
    };
    Verdict { kind, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::Interval;
    use crate::compare::fidelity::{Fidelity, OutputFidelity};
    use crate::compare::Speedup;
    use crate::engine::EngineKind;

    fn variant(ratios: &[(usize, f64, bool)], cosine: f64, top1: Option<f64>) -> VariantReport {
        VariantReport {
            name: "int8".into(),
            description: String::new(),
            file_size_bytes: 500,
            sha256: String::new(),
            coverage: None,
            fidelity: Some(Fidelity {
                engine: EngineKind::Tract,
                samples: 100,
                outputs: vec![OutputFidelity {
                    name: "y".into(),
                    max_abs_err: 0.0,
                    mean_abs_err: 0.0,
                    cosine,
                    top1_agreement: top1,
                    top1_positions: None,
                    accuracy: None,
                    accuracy_original: None,
                    f1: None,
                    f1_original: None,
                    note: None,
                }],
                layers: Vec::new(),
                layers_note: None,
            }),
            fidelity_error: None,
            speedups: ratios
                .iter()
                .map(|&(b, r, sig)| Speedup {
                    engine: EngineKind::Ort,
                    batch_size: b,
                    p50_ratio: r,
                    ci: Interval {
                        lo: r * 0.95,
                        hi: r * 1.05,
                    },
                    significant: sig,
                })
                .collect(),
            error: None,
        }
    }

    #[test]
    fn verdicts_say_what_a_reviewer_needs() {
        let v = verdict(
            &variant(&[(1, 1.7, true), (32, 1.5, true)], 0.9999, None),
            1000,
        );
        assert_eq!(v.kind, Kind::Use);
        assert_eq!(
            v.text,
            "faster (1.50x-1.70x) and faithful (cosine 0.9999): use it, 50% smaller"
        );
        let v = verdict(&variant(&[(1, 1.4, true)], 0.99, Some(0.904)), 1000);
        assert_eq!(v.kind, Kind::Weigh);
        assert!(
            v.text
                .starts_with("faster (1.40x) but top-1 agreement 90.4%"),
            "{}",
            v.text
        );
        let v = verdict(&variant(&[(1, 1.01, false)], 1.0, None), 500);
        assert_eq!(v.kind, Kind::Keep);
        assert!(v.text.starts_with("not significantly faster"), "{}", v.text);
        let v = verdict(&variant(&[(1, 1.01, false)], 1.0, None), 1000);
        assert_eq!(v.kind, Kind::Weigh, "smaller and faithful: {}", v.text);
        let v = verdict(&variant(&[(1, 0.6, true)], 1.0, None), 1000);
        assert_eq!(v.kind, Kind::Keep);
        assert!(v.text.starts_with("slower (0.60x)"), "{}", v.text);
        let v = verdict(&variant(&[(1, 1.3, true), (32, 0.8, true)], 1.0, None), 500);
        assert_eq!(v.kind, Kind::Weigh);
        assert!(
            v.text
                .contains("faster at batch 1 (1.30x) but slower at batch 32 (0.80x)"),
            "{}",
            v.text
        );
        let mut broken = variant(&[], 1.0, None);
        broken.error = Some("no weights".into());
        assert_eq!(verdict(&broken, 1000).kind, Kind::Broken);
    }

    #[test]
    fn a_labelled_accuracy_drop_is_named() {
        let mut v = variant(&[(1, 1.4, true)], 0.999, Some(0.95));
        let o = &mut v.fidelity.as_mut().unwrap().outputs[0];
        o.accuracy = Some(0.904);
        o.accuracy_original = Some(0.985);
        let out = verdict(&v, 1000);
        assert_eq!(out.kind, Kind::Weigh);
        assert!(out.text.contains("accuracy 98.5% -> 90.4%"), "{}", out.text);
    }
}
