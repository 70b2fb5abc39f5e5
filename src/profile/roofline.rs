//! The roofline: each node's work from its shapes (floating-point operations and bytes moved),
//! this machine's ceilings from a short measurement (a large MatMul on the engine, a large memory
//! copy), and where each node sits: compute-bound, memory-bound, or far from both.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// A tensor as the profiler saw it: bytes per element and dims.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub elem_bytes: usize,
    pub dims: Vec<usize>,
}

impl Shape {
    pub fn numel(&self) -> f64 {
        self.dims.iter().map(|&d| d as f64).product()
    }
    pub fn bytes(&self) -> f64 {
        self.numel() * self.elem_bytes as f64
    }
}

/// Bytes per element of an ONNX Runtime profiler type name (`float`, `int64`, ...).
pub fn elem_bytes(type_name: &str) -> usize {
    match type_name {
        "double" | "int64" | "uint64" => 8,
        "float" | "int32" | "uint32" => 4,
        "float16" | "bfloat16" | "int16" | "uint16" => 2,
        _ => 1,
    }
}

/// What a node does: floating-point operations (multiply-adds count 2) and bytes read and
/// written (each input and output once).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Work {
    /// `None` when the op's arithmetic is not counted (data movement, control, unknown ops).
    pub flops: Option<f64>,
    pub bytes: f64,
}

/// Element-wise ops: one operation per output element.
const ELEMENTWISE: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "Sigmoid",
    "Tanh",
    "Clip",
    "Sqrt",
    "Exp",
    "Log",
    "Pow",
    "Erf",
    "Max",
    "Min",
    "Neg",
    "Abs",
    "Reciprocal",
    "LeakyRelu",
    "HardSigmoid",
    "Gelu",
    "BiasGelu",
    "FastGelu",
    "QuickGelu",
];

/// The work of one node of op type `op` from its input and output shapes.
pub fn work(op: &str, inputs: &[Shape], outputs: &[Shape]) -> Work {
    let bytes = inputs.iter().chain(outputs).map(Shape::bytes).sum();
    let out = outputs.first();
    let flops = match op {
        // [.., M, K] x [.., K, N] -> [.., M, N]: 2 K per output element.
        // (tract's OptMatMul takes packed operands: its shapes say nothing of M, K, N.)
        "MatMul" | "FusedMatMul" | "MatMulInteger" | "QLinearMatMul" => {
            let k = inputs.first().and_then(|a| a.dims.last().copied());
            match (k, out) {
                (Some(k), Some(o)) => Some(2.0 * k as f64 * o.numel()),
                _ => None,
            }
        }
        // A [M, K] (or [K, M] transposed), out [M, N]: 2 K per output element, K = |A| / M.
        "Gemm" | "FusedGemm" => match (inputs.first(), out) {
            (Some(a), Some(o)) if !o.dims.is_empty() && o.dims[0] > 0 => {
                let k = a.numel() / o.dims[0] as f64;
                Some(2.0 * k * o.numel())
            }
            _ => None,
        },
        // W [Cout, Cin/group, kh, kw]: 2 (Cin/group kh kw) per output element.
        "Conv" | "FusedConv" | "ConvInteger" | "QLinearConv" | "NchwcConv" => {
            let w = if op == "QLinearConv" {
                inputs.get(3)
            } else {
                inputs.get(1)
            };
            match (w, out) {
                (Some(w), Some(o)) if w.dims.first().is_some_and(|&c| c > 0) => {
                    let per_out = w.numel() / w.dims[0] as f64;
                    Some(2.0 * per_out * o.numel())
                }
                _ => None,
            }
        }
        _ if ELEMENTWISE.contains(&op) => out.map(Shape::numel),
        _ => None,
    };
    Work { flops, bytes }
}

/// This machine's ceilings, measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ceilings {
    /// Peak floating-point rate the engine reached on a large MatMul, GFLOP/s.
    pub gflops: f64,
    /// Memory bandwidth of a large copy (read + write), GB/s.
    pub gbytes_per_s: f64,
    /// How they were measured.
    pub how: String,
}

impl Ceilings {
    /// Operations per byte where the two ceilings meet.
    pub fn ridge(&self) -> f64 {
        self.gflops / self.gbytes_per_s.max(1e-9)
    }

