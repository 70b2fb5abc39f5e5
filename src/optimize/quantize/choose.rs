//! Static int8 held to a fidelity target, and int8 chosen by measuring: the outputs compared
//! with the float model's, layers returned to float by the harm each does alone, and dynamic
//! and static timed against float on this machine.

use super::measure::{Judge, Reading, Samples};
use super::per_layer::per_layer;
use super::*;
use crate::model::Model;
use anyhow::Context;

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

/// The outputs with each layer (or table) alone in int8, on the first check request.
fn harm_alone(
    judge: &Judge,
    original: &pb::ModelProto,
    o: &Int8Options,
    ranges: &HashMap<String, (f32, f32)>,
    ids: &[String],
    vnni: bool,
) -> Result<HashMap<String, Reading>> {
    let mut harm = HashMap::new();
    for id in ids {
        let others: Vec<String> = ids.iter().filter(|x| *x != id).cloned().collect();
        let (alone, ..) =
            build_static(original, o, ranges, &others, vnni, &mut Coverage::default())?;
        harm.insert(id.clone(), judge.reading(&alone, 1)?);
    }
    Ok(harm)
}

/// What returning `returned` to float cost: each one's coverage says what it alone in int8
/// did to the outputs, and a note the time and file size against all in int8 (`all`, which
/// missed the target).
#[allow(clippy::too_many_arguments)]
fn say_returned(
    judge: &Judge,
    all: &pb::ModelProto,
    kept: &pb::ModelProto,
    returned: &[String],
    alone: &HashMap<String, Reading>,
    cov: &mut Coverage,
) -> Result<()> {
    use prost::Message;
    for s in cov
        .skipped
        .iter_mut()
        .filter(|s| returned.contains(&s.node))
    {
        if let Some(r) = alone.get(&s.node) {
            s.note = format!(
                "returned to float for the fidelity target: alone in int8 it gave {}",
                judge.says(*r)
            );
        }
    }
    let (p50, _) = judge.time(&[all, kept])?;
    let (a, b) = (all.encoded_len() as u64, kept.encoded_len() as u64);
    let time = if p50[1] > p50[0] {
        format!("{} per request", crate::format::ms((p50[1] - p50[0]) / 1e3))
    } else {
        "no time".into()
    };
    cov.notes.push(format!(
        "returning {} to float cost {time} ({} with every layer in int8, {} now; {}) and {} of file ({} -> {})",
        crate::format::plural(returned.len() as u64, "layer"),
        crate::format::ms(p50[0] / 1e3),
        crate::format::ms(p50[1] / 1e3),
        judge.timed(),
        crate::format::bytes(b.saturating_sub(a)),
        crate::format::bytes(a),
        crate::format::bytes(b),
    ));
    Ok(())
}

/// Static int8 (QDQ): activation ranges calibrated on the batch-1 requests, then, while the
/// target does not hold on the sample data as given, layers returned to float, the one that
/// alone in int8 moves the outputs most first (one at a time, then in growing steps).
pub(super) fn static_layers(
    judge: &Judge,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    cov: &mut Coverage,
) -> Result<()> {
    raise_for_static(judge, m, cov)?;
    // A network held in the branches of an If: the branch the data takes, quantized inline.
    if let Some((mut flat, info)) = branch::inline_taken(judge, m)? {
        static_flat(judge, &mut flat, o, cov)?;
        if !cov.changed.is_empty() {
            branch::put_back(m, &flat, &info)?;
            cov.skip(
                &info.node,
                "If",
                format!(
                    "its {} stays float: the sample data takes the {} (static int8 calibrates only the branch the data runs)",
                    info.other, info.taken
                ),
            );
            cov.notes.push(format!(
                "static int8 inside {}'s {}, inlined to calibrate it (the branch the sample data takes) and put back",
                info.node, info.taken
            ));
        }
        return Ok(());
    }
    static_flat(judge, m, o, cov)
}

