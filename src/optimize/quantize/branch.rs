//! Static int8 inside an `If`: models that hold their whole network in the branches of one
//! `If` (silero-vad picks its 16 kHz or 8 kHz network so) get the branch the sample data
//! takes inlined into the main graph, quantized there like any main graph (calibrated,
//! held to the target), and put back into the `If`; the other branch stays float.

use super::measure::Judge;
use super::*;
use crate::engine::Output;
use anyhow::Context;
use std::collections::HashSet;

/// Where an inlined branch came from, to put it back.
pub(super) struct Inlined {
    /// The If's node id and the branch attribute taken (`then_branch`, `else_branch`).
    pub(super) node: String,
    pub(super) taken: String,
    pub(super) other: String,
    /// Node ids of the main graph, the If aside.
    main: HashSet<String>,
    /// The Identity nodes that hand the branch's outputs to the If's.
    joins: HashSet<String>,
    /// The main graph's initializers.
    inits: HashSet<String>,
}

fn has_weight_layer(g: &pb::GraphProto) -> bool {
    let mut found = false;
    visit(g, &mut |g| found |= g.node.iter().any(is_weight_layer));
    found
}

/// The main graph's If whose branches hold the weight layers, with the branch the sample
/// data takes inlined in its place; `None` when the model is not built so (a weight layer
/// in the main graph, no such If, or names a branch shares with the main graph).
pub(super) fn inline_taken(
    judge: &Judge,
    m: &pb::ModelProto,
) -> Result<Option<(pb::ModelProto, Inlined)>> {
    let Some(g) = &m.graph else {
        return Ok(None);
    };
    if g.node.iter().any(is_weight_layer) {
        return Ok(None);
    }
    let Some(at) = g.node.iter().position(|n| {
        n.op_type == "If"
            && is_default_domain(n)
            && subgraphs_of(n).iter().any(|s| has_weight_layer(s))
    }) else {
        return Ok(None);
    };
    let node = &g.node[at];
    let Some(cond) = node.input.first() else {
        return Ok(None);
    };
    // Which branch the sample data takes.
    let (mut e, pos) = calibrate::with_outputs(judge.model, m, std::slice::from_ref(cond))?;
    let Some(check) = judge.samples.check.first() else {
        return Ok(None);
    };
    let outs = crate::guard::catch("running the model for its If condition", || e.run(check))?;
    let Some(Output::Tensor(c)) = outs.get(pos[0]) else {
        return Ok(None);
    };
    let then = c.to_f64_vec().first().is_some_and(|&v| v != 0.0);
    let (taken, other) = if then {
        ("then_branch", "else_branch")
    } else {
        ("else_branch", "then_branch")
    };
    let Some(branch) = node
        .attribute
        .iter()
        .find(|a| a.name == taken)
        .and_then(|a| a.g.as_ref())
    else {
        return Ok(None);
    };
    // The branch's names must not clash with the main graph's once side by side.
    let mut main_names: HashSet<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
    main_names.extend(g.initializer.iter().map(|t| t.name.as_str()));
    main_names.extend(
        g.node
            .iter()
            .flat_map(|n| n.output.iter().map(String::as_str)),
    );
    if branch
        .node
        .iter()
        .flat_map(|n| n.output.iter())
        .chain(branch.initializer.iter().map(|t| &t.name))
        .any(|o| main_names.contains(o.as_str()))
    {
        return Ok(None);
    }
    let mut flat = m.clone();
    let fg = flat.graph.as_mut().context("no graph")?;
    let mut names = Names::of(fg);
    let mut nodes = Vec::with_capacity(fg.node.len() + branch.node.len());
    let mut joins = HashSet::new();
    for (i, n) in std::mem::take(&mut fg.node).into_iter().enumerate() {
        if i != at {
            nodes.push(n);
            continue;
        }
        nodes.extend(branch.node.iter().cloned());
        for (b, o) in branch.output.iter().zip(&n.output) {
            let name = names.fresh(&format!("{}_{taken}_out", node_id(&n)));
            nodes.push(super::super::graph::node(
                "Identity",
                &name,
                &[&b.name],
                &[o],
                vec![],
            ));
            joins.insert(name);
        }
    }
    fg.node = nodes;
    fg.initializer.extend(branch.initializer.iter().cloned());
    let info = Inlined {
        node: node_id(node),
        taken: taken.into(),
        other: other.into(),
        main: g
            .node
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, n)| node_id(n))
            .collect(),
        joins,
        inits: g.initializer.iter().map(|t| t.name.clone()).collect(),
    };
    Ok(Some((flat, info)))
}

fn subgraphs_of(n: &pb::NodeProto) -> Vec<&pb::GraphProto> {
    n.attribute.iter().filter_map(|a| a.g.as_ref()).collect()
}

/// `m` with the taken branch of its If replaced by the quantized nodes of `q` (the inlined
/// model after static int8): the main graph keeps its nodes, the branch gets the rest, the
/// new constants as Constant nodes at its start.
pub(super) fn put_back(m: &mut pb::ModelProto, q: &pb::ModelProto, info: &Inlined) -> Result<()> {
    let qg = q.graph.as_ref().context("no graph")?;
    let mut constants: Vec<pb::NodeProto> = qg
        .initializer
        .iter()
        .filter(|t| !info.inits.contains(&t.name))
        .cloned()
        .map(constant_node)
        .collect();
    let mut main_q: HashMap<String, pb::NodeProto> = HashMap::new();
    let mut body = Vec::new();
    for n in &qg.node {
        let id = node_id(n);
        if info.main.contains(&id) {
            main_q.insert(id, n.clone());
        } else if !info.joins.contains(&n.name) {
            body.push(n.clone());
        }
    }
    constants.append(&mut body);
    m.opset_import.clone_from(&q.opset_import);
    let g = m.graph.as_mut().context("no graph")?;
    for n in &mut g.node {
        let id = node_id(n);
        if id == info.node {
            let branch = n
                .attribute
                .iter_mut()
                .find(|a| a.name == info.taken)
                .and_then(|a| a.g.as_mut())
                .context("the If lost its branch")?;
            branch.node = std::mem::take(&mut constants);
            branch.initializer.clear();
        } else if let Some(qn) = main_q.remove(&id) {
            *n = qn;
        }
    }
    // The main graph's initializers as static int8 left them (folded or not).
    for t in &mut g.initializer {
        if let Some(qt) = qg.initializer.iter().find(|x| x.name == t.name) {
            *t = qt.clone();
        }
    }
    remove_unused(g);
    check_structure(g)
}
