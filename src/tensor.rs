//! A small owned n-dimensional array with a run-time element type: what flows between data
//! readers, engines and comparisons.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Element types Inferscope can feed to a model and read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F64,
    I64,
    I32,
    I8,
    U8,
    Bool,
    /// UTF-8 text (ONNX `STRING`): fed to ONNX Runtime; tract has no string kernels.
    Str,
}

impl DType {
    /// The ONNX `TensorProto.DataType` code of this type.
    pub fn onnx_code(self) -> i32 {
        match self {
            DType::F32 => 1,
            DType::U8 => 2,
            DType::I8 => 3,
            DType::I32 => 6,
            DType::I64 => 7,
            DType::Bool => 9,
            DType::F64 => 11,
            DType::Str => 8,
        }
    }

    /// The inverse of [`DType::onnx_code`]; `None` for types we cannot feed (fp16, ...).
    pub fn from_onnx_code(code: i32) -> Option<DType> {
        Some(match code {
            1 => DType::F32,
            2 => DType::U8,
            3 => DType::I8,
            6 => DType::I32,
            7 => DType::I64,
            9 => DType::Bool,
            11 => DType::F64,
            8 => DType::Str,
            _ => return None,
        })
    }

    /// Bytes per element (a string's: its pointer, length and capacity, what it holds in
    /// memory besides its text).
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::Str => std::mem::size_of::<String>(),
        }
    }

    /// The numpy spelling, used in error messages that tell the user how to convert.
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::Bool => "bool",
            DType::Str => "str_",
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.numpy_name())
    }
}

/// The elements of a [`Tensor`], in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

macro_rules! each_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::F32($v) => $body,
            TensorData::F64($v) => $body,
            TensorData::I64($v) => $body,
            TensorData::I32($v) => $body,
            TensorData::I8($v) => $body,
            TensorData::U8($v) => $body,
            TensorData::Bool($v) => $body,
            TensorData::Str($v) => $body,
        }
    };
}

impl TensorData {
    /// An empty vector of `dtype` with room for `cap` elements.
    pub fn with_capacity(dtype: DType, cap: usize) -> TensorData {
        match dtype {
            DType::F32 => TensorData::F32(Vec::with_capacity(cap)),
            DType::F64 => TensorData::F64(Vec::with_capacity(cap)),
            DType::I64 => TensorData::I64(Vec::with_capacity(cap)),
            DType::I32 => TensorData::I32(Vec::with_capacity(cap)),
            DType::I8 => TensorData::I8(Vec::with_capacity(cap)),
            DType::U8 => TensorData::U8(Vec::with_capacity(cap)),
            DType::Bool => TensorData::Bool(Vec::with_capacity(cap)),
            DType::Str => TensorData::Str(Vec::with_capacity(cap)),
        }
    }

    /// Appends `src[range]`; both must hold the same element type.
    pub fn extend_from(&mut self, src: &TensorData, range: std::ops::Range<usize>) -> Result<()> {
        match (self, src) {
            (TensorData::F32(o), TensorData::F32(s)) => o.extend_from_slice(&s[range]),
            (TensorData::F64(o), TensorData::F64(s)) => o.extend_from_slice(&s[range]),
            (TensorData::I64(o), TensorData::I64(s)) => o.extend_from_slice(&s[range]),
            (TensorData::I32(o), TensorData::I32(s)) => o.extend_from_slice(&s[range]),
            (TensorData::I8(o), TensorData::I8(s)) => o.extend_from_slice(&s[range]),
            (TensorData::U8(o), TensorData::U8(s)) => o.extend_from_slice(&s[range]),
            (TensorData::Bool(o), TensorData::Bool(s)) => o.extend_from_slice(&s[range]),
            (TensorData::Str(o), TensorData::Str(s)) => o.extend_from_slice(&s[range]),
            (o, s) => bail!("cannot join {} data with {} data", o.dtype(), s.dtype()),
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        each_data!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::I64(_) => DType::I64,
            TensorData::I32(_) => DType::I32,
            TensorData::I8(_) => DType::I8,
            TensorData::U8(_) => DType::U8,
            TensorData::Bool(_) => DType::Bool,
            TensorData::Str(_) => DType::Str,
        }
    }
}

/// An owned, row-major n-dimensional array.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

/// The number of elements of `shape`, or an error naming it when that does not fit in memory's
/// address space (a crafted file or a huge symbolic dim).
pub fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .with_context(|| format!("shape {shape:?} has more elements than this machine can address"))
}

impl Tensor {
    /// Builds a tensor, checking that the shape and the element count agree.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor> {
        let expected = element_count(&shape)?;
        if expected != data.len() {
            bail!(
                "shape {:?} holds {} elements but {} were given",
                shape,
                expected,
                data.len()
            );
        }
        Ok(Tensor { shape, data })
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Rows `start..end` along `axis` (the batch axis), copied.
    pub fn slice_axis(&self, axis: usize, start: usize, end: usize) -> Result<Tensor> {
        let Some(&dim) = self.shape.get(axis) else {
            bail!("axis {axis} is out of range for shape {:?}", self.shape);
        };
        if start > end || end > dim {
            bail!("rows {start}..{end} are out of range for axis {axis} of size {dim}");
        }
        let outer: usize = self.shape[..axis].iter().product();
        let inner: usize = self.shape[axis + 1..].iter().product();
        let mut shape = self.shape.clone();
        shape[axis] = end - start;
        let mut data = TensorData::with_capacity(self.dtype(), outer * (end - start) * inner);
        for o in 0..outer {
            let base = o * dim * inner;
            data.extend_from(&self.data, base + start * inner..base + end * inner)?;
        }
        Ok(Tensor { shape, data })
    }

