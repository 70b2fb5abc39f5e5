use super::*;

fn model(p: &str) -> Model {
    Model::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

#[test]
fn synthesizes_ids_in_the_embedding_range_and_batches_only_batch_axes() {
    let m = model("tests/data/multi_io.onnx");
    let mut opts = SynthOptions {
        samples: 5,
        ..Default::default()
    };
    opts.dims.insert("doc len".into(), 7);
    let set = synthesize(&m, &opts).unwrap();
    assert_eq!(set.inputs[0].shape, vec![5, 7]);
    assert_eq!(set.inputs[2].shape, Vec::<usize>::new());
    assert!(set.inputs[0]
        .to_f64_vec()
        .iter()
        .all(|&v| (0.0..50.0).contains(&v)));
    validate(&m, &set.inputs).unwrap();
    let reqs = requests(&m, &set, Some(2), 16).unwrap();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[2][0].shape, vec![2, 7]); // wraps: sample 4 then sample 0
    assert_eq!(reqs[2][2].shape, Vec::<usize>::new());
}

#[test]
fn recurrent_state_is_fed_whole() {
    let m = model("tests/data/recurrent.onnx");
    let set = synthesize(
        &m,
        &SynthOptions {
            samples: 8,
            ..Default::default()
        },
    )
    .unwrap();
    let reqs = requests(&m, &set, Some(4), 16).unwrap();
    assert_eq!(reqs[0][0].shape, vec![4, 6]);
    assert_eq!(reqs[0][1].shape, vec![1, 16]);
}

#[test]
fn fixed_batch_models_cannot_be_batched() {
    let m = model("tests/data/fixed_batch.onnx");
    let set = synthesize(&m, &SynthOptions::default()).unwrap();
    assert_eq!(set.inputs[0].shape, vec![1, 4]);
    let e = requests(&m, &set, Some(8), 16).unwrap_err().to_string();
    assert!(e.contains("fixed batch dimension"), "{e}");
    assert_eq!(requests(&m, &set, Some(1), 16).unwrap().len(), 1);
}

#[test]
fn csv_with_header_and_label_column() {
    let m = model("assets/logreg.onnx");
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/breast_cancer.csv");
    let src = DataSource::File {
        path: p.clone(),
        label_column: Some("label".into()),
    };
    let set = load(&m, &src).unwrap();
    assert_eq!(set.inputs[0].shape, vec![171, 30]);
    let labels = set.labels.unwrap();
    assert_eq!(labels.shape, vec![171]);
    // Not named, but headed `label` with one column to spare: the same labels.
    let auto = load(
        &m,
        &DataSource::File {
            path: p.clone(),
            label_column: None,
        },
    )
    .unwrap();
    assert_eq!(auto.inputs, set.inputs);
    assert_eq!(auto.labels.unwrap(), labels);
    // Headed otherwise, the extra column is an error that says what to do.
    let text = std::fs::read_to_string(&p).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("renamed.csv");
    std::fs::write(&renamed, text.replacen("label", "outcome", 1)).unwrap();
    let e = load(
        &m,
        &DataSource::File {
            path: renamed,
            label_column: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--label-column") && e.contains("head it `label`"),
        "{e}"
    );
}

#[test]
fn wrong_dtype_shape_and_nan_are_refused() {
    let m = model("assets/logreg.onnx");
    let f64x = Tensor::new(vec![2, 30], TensorData::F64(vec![0.0; 60])).unwrap();
    assert!(validate(&m, &[f64x])
        .unwrap_err()
        .to_string()
        .contains("astype(np.float32)"));
    let wrong = Tensor::new(vec![2, 29], TensorData::F32(vec![0.0; 58])).unwrap();
    assert!(validate(&m, &[wrong])
        .unwrap_err()
        .to_string()
        .contains("expects shape"));
    let mut v = vec![0.0f32; 60];
    v[35] = f32::NAN;
    let nan = Tensor::new(vec![2, 30], TensorData::F32(v)).unwrap();
    // NaN is a value a model can be fed (trees read it as missing): fed, and said.
    validate(&m, std::slice::from_ref(&nan)).unwrap();
    let notes = non_finite_notes(&m, &[nan]);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("1 NaN (1.7% of its values)"), "{notes:?}");
}

