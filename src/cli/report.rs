//! `tokenaudit report`: one self-contained HTML file from everything known about a
//! model or tokenizer. Results given as files are read; what is missing is computed:
//! the audit always, the scan when a model is given, verification only when asked.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;

use super::scan::ScanOptions;
use tokenaudit::report::{self, ReportSettings};

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
    #[command(flatten)]
    pub format: super::flags::TokenizerFormatFlags,
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
    #[arg(long, default_value_t = tokenaudit::verify::DEFAULT_BATCH_SIZE, value_name = "N")]
    pub batch_size: usize,
    /// A `pause --csv` ranking to show.
    #[arg(long, value_name = "FILE")]
    pub pause_csv: Option<PathBuf>,
    /// A `digits --json` output to show.
    #[arg(long, value_name = "FILE")]
    pub digits_json: Option<PathBuf>,
}

impl ReportArgs {
    /// The flags as the library's plain settings.
    pub fn settings(&self) -> ReportSettings {
        let o = &self.scan;
        ReportSettings {
            model: self.model.clone(),
            tokenizer: self.tokenizer.clone(),
            load: self.format.load_options(),
            title: self.title.clone(),
            percentile: o.percentile,
            indicator: o.indicator,
            embedding: o.embedding.clone(),
            unembedding: o.unembedding.clone(),
            reference_ids: o.reference_ids.clone(),
            counts: o.counts.clone(),
            scan_csv: self.scan_csv.clone(),
            verify_csv: self.verify_csv.clone(),
            verify: self.verify,
            device: self.device.clone(),
            batch_size: self.batch_size,
            pause_csv: self.pause_csv.clone(),
            digits_json: self.digits_json.clone(),
        }
    }
}

/// Flags → [`ReportSettings`] → [`report::build`] → the page on disk.
pub fn run(a: ReportArgs) -> Result<()> {
    let to_err = super::check_outputs([Some(a.output.as_path())])?;
    let started = Instant::now();
    let report = report::build(&a.settings())?;
    super::warn(&report.warnings);
    let built = started.elapsed().as_secs_f64();
    let bytes = report.write(&a.output)?;
    let total = started.elapsed().as_secs_f64();
    writeln!(
        super::summary_out(to_err),
        "report written to {} ({:.0} KB; {}) in {:.2} s ({:.2} s to read and compute, {:.0} ms \
         to draw and write the page)",
        a.output.display(),
        bytes as f64 / 1024.0,
        report.section_names().join(", "),
        total,
        built,
        (total - built) * 1000.0
    )?;
    // The process exits next: freeing a large vocabulary's many small allocations would
    // only add time.
    std::mem::forget(report);
    Ok(())
}
