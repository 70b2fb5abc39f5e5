//! Weights in external data files (ONNX's external-data format: a tensor's bytes sit in a file
//! beside the model, at `location`, from `offset`, `length` bytes long). Every model over 2 GB
//! must use it, and PyTorch's exporter writes it for large models.
//!
//! Inferscope reads those files once, checks them, and puts each tensor's bytes back into the
//! model it holds (`raw_data`), so both engines, every rewrite and every file it writes see an
//! ordinary model; the data files count in the model's size and sha256. A model that would be
//! over protobuf's 2 GB once inlined is refused with that reason.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use tract_onnx::pb;

/// `TensorProto.data_location` of a tensor whose bytes are in a file.
const EXTERNAL: i32 = 1;
/// Protobuf's limit on one message: a model inlined past it cannot be encoded.
const PROTO_LIMIT: u64 = (2u64 << 30) - 1;

/// What a model keeps outside its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalData {
    /// The data files, relative to the model's folder, with their sizes in bytes.
    pub files: Vec<(String, u64)>,
    /// Tensors read from them.
    pub tensors: usize,
    pub bytes: u64,
}

/// What [`inline`] read: the external data, and the sha256 of the model file followed by its
/// data files (in the order of their names), the model's identity.
pub struct Inlined {
    pub external: ExternalData,
    pub sha256: String,
}

/// Whether any tensor of `m` (initializers and `Constant` nodes, subgraphs included) keeps its
/// bytes in a file.
pub fn uses_external(m: &pb::ModelProto) -> bool {
    let mut any = false;
    if let Some(g) = &m.graph {
        crate::optimize::graph::visit(g, &mut |g: &pb::GraphProto| {
            any |= g
                .initializer
                .iter()
                .any(|t| t.data_location == Some(EXTERNAL))
                || g.node.iter().any(|n| {
                    n.attribute.iter().any(|a| {
                        a.t.as_ref()
                            .is_some_and(|t| t.data_location == Some(EXTERNAL))
                            || a.tensors.iter().any(|t| t.data_location == Some(EXTERNAL))
                    })
                });
        });
    }
    any
}

/// Where a tensor's bytes are, as its `external_data` entries say.
struct Place {
    location: String,
    offset: u64,
    length: Option<u64>,
}

fn place(t: &pb::TensorProto) -> Result<Place> {
    let get = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.as_str())
    };
    let number = |k: &str| -> Result<Option<u64>> {
        get(k)
            .map(|v| {
                v.trim().parse::<u64>().with_context(|| {
                    format!("tensor {}: external data {k} '{v}' is not a number", t.name)
                })
            })
            .transpose()
    };
    Ok(Place {
        location: get("location")
            .filter(|l| !l.is_empty())
            .with_context(|| format!("tensor {} is marked external but names no file", t.name))?
            .to_string(),
        offset: number("offset")?.unwrap_or(0),
        length: number("length")?,
    })
}

/// `location` inside `dir`: relative, without `..`, and (once links are followed) still in it,
/// as ONNX Runtime and tract require.
fn resolve(dir: &Path, location: &str, tensor: &str) -> Result<PathBuf> {
    let rel = Path::new(location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        bail!(
            "tensor {tensor}: its external data file {location} is outside the model's folder {} (only paths inside it are read)",
            dir.display()
        );
    }
    let path = dir.join(rel);
    let real = path.canonicalize().with_context(|| {
        format!(
            "tensor {tensor}: its external data file {} is missing",
            path.display()
        )
    })?;
    let real_dir = dir
        .canonicalize()
        .with_context(|| format!("cannot read the folder {}", dir.display()))?;
    if !real.starts_with(&real_dir) {
        bail!(
            "tensor {tensor}: its external data file {} leads outside the model's folder {} (a link)",
            path.display(),
            dir.display()
        );
    }
    Ok(real)
}

