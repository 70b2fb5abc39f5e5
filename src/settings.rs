//! The one benchmark-settings type. The command line, the window and presets each start from
//! [`BenchSettings::default`], overlay what the user set, check it with
//! [`BenchSettings::validate`] and run [`BenchSettings::to_plan`]: the same settings give the
//! same study wherever they come from.

use crate::bench::{Plan, StopRule, Warmup};
use crate::engine::{EngineChoice, EngineKind, EngineOptions, OptLevel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Batch sizes swept when the user names none and there is no data file to feed as given.
pub const DEFAULT_BATCH_SIZES: [usize; 4] = [1, 8, 32, 64];

/// How measurement stops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Stop {
    /// A fixed number of measured requests.
    Iterations(u64),
    /// At least this long and this many requests, but at most `max_seconds`: a slow model
    /// stops with fewer requests, and says so.
    MinTime {
        seconds: f64,
        min_iterations: u64,
        #[serde(default = "default_min_time_cap")]
        max_seconds: f64,
    },
    /// Until the 95% confidence interval of p99 is within `percent` of it, after
    /// `min_iterations`, and at most `max_iterations` requests or `max_seconds`.
    UntilStable {
        percent: f64,
        min_iterations: u64,
        max_iterations: u64,
        #[serde(default = "default_max_seconds")]
        max_seconds: f64,
    },
}

fn default_max_seconds() -> f64 {
    60.0
}

/// How long a time-bounded run may take to reach its minimum count: a default study on a model
/// of one second per request stays near a minute over four batch sizes.
fn default_min_time_cap() -> f64 {
    10.0
}

/// How long a warm-up counted in requests may take.
pub const WARMUP_MAX_SECONDS: f64 = 5.0;

impl Stop {
    /// The default of each kind, for a window that switches between them.
    pub fn default_iterations() -> Stop {
        Stop::Iterations(1000)
    }
    pub fn default_min_time() -> Stop {
        Stop::MinTime {
            seconds: 1.0,
            min_iterations: 100,
            max_seconds: default_min_time_cap(),
        }
    }
    pub fn default_until_stable() -> Stop {
        Stop::UntilStable {
            percent: 5.0,
            min_iterations: 100,
            max_iterations: 100_000,
            max_seconds: default_max_seconds(),
        }
    }
}

/// A benchmark study's settings: what to run, on what, and when to stop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BenchSettings {
    pub engine: EngineChoice,
    /// Threads inside an operator (intra-op); `None`: the engine's default.
    pub threads: Option<usize>,
    /// Threads running operators in parallel (ONNX Runtime inter-op); `None`: its default.
    pub inter_threads: Option<usize>,
    /// ONNX Runtime graph optimization level.
    pub opt_level: OptLevel,
    /// ONNX Runtime execution provider; `None`: CPU.
    pub execution_provider: Option<String>,
    /// Samples per request. Empty: the data as given when there is a data file, else
    /// [`DEFAULT_BATCH_SIZES`] (cut to the model's own batch size when it has a fixed one).
    pub batch_sizes: Vec<usize>,
    /// Closed-loop client threads, each with its own session.
    pub concurrency: usize,
    /// Warm-up requests before measuring (when `warmup_seconds` is not set), ending after
    /// `warmup_max_seconds` even when fewer ran.
    pub warmup_iterations: u64,
    pub warmup_max_seconds: f64,
    /// Warm up for this long instead of a number of requests.
    pub warmup_seconds: Option<f64>,
    pub stop: Stop,
    /// Sizes of symbolic dims for synthesized data.
    pub dims: BTreeMap<String, usize>,
    /// Range LO..HI (HI exclusive) of synthesized integer inputs; `None`: the range of the
    /// table they index, else 0..10.
    pub int_range: Option<(i64, i64)>,
    /// Seed for synthesized data.
    pub seed: u64,
}

