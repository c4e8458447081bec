use std::path::Path;
use super::{Result, Vocab, VocabError};
pub fn load(path: &Path, _p: Option<&str>) -> Result<Vocab> { Err(VocabError::invalid(path, "todo")) }
