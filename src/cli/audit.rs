//! `tokenaudit audit`: flags and the command.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::flags::TokenizerFlags;
use tokenaudit::{audit, output};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub tok: TokenizerFlags,
    /// Print exactly one JSON object (sizes, summary counts, category counts) instead of
    /// the readable summary.
    #[arg(long)]
    pub json: bool,
    /// Write one CSV row per token (id, raw, decoded, category, byte info, re-encoding).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

pub fn run(a: AuditArgs) -> Result<()> {
    let to_err = super::check_outputs([a.csv.as_deref()])?;
    let vocab = a.tok.load()?;
    let report = audit::audit(&vocab);
    if let Some(path) = &a.csv {
        output::audit::write_csv(&report, path)?;
    }
    let mut out = super::summary_out(to_err);
    if a.json {
        serde_json::to_writer(&mut out, &output::audit::to_json(&vocab, &report))?;
        writeln!(out)?;
    } else {
        output::audit::write_summary(&vocab, &report, &mut out)?;
        if let Some(path) = &a.csv {
            writeln!(out, "\nper-token CSV written to {}", path.display())?;
        }
    }
    // The process exits next: freeing a large vocabulary's many small allocations would
    // only add tens of milliseconds to every run.
    std::mem::forget(report);
    std::mem::forget(vocab);
    Ok(())
}
