//! The Profile tab's history: every finished benchmark is kept per model (the document `bench
//! --json` writes, with its machine), and one can be pinned as the baseline. The current runs
//! are then compared with it as `bench --baseline` compares them: the change in p50 with its
//! interval, marked when significant, and the baseline's distribution drawn under the current
//! one.

use super::InferscopeApp;
use crate::bench::baseline::{self, Verdict};
use crate::report::BenchDoc;
use egui::{Color32, RichText};
use std::path::{Path, PathBuf};

/// One saved benchmark of the open model.
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: PathBuf,
    /// `2026-12-02 01:12:33 · tract b1 0.031 ms, b8 0.090 ms`
    pub label: String,
}

/// A pinned baseline: where it came from and what it holds, and this machine as it was when
/// it was pinned (to say what differs).
pub struct Baseline {
    pub label: String,
    pub doc: BenchDoc,
    pub now: Option<crate::environment::Environment>,
}

/// The folder of a model's history: `<dir>/<first 16 hex of its sha256>`.
fn model_dir(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(sha256.chars().take(16).collect::<String>())
}

fn label(path: &Path, doc: &BenchDoc) -> String {
    let when = doc
        .environment
        .as_ref()
        .map(|e| e.date.replace('T', " ").trim_end_matches('Z').to_string())
        .unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default()
        });
    let runs: Vec<String> = doc
        .runs
        .iter()
        .take(4)
        .map(|r| {
            format!(
                "{} b{} {:.3} ms",
                r.engine.label(),
                r.batch_size,
                r.latency_p50
            )
        })
        .collect();
    format!("{when} · {}", runs.join(", "))
}

impl InferscopeApp {
    /// The open model's saved benchmarks, newest first.
    pub fn history(&self) -> Vec<Entry> {
        let (Some(dir), Some(m)) = (&self.history_dir, &self.model) else {
            return Vec::new();
        };
        let Ok(files) = std::fs::read_dir(model_dir(dir, &m.info.sha256)) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = files
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths.reverse();
        paths
            .into_iter()
            .filter_map(|p| {
                let doc = BenchDoc::read(&p).ok()?;
                Some(Entry {
                    label: label(&p, &doc),
                    path: p,
                })
            })
            .collect()
    }

    /// Keeps the finished session in the open model's history (atomically; a failure is said,
    /// not fatal).
    pub(super) fn save_to_history(&mut self) {
        let (Some(dir), Some(m)) = (&self.history_dir, &self.model) else {
            return;
        };
        let folder = model_dir(dir, &m.info.sha256);
        let mut study = self.study();
        study.variants.clear();
        study.cost = None;
        study.load = None;
        let doc = study.bench_doc();
        if doc.runs.is_empty() {
            return;
        }
        // The date to the second, then the nanoseconds since the epoch: sorts by time, unique.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let stamp = crate::environment::now_rfc3339().replace(':', "");
        let path = folder.join(format!("{stamp}-{nanos:09}.json"));
        let result = std::fs::create_dir_all(&folder)
            .map_err(anyhow::Error::from)
            .and_then(|_| doc.to_json())
            .and_then(|j| crate::fsutil::write_atomic(&path, j.as_bytes()));
        if let Err(e) = result {
            self.errors.push(format!(
                "Could not keep this run in the history ({}): {e:#}",
                folder.display()
            ));
        }
        self.history_cache = None;
    }

    /// Pins the saved benchmark at `path` as the baseline.
    pub fn pin_baseline(&mut self, path: &Path) {
        match BenchDoc::read(path) {
            Ok(doc) => {
                let now = crate::environment::Environment::detect(
                    match &self.located.chosen {
                        Some(c) => Ok((c.version.as_deref().unwrap_or("?"), c.path.as_path())),
                        None => Err(self.located.why_not_found()),
                    },
                    self.model.as_ref().map(|m| m.info.sha256.as_str()),
                );
                self.baseline = Some(Baseline {
                    label: label(path, &doc),
                    doc,
                    now: Some(now),
                })
            }
            Err(e) => self
                .errors
                .push(format!("Could not read the baseline: {e:#}")),
        }
    }

