//! Where the time goes: a profiling pass kept apart from the latency measurement (profiling
//! slows a run, so none of its numbers enter the latency statistics). ONNX Runtime's session
//! profiler writes a Chrome-trace JSON; this reads it into per-node and per-op-type times
//! (the median over the profiled requests), one request's timeline, and a Chrome trace of that
//! request for Perfetto or chrome://tracing.

pub mod roofline;

use anyhow::{bail, Context, Result};
use roofline::{Ceilings, Placement, Shape, Work};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One node of the graph as the engine ran it (after its own fusions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeTime {
    pub name: String,
    pub op: String,
    pub provider: String,
    /// Median time per request, microseconds.
    pub median_us: f64,
    /// Where it starts in the median request, microseconds from the request's start.
    pub start_us: f64,
    pub thread: u64,
    /// Input shapes as the profiler recorded them, e.g. `float[1,16,4,4] float[32,16,3,3]`.
    pub inputs: String,
    /// FLOPs and bytes moved, from the shapes.
    pub work: Work,
    /// Where it sits on this machine's roofline (when the ceilings were measured and its
    /// FLOPs are counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roofline: Option<Placement>,
}

/// The nodes of one op type together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpTypeTime {
    pub op: String,
    pub nodes: usize,
    /// Sum of its nodes' medians, microseconds per request.
    pub us: f64,
    /// Share of the time spent in operators.
    pub share: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpProfile {
    /// `onnxruntime 1.31.1`.
    pub engine: String,
    /// Requests profiled (warm-up excluded).
    pub requests: usize,
    /// Median time of a whole request as the profiler saw it, microseconds.
    pub request_us: f64,
    /// Sum of the nodes' medians, microseconds: the rest of a request is the engine's own
    /// work outside operators (binding inputs, allocating outputs, scheduling).
    pub operators_us: f64,
    /// Slowest first.
    pub nodes: Vec<NodeTime>,
    /// Slowest first.
    pub by_op: Vec<OpTypeTime>,
    /// This machine's ceilings, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceilings: Option<Ceilings>,
}

/// One node's execution in one profiled request.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeEvent {
    pub name: String,
    pub op: String,
    pub provider: String,
    /// From the start of the request, microseconds.
    pub start_us: f64,
    pub dur_us: f64,
    pub thread: u64,
    pub inputs: String,
    pub input_shapes: Vec<Shape>,
    pub output_shapes: Vec<Shape>,
    /// FLOPs as the engine counts them, when it does (tract's cost model: its rewritten
    /// matmuls take packed operands whose shapes no longer say M, K and N).
    pub flops: Option<f64>,
}

/// One profiled request: its total time and its nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfiledRun {
    pub total_us: f64,
    pub nodes: Vec<NodeEvent>,
}

