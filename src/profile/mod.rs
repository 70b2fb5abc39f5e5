//! Where the time goes: a profiling pass kept apart from the latency measurement (profiling
//! slows a run, so none of its numbers enter the latency statistics). ONNX Runtime's session
//! profiler writes a Chrome-trace JSON; this reads it into per-node and per-op-type times
//! (the median over the profiled requests), one request's timeline, and a Chrome trace of that
//! request for Perfetto or chrome://tracing.

pub mod diff;
pub mod pass;
pub mod roofline;

pub use diff::{diff, Layers, ProfileDiff};

use anyhow::{bail, Context, Result};
use roofline::{Ceilings, Placement, Shape, Work};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The requests of a profiling pass: `warmup` unmeasured (ended early at half the time cap),
/// then `requests` measured (at least one; ended at the cap, so a slow model stops in time
/// and says so).
pub struct Schedule {
    warmup: usize,
    requests: usize,
    cap: Option<std::time::Duration>,
    start: std::time::Instant,
    /// Warm-up requests run.
    pub warmed: usize,
    /// Measured requests run.
    pub measured: usize,
    warm_over: bool,
}

impl Schedule {
    pub fn new(warmup: usize, requests: usize, cap: Option<std::time::Duration>) -> Schedule {
        Schedule {
            warmup,
            requests: requests.max(1),
            cap,
            start: std::time::Instant::now(),
            warmed: 0,
            measured: 0,
            warm_over: warmup == 0,
        }
    }

    /// The next request: `Some(false)` warm-up, `Some(true)` measured, `None` done.
    pub fn next_request(&mut self) -> Option<bool> {
        let past = |share: f64| {
            self.cap
                .is_some_and(|c| self.start.elapsed().as_secs_f64() >= c.as_secs_f64() * share)
        };
        if !self.warm_over {
            if self.warmed < self.warmup && (self.warmed == 0 || !past(0.5)) {
                self.warmed += 1;
                return Some(false);
            }
            self.warm_over = true;
        }
        if self.measured < self.requests && (self.measured == 0 || !past(1.0)) {
            self.measured += 1;
            return Some(true);
        }
        None
    }

    /// What the time cap cut, when it cut anything.
    pub fn cut(&self) -> Option<String> {
        let cap = self.cap?;
        (self.measured < self.requests || self.warmed < self.warmup).then(|| {
            format!(
                "time cap of {:.0} s reached: {} of {} requests profiled after {} of {} warm-up (a slow model: raise --max-time for more)",
                cap.as_secs_f64(),
                self.measured,
                self.requests,
                self.warmed,
                self.warmup
            )
        })
    }
}

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
    /// The tensors it read and wrote, by name, as the engine's optimized graph has them
    /// (when the engine wrote that graph): what ties a fused node to the layers of the
    /// original graph.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_tensors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_tensors: Vec<String>,
}

impl NodeTime {
    /// Bytes its inputs and outputs move per second, GB/s.
    pub fn gbytes_per_s(&self) -> Option<f64> {
        (self.median_us > 0.0 && self.work.bytes > 0.0)
            .then(|| self.work.bytes / (self.median_us * 1e3))
    }
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

impl OpProfile {
    /// Takes each node's input and output tensors from `graph`, the engine's optimized graph
    /// (nodes matched by name; subgraphs included).
    pub fn attach_tensors(&mut self, graph: &tract_onnx::pb::ModelProto) {
        let mut by_name: std::collections::HashMap<String, (Vec<String>, Vec<String>)> =
            std::collections::HashMap::new();
        if let Some(g) = &graph.graph {
            crate::optimize::graph::visit(g, &mut |g: &tract_onnx::pb::GraphProto| {
                for n in g.node.iter().filter(|n| !n.name.is_empty()) {
                    let keep = |v: &[String]| v.iter().filter(|t| !t.is_empty()).cloned().collect();
                    by_name.insert(n.name.clone(), (keep(&n.input), keep(&n.output)));
                }
            });
        }
        for n in &mut self.nodes {
            if let Some((i, o)) = by_name.get(&n.name) {
                n.input_tensors = i.clone();
                n.output_tensors = o.clone();
            }
        }
    }
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
    /// What the time cap cut short, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<String>,
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

/// Each node's own time: a control-flow node (If, Loop, Scan) runs its subgraph's nodes
/// inside its own span on the same thread, and they are profiled too, so their time is taken
/// out of it (else it would count twice).
fn self_times(nodes: &mut [NodeEvent]) {
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&nodes[a], &nodes[b]);
        x.thread
            .cmp(&y.thread)
            .then(x.start_us.total_cmp(&y.start_us))
            .then(y.dur_us.total_cmp(&x.dur_us))
    });
    // Timestamps are whole microseconds: a child may end up to one past its parent; a node
    // that starts where another ends follows it.
    const SLACK: f64 = 1.0;
    let mut inner = vec![0.0; nodes.len()];
    let mut stack: Vec<usize> = Vec::new();
    for &i in &order {
        let n = &nodes[i];
        while let Some(&top) = stack.last() {
            let p = &nodes[top];
            let contains = p.thread == n.thread
                && n.start_us >= p.start_us
                && n.start_us < p.start_us + p.dur_us
                && n.start_us + n.dur_us <= p.start_us + p.dur_us + SLACK;
            if contains {
                break;
            }
            stack.pop();
        }
        if let Some(&parent) = stack.last() {
            inner[parent] += n.dur_us;
        }
        stack.push(i);
    }
    for (n, inside) in nodes.iter_mut().zip(inner) {
        n.dur_us = (n.dur_us - inside).max(0.0);
    }
}

