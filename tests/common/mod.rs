//! Helpers shared by the integration tests.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

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
