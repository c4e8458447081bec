use std::path::Path;
use super::{Result, Vocab, VocabError};
pub fn load_tokenizer_json(path: &Path) -> Result<Vocab> { Err(VocabError::invalid(path, "todo")) }
pub fn load_bpe_pair(path: &Path, _c: Option<&Path>) -> Result<Vocab> { Err(VocabError::invalid(path, "todo")) }