    /// Where a node doing `w` in `us` microseconds sits.
    pub fn place(&self, w: &Work, us: f64) -> Option<Placement> {
        let flops = w.flops?;
        if us <= 0.0 || w.bytes <= 0.0 {
            return None;
        }
        let intensity = flops / w.bytes;
        let achieved = flops / (us * 1e3);
        let attainable = self.gflops.min(intensity * self.gbytes_per_s);
        let efficiency = achieved / attainable.max(1e-12);
        let bound = if intensity >= self.ridge() {
            "compute"
        } else {
            "memory"
        };
        Some(Placement {
            intensity,
            gflops: achieved,
            attainable_gflops: attainable,
            efficiency,
            bound: if efficiency < 0.1 {
                format!("far from both ({bound} roof)")
            } else if efficiency > 1.0 && bound == "memory" {
                // The bandwidth probe copies 256 MiB, out of every cache; a small tensor
                // stays in cache and moves faster than that.
                "memory-bound, in cache (above the DRAM roof)".to_string()
            } else {
                format!("{bound}-bound")
            },
        })
    }
}

/// A node on the roofline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// FLOPs per byte.
    pub intensity: f64,
    /// Achieved GFLOP/s.
    pub gflops: f64,
    /// What the roofline allows at this intensity, GFLOP/s.
    pub attainable_gflops: f64,
    /// Achieved over attainable.
    pub efficiency: f64,
    /// `compute-bound`, `memory-bound`, `memory-bound, in cache (above the DRAM roof)` or
    /// `far from both (memory roof)`.
    pub bound: String,
}

/// A MatMul of `n` x `n` by `n` x `n` floats as an ONNX model (the compute probe).
fn matmul_model(n: usize) -> Result<crate::model::Model> {
    use prost::Message;
    use tract_onnx::pb;
    let info = |name: &str| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        pb::tensor_shape_proto::Dimension {
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(
                                n as i64,
                            )),
                            ..Default::default()
                        };
                        2
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let b = pb::TensorProto {
        name: "b".into(),
        dims: vec![n as i64, n as i64],
        data_type: 1,
        float_data: (0..n * n).map(|i| ((i % 7) as f32 - 3.0) * 0.01).collect(),
        ..Default::default()
    };
    let proto = crate::optimize::graph::model_of(
        pb::GraphProto {
            name: "probe".into(),
            node: vec![pb::NodeProto {
                op_type: "MatMul".into(),
                input: vec!["a".into(), "b".into()],
                output: vec!["y".into()],
                ..Default::default()
            }],
            initializer: vec![b],
            input: vec![info("a")],
            output: vec![info("y")],
            ..Default::default()
        },
        13,
    );
    crate::model::Model::from_bytes(std::path::Path::new("probe.onnx"), proto.encode_to_vec())
}

