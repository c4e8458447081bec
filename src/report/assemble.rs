//! Assembling a [`Report`] from [`ReportSettings`]: the library owns the pipeline (audit,
//! scan, verification, reading result files), so the command only turns flags into
//! settings and writes the page.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::data::{PauseData, ScanData, TokenizerData, VerifyData};
use super::Report;
use crate::audit;
use crate::indicators::Indicator;
use crate::scan::{self, ScanSettings};
use crate::verify::{self, IdSource, VerifySettings};
use crate::vocab::{self, LoadOptions};

/// Everything a report is built from, as plain data (no clap, no open files), so a
/// program can build the same report the command does.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// The model whose tokenizer is audited and embeddings scanned; without it only the
    /// tokenizer audit (and the result files given) make the report.
    pub model: Option<PathBuf>,
    /// The tokenizer (default: the model's); the audit needs one of the two.
    pub tokenizer: Option<PathBuf>,
    /// How the tokenizer is read.
    pub load: LoadOptions,
    /// Page title; derived from the model or tokenizer name when `None`.
    pub title: Option<String>,
    /// The scan's candidate percentile (checked by [`ScanSettings::validate`]).
    pub percentile: f64,
    /// Main indicator; also picks the main column of a `scan_csv`.
    pub indicator: Option<Indicator>,
    /// Input-embedding tensor name, when the usual names do not find it.
    pub embedding: Option<String>,
    /// Unembedding tensor name, when the usual names do not find it.
    pub unembedding: Option<String>,
    /// Ids known to be unused, for the unembedding indicators.
    pub reference_ids: Option<Vec<u32>>,
    /// token_id,count CSV of the training data, scored against the indicators.
    pub counts: Option<PathBuf>,
    /// A `scan --csv`/`glitch --csv` file read instead of scanning the model.
    pub scan_csv: Option<PathBuf>,
    /// A `verify --csv` log shown; with `verify`, the log verification resumes from.
    pub verify_csv: Option<PathBuf>,
    /// Verify the N candidates with the lowest main indicator (0 or `None`: do not).
    pub verify: Option<usize>,
    /// Where verification runs (cpu, cuda, cuda:N), as the user wrote it: it is quoted
    /// on the page.
    pub device: String,
    /// Candidates per forward pass during verification.
    pub batch_size: usize,
    /// A `pause --csv` ranking shown.
    pub pause_csv: Option<PathBuf>,
    /// A `digits --json` output shown.
    pub digits_json: Option<PathBuf>,
}

impl ReportSettings {
    /// The audit of `tokenizer` alone; set the other fields to add sections.
    pub fn new(tokenizer: Option<PathBuf>) -> Self {
        ReportSettings {
            model: None,
            tokenizer,
            load: LoadOptions::default(),
            title: None,
            percentile: 2.0,
            indicator: None,
            embedding: None,
            unembedding: None,
            reference_ids: None,
            counts: None,
            scan_csv: None,
            verify_csv: None,
            verify: None,
            device: "cpu".to_string(),
            batch_size: 64,
            pause_csv: None,
            digits_json: None,
        }
    }

    /// The scan of `model` these settings ask for, validated.
    fn scan_settings(&self, model: &Path) -> Result<ScanSettings> {
        let mut s = ScanSettings::new(model.to_path_buf());
        s.tokenizer = self.tokenizer.clone();
        s.load = self.load.clone();
        s.percentile = self.percentile;
        s.indicator = self.indicator;
        s.embedding = self.embedding.clone();
        s.unembedding = self.unembedding.clone();
        s.reference_ids = self.reference_ids.clone();
        s.counts = self.counts.clone();
        s.validate()?;
        Ok(s)
    }
}

/// The page title's name for a path: the file, with its directory when the file name
/// alone says little (`tokenizer.json`).
fn name_of(p: &Path) -> String {
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let file = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let generic = file.starts_with("tokenizer") || file.ends_with(".json");
    match p.parent().and_then(|d| d.file_name()) {
        Some(d) if generic || !p.is_dir() => format!("{}/{}", d.to_string_lossy(), file),
        _ => file,
    }
}

