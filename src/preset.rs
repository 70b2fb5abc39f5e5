//! Presets: RON files that hold everything needed to repeat a study.
//!
//! A preset only fills settings. It names files to read (a model, sample data) but never a
//! library to load, a command to run or a place to write: the schema has no such fields, and
//! unknown fields are refused. Older schema versions load through [`migrate`]; values out of
//! range are refused with the allowed range; a parse error names the line, column and field.

use crate::cost::plan::CostInputs;
use crate::cost::Pricing;
use crate::engine::EngineChoice;
use crate::fsutil::{sha256_hex, write_atomic};
use crate::settings::{BenchSettings, Stop};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// The schema version this build writes. Version 3: bare `int8` in `variants` is `int8:auto`
/// (the form that runs fastest here), as `optimize --int8` is; in version 2 it was dynamic int8.
pub const VERSION: u32 = 3;

/// Presets are small; anything bigger is not one.
const MAX_BYTES: u64 = 1 << 20;

/// A file the study reads, with the hash it had when the preset was saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// Relative to the preset's folder where possible.
    pub path: PathBuf,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// The machine a preset was saved on, to warn when this one differs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Machine {
    pub cpu: String,
    pub logical_cores: usize,
    pub os: String,
    pub onnxruntime: Option<String>,
}

/// A study, as saved. Every field but `version` may be left out and takes its default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub version: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub model: Option<FileRef>,
    #[serde(default)]
    pub data: Option<FileRef>,
    #[serde(default)]
    pub bench: BenchSettings,
    /// Variants to compare with the original, as `inferscope compare --variant` spells them.
    #[serde(default)]
    pub variants: Vec<String>,
    #[serde(default)]
    pub cost: CostInputs,
    #[serde(default)]
    pub pricing: Pricing,
    #[serde(default)]
    pub saved_on: Option<Machine>,
}

impl Default for Preset {
    fn default() -> Self {
        Preset {
            version: VERSION,
            name: String::new(),
            description: String::new(),
            model: None,
            data: None,
            bench: BenchSettings::default(),
            variants: Vec::new(),
            cost: CostInputs::default(),
            pricing: Pricing::default(),
            saved_on: None,
        }
    }
}

/// Version 1: the window's saved benchmark settings with the model and data paths.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetV1 {
    #[allow(dead_code)]
    version: u32,
    #[serde(default)]
    model: Option<PathBuf>,
    #[serde(default)]
    data: Option<PathBuf>,
    #[serde(default)]
    engine: EngineChoice,
    /// "1, 8, 32"
    #[serde(default)]
    batch_sizes: Option<String>,
    #[serde(default)]
    iterations: Option<u64>,
    #[serde(default)]
    latency_target_ms: Option<f64>,
}

/// Version 1 to the current schema.
fn migrate(v1: PresetV1) -> Result<Preset> {
    let mut p = Preset {
        model: v1.model.map(|path| FileRef { path, sha256: None }),
        data: v1.data.map(|path| FileRef { path, sha256: None }),
        ..Preset::default()
    };
    p.bench.engine = v1.engine;
    if let Some(b) = v1.batch_sizes {
        p.bench.batch_sizes = crate::settings::parse_batch_sizes(&b)
            .map_err(|e| anyhow::anyhow!("batch_sizes: {e}"))?;
    }
    if let Some(n) = v1.iterations {
        p.bench.stop = Stop::Iterations(n);
    }
    if let Some(t) = v1.latency_target_ms {
        p.cost.latency_target_ms = t;
    }
    Ok(p)
}

/// Version 2 to the current schema: each variant spelled as version 2 read it (bare `int8`
/// was dynamic int8, static with a calibration method or target) is spelled so that it keeps
/// that meaning; the others are left as they were written.
fn migrate_v2(mut p: Preset) -> Result<Preset> {
    for v in &mut p.variants {
        let then = crate::optimize::Variant::parse_dynamic_default(v)
            .map_err(|e| anyhow::anyhow!("variants: {e:#}"))?;
        if v.parse::<crate::optimize::Variant>().ok().as_ref() != Some(&then) {
            *v = then.to_string();
        }
    }
    p.version = VERSION;
    Ok(p)
}

