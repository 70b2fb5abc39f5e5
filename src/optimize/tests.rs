use super::*;

/// A reordered axis is put back: the last axis of [2, 3], the channels of [1, 3, 2].
#[test]
fn reordered_values_are_restored_to_the_original_order() {
    let last = Reordered {
        tensor: "t".into(),
        axis: -1,
        order: vec![2, 0, 1],
    };
    // Original rows [10, 11, 12] and [20, 21, 22]; the variant holds them as order says.
    let variant = [12.0, 10.0, 11.0, 22.0, 20.0, 21.0];
    assert_eq!(
        last.restore(&variant, &[2, 3]).unwrap(),
        vec![10.0, 11.0, 12.0, 20.0, 21.0, 22.0]
    );
    let channels = Reordered {
        tensor: "t".into(),
        axis: 1,
        order: vec![1, 2, 0],
    };
    let variant = [1.0, 1.5, 2.0, 2.5, 0.0, 0.5];
    assert_eq!(
        channels.restore(&variant, &[1, 3, 2]).unwrap(),
        vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    );
    assert_eq!(
        last.restore(&variant, &[3, 2]),
        None,
        "the axis is not 3 long"
    );
}

#[test]
fn variants_parse_and_print_the_same() {
    // Bare `int8` means auto, as in `optimize --int8`: it prints as what it is.
    assert_eq!("int8".parse::<Variant>().unwrap().to_string(), "int8:auto");
    for s in [
        "int8:auto",
        "int8:dynamic",
        "int8:per-channel:qdq",
        "int8:unsigned:conv:exclude=a,b",
        "int8:auto:batch=32",
        "int8:static:entropy:batch=8:exclude=a",
        "weight-int8:per-channel",
        "fp16",
        "prune:0.5",
        "prune:0.5:structured",
        "prune:0.3:per-layer",
        "trees:10",
        "max-depth:3",
        "ort:basic",
        "file:student.onnx",
    ] {
        let v: Variant = s.parse().unwrap();
        assert_eq!(v.to_string(), s);
    }
    for bad in [
        "int9",
        "prune:1.5",
        "prune:x",
        "trees:0",
        "ort:fast",
        "int8:fast",
        "file:",
    ] {
        let e = bad.parse::<Variant>().unwrap_err().to_string();
        assert!(e.contains(bad.split(':').next().unwrap()), "{e}");
    }
    // A batch is the batch choices are timed at: dynamic int8 times nothing.
    for (bad, why) in [
        (
            "int8:dynamic:batch=32",
            "dynamic int8 times nothing, so it takes no batch",
        ),
        (
            "int8:auto:batch=0",
            "the batch size must be a whole number of at least 1",
        ),
        (
            "int8:mix:batch=x",
            "the batch size must be a whole number of at least 1",
        ),
    ] {
        let e = bad.parse::<Variant>().unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
}

/// Static, mix and auto int8 time their choices on a request of the batch to be served; the
/// ranges are still calibrated one sample at a time.
#[test]
fn int8_is_timed_at_the_batch_to_be_served() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = Model::load(&root.join("assets/mlp.onnx")).unwrap();
    let set = crate::data::load(
        &model,
        &crate::data::DataSource::File {
            path: root.join("assets/digits.npz"),
            label_column: None,
        },
    )
    .unwrap();
    let mut cov = Coverage::default();
    let s = calibration_requests(&model, Some(&set), Some(48), &mut cov).unwrap();
    assert_eq!(s.timing[0].shape[0], 48);
    assert!(s.requests.iter().all(|r| r[0].shape[0] == 1));
    assert_eq!(s.batch, Some(48));
    let s = calibration_requests(&model, Some(&set), None, &mut cov).unwrap();
    assert_eq!(s.timing[0].shape[0], 1);
    assert_eq!(s.batch, Some(1));
    // A model whose batch is fixed cannot be timed at another, and says so.
    let fixed = Model::load(&root.join("tests/data/fixed_batch.onnx")).unwrap();
    let Err(e) = calibration_requests(&fixed, None, Some(8), &mut cov) else {
        panic!("a fixed-batch model was timed at batch 8");
    };
    let e = format!("{e:#}");
    assert!(e.contains("int8 cannot be timed at batch 8"), "{e}");
    assert!(e.contains("fixed batch dimension"), "{e}");
}
