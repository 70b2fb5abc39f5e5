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
