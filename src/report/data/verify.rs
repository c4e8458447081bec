//! Verification results: from a [`VerifyReport`] or read back from a `verify --csv` log
//! (through the log's own schema, [`crate::verify::csv`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use crate::verify::{csv, Row, Thresholds, VerifyReport};

/// The verified tokens the report shows, and where they come from.
#[derive(Debug, Clone)]
pub struct VerifyData {
    /// Where the rows come from ("computed by this report …", "read from …").
    pub origin: String,
    /// Prompt names, in the order of each row's `prompt_scores`.
    pub prompts: Vec<String>,
    /// One row per verified token, in the order verified (or written).
    pub rows: Vec<Row>,
    /// The thresholds the verdicts were given by (defaults when read from a file, which
    /// does not record them).
    pub thresholds: Thresholds,
    /// Seconds and tokens per second, when verified by this run.
    pub timing: Option<(f64, f64)>,
}

impl VerifyData {
    /// The rows of a verification this run did.
    pub fn from_report(r: &VerifyReport, t: Thresholds, origin: String) -> VerifyData {
        VerifyData {
            origin,
            prompts: r.prompts.iter().map(|p| p.name.to_string()).collect(),
            rows: r.rows.clone(),
            thresholds: t,
            timing: Some((r.seconds, r.tokens_per_s)),
        }
    }

    /// Read a `verify --csv` log: id, decoded, one column per prompt, score, verdict
    /// (and score_bound in logs since that column exists).
    pub fn read_csv(path: &Path) -> Result<VerifyData> {
        let (prompts, rows) = csv::read_log(path)?;
        Ok(VerifyData {
            origin: format!("read from {}", path.display()),
            prompts,
            rows,
            thresholds: Thresholds::default(),
            timing: None,
        })
    }

    /// Rows by token id, for the sections that mark verified tokens.
    pub fn by_id(&self) -> HashMap<u32, &Row> {
        self.rows.iter().map(|r| (r.id, r)).collect()
    }
}
