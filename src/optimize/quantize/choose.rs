//! Static int8 held to a fidelity target, and int8 chosen by measuring: the outputs compared
//! with the float model's, layers returned to float by the harm each does alone, and dynamic
//! and static timed against float on this machine.

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
    /// Batch-1 requests (at most 32): activation ranges, and timing on the first.
    pub requests: Vec<Vec<Tensor>>,
    /// The data as given, all samples in one request, so that a sequence model's state runs
    /// through them as it will: what fidelity is judged on.
    pub check: Vec<Vec<Tensor>>,
    /// The data's labels, one per sample of `check`.
    pub labels: Option<Vec<i64>>,
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
}

/// The float model's outputs on the check data, and the fidelity target measured against
/// them.
pub(crate) struct Judge<'a> {
    model: &'a Model,
    samples: &'a Samples,
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
        Ok(Reading { value, cosine })
    }

    pub(crate) fn meets(&self, r: Reading) -> bool {
        match self.target {
            Target::MinCosine(t) | Target::MinTop1(t) => r.value >= t,
            Target::MaxError(t) | Target::MaxAccuracyDrop(t) => r.value <= t,
        }
    }

    /// How far from the float model's outputs, on the target's measure then on cosine.
    fn harm(&self, r: Reading) -> (f64, f64) {
        let on_target = match self.target {
            Target::MinCosine(_) | Target::MinTop1(_) => 1.0 - r.value,
            Target::MaxError(_) | Target::MaxAccuracyDrop(_) => r.value,
        };
        (on_target, 1.0 - r.cosine)
    }

    /// `the outputs' cosine similarity 0.9952`, for the coverage.
    pub(crate) fn says(&self, r: Reading) -> String {
        match self.target {
            Target::MinCosine(_) => format!("the outputs' cosine similarity {:.4}", r.value),
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

/// Static int8 of `original` with `returned` (layer and table ids) left in float.
fn build_static(
    original: &pb::ModelProto,
    o: &Int8Options,
    ranges: &HashMap<String, (f32, f32)>,
    returned: &[String],
    vnni: bool,
    cov: &mut Coverage,
) -> Result<(pb::ModelProto, Vec<qdq::Layer>, Vec<String>)> {
    let mut p = original.clone();
    let layers = qdq::rewrite(&mut p, o, ranges, returned, vnni, cov)?;
    let skip: Vec<String> = returned.iter().chain(&o.exclude).cloned().collect();
    let tables = extras::tables(&mut p, &skip, cov)?;
    Ok((p, layers, tables))
}

/// How much each layer (or table) alone in int8 moves the outputs, on the first check
/// request.
fn harm_alone(
    judge: &Judge,
    original: &pb::ModelProto,
    o: &Int8Options,
    ranges: &HashMap<String, (f32, f32)>,
    ids: &[String],
    vnni: bool,
) -> Result<HashMap<String, (f64, f64)>> {
    let mut harm = HashMap::new();
    for id in ids {
        let others: Vec<String> = ids.iter().filter(|x| *x != id).cloned().collect();
        let (alone, ..) =
            build_static(original, o, ranges, &others, vnni, &mut Coverage::default())?;
        harm.insert(id.clone(), judge.harm(judge.reading(&alone, 1)?));
    }
    Ok(harm)
}

/// Static int8 (QDQ): activation ranges calibrated on the batch-1 requests, then, while the
/// target does not hold on the sample data as given, layers returned to float, the one that
/// alone in int8 moves the outputs most first (one at a time, then in growing steps).
fn static_layers(
    judge: &Judge,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    cov: &mut Coverage,
) -> Result<()> {
    let requests = &judge.samples.requests;
    let how = o.calibration.unwrap_or_default();
    let opset = default_opset(m);
    if opset < 11 {
        raise_opset(m, 11)?;
        cov.notes.push(format!(
            "ONNX opset {opset} raised to 11; every operator of this model keeps its meaning across those versions"
        ));
    }
    if default_opset(m) < 13 {
        cov.notes.push(format!(
            "opset {} has no per-channel DequantizeLinear: weights have one scale per tensor",
            default_opset(m)
        ));
    }
    if let Some(g) = m.graph.as_mut() {
        let folded = qdq::fold_batchnorm(g);
        if folded > 0 {
            cov.notes.push(format!(
                "{folded} BatchNormalization node(s) folded into the Conv before them (the same function), so that each quantized Conv is the whole layer"
            ));
        }
    }
    let layers = qdq::plan_layers(m, o, &[]).quantized;
    if !layers.iter().any(|l| l.weights) {
        // Nothing with weights to quantize: say what was left and why (the caller then
        // says static int8 does not apply).
        for (id, op, why) in qdq::plan_layers(m, o, &[]).left {
            cov.skip(&id, &op, why);
        }
        return Ok(());
    }
    let mut tensors: Vec<String> = Vec::new();
    for l in &layers {
        for t in l.inputs.iter().chain([&l.out]) {
            if !tensors.contains(t) {
                tensors.push(t.clone());
            }
        }
    }
    let ranges = calibrate::ranges(judge.model, m, &tensors, requests, how)?;
    let vnni = vnni();
    let target = judge.target;
    let original = m.clone();
    let mut returned: Vec<String> = Vec::new();
    let mut ranking: Option<Vec<String>> = None;
    for round in 0.. {
        let mut c = Coverage::default();
        let (candidate, quantized, tables) =
            build_static(&original, o, &ranges, &returned, vnni, &mut c)?;
        if quantized.is_empty() {
            bail!(
                "static int8 calibrated by {} cannot hold {} on this model: with all {} layers returned to float nothing is left to quantize (try another calibration method, ease the target, or use dynamic int8)",
                how.name(),
                target.describe(),
                layers.len()
            );
        }
        check_structure(candidate.graph.as_ref().context("no graph")?)?;
        let reading = judge.reading(&candidate, usize::MAX)?;
        let met = judge.meets(reading);
        if met || round >= 24 {
            c.notes.append(&mut cov.notes);
            c.notes.push(format!(
                "static int8, activations calibrated by {} on {}{}: {} with the float model on the sample data {} the target {target}{}",
                how.name(),
                crate::format::plural(requests.len() as u64, "sample"),
                if vnni { "" } else { "; weights in 7 bits (this CPU has no VNNI)" },
                judge.says(reading),
                if met { "meets" } else { "misses" },
                if returned.is_empty() {
                    String::new()
                } else {
                    format!(
                        " with {} of {} layers returned to float, most harmful first: {}",
                        returned.len(),
                        returned.len() + quantized.len() + tables.len(),
                        returned.join(", ")
                    )
                }
            ));
            *cov = Coverage {
                notes: c.notes,
                changed: c.changed,
                skipped: c.skipped,
                ..std::mem::take(cov)
            };
            *m = candidate;
            return Ok(());
        }
        let order = match &ranking {
            Some(r) => r.clone(),
            None => {
                let ids: Vec<String> = quantized
                    .iter()
                    .map(|l| l.id.clone())
                    .chain(tables)
                    .collect();
                let harm = harm_alone(judge, &original, o, &ranges, &ids, vnni)?;
                let mut r = ids;
                r.sort_by(|a, b| {
                    let (x, y) = (harm[a], harm[b]);
                    y.0.total_cmp(&x.0).then(y.1.total_cmp(&x.1))
                });
                ranking = Some(r.clone());
                r
            }
        };
        // One layer at a time at first, then in growing steps.
        let step = (returned.len() / 2).max(1);
        returned.extend(
            order
                .iter()
                .filter(|id| !returned.contains(id))
                .take(step)
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    unreachable!()
}

/// The CPU multiplies uint8 x int8 without saturating 16-bit pair sums (AVX-512 VNNI).
fn vnni() -> bool {
    crate::environment::cpu_isa()
        .iter()
        .any(|i| i.contains("VNNI"))
}

/// The main graph's LSTMs in int8 (ONNX Runtime's DynamicQuantizeLSTM) where the target
/// still holds and they run faster than in float on this machine (timed interleaved, batch 1);
/// left in float otherwise, with the reason.
fn with_recurrent(judge: &Judge, m: &mut pb::ModelProto, cov: &mut Coverage) -> Result<()> {
    let ids = extras::recurrent_layers(m, Some(cov));
    if ids.is_empty() {
        return Ok(());
    }
    let skip_all = |cov: &mut Coverage, why: &str| {
        for id in &ids {
            cov.skip(id, "LSTM", why.to_string());
        }
    };
    if calibrate::engine_kind() != crate::engine::EngineKind::Ort {
        skip_all(cov, "left in float: int8 LSTM is ONNX Runtime's DynamicQuantizeLSTM, and ONNX Runtime is not here to check and time it");
        return Ok(());
    }
    let mut p = m.clone();
    let mut c = Coverage::default();
    extras::lstms(&mut p, &ids, if vnni() { 127.0 } else { 63.0 }, &mut c)?;
    let r = judge.reading(&p, usize::MAX)?;
    if !judge.meets(r) {
        skip_all(
            cov,
            &format!(
                "left in float: with it in int8 the model holds {}, under the target {}",
                judge.says(r),
                judge.target
            ),
        );
        return Ok(());
    }
    let mut engines = vec![
        calibrate::with_outputs(judge.model, m, &[])?.0,
        calibrate::with_outputs(judge.model, &p, &[])?.0,
    ];
    let p50 = interleaved_p50(&mut engines, &judge.samples.requests[0], 20)?;
    let (before, after) = (
        crate::format::ms(p50[0] / 1e3),
        crate::format::ms(p50[1] / 1e3),
    );
    if p50[1] < p50[0] {
        cov.changed.append(&mut c.changed);
        cov.notes.push(format!(
            "int8 LSTM (DynamicQuantizeLSTM) kept: the model ran {before} with it in float and {after} in int8 (median of 20 interleaved runs at batch 1), {}",
            judge.says(r)
        ));
        *m = p;
    } else {
        skip_all(cov, &format!("left in float: in int8 (DynamicQuantizeLSTM) the model ran {after} against {before} in float here (median of 20 interleaved runs at batch 1)"));
    }
    Ok(())
}

/// Static int8 calibrated on `data` and held to `o.target` (see [`static_layers`]), with the
/// LSTMs in int8 where that pays ([`with_recurrent`]).
pub fn calibrated(
    model: &Model,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    data: &Samples,
    cov: &mut Coverage,
) -> Result<()> {
    calibrate::check_data(&data.requests)?;
    let judge = Judge::new(model, m, data, o.target.unwrap_or_default())?;
    static_layers(&judge, m, o, cov)?;
    if !cov.changed.is_empty() {
        with_recurrent(&judge, m, cov)?;
    }
    Ok(())
}

/// Median time of each engine over `rounds` interleaved runs of `inputs` (after 3 warm-up runs
/// each), microseconds.
fn interleaved_p50(
    engines: &mut [Box<dyn crate::engine::Engine>],
    inputs: &[Tensor],
    rounds: usize,
) -> Result<Vec<f64>> {
    let prepared: Vec<crate::engine::Prepared> = engines
        .iter_mut()
        .map(|e| e.prepare(inputs))
        .collect::<Result<_>>()?;
    let mut times = vec![Vec::with_capacity(rounds); engines.len()];
    for round in 0..rounds + 3 {
        for (k, e) in engines.iter_mut().enumerate() {
            let t = std::time::Instant::now();
            e.run_prepared(&prepared[k])?;
            if round >= 3 {
                times[k].push(t.elapsed().as_secs_f64() * 1e6);
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

/// The mix: convolutions in static int8 (the fast CPU path for them), matrix products in
/// dynamic int8 (their activations quantized per request, no calibrated range to miss).
fn mix(
    judge: &Judge,
    m: &pb::ModelProto,
    o: &Int8Options,
    matmuls: &[String],
    cov: &mut Coverage,
) -> Result<pb::ModelProto> {
    let mut p = m.clone();
    let convs_only = Int8Options {
        calibration: Some(o.calibration.unwrap_or_default()),
        exclude: o.exclude.iter().chain(matmuls).cloned().collect(),
        ..o.clone()
    };
    static_layers(judge, &mut p, &convs_only, cov)?;
    let mut c = Coverage::default();
    dynamic(
        &mut p,
        &Int8Options {
            calibration: None,
            ..o.clone()
        },
        &mut c,
    )?;
    cov.changed.append(&mut c.changed);
    cov.skipped.append(&mut c.skipped);
    let changed: Vec<String> = cov.changed.iter().map(|n| n.node.clone()).collect();
    cov.skipped.retain(|s| !changed.contains(&s.node));
    cov.notes.push(format!(
        "the mix: convolutions in static int8, {} matrix product(s) in dynamic int8",
        matmuls.iter().filter(|id| changed.contains(id)).count()
    ));
    Ok(p)
}

/// The layers of `candidate` (among `ids`) that ran slower than in float, by ONNX Runtime's
/// profile of both on one batch-1 request (30 requests each; a layer's int8 time includes the
/// quantizers of its input): `(layer, us in float, us in int8)`, slowest change first.
fn slower_layers(
    judge: &Judge,
    float: &pb::ModelProto,
    candidate: &pb::ModelProto,
    ids: &[String],
) -> Result<Vec<(String, f64, f64)>> {
    use prost::Message;
    let inputs = &judge.samples.requests[0];
    let options = crate::engine::EngineOptions::default();
    let path = &judge.model.info.path;
    let profile = |p: &pb::ModelProto| -> Result<crate::profile::OpProfile> {
        let m = Model::from_bytes(path, p.encode_to_vec())?;
        crate::profile::pass::one(crate::engine::EngineKind::Ort, &m, &options, inputs, 5, 30)
    };
    let d = crate::profile::diff(
        &profile(float)?,
        &profile(candidate)?,
        "int8",
        &crate::profile::Layers::of(float),
        &[],
    );
    Ok(slower_in(&d.layers, ids))
}

/// The layers among `ids` whose nodes changed and whose time grew by more than 10% (and 2 us),
/// slowest change first.
fn slower_in(
    layers: &[crate::profile::diff::LayerDelta],
    ids: &[String],
) -> Vec<(String, f64, f64)> {
    let mut slow: Vec<(String, f64, f64)> = layers
        .iter()
        .filter(|l| {
            ids.contains(&l.layer) && l.changed() && l.delta_us() > (0.1 * l.us_before()).max(2.0)
        })
        .map(|l| (l.layer.clone(), l.us_before(), l.us_after()))
        .collect();
    slow.sort_by(|a, b| (b.2 - b.1).total_cmp(&(a.2 - a.1)));
    slow
}

/// Per layer: the layers of a form that its profile shows slower in int8 than in float go
/// back to float (the form rebuilt without them, held to the target), and the result is kept
/// if it runs faster than the form it came from.
#[allow(clippy::too_many_arguments)]
fn per_layer(
    judge: &Judge,
    m: &pb::ModelProto,
    o: &Int8Options,
    name: &str,
    matmuls: &[String],
    best: &mut pb::ModelProto,
    cov: &mut Coverage,
) -> Result<()> {
    let ids: Vec<String> = cov
        .changed
        .iter()
        .filter(|c| {
            c.note.starts_with("static int8") || matches!(c.op.as_str(), "Conv" | "MatMul" | "Gemm")
        })
        .map(|c| c.node.clone())
        .collect();
    let slow = slower_layers(judge, m, best, &ids)?;
    if slow.is_empty() {
        return Ok(());
    }
    let slow_ids: Vec<String> = slow.iter().map(|s| s.0.clone()).collect();
    let without = Int8Options {
        exclude: o.exclude.iter().chain(&slow_ids).cloned().collect(),
        ..o.clone()
    };
    let mut c = Coverage::default();
    let mut p = m.clone();
    let built = match name {
        "mix" => mix(judge, m, &without, matmuls, &mut c).map(|q| p = q),
        "dynamic" => dynamic(
            &mut p,
            &Int8Options {
                calibration: None,
                ..without
            },
            &mut c,
        ),
        _ => static_layers(judge, &mut p, &without, &mut c),
    };
    let listed = slow
        .iter()
        .map(|(id, a, b)| format!("{id} ({a:.0} -> {b:.0} us)"))
        .collect::<Vec<_>>()
        .join(", ");
    if let Err(e) = built {
        cov.notes.push(format!(
            "per layer: {} slower in int8 by the profile ({listed}); without them: {e:#}",
            crate::format::plural(slow.len() as u64, "layer")
        ));
        return Ok(());
    }
    // Something must stay int8 (a table will do: it costs no time).
    if c.changed.is_empty() {
        cov.notes.push(format!(
            "per layer: every layer ran slower in int8 by the profile ({listed}): {name} int8 does not pay on this model here"
        ));
        return Ok(());
    }
    let r = judge.reading(&p, usize::MAX)?;
    let mut engines = vec![
        calibrate::with_outputs(judge.model, best, &[])?.0,
        calibrate::with_outputs(judge.model, &p, &[])?.0,
    ];
    let p50 = interleaved_p50(&mut engines, &judge.samples.requests[0], 20)?;
    let (was, now) = (
        crate::format::ms(p50[0] / 1e3),
        crate::format::ms(p50[1] / 1e3),
    );
    if judge.meets(r) && p50[1] < p50[0] {
        for s in c.skipped.iter_mut().filter(|s| slow_ids.contains(&s.node)) {
            if let Some((_, a, b)) = slow.iter().find(|x| x.0 == s.node) {
                s.note = format!(
                    "left in float: slower in int8 on this machine (profiled {a:.0} us in float, {b:.0} us in int8 with its quantizers)"
                );
            }
        }
        c.notes.push(format!(
            "per layer: {} slower in int8 by the profile returned to float ({listed}): the model ran {now} against {was} with them in int8 (median of 20 interleaved runs at batch 1), {}",
            crate::format::plural(slow.len() as u64, "layer"),
            judge.says(r)
        ));
        let mut notes = std::mem::take(&mut cov.notes);
        notes.retain(|n| !n.starts_with("static int8, activations") && !n.starts_with("the mix:"));
        notes.append(&mut c.notes);
        *cov = Coverage {
            notes,
            changed: c.changed,
            skipped: c.skipped,
            ..std::mem::take(cov)
        };
        *best = p;
    } else {
        cov.notes.push(format!(
            "per layer: {} slower in int8 by the profile ({listed}); with them in float the model {}, so they stay int8",
            crate::format::plural(slow.len() as u64, "layer"),
            if judge.meets(r) {
                format!("ran {now} against {was}")
            } else {
                format!("holds {}, under the target", judge.says(r))
            }
        ));
    }
    Ok(())
}

/// int8 chosen by measuring on this machine: dynamic, static and (for a model with both
/// convolutions and matrix products) their mix built, each held to the fidelity target,
/// timed at batch 1 against the float model, interleaved; the fastest of those that hold
/// kept, its LSTMs in int8 where that pays, and the coverage says what was measured and why.
pub fn chosen(
    model: &Model,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    data: &Samples,
    cov: &mut Coverage,
) -> Result<()> {
    calibrate::check_data(&data.requests)?;
    let judge = Judge::new(model, m, data, o.target.unwrap_or_default())?;
    let target = judge.target;
    let mut why_not: Vec<String> = Vec::new();
    let mut candidates: Vec<(&str, pb::ModelProto, Coverage, Reading)> = Vec::new();
    let dynamic_o = Int8Options {
        auto: false,
        calibration: None,
        ..o.clone()
    };
    let static_o = Int8Options {
        auto: false,
        calibration: Some(o.calibration.unwrap_or_default()),
        ..o.clone()
    };
    // Matrix products static int8 would take, when it takes convolutions too.
    let planned = qdq::plan_layers(m, &static_o, &[]).quantized;
    let matmuls: Vec<String> = planned
        .iter()
        .filter(|l| l.weights && l.op != "Conv")
        .map(|l| l.id.clone())
        .collect();
    let has_conv = planned.iter().any(|l| l.weights && l.op == "Conv");
    for name in ["dynamic", "static", "mix"] {
        if name == "mix" && (matmuls.is_empty() || !has_conv) {
            continue;
        }
        let mut p = m.clone();
        let mut c = Coverage::default();
        let built = match name {
            "dynamic" => dynamic(&mut p, &dynamic_o, &mut c),
            "static" => static_layers(&judge, &mut p, &static_o, &mut c),
            _ => mix(&judge, m, &static_o, &matmuls, &mut c).map(|q| p = q),
        };
        match built {
            Ok(()) if c.changed.is_empty() => why_not.push(format!(
                "{name}: {}",
                c.skipped
                    .first()
                    .map(|s| format!("{} ({}): {}", s.node, s.op, s.note))
                    .unwrap_or_else(|| "no layer with constant float weights it quantizes".into())
            )),
            Ok(()) => {
                let r = judge.reading(&p, usize::MAX)?;
                if judge.meets(r) {
                    candidates.push((name, p, c, r));
                } else {
                    why_not.push(format!(
                        "{name}: {} misses the target {target}",
                        judge.says(r)
                    ));
                }
            }
            Err(e) => why_not.push(format!("{name}: {e:#}")),
        }
    }
    if candidates.is_empty() {
        // Nothing changed: the rewrite's caller says "does not apply" with these reasons.
        for w in &why_not {
            let (form, why) = w.split_once(": ").unwrap_or(("int8", w));
            cov.skip(form, "int8", why.to_string());
        }
        return Ok(());
    }
    // Every form refined per layer by its profile before they are compared.
    if calibrate::engine_kind() == crate::engine::EngineKind::Ort {
        for (name, p, c, r) in candidates.iter_mut() {
            per_layer(&judge, m, &static_o, name, &matmuls, p, c)?;
            *r = judge.reading(p, usize::MAX)?;
        }
    }
    let float = calibrate::with_outputs(model, m, &[])?.0;
    let engine_name = float.version();
    let mut engines = vec![float];
    for (_, p, _, _) in &candidates {
        engines.push(calibrate::with_outputs(model, p, &[])?.0);
    }
    let p50 = interleaved_p50(&mut engines, &data.requests[0], 20)?;
    let best = (0..candidates.len())
        .min_by(|&a, &b| p50[a + 1].total_cmp(&p50[b + 1]))
        .unwrap_or(0);
    let measured = candidates
        .iter()
        .enumerate()
        .map(|(k, (name, _, _, r))| {
            format!(
                "{name} {} ({})",
                crate::format::ms(p50[k + 1] / 1e3),
                judge.says(*r)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (name, mut p, mut c, _) = candidates.swap_remove(best);
    let faster = p50[0] / p50[best + 1];
    c.notes.append(&mut cov.notes);
    c.notes.push(format!(
        "int8 chosen by measuring on {engine_name} (median of 20 interleaved runs at batch 1): float {}, {measured}; kept {name}, {}{}",
        crate::format::ms(p50[0] / 1e3),
        if faster >= 1.0 {
            format!("{faster:.2}x the float model's speed")
        } else {
            format!("though at {faster:.2}x it is slower than the float model here")
        },
        if why_not.is_empty() {
            String::new()
        } else {
            format!("; not taken: {}", why_not.join("; "))
        }
    ));
    with_recurrent(&judge, &mut p, &mut c)?;
    *cov = Coverage {
        notes: c.notes,
        changed: c.changed,
        skipped: c.skipped,
        ..std::mem::take(cov)
    };
    *m = p;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::diff::{LayerDelta, NodeRef};

    fn node(name: &str, op: &str, us: f64) -> NodeRef {
        NodeRef {
            name: name.into(),
            op: op.into(),
            us,
            flops: None,
        }
    }

    /// A layer is returned to float only when it is one of ours, its nodes changed and it
    /// got slower by more than the noise floor (10% and 2 us); the slowest change first.
    #[test]
    fn only_quantized_layers_that_got_slower_beyond_noise_are_returned() {
        let layer = |name: &str, before: Vec<NodeRef>, after: Vec<NodeRef>| LayerDelta {
            layer: name.into(),
            ops: "Conv".into(),
            before,
            after,
        };
        let int8 = |us: f64| {
            vec![
                node("q", "QuantizeLinear", us / 2.0),
                node("c", "QLinearConv", us / 2.0),
            ]
        };
        let layers = vec![
            layer("slow", vec![node("a", "Conv", 20.0)], int8(40.0)),
            layer("slower", vec![node("a", "Conv", 20.0)], int8(60.0)),
            layer("faster", vec![node("a", "Conv", 20.0)], int8(10.0)),
            layer("noise", vec![node("a", "Conv", 20.0)], int8(21.5)),
            layer("tiny", vec![node("a", "Conv", 1.0)], int8(2.5)),
            layer(
                "same",
                vec![node("a", "Conv", 20.0)],
                vec![node("a", "Conv", 40.0)],
            ),
            layer("not ours", vec![node("a", "Conv", 20.0)], int8(80.0)),
        ];
        let ids: Vec<String> = ["slow", "slower", "faster", "noise", "tiny", "same"]
            .map(String::from)
            .to_vec();
        let got: Vec<String> = slower_in(&layers, &ids).into_iter().map(|s| s.0).collect();
        assert_eq!(got, ["slower", "slow"]);
    }
}
