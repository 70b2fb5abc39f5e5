//! Reports: a study's results as a PDF (vector charts, selectable text) and a one-page PNG
//! summary. Pages are written as SVG, then drawn into the PDF by krilla-svg (text stays text)
//! and rasterized for the PNG by resvg, so both show the same thing.
//!
//! A study is what `bench --json` and `cost --json` write; sections whose results are missing
//! say so instead of disappearing.

mod charts;
mod comparison;
pub mod doc;
mod layout;
mod sections;
mod summary;
pub mod svg;

pub use layout::{PAGE_H, PAGE_W, PNG_H, PNG_W};
pub use sections::pages;
pub use summary::summary;

use crate::bench::{Plan, RunResult};
use crate::environment::Environment;
use crate::model::ModelInfo;
use anyhow::{Context, Result};
pub use doc::{BenchDoc, CostDoc, Document, LoadDoc, ProfileDoc};
use std::path::Path;
use std::sync::Arc;
use svg::SANS;

/// The names of the files a PDF report embeds.
pub const ATTACHED_PRESET: &str = "inferscope-preset.ron";
pub const ATTACHED_RESULTS: &str = "inferscope-results.json";
pub const ATTACHED_COST: &str = "inferscope-cost.json";
pub const ATTACHED_LOAD: &str = "inferscope-load.json";
pub const ATTACHED_PROFILE: &str = "inferscope-profile.json";

/// A file the PDF report embeds.
pub struct Attachment {
    pub name: &'static str,
    pub mime: &'static str,
    /// What it is and how to use it.
    pub what: &'static str,
    pub bytes: Vec<u8>,
}

/// Everything a report can show; each part is optional.
#[derive(Clone, Debug, Default)]
pub struct Study {
    pub model: Option<ModelInfo>,
    pub environment: Option<Environment>,
    pub data: Option<String>,
    pub plan: Option<Plan>,
    pub runs: Vec<RunResult>,
    pub failures: Vec<String>,
    pub cost: Option<CostDoc>,
    /// Variants from `compare --json`: fidelity, speedups, what each rewrite did.
    pub variants: Vec<crate::compare::VariantReport>,
    /// The interleaved runs of the comparison (the original and its variants).
    pub compare_runs: Vec<RunResult>,
    pub importance: Option<crate::compare::importance::Importance>,
    /// The latency target the checklist judges p95 at batch 1 against, ms.
    pub latency_target_ms: f64,
    /// The study as a preset; the PDF embeds it, and a comparison is priced from its cost
    /// inputs when no cost plan is part of the study.
    pub preset: Option<crate::preset::Preset>,
    pub importance_note: Option<String>,
    pub notes: Vec<String>,
    /// Open-loop runs (`load --json`): measured against the queue model.
    pub load: Option<LoadDoc>,
    /// Where the time goes (`profile --json`), with a variant's diff when it has one.
    pub profile: Option<ProfileDoc>,
    /// Parts of the study that were not measured with the rest (a cost plan of another run,
    /// load runs on another engine): the report shows them first.
    pub mismatches: Vec<String>,
}

/// The model a document is about, by sha256, when it says.
fn model_of(doc: &Document) -> Option<(&str, &str)> {
    fn info(m: &Option<ModelInfo>) -> Option<(&str, &str)> {
        m.as_ref()
            .filter(|m| !m.sha256.is_empty())
            .map(|m| (m.sha256.as_str(), m.name.as_str()))
    }
    match doc {
        Document::Bench(d) => info(&d.model),
        Document::Load(d) => info(&d.model),
        Document::Profile(d) => info(&d.model),
        Document::Cost(d) => d
            .served
            .as_ref()
            .and_then(|s| Some((s.model_sha256.as_deref()?, s.model_name.as_str())))
            .filter(|(sha, _)| !sha.is_empty()),
    }
}

