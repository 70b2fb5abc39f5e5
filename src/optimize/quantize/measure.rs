//! How a quantized candidate compares with the float model: its outputs on the sample data,
//! measured as the fidelity target says (cosine, top-1, largest error, accuracy), and its
//! speed, timed interleaved with the others on this machine.

use super::*;
use crate::compare::fidelity::{class_outputs, compare_output, OutputFidelity};
use crate::engine::Output;
use crate::model::Model;
use crate::optimize::Target;
use crate::tensor::Tensor;
use anyhow::Context;

/// The fidelity target static and automatic int8 meet by default: cosine similarity of every
/// float output with the float model's, on the sample data.
pub const DEFAULT_MIN_COSINE: f64 = 0.99;

/// The sample data int8 is calibrated, judged and timed on.
pub struct Samples {
    /// Batch-1 requests (at most 32): activation ranges.
    pub requests: Vec<Vec<Tensor>>,
    /// The request choices are timed (and layers profiled) on: at the batch the model will
    /// serve ([`Int8Options::batch`]), else the first of `requests`.
    pub timing: Vec<Tensor>,
    /// The data as given, all samples in one request, so that a sequence model's state runs
    /// through them as it will: what fidelity is judged on.
    pub check: Vec<Vec<Tensor>>,
    /// The data's labels, one per sample of `check`.
    pub labels: Option<Vec<i64>>,
    /// The batch of the timing request: the serving batch, 1, or the model's fixed batch
    /// (`None`: the data as given).
    pub batch: Option<usize>,
    /// The data was synthesized from the model's shapes (no sample data was given): ranges
    /// calibrated on it are guesses, and fidelity judged on it says little.
    pub synthesized: bool,
}

/// One output of a candidate against the float model's.
struct Seen {
    f: OutputFidelity,
    /// The float output's range (max - min) over the data: what `max-error` is a share of.
    range: f64,
    float: bool,
}

/// A candidate on the target's measure, and on cosine, which ranks layers where the
/// target's measure ties (top-1 on a few samples).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reading {
    pub(crate) value: f64,
    pub(crate) cosine: f64,
    /// The lowest top-1 agreement of the outputs holding class scores, if any.
    pub(crate) top1: Option<f64>,
}

/// The float model's outputs on the check data, and the fidelity target measured against
/// them.
pub(crate) struct Judge<'a> {
    pub(super) model: &'a Model,
    pub(super) samples: &'a Samples,
    reference: Vec<Vec<Output>>,
    names: Vec<String>,
    classes: HashMap<String, i64>,
    pub(crate) target: Target,
}

