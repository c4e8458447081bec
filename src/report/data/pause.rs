//! The pause-token ranking: from a [`PauseReport`] or read back from a `pause --csv` file.

use std::path::Path;

use anyhow::{Context, Result};

use super::short;
use crate::output::pause::CHECKS;
use crate::pause::PauseReport;

/// One ranked pause-token candidate.
#[derive(Debug, Clone)]
pub struct PauseRow {
    /// Token id.
    pub id: u32,
    /// Decoded text (escaped when read from a CSV).
    pub decoded: String,
    /// Where the candidate came from (reserved special, unused, …).
    pub source: String,
    /// Names of the failed checks (printable, unique, reencodes, not_in_template).
    pub failed: Vec<&'static str>,
    /// Mean KL divergence of the next-token distribution with the token inserted.
    pub mean_kl: f64,
    /// Largest KL divergence over the contexts.
    pub max_kl: f64,
    /// Change of the next-token entropy, in bits.
    pub entropy_delta: f64,
    /// The ranking's recommendation.
    pub recommended: bool,
}

impl PauseRow {
    /// Whether every check passed.
    pub fn passes(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The pause-token ranking the report shows, and where it comes from.
#[derive(Debug, Clone)]
pub struct PauseData {
    /// Where the ranking comes from, for the page.
    pub origin: String,
    /// Candidates, best first.
    pub rows: Vec<PauseRow>,
}

impl PauseData {
    /// The ranking of a pause run in this process.
    pub fn from_report(r: &PauseReport, origin: String) -> PauseData {
        let best = r.recommended().map(|c| c.id);
        PauseData {
            origin,
            rows: r
                .candidates
                .iter()
                .map(|c| {
                    let checks = [c.printable, c.unique, c.reencodes, c.not_in_template];
                    PauseRow {
                        id: c.id,
                        decoded: c.decoded.clone(),
                        source: c.source.name().to_string(),
                        failed: CHECKS
                            .iter()
                            .zip(checks)
                            .filter(|(_, ok)| !ok)
                            .map(|(n, _)| *n)
                            .collect(),
                        mean_kl: c.mean_kl,
                        max_kl: c.max_kl,
                        entropy_delta: c.entropy_delta,
                        recommended: Some(c.id) == best,
                    }
                })
                .collect(),
        }
    }

    /// Read a `pause --csv` ranking (columns by name, see docs/schemas.md).
    pub fn read_csv(path: &Path) -> Result<PauseData> {
        let mut rdr = csv::Reader::from_reader(crate::util::text::read_input(path)?);
        let h = rdr
            .headers()
            .with_context(|| format!("{}", path.display()))?
            .clone();
        let col = |name: &str| {
            h.iter().position(|c| c == name).ok_or_else(|| {
                anyhow::anyhow!("{}: no '{name}' column: not a pause CSV", path.display())
            })
        };
        let (id, decoded, source) = (col("id")?, col("decoded")?, col("source")?);
        let checks: Vec<usize> = CHECKS.iter().map(|c| col(c)).collect::<Result<_>>()?;
        let (mean, max, dh) = (col("mean_kl")?, col("max_kl")?, col("entropy_delta_bits")?);
        let rec_col = h.iter().position(|c| c == "recommended");
        let mut rows = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec = rec.with_context(|| format!("{}: row {line}", path.display()))?;
            let f = |c: usize| rec.get(c).unwrap_or("");
            let number = |c: usize| -> Result<f64> {
                f(c).parse().with_context(|| {
                    format!(
                        "{}: row {line}: {} is not a number",
                        path.display(),
                        short(f(c))
                    )
                })
            };
            rows.push(PauseRow {
                id: f(id).parse().with_context(|| {
                    format!("{}: row {line}: id is not a number", path.display())
                })?,
                decoded: f(decoded).to_string(),
                source: f(source).to_string(),
                failed: CHECKS
                    .iter()
                    .zip(&checks)
                    .filter(|(_, &c)| f(c) != "true")
                    .map(|(n, _)| *n)
                    .collect(),
                mean_kl: number(mean)?,
                max_kl: number(max)?,
                entropy_delta: number(dh)?,
                recommended: rec_col.is_some_and(|c| f(c) == "true"),
            });
        }
        Ok(PauseData {
            origin: format!("read from {}", path.display()),
            rows,
        })
    }
}
