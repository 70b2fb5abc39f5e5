//! Loading and inspecting ONNX models: signature, ops, parameters, FLOPs, hashes.

pub mod external;
mod params;
mod signature;

use crate::fsutil::sha256_hex;
use crate::tensor::DType;
use anyhow::{bail, Context, Result};
use params::{constant_node_params, elem_size, filled_params, tensor_elems};
pub use params::{i64_values, parameter_notes};
use prost::Message;
use serde::{Deserialize, Serialize};
use signature::{ModelSig, TypeSig, TypeValue};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_onnx::pb;

/// One dimension of a declared shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(i64),
    /// A named symbolic dimension (`dim_param`), e.g. `batch` or `sequence length`.
    Symbol(String),
    /// Neither a value nor a name: any size.
    Unknown,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(v) => write!(f, "{v}"),
            Dim::Symbol(s) => write!(f, "{s}"),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// What flows through a graph input or output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ValueKind {
    Tensor {
        elem_type: String,
        /// `None` when the model declares no shape at all (any rank).
        shape: Option<Vec<Dim>>,
        #[serde(skip)]
        onnx_code: i32,
    },
    /// Sequences, maps, optionals, sparse tensors: shown, never compared numerically.
    NonTensor { description: String },
}

/// A named graph input or output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: ValueKind,
}

impl ValueSpec {
    /// The element type we can feed, if this is a tensor of a supported type.
    pub fn dtype(&self) -> Option<DType> {
        match &self.kind {
            ValueKind::Tensor { onnx_code, .. } => DType::from_onnx_code(*onnx_code),
            ValueKind::NonTensor { .. } => None,
        }
    }

    pub fn shape(&self) -> Option<&[Dim]> {
        match &self.kind {
            ValueKind::Tensor { shape, .. } => shape.as_deref(),
            ValueKind::NonTensor { .. } => None,
        }
    }

    pub fn is_tensor(&self) -> bool {
        matches!(self.kind, ValueKind::Tensor { .. })
    }

    /// `float32[batch, 30]`, `seq(float32)`.
    pub fn type_string(&self) -> String {
        match &self.kind {
            ValueKind::Tensor {
                elem_type,
                shape: Some(shape),
                ..
            } => format!(
                "{elem_type}[{}]",
                shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ValueKind::Tensor {
                elem_type,
                shape: None,
                ..
            } => format!("{elem_type}[any shape]"),
            ValueKind::NonTensor { description } => description.clone(),
        }
    }
}

/// Everything `inspect` shows about a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: PathBuf,
    pub file_size_bytes: u64,
    pub sha256: String,
    pub producer: String,
    pub ir_version: i64,
    /// Operator sets by domain (`""` is the default ONNX domain, shown as `ai.onnx`).
    pub opsets: BTreeMap<String, i64>,
    pub inputs: Vec<ValueSpec>,
    pub outputs: Vec<ValueSpec>,
    /// Node count per op type (`domain:Op` outside the default domain), subgraphs included.
    pub op_histogram: BTreeMap<String, usize>,
    pub node_count: usize,
    /// Nodes inside `If`/`Loop`/`Scan` bodies.
    pub subgraph_count: usize,
    /// Elements held in initializers and `Constant` nodes, subgraphs included.
    pub parameter_count: u64,
    pub parameter_bytes: u64,
    /// Parameters held in `Constant` nodes rather than initializers.
    pub constant_node_parameters: u64,
    /// Parameters filled at run time by `ConstantOfShape` from a stored shape (weights some
    /// exporters write as one repeated value): counted, though the file holds no values.
    #[serde(default)]
    pub filled_parameters: u64,
    /// Multiply-adds x2 of MatMul/Gemm/Conv and the like at `flops_dims`, from tract's cost model.
    pub flops: Option<u64>,
    /// The symbolic dims FLOPs were counted at, or why they could not be.
    pub flops_note: String,
    /// Weights the model keeps in external data files beside it (read into the model
    /// Inferscope holds; counted in the size and the sha256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_data: Option<external::ExternalData>,
}

