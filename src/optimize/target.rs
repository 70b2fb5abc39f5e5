//! The fidelity target static and automatic int8 hold a quantized model to.

use super::quantize;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What "int8 keeps the outputs" means: the measure static and automatic int8 hold the
/// quantized model to on the sample data, layers going back to float until it holds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Every float output's cosine similarity with the float model's: at least this; and
    /// outputs holding class scores keep their top class on at least this share.
    MinCosine(f64),
    /// Top-1 agreement with the float model's predictions, on every output that holds class
    /// scores: at least this share.
    MinTop1(f64),
    /// The largest difference of any float output from the float model's, as a share of that
    /// output's range over the sample data: at most this.
    MaxError(f64),
    /// Accuracy against the sample data's labels: at most this far below the float model's.
    MaxAccuracyDrop(f64),
}

impl Default for Target {
    fn default() -> Target {
        Target::MinCosine(quantize::DEFAULT_MIN_COSINE)
    }
}

impl Target {
    /// Every spelling, as `min-cosine`, with the value.
    pub const KINDS: [&'static str; 4] =
        ["min-cosine", "min-top1", "max-error", "max-accuracy-drop"];

    pub fn kind(self) -> &'static str {
        match self {
            Target::MinCosine(_) => "min-cosine",
            Target::MinTop1(_) => "min-top1",
            Target::MaxError(_) => "max-error",
            Target::MaxAccuracyDrop(_) => "max-accuracy-drop",
        }
    }

    pub fn value(self) -> f64 {
        match self {
            Target::MinCosine(v)
            | Target::MinTop1(v)
            | Target::MaxError(v)
            | Target::MaxAccuracyDrop(v) => v,
        }
    }

    /// The target of this kind (one of [`Target::KINDS`]) at `v`, checked: every measure is
    /// a share between 0 and 1.
    pub fn of(kind: &str, v: f64) -> Result<Target> {
        if !(0.0..=1.0).contains(&v) || v.is_nan() {
            bail!(
                "{kind} is between 0 and 1 (got {v}); {}",
                match kind {
                    "min-cosine" | "min-top1" => "0 sets no target",
                    _ => "1 sets no target",
                }
            );
        }
        Ok(match kind {
            "min-cosine" => Target::MinCosine(v),
            "min-top1" => Target::MinTop1(v),
            "max-error" => Target::MaxError(v),
            "max-accuracy-drop" => Target::MaxAccuracyDrop(v),
            k => bail!(
                "unknown fidelity target `{k}`: it is one of {}",
                Target::KINDS.join(", ")
            ),
        })
    }

    /// `the outputs' cosine similarity 0.99`, for sentences.
    pub fn describe(self) -> String {
        match self {
            Target::MinCosine(v) => format!("the outputs' cosine similarity {v}"),
            Target::MinTop1(v) => format!("top-1 agreement {}%", v * 100.0),
            Target::MaxError(v) => {
                format!("a largest error of {}% of each output's range", v * 100.0)
            }
            Target::MaxAccuracyDrop(v) => format!(
                "accuracy on the labels within {} points of the float model's",
                v * 100.0
            ),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.kind(), self.value())
    }
}