impl Study {
    /// Reads results files (`bench --json`, `compare --json`, `cost --json`) into one study.
    pub fn from_files(paths: &[impl AsRef<Path>]) -> Result<Study> {
        let mut s = Study {
            latency_target_ms: crate::cost::plan::CostInputs::default().latency_target_ms,
            ..Study::default()
        };
        // A report is about one model: a file about another is refused by name.
        let mut about: Option<(String, String, std::path::PathBuf)> = None;
        for p in paths {
            let p = p.as_ref();
            let doc = Document::read(p)?;
            if let Some((sha, name)) = model_of(&doc) {
                match &about {
                    Some((first, first_name, first_path)) if first != sha => anyhow::bail!(
                        "{} is about {name} (sha256 {}), but {} is about {first_name} (sha256 {}): a report covers one model and one set of measurements; make one report per model",
                        p.display(),
                        sha.get(..12).unwrap_or(sha),
                        first_path.display(),
                        first.get(..12).unwrap_or(first)
                    ),
                    Some(_) => {}
                    None => about = Some((sha.to_string(), name.to_string(), p.to_path_buf())),
                }
            }
            s.add(doc);
        }
        s.mismatches = s.check_consistency();
        Ok(s)
    }

    /// What in the study was not measured with the rest.
    pub fn check_consistency(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(served) = self.cost.as_ref().and_then(|c| c.served.as_ref()) {
            let all: Vec<&RunResult> = self.runs.iter().chain(&self.compare_runs).collect();
            if !all.is_empty() && !all.iter().any(|r| served.is(r)) {
                out.push(format!(
                    "The cost plan prices run {} ({} {}, batch {}, p95 {}), which is not among this study's runs: its bill rests on another measurement than the tables here. Make the plan with `inferscope cost --results` of this study's file.",
                    served.run_id,
                    served.engine.label(),
                    served.variant,
                    served.batch_size,
                    crate::format::ms(served.latency_p95)
                ));
            }
        }
        if let Some(l) = &self.load {
            let engines: Vec<crate::engine::EngineKind> = self
                .runs
                .iter()
                .chain(&self.compare_runs)
                .map(|r| r.engine)
                .collect();
            if !engines.is_empty() && !engines.contains(&l.engine) {
                out.push(format!(
                    "The load runs were measured on {}, which no benchmark run of this study used.",
                    l.engine.label()
                ));
            }
        }
        out
    }

    /// Adds one results document.
    pub fn add(&mut self, doc: Document) {
        match doc {
            Document::Bench(d) => {
                let d = *d;
                if !d.variants.is_empty() {
                    self.variants = d.variants;
                    self.compare_runs = d.runs.clone();
                }
                self.runs.extend(d.runs);
                self.model = d.model.or(self.model.take());
                self.environment = d.environment.or(self.environment.take());
                if !d.data.is_empty() {
                    self.data = Some(d.data);
                }
                self.plan = d.plan.or(self.plan.take());
                self.importance = d.importance.or(self.importance.take());
                self.importance_note = d.importance_note.or(self.importance_note.take());
                self.notes.extend(d.notes);
                self.preset = d.preset.or(self.preset.take());
                self.failures.extend(d.failures);
            }
            Document::Cost(c) => {
                self.latency_target_ms = c.inputs.latency_target_ms;
                self.cost = Some(*c);
            }
            Document::Profile(p) => {
                let p = *p;
                self.model = self.model.take().or(p.model.clone());
                self.environment = self.environment.take().or(p.environment.clone());
                self.profile = Some(p);
            }
            Document::Load(l) => {
                let l = *l;
                self.model = self.model.take().or(l.model.clone());
                self.environment = self.environment.take().or(l.environment.clone());
                self.preset = self.preset.take().or(l.preset.clone());
                self.load = Some(l);
            }
        }
    }

    /// The study's benchmark or comparison as the document `bench --json` / `compare --json`
    /// writes (a comparison's runs when there are variants).
    pub fn bench_doc(&self) -> BenchDoc {
        BenchDoc {
            version: doc::DOC_VERSION,
            environment: self.environment.clone(),
            model: self.model.clone(),
            data: self.data.clone().unwrap_or_default(),
            plan: self.plan.clone(),
            runs: if self.variants.is_empty() {
                self.runs.clone()
            } else {
                self.compare_runs.clone()
            },
            failures: self.failures.clone(),
            variants: self.variants.clone(),
            importance: self.importance.clone(),
            importance_note: self.importance_note.clone(),
            notes: self.notes.clone(),
            preset: self.preset.clone(),
        }
    }

    /// The cost inputs and prices the study prices with: its cost plan's, else its preset's.
    pub fn cost_basis(&self) -> Option<(crate::cost::plan::CostInputs, crate::cost::Pricing)> {
        match (&self.cost, &self.preset) {
            (Some(c), _) => Some((c.inputs.clone(), c.pricing.clone())),
            (None, Some(p)) => Some((p.cost.clone(), p.pricing.clone())),
            _ => None,
        }
    }

