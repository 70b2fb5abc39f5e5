//! Sample inputs: read from .npy/.npz/.csv or synthesized from the model's shapes, checked
//! against the model, and cut into batches.

pub mod npy;

use crate::model::{Dim, Model, ValueSpec};
use crate::tensor::{DType, Tensor, TensorData};
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How to synthesize inputs when no data file is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthOptions {
    /// Sizes for symbolic dims by name (`batch=8`, `seq=128`).
    pub dims: BTreeMap<String, usize>,
    /// Range `[lo, hi)` for integer inputs; by default the size of the table an id indexes,
    /// else `[0, 10)`.
    pub int_range: Option<(i64, i64)>,
    pub seed: u64,
    /// Samples along the batch axis.
    pub samples: usize,
}

/// The most elements one synthesized input may have (8 GB of float32).
const MAX_SYNTH_ELEMENTS: usize = 1 << 31;

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            dims: BTreeMap::new(),
            int_range: None,
            seed: 0,
            samples: 64,
        }
    }
}

/// Where inputs come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DataSource {
    File {
        path: PathBuf,
        label_column: Option<String>,
    },
    Synthetic(SynthOptions),
}

/// Inputs for every model input, plus optional labels.
#[derive(Clone, Debug)]
pub struct SampleSet {
    /// One tensor per model input, in graph order.
    pub inputs: Vec<Tensor>,
    pub labels: Option<Tensor>,
    /// Samples along the batch axis, when the model has one.
    pub n_samples: Option<usize>,
    /// Where the data came from, for reports.
    pub description: String,
    /// Defaults chosen on the user's behalf (dims, ranges), shown so nothing is hidden.
    pub notes: Vec<String>,
    /// Names of the feature columns (a CSV header), for permutation importance.
    pub feature_names: Option<Vec<String>>,
    /// Dims nobody gave a size that synthesis set to 1, as notes say them: the shapes are a
    /// guess there (FLOPs at them would mean little).
    pub guessed_dims: Vec<String>,
    /// Made up from the model's shapes, not read from the user's data: what is judged on it
    /// (fidelity, int8 ranges) says little about real inputs.
    pub synthesized: bool,
}

/// Default size of a symbolic dim nobody set: sequence-like names get 128, image sides 224.
fn default_dim(name: &str) -> usize {
    let n = name.to_lowercase();
    if ["seq", "len", "token", "time", "step", "sentence"]
        .iter()
        .any(|k| n.contains(k))
    {
        128
    } else if ["height", "width"].iter().any(|k| n.contains(k)) || n == "h" || n == "w" {
        224
    } else {
        1
    }
}

/// Loads or synthesizes the inputs of `model` and checks them.
pub fn load(model: &Model, source: &DataSource) -> Result<SampleSet> {
    let set = match source {
        DataSource::Synthetic(opts) => synthesize(model, opts)?,
        DataSource::File { path, label_column } => {
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            match ext.as_str() {
                "npy" => from_npy(model, path)?,
                "npz" => from_npz(model, path)?,
                "csv" => from_csv(model, path, label_column.as_deref())?,
                _ => bail!(
                    "{} is not a data file Inferscope reads: use .npy (one input), .npz (arrays named like the inputs) or .csv",
                    path.display()
                ),
            }
        }
    };
    validate(model, &set.inputs)?;
    let mut set = set;
    set.notes.extend(non_finite_notes(model, &set.inputs));
    set.notes.extend(unequal_batches(model, &set.inputs));
    Ok(set)
}

/// Checks count, dtype, rank and fixed dims of `inputs` against the model (NaN is fed:
/// [`non_finite_notes`] says how much).
pub fn validate(model: &Model, inputs: &[Tensor]) -> Result<()> {
    let specs = model.inputs();
    if inputs.len() != specs.len() {
        bail!(
            "the model takes {} inputs but the data provides {}",
            specs.len(),
            inputs.len()
        );
    }
    for (spec, t) in specs.iter().zip(inputs) {
        let Some(want) = spec.dtype() else {
            bail!(
                "input '{}' has type {}, which Inferscope cannot feed",
                spec.name,
                spec.type_string()
            );
        };
        if t.dtype() != want {
            bail!(
                "input '{}' expects {} but the data holds {}; convert it (numpy: x.astype(np.{}))",
                spec.name,
                want,
                t.dtype(),
                want.numpy_name()
            );
        }
        if let Some(shape) = spec.shape() {
            let mismatch = shape.len() != t.shape.len()
                || shape
                    .iter()
                    .zip(&t.shape)
                    .any(|(d, &n)| matches!(d, Dim::Fixed(v) if *v != n as i64));
            if mismatch {
                bail!(
                    "input '{}' expects shape {} but the data has shape {:?}",
                    spec.name,
                    spec.type_string(),
                    t.shape
                );
            }
        }
    }
    Ok(())
}

