//! Static int8 held to a fidelity target, and int8 chosen by measuring: the outputs compared
//! with the float model's, layers returned to float by the harm each does alone, and dynamic
//! and static timed against float on this machine.

use super::*;
use anyhow::Context;

/// The fidelity target static int8 meets by default: cosine similarity of every float output
/// with the float model's, over the calibration samples.
pub const DEFAULT_MIN_COSINE: f64 = 0.99;

/// The lowest cosine similarity over the float outputs of `candidate` against `reference`
/// (per output, every request's values end to end); top-1 agreement of integer outputs when
/// there is no float one.
fn output_score(
    model: &crate::model::Model,
    candidate: &pb::ModelProto,
    reference: &[Vec<crate::engine::Output>],
    requests: &[Vec<crate::tensor::Tensor>],
) -> Result<f64> {
    use crate::engine::Output;
    let (mut e, _) = calibrate::with_outputs(model, candidate, &[])?;
    let outputs = reference.first().map_or(0, |r| r.len());
    let mut dot = vec![0f64; outputs];
    let mut na = vec![0f64; outputs];
    let mut nb = vec![0f64; outputs];
    let mut float = vec![false; outputs];
    let (mut same, mut total) = (0usize, 0usize);
    for (r, want) in requests.iter().zip(reference) {
        let got = crate::guard::catch("running the int8 model", || e.run(r))?;
        for (k, (a, b)) in want.iter().zip(&got).enumerate() {
            let (Output::Tensor(a), Output::Tensor(b)) = (a, b) else {
                continue;
            };
            if a.shape != b.shape {
                bail!(
                    "the int8 model's output {k} has shape {:?}, the float model's {:?}",
                    b.shape,
                    a.shape
                );
            }
            let is_float = matches!(
                a.data,
                crate::tensor::TensorData::F32(_) | crate::tensor::TensorData::F64(_)
            );
            let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
            if is_float {
                float[k] = true;
                for (p, q) in x.iter().zip(&y) {
                    dot[k] += p * q;
                    na[k] += p * p;
                    nb[k] += q * q;
                }
            } else {
                same += x.iter().zip(&y).filter(|(p, q)| p == q).count();
                total += x.len();
            }
        }
    }
    let cosines: Vec<f64> = (0..outputs)
        .filter(|&k| float[k])
        .map(|k| {
            if na[k] == 0.0 && nb[k] == 0.0 {
                1.0
            } else {
                dot[k] / (na[k].sqrt() * nb[k].sqrt()).max(f64::MIN_POSITIVE)
            }
        })
        .collect();
    Ok(if cosines.is_empty() {
        same as f64 / total.max(1) as f64
    } else {
        cosines.into_iter().fold(1.0, f64::min)
    })
}

/// The outputs of `m` on each of `requests`.
fn outputs_on(
    model: &crate::model::Model,
    m: &pb::ModelProto,
    requests: &[Vec<crate::tensor::Tensor>],
) -> Result<Vec<Vec<crate::engine::Output>>> {
    let (mut e, _) = calibrate::with_outputs(model, m, &[])?;
    requests.iter().map(|r| e.run(r)).collect()
}

/// How much each layer alone in int8 moves the outputs: 1 - the score of [`output_score`]
/// with only that layer quantized (its input, weight and, where read by other nodes, its
/// output), on at most 4 of the requests.
#[allow(clippy::too_many_arguments)]
fn harm_alone(
    model: &crate::model::Model,
    original: &pb::ModelProto,
    o: &Int8Options,
    ranges: &HashMap<String, (f32, f32)>,
    layers: &[qdq::Layer],
    vnni: bool,
    reference: &[Vec<crate::engine::Output>],
    requests: &[Vec<crate::tensor::Tensor>],
) -> Result<HashMap<String, f64>> {
    let n = requests.len().min(4);
    let all: Vec<String> = layers.iter().map(|l| l.id.clone()).collect();
    let mut harm = HashMap::new();
    for l in layers {
        let others: Vec<String> = all.iter().filter(|id| **id != l.id).cloned().collect();
        let mut alone = original.clone();
        qdq::rewrite(
            &mut alone,
            o,
            ranges,
            &others,
            vnni,
            &mut Coverage::default(),
        )?;
        let score = output_score(model, &alone, &reference[..n], &requests[..n])?;
        harm.insert(l.id.clone(), 1.0 - score);
    }
    Ok(harm)
}