/// The profile of several requests: per node the median of its time in each request (a node
/// run twice in a request counts once, summed), op types summed over their nodes.
pub fn from_runs(engine: &str, runs: &[ProfiledRun]) -> Result<OpProfile> {
    if runs.is_empty() {
        bail!("the profile holds no request after the warm-up");
    }
    struct Seen {
        times: Vec<f64>,
        starts: Vec<f64>,
        first: NodeEvent,
    }
    let mut nodes: BTreeMap<String, Seen> = BTreeMap::new();
    for r in runs {
        let mut in_run: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for n in &r.nodes {
            let e = in_run.entry(&n.name).or_insert((0.0, n.start_us));
            e.0 += n.dur_us;
            nodes.entry(n.name.clone()).or_insert_with(|| Seen {
                times: Vec::new(),
                starts: Vec::new(),
                first: n.clone(),
            });
        }
        for (name, (t, start)) in in_run {
            if let Some(s) = nodes.get_mut(name) {
                s.times.push(t);
                s.starts.push(start);
            }
        }
    }
    let mut out: Vec<NodeTime> = nodes
        .into_iter()
        .map(|(name, mut s)| NodeTime {
            name,
            work: {
                let mut w =
                    roofline::work(&s.first.op, &s.first.input_shapes, &s.first.output_shapes);
                if s.first.flops.is_some() {
                    w.flops = s.first.flops;
                }
                w
            },
            op: s.first.op,
            provider: s.first.provider,
            median_us: median(&mut s.times),
            start_us: median(&mut s.starts),
            thread: s.first.thread,
            inputs: s.first.inputs,
            roofline: None,
        })
        .collect();
    out.sort_by(|a, b| b.median_us.total_cmp(&a.median_us));
    let operators_us: f64 = out.iter().map(|n| n.median_us).sum();
    let mut by: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for n in &out {
        let e = by.entry(&n.op).or_default();
        e.0 += 1;
        e.1 += n.median_us;
    }
    let mut by_op: Vec<OpTypeTime> = by
        .into_iter()
        .map(|(op, (nodes, us))| OpTypeTime {
            op: op.to_string(),
            nodes,
            us,
            share: if operators_us > 0.0 {
                us / operators_us
            } else {
                0.0
            },
        })
        .collect();
    by_op.sort_by(|a, b| b.us.total_cmp(&a.us));
    let mut totals: Vec<f64> = runs.iter().map(|r| r.total_us).collect();
    Ok(OpProfile {
        engine: engine.to_string(),
        requests: runs.len(),
        request_us: median(&mut totals),
        operators_us,
        nodes: out,
        by_op,
        ceilings: None,
    })
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(default)]
    cat: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    ts: f64,
    #[serde(default)]
    dur: f64,
    #[serde(default)]
    tid: u64,
    #[serde(default)]
    args: serde_json::Map<String, serde_json::Value>,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Shapes of `key` (`input_type_shape` or `output_type_shape`) as the profiler records them.
