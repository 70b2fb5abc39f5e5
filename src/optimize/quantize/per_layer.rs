//! int8 per layer, by measuring: a form's layers that its ONNX Runtime profile shows slower
//! in int8 than in float go back to float, kept only where the whole model then runs faster.

use super::choose::{mix, static_layers};
use super::measure::Judge;
use super::*;
use crate::model::Model;

/// The layers of `candidate` (among `ids`) that ran slower than in float, by ONNX Runtime's
/// profile of both on the timing request (batch 1, or the serving batch) (30 requests each; a layer's int8 time includes the
/// quantizers of its input): `(layer, us in float, us in int8)`, slowest change first.
fn slower_layers(
    judge: &Judge,
    float: &pb::ModelProto,
    candidate: &pb::ModelProto,
    ids: &[String],
) -> Result<Vec<(String, f64, f64)>> {
    use prost::Message;
    let inputs = &judge.samples.timing;
    let options = crate::engine::EngineOptions::default();
    let path = &judge.model.info.path;
    let profile = |p: &pb::ModelProto| -> Result<crate::profile::OpProfile> {
        let m = Model::from_bytes(path, p.encode_to_vec())?;
        crate::profile::pass::one(
            crate::engine::EngineKind::Ort,
            &m,
            &options,
            inputs,
            5,
            30,
            None,
        )
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
pub(super) fn per_layer(
    judge: &Judge,
    m: &pb::ModelProto,
    o: &Int8Options,
    form: Int8Form,
    matmuls: &[String],
    best: &mut pb::ModelProto,
    cov: &mut Coverage,
) -> Result<()> {
    let ids: Vec<String> = cov
        .changed
        .iter()
        .filter(|c| c.static_int8 || matches!(c.op.as_str(), "Conv" | "MatMul" | "Gemm"))
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
    let built = match form {
        Int8Form::Mix => mix(judge, m, &without, matmuls, &mut c).map(|q| p = q),
        Int8Form::Dynamic => dynamic(
            &mut p,
            &Int8Options {
                calibration: None,
                ..without
            },
            &mut c,
        ),
        Int8Form::Static => static_layers(judge, &mut p, &without, &mut c),
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
            "per layer: every layer ran slower in int8 by the profile ({listed}): {form} int8 does not pay on this model here"
        ));
        return Ok(());
    }
    let r = judge.reading(&p, usize::MAX)?;
    let (faster, was, now) = judge.confirmed_faster(best, &p)?;
    let (was, now) = (crate::format::ms(was / 1e3), crate::format::ms(now / 1e3));
    if judge.meets(r) && faster {
        for s in c.skipped.iter_mut().filter(|s| slow_ids.contains(&s.node)) {
            if let Some((_, a, b)) = slow.iter().find(|x| x.0 == s.node) {
                s.note = format!(
                    "left in float: slower in int8 on this machine (profiled {a:.0} us in float, {b:.0} us in int8 with its quantizers)"
                );
            }
        }
        c.notes.push(format!(
            "per layer: {} slower in int8 by the profile returned to float ({listed}): the model ran {now} against {was} with them in int8 ({}), {}",
            crate::format::plural(slow.len() as u64, "layer"),
            judge.timed(),
            judge.says(r)
        ));
        // The rebuilt form's notes describe it (its calibration, its fidelity), in place of
        // the first build's.
        *cov = Coverage {
            notes: std::mem::take(&mut c.notes),
            changed: c.changed,
            skipped: c.skipped,
            ..std::mem::take(cov)
        };
        *best = p;
    } else {
        cov.notes.push(format!(
            "per layer: {} slower in int8 by the profile ({listed}); with them in float the model {}, so they stay int8 (more layers in float must run at least {:.0}% faster, twice, to be kept)",
            crate::format::plural(slow.len() as u64, "layer"),
            if judge.meets(r) {
                format!("ran {now} against {was}")
            } else {
                format!("holds {}, under the target", judge.says(r))
            },
            super::measure::TIE * 100.0
        ));
    }
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
