//! The tokenizer side of the report: where the tokenizer came from, and its audit.

use crate::audit::AuditReport;
use crate::vocab::Vocab;

/// The tokenizer side: where it came from, and its audit.
pub struct TokenizerData {
    /// The tokenizer file or directory.
    pub source: String,
    /// Its format's name.
    pub format: String,
    /// Format details (model type, pre-tokenizer…).
    pub detail: String,
    /// Number of special-token ids.
    pub special_ids: usize,
    /// The audit of every id.
    pub audit: AuditReport,
}

impl TokenizerData {
    /// The facts the report shows about `vocab`, with its audit.
    pub fn new(vocab: &Vocab, audit: AuditReport) -> TokenizerData {
        TokenizerData {
            source: vocab.source.display().to_string(),
            format: vocab.format.name().to_string(),
            detail: vocab.detail.clone(),
            special_ids: vocab.special_ids.len(),
            audit,
        }
    }
}
