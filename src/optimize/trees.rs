//! Tree ensembles (ai.onnx.ml TreeEnsembleClassifier/Regressor): keep the first k trees, or cut
//! every tree at a maximum depth (the cut node becomes a leaf carrying the mean of the leaves
//! below it). Also a direct evaluator of the trees, which tests hold the engines to.

use super::graph::attr;
use super::{node_id, Coverage};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap};
use tract_onnx::pb;

#[derive(Clone, Debug, PartialEq)]
pub struct TreeNode {
    pub tree: i64,
    pub id: i64,
    pub feature: i64,
    pub value: f32,
    pub mode: String,
    pub true_id: i64,
    pub false_id: i64,
    pub missing_true: i64,
    pub hitrate: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    pub tree: i64,
    pub node: i64,
    pub target: i64,
    pub weight: f32,
}

/// The trees of one ensemble node.
#[derive(Clone, Debug, PartialEq)]
pub struct Ensemble {
    pub classifier: bool,
    pub nodes: Vec<TreeNode>,
    pub leaves: Vec<Leaf>,
    pub base_values: Vec<f32>,
    pub average: bool,
}

fn ints(n: &pb::NodeProto, name: &str) -> Vec<i64> {
    attr(n, name).map(|a| a.ints.clone()).unwrap_or_default()
}

fn floats(n: &pb::NodeProto, name: &str) -> Vec<f32> {
    attr(n, name).map(|a| a.floats.clone()).unwrap_or_default()
}

pub fn is_tree_ensemble(n: &pb::NodeProto) -> bool {
    n.domain == "ai.onnx.ml"
        && matches!(
            n.op_type.as_str(),
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor"
        )
}

impl Ensemble {
    pub fn parse(n: &pb::NodeProto) -> Result<Ensemble> {
        if n.attribute.iter().any(|a| a.name.ends_with("_as_tensor")) {
            bail!("trees stored as double tensors (ai.onnx.ml opset 3) are not cut yet");
        }
        let classifier = n.op_type == "TreeEnsembleClassifier";
        let p = if classifier { "class" } else { "target" };
        let tree = ints(n, "nodes_treeids");
        let len = tree.len();
        let id = ints(n, "nodes_nodeids");
        let feature = ints(n, "nodes_featureids");
        let value = floats(n, "nodes_values");
        let modes: Vec<String> = attr(n, "nodes_modes")
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let t = ints(n, "nodes_truenodeids");
        let f = ints(n, "nodes_falsenodeids");
        let missing = ints(n, "nodes_missing_value_tracks_true");
        let hit = floats(n, "nodes_hitrates");
        if [
            id.len(),
            feature.len(),
            value.len(),
            modes.len(),
            t.len(),
            f.len(),
        ]
        .iter()
        .any(|&l| l != len)
        {
            bail!("the tree attributes have different lengths");
        }
        let nodes = (0..len)
            .map(|i| TreeNode {
                tree: tree[i],
                id: id[i],
                feature: feature[i],
                value: value[i],
                mode: modes[i].clone(),
                true_id: t[i],
                false_id: f[i],
                missing_true: missing.get(i).copied().unwrap_or(0),
                hitrate: hit.get(i).copied().unwrap_or(1.0),
            })
            .collect();
        let lt = ints(n, &format!("{p}_treeids"));
        let ln = ints(n, &format!("{p}_nodeids"));
        let li = ints(n, &format!("{p}_ids"));
        let lw = floats(n, &format!("{p}_weights"));
        if [ln.len(), li.len(), lw.len()]
            .iter()
            .any(|&l| l != lt.len())
        {
            bail!("the leaf attributes have different lengths");
        }
        let leaves = (0..lt.len())
            .map(|i| Leaf {
                tree: lt[i],
                node: ln[i],
                target: li[i],
                weight: lw[i],
            })
            .collect();
        let average = attr(n, "aggregate_function").is_some_and(|a| a.s == b"AVERAGE");
        Ok(Ensemble {
            classifier,
            nodes,
            leaves,
            base_values: floats(n, "base_values"),
            average,
        })
    }

    /// Tree ids in the order the model lists them.
    pub fn tree_ids(&self) -> Vec<i64> {
        let mut seen = Vec::new();
        for n in &self.nodes {
            if !seen.contains(&n.tree) {
                seen.push(n.tree);
            }
        }
        seen
    }

