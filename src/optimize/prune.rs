//! Pruning: unstructured magnitude pruning (zeros, same shapes) and structured pruning that
//! removes whole hidden units of MatMul/Gemm chains and output channels of Conv chains, so the
//! tensors, and the work, really shrink.

use super::graph::*;
use super::{node_id, Coverage};
use anyhow::{bail, Result};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb;

fn prunable_slot(n: &pb::NodeProto) -> Option<usize> {
    (is_default_domain(n)
        && matches!(
            n.op_type.as_str(),
            "MatMul" | "Gemm" | "Conv" | "ConvTranspose"
        ))
    .then_some(1)
}

/// Zeros the smallest-magnitude weights of MatMul/Gemm/Conv: `sparsity` of them over all
/// layers at once (global) or in each layer (`per_layer`). Shapes stay; dense kernels do the
/// same work, so only the compressed file shrinks.
pub fn magnitude(
    m: &mut pb::ModelProto,
    sparsity: f64,
    per_layer: bool,
    cov: &mut Coverage,
) -> Result<()> {
    let Some(g) = m.graph.as_mut() else {
        bail!("the model has no graph")
    };
    // Which constants are weights, and which nodes read them.
    let mut readers: HashMap<String, Vec<(String, String)>> = HashMap::new();
    visit(g, &mut |g| {
        for n in &g.node {
            if let Some(s) = prunable_slot(n) {
                if let Some(w) = n.input.get(s) {
                    readers
                        .entry(w.clone())
                        .or_default()
                        .push((node_id(n), n.op_type.clone()));
                }
            }
        }
    });
    let mut tensors: Vec<&mut pb::TensorProto> = Vec::new();
    fn collect<'a>(
        g: &'a mut pb::GraphProto,
        names: &HashMap<String, Vec<(String, String)>>,
        out: &mut Vec<&'a mut pb::TensorProto>,
    ) {
        for t in &mut g.initializer {
            if names.contains_key(&t.name) {
                out.push(t);
            }
        }
        for n in &mut g.node {
            let output = n.output.first().cloned().unwrap_or_default();
            let is_weight = names.contains_key(&output) && constant_value(n).is_some();
            for a in &mut n.attribute {
                if is_weight && a.name == "value" {
                    if let Some(t) = a.t.as_mut() {
                        t.name = output.clone();
                        out.push(t);
                    }
                }
                if let Some(sub) = a.g.as_mut() {
                    collect(sub, names, out);
                }
                for sub in &mut a.graphs {
                    collect(sub, names, out);
                }
            }
        }
    }
    collect(g, &readers, &mut tensors);
    let mut weights: Vec<(usize, Weight)> = tensors
        .iter()
        .enumerate()
        .filter_map(|(i, t)| tensor_f32(t).filter(|w| w.dims.len() >= 2).map(|w| (i, w)))
        .collect();
    if weights.is_empty() {
        return Ok(());
    }
    let global_threshold = if per_layer {
        None
    } else {
        let mut all: Vec<f32> = weights
            .iter()
            .flat_map(|(_, w)| w.data.iter().map(|v| v.abs()))
            .collect();
        let k = ((all.len() as f64) * sparsity).floor() as usize;
        if k == 0 {
            Some(f32::NEG_INFINITY)
        } else {
            let (_, kth, _) = all.select_nth_unstable_by(k - 1, |a, b| a.total_cmp(b));
            Some(*kth)
        }
    };
    for (i, w) in &mut weights {
        let before = w.data.iter().filter(|v| **v == 0.0).count();
        match global_threshold {
            Some(t) => w.data.iter_mut().for_each(|v| {
                if v.abs() <= t {
                    *v = 0.0
                }
            }),
            None => {
                let k = ((w.len() as f64) * sparsity).floor() as usize;
                let mut order: Vec<usize> = (0..w.len()).collect();
                order.sort_by(|&a, &b| w.data[a].abs().total_cmp(&w.data[b].abs()));
                for &j in &order[..k] {
                    w.data[j] = 0.0;
                }
            }
        }
        let zeros = w.data.iter().filter(|v| **v == 0.0).count();
        let t = &mut tensors[*i];
        let name = t.name.clone();
        **t = f32_tensor(&name, &w.dims, &w.data);
        for (id, op) in readers.get(&name).into_iter().flatten() {
            cov.change(
                id,
                op,
                format!(
                    "{:.1}% zeros in weight {:?} (was {:.1}%)",
                    100.0 * zeros as f64 / w.len() as f64,
                    w.dims,
                    100.0 * before as f64 / w.len() as f64
                ),
                4 * w.len() as u64,
                4 * w.len() as u64,
            );
        }
    }
    Ok(())
}

