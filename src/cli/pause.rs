//! `tokenaudit pause`: rank pause-token candidates by how little they disturb the model.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::flags::ModelFlags;
use tokenaudit::output;
use tokenaudit::pause::{self, PauseSettings, DEFAULT_CONTEXTS, DEFAULT_PER_SOURCE};
use tokenaudit::verify::IdSource;

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Model directory (config.json + safetensors), or a .gguf file (run through candle's
    /// quantized models: llama, qwen2, qwen3, phi3, gemma3).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Text file whose lines are the contexts the insertion is measured on (default: the
    /// demo corpus shipped in data/demo/).
    #[arg(long, value_name = "FILE")]
    pub contexts: Option<PathBuf>,
    /// Number of contexts (the first N usable lines; 0 = every line).
    #[arg(long, default_value_t = DEFAULT_CONTEXTS, value_name = "N")]
    pub n: usize,
    /// At most this many candidates from each source (reserved specials, verified
    /// under-trained tokens).
    #[arg(long, default_value_t = DEFAULT_PER_SOURCE, value_name = "N")]
    pub per_source: usize,
    /// Write the ranking as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model_flags: ModelFlags,
}

impl PauseArgs {
    pub fn settings(&self) -> Result<PauseSettings> {
        if self.per_source == 0 {
            anyhow::bail!("--per-source must be at least 1");
        }
        Ok(PauseSettings {
            verify: self
                .model_flags
                .settings(self.model.clone(), IdSource::All)?,
            contexts: self.contexts.clone(),
            n_contexts: self.n,
            per_source: self.per_source,
        })
    }
}

pub fn run(a: PauseArgs) -> Result<()> {
    let to_err = super::check_outputs([a.csv.as_deref()])?;
    let report = pause::run(&a.settings()?)?;
    super::warn(&report.warnings);
    if let Some(p) = &a.csv {
        output::pause::write_csv(&report, p)?;
    }
    let mut out = super::summary_out(to_err);
    if a.json {
        serde_json::to_writer(&mut out, &output::pause::to_json(&report))?;
        writeln!(out)?;
    } else {
        output::pause::write_table(&report, &mut out)?;
        if let Some(p) = &a.csv {
            writeln!(out, "\nranking written to {}", p.display())?;
        }
    }
    Ok(())
}
