//! The machine and software a result was measured on.

use serde::{Deserialize, Serialize};

/// Where a benchmark ran: enough to judge whether two results are comparable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub cpu_model: String,
    /// Instruction-set extensions that change inference speed (AVX2, AVX-512, VNNI, ...).
    pub cpu_isa: Vec<String>,
    pub logical_cores: usize,
    pub physical_cores: Option<usize>,
    pub os: String,
    pub inferscope_version: String,
    pub tract_version: String,
    /// `None` when no ONNX Runtime was found; then `onnxruntime_problem` says why.
    pub onnxruntime_version: Option<String>,
    pub onnxruntime_path: Option<String>,
    pub onnxruntime_problem: Option<String>,
    pub model_sha256: Option<String>,
    /// UTC, RFC 3339.
    pub date: String,
}

/// ISA extensions this CPU has, by their common names.
pub fn cpu_isa() -> Vec<String> {
    let mut v: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! check {
            ($($feat:tt => $name:expr),*) => { $( if std::arch::is_x86_feature_detected!($feat) { v.push($name); } )* };
        }
        check!("sse4.2" => "SSE4.2", "avx" => "AVX", "avx2" => "AVX2", "fma" => "FMA", "f16c" => "F16C",
               "avx512f" => "AVX-512F", "avx512bw" => "AVX-512BW", "avx512vl" => "AVX-512VL",
               "avx512vnni" => "AVX-512-VNNI", "avx512bf16" => "AVX-512-BF16", "avx512fp16" => "AVX-512-FP16",
               "avxvnni" => "AVX-VNNI");
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! check {
            ($($feat:tt => $name:expr),*) => { $( if std::arch::is_aarch64_feature_detected!($feat) { v.push($name); } )* };
        }
        check!("neon" => "NEON", "dotprod" => "DOTPROD", "fp16" => "FP16", "i8mm" => "I8MM", "bf16" => "BF16", "sve" => "SVE");
    }
    v.into_iter().map(String::from).collect()
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl Environment {
    /// Describes this machine. `ort` is the loaded runtime, or why none is.
    pub fn detect(
        ort: Result<(&str, &std::path::Path), String>,
        model_sha256: Option<&str>,
    ) -> Environment {
        let mut cpu_model = String::from("unknown CPU");
        if let Ok(mut sys) = sysinfo::System::new() {
            sys.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
            if let Some(c) = sys.cpus().first() {
                cpu_model = c.brand().trim().to_string();
            }
        }
        let os = match (
            sysinfo::System::long_os_version(),
            sysinfo::System::kernel_version(),
        ) {
            (Ok(o), Ok(k)) => format!("{o} (kernel {k})"),
            (Ok(o), _) => o,
            _ => std::env::consts::OS.to_string(),
        };
        let (onnxruntime_version, onnxruntime_path, onnxruntime_problem) = match ort {
            Ok((v, p)) => (Some(v.to_string()), Some(p.display().to_string()), None),
            Err(e) => (None, None, Some(e)),
        };
        Environment {
            cpu_model,
            cpu_isa: cpu_isa(),
            logical_cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            physical_cores: sysinfo::System::physical_core_count().ok(),
            os,
            inferscope_version: env!("CARGO_PKG_VERSION").to_string(),
            tract_version: env!("INFERSCOPE_TRACT_VERSION").to_string(),
            onnxruntime_version,
            onnxruntime_path,
            onnxruntime_problem,
            model_sha256: model_sha256.map(str::to_string),
            date: now_rfc3339(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_is_well_formed_and_recent() {
        let d = super::now_rfc3339();
        assert_eq!(d.len(), 20, "{d}");
        assert!(d.as_str() > "2025-01-01" && d.ends_with('Z'), "{d}");
    }
}
