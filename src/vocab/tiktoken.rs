//! tiktoken rank files (`base64(bytes) rank` per line; Llama-3/4 `tokenizer.model`,
//! `*.tiktoken`), turned into a byte-level BPE the way transformers' `TikTokenConverter`
//! does: each token's merge is the last step of running tiktoken's own merge loop on it.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use base64::Engine;
use rayon::prelude::*;

use super::build::{self, PreSplit};
use super::{bytelevel, presets, read_file, Format, Result, Vocab, VocabError};

/// Longest token accepted: 8 times the longest in the published rank files (128 bytes in
/// cl100k, Llama-3 and Qwen). Deriving a token's merge replays tiktoken's loop on it, which
/// is quadratic in its length, so a hostile file of megabyte tokens would never finish.
pub const MAX_TOKEN_BYTES: usize = 1024;

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
        let (tok, rank) = line.split_once(' ').ok_or_else(|| {
            // (Debug formatting ignores a precision, so shorten by hand.)
            let start: String = line.chars().take(60).collect();
            format!("line {lineno}: expected 'base64 rank', got {start:?}")
        })?;
        let tok = b64
            .decode(tok)
            .map_err(|e| format!("line {lineno}: token is not base64 ({e})"))?;
        if tok.len() > MAX_TOKEN_BYTES {
            return Err(format!(
                "line {lineno}: a token of {} bytes (the limit is {MAX_TOKEN_BYTES})",
                tok.len()
            ));
        }
        let rank: u32 = rank.trim().parse().map_err(|_| {
            format!(
                "line {lineno}: rank {:?} is not a number",
                rank.chars().take(20).collect::<String>()
            )
        })?;
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
            // Rank of the pair of parts i and i + 1, if below the token's own. Kept per
            // pair and updated only beside each merge, so a long token costs one hash
            // lookup per merge rather than one per pair per merge.
            let pair = |bounds: &[usize], i: usize| {
                map.get(&b[bounds[i]..bounds[i + 2]])
                    .copied()
                    .filter(|pr| pr < r)
            };
            let mut pairs: Vec<Option<u32>> =
                (0..bounds.len() - 2).map(|i| pair(&bounds, i)).collect();
            while bounds.len() > 3 {
                let mut best: Option<(u32, usize)> = None;
                for (i, p) in pairs.iter().enumerate() {
                    if let Some(pr) = *p {
                        if best.is_none_or(|(br, _)| pr < br) {
                            best = Some((pr, i));
                        }
                    }
                }
                let (_, i) = best?;
                bounds.remove(i + 1);
                pairs.remove(i);
                if i > 0 {
                    pairs[i - 1] = pair(&bounds, i - 1);
                }
                if i < pairs.len() {
                    pairs[i] = pair(&bounds, i);
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
pub(crate) fn vocab_and_raw(
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

/// Load a tiktoken rank file with a family preset: named, or guessed from the rank
/// count, since the file itself holds neither split regex nor specials.
pub fn load(path: &Path, preset: Option<&str>) -> Result<Vocab> {
    let bytes = read_file(path)?;
    let ranks = parse(&bytes).map_err(|e| VocabError::invalid(path, e))?;
    // Every id below the largest rank gets an entry, so a rank far past the number of
    // lines (a corrupt or hostile file) would allocate for billions of ids. Real rank
    // files are dense; allow holes up to the number of ranks again.
    let limit = ranks.len().saturating_mul(2).saturating_add(256);
    if let Some((i, (_, r))) = ranks
        .iter()
        .enumerate()
        .find(|(_, (_, r))| *r as usize >= limit)
    {
        return Err(VocabError::invalid(
            path,
            format!(
                "rank {r} (line {}) is far past the {} ranks in the file (limit {limit}): \
                 tiktoken ranks are dense ids",
                i + 1,
                ranks.len()
            ),
        ));
    }
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
