//! Builders that turn a format's raw data into a `tokenizers::Tokenizer`, the way the
//! Hugging Face converters do, so that a SentencePiece, tiktoken or GGUF vocabulary encodes
//! exactly like the `tokenizer.json` a user would get from `transformers` — and we never
//! write a BPE engine of our own.

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::BPE;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{
    precompiled::Precompiled, replace::ReplacePattern, NormalizerWrapper, Prepend, Replace,
    Sequence as NormSequence,
};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use super::PieceKind;

/// One SentencePiece-style piece (from a `.model` file or a GGUF `llama` vocabulary).
#[derive(Debug, Clone)]
pub struct Piece {
    /// The piece's text, with '▁' for a space.
    pub piece: String,
    /// Its score: the merge priority for BPE, the log-probability for Unigram.
    pub score: f32,
    /// What the file declares it to be.
    pub kind: PieceKind,
}

/// The two SentencePiece algorithms, which read the same pieces differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpmModel {
    /// Scores are merge priorities (Llama 1/2, `llama` GGUF vocabularies).
    Bpe,
    /// Scores are log-probabilities, best segmentation by Viterbi (T5, `t5` GGUF).
    Unigram,
}

/// How a SentencePiece vocabulary encodes (TrainerSpec / NormalizerSpec fields we honour).
#[derive(Debug, Clone)]
pub struct SpmOptions {
    /// Which algorithm the scores are for.
    pub model: SpmModel,
    /// Unknown characters become their UTF-8 byte pieces instead of `<unk>`.
    pub byte_fallback: bool,
    /// A space is put before the text, so the first word encodes like any other.
    pub add_dummy_prefix: bool,
    /// SentencePiece's default: drop leading/trailing spaces and collapse runs of spaces.
    pub remove_extra_whitespaces: bool,
    /// The normalizer's compiled character map (NFKC and the like), when the model has one.
    pub precompiled_charsmap: Option<Vec<u8>>,
}