impl Default for BenchSettings {
    fn default() -> Self {
        BenchSettings {
            engine: EngineChoice::Auto,
            threads: None,
            inter_threads: None,
            opt_level: OptLevel::All,
            execution_provider: None,
            batch_sizes: Vec::new(),
            concurrency: 1,
            warmup_iterations: 10,
            warmup_max_seconds: WARMUP_MAX_SECONDS,
            warmup_seconds: None,
            stop: Stop::default_min_time(),
            dims: BTreeMap::new(),
            int_range: None,
            seed: 0,
        }
    }
}

/// A setting out of range: which field (as a preset spells it) and what is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct InvalidSetting {
    /// The field as a preset names it below `bench`, e.g. `stop.percent`.
    pub field: &'static str,
    pub problem: String,
}

fn in_range(field: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), InvalidSetting> {
    if !v.is_finite() || v < lo || v > hi {
        let need = if v < lo {
            format!("; at least {lo} is needed")
        } else if v > hi {
            format!("; at most {hi} is allowed")
        } else {
            String::new()
        };
        return Err(InvalidSetting {
            field,
            problem: format!("must be between {lo} and {hi} (got {v}{need})"),
        });
    }
    Ok(())
}

/// Longest time any phase may be set to: a day (and far from `Duration`'s limits).
const MAX_SECONDS: f64 = 86_400.0;