    /// The current runs against the pinned baseline, as `bench --baseline` compares them.
    pub fn against_baseline(&self) -> Option<Verdict> {
        let b = self.baseline.as_ref()?;
        let s = self.session.as_ref()?;
        let runs: Vec<_> = s.results().into_iter().cloned().collect();
        if runs.is_empty() {
            return None;
        }
        let now = BenchDoc {
            model: self.model.as_ref().map(|m| m.info.clone()),
            environment: b.now.clone(),
            plan: s.plan.clone(),
            runs,
            ..BenchDoc::default()
        };
        Some(baseline::against(&b.doc, &now, 0.0))
    }

    /// History and baseline controls, and the comparison with the baseline.
    pub(super) fn history_ui(&mut self, ui: &mut egui::Ui) {
        if self.history_dir.is_none() || self.model.is_none() {
            return;
        }
        ui.add_space(6.0);
        // Listed again when the model or the folder changes (a run saved, a file added).
        let sha = self
            .model
            .as_ref()
            .map(|m| m.info.sha256.clone())
            .unwrap_or_default();
        let stamp = self
            .history_dir
            .as_ref()
            .and_then(|d| std::fs::metadata(model_dir(d, &sha)).ok())
            .and_then(|m| m.modified().ok());
        let key = format!("{sha} {stamp:?}");
        if self.history_cache.as_ref().is_none_or(|(s, _)| *s != key) {
            self.history_cache = Some((key, self.history()));
        }
        let entries = self
            .history_cache
            .as_ref()
            .map(|c| c.1.clone())
            .unwrap_or_default();
        let mut pin = None;
        let mut unpin = false;
        ui.horizontal(|ui| {
            let l = ui.label(RichText::new("History").strong()).on_hover_text(
                "Every finished benchmark of this model is kept with its machine and settings; pin one as the baseline to see what changed",
            );
            if entries.is_empty() {
                ui.label(RichText::new("no earlier runs of this model").weak());
                return;
            }
            let current = self.baseline.as_ref().map(|b| b.label.clone());
            egui::ComboBox::from_id_salt("history")
                .width(420.0)
                .selected_text(current.clone().unwrap_or_else(|| {
                    format!("{} earlier run(s): pick one to pin as the baseline", entries.len())
                }))
                .show_ui(ui, |ui| {
                    for e in &entries {
                        if ui
                            .selectable_label(current.as_deref() == Some(e.label.as_str()), &e.label)
                            .clicked()
                        {
                            pin = Some(e.path.clone());
                        }
                    }
                })
                .response
                .labelled_by(l.id);
            if self.baseline.is_some() && ui.button("Unpin baseline").clicked() {
                unpin = true;
            }
        });
        if let Some(p) = pin {
            self.pin_baseline(&p);
        }
        if unpin {
            self.baseline = None;
        }
        let Some(v) = self.against_baseline() else {
            return;
        };
        ui.label(RichText::new("Against the baseline").strong()).on_hover_text(
            "p50 now over p50 then, with a 95% interval from both runs' own p50 intervals; significant when the interval excludes 1 (as inferscope bench --baseline)",
        );
        for c in &v.changes {
            let (text, color) = if !c.significant {
                ("no significant change", ui.visuals().weak_text_color())
            } else if c.ratio > 1.0 {
                ("slower", Color32::from_rgb(200, 60, 40))
            } else {
                ("faster", Color32::from_rgb(30, 140, 60))
            };
            let interval =
                c.ci.map(|i| {
                    format!(
                        " [{:+.1}%, {:+.1}%]",
                        (i.lo - 1.0) * 100.0,
                        (i.hi - 1.0) * 100.0
                    )
                })
                .unwrap_or_default();
            ui.label(
                RichText::new(format!(
                    "{}: {:.3} -> {:.3} ms, {:+.1}%{interval}: {text}",
                    c.run,
                    c.old_p50_ms,
                    c.new_p50_ms,
                    (c.ratio - 1.0) * 100.0
                ))
                .color(color),
            );
        }
        for n in v.only_new.iter().chain(&v.only_old) {
            ui.label(RichText::new(format!("{n}: in one of the two only")).weak());
        }
        for w in &v.warnings {
            ui.label(RichText::new(format!("Note: {w}")).color(Color32::from_rgb(190, 120, 0)));
        }
    }
}
