//! Activation ranges for static int8: the float model run on sample data with the tensors to
//! quantize added as outputs, and a range per tensor by MinMax, percentile or entropy (the
//! threshold whose 8-bit histogram loses the least information, as TensorRT calibrates).

use super::*;
use crate::engine::{self, EngineKind, EngineOptions, Output};
use crate::model::Model;
use crate::optimize::Calibration;
use crate::tensor::{Tensor, TensorData};
use anyhow::Context;
use prost::Message;

/// Values kept per tensor for the percentile and entropy methods (evenly strided).
const KEEP: usize = 200_000;

/// A tensor declared as a graph output by name alone: the engine infers its type (integer
/// tensors such as shapes and indices are among the ones a weightless op reads).
fn named_output(name: &str) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.to_string(),
        ..Default::default()
    }
}

/// `proto` with `tensors` among its outputs, loaded on ONNX Runtime (tract when it is not
/// found), with the position of each tensor among the outputs.
pub(crate) fn with_outputs(
    model: &Model,
    proto: &pb::ModelProto,
    tensors: &[String],
) -> Result<(Box<dyn engine::Engine>, Vec<usize>)> {
    let mut p = proto.clone();
    let g = p.graph.as_mut().context("the model has no graph")?;
    for t in tensors {
        if !g.output.iter().any(|o| o.name == *t) {
            g.output.push(named_output(t));
        }
    }
    let at: Vec<usize> = tensors
        .iter()
        .map(|t| g.output.iter().position(|o| o.name == *t).unwrap_or(0))
        .collect();
    let m = Model::from_bytes(&model.info.path, p.encode_to_vec())?;
    let options = EngineOptions::default();
    let kind = engine_kind();
    let e = engine::load(kind, &m, &options)
        .with_context(|| format!("{} does not load on {kind}", model.info.name))?;
    Ok((e, at))
}

/// ONNX Runtime when it is here (the engine int8 is for), else tract; the same one for the
/// float model and every candidate, so that a candidate it cannot run is an error.
pub(crate) fn engine_kind() -> EngineKind {
    if crate::engine::runtime::global(None).is_ok() {
        EngineKind::Ort
    } else {
        EngineKind::Tract
    }
}

/// Every value of a float output, as f32.
pub(crate) fn values(o: &Output, name: &str) -> Result<Vec<f32>> {
    match o {
        Output::Tensor(Tensor {
            data: TensorData::F32(v),
            ..
        }) => Ok(v.clone()),
        Output::Tensor(t) => Ok(t.to_f64_vec().iter().map(|&v| v as f32).collect()),
        Output::NonTensor(_) => bail!("`{name}` is not a tensor"),
    }
}

/// Refuses calibration data a range cannot be learned from: non-finite values, or every float
/// input holding one value in every request.
pub(super) fn check_data(requests: &[Vec<Tensor>]) -> Result<()> {
    if requests.is_empty() {
        bail!("no sample data to calibrate static int8 with");
    }
    let mut seen: Option<f64> = None;
    let mut varied = false;
    let mut any_float = false;
    for r in requests {
        for t in r {
            if !matches!(t.data, TensorData::F32(_) | TensorData::F64(_)) {
                varied = true;
                continue;
            }
            any_float = true;
            // NaN (a missing value) is kept out of the ranges below, not refused.
            for v in t.to_f64_vec().into_iter().filter(|v| v.is_finite()) {
                match seen {
                    None => seen = Some(v),
                    Some(s) if s != v => varied = true,
                    _ => {}
                }
            }
        }
    }
    if any_float && !varied {
        bail!(
            "the calibration data is constant (every input value is {}): ranges calibrated on it would describe that one value, not the data the model will see; give varied sample data",
            seen.unwrap_or(0.0)
        );
    }
    Ok(())
}

/// What calibration saw of one tensor.
#[derive(Default)]
struct Seen {
    min: f32,
    max: f32,
    kept: Vec<f32>,
}

/// Runs the float model on each request with `tensors` as outputs; the range of each float
/// one (integer tensors, shapes and indices, get none: they are not quantized).
pub(super) fn ranges(
    model: &Model,
    proto: &pb::ModelProto,
    tensors: &[String],
    requests: &[Vec<Tensor>],
    how: Calibration,
) -> Result<HashMap<String, (f32, f32)>> {
    check_data(requests)?;
    let (mut e, at) = with_outputs(model, proto, tensors)?;
    let mut seen: Vec<Seen> = tensors.iter().map(|_| Seen::default()).collect();
    let mut float = vec![true; tensors.len()];
    let budget = (KEEP / requests.len()).max(1);
    for (i, r) in requests.iter().enumerate() {
        let out = crate::guard::catch("running the model to calibrate", || e.run(r))
            .with_context(|| format!("calibration sample {i}"))?;
        for (((t, &k), s), float) in tensors
            .iter()
            .zip(&at)
            .zip(seen.iter_mut())
            .zip(float.iter_mut())
        {
            let o = out.get(k).context("an output is missing")?;
            if !matches!(
                o,
                Output::Tensor(Tensor {
                    data: TensorData::F32(_),
                    ..
                })
            ) {
                *float = false;
                continue;
            }
            // NaN and infinity (a missing value fed through, an overflow) have no place in
            // a range: the ranges are of the finite values.
            let v: Vec<f32> = values(o, t)?
                .into_iter()
                .filter(|x| x.is_finite())
                .collect();
            for &x in &v {
                s.min = s.min.min(x);
                s.max = s.max.max(x);
            }
            let stride = v.len().div_ceil(budget).max(1);
            s.kept.extend(v.iter().step_by(stride));
        }
    }
    Ok(tensors
        .iter()
        .zip(seen)
        .zip(float)
        .filter(|(_, f)| *f)
        .map(|((t, s), _)| (t.clone(), range(s, how)))
        .collect())
}

