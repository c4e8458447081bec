//! `glitch`: scan and verification in one go, ending in the one CSV a user exporting
//! glitch tokens wants (every embedding row with its indicators, and the verification of
//! the candidates). See docs/usage.md (`scan`, `verify`, `glitch`) for the two stages.
//!
//! The verification log goes to a partial file beside the final CSV (`out.csv` →
//! `out.csv.partial.csv`), so an interrupted run resumes where it stopped: the scan is
//! cheap and deterministic, the forward passes are not. The partial file is removed once
//! the final CSV is written.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::model::LoadedModel;
use crate::output;
use crate::scan::{self, ScanReport, ScanSettings};
use crate::verify::{self, IdSource, VerifyReport, VerifySettings};

/// What to scan, how to verify, and where the final CSV goes.
#[derive(Debug, Clone)]
pub struct GlitchSettings {
    /// What to scan; its candidates are what gets verified.
    pub scan: ScanSettings,
    /// How to verify; its `ids` and `csv` are replaced by the scan's candidates and the
    /// partial file.
    pub verify: VerifySettings,
    /// The final glitch-token CSV.
    pub csv: PathBuf,
}

/// Both stages' results, and the verification settings as they ran.
pub struct GlitchReport {
    /// The scan, with the tokenizer and audit the verification reused.
    pub scan: ScanReport,
    /// Its `warnings` are the model's load warnings, for the caller to show.
    pub verify: VerifyReport,
    /// `GlitchSettings::verify` with the candidates and the partial file filled in.
    pub verify_settings: VerifySettings,
}

/// Scan, verify the candidates (resuming from the partial file), write the final CSV.
pub fn run(s: &GlitchSettings) -> Result<GlitchReport> {
    crate::util::fs::check_output(&s.csv)?;
    let scan = scan::run(&s.scan)?;
    let mut vs = s.verify.clone();
    vs.ids = IdSource::Ids(scan.candidates.clone());
    let partial = partial_path(&s.csv);
    vs.csv = Some(partial.clone());
    // The scan already loaded and audited the tokenizer: the model reuses both.
    let model = LoadedModel::with_tokenizer(&vs, scan.vocab.clone(), scan.audit.clone())?;
    let report = verify::run_with(&model, &vs, &scan.candidates)?;
    output::verify::write_glitch_csv(&scan, &report, &s.csv)?;
    std::fs::remove_file(&partial).ok();
    Ok(GlitchReport {
        scan,
        verify: report,
        verify_settings: vs,
    })
}

/// `out.csv` → `out.csv.partial.csv`: the resumable verify log beside the final file.
/// A final CSV that is no file (`-`, a FIFO, `/dev/null`) keeps its log in the current
/// directory as `glitch.partial.csv`.
pub fn partial_path(csv: &Path) -> PathBuf {
    if !matches!(
        crate::util::fs::check_output(csv),
        Ok(crate::util::fs::Dest::File(_))
    ) {
        return PathBuf::from("glitch.partial.csv");
    }
    let mut name = csv.file_name().unwrap_or_default().to_os_string();
    name.push(".partial.csv");
    csv.with_file_name(name)
}
