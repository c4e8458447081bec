//! Mistral's Tekken (`tekken.json`, as `mistral-common` ships and reads it): a tiktoken
//! byte-level BPE with its split regex in the file, and a block of special tokens in
//! front of it. Read as `mistral-common`'s `Tekkenizer.from_file` reads it: ids
//! `0..default_num_special_tokens` are the specials (the file's `special_tokens`, or for
//! files up to v7 without them the 20 named ones mistral-common assumes, then
//! `<SPECIAL_n>` fillers), and vocabulary rank `r` is id `r + default_num_special_tokens`
//! for the first `default_vocab_size - default_num_special_tokens` entries (the rest of the
//! file's vocabulary is unused). Specials are never matched in text: mistral-common
//! encodes "[INST]" in a string as its bytes.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine;
use serde_json::Value;

use super::build::{self, Added, PreSplit};
use super::{bytelevel, read_file, tiktoken, Format, Result, Vocab, VocabError};

/// The specials mistral-common assumes for a file of version v7 or older without a
/// `special_tokens` list (`Tekkenizer.DEPRECATED_SPECIAL_TOKENS`), ids 0 to 19.
const DEPRECATED_SPECIALS: [&str; 20] = [
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
];

/// Whether the head of a JSON file is a Tekken file (its `config` holds what no
/// tokenizer.json has).
pub fn looks_like(head: &str) -> bool {
    head.contains("\"default_num_special_tokens\"")
        || (head.contains("\"config\"") && head.contains("\"num_vocab_tokens\""))
}

/// The version number of `v3`, `v11`…
fn version_number(v: &str) -> Option<u32> {
    v.strip_prefix('v')?.parse().ok()
}

/// Load a `tekken.json`.
pub fn load(path: &Path) -> Result<Vocab> {
    let bad = |m: String| VocabError::invalid(path, m);
    let bytes = read_file(path)?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not a Tekken file (not JSON: {e})")))?;
    let config = v
        .get("config")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no \"config\" object: not a Tekken file".into()))?;
    let field = |k: &str| -> Result<usize> {
        config
            .get(k)
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .ok_or_else(|| {
                bad(format!(
                    "config.{k} is missing or not a non-negative integer"
                ))
            })
    };
    let pattern = config
        .get("pattern")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("config.pattern (the split regex) is missing".into()))?;
    let version = config
        .get("version")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("config.version is missing".into()))?;
    let vnum = version_number(version).ok_or_else(|| {
        bad(format!(
            "config.version {version:?} is not a Tekken version"
        ))
    })?;
    let vocab_size = field("default_vocab_size")?;
    let n_special = field("default_num_special_tokens")?;
    if n_special > vocab_size {
        return Err(bad(format!(
            "default_num_special_tokens {n_special} exceeds default_vocab_size {vocab_size}"
        )));
    }
    let inner = vocab_size - n_special;
    let entries = v
        .get("vocab")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"vocab\" list".into()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut ranks: Vec<(Vec<u8>, u32)> = Vec::with_capacity(inner);
    // As mistral-common: the first `inner` entries, entry i of rank i.
    for (i, e) in entries.iter().take(inner).enumerate() {
        let rank = e
            .get("rank")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(format!("vocab entry {i} has no integer rank")))?;
        if rank != i as u64 {
            return Err(bad(format!("vocab entry {i} has rank {rank}, not {i}")));
        }
        let tok = e
            .get("token_bytes")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("vocab entry {i} (rank {rank}) has no token_bytes")))?;
        let tok = b64.decode(tok).map_err(|err| {
            bad(format!(
                "vocab entry {i} (rank {rank}): token_bytes is not base64 ({err})"
            ))
        })?;
        if tok.is_empty() || tok.len() > tiktoken::MAX_TOKEN_BYTES {
            return Err(bad(format!(
                "vocab entry {i} (rank {rank}) has {} bytes",
                tok.len()
            )));
        }
        ranks.push((tok, rank as u32 + n_special as u32));
    }
    if ranks.len() != inner {
        return Err(bad(format!(
            "the vocabulary has {} entries, fewer than default_vocab_size - \
             default_num_special_tokens = {inner}",
            ranks.len()
        )));
    }

    let listed: Vec<String> = match v.get("special_tokens") {
        None | Some(Value::Null) if vnum > 7 => {
            return Err(bad(format!(
                "no special_tokens list, which a {version} file must have"
            )))
        }
        None | Some(Value::Null) => DEPRECATED_SPECIALS.iter().map(|s| s.to_string()).collect(),
        Some(Value::Array(a)) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, t) in a.iter().enumerate() {
                let s = t
                    .get("token_str")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(format!("special_tokens[{i}] has no token_str")))?;
                if t.get("rank").and_then(Value::as_u64) != Some(i as u64) {
                    return Err(bad(format!(
                        "special_tokens[{i}] ({s:?}) does not have rank {i}"
                    )));
                }
                out.push(s.to_string());
            }
            out
        }
        Some(other) => return Err(bad(format!("special_tokens must be a list, not {other}"))),
    };
    if listed.len() > n_special {
        return Err(bad(format!(
            "{} special tokens listed, but default_num_special_tokens is {n_special}",
            listed.len()
        )));
    }
    let specials: Vec<Added> = (0..n_special)
        .map(|i| Added {
            id: i as u32,
            content: listed
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("<SPECIAL_{i}>")),
            special: true,
        })
        .collect();
    let distinct: BTreeSet<&str> = specials.iter().map(|a| a.content.as_str()).collect();
    if distinct.len() != specials.len() {
        return Err(bad("special token strings are not unique".into()));
    }

    let merges: Vec<(String, String)> = tiktoken::derive_merges(&ranks)
        .into_iter()
        .map(|(_, idx, cut)| {
            let b = &ranks[idx].0;
            (
                bytelevel::bytes_to_string(&b[..cut]),
                bytelevel::bytes_to_string(&b[cut..]),
            )
        })
        .collect();
    let (vocab, mut raw) = tiktoken::vocab_and_raw(&ranks, vocab_size).map_err(bad)?;
    for a in &specials {
        raw[a.id as usize] = Some(a.content.clone());
    }
    let mut tk = build::byte_level_bpe(
        vocab,
        merges,
        &PreSplit::Regexes(vec![pattern.to_string()]),
        true,
        &specials,
    )
    .map_err(bad)?;
    tk.set_encode_special_tokens(true);
    let special_ids: BTreeSet<u32> = specials.iter().map(|a| a.id).collect();
    let detail = format!(
        "tekken {version}, {n_special} special tokens, {inner} of the file's {} ranks",
        entries.len()
    );
    let mut v = Vocab::from_parts(Format::Tekken, path, detail, tk, raw, None, special_ids)?;
    let find = |name: &str| specials.iter().find(|a| a.content == name).map(|a| a.id);
    v.set_named_specials(find("<s>"), find("</s>"), find("<unk>"), find("<pad>"));
    Ok(v)
}
