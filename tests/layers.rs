//! The core's layers, checked: each top-level module of `src/` sits in a layer, and a module
//! may name (`crate::x`) only modules of its own layer or below. The imports that still go
//! upward are listed in `UPWARD`, to be removed one by one (docs/architecture.md); any other
//! upward import fails this test, and so does a listed one that is gone (strike it off).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Lowest first. `app`, `cli` and `worker` are the front ends: nothing below names them.
const LAYERS: &[&[&str]] = &[
    &["tensor", "format", "fsutil", "guard", "environment"],
    &["model"],
    &["data", "engine"],
    &["bench", "profile"],
    &["optimize", "cost", "load"],
    &["settings", "preset", "compare"],
    &["report"],
    &["worker", "app", "cli"],
];

/// Upward imports that exist today: (from, to).
const UPWARD: &[(&str, &str)] = &[
    ("bench", "compare"),
    ("bench", "report"),
    ("engine", "bench"),
    ("engine", "profile"),
    ("model", "optimize"),
    ("optimize", "compare"),
    ("profile", "optimize"),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules `text` names through `crate::`, including `crate::{a, b::c}`.
fn named(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = part.trim().split("::").next().unwrap_or("");
                if !name.is_empty() {
                    out.insert(name.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

/// `text` without its `#[cfg(test)]` items (the braces after each, matched).
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(open) = after.find(['{', ';']) else {
            return out;
        };
        if after.as_bytes()[open] == b';' {
            rest = &after[open + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (k, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// (from, to) -> a file that imports so, for every module edge of the core outside tests.
fn edges(src: &Path) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(src).unwrap();
            let file = rel.file_name().unwrap().to_string_lossy();
            if p.extension().is_none_or(|e| e != "rs") || file == "tests.rs" {
                continue;
            }
            let module = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if module == "main" || module == "lib" {
                continue;
            }
            let text = without_tests(&std::fs::read_to_string(&p).unwrap());
            for to in named(&text) {
                if to != module && layer_of(&to).is_some() {
                    out.entry((module.clone(), to))
                        .or_insert_with(|| rel.display().to_string());
                }
            }
        }
    }
    out
}

#[test]
fn no_core_module_imports_a_layer_above_it_but_the_listed_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = edges(&src);
    let mut modules: BTreeSet<&str> = BTreeSet::new();
    for (from, to) in edges.keys() {
        modules.insert(from);
        modules.insert(to);
    }
    for m in &modules {
        assert!(layer_of(m).is_some(), "module {m} has no layer in LAYERS");
    }
    let mut upward = Vec::new();
    for ((from, to), file) in &edges {
        if layer_of(to) > layer_of(from) && !UPWARD.contains(&(from.as_str(), to.as_str())) {
            upward.push(format!("{from} -> {to} (in src/{file})"));
        }
    }
    assert!(
        upward.is_empty(),
        "upward imports: {upward:#?}\n(a module may use only its own layer and those below: move the code, or pass what it needs in)"
    );
    let gone: Vec<_> = UPWARD
        .iter()
        .filter(|(f, t)| !edges.contains_key(&(f.to_string(), t.to_string())))
        .collect();
    assert!(
        gone.is_empty(),
        "these listed upward imports are gone, strike them off UPWARD: {gone:?}"
    );
}

#[test]
fn the_reader_skips_tests_but_not_what_follows_them() {
    let t = without_tests(
        "use crate::model;\n#[cfg(test)]\nmod tests {\n fn f() { crate::report::x(); }\n}\nfn g() { crate::data::y(); }",
    );
    assert!(t.contains("crate::model") && t.contains("crate::data") && !t.contains("report"));
}

#[test]
fn the_reader_sees_grouped_and_inline_paths() {
    let n = named("use crate::{model::Model, tensor::Tensor};\nlet x = crate::format::ms(1.0);");
    assert_eq!(
        n,
        ["format", "model", "tensor"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}