    /// Writes the trees back into `n`'s attributes.
    fn store(&self, n: &mut pb::NodeProto) {
        let p = if self.classifier { "class" } else { "target" };
        let set_ints = |n: &mut pb::NodeProto, name: &str, v: Vec<i64>| {
            if let Some(a) = n.attribute.iter_mut().find(|a| a.name == name) {
                a.ints = v;
            }
        };
        let set_floats = |n: &mut pb::NodeProto, name: &str, v: Vec<f32>| {
            if let Some(a) = n.attribute.iter_mut().find(|a| a.name == name) {
                a.floats = v;
            }
        };
        let nd = &self.nodes;
        set_ints(n, "nodes_treeids", nd.iter().map(|x| x.tree).collect());
        set_ints(n, "nodes_nodeids", nd.iter().map(|x| x.id).collect());
        set_ints(
            n,
            "nodes_featureids",
            nd.iter().map(|x| x.feature).collect(),
        );
        set_floats(n, "nodes_values", nd.iter().map(|x| x.value).collect());
        set_ints(
            n,
            "nodes_truenodeids",
            nd.iter().map(|x| x.true_id).collect(),
        );
        set_ints(
            n,
            "nodes_falsenodeids",
            nd.iter().map(|x| x.false_id).collect(),
        );
        set_ints(
            n,
            "nodes_missing_value_tracks_true",
            nd.iter().map(|x| x.missing_true).collect(),
        );
        set_floats(n, "nodes_hitrates", nd.iter().map(|x| x.hitrate).collect());
        if let Some(a) = n.attribute.iter_mut().find(|a| a.name == "nodes_modes") {
            a.strings = nd.iter().map(|x| x.mode.clone().into_bytes()).collect();
        }
        let lv = &self.leaves;
        set_ints(
            n,
            &format!("{p}_treeids"),
            lv.iter().map(|x| x.tree).collect(),
        );
        set_ints(
            n,
            &format!("{p}_nodeids"),
            lv.iter().map(|x| x.node).collect(),
        );
        set_ints(
            n,
            &format!("{p}_ids"),
            lv.iter().map(|x| x.target).collect(),
        );
        set_floats(
            n,
            &format!("{p}_weights"),
            lv.iter().map(|x| x.weight).collect(),
        );
    }

    /// Whether leaf weights are probabilities divided by the number of trees (a random forest
    /// averaging its trees through a sum): then fewer trees need the weights scaled back up.
    fn sums_averaged_probabilities(&self, n_trees: usize) -> bool {
        if !self.classifier || self.leaves.iter().any(|l| l.weight < 0.0) {
            return false;
        }
        let mut per_leaf: HashMap<(i64, i64), f32> = HashMap::new();
        for l in &self.leaves {
            *per_leaf.entry((l.tree, l.node)).or_default() += l.weight;
        }
        let cap = 1.0 / n_trees as f32 * 1.0001;
        per_leaf.values().all(|&s| s <= cap)
    }