/// A parse error with its line and column, and the field it concerns: RON names unknown and
/// missing fields itself; for a bad value, the field is the last `name:` before the error.
fn describe(text: &str, e: ron::error::SpannedError) -> anyhow::Error {
    let msg = e.code.to_string();
    let pos = e.span.start;
    let field = if msg.contains("field") {
        None
    } else {
        field_before(text, pos.line, pos.col)
    };
    match field {
        Some(f) => anyhow::anyhow!("line {}, column {}: field `{f}`: {msg}", pos.line, pos.col),
        None => anyhow::anyhow!("line {}, column {}: {msg}", pos.line, pos.col),
    }
}

/// The identifier of the last `name:` before line `line`, column `col` (1-based).
fn field_before(text: &str, line: usize, col: usize) -> Option<String> {
    let mut prefix = String::new();
    for (i, l) in text.lines().enumerate() {
        if i + 1 < line {
            prefix.push_str(l);
            prefix.push('\n');
        } else {
            prefix.extend(l.chars().take(col.saturating_sub(1)));
            break;
        }
    }
    let chars: Vec<char> = prefix.chars().collect();
    let mut i = chars.len();
    while i > 0 {
        i -= 1;
        if chars[i] != ':' {
            continue;
        }
        let mut j = i;
        while j > 0 && chars[j - 1].is_whitespace() {
            j -= 1;
        }
        let end = j;
        while j > 0 && (chars[j - 1].is_alphanumeric() || chars[j - 1] == '_') {
            j -= 1;
        }
        if j < end {
            return Some(chars[j..end].iter().collect());
        }
    }
    None
}

/// A loaded preset with its paths resolved, and what differs on this machine.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub preset: Preset,
    /// The model and data paths, resolved against the preset's folder.
    pub model_path: Option<PathBuf>,
    pub data_path: Option<PathBuf>,
    pub warnings: Vec<String>,
    /// The schema version the file had (older ones were migrated).
    pub file_version: u32,
}

impl Loaded {
    /// The model file the preset names, resolved, when there is no file there to read: the
    /// study cannot run as saved.
    pub fn missing_model(&self) -> Option<&Path> {
        self.model_path.as_deref().filter(|p| !p.is_file())
    }
}

impl Preset {
    /// Parses preset text (no file access). Errors name the line, column and field.
    pub fn parse(text: &str) -> Result<(Preset, u32)> {
        #[derive(Deserialize)]
        struct Version {
            #[serde(default)]
            version: u32,
        }
        // `threads: 4` and `Some(4)` both read as an optional value.
        let ron = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let version = ron
            .from_str::<Version>(text)
            .map_err(|e| anyhow::anyhow!("not a preset: {e}"))?
            .version;
        if version == 0 {
            bail!("not a preset: it has no `version` field");
        }
        let preset = match version {
            1 => migrate(ron.from_str::<PresetV1>(text).map_err(|e| describe(text, e))?)?,
            2 => migrate_v2(ron.from_str::<Preset>(text).map_err(|e| describe(text, e))?)?,
            VERSION => ron.from_str::<Preset>(text).map_err(|e| describe(text, e))?,
            v => bail!(
                "preset version {v} is not supported by this Inferscope (it reads versions 1 to {VERSION})"
            ),
        };
        preset.validate()?;
        Ok((preset, version))
    }

    /// Refuses values out of range, naming the field and the allowed range.
    pub fn validate(&self) -> Result<()> {
        for v in &self.variants {
            v.parse::<crate::optimize::Variant>()
                .map_err(|e| anyhow::anyhow!("variants: {e:#}"))?;
        }
        self.bench
            .validate()
            .map_err(|e| anyhow::anyhow!("bench.{e}"))?;
        self.cost
            .validate()
            .map_err(|e| anyhow::anyhow!("cost: {e}"))?;
        self.pricing
            .validate()
            .map_err(|e| anyhow::anyhow!("pricing: {e}"))?;
        Ok(())
    }