/// Static int8 (QDQ): activation ranges calibrated on `requests` (batch-1 requests of the
/// sample data), then, judged on `check` (the sample data as given, all samples in one
/// request, so that a sequence model's state runs through them as it will), while the
/// outputs' cosine similarity with the float model's is under `o.min_cosine`
/// ([`DEFAULT_MIN_COSINE`] by default), layers returned to float, the one that alone in int8
/// moves the outputs most first (one at a time, then in growing steps).
pub fn calibrated(
    model: &crate::model::Model,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    requests: &[Vec<crate::tensor::Tensor>],
    check: &[Vec<crate::tensor::Tensor>],
    cov: &mut Coverage,
) -> Result<()> {
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
    let ranges = calibrate::ranges(model, m, &tensors, requests, how)?;
    let vnni = crate::environment::cpu_isa()
        .iter()
        .any(|i| i.contains("VNNI"));
    let target = o.min_cosine.unwrap_or(DEFAULT_MIN_COSINE);
    let reference = outputs_on(model, m, check)?;
    let original = m.clone();
    let mut returned: Vec<String> = Vec::new();
    let mut ranking: Option<Vec<String>> = None;
    for round in 0.. {
        let mut candidate = original.clone();
        let mut c = Coverage::default();
        let quantized = qdq::rewrite(&mut candidate, o, &ranges, &returned, vnni, &mut c)?;
        if quantized.is_empty() {
            bail!(
                "static int8 calibrated by {} cannot keep the outputs' cosine similarity at {target} on this model: with all {} layers returned to float nothing is left to quantize (try another calibration method, lower the target with min-cosine, or use dynamic int8)",
                how.name(),
                layers.len()
            );
        }
        check_structure(candidate.graph.as_ref().context("no graph")?)?;
        let score = output_score(model, &candidate, &reference, check)?;
        let met = score >= target;
        if met || round >= 24 {
            c.notes.append(&mut cov.notes);
            c.notes.push(format!(
                "static int8, activations calibrated by {} on {}{}: outputs' cosine similarity {score:.4} with the float model on the sample data {} the target {target}{}",
                how.name(),
                crate::format::plural(requests.len() as u64, "sample"),
                if vnni { "" } else { "; weights in 7 bits (this CPU has no VNNI)" },
                if met { "meets" } else { "misses" },
                if returned.is_empty() {
                    String::new()
                } else {
                    format!(
                        " with {} of {} layers returned to float, most harmful first: {}",
                        returned.len(),
                        layers.len(),
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
                let harm = harm_alone(
                    model, &original, o, &ranges, &quantized, vnni, &reference, check,
                )?;
                let mut r: Vec<String> = quantized.iter().map(|l| l.id.clone()).collect();
                r.sort_by(|a, b| harm[b].total_cmp(&harm[a]));
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

/// Median time of each engine over `rounds` interleaved runs of `inputs` (after 3 warm-up runs
/// each), microseconds.
fn interleaved_p50(
    engines: &mut [Box<dyn crate::engine::Engine>],
    inputs: &[crate::tensor::Tensor],
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

/// int8 chosen by measuring on this machine: dynamic (with `o`'s options) and static
/// (calibrated, with its fidelity target) built; dynamic held to the same target; each timed
/// at batch 1 against the float model, interleaved; the faster of those that meet the target
/// kept, and the coverage says what was measured and why.
pub fn chosen(
    model: &crate::model::Model,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    requests: &[Vec<crate::tensor::Tensor>],
    check: &[Vec<crate::tensor::Tensor>],
    cov: &mut Coverage,
) -> Result<()> {
    let target = o.min_cosine.unwrap_or(DEFAULT_MIN_COSINE);
    calibrate::check_data(requests)?;
    let reference = outputs_on(model, m, check)?;
    let mut why_not: Vec<String> = Vec::new();
    let mut candidates: Vec<(&str, pb::ModelProto, Coverage, f64)> = Vec::new();
    let forms = [
        (
            "dynamic",
            Int8Options {
                auto: false,
                calibration: None,
                ..o.clone()
            },
        ),
        (
            "static",
            Int8Options {
                auto: false,
                calibration: Some(o.calibration.unwrap_or_default()),
                exclude: Vec::new(),
                ..o.clone()
            },
        ),
    ];
    for (name, form) in forms {
        let mut p = m.clone();
        let mut c = Coverage::default();
        let built = if form.calibration.is_some() {
            calibrated(model, &mut p, &form, requests, check, &mut c)
        } else {
            dynamic(&mut p, &form, &mut c)
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
                let score = output_score(model, &p, &reference, check)?;
                if score >= target {
                    candidates.push((name, p, c, score));
                } else {
                    why_not.push(format!(
                        "{name}: the outputs' cosine similarity {score:.4} is under the target {target}"
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
    let float = calibrate::with_outputs(model, m, &[])?.0;
    let engine_name = float.version();
    let mut engines = vec![float];
    for (_, p, _, _) in &candidates {
        engines.push(calibrate::with_outputs(model, p, &[])?.0);
    }
    let p50 = interleaved_p50(&mut engines, &requests[0], 20)?;
    let best = (0..candidates.len())
        .min_by(|&a, &b| p50[a + 1].total_cmp(&p50[b + 1]))
        .unwrap_or(0);
    let measured = candidates
        .iter()
        .enumerate()
        .map(|(k, (name, _, _, score))| {
            format!(
                "{name} {} (cosine {score:.4})",
                crate::format::ms(p50[k + 1] / 1e3)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (name, p, mut c, _) = candidates.swap_remove(best);
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
    *cov = Coverage {
        notes: c.notes,
        changed: c.changed,
        skipped: c.skipped,
        ..std::mem::take(cov)
    };
    *m = p;
    Ok(())
}