const ELEMENTWISE: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "Elu",
    "Selu",
    "Celu",
    "Gelu",
    "Softplus",
    "Softsign",
    "Erf",
    "Clip",
    "Identity",
    "Dropout",
    "Abs",
    "Neg",
];
const POOLS: &[&str] = &[
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "LpPool",
];

/// A constant input cut along one axis, `block` elements per unit.
pub(super) struct Cut {
    node: usize,
    slot: usize,
    pub(super) axis: usize,
    pub(super) block: usize,
}

/// A chain from a producer's hidden units to the one consumer that reads them.
pub(super) struct Chain {
    units: usize,
    pub(super) cuts: Vec<Cut>,
    /// Intermediate tensors whose shapes change.
    tensors: Vec<String>,
    pub(super) consumer: usize,
}

fn weight_of<'a>(
    consts: &'a HashMap<String, Weight>,
    n: &pb::NodeProto,
    slot: usize,
) -> Option<&'a Weight> {
    n.input.get(slot).and_then(|s| consts.get(s))
}

/// What chain-following needs to know about a graph: its float constants (initializers and
/// `Constant` nodes), who reads each tensor, and the tensors that escape (graph outputs, names
/// read inside subgraphs). Main graph only.
pub(super) struct Chains {
    consts: HashMap<String, Weight>,
    consumers: HashMap<String, Vec<usize>>,
    escaping: HashSet<String>,
}

impl Chains {
    pub(super) fn of(g: &pb::GraphProto) -> Self {
        let mut consts: HashMap<String, Weight> = HashMap::new();
        for t in &g.initializer {
            if let Some(w) = tensor_f32(t) {
                consts.insert(t.name.clone(), w);
            }
        }
        for n in &g.node {
            if let (Some(t), Some(o)) = (constant_value(n), n.output.first()) {
                if let Some(w) = tensor_f32(t) {
                    consts.insert(o.clone(), w);
                }
            }
        }
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        let mut escaping: HashSet<String> = g.output.iter().map(|o| o.name.clone()).collect();
        for (i, n) in g.node.iter().enumerate() {
            for inp in n.input.iter().filter(|s| !s.is_empty()) {
                consumers.entry(inp.clone()).or_default().push(i);
            }
            for a in &n.attribute {
                for sub in a.g.iter().chain(&a.graphs) {
                    visit(sub, &mut |sg| {
                        for sn in &sg.node {
                            escaping.extend(sn.input.iter().cloned());
                        }
                    });
                }
            }
        }
        Chains {
            consts,
            consumers,
            escaping,
        }
    }

    /// The chain from node `p`'s units to their one consumer, or why there is none.
    pub(super) fn find(&self, g: &pb::GraphProto, p: usize) -> Result<Chain, String> {
        find_chain(g, p, &self.consts, &self.consumers, &self.escaping)
    }

    /// The constant a cut slices.
    pub(super) fn weight(&self, g: &pb::GraphProto, cut: &Cut) -> Option<&Weight> {
        weight_of(&self.consts, &g.node[cut.node], cut.slot)
    }