/// The bytes a tensor of `t`'s type and shape holds, when its type has a fixed size.
fn expected_bytes(t: &pb::TensorProto) -> Option<u64> {
    let size = match t.data_type {
        1 | 6 | 12 => 4,       // float, int32, uint32
        2 | 3 | 9 => 1,        // uint8, int8, bool
        4 | 5 | 10 | 16 => 2,  // uint16, int16, float16, bfloat16
        7 | 11 | 13 | 14 => 8, // int64, double, uint64, complex64
        15 => 16,              // complex128
        _ => return None,
    };
    let n = t
        .dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))?;
    n.checked_mul(size)
}

/// Reads every external tensor of `m` (decoded from `model_file`) from the files beside
/// `model_path` into its `raw_data`. What was read, or an error naming the tensor and the file.
pub fn inline(m: &mut pb::ModelProto, model_path: &Path, model_file: &[u8]) -> Result<Inlined> {
    let dir = model_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut files: BTreeMap<String, (PathBuf, Vec<u8>)> = BTreeMap::new();
    let mut tensors = 0usize;
    let mut bytes = 0u64;
    let mut on_disk = 0u64;
    let mut failure: Option<anyhow::Error> = None;
    let mut fill = |t: &mut pb::TensorProto| -> Result<()> {
        if t.data_location != Some(EXTERNAL) {
            return Ok(());
        }
        let p = place(t)?;
        if !files.contains_key(&p.location) {
            let path = resolve(dir, &p.location, &t.name)?;
            // Refused before it is read: a model that cannot be held is not loaded whole.
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            on_disk = on_disk.saturating_add(size);
            if on_disk.saturating_add(model_file.len() as u64) > PROTO_LIMIT {
                bail!(
                    "{} keeps over 2 GB of weights in external data: more than one ONNX file can hold, which is how Inferscope holds a model",
                    model_path.display()
                );
            }
            let data = std::fs::read(&path)
                .with_context(|| format!("tensor {}: cannot read {}", t.name, path.display()))?;
            files.insert(p.location.clone(), (path, data));
        }
        let (path, data) = &files[&p.location];
        let len = p
            .length
            .unwrap_or_else(|| (data.len() as u64).saturating_sub(p.offset));
        let end = p.offset.saturating_add(len);
        if end > data.len() as u64 {
            bail!(
                "tensor {}: its external data is bytes {}..{end} of {}, which holds only {} bytes (the file is truncated or belongs to another model)",
                t.name,
                p.offset,
                path.display(),
                data.len()
            );
        }
        if let Some(want) = expected_bytes(t).filter(|&w| w != len) {
            bail!(
                "tensor {}: its shape {:?} needs {want} bytes but its external data in {} is {len} bytes",
                t.name,
                t.dims,
                path.display()
            );
        }
        t.raw_data = data[p.offset as usize..end as usize].to_vec();
        t.data_location = None;
        t.external_data.clear();
        tensors += 1;
        bytes += len;
        Ok(())
    };
    if let Some(g) = m.graph.as_mut() {
        crate::optimize::graph::visit_mut(g, &mut |g: &mut pb::GraphProto| {
            let all = g
                .initializer
                .iter_mut()
                .chain(g.node.iter_mut().flat_map(|n| {
                    n.attribute
                        .iter_mut()
                        .flat_map(|a| a.t.iter_mut().chain(a.tensors.iter_mut()))
                }));
            for t in all {
                if failure.is_none() {
                    if let Err(e) = fill(t) {
                        failure = Some(e);
                    }
                }
            }
        });
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if bytes > PROTO_LIMIT {
        bail!(
            "{} keeps {} of weights in external data: over the 2 GB that one ONNX file can hold, which is how Inferscope holds a model",
            model_path.display(),
            crate::format::bytes(bytes)
        );
    }
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(model_file);
    for (_, d) in files.values() {
        h.update(d);
    }
    Ok(Inlined {
        sha256: h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        external: ExternalData {
            files: files
                .into_iter()
                .map(|(k, (_, d))| (k, d.len() as u64))
                .collect(),
            tensors,
            bytes,
        },
    })
}