impl BenchSettings {
    /// Refuses values out of range, naming the field and the allowed range.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        for &b in &self.batch_sizes {
            in_range("batch_sizes", b as f64, 1.0, 65536.0)?;
        }
        in_range("concurrency", self.concurrency as f64, 1.0, 256.0)?;
        if let Some(t) = self.threads {
            in_range("threads", t as f64, 1.0, 1024.0)?;
        }
        if let Some(t) = self.inter_threads {
            in_range("inter_threads", t as f64, 1.0, 1024.0)?;
        }
        in_range("warmup_iterations", self.warmup_iterations as f64, 0.0, 1e7)?;
        in_range(
            "warmup_max_seconds",
            self.warmup_max_seconds,
            0.0,
            MAX_SECONDS,
        )?;
        if let Some(s) = self.warmup_seconds {
            in_range("warmup_seconds", s, 0.0, MAX_SECONDS)?;
        }
        match self.stop {
            Stop::Iterations(n) => in_range("stop.Iterations", n as f64, 1.0, 1e9)?,
            Stop::MinTime {
                seconds,
                min_iterations,
                max_seconds,
            } => {
                in_range("stop.seconds", seconds, 0.01, MAX_SECONDS)?;
                in_range("stop.min_iterations", min_iterations as f64, 0.0, 1e9)?;
                in_range("stop.max_seconds", max_seconds, seconds, MAX_SECONDS)?;
            }
            Stop::UntilStable {
                percent,
                min_iterations,
                max_iterations,
                max_seconds,
            } => {
                in_range("stop.percent", percent, 0.1, 99.0)?;
                in_range("stop.min_iterations", min_iterations as f64, 100.0, 1e9)?;
                in_range(
                    "stop.max_iterations",
                    max_iterations as f64,
                    min_iterations as f64,
                    1e9,
                )?;
                in_range("stop.max_seconds", max_seconds, 0.01, MAX_SECONDS)?;
            }
        }
        for &v in self.dims.values() {
            in_range("dims", v as f64, 1.0, 1e7)?;
        }
        if let Some((lo, hi)) = self.int_range {
            if hi <= lo {
                return Err(InvalidSetting {
                    field: "int_range",
                    problem: format!("is empty: {lo},{hi} (HI is exclusive)"),
                });
            }
        }
        Ok(())
    }

    /// The batch sizes a run sweeps: `None` feeds the data as given.
    pub fn batch_plan(&self, has_data_file: bool) -> Vec<Option<usize>> {
        if !self.batch_sizes.is_empty() {
            self.batch_sizes.iter().map(|&b| Some(b)).collect()
        } else if has_data_file {
            vec![None]
        } else {
            DEFAULT_BATCH_SIZES.iter().map(|&b| Some(b)).collect()
        }
    }

    /// The plan these settings describe on `engines`, after [`Self::validate`].
    pub fn to_plan(
        &self,
        engines: Vec<EngineKind>,
        has_data_file: bool,
        ort_path: Option<std::path::PathBuf>,
    ) -> Result<Plan, InvalidSetting> {
        self.validate()?;
        Ok(self.plan_unchecked(engines, has_data_file, ort_path))
    }

    /// The plan of settings known to be valid (the defaults).
    fn plan_unchecked(
        &self,
        engines: Vec<EngineKind>,
        has_data_file: bool,
        ort_path: Option<std::path::PathBuf>,
    ) -> Plan {
        let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.0, MAX_SECONDS));
        Plan {
            engines,
            batch_sizes: self.batch_plan(has_data_file),
            concurrency: self.concurrency,
            warmup: match self.warmup_seconds {
                Some(s) => Warmup::Duration(secs(s)),
                None => Warmup::Iterations(self.warmup_iterations),
            },
            warmup_max_time: self
                .warmup_seconds
                .is_none()
                .then(|| secs(self.warmup_max_seconds)),
            stop: match self.stop {
                Stop::Iterations(n) => StopRule::Iterations(n),
                Stop::MinTime {
                    seconds,
                    min_iterations,
                    max_seconds,
                } => StopRule::MinTime {
                    min_time: secs(seconds),
                    min_iterations,
                    max_time: Some(secs(max_seconds)),
                },
                Stop::UntilStable {
                    percent,
                    min_iterations,
                    max_iterations,
                    max_seconds,
                } => StopRule::UntilStable {
                    rel_width: percent / 100.0,
                    min_iterations,
                    max_iterations,
                    max_time: secs(max_seconds),
                },
            },
            engine_options: EngineOptions {
                intra_threads: self.threads,
                inter_threads: self.inter_threads,
                opt_level: self.opt_level,
                execution_provider: self.execution_provider.clone(),
                ort_path,
            },
            max_raw_samples: 1_000_000,
            max_distinct_requests: 64,
            skip_slow_batches: self.batch_sizes.is_empty() && !has_data_file,
        }
    }

    /// Synthesized data for `plan`: these settings' dims, range and seed, and enough samples
    /// for its largest batch (at least 64 distinct ones).
    pub fn synth_options(&self, plan: &Plan) -> crate::data::SynthOptions {
        crate::data::SynthOptions {
            dims: self.dims.clone(),
            int_range: self.int_range,
            seed: self.seed,
            samples: plan
                .batch_sizes
                .iter()
                .flatten()
                .copied()
                .max()
                .unwrap_or(1)
                .max(64),
        }
    }

    /// Whether the batch sizes are the defaults (so a fixed-batch model may cut them).
    pub fn default_batches(&self) -> bool {
        self.batch_sizes.is_empty()
    }

    /// The dims as `seq=128, len=64`.
    pub fn dims_text(&self) -> String {
        self.dims
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The batch sizes as `1, 8, 32` (empty for the default).
    pub fn batch_text(&self) -> String {
        self.batch_sizes
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Default for Plan {
    fn default() -> Self {
        BenchSettings::default().plan_unchecked(vec![EngineKind::Tract], false, None)
    }
}

/// One `NAME=N` symbolic dim, as `--dim` and the window take it.
pub fn parse_dim(s: &str) -> Result<(String, usize), String> {
    let (k, v) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected NAME=N, got '{}'", s.trim()))?;
    let n = v
        .trim()
        .parse::<usize>()
        .map_err(|_| format!("'{}' is not a size in '{}'", v.trim(), s.trim()))?;
    if n == 0 {
        return Err(format!("dim '{}' must be at least 1", k.trim()));
    }
    Ok((k.trim().to_string(), n))
}

/// `seq=128, len=64` as a map.
pub fn parse_dims(text: &str) -> Result<BTreeMap<String, usize>, String> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(parse_dim)
        .collect()
}

/// `1, 8, 32` (commas or spaces) as batch sizes.
pub fn parse_batch_sizes(text: &str) -> Result<Vec<usize>, String> {
    text.split([',', ' '])
        .filter(|s| !s.trim().is_empty())
        .map(|part| match part.trim().parse::<usize>() {
            Ok(b) if b > 0 => Ok(b),
            _ => Err(format!(
                "'{}' is not a batch size (use positive numbers like 1, 8, 32)",
                part.trim()
            )),
        })
        .collect()
}

/// `250ms`, `2s`, `1.5s`, `1m` as seconds (at most a day).
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 500ms, 2s, 1m)"))?;
    let secs = match unit {
        "ms" => v / 1e3,
        "s" | "" => v,
        "m" | "min" => v * 60.0,
        _ => return Err(format!("'{s}' has an unknown unit (use ms, s or m)")),
    };
    if !(secs.is_finite() && (0.0..=MAX_SECONDS).contains(&secs)) {
        return Err(format!(
            "'{s}' is not a duration between 0 and {MAX_SECONDS} s"
        ));
    }
    Ok(secs)
}

