//! The tokenizer audit (docs/methods.md §3): decode every id, re-encode the text, and sort the id
//! into the published categories; count bytes, specials, unreachable and partial-UTF-8
//! tokens exactly as the published tables define them.

pub mod compare;
pub mod guard;

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::util::progress;
use crate::vocab::{bytelevel, Vocab};

pub use guard::Guard;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Category {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "OK_SPECIAL")]
    OkSpecial,
    #[serde(rename = "UNREACHABLE_SPECIAL")]
    UnreachableSpecial,
    #[serde(rename = "UNDECODEABLE")]
    Undecodeable,
    #[serde(rename = "UNREACHABLE_SINGLE")]
    UnreachableSingle,
    #[serde(rename = "UNREACHABLE_MULTI")]
    UnreachableMulti,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Ok,
        Category::OkSpecial,
        Category::UnreachableSpecial,
        Category::Undecodeable,
        Category::UnreachableSingle,
        Category::UnreachableMulti,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Category::Ok => "OK",
            Category::OkSpecial => "OK_SPECIAL",
            Category::UnreachableSpecial => "UNREACHABLE_SPECIAL",
            Category::Undecodeable => "UNDECODEABLE",
            Category::UnreachableSingle => "UNREACHABLE_SINGLE",
            Category::UnreachableMulti => "UNREACHABLE_MULTI",
        }
    }
    pub fn is_ok(self) -> bool {
        matches!(self, Category::Ok | Category::OkSpecial)
    }
    pub fn is_unreachable(self) -> bool {
        matches!(
            self,
            Category::UnreachableSpecial | Category::UnreachableSingle | Category::UnreachableMulti
        )
    }
}

impl std::str::FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Category::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown category '{s}'"))
    }
}

/// Which kind of byte a byte token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ByteKind {
    Ascii,
    Utf8,
    UnusedUtf8,
}

impl ByteKind {
    pub fn of(b: u8) -> ByteKind {
        if b < 0x80 {
            ByteKind::Ascii
        } else if b == 0xC0 || b == 0xC1 || b >= 0xF5 {
            ByteKind::UnusedUtf8
        } else {
            ByteKind::Utf8
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ByteKind::Ascii => "ascii",
            ByteKind::Utf8 => "utf8",
            ByteKind::UnusedUtf8 => "unused_utf8",
        }
    }
}

/// One id's audit result.
#[derive(Debug, Clone, Serialize)]
pub struct TokenAudit {
    pub id: u32,
    pub raw: String,
    pub decoded: String,
    pub category: Category,
    /// The byte this token stands for, under the summary-count definition.
    pub byte: Option<u8>,
    /// Special under the summary-count definition (raw `<…>` / `[…]` with a letter).
    pub is_special: bool,
    pub reencoded: Vec<u32>,
}

impl TokenAudit {
    pub fn byte_kind(&self) -> Option<ByteKind> {
        self.byte.map(ByteKind::of)
    }
}

/// The four published summary counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub bytes: usize,
    pub special: usize,
    pub unreachable: usize,
    pub partial_utf8: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub vocab_size: usize,
    /// Ids the file leaves unassigned (e.g. gaps between tiktoken specials).
    pub holes: usize,
    pub byte_level: bool,
    /// The guard character used to protect leading spaces, if the tokenizer needs one.
    pub guard: Option<char>,
    pub counts: Counts,
    pub byte_kinds: BTreeMap<&'static str, usize>,
    pub categories: BTreeMap<&'static str, usize>,
    #[serde(skip)]
    pub tokens: Vec<TokenAudit>,
}

impl AuditReport {
    pub fn token(&self, id: u32) -> Option<&TokenAudit> {
        self.tokens
            .binary_search_by_key(&id, |t| t.id)
            .ok()
            .map(|i| &self.tokens[i])
    }
}

/// Byte-level BPE vocabularies (GPT-2 style) are recognised the published way: more than
/// a tenth of the raw entries start with `Ġ`.
pub fn is_byte_level(vocab: &Vocab) -> bool {
    let n = vocab.raw.iter().flatten().count();
    let g = vocab
        .raw
        .iter()
        .flatten()
        .filter(|r| r.starts_with('Ġ'))
        .count();
    g * 10 > n
}

