//! `tokenaudit scan`: flags, their resolution into [`ScanSettings`], and the command.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use tokenaudit::indicators::Indicator;
use tokenaudit::output;
use tokenaudit::scan::{self, ReferenceRule, ScanSettings};
use tokenaudit::vocab::LoadOptions;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Model directory (config.json + *.safetensors or a sharded index), a .safetensors
    /// file, or a .gguf file. Pickle checkpoints (.bin/.pt) are refused.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    #[command(flatten)]
    pub tok: super::flags::ModelTokenizerFlags,
    #[command(flatten)]
    pub opts: ScanOptions,
    /// Write the glitch-token CSV: one row per embedding row with every indicator.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print one JSON object (threshold, candidates, AUCs) instead of the readable summary.
    #[arg(long)]
    pub json: bool,
}

/// The scan's own flags, shared with `glitch`.
#[derive(Debug, Args)]
pub struct ScanOptions {
    /// Candidates: OK tokens at or below this percentile of the main indicator among OK
    /// tokens.
    #[arg(long, default_value_t = 2.0, value_name = "P")]
    pub percentile: f64,
    /// Main indicator: in_norm (default for untied models), out_cos, out_cos_pc (default
    /// for tied models), out_cos_centered, out_l2.
    #[arg(long, value_name = "NAME", value_parser = parse_indicator)]
    pub indicator: Option<Indicator>,
    /// Name of the input-embedding tensor, when it is not found by the usual names.
    #[arg(long, value_name = "TENSOR")]
    pub embedding: Option<String>,
    /// Name of the unembedding (lm_head) tensor, when it is not found by the usual names.
    #[arg(long, value_name = "TENSOR")]
    pub unembedding: Option<String>,
    /// Comma-separated ids known to be unused, for the unembedding indicators
    /// (default: derived from the audit: unreachable, invalid-UTF-8 bytes, reserved
    /// specials, padding rows).
    #[arg(
        long,
        value_name = "IDS",
        value_delimiter = ',',
        conflicts_with = "reference"
    )]
    pub reference_ids: Option<Vec<u32>>,
    /// How reference rows are chosen without --reference-ids: auto (the rows the
    /// tokenizer cannot produce; when there are none, the fallback), fallback (as if there
    /// were none: clusters of near-duplicate rows, else a reference-free pass), first-pass
    /// (the reference-free pass only). See docs/methods.md §4.
    #[arg(long, value_name = "RULE", default_value = "auto", value_parser = parse_reference)]
    pub reference: ReferenceRule,
    /// token_id,count CSV of the training data: adds a count column and scores each
    /// indicator against "never seen" (ROC AUC, precision and recall of the candidates).
    #[arg(long, value_name = "FILE")]
    pub counts: Option<PathBuf>,
}

impl ScanOptions {
    /// Resolve into settings for `model` with the given tokenizer options.
    pub fn settings(
        &self,
        model: PathBuf,
        tokenizer: Option<PathBuf>,
        load: LoadOptions,
    ) -> Result<ScanSettings> {
        let mut s = ScanSettings::new(model);
        s.tokenizer = tokenizer;
        s.load = load;
        s.percentile = self.percentile;
        s.indicator = self.indicator;
        s.embedding = self.embedding.clone();
        s.unembedding = self.unembedding.clone();
        s.reference_ids = self.reference_ids.clone();
        s.reference = self.reference;
        s.counts = self.counts.clone();
        s.validate()?;
        Ok(s)
    }
}

fn parse_indicator(s: &str) -> std::result::Result<Indicator, String> {
    Indicator::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Indicator::ALL.iter().map(|i| i.name()).collect();
        format!(
            "unknown indicator '{s}' (expected one of {})",
            names.join(", ")
        )
    })
}

fn parse_reference(s: &str) -> std::result::Result<ReferenceRule, String> {
    ReferenceRule::parse(s).ok_or_else(|| {
        let names: Vec<&str> = ReferenceRule::ALL.iter().map(|r| r.name()).collect();
        format!(
            "unknown reference rule '{s}' (expected one of {})",
            names.join(", ")
        )
    })
}

impl ScanArgs {
    fn settings(&self) -> Result<ScanSettings> {
        self.opts.settings(
            self.model.clone(),
            self.tok.tokenizer.clone(),
            self.tok.load_options(),
        )
    }
}

pub fn run(a: ScanArgs) -> Result<()> {
    let to_err = super::check_outputs([a.csv.as_deref()])?;
    let report = scan::run(&a.settings()?)?;
    if let Some(path) = &a.csv {
        output::scan::write_csv(&report, path)?;
    }
    let mut out = super::summary_out(to_err);
    if a.json {
        serde_json::to_writer(&mut out, &output::scan::to_json(&report))?;
        writeln!(out)?;
    } else {
        output::scan::write_summary(&report, &mut out)?;
        if let Some(path) = &a.csv {
            writeln!(out, "\nglitch-token CSV written to {}", path.display())?;
        }
    }
    std::mem::forget(report);
    Ok(())
}
