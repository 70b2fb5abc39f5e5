//! Emitting the quantized node chains: new constants and nodes, named so they never clash.

use super::*;

/// Conv weights (QDQ form only) keep the plain 7-bit range.
pub(super) const CONV_QMAX: f32 = 63.0;

/// Where new constants go: initializers at the top level, `Constant` nodes in subgraphs
/// (both engines accept those everywhere).
pub(super) struct Emit<'a> {
    pub(super) nodes: Vec<pb::NodeProto>,
    pub(super) inits: Vec<pb::TensorProto>,
    pub(super) top: bool,
    pub(super) names: &'a mut Names,
}

impl Emit<'_> {
    pub(super) fn constant(&mut self, t: pb::TensorProto) -> String {
        let name = t.name.clone();
        if self.top {
            self.inits.push(t);
        } else {
            self.nodes.push(constant_node(t));
        }
        name
    }

    pub(super) fn fresh(&mut self, base: &str) -> String {
        self.names.fresh(base)
    }

    /// Appends a node named after `base` and its op.
    pub(super) fn push(
        &mut self,
        op: &str,
        base: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
    ) {
        let name = self.fresh(&format!("{base}_{op}"));
        self.nodes.push(node(op, &name, inputs, outputs, attrs));
    }

    /// Operator form: `op` (MatMulInteger, ConvInteger) on the quantized activation and
    /// weight, Cast to float, times activation scale x weight scale, into `out`.
    pub(super) fn integer_op(
        &mut self,
        id: &str,
        op: &str,
        x: &[String; 3],
        w: &[String; 3],
        attrs: Vec<pb::AttributeProto>,
        out: &str,
    ) {
        let (i32_out, f_out, s) = (
            self.fresh(&format!("{id}_int32")),
            self.fresh(&format!("{id}_float")),
            self.fresh(&format!("{id}_output_scale")),
        );
        self.push(op, id, &[&x[0], &w[0], &x[2], &w[2]], &[&i32_out], attrs);
        self.push(
            "Cast",
            id,
            &[&i32_out],
            &[&f_out],
            vec![attr_int("to", FLOAT as i64)],
        );
        self.push(
            "Mul",
            &format!("{id}_scale"),
            &[&x[1], &w[1]],
            &[&s],
            vec![],
        );
        self.push("Mul", id, &[&f_out, &s], &[out], vec![]);
    }

    /// QDQ form: the activation and the weight dequantized back to float (the weight along
    /// `axis` when it has one scale per channel).
    pub(super) fn dequantize_both(
        &mut self,
        id: &str,
        x: &str,
        xq: &[String; 3],
        wq: &[String; 3],
        axis: i64,
    ) -> (String, String) {
        let (xd, wd) = (
            self.fresh(&format!("{x}_dequantized")),
            self.fresh(&format!("{id}_weight_dequantized")),
        );
        self.push(
            "DequantizeLinear",
            x,
            &[&xq[0], &xq[1], &xq[2]],
            &[&xd],
            vec![],
        );
        self.push(
            "DequantizeLinear",
            &format!("{id}_weight"),
            &[&wq[0], &wq[1], &wq[2]],
            &[&wd],
            vec![attr_int("axis", axis)],
        );
        (xd, wd)
    }
}

/// What the activation of one tensor quantizes to, shared by every consumer in a graph.
pub(super) type ActCache = HashMap<String, [String; 3]>;

pub(super) fn quantize_activation(e: &mut Emit, cache: &mut ActCache, x: &str) -> [String; 3] {
    if let Some(q) = cache.get(x) {
        return q.clone();
    }
    let q = [
        e.fresh(&format!("{x}_quantized")),
        e.fresh(&format!("{x}_scale")),
        e.fresh(&format!("{x}_zero_point")),
    ];
    e.push(
        "DynamicQuantizeLinear",
        x,
        &[x],
        &[&q[0], &q[1], &q[2]],
        vec![],
    );
    cache.insert(x.to_string(), q.clone());
    q
}
