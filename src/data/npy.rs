//! Reading NumPy `.npy` arrays and `.npz` archives of them.

use crate::tensor::{Tensor, TensorData};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// Parses one `.npy` file image. `what` names it in errors.
pub fn parse_npy(bytes: &[u8], what: &str) -> Result<Tensor> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("{what} is not a NumPy .npy array (bad magic bytes)");
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                bail!("{what} is truncated");
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => bail!("{what} uses .npy format version {v}, which is not supported"),
    };
    let header = bytes
        .get(start..start + header_len)
        .with_context(|| format!("{what} is truncated (header)"))?;
    let header = String::from_utf8_lossy(header);
    let descr =
        dict_value(&header, "descr").with_context(|| format!("{what}: header has no 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(&header, "fortran_order").unwrap_or("False") == "True";
    let shape_s =
        dict_value(&header, "shape").with_context(|| format!("{what}: header has no 'shape'"))?;
    let shape: Vec<usize> = shape_s
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("{what}: cannot read shape {shape_s}"))?;
    if fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        bail!("{what} is stored in Fortran (column-major) order; save it with np.ascontiguousarray(x)");
    }
    let data = &bytes[start + header_len..];
    let n = crate::tensor::element_count(&shape).with_context(|| what.to_string())?;
    let (endian, code) = match (descr.get(..1), descr.get(1..)) {
        (Some(e), Some(c)) => (e, c),
        _ => bail!("{what}: cannot read its dtype '{descr}'"),
    };
    let big = endian == ">";
    macro_rules! read {
        ($t:ty, $variant:ident) => {{
            let size = std::mem::size_of::<$t>();
            if data.len() / size < n {
                bail!(
                    "{what} is truncated: shape {:?} needs {} bytes of data, the file has {}",
                    shape,
                    n.saturating_mul(size),
                    data.len()
                );
            }
            let v: Vec<$t> = data[..n * size]
                .chunks_exact(size)
                .map(|c| {
                    let arr = c.try_into().unwrap_or([0; std::mem::size_of::<$t>()]);
                    if big {
                        <$t>::from_be_bytes(arr)
                    } else {
                        <$t>::from_le_bytes(arr)
                    }
                })
                .collect();
            TensorData::$variant(v)
        }};
    }
    let td = match code {
        "f4" => read!(f32, F32),
        "f8" => read!(f64, F64),
        "i8" => read!(i64, I64),
        "i4" => read!(i32, I32),
        "i1" => read!(i8, I8),
        "u1" => read!(u8, U8),
        "b1" => {
            if data.len() < n {
                bail!("{what} is truncated");
            }
            TensorData::Bool(data[..n].iter().map(|&b| b != 0).collect())
        }
        text if text.starts_with('U') || text.starts_with('S') => {
            TensorData::Str(strings(data, n, text, big, what)?)
        }
        "O" => bail!(
            "{what} is an object array (numpy pickles those): save text as fixed-width strings, np.asarray(x, dtype=str)"
        ),
        other => bail!(
            "{what} holds dtype '{descr}' ({other}), which Inferscope cannot feed; \
             supported: float32, float64, int64, int32, int8, uint8, bool, str (U) and bytes (S)"
        ),
    };
    Tensor::new(shape, td)
}

/// `n` fixed-width strings: numpy's `U<w>` (UTF-32, `w` characters) or `S<w>` (`w` bytes),
/// each padded with zeros.
fn strings(data: &[u8], n: usize, code: &str, big: bool, what: &str) -> Result<Vec<String>> {
    let width: usize = code[1..]
        .parse()
        .with_context(|| format!("{what}: cannot read the string width of '{code}'"))?;
    let unicode = code.starts_with('U');
    let item = if unicode {
        width.checked_mul(4)
    } else {
        Some(width)
    }
    .with_context(|| format!("{what}: string width {width} is too large"))?;
    if item == 0 {
        return Ok(vec![String::new(); n]);
    }
    if data.len() / item < n || n.checked_mul(item).is_none() {
        bail!(
            "{what} is truncated: {n} strings of {item} bytes need more than its {} bytes",
            data.len()
        );
    }
    Ok(data[..n * item]
        .chunks_exact(item)
        .map(|c| {
            if unicode {
                c.chunks_exact(4)
                    .map(|b| {
                        let b = [b[0], b[1], b[2], b[3]];
                        if big {
                            u32::from_be_bytes(b)
                        } else {
                            u32::from_le_bytes(b)
                        }
                    })
                    .take_while(|&u| u != 0)
                    .map(|u| char::from_u32(u).unwrap_or('\u{fffd}'))
                    .collect()
            } else {
                let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                String::from_utf8_lossy(&c[..end]).into_owned()
            }
        })
        .collect())
}