    /// Reads a preset file: parses, migrates, validates, resolves paths against the file's
    /// folder and compares with this machine.
    pub fn load(path: &Path) -> Result<Loaded> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.len() > MAX_BYTES {
            bail!(
                "{} is {} bytes; a preset is at most {MAX_BYTES}",
                path.display(),
                meta.len()
            );
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!(
                "{} is not a valid preset: it is not text (a preset is a RON file)",
                path.display()
            )
        })?;
        let (preset, file_version) = Preset::parse(&text)
            .with_context(|| format!("{} is not a valid preset", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let resolve = |f: &Option<FileRef>| {
            f.as_ref().map(|f| {
                if f.path.is_absolute() {
                    f.path.clone()
                } else {
                    dir.join(&f.path)
                }
            })
        };
        let (model_path, data_path) = (resolve(&preset.model), resolve(&preset.data));
        let mut warnings = Vec::new();
        if file_version < VERSION {
            warnings.push(format!(
                "this preset has schema version {file_version}; it was migrated to version {VERSION} (save it to update the file)"
            ));
        }
        for (what, f, p) in [
            ("model", &preset.model, &model_path),
            ("data", &preset.data, &data_path),
        ] {
            if let (Some(f), Some(p)) = (f, p) {
                match (std::fs::read(p).map(|b| sha256_hex(&b)), &f.sha256) {
                    (Err(_), _) => warnings.push(format!("the {what} file {} is not there", p.display())),
                    (Ok(h), Some(want)) if &h != want => warnings.push(format!(
                        "the {what} file {} differs from the one the preset was saved with (sha256 {}… here, {}… there)",
                        p.display(),
                        &h[..12],
                        &want[..want.len().min(12)]
                    )),
                    _ => {}
                }
            }
        }
        if let Some(m) = &preset.saved_on {
            let here = Machine::this();
            if m.cpu != here.cpu {
                warnings.push(format!(
                    "saved on a different CPU ({}; this one is {}): latencies will differ",
                    m.cpu, here.cpu
                ));
            }
            if m.logical_cores != here.logical_cores {
                warnings.push(format!(
                    "saved on a machine with {} logical cores; this one has {}",
                    m.logical_cores, here.logical_cores
                ));
            }
            if m.onnxruntime != here.onnxruntime {
                warnings.push(format!(
                    "saved with ONNX Runtime {}; this machine has {}",
                    m.onnxruntime.as_deref().unwrap_or("none"),
                    here.onnxruntime.as_deref().unwrap_or("none")
                ));
            }
        }
        Ok(Loaded {
            preset,
            model_path,
            data_path,
            warnings,
            file_version,
        })
    }

    /// The preset as RON text, current version (one read from an older document, such as a
    /// report's JSON, migrated first so that its variants keep their meaning).
    pub fn to_ron(&self) -> Result<String> {
        let mut p = match self.version {
            2 => migrate_v2(self.clone())?,
            _ => self.clone(),
        };
        p.version = VERSION;
        let cfg = ron::ser::PrettyConfig::new()
            .depth_limit(4)
            .struct_names(false);
        Ok(format!(
            "// Inferscope preset: load it with File > Load preset, by dropping it on the window,\n// or with --preset on any command.\n{}\n",
            ron::ser::to_string_pretty(&p, cfg)?
        ))
    }

    /// Writes the preset atomically to `path`, with model and data paths made relative to
    /// its folder where possible, their sha256, and this machine's description.
    pub fn save(&self, path: &Path, model: Option<&Path>, data: Option<&Path>) -> Result<()> {
        let dir = path
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .unwrap_or(Path::new("."));
        write_atomic(
            path,
            self.with_files(model, data, Some(dir)).to_ron()?.as_bytes(),
        )
    }

    /// The preset naming the model and data it ran on (relative to `dir` where possible,
    /// else absolute) with their sha256, and this machine: what a saved preset and a
    /// report's embedded preset hold, so the study can be run again.
    pub fn with_files(
        &self,
        model: Option<&Path>,
        data: Option<&Path>,
        dir: Option<&Path>,
    ) -> Preset {
        let file_ref = |p: Option<&Path>| {
            p.map(|p| FileRef {
                path: match dir {
                    Some(d) => relative_to(p, d),
                    None => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
                },
                sha256: std::fs::read(p).ok().map(|b| sha256_hex(&b)),
            })
        };
        let mut out = self.clone();
        out.version = VERSION;
        out.model = file_ref(model).or(out.model);
        out.data = file_ref(data).or(out.data);
        out.saved_on = Some(Machine::this());
        out
    }
}