fn typed_shapes(args: &serde_json::Map<String, serde_json::Value>, key: &str) -> Vec<Shape> {
    let Some(list) = args.get(key).and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|o| o.as_object())
        .flat_map(|o| {
            o.iter().map(|(ty, dims)| Shape {
                elem_bytes: roofline::elem_bytes(ty),
                dims: dims
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(0) as usize).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn shapes(args: &serde_json::Map<String, serde_json::Value>) -> String {
    let Some(list) = args.get("input_type_shape").and_then(|v| v.as_array()) else {
        return String::new();
    };
    list.iter()
        .filter_map(|o| o.as_object())
        .flat_map(|o| {
            o.iter().map(|(ty, dims)| {
                let d = dims
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                format!("{ty}[{d}]")
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads ONNX Runtime's profile (its Chrome-trace JSON): every `model_run` after the first
/// `warmup` is a request; each node's time in a request is the sum of its `*_kernel_time`
/// events inside that request; per node the median over the requests.
pub fn from_ort_trace(json: &[u8], warmup: usize, engine: &str) -> Result<OpProfile> {
    let events: Vec<RawEvent> = serde_json::from_slice(json)
        .context("the profile is not the JSON array ONNX Runtime writes")?;
    let mut runs: Vec<&RawEvent> = events
        .iter()
        .filter(|e| e.cat == "Session" && e.name == "model_run")
        .collect();
    runs.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    let runs: Vec<&RawEvent> = runs.into_iter().skip(warmup).collect();
    if runs.is_empty() {
        bail!("the profile holds no request after the warm-up");
    }
    let kernels: Vec<&RawEvent> = events
        .iter()
        .filter(|e| e.cat == "Node" && e.name.ends_with("_kernel_time"))
        .collect();
    let profiled: Vec<ProfiledRun> = runs
        .iter()
        .map(|r| ProfiledRun {
            total_us: r.dur,
            nodes: kernels
                .iter()
                .filter(|k| k.ts >= r.ts && k.ts + k.dur <= r.ts + r.dur + 1.0)
                .map(|k| NodeEvent {
                    name: k.name.trim_end_matches("_kernel_time").to_string(),
                    op: k
                        .args
                        .get("op_name")
                        .and_then(|v| v.as_str())
                        .unwrap_or("?")
                        .to_string(),
                    provider: k
                        .args
                        .get("provider")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string(),
                    start_us: k.ts - r.ts,
                    dur_us: k.dur,
                    thread: k.tid,
                    inputs: shapes(&k.args),
                    input_shapes: typed_shapes(&k.args, "input_type_shape"),
                    output_shapes: typed_shapes(&k.args, "output_type_shape"),
                    flops: None,
                })
                .collect(),
        })
        .collect();
    from_runs(engine, &profiled)
}

/// One op type in a variant against the original: its nodes and time per request in each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpDelta {
    pub op: String,
    pub nodes_before: usize,
    pub nodes_after: usize,
    pub us_before: f64,
    pub us_after: f64,
}

impl OpDelta {
    pub fn delta_us(&self) -> f64 {
        self.us_after - self.us_before
    }
}

/// A variant's profile against the original's, op type by op type: what the rewrite added,
/// removed and changed, in time per request. The deltas add up to the change in operator time;
/// the change in the engine's own work is apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileDiff {
    pub variant: String,
    pub ops: Vec<OpDelta>,
    pub operators_before_us: f64,
    pub operators_after_us: f64,
    pub request_before_us: f64,
    pub request_after_us: f64,
}

/// `after` (the variant `variant`) against `before` (the original), largest change first.
pub fn diff(before: &OpProfile, after: &OpProfile, variant: &str) -> ProfileDiff {
    let mut ops: BTreeMap<&str, OpDelta> = BTreeMap::new();
    for (o, after_side) in before
        .by_op
        .iter()
        .map(|o| (o, false))
        .chain(after.by_op.iter().map(|o| (o, true)))
    {
        let d = ops.entry(&o.op).or_insert_with(|| OpDelta {
            op: o.op.clone(),
            nodes_before: 0,
            nodes_after: 0,
            us_before: 0.0,
            us_after: 0.0,
        });
        if after_side {
            d.nodes_after += o.nodes;
            d.us_after += o.us;
        } else {
            d.nodes_before += o.nodes;
            d.us_before += o.us;
        }
    }
    let mut ops: Vec<OpDelta> = ops.into_values().collect();
    ops.sort_by(|a, b| b.delta_us().abs().total_cmp(&a.delta_us().abs()));
    ProfileDiff {
        variant: variant.to_string(),
        ops,
        operators_before_us: before.operators_us,
        operators_after_us: after.operators_us,
        request_before_us: before.request_us,
        request_after_us: after.request_us,
    }
}

impl ProfileDiff {
    /// The diff as the terminal shows it: a line per op type that changed, then the totals.
    pub fn text(&self) -> String {
        let ms = |us: f64| crate::format::ms(us / 1e3);
        let mut out = format!(
            "\n{} against the original, per request (median over the profiled requests):\n{:<28} {:>13} {:>13} {:>12}\n",
            self.variant, "op type", "original", "variant", "change"
        );
        for d in self.ops.iter().filter(|d| d.delta_us().abs() > 0.0) {
            let side = |n: usize, us: f64| {
                if n == 0 {
                    "-".to_string()
                } else {
                    format!("{n} x {}", ms(us / n as f64))
                }
            };
            out += &format!(
                "{:<28} {:>13} {:>13} {:>12}  {}\n",
                d.op,
                side(d.nodes_before, d.us_before),
                side(d.nodes_after, d.us_after),
                format!(
                    "{}{}",
                    if d.delta_us() >= 0.0 { "+" } else { "-" },
                    ms(d.delta_us().abs())
                ),
                match (d.nodes_before, d.nodes_after) {
                    (0, n) => format!("added: the {n} node(s) add {}", ms(d.us_after)),
                    (n, 0) => format!("removed: the {n} node(s) took {}", ms(d.us_before)),
                    _ if d.delta_us() < 0.0 => format!("faster by {}", ms(-d.delta_us())),
                    _ => format!("slower by {}", ms(d.delta_us())),
                }
            );
        }
        let ops = self.operators_after_us - self.operators_before_us;
        let own = (self.request_after_us - self.operators_after_us)
            - (self.request_before_us - self.operators_before_us);
        out += &format!(
            "operators {} -> {} ({}{}); the engine's own work {}{}; a request {} -> {}\n",
            ms(self.operators_before_us),
            ms(self.operators_after_us),
            if ops >= 0.0 { "+" } else { "-" },
            ms(ops.abs()),
            if own >= 0.0 { "+" } else { "-" },
            ms(own.abs()),
            ms(self.request_before_us),
            ms(self.request_after_us)
        );
        out
    }
}

impl OpProfile {
    /// Places every node with counted FLOPs on the roofline of `c`.
    pub fn place(&mut self, c: Ceilings) {
        for n in &mut self.nodes {
            n.roofline = c.place(&n.work, n.median_us);
        }
        self.ceilings = Some(c);
    }

    /// One request as a Chrome trace (the JSON object format Perfetto and chrome://tracing
    /// open): each node at its median start and duration, on its thread, named by node with
    /// its op type as the category.
    pub fn chrome_trace(&self) -> Result<String> {
        let mut events = vec![serde_json::json!({
            "name": "request", "cat": "request", "ph": "X", "ts": 0.0, "dur": self.request_us,
            "pid": 1, "tid": 0, "args": {"engine": self.engine, "requests profiled": self.requests}
        })];
        let mut nodes: Vec<&NodeTime> = self.nodes.iter().collect();
        nodes.sort_by(|a, b| a.start_us.total_cmp(&b.start_us));
        for n in nodes {
            events.push(serde_json::json!({
                "name": n.name, "cat": n.op, "ph": "X", "ts": n.start_us, "dur": n.median_us,
                "pid": 1, "tid": n.thread,
                "args": {"op": n.op, "provider": n.provider, "inputs": n.inputs}
            }));
        }
        Ok(serde_json::to_string_pretty(&serde_json::json!({
            "traceEvents": events,
            "displayTimeUnit": "ms",
        }))? + "\n")
    }

    /// The slowest nodes as monospaced text: a header and a line each (the terminal and the
    /// report lay them out).
    pub fn hotspots(&self, top: usize) -> (String, Vec<String>) {
        let header = format!(
            "{:<36} {:<18} {:>11} {:>6} {:>9} {:>8} {:>7}  {:<28} {}",
            "slowest nodes",
            "op",
            "per request",
            "share",
            "GFLOP/s",
            "FLOP/B",
            "of roof",
            "roofline",
            "inputs"
        );
        let rows = self
            .nodes
            .iter()
            .take(top)
            .map(|n| {
                let (g, ai, eff, bound) = match &n.roofline {
                    Some(p) => (
                        format!("{:.2}", p.gflops),
                        format!("{:.1}", p.intensity),
                        format!("{:.0}%", p.efficiency * 100.0),
                        p.bound.clone(),
                    ),
                    None => ("-".into(), "-".into(), "-".into(), String::new()),
                };
                let share = if self.operators_us > 0.0 {
                    n.median_us / self.operators_us * 100.0
                } else {
                    0.0
                };
                let name = if n.name.chars().count() > 36 {
                    format!(
                        "…{}",
                        n.name
                            .chars()
                            .rev()
                            .take(35)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .collect::<String>()
                    )
                } else {
                    n.name.clone()
                };
                format!(
                    "{:<36} {:<18} {:>11} {:>5.1}% {:>9} {:>8} {:>7}  {:<28} {}",
                    name,
                    n.op,
                    crate::format::ms(n.median_us / 1e3),
                    share,
                    g,
                    ai,
                    eff,
                    bound,
                    n.inputs
                )
            })
            .collect();
        (header, rows)
    }

    /// The op types and the slowest nodes as the terminal shows them.
    pub fn text(&self, top: usize) -> String {
        let mut out = format!(
            "{}: {} requests profiled; a request takes {} of which operators {} ({:.0}%), the rest is the engine's own work (binding, allocation, scheduling)\n\n",
            self.engine,
            self.requests,
            crate::format::ms(self.request_us / 1e3),
            crate::format::ms(self.operators_us / 1e3),
            if self.request_us > 0.0 { self.operators_us / self.request_us * 100.0 } else { 0.0 }
        );
        out += &format!(
            "{:<28} {:>6} {:>12} {:>7}\n",
            "op type", "nodes", "per request", "share"
        );
        for o in &self.by_op {
            out += &format!(
                "{:<28} {:>6} {:>12} {:>6.1}%\n",
                o.op,
                o.nodes,
                crate::format::ms(o.us / 1e3),
                o.share * 100.0
            );
        }
        if let Some(c) = &self.ceilings {
            out += &format!(
                "\nThis machine: {:.1} GFLOP/s, {:.1} GB/s (ridge at {:.1} FLOP/byte); {}\n",
                c.gflops,
                c.gbytes_per_s,
                c.ridge(),
                c.how
            );
        }
        let (header, rows) = self.hotspots(top);
        out += &format!("\n{header}\n");
        for r in rows {
            out += &format!("{r}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two requests after one warm-up: per node the median over requests, op types summed.
    #[test]
    fn a_diff_adds_up() {
        let prof = |ops: &[(&str, usize, f64)], request: f64| OpProfile {
            engine: "x".into(),
            requests: 1,
            request_us: request,
            operators_us: ops.iter().map(|o| o.2).sum(),
            nodes: Vec::new(),
            by_op: ops
                .iter()
                .map(|&(op, nodes, us)| OpTypeTime {
                    op: op.into(),
                    nodes,
                    us,
                    share: 0.0,
                })
                .collect(),
            ceilings: None,
        };
        let before = prof(&[("MatMul", 3, 90.0), ("Relu", 2, 10.0)], 120.0);
        let after = prof(
            &[
                ("MatMulInteger", 3, 40.0),
                ("DynamicQuantizeLinear", 3, 75.0),
                ("Relu", 2, 10.0),
            ],
            150.0,
        );
        let d = diff(&before, &after, "int8");
        assert_eq!(d.ops[0].op, "MatMul", "the largest change first");
        let total: f64 = d.ops.iter().map(|o| o.delta_us()).sum();
        assert_eq!(total, d.operators_after_us - d.operators_before_us);
        let t = d.text();
        assert!(t.contains("added: the 3 node(s) add 0.075 ms"), "{t}");
        assert!(t.contains("removed: the 3 node(s) took 0.090 ms"), "{t}");
        assert!(
            !t.contains("Relu"),
            "unchanged op types are not listed: {t}"
        );
    }

    #[test]
    fn reads_an_onnx_runtime_profile() {
        let ev = |cat: &str, name: &str, ts: f64, dur: f64, op: &str| {
            serde_json::json!({"cat": cat, "name": name, "ts": ts, "dur": dur, "tid": 7, "ph": "X",
                "args": {"op_name": op, "provider": "CPUExecutionProvider",
                         "input_type_shape": [{"float": [1, 4]}]}})
        };
        let trace = serde_json::json!([
            ev("Session", "model_run", 0.0, 100.0, ""),
            ev("Node", "a_kernel_time", 1.0, 90.0, "MatMul"),
            ev("Session", "model_run", 200.0, 50.0, ""),
            ev("Node", "a_kernel_time", 201.0, 30.0, "MatMul"),
            ev("Node", "b_kernel_time", 232.0, 10.0, "Relu"),
            ev("Session", "model_run", 300.0, 70.0, ""),
            ev("Node", "a_kernel_time", 301.0, 50.0, "MatMul"),
            ev("Node", "b_kernel_time", 352.0, 14.0, "Relu"),
        ]);
        let p = from_ort_trace(trace.to_string().as_bytes(), 1, "onnxruntime test").unwrap();
        assert_eq!(p.requests, 2);
        assert_eq!(p.request_us, 60.0);
        assert_eq!(p.nodes[0].name, "a");
        assert_eq!(p.nodes[0].median_us, 40.0);
        assert_eq!(p.nodes[1].median_us, 12.0);
        assert_eq!(p.nodes[1].start_us, 42.0);
        assert_eq!(p.nodes[0].inputs, "float[1,4]");
        assert_eq!(p.operators_us, 52.0);
        assert_eq!(p.by_op[0].op, "MatMul");
        assert!((p.by_op[0].share - 40.0 / 52.0).abs() < 1e-12);
        let t: serde_json::Value = serde_json::from_str(&p.chrome_trace().unwrap()).unwrap();
        assert_eq!(t["traceEvents"].as_array().unwrap().len(), 3);
        let e = format!("{:#}", from_ort_trace(b"{}", 0, "x").unwrap_err());
        assert!(e.contains("not the JSON array"), "{e}");
        let e = format!("{:#}", from_ort_trace(b"[]", 0, "x").unwrap_err());
        assert!(e.contains("no request after the warm-up"), "{e}");
    }
}