/// Build a tokenizer for SentencePiece pieces, as transformers' `LlamaConverter` /
/// `SpmConverter` do. Control and unknown pieces become special added tokens (so the
/// audit can tell OK_SPECIAL), user-defined pieces non-special added tokens.
pub fn spm_tokenizer(pieces: &[Piece], opts: &SpmOptions) -> Result<Tokenizer, String> {
    let unk = pieces.iter().position(|p| p.kind == PieceKind::Unknown);
    let model: tokenizers::models::ModelWrapper = match opts.model {
        SpmModel::Bpe => {
            let mut vocab: HashMap<String, u32> = HashMap::with_capacity(pieces.len());
            for (i, p) in pieces.iter().enumerate() {
                vocab.entry(p.piece.clone()).or_insert(i as u32);
            }
            let merges = spm_merges(pieces, &vocab);
            let mut b = BPE::builder()
                .vocab_and_merges(vocab.into_iter().collect::<ahash::AHashMap<_, _>>(), merges)
                .byte_fallback(opts.byte_fallback)
                .fuse_unk(true);
            if let Some(u) = unk {
                b = b.unk_token(pieces[u].piece.clone());
            }
            b.build().map_err(|e| e.to_string())?.into()
        }
        SpmModel::Unigram => {
            let vocab = pieces
                .iter()
                .map(|p| (p.piece.clone(), p.score as f64))
                .collect();
            Unigram::from(vocab, unk.or(Some(0)), opts.byte_fallback)
                .map_err(|e| e.to_string())?
                .into()
        }
    };
    let mut tk = Tokenizer::new(model);

    let mut norms: Vec<NormalizerWrapper> = Vec::new();
    if let Some(map) = opts
        .precompiled_charsmap
        .as_deref()
        .filter(|m| !m.is_empty())
    {
        check_charsmap(map).map_err(|e| format!("precompiled charsmap: {e}"))?;
        let pc = Precompiled::from(map).map_err(|e| format!("precompiled charsmap: {e}"))?;
        norms.push(pc.into());
    }
    if opts.remove_extra_whitespaces {
        let re = |p: &str, c: &str| -> Result<NormalizerWrapper, String> {
            Ok(Replace::new(ReplacePattern::Regex(p.into()), c)
                .map_err(|e| e.to_string())?
                .into())
        };
        norms.push(re(r"\A +| +\z", "")?);
        norms.push(re(r" {2,}", " ")?);
    }
    match opts.model {
        SpmModel::Bpe => {
            if opts.add_dummy_prefix {
                norms.push(Prepend::new("▁".into()).into());
            }
            norms.push(Replace::new(" ", "▁").map_err(|e| e.to_string())?.into());
        }
        SpmModel::Unigram => {
            let scheme = if opts.add_dummy_prefix {
                PrependScheme::Always
            } else {
                PrependScheme::Never
            };
            tk.with_pre_tokenizer(Some(PreTokenizerWrapper::Metaspace(Metaspace::new(
                '▁', scheme, true,
            ))));
        }
    }
    if !norms.is_empty() {
        tk.with_normalizer(Some(NormalizerWrapper::Sequence(NormSequence::new(norms))));
    }
    let mut decs: Vec<DecoderWrapper> = vec![
        tokenizers::decoders::DecoderWrapper::Replace(
            tokenizers::normalizers::Replace::new("▁", " ").map_err(|e| e.to_string())?,
        ),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if opts.add_dummy_prefix {
        decs.push(Strip::new(' ', 1, 0).into());
    }
    tk.with_decoder(Some(DecoderSequence::new(decs)));

    let mut added = Vec::new();
    for p in pieces {
        match p.kind {
            PieceKind::Control | PieceKind::Unknown => {
                added.push(AddedToken::from(p.piece.clone(), true).normalized(false))
            }
            PieceKind::UserDefined => {
                added.push(AddedToken::from(p.piece.clone(), false).normalized(false))
            }
            _ => {}
        }
    }
    tk.add_tokens(&added);
    Ok(tk)
}

/// Check a SentencePiece precompiled charsmap (u32 trie size, the double-array trie's u32
/// units, then NUL-separated replacement strings) before the `spm_precompiled` crate
/// reads it. That crate trusts the file: it reserves memory for whatever trie size is
/// declared, and on every encode it indexes the trie and the strings unchecked. So the
/// size is checked against the bytes present, and every trie node that some input can
/// reach is walked (as its `common_prefix_search` does) to check that each lookup stays
/// inside the trie and each replacement starts inside the strings, on a char boundary.
pub(crate) fn check_charsmap(map: &[u8]) -> Result<(), String> {
    let Some(head) = map.first_chunk::<4>() else {
        return Err(format!(
            "{} bytes, shorter than its 4-byte trie size",
            map.len()
        ));
    };
    let size = u32::from_le_bytes(*head) as usize;
    if !size.is_multiple_of(4) || size > map.len() - 4 {
        return Err(format!(
            "trie size {size} is not a multiple of 4 that fits in the {} bytes that follow",
            map.len() - 4
        ));
    }
    let units: Vec<usize> = map[4..4 + size]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let normalized = std::str::from_utf8(&map[4 + size..])
        .map_err(|_| "the replacement strings are not UTF-8".to_string())?;
    let Some(&root) = units.first() else {
        return Err("the trie is empty".into());
    };
    // Unit layout, as spm_precompiled (and SentencePiece's darts-clone) decode it.
    let offset = |u: usize| (u >> 10) << ((u & (1 << 9)) >> 6);
    let label = |u: usize| u & ((1 << 31) | 0xFF);
    let has_leaf = |u: usize| (u >> 8) & 1 == 1;
    let value = |u: usize| u & ((1 << 31) - 1);
    let outside = || "a trie lookup would fall outside the trie".to_string();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![offset(root)];
    while let Some(pos) = stack.pop() {
        for c in 1..=255usize {
            let child = pos ^ c;
            let &unit = units.get(child).ok_or_else(outside)?;
            if label(unit) != c {
                continue;
            }
            let next = child ^ offset(unit);
            if has_leaf(unit) {
                let v = value(*units.get(next).ok_or_else(outside)?);
                if !normalized.is_char_boundary(v) {
                    return Err(format!(
                        "replacement at byte {v} is outside the {}-byte strings or inside a \
                         character",
                        normalized.len()
                    ));
                }
            }
            if seen.insert(next) {
                stack.push(next);
            }
        }
    }
    Ok(())
}

/// Merges for a SentencePiece BPE vocabulary, ranked by the merged piece's score — what
/// transformers' `generate_merges` does, which reproduces SentencePiece's greedy
/// highest-score merge order.
fn spm_merges(pieces: &[Piece], vocab: &HashMap<String, u32>) -> Vec<(String, String)> {
    let mut merges: Vec<(f32, usize, usize, u32, u32, String, String)> = Vec::new();
    for p in pieces {
        if !matches!(p.kind, PieceKind::Normal | PieceKind::UserDefined) {
            continue;
        }
        let s = &p.piece;
        let mut local = Vec::new();
        for (i, _) in s.char_indices().skip(1) {
            let (l, r) = s.split_at(i);
            if let (Some(&li), Some(&ri)) = (vocab.get(l), vocab.get(r)) {
                local.push((
                    p.score,
                    l.len(),
                    r.len(),
                    li,
                    ri,
                    l.to_string(),
                    r.to_string(),
                ));
            }
        }
        local.sort_by_key(|m| (m.3, m.4));
        merges.extend(local);
    }
    // Stable sort: score desc, then longer left, then longer right (transformers' key).
    merges.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(b.1.cmp(&a.1))
            .then(b.2.cmp(&a.2))
    });
    merges.into_iter().map(|m| (m.5, m.6)).collect()
}