/// Measures the ceilings: the best of a few 512 x 512 MatMuls on the engine (with the
/// profile's options, threads included), and the best of a few 256 MiB copies.
pub fn measure(
    kind: crate::engine::EngineKind,
    options: &crate::engine::EngineOptions,
) -> Result<Ceilings> {
    const N: usize = 512;
    let model = matmul_model(N)?;
    let mut engine = crate::engine::load(kind, &model, options).context("the compute probe")?;
    let a = crate::tensor::Tensor::new(
        vec![N, N],
        crate::tensor::TensorData::F32((0..N * N).map(|i| (i % 5) as f32 * 0.1).collect()),
    )?;
    let prepared = engine.prepare(&[a])?;
    let mut best = f64::INFINITY;
    for _ in 0..12 {
        let t = std::time::Instant::now();
        engine.run_prepared(&prepared)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let gflops = 2.0 * (N as f64).powi(3) / best / 1e9;
    const BYTES: usize = 256 << 20;
    let src = vec![1u8; BYTES];
    let mut dst = vec![0u8; BYTES];
    let mut best_copy = f64::INFINITY;
    for _ in 0..4 {
        let t = std::time::Instant::now();
        dst.copy_from_slice(&src);
        best_copy = best_copy.min(t.elapsed().as_secs_f64());
        std::hint::black_box(&dst);
    }
    let gbytes_per_s = 2.0 * BYTES as f64 / best_copy / 1e9;
    Ok(Ceilings {
        gflops,
        gbytes_per_s,
        how: format!(
            "compute: the best of 12 MatMuls of {N}x{N} floats on {}; memory: the best of 4 copies of 256 MiB (read + write)",
            engine.version()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(dims: &[usize]) -> Shape {
        Shape {
            elem_bytes: 4,
            dims: dims.to_vec(),
        }
    }

    #[test]
    fn work_from_shapes() {
        // [8, 64] x [64, 32]: 2 x 8 x 64 x 32 FLOPs; bytes: 8x64 + 64x32 + 8x32 floats.
        let w = work(
            "MatMul",
            &[f32s(&[8, 64]), f32s(&[64, 32])],
            &[f32s(&[8, 32])],
        );
        assert_eq!(w.flops, Some(2.0 * 8.0 * 64.0 * 32.0));
        assert_eq!(w.bytes, 4.0 * (8.0 * 64.0 + 64.0 * 32.0 + 8.0 * 32.0));
        // Batched: [4, 8, 64] x [64, 32].
        let w = work(
            "MatMul",
            &[f32s(&[4, 8, 64]), f32s(&[64, 32])],
            &[f32s(&[4, 8, 32])],
        );
        assert_eq!(w.flops, Some(2.0 * 4.0 * 8.0 * 64.0 * 32.0));
        // Gemm with A transposed ([K, M] = [64, 8]): K still |A| / M.
        let w = work(
            "Gemm",
            &[f32s(&[64, 8]), f32s(&[64, 32]), f32s(&[32])],
            &[f32s(&[8, 32])],
        );
        assert_eq!(w.flops, Some(2.0 * 8.0 * 64.0 * 32.0));
        // Conv: x [1, 16, 8, 8], W [32, 16, 3, 3], out [1, 32, 8, 8]: 2 x 16x3x3 per output.
        let w = work(
            "Conv",
            &[f32s(&[1, 16, 8, 8]), f32s(&[32, 16, 3, 3]), f32s(&[32])],
            &[f32s(&[1, 32, 8, 8])],
        );
        assert_eq!(w.flops, Some(2.0 * 16.0 * 9.0 * 32.0 * 64.0));
        // Grouped (depthwise): W [16, 1, 3, 3].
        let w = work(
            "Conv",
            &[f32s(&[1, 16, 8, 8]), f32s(&[16, 1, 3, 3])],
            &[f32s(&[1, 16, 8, 8])],
        );
        assert_eq!(w.flops, Some(2.0 * 9.0 * 16.0 * 64.0));
        assert_eq!(
            work("Relu", &[f32s(&[10])], &[f32s(&[10])]).flops,
            Some(10.0)
        );
        assert_eq!(work("Reshape", &[f32s(&[10])], &[f32s(&[10])]).flops, None);
    }

    #[test]
    fn placement_on_the_roofline() {
        let c = Ceilings {
            gflops: 100.0,
            gbytes_per_s: 10.0,
            how: String::new(),
        };
        assert_eq!(c.ridge(), 10.0);
        // 1e6 FLOPs over 1e4 bytes (100 FLOP/B, compute side) in 20 us: 50 GFLOP/s of 100.
        let p = c
            .place(
                &Work {
                    flops: Some(1e6),
                    bytes: 1e4,
                },
                20.0,
            )
            .unwrap();
        assert_eq!(p.bound, "compute-bound");
        assert!((p.efficiency - 0.5).abs() < 1e-12);
        // 1e4 FLOPs over 1e4 bytes (1 FLOP/B): the roof is 10 GFLOP/s; 1 us gives 10 -> 100%.
        let p = c
            .place(
                &Work {
                    flops: Some(1e4),
                    bytes: 1e4,
                },
                1.0,
            )
            .unwrap();
        assert_eq!(p.bound, "memory-bound");
        assert!((p.efficiency - 1.0).abs() < 1e-12);
        // The same in 100 us: 1% of its roof.
        let p = c
            .place(
                &Work {
                    flops: Some(1e4),
                    bytes: 1e4,
                },
                100.0,
            )
            .unwrap();
        assert_eq!(p.bound, "far from both (memory roof)");
        // In half a microsecond: twice the DRAM roof, so its data was in cache.
        let p = c
            .place(
                &Work {
                    flops: Some(1e4),
                    bytes: 1e4,
                },
                0.5,
            )
            .unwrap();
        assert_eq!(p.bound, "memory-bound, in cache (above the DRAM roof)");
    }
}