impl ModelInfo {
    /// The symbol that names the batch dimension: the most common symbolic (or unknown)
    /// leading dimension among the inputs. `None` when every input has a fixed leading dim.
    pub fn batch_symbol(&self) -> Option<Dim> {
        let mut counts: BTreeMap<String, (usize, Dim)> = BTreeMap::new();
        for i in &self.inputs {
            if let Some(first) = i.shape().and_then(|s| s.first()) {
                if !matches!(first, Dim::Fixed(_)) {
                    let e = counts
                        .entry(first.to_string())
                        .or_insert((0, first.clone()));
                    e.0 += 1;
                }
            }
        }
        counts.into_values().max_by_key(|(n, _)| *n).map(|(_, d)| d)
    }

    /// The batch size a model with no symbolic batch dimension is built for (its first input's
    /// fixed leading dim); `None` when the batch can vary.
    pub fn fixed_batch(&self) -> Option<usize> {
        if self.batch_symbol().is_some() {
            return None;
        }
        match self.inputs.first()?.shape()?.first()? {
            Dim::Fixed(n) if *n > 0 => Some(*n as usize),
            _ => None,
        }
    }
}

/// A model read from disk: its bytes (what engines load) and what we know about it.
#[derive(Clone, Debug)]
pub struct Model {
    pub bytes: Arc<Vec<u8>>,
    pub info: ModelInfo,
}

/// The ONNX element type name, numpy style where one exists.
pub fn elem_type_name(code: i32) -> String {
    if let Some(d) = DType::from_onnx_code(code) {
        return d.numpy_name().to_string();
    }
    match pb::tensor_proto::DataType::try_from(code) {
        Ok(pb::tensor_proto::DataType::Float16) => "float16".into(),
        Ok(pb::tensor_proto::DataType::Bfloat16) => "bfloat16".into(),
        Ok(pb::tensor_proto::DataType::String) => "string".into(),
        Ok(t) => t.as_str_name().to_lowercase(),
        Err(_) => format!("type#{code}"),
    }
}

fn dims_of(shape: &pb::TensorShapeProto) -> Vec<Dim> {
    use pb::tensor_shape_proto::dimension::Value;
    shape
        .dim
        .iter()
        .map(|d| match &d.value {
            // paddle2onnx and tf2onnx write -1 (and some exporters 0) for a dynamic dim, as
            // ONNX Runtime reads it.
            Some(Value::DimValue(v)) if *v > 0 => Dim::Fixed(*v),
            // Paddle writes `?` as the name of a dim it knows nothing about.
            Some(Value::DimParam(p)) if !p.is_empty() && p != "?" => Dim::Symbol(p.clone()),
            _ => Dim::Unknown,
        })
        .collect()
}

fn describe_type(t: Option<&TypeSig>) -> String {
    match t.and_then(|t| t.value.as_ref()) {
        None => "unknown type".into(),
        Some(TypeValue::Tensor(tt)) => format!("tensor({})", elem_type_name(tt.elem_type)),
        Some(TypeValue::SparseTensor(tt)) => {
            format!("sparse_tensor({})", elem_type_name(tt.elem_type))
        }
        Some(TypeValue::Sequence(s)) => format!("seq({})", describe_type(s.elem_type.as_deref())),
        Some(TypeValue::Optional(s)) => {
            format!("optional({})", describe_type(s.elem_type.as_deref()))
        }
        Some(TypeValue::Map(m)) => format!(
            "map({}, {})",
            elem_type_name(m.key_type),
            describe_type(m.value_type.as_deref())
        ),
    }
}

fn value_spec(v: &signature::ValueInfoSig) -> ValueSpec {
    let kind = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::Tensor(t)) => ValueKind::Tensor {
            elem_type: elem_type_name(t.elem_type),
            shape: t.shape.as_ref().map(dims_of),
            onnx_code: t.elem_type,
        },
        _ => ValueKind::NonTensor {
            description: describe_type(v.r#type.as_ref()),
        },
    };
    ValueSpec {
        name: v.name.clone(),
        kind,
    }
}

/// Walks a graph and every subgraph held in node attributes.
fn visit_graphs<'a>(
    g: &'a pb::GraphProto,
    depth: usize,
    f: &mut dyn FnMut(&'a pb::GraphProto, usize),
) {
    f(g, depth);
    for n in &g.node {
        for a in &n.attribute {
            if let Some(sub) = &a.g {
                visit_graphs(sub, depth + 1, f);
            }
            for sub in &a.graphs {
                visit_graphs(sub, depth + 1, f);
            }
        }
    }
}

