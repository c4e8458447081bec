//! `tokenaudit verify`: confirm candidate under-trained tokens with forward passes.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::flags::ModelFlags;
use tokenaudit::output;
use tokenaudit::verify::{self, IdSource};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Model directory (config.json + safetensors), or a .gguf file (run through candle's
    /// quantized models: llama, qwen2, qwen3, phi3, gemma3).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Verify the candidate rows of a `scan --csv` file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ids", "all"])]
    pub candidates: Option<PathBuf>,
    /// Verify these ids (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "IDS",
        conflicts_with = "all"
    )]
    pub ids: Option<Vec<u32>>,
    /// Verify every token of the tokenizer.
    #[arg(long)]
    pub all: bool,
    /// Append one row per token here as it is verified; rerunning with the same file
    /// skips the tokens already in it.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print one JSON summary object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model_flags: ModelFlags,
}

pub fn run(a: VerifyArgs) -> Result<()> {
    let ids = match (&a.candidates, &a.ids, a.all) {
        (Some(p), _, _) => IdSource::CandidatesCsv(p.clone()),
        (None, Some(ids), _) => IdSource::Ids(ids.clone()),
        (None, None, true) => IdSource::All,
        (None, None, false) => {
            bail!("say which tokens to verify: --candidates FILE, --ids or --all")
        }
    };
    let to_err = super::check_outputs([a.csv.as_deref()])?;
    let mut s = a.model_flags.settings(a.model.clone(), ids)?;
    s.csv = a.csv.clone();
    let report = verify::run(&s)?;
    super::warn(&report.warnings);
    let mut out = super::summary_out(to_err);
    if a.json {
        serde_json::to_writer(&mut out, &output::verify::to_json(&report, &s))?;
        writeln!(out)?;
    } else {
        output::verify::write_summary(&report, &s, &mut out)?;
    }
    Ok(())
}
