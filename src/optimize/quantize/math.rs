//! Quantizing weights: scales and zero points per tensor or per channel.

use super::*;

/// Quantized weights: values, one scale and zero point per channel (or one for the tensor).
pub(super) struct Quantized {
    pub(super) signed_q: Vec<i8>,
    pub(super) unsigned_q: Vec<u8>,
    pub(super) scales: Vec<f32>,
    pub(super) zero_points: Vec<i32>,
    pub(super) signed: bool,
}

/// Quantizes `w` laid out as `[outer.., channel, inner..]` with channels along `axis`, or per
/// tensor when `per_channel` is false. Signed: symmetric, zero point 0, range [-qmax, qmax].
/// Unsigned: asymmetric over [min(0, w), max(0, w)], range [0, 255].
pub(super) fn quantize(
    w: &Weight,
    axis: usize,
    per_channel: bool,
    signed: bool,
    qmax: &[f32],
) -> Quantized {
    let dims: Vec<usize> = w.dims.iter().map(|&d| d.max(1) as usize).collect();
    let channels = if per_channel { dims[axis] } else { 1 };
    let inner: usize = if per_channel {
        dims[axis + 1..].iter().product()
    } else {
        1
    };
    let channel_of = |i: usize| {
        if per_channel {
            (i / inner) % channels
        } else {
            0
        }
    };
    let mut lo = vec![0f32; channels];
    let mut hi = vec![0f32; channels];
    for (i, &v) in w.data.iter().enumerate() {
        let c = channel_of(i);
        if v.is_finite() {
            lo[c] = lo[c].min(v);
            hi[c] = hi[c].max(v);
        }
    }
    let mut scales = Vec::with_capacity(channels);
    let mut zero_points = Vec::with_capacity(channels);
    for c in 0..channels {
        if signed {
            let m = lo[c].abs().max(hi[c].abs());
            scales.push(if m > 0.0 {
                m / qmax[c.min(qmax.len() - 1)]
            } else {
                1.0
            });
            zero_points.push(0);
        } else {
            let range = hi[c] - lo[c];
            let s = if range > 0.0 { range / 255.0 } else { 1.0 };
            scales.push(s);
            zero_points.push((-lo[c] / s).round().clamp(0.0, 255.0) as i32);
        }
    }
    let mut signed_q = Vec::new();
    let mut unsigned_q = Vec::new();
    for (i, &v) in w.data.iter().enumerate() {
        let c = channel_of(i);
        let q = (v / scales[c]).round() + zero_points[c] as f32;
        if signed {
            let m = qmax[c.min(qmax.len() - 1)];
            signed_q.push(q.clamp(-m, m) as i8);
        } else {
            unsigned_q.push(q.clamp(0.0, 255.0) as u8);
        }
    }
    Quantized {
        signed_q,
        unsigned_q,
        scales,
        zero_points,
        signed,
    }
}

impl Quantized {
    /// `per-channel int8 weight [64, 256]`, for the coverage report.
    pub(super) fn describe(&self, w: &Weight) -> String {
        format!(
            "{} {} weight {:?}",
            if self.scales.len() > 1 {
                "per-channel"
            } else {
                "per-tensor"
            },
            if self.signed { "int8" } else { "uint8" },
            w.dims
        )
    }

    pub(super) fn bytes(&self) -> u64 {
        (self.signed_q.len() + self.unsigned_q.len() + self.scales.len() * 5) as u64
    }

    /// (values, scale, zero point) tensors; scale and zero point are 1-D per channel, scalar
    /// per tensor.
    /// `scalar_zero_point`: one zero point for all channels when they are all 0 (symmetric
    /// weights in the operator form), which keeps ONNX Runtime on its fused kernel.
    pub(super) fn tensors(
        &self,
        names: &mut Names,
        base: &str,
        dims: &[i64],
        scalar_zero_point: bool,
    ) -> [pb::TensorProto; 3] {
        let sdims: Vec<i64> = if self.scales.len() > 1 {
            vec![self.scales.len() as i64]
        } else {
            vec![]
        };
        let one_zp = scalar_zero_point && self.zero_points.iter().all(|&z| z == 0);
        let zdims: Vec<i64> = if one_zp { vec![] } else { sdims.clone() };
        let zps: &[i32] = if one_zp { &[0] } else { &self.zero_points };
        let (q, s, z) = (
            names.fresh(&format!("{base}_quantized")),
            names.fresh(&format!("{base}_scale")),
            names.fresh(&format!("{base}_zero_point")),
        );
        if self.signed {
            let zp: Vec<i8> = zps.iter().map(|&z| z as i8).collect();
            [
                i8_tensor(&q, dims, &self.signed_q),
                f32_tensor(&s, &sdims, &self.scales),
                i8_tensor(&z, &zdims, &zp),
            ]
        } else {
            let zp: Vec<u8> = zps.iter().map(|&z| z as u8).collect();
            [
                u8_tensor(&q, dims, &self.unsigned_q),
                f32_tensor(&s, &sdims, &self.scales),
                u8_tensor(&z, &zdims, &zp),
            ]
        }
    }
}

pub(super) fn transpose2(w: &Weight) -> Weight {
    let (r, c) = (w.dims[0] as usize, w.dims[1] as usize);
    let mut data = vec![0f32; r * c];
    for i in 0..r {
        for j in 0..c {
            data[j * r + i] = w.data[i * c + j];
        }
    }
    Weight {
        dims: vec![w.dims[1], w.dims[0]],
        data,
    }
}