impl fmt::Display for StopRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopRule::Iterations(n) => write!(f, "{n} measured requests"),
            StopRule::MinTime {
                min_time,
                min_iterations,
                max_time,
            } => {
                write!(
                    f,
                    "at least {:.1} s and {min_iterations} requests",
                    min_time.as_secs_f64()
                )?;
                match max_time {
                    Some(t) => write!(f, " (at most {:.0} s)", t.as_secs_f64()),
                    None => Ok(()),
                }
            }
            StopRule::UntilStable {
                rel_width,
                min_iterations,
                max_iterations,
                max_time,
            } => write!(
                f,
                "until the 95% CI of p99 is within {:.1}% of it (at least {min_iterations}, at most {max_iterations} requests or {:.0} s)",
                rel_width * 100.0,
                max_time.as_secs_f64()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_plan_by_data() {
        let s = BenchSettings::default();
        s.validate().unwrap();
        let p = s.to_plan(vec![EngineKind::Tract], false, None).unwrap();
        assert_eq!(p, Plan::default());
        assert_eq!(
            p.batch_sizes,
            vec![Some(1), Some(8), Some(32), Some(64)],
            "synthesized data sweeps the default batches"
        );
        let p = s.to_plan(vec![EngineKind::Tract], true, None).unwrap();
        assert_eq!(p.batch_sizes, vec![None], "a data file is fed as given");
        assert_eq!(
            p.stop,
            StopRule::MinTime {
                min_time: Duration::from_secs(1),
                min_iterations: 100,
                max_time: Some(Duration::from_secs(10)),
            }
        );
    }

    #[test]
    fn invalid_settings_name_their_field() {
        let bad = |f: &dyn Fn(&mut BenchSettings)| {
            let mut s = BenchSettings::default();
            f(&mut s);
            s.validate().unwrap_err()
        };
        assert_eq!(bad(&|s| s.concurrency = 0).field, "concurrency");
        assert_eq!(bad(&|s| s.batch_sizes = vec![0]).field, "batch_sizes");
        assert_eq!(
            bad(&|s| s.warmup_seconds = Some(1e300)).field,
            "warmup_seconds"
        );
        let e = bad(&|s| {
            s.stop = Stop::MinTime {
                seconds: f64::INFINITY,
                min_iterations: 1,
                max_seconds: 10.0,
            }
        });
        assert_eq!(e.field, "stop.seconds");
        assert!(e.to_string().contains("between 0.01 and 86400"), "{e}");
        assert_eq!(bad(&|s| s.int_range = Some((5, 5))).field, "int_range");
        // A huge duration is refused before it reaches `Duration::from_secs_f64`.
        assert!(parse_seconds("1e300s").is_err());
        assert!(parse_seconds("-1s").is_err());
        assert_eq!(parse_seconds("250ms").unwrap(), 0.25);
        assert_eq!(parse_seconds("2m").unwrap(), 120.0);
    }

    #[test]
    fn parses_dims_and_batches() {
        assert_eq!(parse_dim("doc len=7").unwrap(), ("doc len".to_string(), 7));
        assert!(parse_dim("seq=0").is_err());
        assert_eq!(parse_dims("a=1, b=2").unwrap().len(), 2);
        assert!(parse_dims("a").is_err());
        assert_eq!(parse_batch_sizes("1, 8 32").unwrap(), vec![1, 8, 32]);
        assert!(parse_batch_sizes("1, x").is_err());
    }
}
