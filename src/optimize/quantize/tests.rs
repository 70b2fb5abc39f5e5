use super::super::prune::slice_units;
use super::*;

#[test]
fn per_channel_quantization_keeps_each_column_within_half_a_step() {
    let w = Weight {
        dims: vec![3, 2],
        data: vec![1.0, 100.0, -0.5, -50.0, 0.25, 3.0],
    };
    for signed in [true, false] {
        let q = quantize(&w, 1, true, signed, &[127.0]);
        assert_eq!(q.scales.len(), 2);
        for (i, &v) in w.data.iter().enumerate() {
            let c = i % 2;
            let qv = if signed {
                q.signed_q[i] as f32
            } else {
                q.unsigned_q[i] as f32
            };
            let back = (qv - q.zero_points[c] as f32) * q.scales[c];
            assert!(
                (back - v).abs() <= q.scales[c] * 0.5 + 1e-6,
                "{v} -> {back}"
            );
        }
        // The small column gets its own, finer step.
        assert!(q.scales[0] < q.scales[1] / 50.0);
    }
}

/// Every adjacent row pair (0+1, 2+3, ...) of a quantized `[K, N]` weight sums within 128.
fn assert_no_pair_saturates(q: &Quantized, dims: &[i64]) {
    let (k, n) = (dims[0] as usize, dims[1] as usize);
    for r in (0..k - 1).step_by(2) {
        for j in 0..n {
            let (a, b) = (
                q.signed_q[r * n + j] as i32,
                q.signed_q[(r + 1) * n + j] as i32,
            );
            assert!(
                (a + b).abs() <= 128,
                "rows {r}+{}, column {j}: {a} + {b}",
                r + 1
            );
        }
    }
}

/// After capping, no same-sign adjacent pair passes 128 (where ONNX Runtime's 16-bit pair
/// sums saturate). A lone large pair is capped at the full range; when many pairs are large
/// the range narrows instead; pairs of opposite signs need neither.
#[test]
fn signed_weights_are_capped_or_narrowed_so_that_no_pair_saturates() {
    let quantized = |w: &Weight, per_channel: bool| {
        let mut q = quantize(w, 1, per_channel, true, &signed_range(w, per_channel));
        let capped = cap_pairs(&mut q.signed_q, w.dims[0] as usize, w.dims[1] as usize);
        assert_no_pair_saturates(&q, &w.dims);
        (q, capped)
    };
    // Among many small weights, one same-sign pair a little over 128 (76 + 70 at the full
    // range): capping those two costs less than a coarser step for all 20,000.
    let mut data: Vec<f32> = (0..20_000)
        .map(|i| ((i as f32) * 0.37).sin() * 0.3)
        .collect();
    (data[0], data[1], data[2], data[3]) = (0.6, 0.55, 1.0, -0.9);
    let lone = Weight {
        dims: vec![20_000, 1],
        data,
    };
    assert_eq!(signed_range(&lone, false), vec![127.0]);
    let (q, capped) = quantized(&lone, false);
    assert_eq!(capped, 1);
    assert_eq!(
        (q.signed_q[0], q.signed_q[1]),
        (67, 61),
        "the excess of 18 split"
    );
    // The same pair far over 128 (127 + 121) is cheaper to avoid by narrowing.
    let mut far = lone.data.clone();
    (far[0], far[1]) = (1.0, 0.95);
    let far = Weight {
        dims: vec![20_000, 1],
        data: far,
    };
    assert!(signed_range(&far, false)[0] < 80.0);
    quantized(&far, false);
    // Every pair large and of one sign: narrowing is cheaper than capping them all.
    let crowded = Weight {
        dims: vec![8, 2],
        data: vec![
            1.0, -0.9, 0.9, -0.95, 0.95, -1.0, 0.85, -0.9, 0.9, -0.85, 0.95, -0.9, 0.8, -0.95, 0.9,
            -0.8,
        ],
    };
    for per_channel in [false, true] {
        let range = signed_range(&crowded, per_channel);
        assert!(range.iter().all(|&m| m < 80.0), "{range:?}");
        quantized(&crowded, per_channel);
    }
    // Opposite signs within a pair (rows 0+1, 2+3) cannot overflow with uint8 activations,
    // and rows 1 and 2, of one sign, never meet in a pair: full range, nothing capped.
    let opposite = Weight {
        dims: vec![4, 1],
        data: vec![1.0, -0.95, -1.0, 0.9],
    };
    assert_eq!(signed_range(&opposite, false), vec![127.0]);
    assert_eq!(quantized(&opposite, false).1, 0);
    assert!(!saturates_at_full_range(&opposite, false));
}

/// Rows whose pairs would saturate at the full range are reordered so that none does, and
/// the order is a permutation; an odd row out goes last; impossible pairings give `None`.
#[test]
fn reordered_rows_pair_without_saturating_at_the_full_range() {
    // Rows 0 and 1 are both large and positive in column 0; rows 2 and 3 both large and
    // negative in column 1. Crossing them (0 with 2, 1 with 3) is safe.
    let w = Weight {
        dims: vec![5, 2],
        data: vec![1.0, 0.1, 0.9, 0.2, -0.1, -1.0, 0.05, -0.8, 0.3, 0.3],
    };
    assert!(saturates_at_full_range(&w, false));
    let order = saturation_free_order(&w, false).unwrap();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
    let p = slice_units(&w, 0, &order, 1);
    assert!(!saturates_at_full_range(&p, false));
    assert_no_pair_saturates(&quantize(&p, 1, false, true, &[127.0]), &p.dims);
    // Every row large and positive in one column: no pairing exists.
    let hopeless = Weight {
        dims: vec![4, 1],
        data: vec![1.0, 0.9, 0.95, 0.85],
    };
    assert_eq!(saturation_free_order(&hopeless, false), None);
}