    /// Whether a SUM regressor is really an average (a random forest exported with each leaf
    /// divided by the number of trees): no base value, and every tree's mean leaf value has the
    /// same sign and a similar size. Boosted trees fit residuals: their means straddle zero.
    fn sums_averaged_values(&self) -> bool {
        if self.classifier || self.average || self.base_values.iter().any(|b| *b != 0.0) {
            return false;
        }
        let means: Vec<f64> = self
            .tree_ids()
            .iter()
            .map(|t| {
                let w: Vec<f64> = self
                    .leaves
                    .iter()
                    .filter(|l| l.tree == *t)
                    .map(|l| l.weight as f64)
                    .collect();
                w.iter().sum::<f64>() / w.len().max(1) as f64
            })
            .collect();
        let (lo, hi) = means
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &m| {
                (a.min(m), b.max(m))
            });
        means.len() > 1 && lo * hi > 0.0 && lo.abs().min(hi.abs()) * 3.0 >= lo.abs().max(hi.abs())
    }

    /// Keeps the first `k` trees.
    pub fn keep_trees(&mut self, k: usize, post_transform_none: bool) -> Result<String> {
        let ids = self.tree_ids();
        if k == 0 {
            bail!("keeping 0 trees leaves no model");
        }
        if k >= ids.len() {
            bail!(
                "the ensemble has {} trees; keeping {k} changes nothing",
                ids.len()
            );
        }
        let scale = post_transform_none
            && (self.sums_averaged_probabilities(ids.len()) || self.sums_averaged_values());
        let kept: Vec<i64> = ids[..k].to_vec();
        self.nodes.retain(|n| kept.contains(&n.tree));
        self.leaves.retain(|l| kept.contains(&l.tree));
        if scale {
            let s = ids.len() as f32 / k as f32;
            self.leaves.iter_mut().for_each(|l| l.weight *= s);
        }
        Ok(format!(
            "{} -> {k} trees{}",
            ids.len(),
            if scale {
                " (leaf values rescaled by n/k: the ensemble averages its trees through a sum)"
            } else {
                ""
            }
        ))
    }

    /// Cuts every tree at `depth` (the root is depth 0): a branch at that depth becomes a leaf
    /// whose weights are the mean of the leaves below it. Node ids are renumbered densely.
    pub fn cut_depth(&mut self, depth: usize) -> Result<String> {
        let mut out_nodes = Vec::new();
        let mut out_leaves = Vec::new();
        let mut cut = 0;
        let mut deepest = 0;
        for tree in self.tree_ids() {
            let by_id: HashMap<i64, &TreeNode> = self
                .nodes
                .iter()
                .filter(|n| n.tree == tree)
                .map(|n| (n.id, n))
                .collect();
            let leaf_w: BTreeMap<i64, Vec<(i64, f32)>> = self
                .leaves
                .iter()
                .filter(|l| l.tree == tree)
                .fold(BTreeMap::new(), |mut m, l| {
                    m.entry(l.node).or_default().push((l.target, l.weight));
                    m
                });
            let children: std::collections::HashSet<i64> = by_id
                .values()
                .filter(|n| n.mode != "LEAF")
                .flat_map(|n| [n.true_id, n.false_id])
                .collect();
            let Some(root) = by_id
                .keys()
                .copied()
                .filter(|id| !children.contains(id))
                .min()
            else {
                bail!("tree {tree} has no root");
            };
            // Mean of the leaf weights under `id`, per target.
            fn below(
                id: i64,
                by_id: &HashMap<i64, &TreeNode>,
                leaf_w: &BTreeMap<i64, Vec<(i64, f32)>>,
                acc: &mut BTreeMap<i64, f64>,
                count: &mut usize,
                guard: usize,
            ) -> Result<()> {
                let Some(n) = by_id.get(&id) else {
                    bail!("a tree refers to a missing node {id}");
                };
                if guard > 10_000 {
                    bail!("a tree is cyclic");
                }
                if n.mode == "LEAF" {
                    *count += 1;
                    for &(t, w) in leaf_w.get(&id).into_iter().flatten() {
                        *acc.entry(t).or_default() += w as f64;
                    }
                    return Ok(());
                }
                below(n.true_id, by_id, leaf_w, acc, count, guard + 1)?;
                below(n.false_id, by_id, leaf_w, acc, count, guard + 1)
            }
            // Walk breadth first, renumbering.
            let mut new_id: HashMap<i64, i64> = HashMap::new();
            let mut queue = std::collections::VecDeque::from([(root, 0usize)]);
            let mut order = Vec::new();
            while let Some((id, d)) = queue.pop_front() {
                if new_id.contains_key(&id) {
                    bail!("tree {tree} is not a tree (node {id} is reached twice)");
                }
                new_id.insert(id, order.len() as i64);
                order.push((id, d));
                let n = by_id
                    .get(&id)
                    .ok_or_else(|| anyhow::anyhow!("tree {tree} refers to a missing node {id}"))?;
                deepest = deepest.max(d);
                if n.mode != "LEAF" && d < depth {
                    queue.push_back((n.true_id, d + 1));
                    queue.push_back((n.false_id, d + 1));
                }
            }
            for (id, d) in order {
                let n = by_id[&id];
                let nid = new_id[&id];
                if n.mode != "LEAF" && d >= depth {
                    cut += 1;
                    let mut acc = BTreeMap::new();
                    let mut count = 0;
                    below(id, &by_id, &leaf_w, &mut acc, &mut count, 0)?;
                    out_nodes.push(TreeNode {
                        id: nid,
                        feature: 0,
                        value: 0.0,
                        mode: "LEAF".into(),
                        true_id: 0,
                        false_id: 0,
                        missing_true: 0,
                        ..n.clone()
                    });
                    for (t, s) in acc {
                        out_leaves.push(Leaf {
                            tree,
                            node: nid,
                            target: t,
                            weight: (s / count.max(1) as f64) as f32,
                        });
                    }
                } else if n.mode == "LEAF" {
                    out_nodes.push(TreeNode {
                        id: nid,
                        ..n.clone()
                    });
                    for &(t, w) in leaf_w.get(&id).into_iter().flatten() {
                        out_leaves.push(Leaf {
                            tree,
                            node: nid,
                            target: t,
                            weight: w,
                        });
                    }
                } else {
                    out_nodes.push(TreeNode {
                        id: nid,
                        true_id: new_id[&n.true_id],
                        false_id: new_id[&n.false_id],
                        ..n.clone()
                    });
                }
            }
        }
        if cut == 0 {
            bail!("no tree is deeper than {depth} (the deepest reaches depth {deepest})");
        }
        self.nodes = out_nodes;
        self.leaves = out_leaves;
        Ok(format!(
            "{cut} branches at depth {depth} became leaves (deepest was {deepest})"
        ))
    }

    /// Raw scores per target (or class id) for one sample, before any post transform:
    /// leaf weights summed over trees (averaged for AVERAGE regressors), plus base values.
    pub fn evaluate(&self, x: &[f32]) -> Vec<f32> {
        let n_targets = self
            .leaves
            .iter()
            .map(|l| l.target + 1)
            .max()
            .unwrap_or(0)
            .max(self.base_values.len() as i64) as usize;
        let mut out = vec![0f64; n_targets];
        let mut index: HashMap<(i64, i64), &TreeNode> = HashMap::new();
        for n in &self.nodes {
            index.insert((n.tree, n.id), n);
        }
        let mut leaf_w: HashMap<(i64, i64), Vec<(i64, f32)>> = HashMap::new();
        for l in &self.leaves {
            leaf_w
                .entry((l.tree, l.node))
                .or_default()
                .push((l.target, l.weight));
        }
        let trees = self.tree_ids();
        for &tree in &trees {
            let children: std::collections::HashSet<i64> = self
                .nodes
                .iter()
                .filter(|n| n.tree == tree && n.mode != "LEAF")
                .flat_map(|n| [n.true_id, n.false_id])
                .collect();
            let mut id = self
                .nodes
                .iter()
                .filter(|n| n.tree == tree && !children.contains(&n.id))
                .map(|n| n.id)
                .min()
                .unwrap_or(0);
            for _ in 0..100_000 {
                let Some(n) = index.get(&(tree, id)) else {
                    break;
                };
                if n.mode == "LEAF" {
                    for &(t, w) in leaf_w.get(&(tree, id)).into_iter().flatten() {
                        out[t as usize] += w as f64;
                    }
                    break;
                }
                let v = x.get(n.feature as usize).copied().unwrap_or(f32::NAN);
                let go_true = if v.is_nan() {
                    n.missing_true != 0
                } else {
                    match n.mode.as_str() {
                        "BRANCH_LEQ" => v <= n.value,
                        "BRANCH_LT" => v < n.value,
                        "BRANCH_GTE" => v >= n.value,
                        "BRANCH_GT" => v > n.value,
                        "BRANCH_EQ" => v == n.value,
                        _ => v != n.value,
                    }
                };
                id = if go_true { n.true_id } else { n.false_id };
            }
        }
        if self.average && !trees.is_empty() {
            out.iter_mut().for_each(|v| *v /= trees.len() as f64);
        }
        for (o, b) in out.iter_mut().zip(&self.base_values) {
            *o += *b as f64;
        }
        out.into_iter().map(|v| v as f32).collect()
    }
}

