//! ONNX Runtime's 16-bit pair sums without VNNI: which weight pairs saturate, the range that
//! costs least once they are capped, and a row order in which none can.

use super::*;

/// How far a pair of signed quantized weights passes what ONNX Runtime's uint8 x int8 kernels
/// can add. On x86 CPUs without VNNI they add the products of adjacent K rows (0+1, 2+3, ...)
/// in 16 bits (vpmaddubsw). Activations are uint8 (0..=255), so only a pair of one sign can
/// overflow: 255 x (|q1| + |q2|) saturates once |q1| + |q2| > 128, while a pair of opposite
/// signs stays within 255 x 127. With full-range weights that happened on the digits MLP
/// (per-channel: 8.7% drift at the first layer, as with quantize_dynamic's per-channel model).
pub(super) fn pair_excess(q1: i32, q2: i32) -> i32 {
    if q1 != 0 && q2 != 0 && (q1 > 0) == (q2 > 0) {
        (q1.abs() + q2.abs() - 128).max(0)
    } else {
        0
    }
}

/// A pair brought down to 128 in magnitude, the excess split between the two (the larger
/// gives the odd step): the least squared change that makes it safe.
pub(super) fn capped(q1: i32, q2: i32) -> (i32, i32) {
    let e = pair_excess(q1, q2);
    if e == 0 {
        return (q1, q2);
    }
    let (big, small) = (e - e / 2, e / 2);
    let shrink = |q: i32, d: i32| q - q.signum() * d;
    if q1.abs() >= q2.abs() {
        (shrink(q1, big), shrink(q2, small))
    } else {
        (shrink(q1, small), shrink(q2, big))
    }
}

/// Caps every same-sign adjacent row pair of a quantized `[K, N]` weight at 128; how many.
pub(super) fn cap_pairs(q: &mut [i8], k: usize, n: usize) -> usize {
    let mut count = 0;
    for r in (0..k.saturating_sub(1)).step_by(2) {
        for j in 0..n {
            let (i1, i2) = (r * n + j, (r + 1) * n + j);
            let (a, b) = (q[i1] as i32, q[i2] as i32);
            let (c1, c2) = capped(a, b);
            if (c1, c2) != (a, b) {
                (q[i1], q[i2]) = (c1 as i8, c2 as i8);
                count += 1;
            }
        }
    }
    count
}

/// The signed weight range of a `[K, N]` weight (one, or one per column) for dynamic int8,
/// given that every same-sign pair over 128 is then capped (`cap_pairs`). A narrower range
/// makes every weight's step coarser; a wider one caps more pairs. The range chosen, from 63
/// (where no pair can pass 128) to 127, has the least expected squared error: rounding,
/// step^2/12 per weight, plus what capping adds to the few pairs large enough to pass 128.
pub(super) fn signed_range(w: &Weight, per_channel: bool) -> Vec<f32> {
    let (k, n) = (w.dims[0] as usize, w.dims[1] as usize);
    let columns = if per_channel { n } else { 1 };
    let channel = |j: usize| if per_channel { j } else { 0 };
    let mut max_abs = vec![0f32; columns];
    let mut count = vec![0usize; columns];
    for (i, v) in w.data.iter().enumerate() {
        if v.is_finite() {
            let c = channel(i % n);
            max_abs[c] = max_abs[c].max(v.abs());
            count[c] += 1;
        }
    }
    // Same-sign pairs large enough to pass 128 at some range, relative to their channel's max.
    let mut risky: Vec<Vec<(f32, f32)>> = vec![vec![]; columns];
    for r in (0..k.saturating_sub(1)).step_by(2) {
        for j in 0..n {
            let c = channel(j);
            let (a, b) = (w.data[r * n + j], w.data[(r + 1) * n + j]);
            if max_abs[c] > 0.0
                && a.is_finite()
                && b.is_finite()
                && a != 0.0
                && b != 0.0
                && (a > 0.0) == (b > 0.0)
                && (a.abs() + b.abs()) / max_abs[c] > 0.99
            {
                risky[c].push((a.abs() / max_abs[c], b.abs() / max_abs[c]));
            }
        }
    }
    (0..columns)
        .map(|c| {
            // Squared error in units of (max / range)^2 ... scaled back to max^2.
            let cost = |m: f32| -> f64 {
                let step = 1.0 / m as f64;
                let mut e = count[c] as f64 * step * step / 12.0;
                for &(a, b) in &risky[c] {
                    let (x, y) = ((a * m) as f64, (b * m) as f64);
                    let (q1, q2) = (x.round() as i32, y.round() as i32);
                    let (c1, c2) = capped(q1, q2);
                    let extra = (x - c1 as f64).powi(2) + (y - c2 as f64).powi(2)
                        - (x - q1 as f64).powi(2)
                        - (y - q2 as f64).powi(2);
                    e += extra * step * step;
                }
                e
            };
            (63..=127)
                .map(|m| m as f32)
                .min_by(|&x, &y| cost(x).total_cmp(&cost(y)))
                .expect("a range")
        })
        .collect()
}

/// Whether some same-sign row pair of a `[K, N]` weight passes 128 at the full range.
pub(super) fn saturates_at_full_range(w: &Weight, per_channel: bool) -> bool {
    let columns = if per_channel { w.dims[1] as usize } else { 1 };
    let q = quantize(w, 1, per_channel, true, &vec![127.0; columns]);
    let (k, n) = (w.dims[0] as usize, w.dims[1] as usize);
    let mut probe = q.signed_q;
    cap_pairs(&mut probe, k, n) > 0
}

