//! int8 beyond Conv, MatMul and Gemm: embedding tables read by Gather (stored in int8, only the
//! rows looked up turned back into float) and LSTM weights (ONNX Runtime's
//! `com.microsoft.DynamicQuantizeLSTM`, which runs the gates' matrix products in int8).

use super::*;

/// Tables smaller than this stay float: the scale would weigh as much as what it saves.
const MIN_TABLE: usize = 256;

/// The `com.microsoft` operator domain ONNX Runtime's int8 LSTM lives in.
pub const MS_DOMAIN: &str = "com.microsoft";

/// Gather (axis 0) over a constant float table, in every graph: the table becomes int8 with
/// one scale, the Gather reads it and a DequantizeLinear turns the rows it looked up back into
/// float. One scale per table, as ONNX Runtime's quantizer does: a scale per column costs its
/// DequantizeLinear the per-axis path, measured 0.11 ms per request on romanizer-encoder's
/// 12-token lookup (0.60 against 0.49 ms for the whole model, per tensor 0.49). `skip`: node
/// ids left in float. Returns the ids quantized.
pub fn tables(m: &mut pb::ModelProto, skip: &[String], cov: &mut Coverage) -> Result<Vec<String>> {
    let Some(g) = m.graph.as_mut() else {
        bail!("the model has no graph")
    };
    let mut names = Names::of(g);
    let mut done = Vec::new();
    // One int8 copy of a table the main graph's Gathers share.
    let mut made: HashMap<String, [String; 3]> = HashMap::new();
    rewrite_graph(
        g,
        &Scope::default(),
        true,
        &mut names,
        &mut |n, scope, e, _| {
            if n.op_type != "Gather"
                || !is_default_domain(n)
                || n.input.len() != 2
                || n.output.len() != 1
            {
                return Ok(false);
            }
            let Some(w) = scope.weight(&n.input[0]) else {
                return Ok(false);
            };
            // A small table (an index map, a few embeddings) is not worth a scale: not a candidate.
            if w.len() < MIN_TABLE || w.dims.is_empty() || w.dims.iter().any(|&d| d <= 0) {
                return Ok(false);
            }
            let id = node_id(n);
            let why = if skip.contains(&id) {
                Some(
                    "left in float (excluded, or returned to float for the fidelity target)"
                        .to_string(),
                )
            } else if attr_i(n, "axis", 0) != 0 {
                Some("Gather along an axis other than 0 is not a table lookup".into())
            } else {
                None
            };
            if let Some(why) = why {
                cov.skip(&id, "Gather", why);
                return Ok(false);
            }
            let q = quantize(&w, 0, false, true, &[127.0]);
            let shared = e.top.then(|| made.get(&n.input[0]).cloned()).flatten();
            let ([wq, ws, wz], first) = match shared {
                Some(t) => (t, false),
                None => {
                    let t = q
                        .tensors(e.names, &n.input[0], &w.dims, false)
                        .map(|t| e.constant(t));
                    if e.top {
                        made.insert(n.input[0].clone(), t.clone());
                    }
                    (t, true)
                }
            };
            let looked_up = e.fresh(&format!("{}_int8", n.output[0]));
            let mut gather = n.clone();
            gather.input[0] = wq;
            gather.output[0] = looked_up.clone();
            e.nodes.push(gather);
            e.push(
                "DequantizeLinear",
                &id,
                &[&looked_up, &ws, &wz],
                &[&n.output[0]],
                vec![],
            );
            cov.change(
                &id,
                "Gather",
                format!(
                    "per-tensor int8 table {:?}: only the rows looked up are turned back into float",
                    w.dims
                ),
                if first { float_bytes(&w) } else { 0 },
                if first { q.bytes() } else { 0 },
            );
            done.push(id);
            Ok(true)
        },
    )?;
    remove_unused(g);
    Ok(done)
}

/// The main graph's LSTMs with constant float weights (and no `layout` attribute, which
/// ONNX Runtime's int8 LSTM lacks), as node ids; the GRUs and RNNs, which have no int8 kernel
/// there, get the reason in `cov` when `say` is set.
pub fn recurrent_layers(m: &pb::ModelProto, cov: Option<&mut Coverage>) -> Vec<String> {
    let Some(g) = &m.graph else {
        return Vec::new();
    };
    let scope = Scope::child(&Scope::default(), g);
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for n in g.node.iter().filter(|n| is_default_domain(n)) {
        let constant = |i: usize| {
            n.input
                .get(i)
                .and_then(|w| scope.weight(w))
                .is_some_and(|w| w.dims.len() == 3 && w.dims.iter().all(|&d| d > 0))
        };
        match n.op_type.as_str() {
            "LSTM" if constant(1) && constant(2) && attr_i(n, "layout", 0) == 0 => {
                out.push(node_id(n))
            }
            "LSTM" => notes.push((
                node_id(n),
                "LSTM",
                "weights computed at run time or laid out batch-first (layout=1): ONNX Runtime's int8 LSTM takes neither",
            )),
            op @ ("GRU" | "RNN") if constant(1) => notes.push((
                node_id(n),
                op,
                "left in float: ONNX Runtime has no int8 kernel for it",
            )),
            _ => {}
        }
    }
    if let Some(cov) = cov {
        for (id, op, why) in notes {
            cov.skip(&id, op, why.to_string());
        }
    }
    out
}