/// Static int8 needs opset 11 (QuantizeLinear, DequantizeLinear) and weights scaled per
/// output channel need 13 (their axis): raised to 13 where every operator keeps its meaning,
/// else to 11 (weights then have one scale per tensor, said with the reason).
fn raise_for_static(judge: &Judge, m: &mut pb::ModelProto, cov: &mut Coverage) -> Result<()> {
    let opset = default_opset(m);
    if opset == 0 {
        bail!(
            "static int8 needs an ai.onnx opset (QuantizeLinear); this model imports only {}",
            other_domains(m)
        );
    }
    if opset >= 13 {
        return Ok(());
    }
    let shapes = softmax_shapes(judge, m);
    match raise_opset(m, 13, &|t| shapes.get(t).cloned()) {
        Ok(_) => cov.notes.push(format!(
            "ONNX opset {opset} raised to 13, so that each weight has one scale per output channel (DequantizeLinear's axis); every operator of this model keeps its meaning across those versions"
        )),
        Err(e) => {
            if opset < 11 {
                raise_opset(m, 11, &|_| None)?;
                cov.notes.push(format!(
                    "ONNX opset {opset} raised to 11; every operator of this model keeps its meaning across those versions"
                ));
            }
            cov.notes.push(format!(
                "weights have one scale per tensor: opset {} has no per-channel DequantizeLinear, and {e:#}",
                default_opset(m)
            ));
        }
    }
    Ok(())
}

/// The shape of each main-graph Softmax, LogSoftmax and Hardmax input, from one run of the
/// float model on the first calibration request (empty where that fails: shapes unknown).
fn softmax_shapes(judge: &Judge, m: &pb::ModelProto) -> HashMap<String, Vec<usize>> {
    let tensors: Vec<String> = m
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .filter(|n| matches!(n.op_type.as_str(), "Softmax" | "LogSoftmax" | "Hardmax"))
        .filter_map(|n| n.input.first().cloned())
        .collect();
    if tensors.is_empty() {
        return HashMap::new();
    }
    let run = || -> Result<HashMap<String, Vec<usize>>> {
        let (mut e, at) = calibrate::with_outputs(judge.model, m, &tensors)?;
        let out = e.run(&judge.samples.requests[0])?;
        Ok(tensors
            .iter()
            .zip(at)
            .filter_map(|(t, k)| match out.get(k) {
                Some(crate::engine::Output::Tensor(x)) => Some((t.clone(), x.shape.clone())),
                _ => None,
            })
            .collect())
    };
    run().unwrap_or_default()
}