/// What to do to each tree ensemble.
#[derive(Clone, Copy, Debug)]
pub enum Cut {
    Trees(usize),
    Depth(usize),
}

/// Applies `cut` to every tree ensemble in the main graph.
pub fn cut(m: &mut pb::ModelProto, how: Cut, cov: &mut Coverage) -> Result<()> {
    let Some(g) = m.graph.as_mut() else {
        bail!("the model has no graph")
    };
    for n in g.node.iter_mut().filter(|n| is_tree_ensemble(n)) {
        let id = node_id(n);
        let op = n.op_type.clone();
        let result = Ensemble::parse(n).and_then(|mut e| {
            let post_none = attr(n, "post_transform").is_none_or(|a| a.s == b"NONE");
            let before = 12 * e.nodes.len() as u64 + 8 * e.leaves.len() as u64;
            let what = match how {
                Cut::Trees(k) => e.keep_trees(k, post_none)?,
                Cut::Depth(d) => e.cut_depth(d)?,
            };
            e.store(n);
            Ok((
                what,
                before,
                12 * e.nodes.len() as u64 + 8 * e.leaves.len() as u64,
            ))
        });
        match result {
            Ok((what, before, after)) => cov.change(&id, &op, what, before, after),
            Err(e) => cov.skip(&id, &op, format!("{e:#}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: i64, mode: &str, f: i64, v: f32, t: i64, fl: i64) -> TreeNode {
        TreeNode {
            tree: 0,
            id,
            feature: f,
            value: v,
            mode: mode.into(),
            true_id: t,
            false_id: fl,
            missing_true: 0,
            hitrate: 1.0,
        }
    }

    /// root: x0 <= 0.5 ? leaf 1 : (x1 <= 0.5 ? leaf 2 : leaf 4). Cut at depth 1, the right
    /// branch becomes a leaf with the mean of 2 and 4.
    #[test]
    fn a_cut_branch_carries_the_mean_of_its_leaves() {
        let mut e = Ensemble {
            classifier: false,
            nodes: vec![
                n(0, "BRANCH_LEQ", 0, 0.5, 1, 2),
                n(1, "LEAF", 0, 0.0, 0, 0),
                n(2, "BRANCH_LEQ", 1, 0.5, 3, 4),
                n(3, "LEAF", 0, 0.0, 0, 0),
                n(4, "LEAF", 0, 0.0, 0, 0),
            ],
            leaves: [(1, 1.0), (3, 2.0), (4, 4.0)]
                .iter()
                .map(|&(node, weight)| Leaf {
                    tree: 0,
                    node,
                    target: 0,
                    weight,
                })
                .collect(),
            base_values: vec![],
            average: false,
        };
        assert_eq!(e.evaluate(&[1.0, 0.0]), vec![2.0]);
        assert_eq!(e.evaluate(&[1.0, 1.0]), vec![4.0]);
        let what = e.cut_depth(1).unwrap();
        assert!(what.contains("1 branches"), "{what}");
        assert_eq!(e.nodes.len(), 3);
        assert_eq!(e.evaluate(&[1.0, 0.0]), vec![3.0]);
        assert_eq!(e.evaluate(&[1.0, 1.0]), vec![3.0]);
        assert_eq!(e.evaluate(&[0.0, 1.0]), vec![1.0]);
        assert!(e.cut_depth(1).is_err(), "nothing deeper is left");
    }

    /// A forest exported as a sum of leaves divided by n is rescaled when trees are dropped;
    /// boosted trees (a base value, residual leaves of both signs) are not.
    #[test]
    fn averaging_sums_are_told_from_boosting() {
        let tree = |t: i64, a: f32, b: f32| {
            let mut nodes = vec![
                n(0, "BRANCH_LEQ", 0, 0.5, 1, 2),
                n(1, "LEAF", 0, 0.0, 0, 0),
                n(2, "LEAF", 0, 0.0, 0, 0),
            ];
            nodes.iter_mut().for_each(|x| x.tree = t);
            let leaves = vec![
                Leaf {
                    tree: t,
                    node: 1,
                    target: 0,
                    weight: a,
                },
                Leaf {
                    tree: t,
                    node: 2,
                    target: 0,
                    weight: b,
                },
            ];
            (nodes, leaves)
        };
        let build = |parts: Vec<(Vec<TreeNode>, Vec<Leaf>)>, base: Vec<f32>| Ensemble {
            classifier: false,
            nodes: parts.iter().flat_map(|p| p.0.clone()).collect(),
            leaves: parts.iter().flat_map(|p| p.1.clone()).collect(),
            base_values: base,
            average: false,
        };
        let mut forest = build(
            vec![tree(0, 10.0, 20.0), tree(1, 12.0, 18.0), tree(2, 9.0, 21.0)],
            vec![],
        );
        let x = [0.0f32];
        let full = forest.evaluate(&x)[0];
        let what = forest.keep_trees(1, true).unwrap();
        assert!(what.contains("rescaled"), "{what}");
        assert_eq!(forest.evaluate(&x)[0], 30.0, "tree 0's 10 x 3");
        assert!((full - 31.0).abs() < 1e-4);
        let mut boosted = build(
            vec![tree(0, -5.0, 5.0), tree(1, 2.0, -2.0), tree(2, -1.0, 1.0)],
            vec![100.0],
        );
        let what = boosted.keep_trees(2, true).unwrap();
        assert!(!what.contains("rescaled"), "{what}");
        assert_eq!(boosted.evaluate(&x)[0], 97.0);
    }
}
