//! `tokenaudit report`: one self-contained HTML file from everything known about a
//! model or tokenizer. Results given as files are read; what is missing is computed:
//! the audit always, the scan when a model is given, verification only when asked.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::scan::ScanOptions;
use tokenaudit::audit;
use tokenaudit::report::{PauseData, Report, ScanData, TokenizerData, VerifyData};
use tokenaudit::scan;
use tokenaudit::verify::{self, IdSource, VerifySettings};
use tokenaudit::vocab::{self, Format, LoadOptions, Vocab};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Model directory (config.json + safetensors), .safetensors or .gguf: its tokenizer
    /// is audited and its embeddings scanned. Without it, give --tokenizer.
    #[arg(value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Tokenizer file or directory (default: the model's). Alone, the report has the
    /// tokenizer audit (and whatever result files are given).
    #[arg(long, short = 't', value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// Force the tokenizer format instead of detecting it.
    #[arg(long, value_name = "hf|gpt-bpe|sentencepiece|tiktoken|gguf")]
    pub format: Option<Format>,
    /// tiktoken family preset (see `audit --help`).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// The HTML file to write.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Title of the page (default: from the model or tokenizer name).
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
    #[command(flatten)]
    pub scan: ScanOptions,
    /// Use this `scan --csv` (or `glitch --csv`) file instead of scanning the model.
    #[arg(long, value_name = "FILE")]
    pub scan_csv: Option<PathBuf>,
    /// A `verify --csv` file to show. With --verify, the log verification resumes from
    /// and appends to.
    #[arg(long, value_name = "FILE")]
    pub verify_csv: Option<PathBuf>,
    /// Verify the N candidates with the lowest main indicator (forward passes on the
    /// model: slow on CPU for large models).
    #[arg(long, value_name = "N")]
    pub verify: Option<usize>,
    /// Where verification runs: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
    /// Candidates per forward pass during verification.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub batch_size: usize,
    /// A `pause --csv` ranking to show.
    #[arg(long, value_name = "FILE")]
    pub pause_csv: Option<PathBuf>,
    /// A `digits --json` output to show.
    #[arg(long, value_name = "FILE")]
    pub digits_json: Option<PathBuf>,
}

fn name_of(p: &std::path::Path) -> String {
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

fn tokenizer_data(vocab: &Vocab, audit: audit::AuditReport) -> TokenizerData {
    TokenizerData {
        source: vocab.source.display().to_string(),
        format: vocab.format.name().to_string(),
        detail: vocab.detail.clone(),
        special_ids: vocab.special_ids.len(),
        audit,
    }
}

/// Build the report's data: read what was given, compute the rest.
pub fn build(a: &ReportArgs) -> Result<Report> {
    let load = LoadOptions {
        format: a.format,
        preset: a.preset.clone(),
    };
    let Some(tok_path) = a.tokenizer.clone().or_else(|| a.model.clone()) else {
        bail!("give a MODEL directory or --tokenizer PATH");
    };
    if a.verify.is_some_and(|n| n > 0) && a.model.is_none() {
        bail!("--verify needs a MODEL to run");
    }
    if a.scan.counts.is_some() && a.model.is_none() && a.scan_csv.is_none() {
        bail!("--counts needs a MODEL or --scan-csv to score");
    }
    let mut inputs = Vec::new();
    let mut verify_data: Option<VerifyData> = None;

    // Scan (which audits the tokenizer as it goes) or the audit alone.
    let (tokenizer, scan_data) = match (&a.scan_csv, &a.model) {
        (None, Some(model)) => {
            let settings = a
                .scan
                .settings(model.clone(), a.tokenizer.clone(), load.clone())?;
            let r = scan::run(&settings)?;
            inputs.push(format!(
                "Tokenizer audit and indicator scan computed from {}.",
                model.display()
            ));
            if let Some(c) = &a.scan.counts {
                inputs.push(format!("Training counts read from {}.", c.display()));
            }
            let mut sd = ScanData::from_report(&r, format!("computed from {}", model.display()));
            sd.counts_origin = a.scan.counts.as_ref().map(|c| c.display().to_string());
            let scan::ScanReport { vocab, audit, .. } = r;
            let t = tokenizer_data(&vocab, audit);
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
                    let (mut sd, v) = ScanData::read_csv(p, a.scan.indicator)?;
                    inputs.push(format!("Indicators read from {}.", p.display()));
                    if let Some(c) = &a.scan.counts {
                        sd.counts = Some(scan::read_counts(c, sd.rows)?);
                        sd.counts_origin = Some(c.display().to_string());
                        inputs.push(format!("Training counts read from {}.", c.display()));
                    }
                    verify_data = v;
                    Some(sd)
                }
                None => None,
            };
            let t = tokenizer_data(&vocab, audit);
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
            s.device = tokenaudit::model::parse_device(&a.device)?;
            if a.batch_size == 0 {
                bail!("--batch-size must be at least 1");
            }
            s.scoring.batch_size = a.batch_size;
            s.csv = a.verify_csv.clone();
            let r = verify::run(&s).context("verifying the lowest candidates")?;
            super::warn(&r.warnings);
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
            let text = super::read_text(p)?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", p.display()))?;
            if !v.is_object() || v.get("schemes").is_none() {
                bail!(
                    "{}: not a `digits --json` output (no \"schemes\")",
                    p.display()
                );
            }
            inputs.push(format!(
                "Digit-scheme comparison read from {}.",
                p.display()
            ));
            Some(v)
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
        tokenizer,
        scan: scan_data,
        verify: verify_data,
        pause,
        digits,
    })
}

pub fn run(a: ReportArgs) -> Result<()> {
    let started = Instant::now();
    let report = build(&a)?;
    let built = started.elapsed().as_secs_f64();
    let bytes = report.write(&a.output)?;
    let total = started.elapsed().as_secs_f64();
    println!(
        "report written to {} ({:.0} KB; {}) in {:.2} s ({:.2} s to read and compute, {:.0} ms \
         to draw and write the page)",
        a.output.display(),
        bytes as f64 / 1024.0,
        report.section_names().join(", "),
        total,
        built,
        (total - built) * 1000.0
    );
    // The process exits next: freeing a large vocabulary's many small allocations would
    // only add time.
    std::mem::forget(report);
    Ok(())
}