/// The range of one tensor, always holding 0 (so that zero is exact) and never empty.
fn range(mut s: Seen, how: Calibration) -> (f32, f32) {
    let (lo, hi) = match how {
        Calibration::MinMax => (s.min, s.max),
        Calibration::Percentile => {
            s.kept.sort_by(f32::total_cmp);
            let q = |p: f64| {
                let i = ((s.kept.len() - 1) as f64 * p).round() as usize;
                s.kept.get(i).copied().unwrap_or(0.0)
            };
            if s.kept.is_empty() {
                (s.min, s.max)
            } else {
                (q(0.0001), q(0.9999))
            }
        }
        Calibration::Entropy => {
            if s.min >= 0.0 {
                (0.0, kl_threshold(&s.kept, 255))
            } else {
                let t = kl_threshold(&s.kept.iter().map(|v| v.abs()).collect::<Vec<_>>(), 127);
                (-t, t)
            }
        }
    };
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if hi - lo < 1e-12 {
        (lo, lo + 1e-3)
    } else {
        (lo, hi)
    }
}

/// The clipping threshold over non-negative `values` whose quantization to `levels` levels
/// keeps the distribution closest (least Kullback-Leibler divergence) to the unclipped one.
pub(super) fn kl_threshold(values: &[f32], levels: usize) -> f32 {
    const BINS: usize = 2048;
    let amax = values.iter().copied().fold(0f32, f32::max);
    if amax <= 0.0 || values.is_empty() {
        return amax;
    }
    let width = amax / BINS as f32;
    let mut hist = vec![0f64; BINS];
    for &v in values {
        let b = ((v / width) as usize).min(BINS - 1);
        hist[b] += 1.0;
    }
    let mut best = (f64::INFINITY, amax);
    for i in (levels..=BINS).step_by(16) {
        let mut p: Vec<f64> = hist[..i].to_vec();
        p[i - 1] += hist[i..].iter().sum::<f64>();
        // The same bins merged into `levels` buckets, spread back over the bins that were
        // not empty.
        let mut q = vec![0f64; i];
        for b in 0..levels {
            let (s, e) = (
                b * i / levels,
                ((b + 1) * i / levels).max(b * i / levels + 1),
            );
            let total: f64 = hist[s..e].iter().sum();
            let nonzero = hist[s..e].iter().filter(|&&h| h > 0.0).count();
            if nonzero > 0 {
                for j in s..e {
                    if hist[j] > 0.0 {
                        q[j] = total / nonzero as f64;
                    }
                }
            }
        }
        // What was clipped into the last bin is part of the reference, not of the buckets.
        let (ps, qs): (f64, f64) = (p.iter().sum(), q.iter().sum());
        if ps <= 0.0 || qs <= 0.0 {
            continue;
        }
        let mut kl = 0.0;
        for j in 0..i {
            if p[j] > 0.0 {
                let (pn, qn) = (p[j] / ps, (q[j] / qs).max(1e-12));
                kl += pn * (pn / qn).ln();
            }
        }
        if kl < best.0 {
            best = (kl, (i as f32 + 0.5) * width);
        }
    }
    best.1.min(amax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_zero_and_clip_outliers_where_asked() {
        let s = |v: Vec<f32>| Seen {
            min: v.iter().copied().fold(f32::INFINITY, f32::min),
            max: v.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            kept: v,
        };
        // 99,999 values in [0, 1) and one outlier at 100.
        let mut v: Vec<f32> = (0..99_999).map(|i| (i % 1000) as f32 / 1000.0).collect();
        v.push(100.0);
        assert_eq!(range(s(v.clone()), Calibration::MinMax), (0.0, 100.0));
        let (lo, hi) = range(s(v.clone()), Calibration::Percentile);
        assert_eq!(lo, 0.0);
        assert!(hi < 1.0, "the outlier is clipped: {hi}");
        // Entropy clips it as far as its histogram allows: the search starts at 255 of the
        // 2048 bins over [0, 100], 12.5.
        let (lo, hi) = range(s(v), Calibration::Entropy);
        assert_eq!(lo, 0.0);
        assert!(hi < 12.6 && hi > 0.5, "{hi}");
        // Signed values: a symmetric entropy range; a constant tensor still has a width.
        let (lo, hi) = range(s(vec![-2.0, 1.0, 0.5, -0.5]), Calibration::Entropy);
        assert_eq!(lo, -hi);
        assert_eq!(range(s(vec![0.0; 8]), Calibration::MinMax), (0.0, 1e-3));
    }

    #[test]
    fn constant_calibration_data_is_refused_and_nan_is_left_out() {
        let t = |v: Vec<f32>| Tensor::new(vec![1, v.len()], TensorData::F32(v)).unwrap();
        // NaN is a missing value: the finite values vary, so the data calibrates.
        check_data(&[vec![t(vec![1.0, f32::NAN, 2.0])]]).unwrap();
        // Only NaN besides one value: constant once the missing values are left out.
        assert!(check_data(&[vec![t(vec![1.0, f32::NAN])]]).is_err());
        let e = check_data(&[vec![t(vec![0.0, 0.0])], vec![t(vec![0.0, 0.0])]]).unwrap_err();
        assert!(
            e.to_string().contains("the calibration data is constant"),
            "{e}"
        );
        check_data(&[vec![t(vec![0.0, 1.0])]]).unwrap();
        assert!(check_data(&[]).is_err());
    }
}