    /// Replaces every tensor `chain` cuts by its units in `keep` (a subset, or all of them in
    /// another order), as new initializers named `NAME_{suffix}`; the float bytes before and
    /// after.
    pub(super) fn cut(
        &mut self,
        g: &mut pb::GraphProto,
        names: &mut Names,
        chain: &Chain,
        keep: &[usize],
        suffix: &str,
    ) -> (u64, u64) {
        let (mut before, mut after) = (0, 0);
        for cut in &chain.cuts {
            let name = g.node[cut.node].input[cut.slot].clone();
            let w = &self.consts[&name];
            let s = slice_units(w, cut.axis, keep, cut.block);
            before += 4 * w.len() as u64;
            after += 4 * s.len() as u64;
            let new_name = names.fresh(&format!("{name}_{suffix}"));
            g.initializer.push(f32_tensor(&new_name, &s.dims, &s.data));
            self.consts.insert(new_name.clone(), s);
            g.node[cut.node].input[cut.slot] = new_name;
        }
        (before, after)
    }
}

/// Follows `producer`'s output to the node that consumes its units, or says why not.
fn find_chain(
    g: &pb::GraphProto,
    p: usize,
    consts: &HashMap<String, Weight>,
    consumers: &HashMap<String, Vec<usize>>,
    escaping: &HashSet<String>,
) -> Result<Chain, String> {
    let n = &g.node[p];
    let w = weight_of(consts, n, 1).ok_or("weight is not a float32 constant")?;
    let conv = n.op_type == "Conv";
    let (units, w_axis) = match n.op_type.as_str() {
        "MatMul" if w.dims.len() == 2 => (w.dims[1], 1),
        "Gemm" if attr_i(n, "transA", 0) == 0 && w.dims.len() == 2 => {
            if attr_i(n, "transB", 0) != 0 {
                (w.dims[0], 0)
            } else {
                (w.dims[1], 1)
            }
        }
        "Conv" if attr_i(n, "group", 1) == 1 && w.dims.len() >= 3 => (w.dims[0], 0),
        _ => {
            return Err(
                "weight layout not prunable (needs 2-D MatMul/Gemm or ungrouped Conv)".into(),
            )
        }
    };
    if units <= 0 || w.dims.iter().any(|&d| d <= 0) {
        return Err(format!("the weight has an empty dimension {:?}", w.dims));
    }
    let units = units as usize;
    let spatial = w.dims.len().saturating_sub(2);
    let mut cuts = vec![Cut {
        node: p,
        slot: 1,
        axis: w_axis,
        block: 1,
    }];
    if let Some(b) = n.input.get(2).filter(|s| !s.is_empty()) {
        match consts.get(b) {
            Some(bw) if bw.len() == units => cuts.push(Cut {
                node: p,
                slot: 2,
                axis: bw.dims.len().saturating_sub(1),
                block: 1,
            }),
            Some(bw) if bw.len() == 1 => {}
            _ => return Err("bias is not a constant per unit".into()),
        }
    }
    let mut t = n.output[0].clone();
    let mut tensors = vec![];
    let mut flattened = false;
    loop {
        if escaping.contains(&t) {
            return Err(format!("`{t}` is a graph output or read inside a subgraph"));
        }
        let readers = consumers.get(&t).map(Vec::as_slice).unwrap_or(&[]);
        let [c] = readers else {
            return Err(format!("`{t}` is read by {} nodes, not one", readers.len()));
        };
        let c = *c;
        let cn = &g.node[c];
        tensors.push(t.clone());
        let op = cn.op_type.as_str();
        if !is_default_domain(cn) {
            return Err(format!("`{op}` ({}) follows it", cn.domain));
        }
        if cn.input.first() != Some(&t) && !matches!(op, "Add" | "Mul") {
            return Err(format!("`{op}` reads it as a second input"));
        }
        match op {
            _ if ELEMENTWISE.contains(&op) => {
                if op == "PRelu" {
                    match weight_of(consts, cn, 1) {
                        Some(s) if s.len() == 1 => {}
                        _ => return Err("PRelu with per-channel slopes".into()),
                    }
                }
                if cn
                    .output
                    .iter()
                    .skip(1)
                    .any(|o| consumers.contains_key(o) || escaping.contains(o))
                {
                    return Err(format!("`{op}`'s second output is used"));
                }
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                let slot = if cn.input[0] == t { 1 } else { 0 };
                if op != "Add" && op != "Mul" && slot == 0 {
                    return Err(format!("`{op}` with it as divisor/subtrahend"));
                }
                let Some(k) = weight_of(consts, cn, slot) else {
                    return Err(format!("`{op}` with a computed operand"));
                };
                if k.len() != 1 {
                    // Per-unit constant: [.., H] for dense, [H, 1, 1] / [1, H, 1, 1] for conv.
                    let d: Vec<i64> = k.dims.clone();
                    let ok_axis = if conv && !flattened {
                        let r = d.len();
                        (r > spatial
                            && d[r - spatial - 1] as usize == units
                            && d[r - spatial..].iter().all(|&x| x == 1)
                            && d[..r - spatial - 1].iter().all(|&x| x == 1))
                        .then(|| r - spatial - 1)
                    } else {
                        (d.last() == Some(&(units as i64))
                            && d[..d.len() - 1].iter().all(|&x| x == 1))
                        .then(|| d.len() - 1)
                    };
                    let Some(axis) = ok_axis else {
                        return Err(format!("`{op}` with a constant of shape {d:?}"));
                    };
                    cuts.push(Cut {
                        node: c,
                        slot,
                        axis,
                        block: 1,
                    });
                }
            }
            "BatchNormalization" if conv && !flattened => {
                for slot in 1..=4 {
                    match weight_of(consts, cn, slot) {
                        Some(k) if k.len() == units => cuts.push(Cut {
                            node: c,
                            slot,
                            axis: 0,
                            block: 1,
                        }),
                        _ => return Err("BatchNormalization without constant statistics".into()),
                    }
                }
                if cn.output.len() > 1 {
                    return Err("BatchNormalization in training mode".into());
                }
            }
            _ if conv && !flattened && POOLS.contains(&op) => {}
            "Flatten" if conv && !flattened && attr_i(cn, "axis", 1) == 1 => flattened = true,
            "MatMul" | "Gemm" if !conv || flattened => {
                let k = weight_of(consts, cn, 1)
                    .ok_or("the next MatMul/Gemm has no constant weight")?;
                if k.dims.len() != 2 || (op == "Gemm" && attr_i(cn, "transA", 0) != 0) {
                    return Err("the next MatMul/Gemm has an unusual layout".into());
                }
                let axis = if op == "Gemm" && attr_i(cn, "transB", 0) != 0 {
                    1
                } else {
                    0
                };
                let rows = k.dims[axis] as usize;
                if rows % units != 0 || (!flattened && rows != units) {
                    return Err(format!(
                        "the next {op} reads {rows} values, not {units} units"
                    ));
                }
                cuts.push(Cut {
                    node: c,
                    slot: 1,
                    axis,
                    block: rows / units,
                });
                return Ok(Chain {
                    units,
                    cuts,
                    tensors,
                    consumer: c,
                });
            }
            "Conv" if conv && !flattened => {
                let k = weight_of(consts, cn, 1).ok_or("the next Conv has no constant weight")?;
                if attr_i(cn, "group", 1) != 1 || k.dims.len() < 2 || k.dims[1] as usize != units {
                    return Err("the next Conv is grouped or does not read these channels".into());
                }
                cuts.push(Cut {
                    node: c,
                    slot: 1,
                    axis: 1,
                    block: 1,
                });
                return Ok(Chain {
                    units,
                    cuts,
                    tensors,
                    consumer: c,
                });
            }
            _ => {
                return Err(format!(
                    "`{op}` follows it, which pruning does not pass through"
                ))
            }
        }
        t = cn.output[0].clone();
    }
}