/// The byte a raw entry stands for, per the published definition.
pub fn raw_byte(raw: &str, byte_level: bool) -> Option<u8> {
    let mut chars = raw.chars();
    let first = chars.next()?;
    let single = chars.next().is_none();
    if byte_level {
        if single {
            return bytelevel::string_to_bytes(raw).map(|b| b[0]);
        }
        return None;
    }
    if raw.len() == 6 && raw.starts_with("<0x") && raw.ends_with('>') {
        return u8::from_str_radix(&raw[3..5], 16).ok();
    }
    if single && (first as u32) <= 127 {
        return Some(first as u8);
    }
    None
}

/// Special per the published definition: `<…>`/`[…]`, ≥ 3 chars, an ASCII letter, not `<0x`.
pub fn raw_is_special(raw: &str) -> bool {
    raw.chars().count() >= 3
        && (raw.starts_with('[') || raw.starts_with('<'))
        && (raw.ends_with(']') || raw.ends_with('>'))
        && raw.chars().any(|c| c.is_ascii_alphabetic())
        && !raw.starts_with("<0x")
}

/// Categorize one id (rules of docs/methods.md §3, first match wins).
pub fn categorize(vocab: &Vocab, guard: &Guard, id: u32) -> (String, Vec<u32>, Category) {
    let decoded = guard.decode(vocab, id);
    let reencoded = guard.encode(vocab, &decoded);
    let category = if reencoded.len() == 1 && reencoded[0] == id {
        if vocab.special_ids.contains(&id) {
            Category::OkSpecial
        } else {
            Category::Ok
        }
    } else if decoded.chars().count() >= 3
        && (decoded.starts_with('[') || decoded.starts_with('<'))
        && (decoded.ends_with(']') || decoded.ends_with('>'))
        && decoded.chars().any(|c| c.is_alphabetic())
    {
        Category::UnreachableSpecial
    } else if decoded.contains('\u{FFFD}') {
        Category::Undecodeable
    } else if reencoded.len() == 1 {
        Category::UnreachableSingle
    } else {
        Category::UnreachableMulti
    };
    (decoded, reencoded, category)
}

/// Audit every id of the vocabulary, in parallel, with a progress bar for large ones.
pub fn audit(vocab: &Vocab) -> AuditReport {
    let guard = Guard::detect(vocab);
    let byte_level = is_byte_level(vocab);
    let ids: Vec<u32> = (0..vocab.len() as u32)
        .filter(|&i| vocab.raw(i).is_some())
        .collect();
    let bar = progress::bar(ids.len() as u64, "auditing");
    let tokens: Vec<TokenAudit> = ids
        .par_iter()
        .map(|&id| {
            let raw = vocab.raw(id).unwrap_or_default().to_string();
            let (decoded, reencoded, category) = categorize(vocab, &guard, id);
            bar.inc(1);
            TokenAudit {
                id,
                byte: raw_byte(&raw, byte_level),
                is_special: raw_is_special(&raw),
                raw,
                decoded,
                category,
                reencoded,
            }
        })
        .collect();
    bar.finish_and_clear();
    summarize(vocab, guard.char(), byte_level, tokens)
}

fn summarize(
    vocab: &Vocab,
    guard: Option<char>,
    byte_level: bool,
    tokens: Vec<TokenAudit>,
) -> AuditReport {
    let mut counts = Counts::default();
    let mut categories: BTreeMap<&'static str, usize> =
        Category::ALL.iter().map(|c| (c.name(), 0)).collect();
    let mut byte_kinds: BTreeMap<&'static str, usize> =
        [ByteKind::Ascii, ByteKind::Utf8, ByteKind::UnusedUtf8]
            .iter()
            .map(|k| (k.name(), 0))
            .collect();
    for t in &tokens {
        *categories.entry(t.category.name()).or_default() += 1;
        if let Some(k) = t.byte_kind() {
            counts.bytes += 1;
            *byte_kinds.entry(k.name()).or_default() += 1;
        }
        if t.is_special {
            counts.special += 1;
        }
        let plain = t.byte.is_none() && !t.is_special;
        if plain && t.category.is_unreachable() {
            counts.unreachable += 1;
        }
        if plain && t.category == Category::Undecodeable {
            counts.partial_utf8 += 1;
        }
    }
    AuditReport {
        vocab_size: vocab.len(),
        holes: vocab.holes(),
        byte_level,
        guard,
        counts,
        byte_kinds,
        categories,
        tokens,
    }
}
