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
    for s in [
        "int8",
        "int8:per-channel:qdq",
        "int8:unsigned:conv:exclude=a,b",
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
}