impl Machine {
    pub fn this() -> Machine {
        let env = crate::environment::Environment::detect(Err(String::new()), None);
        let located = crate::engine::runtime::locate(None);
        Machine {
            cpu: env.cpu_model,
            logical_cores: env.logical_cores,
            os: env.os,
            onnxruntime: located.chosen.and_then(|c| c.version),
        }
    }
}

/// `path` relative to `base` when both are absolute or both relative; else `path` as is.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| {
        if p.is_absolute() {
            Some(p.to_path_buf())
        } else {
            std::env::current_dir().ok().map(|c| c.join(p))
        }
    };
    let (Some(p), Some(b)) = (abs(path), abs(base)) else {
        return path.to_path_buf();
    };
    fn norm(p: &Path) -> Vec<Component<'_>> {
        p.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect()
    }
    let (pc, bc) = (norm(&p), norm(&b));
    let common = pc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return p;
    }
    let mut out = PathBuf::new();
    for _ in common..bc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// The presets that ship with Inferscope, built in: (file name, text).
pub const SHIPPED: [(&str, &str); 5] = [
    ("quick.ron", include_str!("../presets/quick.ron")),
    ("thorough.ron", include_str!("../presets/thorough.ron")),
    (
        "latency-target-100ms.ron",
        include_str!("../presets/latency-target-100ms.ron"),
    ),
    (
        "serverless-vs-kubernetes-10m.ron",
        include_str!("../presets/serverless-vs-kubernetes-10m.ron"),
    ),
    (
        "int8-vs-original.ron",
        include_str!("../presets/int8-vs-original.ron"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_presets_parse_and_validate() {
        for (name, text) in SHIPPED {
            let (p, v) = Preset::parse(text).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert_eq!(v, VERSION, "{name}");
            assert!(!p.name.is_empty() && !p.description.is_empty(), "{name}");
        }
    }

    #[test]
    fn round_trip_keeps_everything() {
        let mut p = Preset {
            name: "x".into(),
            variants: vec!["int8".into()],
            ..Preset::default()
        };
        p.bench.dims.insert("seq".into(), 128);
        p.bench.stop = Stop::UntilStable {
            percent: 5.0,
            min_iterations: 200,
            max_iterations: 5000,
            max_seconds: 30.0,
        };
        p.cost.monthly_requests = 1e7;
        p.pricing.container.usd_per_vcpu_hour = 0.05;
        let text = p.to_ron().unwrap();
        let (back, _) = Preset::parse(&text).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn version_1_is_migrated() {
        let (p, v) = Preset::parse(
            r#"(version: 1, model: Some("m.onnx"), engine: tract, batch_sizes: Some("1, 16"), iterations: Some(500), latency_target_ms: Some(50.0))"#,
        )
        .unwrap();
        assert_eq!(v, 1);
        assert_eq!(p.version, VERSION);
        assert_eq!(p.model.unwrap().path, PathBuf::from("m.onnx"));
        assert_eq!(p.bench.engine, EngineChoice::Tract);
        assert_eq!(p.bench.batch_sizes, vec![1, 16]);
        assert_eq!(p.bench.stop, Stop::Iterations(500));
        assert_eq!(p.cost.latency_target_ms, 50.0);
    }

    #[test]
    fn bad_presets_say_where_and_what() {
        let err = |t: &str| format!("{:#}", Preset::parse(t).unwrap_err());
        // An unknown field: line, column and its name.
        let e = err("(\n  version: 2,\n  ort_library: \"/tmp/evil.so\",\n)");
        assert!(
            e.contains("line 3, column 3") && e.contains("ort_library"),
            "{e}"
        );
        // A bad value: where, and which field.
        let e = err("(\n  version: 2,\n  bench: (concurrency: \"four\"),\n)");
        assert!(e.contains("line 3, column 23: field `concurrency`"), "{e}");
        // Out of range: the field and the allowed range.
        let e = err("(version: 2, bench: (concurrency: 0))");
        assert!(
            e.contains("bench.concurrency") && e.contains("between 1 and 256"),
            "{e}"
        );
        let e = err("(version: 2, cost: (target_utilization: 1.5))");
        assert!(
            e.contains("target utilization") && e.contains("0.99"),
            "{e}"
        );
        let e = err("(version: 2, pricing: (serverless_usd_per_gb_second: -1.0))");
        assert!(e.contains("serverless_usd_per_gb_second"), "{e}");
        // Not versioned, from the future, or not RON at all.
        assert!(err("(name: \"x\")").contains("no `version`"));
        assert!(err("(version: 9)").contains("versions 1 to 3"));
        assert!(err("{{{").contains("not a preset"));
    }

    /// Bare `int8` was dynamic int8 in version 2 and is auto now: a version-2 preset keeps
    /// the study it was saved with, spelled so, and one of this version reads as it is written.
    #[test]
    fn version_2_variants_keep_their_meaning() {
        let (p, v) = Preset::parse(
            r#"(version: 2, variants: ["int8", "int8:conv", "int8:percentile", "int8:auto:batch=4", "prune:0.5"])"#,
        )
        .unwrap();
        assert_eq!((v, p.version), (2, VERSION));
        assert_eq!(
            p.variants,
            [
                "int8:dynamic",
                "int8:conv",
                "int8:static:percentile",
                "int8:auto:batch=4",
                "prune:0.5"
            ]
        );
        let (p, _) = Preset::parse(r#"(version: 3, variants: ["int8"])"#).unwrap();
        assert_eq!(p.variants, ["int8"]);
        assert!(matches!(
            p.variants[0].parse::<crate::optimize::Variant>(),
            Ok(crate::optimize::Variant::Int8(o)) if o.auto
        ));
        // One read from an older document (a report's JSON) is migrated when written out.
        let old = Preset {
            version: 2,
            variants: vec!["int8".into()],
            ..Preset::default()
        };
        let (back, _) = Preset::parse(&old.to_ron().unwrap()).unwrap();
        assert_eq!(back.variants, ["int8:dynamic"]);
        // What version 2 refused stays refused.
        let e = format!(
            "{:#}",
            Preset::parse(r#"(version: 2, variants: ["int8:batch=4"])"#).unwrap_err()
        );
        assert!(
            e.contains("variants") && e.contains("dynamic int8 times nothing"),
            "{e}"
        );
    }

    /// A preset whose model file is not there says which file; one with no model is whole.
    #[test]
    fn a_missing_model_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with.ron");
        std::fs::write(&with, r#"(version: 3, model: (path: "gone.onnx"))"#).unwrap();
        let gone = dir.path().join("gone.onnx");
        assert_eq!(
            Preset::load(&with).unwrap().missing_model(),
            Some(gone.as_path())
        );
        std::fs::write(&gone, b"a model").unwrap();
        assert_eq!(Preset::load(&with).unwrap().missing_model(), None);
        let without = dir.path().join("without.ron");
        std::fs::write(&without, "(version: 3)").unwrap();
        assert_eq!(Preset::load(&without).unwrap().missing_model(), None);
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(Path::new("/a/b/m.onnx"), Path::new("/a/c")),
            PathBuf::from("../b/m.onnx")
        );
        assert_eq!(
            relative_to(Path::new("/a/m.onnx"), Path::new("/a")),
            PathBuf::from("m.onnx")
        );
    }
}
