//! `tokenaudit glitch`: scan and verify in one go ([`tokenaudit::glitch`]); this file only
//! resolves the flags and prints the result.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::flags::ModelFlags;
use super::scan::ScanOptions;
use tokenaudit::glitch::{self, GlitchSettings};
use tokenaudit::output;
use tokenaudit::verify::IdSource;

#[derive(Debug, Args)]
pub struct GlitchArgs {
    /// Model directory (config.json + safetensors), or a .gguf file (run through candle's
    /// quantized models: llama, qwen2, qwen3, phi3, gemma3).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The final glitch-token CSV: every embedding row with its indicators, and the
    /// verification of the candidates. Progress is kept in FILE.partial.csv, so an
    /// interrupted run continues where it stopped.
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// Print one JSON summary object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scan: ScanOptions,
    #[command(flatten)]
    pub model_flags: ModelFlags,
}

impl GlitchArgs {
    /// Resolve into the library's settings (the ids come from the scan).
    pub fn settings(&self) -> Result<GlitchSettings> {
        let tok = &self.model_flags.tok;
        Ok(GlitchSettings {
            scan: self.scan.settings(
                self.model.clone(),
                tok.tokenizer.clone(),
                tok.load_options(),
            )?,
            verify: self
                .model_flags
                .settings(self.model.clone(), IdSource::Ids(vec![]))?,
            csv: self.csv.clone(),
        })
    }
}

pub fn run(a: GlitchArgs) -> Result<()> {
    let to_err = super::check_outputs([Some(a.csv.as_path())])?;
    let r = glitch::run(&a.settings()?)?;
    super::warn(&r.verify.warnings);
    let mut out = super::summary_out(to_err);
    if a.json {
        let mut j = output::scan::to_json(&r.scan);
        j["verify"] = output::verify::to_json(&r.verify, &r.verify_settings);
        j["verified"] = serde_json::json!(output::verify::glitch_metrics(&r.scan, &r.verify));
        serde_json::to_writer(&mut out, &j)?;
        writeln!(out)?;
    } else {
        output::scan::write_summary(&r.scan, &mut out)?;
        writeln!(out)?;
        // The partial log is gone: the summary should not point at it.
        let mut s = r.verify_settings.clone();
        s.csv = None;
        output::verify::write_summary(&r.verify, &s, &mut out)?;
        if let Some(m) = output::verify::glitch_metrics(&r.scan, &r.verify) {
            writeln!(
                out,
                "\nverified under-trained vs count = 0: precision {:.4}, recall {:.4}",
                m["precision"], m["recall"]
            )?;
        }
        writeln!(out, "\nglitch-token CSV written to {}", a.csv.display())?;
    }
    Ok(())
}