/// A special or added token placed at a fixed id.
#[derive(Debug, Clone)]
pub struct Added {
    /// The id the file gives it (added tokens keep their ids, they are not appended).
    pub id: u32,
    /// Its text, matched in raw input before any splitting.
    pub content: String,
    /// Marked special in the tokenizer (control tokens), or a plain added token
    /// (user-defined pieces).
    pub special: bool,
}

/// How a byte-level BPE splits text before merging.
#[derive(Debug, Clone)]
pub enum PreSplit {
    /// GPT-2's built-in regex inside the ByteLevel pre-tokenizer.
    Gpt2,
    /// One or more regexes applied in turn (tiktoken presets, llama.cpp `pre` types).
    Regexes(Vec<String>),
}

/// Byte-level BPE (GPT-2, tiktoken, GGUF `gpt2`): vocab in byte-level strings, merges in
/// rank order. Added tokens keep the ids given, so tiktoken's gaps (cl100k has no
/// 100256) and GGUF's ids stay exact.
pub fn byte_level_bpe(
    mut vocab: HashMap<String, u32>,
    merges: Vec<(String, String)>,
    split: &PreSplit,
    ignore_merges: bool,
    added: &[Added],
) -> Result<Tokenizer, String> {
    for a in added {
        vocab.entry(a.content.clone()).or_insert(a.id);
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab.into_iter().collect::<ahash::AHashMap<_, _>>(), merges)
        .ignore_merges(ignore_merges)
        .cache_capacity(0)
        .build()
        .map_err(|e| e.to_string())?;
    let mut tk = Tokenizer::new(bpe);
    let pre: PreTokenizerWrapper = match split {
        PreSplit::Gpt2 => ByteLevel::new(false, true, true).into(),
        PreSplit::Regexes(rs) => {
            let mut seq: Vec<PreTokenizerWrapper> = Vec::new();
            for r in rs {
                let s = Split::new(
                    SplitPattern::Regex(r.clone()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map_err(|e| format!("split regex {r:?}: {e}"))?;
                seq.push(s.into());
            }
            seq.push(ByteLevel::new(false, true, false).into());
            PreSequence::new(seq).into()
        }
    };
    tk.with_pre_tokenizer(Some(pre));
    tk.with_decoder(Some(ByteLevelDecoder::default()));
    let tokens: Vec<AddedToken> = added
        .iter()
        .map(|a| AddedToken::from(a.content.clone(), a.special).normalized(false))
        .collect();
    tk.add_tokens(&tokens);
    Ok(tk)
}