/// Build the report's data: read what was given, compute the rest (the audit always,
/// the scan when a model is given and no scan CSV, verification only when asked).
pub fn build(a: &ReportSettings) -> Result<Report> {
    let load = a.load.clone();
    let Some(tok_path) = a.tokenizer.clone().or_else(|| a.model.clone()) else {
        bail!("give a MODEL directory or --tokenizer PATH");
    };
    if a.verify.is_some_and(|n| n > 0) && a.model.is_none() {
        bail!("--verify needs a MODEL to run");
    }
    if a.counts.is_some() && a.model.is_none() && a.scan_csv.is_none() {
        bail!("--counts needs a MODEL or --scan-csv to score");
    }
    let mut inputs = Vec::new();
    let mut warnings = Vec::new();
    let mut verify_data: Option<VerifyData> = None;

    // Scan (which audits the tokenizer as it goes) or the audit alone.
    let (tokenizer, scan_data) = match (&a.scan_csv, &a.model) {
        (None, Some(model)) => {
            let settings = a.scan_settings(model)?;
            let r = scan::run(&settings)?;
            inputs.push(format!(
                "Tokenizer audit and indicator scan computed from {}.",
                model.display()
            ));
            if let Some(c) = &a.counts {
                inputs.push(format!("Training counts read from {}.", c.display()));
            }
            let mut sd = ScanData::from_report(&r, format!("computed from {}", model.display()));
            sd.counts_origin = a.counts.as_ref().map(|c| c.display().to_string());
            let scan::ScanReport { vocab, audit, .. } = r;
            let t = TokenizerData::new(&vocab, audit);
            // Freeing a large vocabulary's many small allocations only adds time.
            std::mem::forget(vocab);
            (t, Some(sd))
        }
        _ => {
            let vocab = vocab::load(&tok_path, &load)?;
            let audit = audit::audit(&vocab);
            inputs.push(format!(
                "Tokenizer audit computed from {}.",
                vocab.source.display()
            ));
            let sd = match &a.scan_csv {
                Some(p) => {
                    let (mut sd, v) = ScanData::read_csv(p, a.indicator)?;
                    inputs.push(format!("Indicators read from {}.", p.display()));
                    if let Some(c) = &a.counts {
                        sd.counts = Some(scan::read_counts(c, sd.rows)?);
                        sd.counts_origin = Some(c.display().to_string());
                        inputs.push(format!("Training counts read from {}.", c.display()));
                    }
                    verify_data = v;
                    Some(sd)
                }
                None => None,
            };
            let t = TokenizerData::new(&vocab, audit);
            std::mem::forget(vocab);
            (t, sd)
        }
    };

    // Verification: computed only when asked, else read.
    match (a.verify.filter(|&n| n > 0), &a.model) {
        (Some(n), Some(model)) => {
            let Some(sd) = &scan_data else {
                bail!("--verify needs the scan's candidates");
            };
            let main = sd.main_values();
            let mut ids = sd.candidates.clone();
            ids.sort_by(|&x, &y| {
                let vx = main.get(x as usize).copied().unwrap_or(f64::NAN);
                let vy = main.get(y as usize).copied().unwrap_or(f64::NAN);
                vx.total_cmp(&vy)
            });
            ids.truncate(n);
            let mut s = VerifySettings::new(model.clone(), IdSource::Ids(ids.clone()));
            s.tokenizer = a.tokenizer.clone();
            s.load = load.clone();
            s.device = crate::model::parse_device(&a.device)?;
            s.scoring.batch_size = a.batch_size;
            s.csv = a.verify_csv.clone();
            s.validate()?;
            let r = verify::run(&s).context("verifying the lowest candidates")?;
            warnings.extend(r.warnings.iter().cloned());
            inputs.push(format!(
                "Verification of the {} lowest candidates computed on {}{}.",
                ids.len(),
                a.device,
                a.verify_csv
                    .as_ref()
                    .map(|p| format!(" (log: {})", p.display()))
                    .unwrap_or_default()
            ));
            verify_data = Some(VerifyData::from_report(
                &r,
                s.thresholds,
                format!("computed by this report on {}", a.device),
            ));
        }
        _ => {
            if let Some(p) = &a.verify_csv {
                verify_data = Some(VerifyData::read_csv(p)?);
                inputs.push(format!("Verification read from {}.", p.display()));
            }
        }
    }
    let pause = match &a.pause_csv {
        Some(p) => {
            inputs.push(format!("Pause-token ranking read from {}.", p.display()));
            Some(PauseData::read_csv(p)?)
        }
        None => None,
    };
    let digits = match &a.digits_json {
        Some(p) => {
            let d = super::data::read_digits_json(p)?;
            inputs.push(format!(
                "Digit-scheme comparison read from {}.",
                p.display()
            ));
            Some(d)
        }
        None => None,
    };
    let title = a.title.clone().unwrap_or_else(|| {
        format!(
            "tokenaudit report: {}",
            name_of(a.model.as_deref().unwrap_or(&tok_path))
        )
    });
    Ok(Report {
        title,
        inputs,
        warnings,
        tokenizer,
        scan: scan_data,
        verify: verify_data,
        pause,
        digits,
    })
}
