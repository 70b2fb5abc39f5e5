//! The files Inferscope writes and reads back: one document type per file, with a version.
//! `bench --json` and `compare --json` write a [`BenchDoc`] (a comparison fills its variant
//! fields), `cost --json` a [`CostDoc`]; the report, `cost --results` and the window read the
//! same types.

use crate::bench::{Plan, RunResult};
use crate::compare::importance::Importance;
use crate::compare::VariantReport;
use crate::cost::plan::{CostCurves, CostInputs, Recommendation, TierPlan};
use crate::cost::Pricing;
use crate::environment::Environment;
use crate::model::ModelInfo;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The version of the documents this build writes. Files without one are version 1 (the
/// shape written before documents carried a version), read the same way.
pub const DOC_VERSION: u32 = 1;

fn v1() -> u32 {
    1
}

/// What `bench --json` (and `compare --json`) writes: the environment, the model, the plan,
/// the runs; for a comparison also the variants and feature importance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchDoc {
    #[serde(default = "v1")]
    pub version: u32,
    #[serde(default)]
    pub environment: Option<Environment>,
    #[serde(default)]
    pub model: Option<ModelInfo>,
    /// Where the sample data came from.
    #[serde(default)]
    pub data: String,
    #[serde(default)]
    pub plan: Option<Plan>,
    pub runs: Vec<RunResult>,
    /// Runs that failed, with the reason.
    #[serde(default)]
    pub failures: Vec<String>,
    /// Variants of a comparison (empty for a plain benchmark).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<Importance>,
    /// Why importance is missing, when the model is tabular but it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance_note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The study as a preset (settings, model and data, variants, cost inputs, prices), so
    /// whoever has the file can run it again; a comparison's monthly cost per variant is
    /// priced from its cost inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<crate::preset::Preset>,
}

/// What `cost --json` writes: the inputs, the tiers, the recommendation and the prices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostDoc {
    #[serde(default = "v1")]
    pub version: u32,
    pub inputs: CostInputs,
    /// Where the service time came from (a run, or a typed latency).
    pub service_source: String,
    pub tiers: Vec<TierPlan>,
    pub recommendation: Recommendation,
    pub pricing: Pricing,
    #[serde(default)]
    pub curves: Option<CostCurves>,
    /// The measured run the plan served, when it served one (`cost --results`): the report
    /// checks that it is the study's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served: Option<ServedRun>,
}

/// Which run of which model a cost plan served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServedRun {
    /// The model's sha256, when the results file recorded it.
    pub model_sha256: Option<String>,
    pub model_name: String,
    pub run_id: usize,
    pub engine: crate::engine::EngineKind,
    pub variant: String,
    pub batch_size: usize,
    pub latency_p50: f64,
    pub latency_p95: f64,
}

impl ServedRun {
    pub fn of(run: &RunResult, model: Option<&ModelInfo>) -> ServedRun {
        ServedRun {
            model_sha256: model.map(|m| m.sha256.clone()),
            model_name: run.model_name.clone(),
            run_id: run.run_id,
            engine: run.engine,
            variant: run.variant.clone(),
            batch_size: run.batch_size,
            latency_p50: run.latency_p50,
            latency_p95: run.latency_p95,
        }
    }

    /// Whether `run` is the run served (the same numbers, not only the same id).
    pub fn is(&self, run: &RunResult) -> bool {
        self.run_id == run.run_id
            && self.engine == run.engine
            && self.variant == run.variant
            && self.batch_size == run.batch_size
            && (self.latency_p95 - run.latency_p95).abs() <= 1e-9 * run.latency_p95.abs().max(1.0)
    }
}

/// What `load --json` writes: open-loop runs at one or more rates, each beside the queue
/// model's prediction, and the capacity when it was searched for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadDoc {
    #[serde(default = "v1")]
    pub version: u32,
    #[serde(default)]
    pub environment: Option<Environment>,
    #[serde(default)]
    pub model: Option<ModelInfo>,
    #[serde(default)]
    pub data: String,
    pub engine: crate::engine::EngineKind,
    #[serde(default)]
    pub engine_version: String,
    /// Engine sessions serving the queue.
    pub servers: usize,
    pub arrivals: String,
    /// Seconds each rate ran for.
    pub duration_s: f64,
    pub load_runs: Vec<crate::load::LoadRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::load::capacity::Capacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<crate::preset::Preset>,
}

impl LoadDoc {
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

/// What `profile --json` writes: where a request's time goes, node by node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileDoc {
    #[serde(default = "v1")]
    pub version: u32,
    #[serde(default)]
    pub environment: Option<Environment>,
    #[serde(default)]
    pub model: Option<ModelInfo>,
    pub profile: crate::profile::OpProfile,
    /// A variant's profile against this one (`profile --variant`), op type by op type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<crate::profile::ProfileDiff>,
    /// The variant's own profile, when `diff` holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<crate::profile::OpProfile>,
}

