//! Hugging Face `tokenizer.json` (+ `tokenizer_config.json`), and the older two-file
//! GPT-2 layouts (`encoder.json` + `vocab.bpe`, `vocab.json` + `merges.txt`).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use base64::Engine;
use serde_json::Value;
use tokenizers::Tokenizer;

use super::build::{self, Added, PreSplit};
use super::{read_file, Format, PieceKind, Result, Vocab, VocabError};
use crate::hf::tokenizer_config::{special_names_beside, SpecialNames};

/// Older serializations omit `model.type`; infer it from the model's fields.
fn infer_model_type(model: &mut Value) {
    let Some(obj) = model.as_object_mut() else {
        return;
    };
    if obj.contains_key("type") {
        return;
    }
    let t = if obj.contains_key("merges") {
        "BPE"
    } else if obj.get("vocab").is_some_and(|v| v.is_array()) {
        "Unigram"
    } else if obj.contains_key("max_input_chars_per_word") {
        "WordPiece"
    } else {
        "WordLevel"
    };
    obj.insert("type".into(), Value::String(t.into()));
}

fn json_error(path: &Path, e: serde_json::Error) -> VocabError {
    let what = if e.is_eof() {
        "truncated JSON"
    } else {
        "invalid JSON"
    };
    VocabError::invalid(path, format!("{what}: {e}"))
}

/// Parts of a tokenizer.json on which `tokenizers` panics instead of failing, checked
/// first (the walk goes through nested `Sequence`s):
/// - a `Precompiled` normalizer whose charsmap is not canonical base64 or does not parse
///   panics while deserializing, and its trie is indexed unchecked on every encode (see
///   [`build::check_charsmap`]);
/// - a `Strip` decoder with `stop` > 0 indexes past the start of a token shorter than
///   `stop` (and slices backwards when `start` and `stop` overlap) when decoding.
fn check_components(path: &Path, v: &Value) -> Result<()> {
    match v {
        Value::Object(o) => {
            let stop = o.get("stop").and_then(|s| s.as_u64()).unwrap_or(0);
            if o.get("type").and_then(|t| t.as_str()) == Some("Strip") && stop > 0 {
                return Err(VocabError::invalid(
                    path,
                    format!(
                        "Strip decoder with stop {stop}: not supported (the tokenizers \
                         library panics decoding tokens shorter than that)"
                    ),
                ));
            }
            if o.get("type").and_then(|t| t.as_str()) == Some("Precompiled") {
                let b64 = base64::engine::general_purpose::STANDARD;
                let map = o
                    .get("precompiled_charsmap")
                    .and_then(|m| m.as_str())
                    .and_then(|s| b64.decode(s).ok().filter(|m| b64.encode(m) == s))
                    .ok_or_else(|| {
                        VocabError::invalid(
                            path,
                            "Precompiled normalizer: precompiled_charsmap is not base64",
                        )
                    })?;
                build::check_charsmap(&map).map_err(|e| {
                    VocabError::invalid(path, format!("Precompiled normalizer: {e}"))
                })?;
            }
            o.values().try_for_each(|x| check_components(path, x))
        }
        Value::Array(a) => a.iter().try_for_each(|x| check_components(path, x)),
        _ => Ok(()),
    }
}