/// [`static_layers`] on a model whose layers are in its main graph.
fn static_flat(
    judge: &Judge,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    cov: &mut Coverage,
) -> Result<()> {
    let requests = &judge.samples.requests;
    let how = o.calibration.unwrap_or_default();
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
    let mut ranges = calibrate::ranges(judge.model, m, &tensors, requests, how)?;
    let shared = m
        .graph
        .as_ref()
        .map_or(0, |g| qdq::share_ranges(g, &mut ranges));
    if shared > 0 {
        cov.notes.push(format!(
            "{shared} tensor(s) made by ops that only move values (MaxPool, Split, Reshape and the like) take their input's range, so ONNX Runtime runs those ops on uint8 without requantizing"
        ));
    }
    let vnni = vnni();
    let target = judge.target;
    let original = m.clone();
    let mut returned: Vec<String> = Vec::new();
    let mut ranking: Option<Vec<String>> = None;
    let mut alone: HashMap<String, Reading> = HashMap::new();
    let mut all_int8: Option<pb::ModelProto> = None;
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
            if let (Some(all), false) = (&all_int8, returned.is_empty()) {
                say_returned(judge, all, &candidate, &returned, &alone, cov)?;
            }
            *m = candidate;
            return Ok(());
        }
        if round == 0 {
            all_int8 = Some(candidate.clone());
        }
        let order = match &ranking {
            Some(r) => r.clone(),
            None => {
                let ids: Vec<String> = quantized
                    .iter()
                    .map(|l| l.id.clone())
                    .chain(tables)
                    .collect();
                alone = harm_alone(judge, &original, o, &ranges, &ids, vnni)?;
                let mut r = ids;
                r.sort_by(|a, b| {
                    let (x, y) = (judge.harm(alone[a]), judge.harm(alone[b]));
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
    // A tie keeps int8: the same speed from a smaller file.
    let (float_faster, after, before) = judge.confirmed_faster(&p, m)?;
    let slower = after > before;
    let (before, after) = (
        crate::format::ms(before / 1e3),
        crate::format::ms(after / 1e3),
    );
    if !float_faster {
        cov.changed.append(&mut c.changed);
        cov.notes.push(format!(
            "int8 LSTM (DynamicQuantizeLSTM) kept: the model ran {before} with it in float and {after} in int8 ({}){}, {}",
            judge.timed(),
            if slower {
                format!(", a tie within {:.0}%: the smaller file wins", super::measure::TIE * 100.0)
            } else {
                String::new()
            },
            judge.says(r)
        ));
        *m = p;
    } else {
        skip_all(cov, &format!("left in float: in int8 (DynamicQuantizeLSTM) the model ran {after} against {before} in float here ({})", judge.timed()));
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

/// The mix: convolutions in static int8 (the fast CPU path for them), matrix products in
/// dynamic int8 (their activations quantized per request, no calibrated range to miss).
pub(super) fn mix(
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

/// The matrix products (MatMul, Gemm) static int8 would take, and whether it takes
/// convolutions too: what the mix splits.
fn matrix_layers(m: &pb::ModelProto, o: &Int8Options) -> (Vec<String>, bool) {
    let planned = qdq::plan_layers(m, o, &[]).quantized;
    let matmuls = planned
        .iter()
        .filter(|l| l.weights && l.op != "Conv")
        .map(|l| l.id.clone())
        .collect();
    (matmuls, planned.iter().any(|l| l.weights && l.op == "Conv"))
}

/// The mix, asked for by name (`int8:mix`): convolutions static and held to the target, the
/// matrix products dynamic; if they then miss the target, they stay float (said so). LSTMs
/// in int8 where that pays, as static int8 does.
pub fn mixed(
    model: &Model,
    m: &mut pb::ModelProto,
    o: &Int8Options,
    data: &Samples,
    cov: &mut Coverage,
) -> Result<()> {
    calibrate::check_data(&data.requests)?;
    let judge = Judge::new(model, m, data, o.target.unwrap_or_default())?;
    let (matmuls, has_conv) = matrix_layers(m, o);
    if !has_conv {
        bail!("the mix puts convolutions in static int8 and {} has none with constant weights: use dynamic or static int8", model.info.name);
    }
    let mut c = Coverage::default();
    let mut p = mix(&judge, m, o, &matmuls, &mut c)?;
    let r = judge.reading(&p, usize::MAX)?;
    if !judge.meets(r) && !matmuls.is_empty() {
        let mut s = m.clone();
        let mut c2 = Coverage::default();
        static_layers(
            &judge,
            &mut s,
            &Int8Options {
                exclude: o.exclude.iter().chain(&matmuls).cloned().collect(),
                ..o.clone()
            },
            &mut c2,
        )?;
        for n in c2.skipped.iter_mut().filter(|n| matmuls.contains(&n.node)) {
            n.note = format!(
                "left in float: with the matrix products in dynamic int8 the mix held {}, under the target {}",
                judge.says(r),
                judge.target
            );
        }
        (p, c) = (s, c2);
    }
    with_recurrent(&judge, &mut p, &mut c)?;
    c.notes.splice(0..0, std::mem::take(&mut cov.notes));
    *cov = Coverage {
        notes: c.notes,
        changed: c.changed,
        skipped: c.skipped,
        ..std::mem::take(cov)
    };
    *m = p;
    Ok(())
}

/// Which form to keep, by median time (`p50`), harm to the outputs (target's measure, then
/// cosine) and file size: among the forms that tie with the fastest (within
/// [`super::measure::TIE`]), the most faithful, then the smallest.
fn pick(p50: &[f64], harm_size: &[((f64, f64), usize)]) -> usize {
    let fastest = p50.iter().copied().fold(f64::INFINITY, f64::min);
    (0..p50.len())
        .filter(|&k| !super::measure::clearly_faster(fastest, p50[k]))
        .min_by(|&a, &b| {
            let ((ha, sa), (hb, sb)) = (harm_size[a], harm_size[b]);
            ha.0.total_cmp(&hb.0)
                .then(ha.1.total_cmp(&hb.1))
                .then(sa.cmp(&sb))
        })
        .unwrap_or(0)
}

/// int8 chosen by measuring on this machine: dynamic, static and (for a model with both
/// convolutions and matrix products) their mix built, each held to the fidelity target,
/// timed against the float model, interleaved; the fastest of those that hold
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
    // Each form not taken, and why.
    let mut why_not: Vec<(Int8Form, String)> = Vec::new();
    let mut candidates: Vec<(Int8Form, pb::ModelProto, Coverage, Reading)> = Vec::new();
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
    let (matmuls, has_conv) = matrix_layers(m, &static_o);
    for form in Int8Form::ALL {
        if form == Int8Form::Mix && (matmuls.is_empty() || !has_conv) {
            continue;
        }
        let mut p = m.clone();
        let mut c = Coverage::default();
        let built = match form {
            Int8Form::Dynamic => dynamic(&mut p, &dynamic_o, &mut c),
            Int8Form::Static => static_layers(&judge, &mut p, &static_o, &mut c),
            Int8Form::Mix => mix(&judge, m, &static_o, &matmuls, &mut c).map(|q| p = q),
        };
        match built {
            Ok(()) if c.changed.is_empty() => why_not.push((
                form,
                c.skipped
                    .first()
                    .map(|s| format!("{} ({}): {}", s.node, s.op, s.note))
                    .unwrap_or_else(|| "no layer with constant float weights it quantizes".into()),
            )),
            Ok(()) => {
                let r = judge.reading(&p, usize::MAX)?;
                if judge.meets(r) {
                    candidates.push((form, p, c, r));
                } else {
                    why_not.push((
                        form,
                        format!("{} misses the target {target}", judge.says(r)),
                    ));
                }
            }
            Err(e) => why_not.push((form, format!("{e:#}"))),
        }
    }
    // Without sample data, static ranges would be calibrated on made-up inputs that do not
    // look like real ones: the form that needs no calibration is kept where it holds.
    let dynamic_holds = candidates.iter().any(|c| c.0 == Int8Form::Dynamic);
    if data.synthesized && dynamic_holds {
        for (form, ..) in candidates.iter().filter(|c| c.0 != Int8Form::Dynamic) {
            why_not.push((
                *form,
                "not chosen without sample data (its activation ranges would be calibrated on inputs synthesized from the model's shapes, which do not fit real ones; give --data)".into(),
            ));
        }
        candidates.retain(|c| c.0 == Int8Form::Dynamic);
    }
    if candidates.is_empty() {
        // Nothing changed: the rewrite's caller says "does not apply" with these reasons.
        for (form, why) in &why_not {
            cov.skip(&form.to_string(), "int8", why.clone());
        }
        return Ok(());
    }
    // Every form refined per layer by its profile before they are compared.
    if calibrate::engine_kind() == crate::engine::EngineKind::Ort {
        for (form, p, c, r) in candidates.iter_mut() {
            per_layer(&judge, m, &static_o, *form, &matmuls, p, c)?;
            *r = judge.reading(p, usize::MAX)?;
        }
    }
    let models: Vec<&pb::ModelProto> = std::iter::once(&*m)
        .chain(candidates.iter().map(|c| &c.1))
        .collect();
    use prost::Message;
    let (p50, engine_name) = judge.time(&models)?;
    let best = pick(
        &p50[1..],
        &candidates
            .iter()
            .map(|c| (judge.harm(c.3), c.1.encoded_len()))
            .collect::<Vec<_>>(),
    );
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
    let tie = if p50[1..].iter().any(|&t| t < p50[best + 1]) {
        format!(
            " (within {:.0}% of the fastest: the most faithful of those)",
            super::measure::TIE * 100.0
        )
    } else {
        String::new()
    };
    c.notes.push(format!(
        "int8 chosen by measuring on {engine_name} ({}): float {}, {measured}; kept {name}{tie}, {}{}",
        judge.timed(),
        crate::format::ms(p50[0] / 1e3),
        if faster >= 1.0 {
            format!("{faster:.2}x the float model's speed")
        } else {
            format!("though at {faster:.2}x it is slower than the float model here")
        },
        if why_not.is_empty() {
            String::new()
        } else {
            format!(
                "; not taken: {}",
                why_not
                    .iter()
                    .map(|(form, why)| format!("{form}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    ));
    with_recurrent(&judge, &mut p, &mut c)?;
    *cov = Coverage {
        notes: c.notes,
        changed: c.changed,
        skipped: c.skipped,
        chosen_timing: Some(crate::optimize::ChosenTiming {
            float_us: p50[0],
            kept_us: p50[best + 1],
        }),
        kept_form: Some(name),
        ..std::mem::take(cov)
    };
    *m = p;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pick;

    /// The clearly fastest form wins; within 3% of it, the most faithful, then the smallest.
    #[test]
    fn ties_in_time_go_to_the_most_faithful_form() {
        let faithful = ((0.0, 0.0), 100);
        let lossy = ((0.001, 0.001), 50);
        assert_eq!(pick(&[10.0, 8.0], &[faithful, lossy]), 1);
        assert_eq!(pick(&[10.0, 9.8], &[faithful, lossy]), 0);
        assert_eq!(pick(&[9.8, 10.0], &[lossy, faithful]), 1);
        assert_eq!(pick(&[10.0, 10.1], &[faithful, ((0.0, 0.0), 60)]), 1);
    }
}