    /// The monthly bill of the original and each variant of a comparison (see
    /// [`crate::cost::variants`]); `None` when the study is not a comparison or has no cost
    /// inputs.
    pub fn variant_costs(&self) -> Option<Result<Vec<crate::cost::variants::VariantCost>, String>> {
        if self.variants.is_empty() {
            return None;
        }
        let (inputs, pricing) = self.cost_basis()?;
        Some(crate::cost::variants::per_variant(
            &inputs,
            &pricing,
            &self.compare_runs,
        ))
    }

    /// The files the PDF carries so its study can be rerun: the preset (RON) and the results
    /// (JSON), and the cost plan when there is one.
    pub fn attachments(&self) -> Result<Vec<Attachment>> {
        let mut out = Vec::new();
        if let Some(p) = &self.preset {
            out.push(Attachment {
                name: ATTACHED_PRESET,
                mime: "text/plain",
                what: "The study as an Inferscope preset: inferscope compare --preset FILE (or bench) runs it again",
                bytes: p.to_ron()?.into_bytes(),
            });
        }
        if !self.runs.is_empty() || !self.compare_runs.is_empty() {
            out.push(Attachment {
                name: ATTACHED_RESULTS,
                mime: "application/json",
                what: "The results, as inferscope bench/compare --json writes them",
                bytes: self.bench_doc().to_json()?.into_bytes(),
            });
        }
        if let Some(p) = &self.profile {
            out.push(Attachment {
                name: ATTACHED_PROFILE,
                mime: "application/json",
                what: "The operator profile, as inferscope profile --json writes it",
                bytes: p.to_json()?.into_bytes(),
            });
        }
        if let Some(l) = &self.load {
            out.push(Attachment {
                name: ATTACHED_LOAD,
                mime: "application/json",
                what: "The open-loop load runs, as inferscope load --json writes them",
                bytes: l.to_json()?.into_bytes(),
            });
        }
        if let Some(c) = &self.cost {
            out.push(Attachment {
                name: ATTACHED_COST,
                mime: "application/json",
                what: "The cost plan, as inferscope cost --json writes it",
                bytes: c.to_json()?.into_bytes(),
            });
        }
        Ok(out)
    }

    fn model_name(&self) -> String {
        self.model
            .as_ref()
            .map(|m| m.name.clone())
            .or_else(|| self.runs.first().map(|r| r.model_name.clone()))
            .unwrap_or_else(|| "model".into())
    }
}

/// Fonts for SVG text: Ubuntu Light as sans-serif and Hack as monospace, the fonts the window
/// ships, so reports look the same everywhere and need no system fonts.
fn svg_options() -> usvg::Options<'static> {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(epaint_default_fonts::UBUNTU_LIGHT.to_vec());
    db.load_font_data(epaint_default_fonts::HACK_REGULAR.to_vec());
    let family = |mono: bool| {
        db.faces()
            .find(|f| f.monospaced == mono)
            .and_then(|f| f.families.first().map(|(n, _)| n.clone()))
    };
    let (sans, mono) = (family(false), family(true));
    if let Some(s) = sans {
        db.set_sans_serif_family(s);
    }
    if let Some(m) = mono {
        db.set_monospace_family(m);
    }
    usvg::Options {
        fontdb: Arc::new(db),
        font_family: SANS.into(),
        ..usvg::Options::default()
    }
}

fn tree(svg_text: &str, opts: &usvg::Options) -> Result<usvg::Tree> {
    usvg::Tree::from_str(svg_text, opts).context("internal error: a report page is not valid SVG")
}