/// Sum of squares per unit along `axis` (`block` consecutive indices per unit).
fn unit_norms(w: &Weight, axis: usize, units: usize, block: usize) -> Vec<f64> {
    let dims: Vec<usize> = w.dims.iter().map(|&d| d as usize).collect();
    let inner: usize = dims[axis + 1..].iter().product();
    let len = dims[axis];
    let mut out = vec![0f64; units];
    for (i, &v) in w.data.iter().enumerate() {
        let u = ((i / inner) % len) / block;
        out[u] += (v as f64) * (v as f64);
    }
    out
}

/// Keeps the units in `keep` along `axis`, in that order.
pub(super) fn slice_units(w: &Weight, axis: usize, keep: &[usize], block: usize) -> Weight {
    let dims: Vec<usize> = w.dims.iter().map(|&d| d as usize).collect();
    let inner: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    let len = dims[axis];
    let mut data = Vec::with_capacity(w.len() / len * keep.len() * block);
    for o in 0..outer {
        for &u in keep {
            for b in 0..block {
                let start = (o * len + u * block + b) * inner;
                data.extend_from_slice(&w.data[start..start + inner]);
            }
        }
    }
    let mut new_dims = w.dims.clone();
    new_dims[axis] = (keep.len() * block) as i64;
    Weight {
        dims: new_dims,
        data,
    }
}