/// Decodes ONNX bytes, telling apart an empty file, a truncated one and one that is not ONNX.
pub fn decode_proto(bytes: &[u8], path: &Path) -> Result<pb::ModelProto> {
    if bytes.is_empty() {
        bail!("{} is empty (0 bytes): not an ONNX model", path.display());
    }
    let proto = pb::ModelProto::decode(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a valid ONNX model ({} bytes could not be decoded: {e}); \
             the file may be truncated or in another format",
            path.display(),
            bytes.len()
        )
    })?;
    let Some(graph) = &proto.graph else {
        bail!(
            "{} decodes as protobuf but holds no ONNX graph: it is not an ONNX model",
            path.display()
        );
    };
    if proto.ir_version <= 0 || graph.output.is_empty() {
        bail!(
            "{} is not a usable ONNX model (IR version {}, {} graph outputs)",
            path.display(),
            proto.ir_version,
            graph.output.len()
        );
    }
    Ok(proto)
}

impl Model {
    /// Reads and inspects a model file. FLOPs are left for [`Model::with_flops`], which needs an
    /// engine and the shapes in use.
    pub fn load(path: &Path) -> Result<Model> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Model::from_bytes(path, bytes)
    }

    /// A model from its file's bytes; weights it keeps in external data files beside `path`
    /// are read into it ([`external`]), and count in its size and sha256.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Model> {
        let mut proto = decode_proto(&bytes, path)?;
        if external::uses_external(&proto) {
            let inlined = external::inline(&mut proto, path, &bytes)?;
            let mut m = Model::from_bytes(path, prost::Message::encode_to_vec(&proto))?;
            m.info.file_size_bytes = bytes.len() as u64 + inlined.external.bytes;
            m.info.sha256 = inlined.sha256;
            m.info.external_data = Some(inlined.external);
            return Ok(m);
        }
        let sig = ModelSig::decode(bytes.as_slice())
            .with_context(|| format!("cannot read the inputs and outputs of {}", path.display()))?;
        let graph_sig = sig.graph.unwrap_or_default();
        let graph = proto.graph.as_ref().context("no graph")?;

        let initializer_names: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        // Older exporters list initializers among the inputs too; those are not fed by the user.
        let inputs: Vec<ValueSpec> = graph_sig
            .input
            .iter()
            .filter(|v| !initializer_names.contains(v.name.as_str()))
            .map(value_spec)
            .collect();
        let outputs: Vec<ValueSpec> = graph_sig.output.iter().map(value_spec).collect();

        let mut op_histogram = BTreeMap::new();
        let mut node_count = 0;
        let mut subgraph_count = 0;
        let mut parameter_count = 0;
        let mut parameter_bytes = 0;
        let mut constant_node_parameters = 0;
        let mut filled_parameters = 0;
        visit_graphs(graph, 0, &mut |g, depth| {
            if depth > 0 {
                subgraph_count += 1;
            }
            for t in &g.initializer {
                parameter_count += tensor_elems(t);
                parameter_bytes += tensor_elems(t) * elem_size(t.data_type);
            }
            for n in &g.node {
                if let Some((c, b)) = filled_params(g, n) {
                    parameter_count += c;
                    parameter_bytes += b;
                    filled_parameters += c;
                }
                node_count += 1;
                let key = if n.domain.is_empty() || n.domain == "ai.onnx" {
                    n.op_type.clone()
                } else {
                    format!("{}:{}", n.domain, n.op_type)
                };
                *op_histogram.entry(key).or_insert(0) += 1;
                if n.domain == "ai.onnx.ml" {
                    // Classic ML ops keep their weights in attribute lists (coefficients, tree
                    // thresholds and leaf values).
                    for a in &n.attribute {
                        parameter_count += (a.floats.len() + a.ints.len()) as u64;
                        parameter_bytes += 4 * a.floats.len() as u64 + 8 * a.ints.len() as u64;
                    }
                }
                if n.op_type == "Constant" && (n.domain.is_empty() || n.domain == "ai.onnx") {
                    let (c, b) = constant_node_params(n);
                    parameter_count += c;
                    parameter_bytes += b;
                    constant_node_parameters += c;
                }
            }
        });

        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let producer = match (
            proto.producer_name.as_str(),
            proto.producer_version.as_str(),
        ) {
            ("", _) => "unknown".to_string(),
            (n, "") => n.to_string(),
            (n, v) => format!("{n} {v}"),
        };
        let info = ModelInfo {
            name,
            path: path.to_path_buf(),
            file_size_bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            producer,
            ir_version: proto.ir_version,
            opsets: proto
                .opset_import
                .iter()
                .map(|o| {
                    let d = if o.domain.is_empty() {
                        "ai.onnx".to_string()
                    } else {
                        o.domain.clone()
                    };
                    (d, o.version)
                })
                .collect(),
            inputs,
            outputs,
            op_histogram,
            node_count,
            subgraph_count,
            parameter_count,
            parameter_bytes,
            constant_node_parameters,
            filled_parameters,
            flops: None,
            flops_note: "not computed".into(),
            external_data: None,
        };
        Ok(Model {
            bytes: Arc::new(bytes),
            info,
        })
    }

    /// Tensor inputs the user must feed, in graph order.
    pub fn inputs(&self) -> &[ValueSpec] {
        &self.info.inputs
    }

    /// See [`ModelInfo::batch_symbol`].
    pub fn batch_symbol(&self) -> Option<Dim> {
        self.info.batch_symbol()
    }

    /// See [`ModelInfo::fixed_batch`].
    pub fn fixed_batch(&self) -> Option<usize> {
        self.info.fixed_batch()
    }

    /// The axis of `input` that carries the batch, if any: the axis named like the batch
    /// symbol (for an unnamed batch dim, only a leading unknown dim counts).
    pub fn batch_axis(&self, input: &ValueSpec) -> Option<usize> {
        let batch = self.batch_symbol()?;
        let shape = input.shape()?;
        match batch {
            Dim::Symbol(_) => shape.iter().position(|d| *d == batch),
            Dim::Unknown => (shape.first() == Some(&Dim::Unknown)).then_some(0),
            Dim::Fixed(_) => None,
        }
    }

    /// For integer inputs used as `Gather` indices into a constant table, the table's size:
    /// ids drawn from `0..size` are valid, anything else makes the model fail.
    pub fn gather_table_size(&self, input_name: &str) -> Option<i64> {
        let proto = decode_proto(&self.bytes, &self.info.path).ok()?;
        let graph = proto.graph?;
        let mut table_sizes: BTreeMap<String, i64> = graph
            .initializer
            .iter()
            .filter_map(|t| t.dims.first().map(|&d| (t.name.clone(), d)))
            .collect();
        for n in &graph.node {
            if n.op_type == "Constant" {
                if let Some(t) = n.attribute.iter().find_map(|a| a.t.as_ref()) {
                    if let (Some(out), Some(&d)) = (n.output.first(), t.dims.first()) {
                        table_sizes.insert(out.clone(), d);
                    }
                }
            }
        }
        graph.node.iter().find_map(|n| {
            let is_gather =
                n.op_type == "Gather" && n.input.get(1).map(String::as_str) == Some(input_name);
            let axis0 = n.attribute.iter().all(|a| a.name != "axis" || a.i == 0);
            if is_gather && axis0 {
                n.input.first().and_then(|t| table_sizes.get(t).copied())
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(p: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
    }

    /// paddle2onnx and tf2onnx write `dim_value: -1` (some exporters 0) for a dynamic dim: it
    /// is dynamic, as in ONNX Runtime; a fixed dim the data contradicts is refused with both.
    #[test]
    fn minus_one_and_zero_dims_are_dynamic() {
        use pb::tensor_shape_proto::{dimension::Value as V, Dimension};
        use prost::Message;
        let dim = |v: V| Dimension {
            value: Some(v),
            ..Default::default()
        };
        let info = |name: &str| pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: 1,
                    shape: Some(pb::TensorShapeProto {
                        dim: vec![
                            dim(V::DimValue(-1)),
                            dim(V::DimValue(3)),
                            dim(V::DimValue(0)),
                            dim(V::DimParam("w".into())),
                        ],
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let proto = pb::ModelProto {
            ir_version: 7,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 11,
            }],
            graph: Some(pb::GraphProto {
                node: vec![pb::NodeProto {
                    op_type: "Identity".into(),
                    input: vec!["x".into()],
                    output: vec!["y".into()],
                    ..Default::default()
                }],
                input: vec![info("x")],
                output: vec![info("y")],
                ..Default::default()
            }),
            ..Default::default()
        };
        let m = Model::from_bytes(Path::new("paddle.onnx"), proto.encode_to_vec()).unwrap();
        assert_eq!(m.info.inputs[0].type_string(), "float32[?, 3, ?, w]");
        let t = |shape: Vec<usize>| {
            let n = shape.iter().product();
            crate::tensor::Tensor::new(shape, crate::tensor::TensorData::F32(vec![0.5; n])).unwrap()
        };
        crate::data::validate(&m, &[t(vec![1, 3, 48, 192])]).unwrap();
        let e = format!(
            "{:#}",
            crate::data::validate(&m, &[t(vec![1, 4, 48, 192])]).unwrap_err()
        );
        assert!(
            e.contains("float32[?, 3, ?, w]") && e.contains("[1, 4, 48, 192]"),
            "{e}"
        );
        // FLOPs at guessed sizes would mean little: unknown, with why; at the data's shapes, known.
        let mut m2 = m.clone();
        crate::engine::tract::fill_flops(&mut m2, &[], None);
        assert!(m2.info.flops.is_none(), "{}", m2.info.flops_note);
        assert!(
            m2.info.flops_note.contains("unnamed dim 2 of 'x' set to 1"),
            "{}",
            m2.info.flops_note
        );
        crate::engine::tract::fill_flops(&mut m2, &[], Some(&[vec![1, 3, 48, 192]]));
        assert!(m2.info.flops.is_some(), "{}", m2.info.flops_note);
        assert!(
            m2.info.flops_note.contains("[1, 3, 48, 192]"),
            "{}",
            m2.info.flops_note
        );
    }

    #[test]
    fn inspects_unusual_signatures() {
        let m = Model::load(&asset("tests/data/multi_io.onnx")).unwrap();
        let i = &m.info.inputs;
        assert_eq!(i.len(), 3);
        assert_eq!(i[0].type_string(), "int64[n_docs, doc len]");
        assert_eq!(i[1].type_string(), "bool[n_docs, doc len]");
        assert_eq!(i[2].type_string(), "float32[]");
        assert_eq!(m.batch_symbol(), Some(Dim::Symbol("n_docs".into())));
        assert_eq!(m.batch_axis(&i[0]), Some(0));
        assert_eq!(m.batch_axis(&i[2]), None);
        // 50x4 embedding held in a Constant node, plus two int64 axes initializers.
        assert_eq!(m.info.constant_node_parameters, 200);
        assert_eq!(m.info.parameter_count, 202);
        assert_eq!(m.gather_table_size("token_ids"), Some(50));

        let s = Model::load(&asset("tests/data/sequence_output.onnx")).unwrap();
        assert_eq!(s.info.outputs[1].type_string(), "seq(tensor(float32))");
        assert!(!s.info.outputs[1].is_tensor());
    }

    #[test]
    fn counts_weights_inside_subgraphs() {
        let m = Model::load(&asset("tests/data/if_subgraph.onnx")).unwrap();
        assert_eq!(m.info.subgraph_count, 2);
        assert_eq!(m.info.parameter_count, 48);
        assert_eq!(m.info.op_histogram.get("MatMul"), Some(&2));
        assert_eq!(m.info.op_histogram.get("Constant"), Some(&2));
    }

    #[test]
    fn recurrent_state_has_no_batch_axis() {
        let m = Model::load(&asset("tests/data/recurrent.onnx")).unwrap();
        assert_eq!(m.batch_axis(&m.info.inputs[0]), Some(0));
        assert_eq!(m.batch_axis(&m.info.inputs[1]), None);
        let f = Model::load(&asset("tests/data/fixed_batch.onnx")).unwrap();
        assert_eq!(f.batch_symbol(), None);
    }

    #[test]
    fn sklearn_models_use_an_unnamed_batch_dim_and_ml_ops() {
        let m = Model::load(&asset("assets/forest.onnx")).unwrap();
        assert_eq!(m.info.inputs[0].type_string(), "float32[?, 30]");
        assert_eq!(m.batch_axis(&m.info.inputs[0]), Some(0));
        assert!(m
            .info
            .op_histogram
            .contains_key("ai.onnx.ml:TreeEnsembleClassifier"));
    }

    #[test]
    fn bad_files_get_clear_errors() {
        let p = Path::new("x.onnx");
        let e = Model::from_bytes(p, vec![]).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = Model::from_bytes(p, b"hello, this is plain text\n".to_vec())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not"), "{e}");
        let good = std::fs::read(asset("assets/mlp.onnx")).unwrap();
        let e = Model::from_bytes(p, good[..good.len() / 2].to_vec())
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated") || e.contains("not"), "{e}");
    }
}