/// The LSTMs `only` names as ONNX Runtime's `DynamicQuantizeLSTM`: W and R per-channel int8
/// (one scale per gate row and direction), transposed to [directions, input, 4 x hidden] as
/// that kernel reads them; the input quantized per request inside it. `qmax`: 127, or 63
/// where the CPU lacks VNNI (the pair saturation int8 x uint8 products meet there).
pub fn lstms(
    m: &mut pb::ModelProto,
    only: &[String],
    qmax: f32,
    cov: &mut Coverage,
) -> Result<Vec<String>> {
    let Some(g) = m.graph.as_mut() else {
        bail!("the model has no graph")
    };
    let scope = Scope::child(&Scope::default(), g);
    let mut names = Names::of(g);
    let mut nodes = Vec::with_capacity(g.node.len());
    let mut inits = Vec::new();
    let mut done = Vec::new();
    for n in std::mem::take(&mut g.node) {
        let id = node_id(&n);
        if n.op_type != "LSTM" || !is_default_domain(&n) || !only.contains(&id) {
            nodes.push(n);
            continue;
        }
        let (Some(w), Some(r)) = (scope.weight(&n.input[1]), scope.weight(&n.input[2])) else {
            nodes.push(n);
            continue;
        };
        let mut inputs: Vec<String> = vec![n.input[0].clone()];
        let mut bytes = (0, 0);
        for (t, base) in [(&w, &n.input[1]), (&r, &n.input[2])] {
            let (dirs, rows, cols) = (t.dims[0] as usize, t.dims[1] as usize, t.dims[2] as usize);
            let flat = Weight {
                dims: vec![(dirs * rows) as i64, cols as i64],
                data: t.data.clone(),
            };
            let q = quantize(&flat, 0, true, true, &[qmax]);
            // [dirs, rows, cols] -> [dirs, cols, rows]
            let mut transposed = vec![0i8; q.signed_q.len()];
            for d in 0..dirs {
                for i in 0..rows {
                    for j in 0..cols {
                        transposed[(d * cols + j) * rows + i] =
                            q.signed_q[(d * rows + i) * cols + j];
                    }
                }
            }
            let qn = names.fresh(&format!("{base}_quantized"));
            let sn = names.fresh(&format!("{base}_scale"));
            let zn = names.fresh(&format!("{base}_zero_point"));
            let sd = [dirs as i64, rows as i64];
            inits.push(i8_tensor(
                &qn,
                &[dirs as i64, cols as i64, rows as i64],
                &transposed,
            ));
            inits.push(f32_tensor(&sn, &sd, &q.scales));
            inits.push(i8_tensor(&zn, &sd, &vec![0i8; dirs * rows]));
            inputs.push(qn);
            inputs.push(sn);
            inputs.push(zn);
            bytes.0 += float_bytes(t);
            bytes.1 += q.bytes();
        }
        // X, W, R, B, sequence_lens, initial_h, initial_c, P, W_scale, W_zero_point,
        // R_scale, R_zero_point.
        let optional = |i: usize| n.input.get(i).cloned().unwrap_or_default();
        let all = vec![
            inputs[0].clone(),
            inputs[1].clone(),
            inputs[4].clone(),
            optional(3),
            optional(4),
            optional(5),
            optional(6),
            optional(7),
            inputs[2].clone(),
            inputs[3].clone(),
            inputs[5].clone(),
            inputs[6].clone(),
        ];
        let mut q = pb::NodeProto {
            name: names.fresh(&format!("{id}_DynamicQuantizeLSTM")),
            op_type: "DynamicQuantizeLSTM".into(),
            domain: MS_DOMAIN.into(),
            input: all,
            output: n.output.clone(),
            ..Default::default()
        };
        q.attribute = n
            .attribute
            .iter()
            .filter(|a| a.name != "layout")
            .cloned()
            .collect();
        nodes.push(q);
        cov.change(
            &id,
            "LSTM",
            format!(
                "per-channel int8 W {:?} and R {:?} (ONNX Runtime's DynamicQuantizeLSTM{})",
                w.dims,
                r.dims,
                if qmax < 127.0 {
                    ", 7 bits: no VNNI"
                } else {
                    ""
                }
            ),
            bytes.0,
            bytes.1,
        );
        done.push(id);
    }
    g.node = nodes;
    g.initializer.extend(inits);
    remove_unused(g);
    if !done.is_empty() && !m.opset_import.iter().any(|o| o.domain == MS_DOMAIN) {
        m.opset_import.push(pb::OperatorSetIdProto {
            domain: MS_DOMAIN.into(),
            version: 1,
        });
    }
    Ok(done)
}