/// The raw text of `key`'s value in a Python dict literal (a tuple value keeps its parentheses).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let k = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[k + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

/// Arrays of an `.npz` archive, by name (without `.npy`), in archive order.
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a valid .npz archive", path.display()))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let name = entry.name().trim_end_matches(".npy").to_string();
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read array {name} from {}", path.display()))?;
        out.push((
            name.clone(),
            parse_npy(&bytes, &format!("array '{name}' in {}", path.display()))?,
        ));
    }
    if out.is_empty() {
        bail!("{} holds no arrays", path.display());
    }
    Ok(out)
}

/// Writes named tensors as an `.npz` archive (stored, not compressed), which [`read_npz`]
/// and numpy read back.
pub fn write_npz(path: &Path, arrays: &[(String, &Tensor)]) -> Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (name, t) in arrays {
        zip.start_file(format!("{name}.npy"), opts)
            .with_context(|| format!("cannot write array {name} to {}", path.display()))?;
        zip.write_all(&to_npy(t))?;
    }
    zip.finish()
        .with_context(|| format!("cannot finish {}", path.display()))?;
    Ok(())
}

/// Encodes a tensor as `.npy` (version 1), for tests and exports.
pub fn to_npy(t: &Tensor) -> Vec<u8> {
    let (descr, body): (&str, Vec<u8>) = match &t.data {
        TensorData::F32(v) => ("<f4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::F64(v) => ("<f8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I64(v) => ("<i8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I32(v) => ("<i4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I8(v) => ("|i1", v.iter().map(|&x| x as u8).collect()),
        TensorData::U8(v) => ("|u1", v.clone()),
        TensorData::Bool(v) => ("|b1", v.iter().map(|&x| x as u8).collect()),
        TensorData::Str(v) => {
            // numpy's fixed-width unicode: as wide as the longest string, zero-padded.
            let width = v
                .iter()
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
                .max(1);
            let mut body = Vec::with_capacity(v.len() * width * 4);
            for s in v {
                let mut k = 0;
                for c in s.chars() {
                    body.extend_from_slice(&(c as u32).to_le_bytes());
                    k += 1;
                }
                body.resize(body.len() + (width - k) * 4, 0);
            }
            return npy_bytes(&format!("<U{width}"), &t.shape, &body);
        }
    };
    npy_bytes(descr, &t.shape, &body)
}

/// An `.npy` (version 1) image of `body` with dtype `descr` and `shape`.
fn npy_bytes(descr: &str, shape: &[usize], body: &[u8]) -> Vec<u8> {
    let shape = match shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_dtype_and_scalars() {
        for t in [
            Tensor::new(
                vec![2, 3],
                TensorData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]),
            )
            .unwrap(),
            Tensor::new(vec![], TensorData::F64(vec![0.25])).unwrap(),
            Tensor::new(vec![3], TensorData::I64(vec![-1, 0, 7])).unwrap(),
            Tensor::new(vec![1, 2], TensorData::Bool(vec![true, false])).unwrap(),
            Tensor::new(vec![2], TensorData::I8(vec![-3, 4])).unwrap(),
        ] {
            assert_eq!(parse_npy(&to_npy(&t), "t").unwrap(), t);
        }
    }

    #[test]
    fn reads_the_asset_archive_written_by_numpy() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/breast_cancer.npz");
        let arrays = read_npz(&p).unwrap();
        let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["X", "labels"]);
        assert_eq!(arrays[0].1.shape, vec![171, 30]);
        assert_eq!(arrays[1].1.dtype(), crate::tensor::DType::I64);
    }

    #[test]
    fn rejects_bad_npy() {
        assert!(parse_npy(b"hello world, not numpy", "x")
            .unwrap_err()
            .to_string()
            .contains("not a NumPy"));
        let t = Tensor::new(vec![4], TensorData::F32(vec![1.0; 4])).unwrap();
        let b = to_npy(&t);
        assert!(parse_npy(&b[..b.len() - 3], "x")
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        let mut c = b.clone();
        let at = c.windows(3).position(|w| w == b"<f4").unwrap();
        c[at + 1..at + 3].copy_from_slice(b"c8");
        let e = parse_npy(&c, "x").unwrap_err().to_string();
        assert!(e.contains("cannot feed"), "{e}");
    }
}
