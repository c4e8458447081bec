//! `gpt2` vocabularies: byte-level BPE with the merges of `tokenizer.ggml.merges` and
//! the split regexes of the file's `tokenizer.ggml.pre` type.

use std::collections::HashMap;
use std::path::Path;

use super::pre::pre_spec;
use super::{build_error, wrong_type, Fields, KEY_MERGES, KEY_PRE};
use crate::gguf::{GgufArray, GgufFile, GgufValue};
use crate::vocab::build::{self, Added, PreSplit};
use crate::vocab::{Format, PieceKind, Result, Vocab, VocabError};

/// A merge as llama.cpp reads it: split at the first space after the first byte, so a
/// left part that is itself a space survives. `None` when there is no such space.
fn split_merge(m: &str) -> Option<(String, String)> {
    // A space byte is never inside a multi-byte character, so both halves stay valid UTF-8.
    let pos = m.bytes().skip(1).position(|b| b == b' ')? + 1;
    Some((m.get(..pos)?.to_string(), m.get(pos + 1..)?.to_string()))
}

pub(super) fn bpe_vocab(file: &GgufFile, path: &Path, f: &Fields) -> Result<Vocab> {
    let pre = match file.get(KEY_PRE) {
        None => None,
        Some(GgufValue::Str(s)) => Some(s.as_str()),
        Some(v) => return Err(wrong_type(path, KEY_PRE, v, "string")),
    };
    // llama.cpp falls back to its "default" splitting (with a loud warning) when absent.
    let pre_name = pre.unwrap_or("default");
    let spec = pre_spec(pre_name).ok_or_else(|| {
        VocabError::invalid(
            path,
            format!("pre-tokenizer type '{pre_name}' ({KEY_PRE}) is not supported"),
        )
    })?;
    let merges = match file.get(KEY_MERGES) {
        Some(GgufValue::Array(GgufArray::Str(m))) => m,
        Some(v) => return Err(wrong_type(path, KEY_MERGES, v, "array of string")),
        None => {
            return Err(VocabError::invalid(
                path,
                format!("tokenizer model 'gpt2' needs {KEY_MERGES}, which is missing"),
            ))
        }
    };
    let mut pairs = Vec::with_capacity(merges.len());
    for (i, m) in merges.iter().enumerate() {
        let pair = split_merge(m).ok_or_else(|| {
            VocabError::invalid(path, format!("{KEY_MERGES} entry #{i} {m:?} has no space"))
        })?;
        pairs.push(pair);
    }
    let vocab: HashMap<String, u32> = f
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let added = added_tokens(f);
    let split = PreSplit::Regexes(spec.regexes.iter().map(|r| r.to_string()).collect());
    let tk = build::byte_level_bpe(vocab, pairs, &split, spec.ignore_merges, &added)
        .map_err(|e| build_error(path, "byte-level BPE", e))?;
    let detail = match pre {
        Some(p) => format!("gguf gpt2, pre={p}"),
        None => "gguf gpt2, no pre type (llama.cpp's default splitting)".to_string(),
    };
    Vocab::from_tokenizer(
        Format::Gguf,
        path,
        detail,
        tk,
        Some(f.kinds.clone()),
        f.specials.clone(),
    )
}

/// Control and unknown tokens become special added tokens, user-defined ones plain added
/// tokens: both are matched in raw text before the split, as llama.cpp and Hugging Face do.
/// The converter stores user-defined tokens as raw text (not byte-level), which is what
/// an added token's content is.
fn added_tokens(f: &Fields) -> Vec<Added> {
    f.tokens
        .iter()
        .zip(&f.kinds)
        .enumerate()
        .filter_map(|(i, (t, k))| {
            let special = match k {
                PieceKind::Control | PieceKind::Unknown => true,
                PieceKind::UserDefined => false,
                _ => return None,
            };
            Some(Added {
                id: i as u32,
                content: t.clone(),
                special,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_split_at_first_space_after_first_byte() {
        assert_eq!(split_merge("Ġ t"), Some(("Ġ".into(), "t".into())));
        assert_eq!(split_merge("  a"), Some((" ".into(), "a".into())));
        assert_eq!(split_merge("ab"), None);
        assert_eq!(split_merge(""), None);
    }
}
