//! Permutation importance: how much each input feature of a tabular model matters.

use super::fidelity::{accuracy, labels_of, predictions};
use crate::data::SampleSet;
use crate::engine::{self, EngineKind, EngineOptions, Output};
use crate::model::Model;
use crate::tensor::{Tensor, TensorData};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// How much one input feature matters: the drop in the metric when its column is shuffled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    pub feature: usize,
    pub name: String,
    /// Mean drop of the metric over the repeats (can be slightly negative for noise).
    pub drop: f64,
    /// Share of the total positive drop, 0..1.
    pub share: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// What was measured, e.g. "accuracy against the labels".
    pub metric: String,
    pub baseline: f64,
    pub repeats: usize,
    pub features: Vec<FeatureImportance>,
    pub threshold: f64,
    /// Features whose share is below the threshold.
    pub low: Vec<usize>,
}

type Metric = Box<dyn Fn(&Tensor) -> f64>;

impl Importance {
    /// One line: the metric, the top features, and those below the threshold.
    pub fn summary(&self) -> String {
        let mut top = self.features.clone();
        top.sort_by(|a, b| b.share.total_cmp(&a.share));
        let top: Vec<String> = top
            .iter()
            .take(5)
            .map(|x| format!("{} {:.1}%", x.name, x.share * 100.0))
            .collect();
        format!(
            "Permutation importance ({}, baseline {:.4}, {} shuffles per feature): most important {}; {} of {} features below {:.0}%{}",
            self.metric,
            self.baseline,
            self.repeats,
            top.join(", "),
            self.low.len(),
            self.features.len(),
            self.threshold * 100.0,
            if self.low.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    self.low
                        .iter()
                        .map(|f| self.features[*f].name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )
    }
}

/// Permutation importance for a tabular model (one 2-D float input). Without labels the
/// metric is how often predictions stay what the model predicted on the unshuffled data.
pub fn permutation_importance(
    model: &Model,
    samples: &SampleSet,
    kind: EngineKind,
    options: &EngineOptions,
    threshold: f64,
    seed: u64,
) -> Result<Importance> {
    let [x] = samples.inputs.as_slice() else {
        bail!("permutation importance is for tabular models with one input");
    };
    let [n, f] = x.shape.as_slice() else {
        bail!("permutation importance needs a 2-D input (samples x features)");
    };
    let (n, f) = (*n, *f);
    let TensorData::F32(base) = &x.data else {
        bail!("permutation importance needs float32 features");
    };
    if n < 10 || !(2..=2000).contains(&f) {
        bail!("permutation importance needs at least 10 samples and 2..2000 features");
    }
    let mut e = engine::load(kind, model, options)?;
    let labels = labels_of(samples);
    let first_out = |o: &[Output]| -> Result<Tensor> {
        // The first tensor output that gives classes, else the first tensor output.
        let ts: Vec<&Tensor> = o
            .iter()
            .filter_map(|o| match o {
                Output::Tensor(t) => Some(t),
                _ => None,
            })
            .collect();
        ts.iter()
            .find(|t| predictions(t).is_some())
            .or(ts.first())
            .map(|t| (*t).clone())
            .context("no tensor output")
    };
    let reference = first_out(&e.run(std::slice::from_ref(x))?)?;
    let ref_pred = predictions(&reference);
    let (metric, score): (String, Metric) = match (&ref_pred, &labels) {
        (Some(_), Some(l)) => {
            let l = l.clone();
            (
                "accuracy against the labels".into(),
                Box::new(move |t: &Tensor| predictions(t).map(|p| accuracy(&p, &l)).unwrap_or(0.0)),
            )
        }
        (Some(p), None) => {
            let p = p.clone();
            (
                "agreement with the unshuffled predictions".into(),
                Box::new(move |t: &Tensor| predictions(t).map(|q| accuracy(&q, &p)).unwrap_or(0.0)),
            )
        }
        (None, Some(l)) if reference.len() == l.len() => {
            let l: Vec<f64> = samples
                .labels
                .as_ref()
                .map(|t| t.to_f64_vec())
                .unwrap_or_default();
            (
                "negative mean squared error against the labels".into(),
                Box::new(move |t: &Tensor| {
                    let v = t.to_f64_vec();
                    -(v.iter()
                        .zip(&l)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                        / l.len().max(1) as f64)
                }),
            )
        }
        (None, _) => {
            let r = reference.to_f64_vec();
            (
                "negative mean absolute change of the output".into(),
                Box::new(move |t: &Tensor| {
                    let v = t.to_f64_vec();
                    -(r.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum::<f64>()
                        / r.len().max(1) as f64)
                }),
            )
        }
    };
    let baseline = score(&reference);
    let repeats = 3;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut drops = vec![0.0; f];
    for (j, d) in drops.iter_mut().enumerate() {
        for _ in 0..repeats {
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rng);
            let mut data = base.clone();
            for (i, &p) in perm.iter().enumerate() {
                data[i * f + j] = base[p * f + j];
            }
            let t = Tensor::new(vec![n, f], TensorData::F32(data))?;
            let out = first_out(&e.run(&[t])?)?;
            *d += (baseline - score(&out)) / repeats as f64;
        }
    }
    let total: f64 = drops.iter().map(|d| d.max(0.0)).sum();
    let features: Vec<FeatureImportance> = drops
        .iter()
        .enumerate()
        .map(|(j, &d)| FeatureImportance {
            feature: j,
            name: samples
                .feature_names
                .as_ref()
                .and_then(|n| n.get(j).cloned())
                .unwrap_or_else(|| format!("feature {j}")),
            drop: d,
            share: if total > 0.0 { d.max(0.0) / total } else { 0.0 },
        })
        .collect();
    let low = features
        .iter()
        .filter(|x| x.share < threshold)
        .map(|x| x.feature)
        .collect();
    Ok(Importance {
        metric,
        baseline,
        repeats,
        features,
        threshold,
        low,
    })
}
