//! Helpers shared by the integration tests.

use inferscope::optimize::graph::FLOAT;
use prost::Message;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tract_onnx::pb;

/// The corpus test subset's manifest (corpus/corpus.py downloads what the cache lacks; a
/// failure to download is a failure, not a skip).
pub fn corpus_manifest() -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/corpus.py");
    let o = Command::new("python3")
        .arg(&script)
        .args(["fetch", "--subset", "test"])
        .output()
        .expect("python3 runs corpus/corpus.py");
    assert!(
        o.status.success(),
        "fetching the corpus failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// One corpus model of the test subset: (model, sample data).
#[allow(dead_code)]
pub fn corpus_model(id: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let m = corpus_manifest()
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no corpus model {id}"));
    (
        m["model"].as_str().unwrap().into(),
        m["data"].as_str().unwrap().into(),
    )
}

/// A float tensor declaration; a negative dimension is the symbolic `batch`.
#[allow(dead_code)]
pub fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| pb::tensor_shape_proto::Dimension {
                            value: Some(if d < 0 {
                                pb::tensor_shape_proto::dimension::Value::DimParam("batch".into())
                            } else {
                                pb::tensor_shape_proto::dimension::Value::DimValue(d)
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ONNX bytes of a model of graph `g` at opset 17.
#[allow(dead_code)]
pub fn model_bytes(g: pb::GraphProto) -> Vec<u8> {
    inferscope::optimize::graph::model_of(g, 17).encode_to_vec()
}

/// The op type ONNX Runtime's own profiler puts first, run from Python and read here alone: 60
/// requests after 10 warm-up, per request each op type's kernel time, per op type the median
/// over the requests (a sum would let one preempted call on this busy machine decide). Inputs
/// come from `data` (an .npz by input name, one sample where the batch is free) or are random
/// with free dimensions 1.
#[allow(dead_code)]
pub fn onnxruntime_top_op(model: &str, data: Option<&str>, dir: &Path) -> String {
    let script = format!(
        r#"
import collections, json, numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.enable_profiling = True; so.profile_file_prefix = {prefix:?}
s = ort.InferenceSession({model:?}, so, providers=["CPUExecutionProvider"])
data = {data}
d = np.load(data) if data else None
feeds = {{}}
for i in s.get_inputs():
    if d is not None:
        a = d[i.name]
        if a.ndim >= 1 and not isinstance(i.shape[0], int):
            a = a[:1]
    else:
        a = np.random.rand(*[x if isinstance(x, int) else 1 for x in i.shape]).astype(np.float32)
    feeds[i.name] = a
for _ in range(70): s.run(None, feeds)
ev = json.load(open(s.end_profiling()))
runs = sorted([e for e in ev if e.get("name") == "model_run"], key=lambda e: e["ts"])[10:]
per = collections.defaultdict(list)
for r in runs:
    t = collections.Counter()
    for e in ev:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and r["ts"] <= e["ts"] <= r["ts"] + r["dur"]:
            t[e["args"]["op_name"]] += e["dur"]
    for op, v in t.items():
        per[op].append(v)
med = {{op: sorted(v)[len(v) // 2] for op, v in per.items()}}
print(max(med, key=med.get))
"#,
        prefix = dir.join("py").to_str().unwrap(),
        data = match data {
            Some(p) => format!("{p:?}"),
            None => "None".into(),
        },
    );
    let o = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 with onnxruntime (installed by .ci/run)");
    assert!(
        o.status.success(),
        "ONNX Runtime's profiler from Python failed on {model}:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Runs each corpus model in Python's ONNX Runtime on its own .npz, fed as the file holds
/// it (as `inferscope bench --data` feeds it): per model id, `None` where it ran, else
/// ONNX Runtime's error.
#[allow(dead_code)]
pub fn onnxruntime_runs(
    models: &[serde_json::Value],
) -> std::collections::BTreeMap<String, Option<String>> {
    let list: Vec<(String, String, String)> = models
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap().to_string();
            (s("id"), s("model"), s("data"))
        })
        .collect();
    let script = r#"
import json, sys, numpy as np, onnxruntime as ort
ort.set_default_logger_severity(3)
out = {}
for id, model, data in json.loads(sys.argv[1]):
    try:
        s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        d = np.load(data, allow_pickle=False)
        s.run(None, {i.name: d[i.name] for i in s.get_inputs()})
        out[id] = None
    except Exception as e:
        out[id] = str(e)[:500]
print(json.dumps(out))
"#;
    let o = Command::new("python3")
        .args(["-c", script, &serde_json::to_string(&list).unwrap()])
        .output()
        .expect("python3 with onnxruntime (installed by .ci/run)");
    assert!(
        o.status.success(),
        "ONNX Runtime from Python failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("the script's JSON")
}