/// Removes the `sparsity` share of hidden units with the smallest weight norms (incoming x
/// outgoing) from every chain it can follow in the main graph.
pub fn structured(m: &mut pb::ModelProto, sparsity: f64, cov: &mut Coverage) -> Result<()> {
    let Some(g) = m.graph.as_mut() else {
        bail!("the model has no graph")
    };
    let mut names = Names::of(g);
    let mut chains = Chains::of(g);
    let mut changed_tensors = HashSet::new();
    for p in 0..g.node.len() {
        let n = &g.node[p];
        if !is_weight_layer(n) {
            continue;
        }
        let id = node_id(n);
        let op = n.op_type.clone();
        let chain = match chains.find(g, p) {
            Ok(c) => c,
            Err(reason) => {
                cov.skip(&id, &op, reason);
                continue;
            }
        };
        let keep_n = ((chain.units as f64) * (1.0 - sparsity)).round().max(1.0) as usize;
        if keep_n >= chain.units {
            cov.skip(
                &id,
                &op,
                format!("{} units: nothing to remove at this sparsity", chain.units),
            );
            continue;
        }
        let (Some(first), Some(last)) = (chain.cuts.first(), chain.cuts.last()) else {
            continue;
        };
        let (Some(pw), Some(cw)) = (chains.weight(g, first), chains.weight(g, last)) else {
            cov.skip(&id, &op, "a weight of the chain is not constant".into());
            continue;
        };
        let a = unit_norms(pw, first.axis, chain.units, 1);
        let b = unit_norms(cw, last.axis, chain.units, last.block);
        let mut order: Vec<usize> = (0..chain.units).collect();
        order.sort_by(|&x, &y| (b[y] * a[y]).total_cmp(&(b[x] * a[x])));
        let mut keep: Vec<usize> = order[..keep_n].to_vec();
        keep.sort_unstable();
        let (before, after) = chains.cut(g, &mut names, &chain, &keep, "pruned");
        changed_tensors.extend(chain.tensors.iter().cloned());
        cov.change(
            &id,
            &op,
            format!(
                "{} -> {keep_n} {} (through to {})",
                chain.units,
                if op == "Conv" { "channels" } else { "units" },
                node_id(&g.node[chain.consumer])
            ),
            before,
            after,
        );
    }
    g.value_info.retain(|v| !changed_tensors.contains(&v.name));
    remove_unused(g);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slicing_keeps_the_chosen_units_and_blocks() {
        let w = Weight {
            dims: vec![2, 4],
            data: vec![0., 1., 2., 3., 4., 5., 6., 7.],
        };
        let s = slice_units(&w, 1, &[1, 3], 1);
        assert_eq!(s.dims, vec![2, 2]);
        assert_eq!(s.data, vec![1., 3., 5., 7.]);
        let r = slice_units(&w, 1, &[1], 2);
        assert_eq!(r.data, vec![2., 3., 6., 7.]);
        assert_eq!(unit_norms(&w, 0, 2, 1), vec![14.0, 126.0]);
    }
}