impl<'a> Judge<'a> {
    /// The reference outputs of the float `m`; refuses a target this model or data cannot
    /// measure (top-1 without class scores, accuracy without labels).
    pub(crate) fn new(
        model: &'a Model,
        m: &pb::ModelProto,
        samples: &'a Samples,
        target: Target,
    ) -> Result<Judge<'a>> {
        // The request choices are timed on must run: at a batch other than the data's, an
        // input without a batch axis (a recurrent state, say) may not follow.
        if samples.timing != samples.requests[0] {
            outputs_on(model, m, std::slice::from_ref(&samples.timing)).with_context(|| {
                format!(
                    "int8 cannot be timed at batch {}: {} does not run at that batch on the sample data",
                    samples.batch.unwrap_or(1),
                    model.info.name
                )
            })?;
        }
        let j = Judge {
            model,
            samples,
            reference: outputs_on(model, m, &samples.check)?,
            names: m
                .graph
                .as_ref()
                .map(|g| g.output.iter().map(|o| o.name.clone()).collect())
                .unwrap_or_default(),
            classes: class_outputs(model),
            target,
        };
        let own: Vec<Seen> = j
            .reference
            .iter()
            .take(1)
            .enumerate()
            .flat_map(|(i, r)| j.compare(i, r, r))
            .collect::<Result<_>>()?;
        j.read(&own)?;
        Ok(j)
    }

    fn compare(&self, i: usize, want: &[Output], got: &[Output]) -> Vec<Result<Seen>> {
        let labels = self
            .samples
            .labels
            .as_deref()
            .filter(|_| i == 0 && self.samples.check.len() == 1);
        want.iter()
            .zip(got)
            .enumerate()
            .filter_map(|(k, (a, b))| {
                let (Output::Tensor(a), Output::Tensor(b)) = (a, b) else {
                    return None;
                };
                if a.shape != b.shape {
                    return Some(Err(anyhow::anyhow!(
                        "the int8 model's output {k} has shape {:?}, the float model's {:?}",
                        b.shape,
                        a.shape
                    )));
                }
                let name = self
                    .names
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| format!("output {k}"));
                let float = matches!(
                    a.data,
                    crate::tensor::TensorData::F32(_) | crate::tensor::TensorData::F64(_)
                );
                let v = a.to_f64_vec();
                let (lo, hi) = v
                    .iter()
                    .filter(|x| x.is_finite())
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                        (l.min(x), h.max(x))
                    });
                Some(Ok(Seen {
                    f: compare_output(&name, a, b, labels, self.classes.get(&name).copied()),
                    range: if hi > lo {
                        hi - lo
                    } else {
                        hi.abs().max(f64::MIN_POSITIVE)
                    },
                    float,
                }))
            })
            .collect()
    }

    /// `candidate` against the float model on the first `n` check requests.
    pub(crate) fn reading(&self, candidate: &pb::ModelProto, n: usize) -> Result<Reading> {
        let (mut e, _) = calibrate::with_outputs(self.model, candidate, &[])?;
        let mut seen = Vec::new();
        for (i, (r, want)) in self
            .samples
            .check
            .iter()
            .zip(&self.reference)
            .take(n)
            .enumerate()
        {
            let got = crate::guard::catch("running the int8 model", || e.run(r))?;
            for s in self.compare(i, want, &got) {
                seen.push(s?);
            }
        }
        self.read(&seen)
    }

    fn read(&self, seen: &[Seen]) -> Result<Reading> {
        let floats = || seen.iter().filter(|s| s.float);
        let nan0 = |x: f64| if x.is_nan() { 0.0 } else { x };
        let top1s = || seen.iter().filter_map(|s| s.f.top1_agreement);
        let cosine = if floats().next().is_some() {
            floats().map(|s| nan0(s.f.cosine)).fold(1.0, f64::min)
        } else {
            top1s().fold(1.0, f64::min)
        };
        let value = match self.target {
            Target::MinCosine(_) => cosine,
            Target::MinTop1(_) => {
                if top1s().next().is_none() {
                    bail!(
                        "the target min-top1 needs an output holding class scores (made by Softmax or Sigmoid, read by ArgMax, or named like probabilities or logits); {} has none: use min-cosine or max-error",
                        self.model.info.name
                    );
                }
                top1s().fold(1.0, f64::min)
            }
            Target::MaxError(_) => floats()
                .map(|s| {
                    let e = s.f.max_abs_err / s.range;
                    if e.is_nan() {
                        f64::INFINITY
                    } else {
                        e
                    }
                })
                .fold(0.0, f64::max),
            Target::MaxAccuracyDrop(_) => {
                let drops: Vec<f64> = seen
                    .iter()
                    .filter_map(|s| Some(s.f.accuracy_original? - s.f.accuracy?))
                    .collect();
                if drops.is_empty() {
                    bail!(
                        "the target max-accuracy-drop needs labels with the sample data (an array or column named labels, label, y or target, one per sample) and an output whose top class is a prediction; {} has {}",
                        self.model.info.name,
                        if self.samples.labels.is_some() { "labels but no such output" } else { "no labels" }
                    );
                }
                drops.into_iter().fold(f64::NEG_INFINITY, f64::max)
            }
        };
        let top1 = top1s().reduce(f64::min);
        Ok(Reading {
            value,
            cosine,
            top1,
        })
    }

    /// Whether `r` holds the target. A cosine target also holds outputs of class scores to
    /// the same share of top-1 agreement: a cosine of 0.999 can still flip the top class.
    pub(crate) fn meets(&self, r: Reading) -> bool {
        match self.target {
            Target::MinCosine(t) => r.value >= t && r.top1.is_none_or(|p| p >= t),
            Target::MinTop1(t) => r.value >= t,
            Target::MaxError(t) | Target::MaxAccuracyDrop(t) => r.value <= t,
        }
    }

    /// How far from the float model's outputs, on the target's measure then on cosine.
    pub(super) fn harm(&self, r: Reading) -> (f64, f64) {
        let on_target = match self.target {
            Target::MinCosine(_) => (1.0 - r.value) + (1.0 - r.top1.unwrap_or(1.0)),
            Target::MinTop1(_) => 1.0 - r.value,
            Target::MaxError(_) | Target::MaxAccuracyDrop(_) => r.value,
        };
        (on_target, 1.0 - r.cosine)
    }

    /// `the outputs' cosine similarity 0.9952`, for the coverage.
    pub(crate) fn says(&self, r: Reading) -> String {
        match self.target {
            Target::MinCosine(_) => match r.top1 {
                Some(p) => format!(
                    "the outputs' cosine similarity {:.4}, top-1 agreement {:.2}%",
                    r.value,
                    p * 100.0
                ),
                None => format!("the outputs' cosine similarity {:.4}", r.value),
            },
            Target::MinTop1(_) => format!(
                "top-1 agreement {:.2}% (cosine {:.4})",
                r.value * 100.0,
                r.cosine
            ),
            Target::MaxError(_) => format!(
                "a largest error of {:.2}% of the output's range (cosine {:.4})",
                r.value * 100.0,
                r.cosine
            ),
            Target::MaxAccuracyDrop(_) => format!(
                "accuracy {:.2} points {} the float model's (cosine {:.4})",
                r.value.abs() * 100.0,
                if r.value >= 0.0 { "below" } else { "above" },
                r.cosine
            ),
        }
    }
}

