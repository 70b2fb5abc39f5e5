//! Parameter counting: how many values a model holds and where (initializers, Constant nodes,
//! fills made at run time), for `inspect`, the window and the report.

use super::ModelInfo;
use tract_onnx::pb;

/// Bytes one element of ONNX type `code` takes.
pub(super) fn elem_size(code: i32) -> u64 {
    use pb::tensor_proto::DataType as T;
    match T::try_from(code) {
        Ok(T::Double | T::Int64 | T::Uint64 | T::Complex64) => 8,
        Ok(T::Complex128) => 16,
        Ok(T::Float | T::Int32 | T::Uint32) => 4,
        Ok(T::Float16 | T::Bfloat16 | T::Int16 | T::Uint16) => 2,
        _ => 1,
    }
}

/// Elements a tensor declares (its dims multiplied).
pub(super) fn tensor_elems(t: &pb::TensorProto) -> u64 {
    t.dims
        .iter()
        .fold(1u64, |a, &d| a.saturating_mul(d.max(0) as u64))
}

/// `, 200 of them in Constant nodes, 1.2 M filled at run time (ConstantOfShape)`: where the
/// parameters are held when not all in initializers, for the parameter count's line.
pub fn parameter_notes(i: &ModelInfo) -> String {
    let mut s = String::new();
    if i.constant_node_parameters > 0 {
        s.push_str(&format!(
            ", {} of them in Constant nodes",
            crate::format::count(i.constant_node_parameters)
        ));
    }
    if i.filled_parameters > 0 {
        s.push_str(&format!(
            ", {} filled at run time (ConstantOfShape: the file holds no values for them)",
            crate::format::count(i.filled_parameters)
        ));
    }
    s
}

/// The values of an int64 tensor held inline (raw or typed).
pub fn i64_values(t: &pb::TensorProto) -> Vec<i64> {
    if t.raw_data.is_empty() {
        return t.int64_data.clone();
    }
    t.raw_data
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

/// Values a `ConstantOfShape` node fills from a shape stored in `g` (elements, bytes).
pub(super) fn filled_params(g: &pb::GraphProto, n: &pb::NodeProto) -> Option<(u64, u64)> {
    if n.op_type != "ConstantOfShape" || !(n.domain.is_empty() || n.domain == "ai.onnx") {
        return None;
    }
    let shape = g
        .initializer
        .iter()
        .find(|t| Some(&t.name) == n.input.first())?;
    if shape.data_type != pb::tensor_proto::DataType::Int64 as i32 {
        return None;
    }
    let count = i64_values(shape)
        .iter()
        .fold(1u64, |a, &d| a.saturating_mul(d.max(0) as u64));
    let elem = n
        .attribute
        .iter()
        .find(|a| a.name == "value")
        .and_then(|a| a.t.as_ref())
        .map(|t| elem_size(t.data_type))
        .unwrap_or(4);
    Some((count, count.saturating_mul(elem)))
}

/// Parameters held by a `Constant` node: its tensor or list attribute.
pub(super) fn constant_node_params(n: &pb::NodeProto) -> (u64, u64) {
    let mut count = 0;
    let mut bytes = 0;
    for a in &n.attribute {
        match a.name.as_str() {
            "value" => {
                if let Some(t) = &a.t {
                    count += tensor_elems(t);
                    bytes += tensor_elems(t) * elem_size(t.data_type);
                }
            }
            "value_floats" => {
                count += a.floats.len() as u64;
                bytes += 4 * a.floats.len() as u64;
            }
            "value_ints" => {
                count += a.ints.len() as u64;
                bytes += 8 * a.ints.len() as u64;
            }
            "value_float" | "value_int" => {
                count += 1;
                bytes += if a.name == "value_int" { 8 } else { 4 };
            }
            _ => {}
        }
    }
    (count, bytes)
}