impl ProfileDoc {
    /// The document of a profiling pass.
    pub fn of(
        pass: crate::profile::pass::Pass,
        environment: Option<Environment>,
        model: Option<ModelInfo>,
    ) -> ProfileDoc {
        let (variant, diff) = match pass.variant {
            Some((v, d)) => (Some(v), Some(d)),
            None => (None, None),
        };
        ProfileDoc {
            version: DOC_VERSION,
            environment,
            model,
            profile: pass.profile,
            diff,
            variant,
        }
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

/// A results file of any kind.
#[derive(Clone, Debug)]
pub enum Document {
    Bench(Box<BenchDoc>),
    Cost(Box<CostDoc>),
    Load(Box<LoadDoc>),
    Profile(Box<ProfileDoc>),
}

impl Document {
    /// Parses a document, telling the kinds apart by their fields.
    pub fn parse(bytes: &[u8]) -> Result<Document> {
        #[derive(Deserialize)]
        struct Kind {
            version: Option<u32>,
            runs: Option<serde::de::IgnoredAny>,
            tiers: Option<serde::de::IgnoredAny>,
            load_runs: Option<serde::de::IgnoredAny>,
            profile: Option<serde::de::IgnoredAny>,
        }
        let kind: Kind = serde_json::from_slice(bytes).context(
            "it is not JSON written by `inferscope bench --json`, `compare --json`, `cost --json`, `load --json` or `profile --json`",
        )?;
        if let Some(v) = kind.version.filter(|&v| v > DOC_VERSION) {
            bail!(
                "it is a version {v} document; this Inferscope reads up to version {DOC_VERSION}"
            );
        }
        if kind.profile.is_some() {
            let d: ProfileDoc = serde_json::from_slice(bytes)
                .context("its profile is not in the format `inferscope profile --json` writes")?;
            Ok(Document::Profile(Box::new(d)))
        } else if kind.load_runs.is_some() {
            let d: LoadDoc = serde_json::from_slice(bytes)
                .context("its load runs are not in the format `inferscope load --json` writes")?;
            Ok(Document::Load(Box::new(d)))
        } else if kind.runs.is_some() {
            let d: BenchDoc = serde_json::from_slice(bytes)
                .context("its runs are not in the format `inferscope bench --json` writes")?;
            Ok(Document::Bench(Box::new(d)))
        } else if kind.tiers.is_some() {
            let d: CostDoc = serde_json::from_slice(bytes)
                .context("its cost plan is not in the format `inferscope cost --json` writes")?;
            Ok(Document::Cost(Box::new(d)))
        } else {
            bail!("it holds neither runs (`bench --json`), a cost plan (`cost --json`) nor load runs (`load --json`)")
        }
    }

    /// Reads a document from a file; errors name the file.
    pub fn read(path: &Path) -> Result<Document> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Document::parse(&bytes).with_context(|| format!("reading {}", path.display()))
    }
}

impl BenchDoc {
    /// Reads a `bench --json` file (a cost plan is refused with what to pass instead).
    pub fn read(path: &Path) -> Result<BenchDoc> {
        match Document::read(path)? {
            Document::Bench(d) => Ok(*d),
            Document::Cost(_) => bail!(
                "{} is a cost plan; pass the JSON of `inferscope bench --json`",
                path.display()
            ),
            Document::Load(_) => bail!(
                "{} is an open-loop load test; pass the JSON of `inferscope bench --json`",
                path.display()
            ),
            Document::Profile(_) => bail!(
                "{} is an operator profile; pass the JSON of `inferscope bench --json`",
                path.display()
            ),
        }
    }

    /// The document as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

impl CostDoc {
    /// Plans the tiers, the recommendation and the cost curves for these service times.
    pub fn new(
        inputs: CostInputs,
        pricing: Pricing,
        service_ms: &[f64],
        service_source: String,
    ) -> Result<CostDoc> {
        let plan = crate::cost::plan::plan(&inputs, &pricing, service_ms)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(CostDoc {
            version: DOC_VERSION,
            curves: Some(crate::cost::plan::curves(&inputs, &pricing, service_ms)),
            inputs,
            service_source,
            tiers: plan.tiers,
            recommendation: plan.recommendation,
            pricing,
            served: None,
        })
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_and_old_files_load() {
        let d = BenchDoc {
            version: DOC_VERSION,
            data: "synthetic".into(),
            ..BenchDoc::default()
        };
        match Document::parse(d.to_json().unwrap().as_bytes()).unwrap() {
            Document::Bench(back) => assert_eq!(*back, d),
            _ => panic!("a bench document read as another kind"),
        }
        // Written before documents had a version: still read, as version 1.
        match Document::parse(br#"{"runs": [], "data": "x"}"#).unwrap() {
            Document::Bench(back) => assert_eq!((back.version, back.data.as_str()), (1, "x")),
            _ => panic!(),
        }
        let l = LoadDoc {
            version: DOC_VERSION,
            environment: None,
            model: None,
            data: "synthetic".into(),
            engine: crate::engine::EngineKind::Tract,
            engine_version: "tract".into(),
            servers: 2,
            arrivals: "poisson".into(),
            duration_s: 10.0,
            load_runs: Vec::new(),
            capacity: None,
            preset: None,
        };
        match Document::parse(l.to_json().unwrap().as_bytes()).unwrap() {
            Document::Load(back) => assert_eq!(*back, l),
            _ => panic!("a load document read as another kind"),
        }
        let e = format!(
            "{:#}",
            Document::parse(br#"{"version": 9, "runs": []}"#).unwrap_err()
        );
        assert!(e.contains("version 9"), "{e}");
        let e = format!("{:#}", Document::parse(br#"{"name": 1}"#).unwrap_err());
        assert!(e.contains("neither runs"), "{e}");
        let e = format!("{:#}", Document::parse(b"PK\x03\x04").unwrap_err());
        assert!(e.contains("not JSON"), "{e}");
    }
}