/// The outputs of `m` on each of `requests`.
fn outputs_on(
    model: &Model,
    m: &pb::ModelProto,
    requests: &[Vec<Tensor>],
) -> Result<Vec<Vec<Output>>> {
    let (mut e, _) = calibrate::with_outputs(model, m, &[])?;
    requests.iter().map(|r| e.run(r)).collect()
}

impl Judge<'_> {
    /// How [`Judge::time`] times, for the coverage: `median of 20 runs in 5 interleaved turns at batch 1`
    /// (a run of a microsecond model is a block of requests, each counted once).
    pub(crate) fn timed(&self) -> String {
        format!(
            "median of 20 runs in {TURNS} interleaved turns {}",
            match self.samples.batch {
                Some(b) => format!("at batch {b}"),
                None => "on the sample data as given".into(),
            }
        )
    }

    /// Whether `candidate` runs clearly faster ([`clearly_faster`]) than `incumbent` on the timing
    /// request, confirmed by a second interleaved measurement when the first says so: one
    /// measurement on a shared machine can be off by more than the tie, and must not alone
    /// trade int8 layers for float. The medians of the last measurement, microseconds
    /// (incumbent, candidate).
    pub(crate) fn confirmed_faster(
        &self,
        incumbent: &pb::ModelProto,
        candidate: &pb::ModelProto,
    ) -> Result<(bool, f64, f64)> {
        confirmed(|| {
            let (p50, _) = self.time(&[incumbent, candidate])?;
            Ok((p50[0], p50[1]))
        })
    }

    /// Median time of each model on the timing request (at the serving batch, else batch 1
    /// or the model's fixed batch), over 20 interleaved runs on the engine the target is judged on,
    /// microseconds; and that engine's name and version.
    pub(crate) fn time(&self, models: &[&pb::ModelProto]) -> Result<(Vec<f64>, String)> {
        let mut engines = models
            .iter()
            .map(|m| Ok(calibrate::with_outputs(self.model, m, &[])?.0))
            .collect::<Result<Vec<_>>>()?;
        let name = engines.first().map(|e| e.version()).unwrap_or_default();
        Ok((
            interleaved_p50(&mut engines, &self.samples.timing, 20)?,
            name,
        ))
    }
}

/// [`Judge::confirmed_faster`]'s rule over a measurement of (incumbent, candidate): taken
/// once, and again only when the first finds the candidate clearly faster.
fn confirmed(mut measure: impl FnMut() -> Result<(f64, f64)>) -> Result<(bool, f64, f64)> {
    let (a, b) = measure()?;
    if !clearly_faster(b, a) {
        return Ok((false, a, b));
    }
    let (a, b) = measure()?;
    Ok((clearly_faster(b, a), a, b))
}

/// How much faster a model with more layers in float must run before it is preferred to one
/// with more in int8: within this share the two tie, and the smaller file wins (timings of a
/// few runs on a shared machine move by a few percent).
pub(crate) const TIE: f64 = 0.03;