/// `tokenizers` builds each BPE merge's result as `left + right[prefix.len()..]`, with
/// `prefix` the model's `continuing_subword_prefix`, and panics (while deserializing)
/// when that index is not a char boundary of the right part.
fn check_bpe_merges(path: &Path, model: &Value) -> Result<()> {
    let Some(prefix) = model
        .get("continuing_subword_prefix")
        .and_then(|p| p.as_str())
        .filter(|p| !p.is_empty())
    else {
        return Ok(());
    };
    let Some(merges) = model.get("merges").and_then(|m| m.as_array()) else {
        return Ok(());
    };
    for (i, m) in merges.iter().enumerate() {
        let right = match m {
            Value::String(s) => s.split(' ').nth(1),
            Value::Array(a) => a.get(1).and_then(|r| r.as_str()),
            _ => None,
        };
        if let Some(r) = right.filter(|r| !r.is_char_boundary(prefix.len())) {
            let r: String = r.chars().take(40).collect();
            return Err(VocabError::invalid(
                path,
                format!(
                    "merge #{i}: right part {r:?} cannot hold the continuing_subword_prefix \
                     {:?}",
                    prefix.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    Ok(())
}

/// A `tokenizer.json` file, with the special-token names of the tokenizer_config.json
/// beside it when there is a readable one.
pub fn load_tokenizer_json(path: &Path) -> Result<Vocab> {
    let bytes = read_file(path)?;
    from_json_bytes(path, &bytes, special_names_beside(path))
}

/// A tokenizer.json already in memory (the demo tokenizer compiled into the binary);
/// `path` only names it in messages and the report. No tokenizer_config.json is read.
pub fn load_tokenizer_json_bytes(path: &Path, bytes: &[u8]) -> Result<Vocab> {
    from_json_bytes(path, bytes, SpecialNames::default())
}

fn from_json_bytes(path: &Path, bytes: &[u8], config: SpecialNames) -> Result<Vocab> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| json_error(path, e))?;
    let Some(model) = value.get_mut("model") else {
        return Err(VocabError::invalid(
            path,
            "not a tokenizer.json: no \"model\" object",
        ));
    };
    infer_model_type(model);
    let added: Vec<(u32, String, bool)> = value
        .get("added_tokens")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    Some((
                        t.get("id")?.as_u64()? as u32,
                        t.get("content")?.as_str()?.to_string(),
                        t.get("special").and_then(|s| s.as_bool()).unwrap_or(false),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    for part in ["normalizer", "decoder"] {
        if let Some(n) = value.get(part) {
            check_components(path, n)?;
        }
    }
    check_bpe_merges(path, &value["model"])?;
    let tk: Tokenizer = serde_json::from_value(value)
        .map_err(|e| VocabError::invalid(path, format!("cannot build the tokenizer: {e}")))?;

    let mut specials: BTreeSet<u32> = added
        .iter()
        .filter(|(_, _, s)| *s)
        .map(|(i, _, _)| *i)
        .collect();
    let mut kinds = vec![PieceKind::Normal; tk.get_vocab_size(true)];
    for (id, _, special) in &added {
        if let Some(k) = kinds.get_mut(*id as usize) {
            *k = if *special {
                PieceKind::Control
            } else {
                PieceKind::UserDefined
            };
        }
    }
    for name in &config.additional {
        if let Some(id) = tk.token_to_id(name) {
            specials.insert(id);
        }
    }
    let find = |n: &Option<String>| n.as_deref().and_then(|n| tk.token_to_id(n));
    let (bos, eos, unk, pad) = (
        find(&config.bos),
        find(&config.eos),
        find(&config.unk),
        find(&config.pad),
    );
    let extra: Vec<u32> = [&config.sep, &config.mask]
        .iter()
        .filter_map(|n| find(n))
        .collect();
    specials.extend(extra);
    let detail = "tokenizer.json".to_string();
    let mut v = Vocab::from_tokenizer(Format::HfJson, path, detail, tk, Some(kinds), specials)?;
    v.set_named_specials(bos, eos, unk, pad);
    Ok(v)
}

/// `encoder.json` + `vocab.bpe` (OpenAI) or `vocab.json` + `merges.txt` (HF slow files).
pub fn load_bpe_pair(path: &Path, companion: Option<&Path>) -> Result<Vocab> {
    let companion = companion.ok_or_else(|| VocabError::invalid(path, "missing merges file"))?;
    let (vocab_path, merges_path) = if path.extension().is_some_and(|e| e == "json") {
        (path, companion)
    } else {
        (companion, path)
    };
    let vbytes = read_file(vocab_path)?;
    let vocab: HashMap<String, u32> =
        serde_json::from_slice(&vbytes).map_err(|e| json_error(vocab_path, e))?;
    let mbytes = read_file(merges_path)?;
    let mtext = std::str::from_utf8(&mbytes)
        .map_err(|_| VocabError::invalid(merges_path, "merges file is not UTF-8"))?;
    let mut merges = Vec::new();
    for (i, line) in mtext.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || (i == 0 && line.starts_with("#version")) {
            continue;
        }
        let (a, b) = line.split_once(' ').ok_or_else(|| {
            VocabError::invalid(
                merges_path,
                format!("line {}: expected two tokens, got {line:?}", i + 1),
            )
        })?;
        merges.push((a.to_string(), b.to_string()));
    }
    let added: Vec<Added> = ["<|endoftext|>"]
        .iter()
        .filter_map(|s| {
            vocab.get(*s).map(|&id| Added {
                id,
                content: s.to_string(),
                special: true,
            })
        })
        .collect();
    let specials: BTreeSet<u32> = added.iter().map(|a| a.id).collect();
    let tk = build::byte_level_bpe(vocab, merges, &PreSplit::Gpt2, false, &added)
        .map_err(|e| VocabError::invalid(path, e))?;
    let detail = format!(
        "{} + {}",
        vocab_path.file_name().unwrap_or_default().to_string_lossy(),
        merges_path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
    );
    let eos = added.first().map(|a| a.id);
    let mut v = Vocab::from_tokenizer(Format::GptBpe, vocab_path, detail, tk, None, specials)?;
    v.set_named_specials(None, eos, None, None);
    Ok(v)
}