/// An order of the K rows of a `[K, N]` weight in which no same-sign adjacent pair (rows 0+1,
/// 2+3, ...) passes 128 at the full range (127, per tensor or per channel), for weights whose
/// rows as they stand would have pairs capped or a narrower range (see `signed_range`). Greedy: the
/// rows with the most large values (over 64, the only ones that can overflow a pair) pick first,
/// each taking the least constrained row it is compatible with. `None` when that finds no
/// complete pairing (per-channel weights often have none) or takes too long.
pub(super) fn saturation_free_order(w: &Weight, per_channel: bool) -> Option<Vec<usize>> {
    let (k, n) = (w.dims[0] as usize, w.dims[1] as usize);
    let columns = if per_channel { n } else { 1 };
    let mut max_abs = vec![0f32; columns];
    for (i, v) in w.data.iter().enumerate() {
        if v.is_finite() {
            let c = if per_channel { i % n } else { 0 };
            max_abs[c] = max_abs[c].max(v.abs());
        }
    }
    let q = |r: usize, j: usize| -> i32 {
        let v = w.data[r * n + j];
        let m = max_abs[if per_channel { j } else { 0 }];
        if v.is_finite() && m > 0.0 {
            (v / m * 127.0).round() as i32
        } else {
            0
        }
    };
    let large: Vec<Vec<(usize, i32)>> = (0..k)
        .map(|r| {
            (0..n)
                .map(|j| (j, q(r, j)))
                .filter(|(_, v)| v.abs() > 64)
                .collect()
        })
        .collect();
    let clash = |a: i32, b: i32| (a > 0) == (b > 0) && a != 0 && b != 0 && a.abs() + b.abs() > 128;
    let compatible = |r: usize, s: usize| {
        !large[r].iter().any(|&(j, a)| clash(a, q(s, j)))
            && !large[s].iter().any(|&(j, b)| clash(q(r, j), b))
    };
    let mut rows: Vec<usize> = (0..k).collect();
    rows.sort_by_key(|&r| std::cmp::Reverse(large[r].len()));
    let mut order = Vec::with_capacity(k);
    let mut alone = None;
    // Each test reads the large values of two rows; this bounds the search to a few passes
    // over the weight (weights with many large values rarely pair anyway).
    let mut budget = 16 * w.len();
    while !rows.is_empty() {
        let r = rows.remove(0);
        let mut partner = None;
        for (i, &s) in rows.iter().enumerate().rev() {
            budget = budget.checked_sub(1 + large[r].len() + large[s].len())?;
            if compatible(r, s) {
                partner = Some(i);
                break;
            }
        }
        match partner {
            Some(i) => order.extend([r, rows.remove(i)]),
            // An odd K leaves one row alone at the end, where it has no partner.
            None if k % 2 == 1 && alone.is_none() => alone = Some(r),
            None => return None,
        }
    }
    order.extend(alone);
    Some(order)
}

/// Reorders hidden units wherever that lets the next MatMul/Gemm keep its full weight range:
/// the producer's output units (its weight columns, bias, and what follows through activations)
/// and the consumer's weight rows move alike, which leaves the function unchanged, into an
/// order whose row pairs cannot saturate (`saturation_free_order`). Free at run time, unlike
/// gathering the activation (ONNX Runtime's Gather on the last axis took as long as the
/// quantized MatMul here). Main graph only; returns consumer -> producer for the coverage.
pub(super) fn pair_rows(
    g: &mut pb::GraphProto,
    names: &mut Names,
    o: &Int8Options,
    cov: &mut Coverage,
) -> HashMap<String, String> {
    let mut chains = Chains::of(g);
    let mut done = HashMap::new();
    for p in 0..g.node.len() {
        let n = &g.node[p];
        if !is_weight_layer(n) {
            continue;
        }
        let Ok(chain) = chains.find(g, p) else {
            continue;
        };
        let consumer = &g.node[chain.consumer];
        let Some(last) = chain.cuts.last() else {
            continue;
        };
        if last.block != 1
            || !matches!(consumer.op_type.as_str(), "MatMul" | "Gemm")
            || o.exclude.contains(&node_id(consumer))
        {
            continue;
        }
        let Some(w) = chains.weight(g, last) else {
            continue;
        };
        // Gemm with transB holds the weight as [N, K].
        let w = if last.axis == 1 {
            transpose2(w)
        } else {
            w.clone()
        };
        if !saturates_at_full_range(&w, o.per_channel) {
            continue;
        }
        let Some(order) = saturation_free_order(&w, o.per_channel) else {
            continue;
        };
        chains.cut(g, names, &chain, &order, "reordered");
        done.insert(node_id(&g.node[chain.consumer]), node_id(&g.node[p]));
        // The producer's output now holds its units in this order: channels for Conv
        // ([N, C, ...]), the last axis for MatMul/Gemm.
        let producer = &g.node[p];
        cov.reordered.push(Reordered {
            tensor: producer.output[0].clone(),
            axis: if producer.op_type == "Conv" { 1 } else { -1 },
            order,
        });
    }
    done
}