/// What the data holds that is not a finite number, input by input: NaN is information, not a
/// defect (gradient-boosted trees read it as a missing value), so it is fed as it is and said.
pub fn non_finite_notes(model: &Model, inputs: &[Tensor]) -> Vec<String> {
    let mut out = Vec::new();
    for (spec, t) in model.inputs().iter().zip(inputs) {
        if !t.dtype().is_float() || t.first_non_finite().is_none() {
            continue;
        }
        let v = t.to_f64_vec();
        let nan = v.iter().filter(|x| x.is_nan()).count();
        let inf = v.iter().filter(|x| x.is_infinite()).count();
        let share = |n: usize| 100.0 * n as f64 / v.len().max(1) as f64;
        let mut parts = Vec::new();
        if nan > 0 {
            parts.push(format!("{nan} NaN ({:.1}% of its values)", share(nan)));
        }
        if inf > 0 {
            parts.push(format!("{inf} infinite ({:.1}%)", share(inf)));
        }
        out.push(format!(
            "input '{}' holds {}: fed as given (tree ensembles read NaN as a missing value; most other models pass it through to their outputs)",
            spec.name,
            parts.join(" and ")
        ));
    }
    out
}

/// Samples along the batch axis; `None` without one, or where the inputs' lengths along it
/// differ (see [`unequal_batches`]): such data is fed as given.
fn count_samples(model: &Model, inputs: &[Tensor]) -> Result<Option<usize>> {
    if unequal_batches(model, inputs).is_some() {
        return Ok(None);
    }
    let n = model
        .inputs()
        .iter()
        .zip(inputs)
        .find_map(|(spec, t)| Some(t.shape.get(model.batch_axis(spec)?).copied().unwrap_or(0)));
    if n == Some(0) {
        bail!("the data holds no samples");
    }
    Ok(n)
}