/// The profile of several requests: per node the median of its own time in each request (a
/// node run twice in a request counts once, summed; a control-flow node without the nodes of
/// its subgraph), op types summed over their nodes.
pub fn from_runs(engine: &str, runs: &[ProfiledRun]) -> Result<OpProfile> {
    if runs.is_empty() {
        bail!("the profile holds no request after the warm-up");
    }
    let mut runs = runs.to_vec();
    for r in &mut runs {
        self_times(&mut r.nodes);
    }
    let runs = &runs[..];
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
            input_tensors: Vec::new(),
            output_tensors: Vec::new(),
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
        cut: None,
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

/// `name` in at most `max` characters: its end, where exporters put what tells nodes apart
/// (`…/LayerNorm_0/Sub_1`).
pub fn short_name(name: &str, max: usize) -> String {
    let n = name.chars().count();
    if n <= max {
        return name.to_string();
    }
    let tail: String = name.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
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
            "{:<36} {:<18} {:>11} {:>6} {:>9} {:>10} {:>8} {:>9} {:>8} {:>7}  {:<28} {}",
            "slowest nodes",
            "op",
            "per request",
            "share",
            "MFLOP",
            "moves",
            "GB/s",
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
                let name = short_name(&n.name, 36);
                format!(
                    "{:<36} {:<18} {:>11} {:>5.1}% {:>9} {:>10} {:>8} {:>9} {:>8} {:>7}  {:<28} {}",
                    name,
                    n.op,
                    crate::format::ms(n.median_us / 1e3),
                    share,
                    n.work
                        .flops
                        .map_or("-".into(), |f| format!("{:.3}", f / 1e6)),
                    crate::format::bytes(n.work.bytes as u64),
                    n.gbytes_per_s().map_or("-".into(), |g| format!("{g:.2}")),
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
            "{}: {} requests profiled; a request takes {} of which operators {} ({:.0}%), the rest is the engine's own work (binding, allocation, scheduling)\n{}\n",
            self.engine,
            self.requests,
            crate::format::ms(self.request_us / 1e3),
            crate::format::ms(self.operators_us / 1e3),
            if self.request_us > 0.0 { self.operators_us / self.request_us * 100.0 } else { 0.0 },
            self.cut.as_ref().map(|c| format!("note: {c}\n")).unwrap_or_default()
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
        // An If whose branch's nodes run inside its span: its own time is what is left.
        let trace = serde_json::json!([
            ev("Session", "model_run", 0.0, 100.0, ""),
            ev("Node", "if_kernel_time", 1.0, 80.0, "If"),
            ev("Node", "if_then_conv_kernel_time", 5.0, 50.0, "Conv"),
            ev("Node", "if_then_relu_kernel_time", 56.0, 25.0, "Relu"),
            ev("Node", "after_kernel_time", 82.0, 10.0, "Add"),
        ]);
        let p = from_ort_trace(trace.to_string().as_bytes(), 0, "x").unwrap();
        let t = |name: &str| p.nodes.iter().find(|n| n.name == name).unwrap().median_us;
        assert_eq!((t("if"), t("if_then_conv"), t("after")), (5.0, 50.0, 10.0));
        assert_eq!(p.operators_us, 90.0);
        let e = format!("{:#}", from_ort_trace(b"{}", 0, "x").unwrap_err());
        assert!(e.contains("not the JSON array"), "{e}");
        let e = format!("{:#}", from_ort_trace(b"[]", 0, "x").unwrap_err());
        assert!(e.contains("no request after the warm-up"), "{e}");
    }
}