    /// `rows` rows along `axis`, starting at `start` and wrapping around to the first row,
    /// so any batch size can be cut from a sample set of any size.
    pub fn take_rows_wrapping(&self, axis: usize, start: usize, rows: usize) -> Result<Tensor> {
        let dim = self.shape.get(axis).copied().unwrap_or(0);
        if dim == 0 {
            bail!(
                "cannot take rows from an empty axis {axis} (shape {:?})",
                self.shape
            );
        }
        let mut parts = Vec::new();
        let mut taken = 0;
        let mut pos = start % dim;
        while taken < rows {
            let n = (dim - pos).min(rows - taken);
            parts.push(self.slice_axis(axis, pos, pos + n)?);
            taken += n;
            pos = 0;
        }
        Tensor::concat(axis, &parts)
    }

    /// Concatenates tensors of one dtype along `axis`.
    pub fn concat(axis: usize, parts: &[Tensor]) -> Result<Tensor> {
        let Some(first) = parts.first() else {
            bail!("nothing to concatenate");
        };
        if parts.len() == 1 {
            return Ok(first.clone());
        }
        for p in parts {
            if p.dtype() != first.dtype()
                || p.shape.len() != first.shape.len()
                || p.shape
                    .iter()
                    .zip(&first.shape)
                    .enumerate()
                    .any(|(i, (a, b))| i != axis && a != b)
            {
                bail!("cannot concatenate {:?} with {:?}", p.shape, first.shape);
            }
        }
        let outer: usize = first.shape[..axis].iter().product();
        let inner: usize = first.shape[axis + 1..].iter().product();
        let mut shape = first.shape.clone();
        shape[axis] = parts.iter().map(|p| p.shape[axis]).sum();
        let mut data = TensorData::with_capacity(first.dtype(), shape.iter().product());
        for o in 0..outer {
            for p in parts {
                let rows = p.shape[axis];
                data.extend_from(&p.data, o * rows * inner..(o + 1) * rows * inner)?;
            }
        }
        Tensor::new(shape, data)
    }

    /// Values as f64, for statistics and comparisons (bools become 0/1; strings NaN: they
    /// are compared as text, [`Tensor::strings`]).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
            TensorData::Str(v) => vec![f64::NAN; v.len()],
        }
    }

    /// The text of a string tensor.
    pub fn strings(&self) -> Option<&[String]> {
        match &self.data {
            TensorData::Str(v) => Some(v),
            _ => None,
        }
    }

    /// Index of the first NaN or infinite element, if any.
    pub fn first_non_finite(&self) -> Option<usize> {
        match &self.data {
            TensorData::F32(v) => v.iter().position(|x| !x.is_finite()),
            TensorData::F64(v) => v.iter().position(|x| !x.is_finite()),
            _ => None,
        }
    }

    /// Converts float data to another float type; integer data only to a wider integer.
    /// Used where a source has no dtype of its own (CSV) or widening loses nothing.
    pub fn cast_to(&self, to: DType) -> Result<Tensor> {
        if self.dtype() == to {
            return Ok(self.clone());
        }
        if self.dtype() == DType::Str || to == DType::Str {
            bail!("cannot convert {} to {}", self.dtype(), to);
        }
        let v = self.to_f64_vec();
        let data = match to {
            DType::F32 => TensorData::F32(v.iter().map(|&x| x as f32).collect()),
            DType::F64 => TensorData::F64(v),
            DType::I64 if !self.dtype().is_float() => {
                TensorData::I64(v.iter().map(|&x| x as i64).collect())
            }
            DType::I32 if matches!(self.dtype(), DType::I8 | DType::U8 | DType::Bool) => {
                TensorData::I32(v.iter().map(|&x| x as i32).collect())
            }
            _ => bail!(
                "cannot convert {} to {} without losing values",
                self.dtype(),
                to
            ),
        };
        Ok(Tensor {
            shape: self.shape.clone(),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: Vec<i64>) -> Tensor {
        Tensor::new(shape.to_vec(), TensorData::I64(v)).unwrap()
    }

    #[test]
    fn slices_and_wraps_along_an_inner_axis() {
        // shape [2, 3]: slice axis 1
        let x = t(&[2, 3], vec![0, 1, 2, 10, 11, 12]);
        assert_eq!(
            x.slice_axis(1, 1, 3).unwrap(),
            t(&[2, 2], vec![1, 2, 11, 12])
        );
        assert_eq!(
            x.take_rows_wrapping(1, 2, 4).unwrap(),
            t(&[2, 4], vec![2, 0, 1, 2, 12, 10, 11, 12])
        );
        assert_eq!(
            x.take_rows_wrapping(0, 1, 3).unwrap(),
            t(&[3, 3], vec![10, 11, 12, 0, 1, 2, 10, 11, 12])
        );
    }

    #[test]
    fn rejects_shape_mismatch_and_lossy_casts() {
        assert!(Tensor::new(vec![2, 2], TensorData::F32(vec![1.0; 3])).is_err());
        let f = Tensor::new(vec![1], TensorData::F32(vec![1.5])).unwrap();
        assert!(f.cast_to(DType::I64).is_err());
        assert_eq!(
            f.cast_to(DType::F64).unwrap().data,
            TensorData::F64(vec![1.5])
        );
    }
}