/// Where inputs that share the batch dim hold different lengths along it (a model whose `N`
/// is a sequence length, not a batch: phonemes and per-character counts), says so. ONNX
/// Runtime runs such data as given; it cannot be cut into batches.
pub fn unequal_batches(model: &Model, inputs: &[Tensor]) -> Option<String> {
    let lengths: Vec<(String, usize)> = model
        .inputs()
        .iter()
        .zip(inputs)
        .filter_map(|(spec, t)| {
            let axis = model.batch_axis(spec)?;
            Some((spec.name.clone(), t.shape.get(axis).copied().unwrap_or(0)))
        })
        .collect();
    let first = lengths.first()?.1;
    lengths.iter().any(|(_, n)| *n != first).then(|| {
        format!(
            "the inputs that share the first dim hold different lengths along it ({}): it is not a batch, so the data is fed as given, whole, and cannot be cut into batches",
            lengths
                .iter()
                .map(|(name, n)| format!("'{name}' {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn split_labels(
    model: &Model,
    arrays: Vec<(String, Tensor)>,
) -> (Vec<(String, Tensor)>, Option<Tensor>) {
    let mut labels = None;
    let mut rest = Vec::new();
    for (name, t) in arrays {
        let is_label = matches!(name.as_str(), "labels" | "label" | "y" | "target")
            && !model.inputs().iter().any(|i| i.name == name);
        if is_label {
            labels = Some(t);
        } else {
            rest.push((name, t));
        }
    }
    (rest, labels)
}

fn from_npy(model: &Model, path: &Path) -> Result<SampleSet> {
    if model.inputs().len() != 1 {
        bail!(
            "{} holds one array but the model takes {} inputs ({}); put them in an .npz with those names",
            path.display(),
            model.inputs().len(),
            model.inputs().iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let t = npy::parse_npy(&bytes, &path.display().to_string())?;
    let inputs = vec![t];
    Ok(SampleSet {
        n_samples: count_samples(model, &inputs)?,
        inputs,
        labels: None,
        description: path.display().to_string(),
        notes: vec![],
        feature_names: None,
        guessed_dims: Vec::new(),
        synthesized: false,
    })
}

fn from_npz(model: &Model, path: &Path) -> Result<SampleSet> {
    let (arrays, labels) = split_labels(model, npy::read_npz(path)?);
    let specs = model.inputs();
    let mut inputs = Vec::new();
    for spec in specs {
        let found = arrays
            .iter()
            .find(|(n, _)| *n == spec.name)
            .map(|(_, t)| t.clone());
        let t = match found {
            Some(t) => t,
            None if specs.len() == 1 && arrays.len() == 1 => arrays[0].1.clone(),
            None => bail!(
                "{} has no array named '{}' (it holds: {}); name the arrays like the model's inputs",
                path.display(),
                spec.name,
                arrays.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
        };
        inputs.push(t);
    }
    let n_samples = count_samples(model, &inputs)?;
    if let (Some(l), Some(n)) = (&labels, n_samples) {
        if l.shape.first() != Some(&n) {
            bail!(
                "{}: labels hold {:?} values but the inputs hold {n} samples",
                path.display(),
                l.shape
            );
        }
    }
    Ok(SampleSet {
        inputs,
        labels,
        n_samples,
        description: path.display().to_string(),
        notes: vec![],
        feature_names: None,
        guessed_dims: Vec::new(),
        synthesized: false,
    })
}

/// Header names taken as the label column when the CSV has one column more than the model.
const LABEL_NAMES: &[&str] = &["label", "labels", "target", "y", "class"];

/// Fields read as a missing value in a float column (NaN), as pandas reads them.
const MISSING: &[&str] = &["", "na", "n/a", "nan", "null", "none", "?"];

fn is_label_name(s: &str) -> bool {
    LABEL_NAMES.contains(&s.to_ascii_lowercase().as_str())
}

/// A CSV file feeds a model in one of two ways: one 2-D input takes every column but the
/// label (a feature matrix), or each input takes the column headed with its name (skl2onnx
/// pipelines with one input per feature, text and numbers side by side). Float columns read
/// empty fields and `NA`/`nan` as missing (NaN); string inputs read fields as given.
fn from_csv(model: &Model, path: &Path, label_column: Option<&str>) -> Result<SampleSet> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut rows: Vec<csv::StringRecord> = Vec::new();
    for (i, r) in reader.records().enumerate() {
        rows.push(r.with_context(|| format!("{}: line {} is malformed", path.display(), i + 1))?);
    }
    if rows.is_empty() {
        bail!("{} is empty", path.display());
    }
    let specs = model.inputs();
    // One column an input when every input heads a column and none takes a whole row.
    let one_column = |s: &ValueSpec| match s.shape() {
        Some([_]) | Some([_, Dim::Fixed(1)]) => true,
        Some([_, _]) => specs.len() > 1,
        _ => false,
    };
    let by_name = specs
        .iter()
        .all(|s| one_column(s) && rows[0].iter().any(|f| f == s.name));
    if by_name {
        return csv_by_name(model, path, &rows, label_column);
    }
    match specs {
        [one] if one.shape().is_some_and(|s| s.len() == 2) && one.dtype().is_some() => {
            csv_matrix(one, path, &rows, label_column)
        }
        _ => bail!(
            "a CSV file feeds one 2-D input, or one column per input headed with its name ({}); this model takes {}. Use an .npz instead",
            specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
            specs.iter().map(|s| format!("{} {}", s.name, s.type_string())).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The column `name`, or the 0-based index `name`, in `header`.
fn column_named(path: &Path, header: Option<&[String]>, name: &str) -> Result<usize> {
    header
        .and_then(|h| h.iter().position(|c| c == name))
        .or_else(|| name.parse::<usize>().ok())
        .with_context(|| {
            format!(
                "{} has no column named '{name}' (give a header name or a 0-based index)",
                path.display()
            )
        })
}

/// One CSV field as a value of `dtype`, into `out`.
fn push_field(out: &mut TensorData, field: &str, at: impl Fn() -> String) -> Result<()> {
    let missing = || MISSING.contains(&field.to_ascii_lowercase().as_str());
    let number = |what: &str| anyhow::anyhow!("{}: '{field}' is not {what}", at());
    match out {
        TensorData::F32(v) => v.push(match field.parse() {
            Ok(x) => x,
            Err(_) if missing() => f32::NAN,
            Err(_) => return Err(number("a number")),
        }),
        TensorData::F64(v) => v.push(match field.parse() {
            Ok(x) => x,
            Err(_) if missing() => f64::NAN,
            Err(_) => return Err(number("a number")),
        }),
        TensorData::I64(v) => v.push(field.parse().map_err(|_| number("an integer"))?),
        TensorData::I32(v) => v.push(field.parse().map_err(|_| number("a 32-bit integer"))?),
        TensorData::I8(v) => v.push(field.parse().map_err(|_| number("an 8-bit integer"))?),
        TensorData::U8(v) => v.push(field.parse().map_err(|_| number("a byte (0 to 255)"))?),
        TensorData::Bool(v) => v.push(match field.to_ascii_lowercase().as_str() {
            "1" | "true" => true,
            "0" | "false" => false,
            _ => return Err(number("true, false, 1 or 0")),
        }),
        TensorData::Str(v) => v.push(field.to_string()),
    }
    Ok(())
}

fn empty_data(dtype: DType) -> TensorData {
    match dtype {
        DType::F32 => TensorData::F32(Vec::new()),
        DType::F64 => TensorData::F64(Vec::new()),
        DType::I64 => TensorData::I64(Vec::new()),
        DType::I32 => TensorData::I32(Vec::new()),
        DType::I8 => TensorData::I8(Vec::new()),
        DType::U8 => TensorData::U8(Vec::new()),
        DType::Bool => TensorData::Bool(Vec::new()),
        DType::Str => TensorData::Str(Vec::new()),
    }
}

/// Labels from a CSV column: integers as classes, else numbers; text is not a label.
fn csv_labels(path: &Path, fields: &[&str], first_line: usize) -> Result<Tensor> {
    let mut v = Vec::with_capacity(fields.len());
    for (r, f) in fields.iter().enumerate() {
        v.push(f.parse::<f64>().map_err(|_| {
            anyhow::anyhow!(
                "{}: line {}: label '{f}' is not a number",
                path.display(),
                first_line + r
            )
        })?);
    }
    Ok(if v.iter().all(|x| x.fract() == 0.0) {
        Tensor {
            shape: vec![v.len()],
            data: TensorData::I64(v.iter().map(|&x| x as i64).collect()),
        }
    } else {
        Tensor {
            shape: vec![v.len()],
            data: TensorData::F64(v),
        }
    })
}

/// Each input takes the column headed with its name: `[rows]` for a 1-D input, `[rows, 1]`
/// for a 2-D one.
fn csv_by_name(
    model: &Model,
    path: &Path,
    rows: &[csv::StringRecord],
    label_column: Option<&str>,
) -> Result<SampleSet> {
    let header: Vec<String> = rows[0].iter().map(str::to_string).collect();
    let body = &rows[1..];
    if body.is_empty() {
        bail!("{} has a header but no rows", path.display());
    }
    let mut inputs = Vec::new();
    let mut used = Vec::new();
    for spec in model.inputs() {
        let c = header.iter().position(|h| *h == spec.name).unwrap_or(0);
        used.push(c);
        let dtype = spec.dtype().unwrap_or(DType::F32);
        let shape = match spec.shape().map(<[Dim]>::len) {
            Some(1) => vec![body.len()],
            Some(2) if !matches!(spec.shape().and_then(|s| s.get(1)), Some(Dim::Fixed(w)) if *w != 1) => {
                vec![body.len(), 1]
            }
            _ => bail!(
                "input '{}' is {}: a CSV column holds one value a row, for inputs shaped [N] or [N, 1]. Use an .npz instead",
                spec.name,
                spec.type_string()
            ),
        };
        let mut data = empty_data(dtype);
        for (r, row) in body.iter().enumerate() {
            push_field(&mut data, &row[c], || {
                format!("{}: line {}, column '{}'", path.display(), r + 2, spec.name)
            })?;
        }
        inputs.push(Tensor::new(shape, data)?);
    }
    let label_ix = match label_column {
        Some(name) => Some(column_named(path, Some(&header), name)?),
        None => header
            .iter()
            .enumerate()
            .position(|(i, h)| !used.contains(&i) && is_label_name(h)),
    };
    let labels = match label_ix {
        Some(ix) => {
            let fields: Vec<&str> = body.iter().map(|r| &r[ix]).collect();
            Some(csv_labels(path, &fields, 2)?)
        }
        None => None,
    };
    let unused: Vec<&str> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i) && Some(*i) != label_ix)
        .map(|(_, h)| h.as_str())
        .collect();
    let mut notes = Vec::new();
    if !unused.is_empty() {
        notes.push(format!(
            "columns {} of {} feed no input of the model: not used",
            unused.join(", "),
            path.display()
        ));
    }
    Ok(SampleSet {
        n_samples: Some(body.len()),
        inputs,
        labels,
        description: path.display().to_string(),
        notes,
        feature_names: None,
        guessed_dims: Vec::new(),
        synthesized: false,
    })
}

/// One 2-D input takes every column but the label.
fn csv_matrix(
    spec: &ValueSpec,
    path: &Path,
    rows: &[csv::StringRecord],
    label_column: Option<&str>,
) -> Result<SampleSet> {
    let dtype = spec.dtype().unwrap_or(DType::F32);
    // A header: a field that is no value of the input's type (for text inputs, a field
    // named like the label).
    let has_header = if dtype == DType::Str {
        rows[0]
            .iter()
            .any(|f| is_label_name(f) || Some(f) == label_column)
    } else {
        rows[0].iter().any(|f| {
            f.parse::<f64>().is_err() && !MISSING.contains(&f.to_ascii_lowercase().as_str())
        })
    };
    let header: Option<Vec<String>> =
        has_header.then(|| rows[0].iter().map(str::to_string).collect());
    let body = &rows[has_header as usize..];
    if body.is_empty() {
        bail!("{} has a header but no rows", path.display());
    }
    let label_ix = match label_column {
        None => None,
        Some(name) => Some(column_named(path, header.as_deref(), name)?),
    };
    let width = body[0].len();
    let want = match spec.shape().and_then(|s| s.get(1)) {
        Some(Dim::Fixed(w)) => Some(*w as usize),
        _ => None,
    };
    // One column more than the model takes, headed like a label: that is the label (the
    // window has no --label-column).
    let label_ix = label_ix.or_else(|| {
        let spare = want.is_some() && want == width.checked_sub(1);
        header
            .as_ref()
            .filter(|_| spare)
            .and_then(|h| h.iter().position(|c| is_label_name(c)))
    });
    let features = width - label_ix.is_some() as usize;
    if let Some(want) = want {
        if want != features {
            let hint = if label_ix.is_none() && features == want + 1 {
                " (is one column a label? head it `label`, or name it with --label-column)"
            } else {
                ""
            };
            bail!(
                "{} has {features} feature columns but input '{}' expects {want}{hint}",
                path.display(),
                spec.name
            );
        }
    }
    // Floats are read as f64 and narrowed, as before; other types as themselves.
    let read_as = if dtype.is_float() { DType::F64 } else { dtype };
    let mut values = empty_data(read_as);
    let mut label_fields = Vec::new();
    for (r, row) in body.iter().enumerate() {
        let line = r + 1 + has_header as usize;
        for (c, field) in row.iter().enumerate() {
            if Some(c) == label_ix {
                label_fields.push(field);
            } else {
                push_field(&mut values, field, || {
                    format!("{}: line {line}, column {}", path.display(), c + 1)
                })?;
            }
        }
    }
    let x = Tensor::new(vec![body.len(), features], values)?.cast_to(dtype)?;
    let labels = match label_ix {
        Some(_) => Some(csv_labels(path, &label_fields, 1 + has_header as usize)?),
        None => None,
    };
    let feature_names = header.map(|h| {
        h.into_iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != label_ix)
            .map(|(_, n)| n)
            .collect()
    });
    Ok(SampleSet {
        n_samples: Some(body.len()),
        inputs: vec![x],
        labels,
        description: path.display().to_string(),
        notes: vec![],
        feature_names,
        guessed_dims: Vec::new(),
        synthesized: false,
    })
}

/// Concrete sizes for every dim of `spec`, with `samples` on the batch axis.
fn concrete_shape(
    model: &Model,
    spec: &ValueSpec,
    opts: &SynthOptions,
    samples: usize,
    notes: &mut Vec<String>,
    guessed: &mut Vec<String>,
) -> Result<Vec<usize>> {
    let batch_axis = model.batch_axis(spec);
    let Some(shape) = spec.shape() else {
        bail!(
            "input '{}' declares no shape; Inferscope cannot synthesize it (give a data file)",
            spec.name
        );
    };
    Ok(shape
        .iter()
        .enumerate()
        .map(|(axis, d)| match d {
            Dim::Fixed(v) => (*v).max(0) as usize,
            _ if Some(axis) == batch_axis => samples,
            Dim::Symbol(s) => opts.dims.get(s).copied().unwrap_or_else(|| {
                let v = default_dim(s);
                let note = format!("dim '{s}' set to {v} (change with --dim {s}=N)");
                if v == 1 && !guessed.contains(&note) {
                    guessed.push(note.clone());
                }
                if !notes.contains(&note) {
                    notes.push(note);
                }
                v
            }),
            Dim::Unknown => {
                let note = format!("unnamed dim {axis} of '{}' set to 1", spec.name);
                guessed.push(note.clone());
                notes.push(note);
                1
            }
        })
        .collect())
}

/// Random inputs shaped like the model's: normal floats, ids in a valid range, random bools.
pub fn synthesize(model: &Model, opts: &SynthOptions) -> Result<SampleSet> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let mut notes = Vec::new();
    let mut guessed_dims = Vec::new();
    let mut inputs = Vec::new();
    let has_batch = model.batch_symbol().is_some();
    for spec in model.inputs() {
        let Some(dtype) = spec.dtype() else {
            bail!(
                "input '{}' has type {}, which Inferscope cannot synthesize",
                spec.name,
                spec.type_string()
            );
        };
        let shape = concrete_shape(
            model,
            spec,
            opts,
            opts.samples.max(1),
            &mut notes,
            &mut guessed_dims,
        )?;
        let n = crate::tensor::element_count(&shape)
            .with_context(|| format!("input '{}'", spec.name))?;
        if n > MAX_SYNTH_ELEMENTS {
            bail!(
                "input '{}' would have {n} elements (shape {shape:?}): too large to synthesize; lower the batch size or the --dim sizes",
                spec.name
            );
        }
        let (lo, hi) = match opts.int_range {
            Some(r) => r,
            None => match model.gather_table_size(&spec.name) {
                Some(size) if size > 0 => {
                    notes.push(format!(
                        "ids for '{}' drawn from 0..{size} (the table it indexes)",
                        spec.name
                    ));
                    (0, size)
                }
                _ => (0, 10),
            },
        };
        if hi <= lo {
            bail!("the integer range {lo}..{hi} is empty");
        }
        let data = match dtype {
            DType::F32 => TensorData::F32(
                (0..n)
                    .map(|_| rng.sample(rand_distr::StandardNormal))
                    .collect(),
            ),
            DType::F64 => TensorData::F64(
                (0..n)
                    .map(|_| rng.sample(rand_distr::StandardNormal))
                    .collect(),
            ),
            DType::I64 => TensorData::I64((0..n).map(|_| rng.random_range(lo..hi)).collect()),
            DType::I32 => {
                TensorData::I32((0..n).map(|_| rng.random_range(lo..hi) as i32).collect())
            }
            DType::I8 => TensorData::I8(
                (0..n)
                    .map(|_| rng.random_range(lo.max(-128)..hi.min(128)) as i8)
                    .collect(),
            ),
            DType::U8 => TensorData::U8(
                (0..n)
                    .map(|_| rng.random_range(lo.max(0)..hi.min(256)) as u8)
                    .collect(),
            ),
            DType::Bool => TensorData::Bool((0..n).map(|_| rng.random_bool(0.5)).collect()),
            DType::Str => {
                let words = vocabulary(model, &spec.name);
                notes.push(match &words {
                    Some(w) => format!(
                        "text for '{}' drawn from the {} categories the graph maps it with",
                        spec.name,
                        w.len()
                    ),
                    None => format!(
                        "text for '{}' is short made-up tokens (the graph holds no vocabulary for it)",
                        spec.name
                    ),
                });
                let words = words.unwrap_or_else(|| (0..16).map(|i| format!("w{i}")).collect());
                TensorData::Str(
                    (0..n)
                        .map(|_| words[rng.random_range(0..words.len())].clone())
                        .collect(),
                )
            }
        };
        inputs.push(Tensor::new(shape, data)?);
    }
    Ok(SampleSet {
        n_samples: if has_batch {
            Some(opts.samples.max(1))
        } else {
            None
        },
        inputs,
        labels: None,
        description: format!("synthetic (seed {})", opts.seed),
        notes,
        feature_names: None,
        guessed_dims,
        synthesized: true,
    })
}

/// What a batch sweep does to a sample set that holds fewer samples than a batch: each such
/// request repeats the samples (wrapping around), which the run's notes must say.
pub fn batch_notes(set: &SampleSet, batches: &[Option<usize>], from_file: bool) -> Vec<String> {
    let Some(n) = set.n_samples.filter(|_| from_file) else {
        return Vec::new();
    };
    let over: Vec<String> = batches
        .iter()
        .flatten()
        .filter(|&&b| b > n)
        .map(|b| b.to_string())
        .collect();
    if over.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the data holds {n} sample(s): at batch {} each request repeats them to fill the batch, so the runs measure the same sample(s) over and over",
        over.join(", ")
    )]
}

/// The strings a graph maps `input` with (the categories of an `ai.onnx.ml` LabelEncoder,
/// CategoryMapper or OneHotEncoder reading it, through Identity, Reshape, Cast and the like),
/// when it has some: what real requests hold.
pub fn vocabulary(model: &Model, input: &str) -> Option<Vec<String>> {
    let proto = crate::model::decode_proto(&model.bytes, &model.info.path).ok()?;
    let g = proto.graph.as_ref()?;
    let mut reached: std::collections::HashSet<&str> = std::collections::HashSet::from([input]);
    let mut words: Vec<String> = Vec::new();
    for n in &g.node {
        if !n.input.iter().any(|i| reached.contains(i.as_str())) {
            continue;
        }
        match n.op_type.as_str() {
            "LabelEncoder" | "CategoryMapper" | "OneHotEncoder" => {
                for a in &n.attribute {
                    if matches!(a.name.as_str(), "keys_strings" | "cats_strings") {
                        words.extend(
                            a.strings
                                .iter()
                                .map(|b| String::from_utf8_lossy(b).into_owned()),
                        );
                    }
                }
            }
            "Identity" | "Reshape" | "Squeeze" | "Unsqueeze" | "Flatten" | "Slice" | "Gather"
            | "Concat" | "Split" | "Cast" => reached.extend(n.output.iter().map(String::as_str)),
            _ => {}
        }
    }
    words.sort();
    words.dedup();
    (!words.is_empty()).then_some(words)
}

/// Cuts `set` into up to `max_distinct` requests of `batch` samples each (wrapping around the
/// sample set); inputs without a batch axis are fed whole. `None` feeds the arrays as given.
pub fn requests(
    model: &Model,
    set: &SampleSet,
    batch: Option<usize>,
    max_distinct: usize,
) -> Result<Vec<Vec<Tensor>>> {
    let Some(b) = batch else {
        return Ok(vec![set.inputs.clone()]);
    };
    if b == 0 {
        bail!("a batch size must be at least 1");
    }
    if let Some(why) = unequal_batches(model, &set.inputs) {
        bail!("cannot run batch size {b}: {why}; run it without --batch");
    }
    if model.batch_symbol().is_none() {
        let fixed = model.fixed_batch();
        if fixed == Some(b) {
            return Ok(vec![set.inputs.clone()]);
        }
        bail!(
            "this model has a fixed batch dimension ({}), so it cannot be run at batch size {b}; \
             run it without --batch (or with --batch {})",
            model
                .inputs()
                .iter()
                .map(|i| i.type_string())
                .collect::<Vec<_>>()
                .join(", "),
            fixed.unwrap_or(1)
        );
    }
    let n = set.n_samples.unwrap_or(1).max(1);
    let distinct = n.div_ceil(b).clamp(1, max_distinct.max(1));
    (0..distinct)
        .map(|k| {
            model
                .inputs()
                .iter()
                .zip(&set.inputs)
                .map(|(spec, t)| match model.batch_axis(spec) {
                    Some(axis) => t.take_rows_wrapping(axis, k * b, b),
                    None => Ok(t.clone()),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests;
