//! A terminal progress bar fed by benchmark events.

use crate::bench::progress::StudyProgress;
use crate::bench::{Event, Phase, Plan};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A terminal progress bar fed by benchmark events; collects failures.
pub struct Progress {
    pub bar: indicatif::ProgressBar,
    labels: BTreeMap<usize, String>,
    pub failures: Vec<String>,
    /// Runs of the default batch sweep skipped as too slow for the time cap, and why.
    pub skipped: Vec<String>,
    /// Shared with the bar, which redraws its text four times a second: a request that runs
    /// for minutes shows its clock while nothing else happens.
    study: Arc<Mutex<StudyProgress>>,
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
        let study = Arc::new(Mutex::new(StudyProgress::new(plan, runs)));
        let shown = study.clone();
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {prefix:28} {msg}, {study:44} [{bar:24}] {pos}/{len}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .with_key(
                "study",
                move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    if let Ok(s) = shown.lock() {
                        let _ = w.write_str(&s.text());
                    }
                },
            ),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        Progress {
            bar,
            labels: BTreeMap::new(),
            failures: Vec::new(),
            skipped: Vec::new(),
            study,
        }
    }

    pub fn event(&mut self, ev: Event) {
        if let Ok(mut s) = self.study.lock() {
            s.event(&ev);
        }
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
                self.bar.set_message(what);
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
            Event::Skipped { why, .. } => {
                self.bar.suspend(|| eprintln!("note: {why}"));
                self.skipped.push(why);
            }
            Event::Samples { .. }
            | Event::RunDone { .. }
            | Event::Finished
            | Event::Cancelled { .. } => {}
        }
    }
}
