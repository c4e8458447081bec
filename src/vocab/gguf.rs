//! GGUF vocabularies (`tokenizer.ggml.*`). Placeholder until the loader lands.
use std::path::Path;

use super::{Result, Vocab, VocabError};

pub fn load(path: &Path) -> Result<Vocab> {
    Err(VocabError::invalid(path, "GGUF vocabularies are not supported yet"))
}
