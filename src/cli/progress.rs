//! A terminal progress bar fed by benchmark events.

use crate::bench::progress::StudyProgress;
use crate::bench::{Event, Phase, Plan};
use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// A terminal progress bar fed by benchmark events; collects failures.
pub struct Progress {
    pub bar: indicatif::ProgressBar,
    labels: BTreeMap<usize, String>,
    pub failures: Vec<String>,
    study: StudyProgress,
}

impl Progress {
    /// Ok, or every failed run.
    pub fn result(&self) -> Result<()> {
        if !self.failures.is_empty() {
            bail!(
                "{} run(s) failed:\n  {}",
                self.failures.len(),
                self.failures.join("\n  ")
            );
        }
        Ok(())
    }

    /// A bar for a study of `runs` runs of `plan`.
    pub fn new(plan: &Plan, runs: usize) -> Progress {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {prefix:28} {msg:44} [{bar:24}] {pos}/{len}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress {
            bar,
            labels: BTreeMap::new(),
            failures: Vec::new(),
            study: StudyProgress::new(plan, runs),
        }
    }

    pub fn event(&mut self, ev: Event) {
        self.study.event(&ev);
        match ev {
            Event::Started { run, spec } => {
                let b = spec
                    .batch_size
                    .map(|b| format!("batch {b}"))
                    .unwrap_or_else(|| "data as given".into());
                let v = if spec.variant == "original" {
                    String::new()
                } else {
                    format!("{} ", spec.variant)
                };
                self.labels.insert(run, format!("{v}{} {b}", spec.engine));
                self.bar.set_prefix(format!("{v}{} {b}", spec.engine));
            }
            Event::Progress {
                phase, done, total, ..
            } => {
                let what = match phase {
                    Phase::OwnProcess => "memory and cold start in a process of its own",
                    Phase::Loading => "loading",
                    Phase::Warmup => "warming up",
                    Phase::Measure => "measuring",
                };
                self.bar
                    .set_message(format!("{what}, {}", self.study.text()));
                self.bar.set_length(total.unwrap_or(done.max(1)));
                self.bar.set_position(done);
            }
            Event::Failed { run, error } => {
                let who = run
                    .and_then(|r| self.labels.get(&r).cloned())
                    .map(|l| format!("{l}: "))
                    .unwrap_or_default();
                self.failures.push(format!("{who}{error}"));
            }
            Event::Samples { .. }
            | Event::RunDone { .. }
            | Event::Finished
            | Event::Cancelled { .. } => {}
        }
    }
}