/// Whether `us` is faster than `than` beyond a tie ([`TIE`]).
pub(crate) fn clearly_faster(us: f64, than: f64) -> bool {
    us < than * (1.0 - TIE)
}

/// Median time of each engine over `runs` runs of `inputs`, microseconds, interleaved in
/// [`TURNS`] turns (after 3 warm-up runs each) as `compare` interleaves: a turn starts once the
/// other sessions' threads are idle (ONNX Runtime's idle workers spin for a while after a run,
/// on the cores the next session needs) and with one unmeasured run. A run of a model that
/// takes microseconds is a block of requests (as many as take about 2 ms, at most 100), timed
/// together and divided: one request alone is within the clock's and the scheduler's noise.
fn interleaved_p50(
    engines: &mut [Box<dyn crate::engine::Engine>],
    inputs: &[Tensor],
    runs: usize,
) -> Result<Vec<f64>> {
    use crate::bench::Clock;
    let clock = crate::bench::RealClock::new();
    let prepared: Vec<crate::engine::Prepared> = engines
        .iter_mut()
        .map(|e| e.prepare(inputs))
        .collect::<Result<_>>()?;
    let mut warm = vec![f64::INFINITY; engines.len()];
    for _ in 0..3 {
        for (k, e) in engines.iter_mut().enumerate() {
            let t = std::time::Instant::now();
            e.run_prepared(&prepared[k])?;
            warm[k] = warm[k].min(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let fastest = warm.iter().copied().fold(f64::INFINITY, f64::min);
    let block = block_size(fastest);
    let per_turn = runs.div_ceil(TURNS).max(1);
    let mut times = vec![Vec::with_capacity(runs); engines.len()];
    for _ in 0..TURNS {
        for (k, e) in engines.iter_mut().enumerate() {
            clock.quiet();
            // One unmeasured block, about the scheduler's turn warm-up of work.
            for _ in 0..block {
                e.run_prepared(&prepared[k])?;
            }
            for _ in 0..per_turn {
                let t = std::time::Instant::now();
                for _ in 0..block {
                    e.run_prepared(&prepared[k])?;
                }
                times[k].push(t.elapsed().as_secs_f64() * 1e6 / block as f64);
            }
        }
    }
    Ok(times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect())
}

/// Turns [`interleaved_p50`] splits its runs into.
const TURNS: usize = 5;

/// Requests per timed run for a model whose fastest warm-up took `us`: about 2 ms of work,
/// 1 to 100.
fn block_size(us: f64) -> usize {
    if us.is_finite() && us > 0.0 {
        (2000.0 / us).ceil().clamp(1.0, 100.0) as usize
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Microsecond models are timed in blocks of about 2 ms; slow ones a request at a time.
    #[test]
    fn fast_models_are_timed_in_blocks() {
        assert_eq!(block_size(10.0), 100);
        assert_eq!(block_size(50.0), 40);
        assert_eq!(block_size(2000.0), 1);
        assert_eq!(block_size(80_000.0), 1);
        assert_eq!(block_size(f64::INFINITY), 1);
    }

    /// A candidate found faster once is timed again, and kept only if faster again; one found
    /// not faster is not timed twice.
    #[test]
    fn a_gain_is_confirmed_by_a_second_measurement() {
        let runs = |seq: Vec<(f64, f64)>| {
            let mut it = seq.into_iter();
            let mut n = 0;
            let r = confirmed(|| {
                n += 1;
                Ok(it.next().unwrap())
            })
            .unwrap();
            (r, n)
        };
        assert_eq!(
            runs(vec![(100.0, 90.0), (100.0, 101.0)]),
            ((false, 100.0, 101.0), 2)
        );
        assert_eq!(
            runs(vec![(100.0, 90.0), (100.0, 95.0)]),
            ((true, 100.0, 95.0), 2)
        );
        assert_eq!(runs(vec![(100.0, 99.0)]), ((false, 100.0, 99.0), 1));
    }

    /// More layers in float are preferred only beyond a tie of 3%: a smaller file wins a tie.
    #[test]
    fn only_a_clear_gain_beats_the_smaller_file() {
        assert!(clearly_faster(96.0, 100.0));
        assert!(!clearly_faster(98.0, 100.0));
        assert!(!clearly_faster(100.0, 100.0));
        assert!(!clearly_faster(104.0, 100.0));
    }
}