/// The report as PDF bytes.
pub fn pdf(study: &Study) -> Result<Vec<u8>> {
    let opts = svg_options();
    let mut doc = krilla::Document::new();
    doc.set_metadata(
        krilla::metadata::Metadata::new()
            .title(format!("Inferscope report: {}", study.model_name()))
            .creator(format!("Inferscope {}", env!("CARGO_PKG_VERSION"))),
    );
    for a in study.attachments()? {
        let name = a.name;
        let added = doc.embed_file(krilla::embed::EmbeddedFile {
            path: name.to_string(),
            mime_type: krilla::embed::MimeType::new(a.mime),
            description: Some(a.what.to_string()),
            association_kind: krilla::embed::AssociationKind::Supplement,
            data: a.bytes.into(),
            modification_date: None,
            compress: None,
            location: None,
        });
        if added.is_none() {
            anyhow::bail!("internal error: the report embeds {name} twice");
        }
    }
    for page in pages(study) {
        let t = tree(&page, &opts)?;
        let size =
            krilla::geom::Size::from_wh(PAGE_W as f32, PAGE_H as f32).context("page size")?;
        let mut p = doc.start_page_with(
            krilla::page::PageSettings::from_wh(PAGE_W as f32, PAGE_H as f32)
                .context("page size")?,
        );
        let mut surface = p.surface();
        krilla_svg::SurfaceExt::draw_svg(
            &mut surface,
            &t,
            size,
            krilla_svg::SvgSettings::default(),
        )
        .context("could not draw a report page")?;
        surface.finish();
        p.finish();
    }
    doc.finish()
        .map_err(|e| anyhow::anyhow!("could not write the PDF: {e:?}"))
}

/// The one-page summary as PNG bytes, `PNG_W` x `PNG_H` pixels.
pub fn png(study: &Study) -> Result<Vec<u8>> {
    let opts = svg_options();
    let t = tree(&summary(study), &opts)?;
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(PNG_W as u32, PNG_H as u32).context("image size")?;
    resvg::render(
        &t,
        resvg::tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("could not encode the PNG")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::plan::CostInputs;
    use crate::cost::Pricing;

    fn bench(sha: &str, name: &str, p95: f64) -> BenchDoc {
        BenchDoc {
            version: doc::DOC_VERSION,
            model: Some({
                let mut m = crate::model::Model::load(
                    &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mlp.onnx"),
                )
                .unwrap()
                .info;
                m.name = name.into();
                m.sha256 = sha.into();
                m
            }),
            runs: vec![RunResult {
                model_name: name.into(),
                variant: "original".into(),
                batch_size: 1,
                latency_p50: p95 / 2.0,
                latency_p95: p95,
                ..RunResult::default()
            }],
            ..BenchDoc::default()
        }
    }

    fn write(dir: &Path, file: &str, json: String) -> std::path::PathBuf {
        let p = dir.join(file);
        std::fs::write(&p, json).unwrap();
        p
    }

    /// A report is about one model: a file about another (by sha256) is refused, naming both
    /// files; a cost plan of a run the study does not hold is flagged; one of the study's run
    /// is not.
    #[test]
    fn a_report_refuses_another_models_file_and_flags_a_cost_plan_of_another_run() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a.json",
            bench("aaaa1111", "encoder", 31.2).to_json().unwrap(),
        );
        let b = write(
            dir.path(),
            "b.json",
            bench("bbbb2222", "detector", 9.0).to_json().unwrap(),
        );
        let e = format!("{:#}", Study::from_files(&[&a, &b]).unwrap_err());
        assert!(
            e.contains("b.json") && e.contains("a.json") && e.contains("detector"),
            "{e}"
        );

        let cost_of = |doc: &BenchDoc, p95: f64| -> std::path::PathBuf {
            let mut run = doc.runs[0].clone();
            run.latency_p95 = p95;
            let mut inputs = CostInputs::default();
            let (service, source) = inputs.serve_run(&run);
            let mut c = CostDoc::new(inputs, Pricing::default(), &service, source).unwrap();
            c.served = Some(doc::ServedRun::of(&run, doc.model.as_ref()));
            write(dir.path(), &format!("cost{p95}.json"), c.to_json().unwrap())
        };
        let doc = bench("aaaa1111", "encoder", 31.2);
        let same = Study::from_files(&[&a, &cost_of(&doc, 31.2)]).unwrap();
        assert!(same.mismatches.is_empty(), "{:?}", same.mismatches);
        let other = Study::from_files(&[&a, &cost_of(&doc, 50.2)]).unwrap();
        assert_eq!(other.mismatches.len(), 1, "{:?}", other.mismatches);
        assert!(
            other.mismatches[0].contains("50.2"),
            "{:?}",
            other.mismatches
        );
        // A cost plan made from another model's results is refused like its results.
        let theirs = bench("bbbb2222", "detector", 9.0);
        let e = format!(
            "{:#}",
            Study::from_files(&[&a, &cost_of(&theirs, 9.0)]).unwrap_err()
        );
        assert!(e.contains("detector"), "{e}");
    }
}