/// A batch larger than the data repeats its samples: the run's notes say so, for those
/// batches only, and say nothing of synthesized data (made to fit) or batches that fit.
#[test]
fn a_batch_larger_than_the_data_is_said_to_repeat_it() {
    let m = model("assets/mlp.onnx");
    let set = synthesize(
        &m,
        &SynthOptions {
            samples: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let notes = batch_notes(&set, &[Some(1), Some(4), Some(8)], true);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("1 sample(s)") && notes[0].contains("batch 4, 8"),
        "{notes:?}"
    );
    assert!(batch_notes(&set, &[Some(1)], true).is_empty());
    assert!(batch_notes(&set, &[Some(8)], false).is_empty());
}

/// A model with one input per feature (as skl2onnx writes pipelines over a data frame): each
/// input takes the column headed with its name, text as text, and an empty or `NA` field in a
/// float column is a missing value (NaN), said in the notes.
#[test]
fn csv_columns_feed_the_inputs_named_like_them_with_missing_values_as_nan() {
    use crate::optimize::graph::{model_of, node};
    use pb::tensor_shape_proto::{dimension::Value as D, Dimension};
    use tract_onnx::pb;
    let typed = |name: &str, elem: i32| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        Dimension {
                            value: Some(D::DimParam("N".into())),
                            ..Default::default()
                        },
                        Dimension {
                            value: Some(D::DimValue(1)),
                            ..Default::default()
                        },
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut g = pb::GraphProto::default();
    g.input.push(typed("colour", 8));
    g.input.push(typed("size", 1));
    g.input.push(typed("count", 7));
    g.output.push(typed("size_out", 1));
    g.node
        .push(node("Identity", "id", &["size"], &["size_out"], vec![]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.onnx");
    std::fs::write(&path, prost::Message::encode_to_vec(&model_of(g, 17))).unwrap();
    let m = Model::load(&path).unwrap();
    let csv = dir.path().join("frame.csv");
    std::fs::write(
        &csv,
        "size,colour,label,count\n1.5,red,0,3\n,blue,1,4\nNA,\"dark green\",1,5\n2,red,0,6\n",
    )
    .unwrap();
    let src = DataSource::File {
        path: csv.clone(),
        label_column: None,
    };
    let set = load(&m, &src).unwrap();
    assert_eq!(set.inputs[0].shape, vec![4, 1]);
    assert_eq!(
        set.inputs[0].strings().unwrap(),
        &["red", "blue", "dark green", "red"]
    );
    let size = set.inputs[1].to_f64_vec();
    assert_eq!((size[0], size[3]), (1.5, 2.0));
    assert!(size[1].is_nan() && size[2].is_nan(), "{size:?}");
    assert_eq!(set.inputs[2].data, TensorData::I64(vec![3, 4, 5, 6]));
    assert_eq!(set.labels.unwrap().data, TensorData::I64(vec![0, 1, 1, 0]));
    assert!(
        set.notes
            .iter()
            .any(|n| n.contains("input 'size' holds 2 NaN (50.0%")),
        "{:?}",
        set.notes
    );
    // A text field in an integer column names its line and column.
    std::fs::write(&csv, "size,colour,count\n1,red,three\n").unwrap();
    let e = format!("{:#}", load(&m, &src).unwrap_err());
    assert!(
        e.contains("line 2, column 'count': 'three' is not an integer"),
        "{e}"
    );
    // A column missing for an input: the error names the inputs.
    std::fs::write(&csv, "size,colour\n1,red\n").unwrap();
    let e = format!("{:#}", load(&m, &src).unwrap_err());
    assert!(e.contains("colour, size, count"), "{e}");
}
