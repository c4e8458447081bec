//! tiktoken rank files (`base64(bytes) rank` per line; Llama-3/4 `tokenizer.model`,
//! `*.tiktoken`), turned into a byte-level BPE the way transformers' `TikTokenConverter`
//! does: each token's merge is the last step of running tiktoken's own merge loop on it.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use base64::Engine;
use rayon::prelude::*;

use super::build::{self, PreSplit};
use super::{bytelevel, presets, read_file, Format, Result, Vocab, VocabError};

/// Parse the rank file: (token bytes, rank) in file order.
pub fn parse(bytes: &[u8]) -> std::result::Result<Vec<(Vec<u8>, u32)>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let lineno = i + 1;
        let (tok, rank) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {lineno}: expected 'base64 rank', got {line:.60?}"))?;
        let tok = b64
            .decode(tok)
            .map_err(|e| format!("line {lineno}: token is not base64 ({e})"))?;
        let rank: u32 = rank
            .trim()
            .parse()
            .map_err(|_| format!("line {lineno}: rank {rank:.20?} is not a number"))?;
        out.push((tok, rank));
    }
    if out.is_empty() {
        return Err("no ranks found".into());
    }
    Ok(out)
}

/// For each multi-byte token, the pair it is merged from: replay tiktoken's loop (merge the
/// lowest-ranked adjacent pair) using only ranks below the token's own until two parts are
/// left. Parts are ranges of the token itself, so lookups borrow instead of allocating.
pub fn derive_merges(ranks: &[(Vec<u8>, u32)]) -> Vec<(u32, usize, usize)> {
    let map: HashMap<&[u8], u32> = ranks.iter().map(|(b, r)| (b.as_slice(), *r)).collect();
    let mut merges: Vec<(u32, usize, usize)> = ranks
        .par_iter()
        .enumerate()
        .filter(|(_, (b, _))| b.len() >= 2)
        .filter_map(|(idx, (b, r))| {
            let mut bounds: Vec<usize> = (0..=b.len()).collect();
            while bounds.len() > 3 {
                let mut best: Option<(u32, usize)> = None;
                for i in 0..bounds.len() - 2 {
                    if let Some(&pr) = map.get(&b[bounds[i]..bounds[i + 2]]) {
                        if pr < *r && best.is_none_or(|(br, _)| pr < br) {
                            best = Some((pr, i));
                        }
                    }
                }
                match best {
                    Some((_, i)) => {
                        bounds.remove(i + 1);
                    }
                    None => return None,
                }
            }
            Some((*r, idx, bounds[1]))
        })
        .collect();
    merges.sort_unstable();
    merges
}

/// The byte-level vocabulary and raw entries by id; duplicate ranks or tokens are errors.
#[allow(clippy::type_complexity)]
fn vocab_and_raw(
    ranks: &[(Vec<u8>, u32)],
    size: usize,
) -> std::result::Result<(HashMap<String, u32>, Vec<Option<String>>), String> {
    let mut raw: Vec<Option<String>> = vec![None; size];
    let mut vocab: HashMap<String, u32> = HashMap::with_capacity(ranks.len());
    for (i, (b, r)) in ranks.iter().enumerate() {
        let slot = &mut raw[*r as usize];
        if slot.is_some() {
            return Err(format!("line {}: rank {r} appears twice", i + 1));
        }
        let s = bytelevel::bytes_to_string(b);
        *slot = Some(s.clone());
        if vocab.insert(s, *r).is_some() {
            return Err(format!("line {}: token appears twice", i + 1));
        }
    }
    Ok((vocab, raw))
}

pub fn load(path: &Path, preset: Option<&str>) -> Result<Vocab> {
    let bytes = read_file(path)?;
    let ranks = parse(&bytes).map_err(|e| VocabError::invalid(path, e))?;
    let n_ranks = ranks
        .iter()
        .map(|(_, r)| *r as usize + 1)
        .max()
        .unwrap_or(0);
    let (preset, guessed) = match preset {
        Some(name) => (
            presets::by_name(name).ok_or_else(|| {
                VocabError::invalid(
                    path,
                    format!(
                        "unknown tiktoken preset '{name}' (known: {})",
                        presets::names().join(", ")
                    ),
                )
            })?,
            false,
        ),
        None => match presets::guess(ranks.len()) {
            Some(p) => (p, true),
            None => (presets::by_name("plain").expect("plain preset"), true),
        },
    };

    let specials = preset.specials(n_ranks);
    let size = specials
        .iter()
        .map(|a| a.id as usize + 1)
        .max()
        .unwrap_or(0)
        .max(n_ranks);
    // Merges (the expensive part) are derived on one thread while the vocabulary is
    // checked and mapped on the other.
    let (checked, merges) = rayon::join(
        || vocab_and_raw(&ranks, size),
        || {
            derive_merges(&ranks)
                .into_iter()
                .map(|(_, idx, cut)| {
                    let b = &ranks[idx].0;
                    (
                        bytelevel::bytes_to_string(&b[..cut]),
                        bytelevel::bytes_to_string(&b[cut..]),
                    )
                })
                .collect::<Vec<_>>()
        },
    );
    let (vocab, mut raw) = checked.map_err(|e| VocabError::invalid(path, e))?;
    for a in &specials {
        if raw[a.id as usize].is_none() {
            raw[a.id as usize] = Some(a.content.clone());
        }
    }
    let tk = build::byte_level_bpe(
        vocab,
        merges,
        &PreSplit::Regexes(vec![preset.pattern.to_string()]),
        true,
        &specials,
    )
    .map_err(|e| VocabError::invalid(path, e))?;
    let special_ids: BTreeSet<u32> = specials.iter().map(|a| a.id).collect();
    let detail = format!(
        "tiktoken, preset {}{}",
        preset.name,
        if guessed {
            " (guessed from size; use --preset to choose)"
        } else {
            ""
        }
    );
    let mut v = Vocab::from_parts(Format::Tiktoken, path, detail, tk, raw, None, special_ids)?;
    let find = |name: Option<&str>| {
        name.and_then(|n| specials.iter().find(|a| a.content == n).map(|a| a.id))
    };
    v.set_named_specials(find(preset.bos), find(preset.eos), None, None);
    Ok(v)
}
