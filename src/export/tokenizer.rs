//! The tokenizer plan: `tokenizer.ggml.*` that make llama.cpp's own tokenizer encode text
//! to the ids the model was trained on, or a refusal saying why none would.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::hparams::HParams;
use super::s_;
use crate::gguf::writer::GgufWriter;
use crate::gguf::{GgufArray, GgufValue};
use crate::hf::{Config, TokenizerConfig};
use crate::vocab::{self, LoadOptions, PieceKind, Vocab};

/// `tokenizer.ggml.*` as llama.cpp reads them.
#[derive(Debug)]
pub(super) struct TokenizerPlan {
    /// "llama" (SentencePiece-style BPE) or "gpt2" (byte-level BPE).
    pub(super) model: &'static str,
    pub(super) tokens: Vec<String>,
    scores: Option<Vec<f32>>,
    types: Vec<i32>,
    merges: Option<Vec<String>>,
    add_space_prefix: Option<bool>,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<String>,
}

/// llama.cpp's token types (`llama_token_type`), as SentencePiece numbers them.
const T_NORMAL: i32 = 1;
const T_UNKNOWN: i32 = 2;
const T_CONTROL: i32 = 3;
const T_USER_DEFINED: i32 = 4;
const T_UNUSED: i32 = 5;
const T_BYTE: i32 = 6;

/// How the tokenizer splits text, decided from its serialized pipeline.
enum Kind {
    /// `▁` for spaces, merges replayed by llama.cpp from per-piece scores.
    Spm { add_space_prefix: bool },
    /// GPT-2's byte-level BPE with its own split regex.
    Gpt2,
}

impl TokenizerPlan {
    /// Load the tokenizer in `dir` and plan its GGUF form for `hp`'s vocabulary; steps
    /// llama.cpp cannot reproduce exactly become `notes`.
    pub(super) fn read(
        dir: &Path,
        hp: &HParams,
        config: &Config,
        notes: &mut Vec<String>,
    ) -> Result<TokenizerPlan> {
        let vocab = vocab::load(dir, &LoadOptions::default())?;
        let src = vocab.source.display().to_string();
        let tk = serde_json::to_value(&vocab.tokenizer)
            .map_err(|e| anyhow!("{src}: cannot serialize the tokenizer: {e}"))?;
        let kind = classify(&tk, notes).map_err(|e| anyhow!("{src}: {e}"))?;
        let n = hp.vocab_size;
        if vocab.len() > n {
            bail!(
                "{src}: the tokenizer has {} ids but {} says vocab_size {n}",
                vocab.len(),
                hp.config_path.display()
            );
        }
        let merges = bpe_merges(&tk["model"]).map_err(|e| anyhow!("{src}: {e}"))?;
        let byte_fallback = tk["model"]["byte_fallback"].as_bool() == Some(true);

        // Ids the model has but the tokenizer lacks get the filler llama.cpp's converter
        // writes, typed unused so that no text can produce them.
        let mut tokens = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        for id in 0..n {
            match vocab.raw(id as u32) {
                Some(t) => {
                    tokens.push(t.to_string());
                    types.push(token_type(&vocab, id, t, byte_fallback));
                }
                None => {
                    tokens.push(format!("[PAD{id}]"));
                    types.push(T_UNUSED);
                }
            }
        }
        let mut plan = TokenizerPlan {
            model: "llama",
            tokens,
            scores: None,
            types,
            merges: None,
            add_space_prefix: None,
            bos: vocab.bos_id.or_else(|| config.token_id("bos_token_id")),
            eos: vocab.eos_id.or_else(|| config.token_id("eos_token_id")),
            unk: vocab.unk_id,
            pad: vocab.pad_id,
            add_bos: false,
            add_eos: false,
            chat_template: None,
        };
        match kind {
            Kind::Spm { add_space_prefix } => {
                let (scores, orphans) = spm_scores(&plan.tokens, &plan.types, &merges);
                if orphans > 0 {
                    notes.push(format!(
                        "{orphans} multi-character pieces are produced by no merge; they get \
                         the lowest score, so llama.cpp may still form them where the \
                         tokenizer never would"
                    ));
                }
                plan.scores = Some(scores);
                plan.add_space_prefix = Some(add_space_prefix);
            }
            Kind::Gpt2 => {
                plan.model = "gpt2";
                let mut list = Vec::with_capacity(merges.len());
                for (i, (a, b)) in merges.iter().enumerate() {
                    if a.contains(' ') || b.contains(' ') {
                        bail!("{src}: merge #{i} ({a:?}, {b:?}) contains a space, which GGUF's \"a b\" merges cannot hold");
                    }
                    list.push(format!("{a} {b}"));
                }
                plan.merges = Some(list);
            }
        }
        // Unlike the vocabulary loader, which only looks for token names in it, a broken
        // tokenizer_config.json is an error here: add_bos_token and the chat template
        // change what llama.cpp feeds the model.
        let tok_config = TokenizerConfig::read_in(dir)?;
        let flag = |key: &str| tok_config.as_ref().and_then(|c| c.flag(key));
        plan.add_bos = adds(&vocab, plan.bos, true).or_else(|| flag("add_bos_token")) == Some(true);
        plan.add_eos =
            adds(&vocab, plan.eos, false).or_else(|| flag("add_eos_token")) == Some(true);
        plan.chat_template = tok_config
            .as_ref()
            .and_then(|c| c.chat_template())
            .map(String::from);
        Ok(plan)
    }

    /// The `tokenizer.*` keys.
    pub(super) fn add_metadata(&self, w: &mut GgufWriter) -> Result<()> {
        w.add("tokenizer.ggml.model", s_(self.model))?;
        if self.model == "gpt2" {
            w.add("tokenizer.ggml.pre", s_("gpt-2"))?;
        }
        w.add(
            "tokenizer.ggml.tokens",
            GgufValue::Array(GgufArray::Str(self.tokens.clone())),
        )?;
        if let Some(s) = &self.scores {
            w.add(
                "tokenizer.ggml.scores",
                GgufValue::Array(GgufArray::F32(s.clone())),
            )?;
        }
        w.add(
            "tokenizer.ggml.token_type",
            GgufValue::Array(GgufArray::I32(self.types.clone())),
        )?;
        if let Some(m) = &self.merges {
            w.add(
                "tokenizer.ggml.merges",
                GgufValue::Array(GgufArray::Str(m.clone())),
            )?;
        }
        let ids = [
            ("tokenizer.ggml.bos_token_id", self.bos),
            ("tokenizer.ggml.eos_token_id", self.eos),
            ("tokenizer.ggml.unknown_token_id", self.unk),
            ("tokenizer.ggml.padding_token_id", self.pad),
        ];
        for (key, id) in ids {
            if let Some(id) = id {
                w.add(key, GgufValue::U32(id))?;
            }
        }
        w.add(
            "tokenizer.ggml.add_bos_token",
            GgufValue::Bool(self.add_bos),
        )?;
        w.add(
            "tokenizer.ggml.add_eos_token",
            GgufValue::Bool(self.add_eos),
        )?;
        if let Some(p) = self.add_space_prefix {
            w.add("tokenizer.ggml.add_space_prefix", GgufValue::Bool(p))?;
        }
        if let Some(t) = &self.chat_template {
            w.add("tokenizer.chat_template", s_(t))?;
        }
        Ok(())
    }
}

/// Whether the tokenizer's post-processor puts `id` first (`first`) or last when special
/// tokens are added; `None` when it does not, so tokenizer_config.json decides (as the
/// verifier decides whether prompts start with BOS).
fn adds(vocab: &Vocab, id: Option<u32>, first: bool) -> Option<bool> {
    let id = id?;
    let with = vocab.tokenizer.encode_fast("a", true).ok()?;
    let without = vocab.tokenizer.encode_fast("a", false).ok()?;
    let ids = with.get_ids();
    let added = ids.len() > without.get_ids().len();
    let at = if first { ids.first() } else { ids.last() };
    (added && at == Some(&id)).then_some(true)
}

fn token_type(vocab: &Vocab, id: usize, piece: &str, byte_fallback: bool) -> i32 {
    if vocab.unk_id == Some(id as u32) {
        return T_UNKNOWN;
    }
    match vocab.kinds.get(id).copied().unwrap_or(PieceKind::Normal) {
        PieceKind::Unknown => T_UNKNOWN,
        PieceKind::Control => T_CONTROL,
        PieceKind::UserDefined => T_USER_DEFINED,
        PieceKind::Unused => T_UNUSED,
        PieceKind::Byte => T_BYTE,
        PieceKind::Normal if byte_fallback && is_byte_piece(piece) => T_BYTE,
        PieceKind::Normal if vocab.special_ids.contains(&(id as u32)) => T_CONTROL,
        PieceKind::Normal => T_NORMAL,
    }
}

/// `<0xXX>`: SentencePiece's byte-fallback pieces (llama.cpp maps them back to bytes).
fn is_byte_piece(p: &str) -> bool {
    p.len() == 6
        && p.starts_with("<0x")
        && p.ends_with('>')
        && p[3..5].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Scores that make llama.cpp's SentencePiece merging (repeatedly join the adjacent pair
/// whose joined piece has the highest score, leftmost on ties) replay the BPE merge order:
/// a piece's score is minus the rank of the first merge producing it. Pieces no merge
/// produces get 0 when they are single characters, bytes or specials (their score is never
/// consulted) and the lowest score otherwise, so they are formed last if at all. Returns
/// the scores and the number of such orphan pieces.
fn spm_scores(tokens: &[String], types: &[i32], merges: &[(String, String)]) -> (Vec<f32>, usize) {
    let mut rank: HashMap<String, usize> = HashMap::with_capacity(merges.len());
    for (r, (a, b)) in merges.iter().enumerate() {
        rank.entry(format!("{a}{b}")).or_insert(r);
    }
    let lowest = -(merges.len() as f32);
    let mut orphans = 0;
    let scores = tokens
        .iter()
        .zip(types)
        .map(|(t, &ty)| match rank.get(t) {
            Some(&r) => -(r as f32),
            None if matches!(ty, T_NORMAL | T_USER_DEFINED) && t.chars().nth(1).is_some() => {
                orphans += 1;
                lowest
            }
            None => 0.0,
        })
        .collect();
    (scores, orphans)
}

/// The BPE merges in rank order, from the serialized model (pairs, or "a b" strings in
/// older files).
fn bpe_merges(model: &Value) -> std::result::Result<Vec<(String, String)>, String> {
    let Some(list) = model.get("merges").and_then(|m| m.as_array()) else {
        return Err("the BPE model has no merges".into());
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let pair = match m {
                Value::String(s) => s.split_once(' ').map(|(a, b)| (a.into(), b.into())),
                Value::Array(a) if a.len() == 2 => a[0]
                    .as_str()
                    .zip(a[1].as_str())
                    .map(|(x, y)| (x.into(), y.into())),
                _ => None,
            };
            pair.ok_or_else(|| format!("merge #{i} is not a pair: {m}"))
        })
        .collect()
}

/// The parts of a component (normalizer, pre-tokenizer), with `Sequence`s flattened.
fn parts(v: &Value) -> Vec<&Value> {
    match v.get("type").and_then(|t| t.as_str()) {
        Some("Sequence") => v
            .get("normalizers")
            .or_else(|| v.get("pretokenizers"))
            .and_then(|a| a.as_array())
            .map(|a| a.iter().flat_map(parts).collect())
            .unwrap_or_default(),
        Some(_) => vec![v],
        None => vec![],
    }
}

fn type_of(v: &Value) -> &str {
    v.get("type").and_then(|t| t.as_str()).unwrap_or("?")
}

/// Decide which llama.cpp tokenizer reproduces this pipeline. Errors say why none does;
/// pipeline steps llama.cpp skips but that rarely matter become notes.
fn classify(tk: &Value, notes: &mut Vec<String>) -> std::result::Result<Kind, String> {
    let model = &tk["model"];
    let mtype = type_of(model);
    if mtype != "BPE" {
        return Err(format!(
            "tokenizer model {mtype} is not supported (export-gguf writes SentencePiece-style \
             BPE with byte fallback, or GPT-2 byte-level BPE)"
        ));
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if model[key].as_str().is_some_and(|s| !s.is_empty()) {
            return Err(format!("BPE {key} is not supported"));
        }
    }
    if model["ignore_merges"].as_bool() == Some(true) {
        return Err("BPE ignore_merges is not supported".into());
    }
    let norms = parts(&tk["normalizer"]);
    let pres = parts(&tk["pre_tokenizer"]);
    if pres.iter().any(|p| type_of(p) == "ByteLevel") {
        let byte_level_only = pres.len() == 1
            && pres[0]["use_regex"].as_bool() != Some(false)
            && pres[0]["add_prefix_space"].as_bool() != Some(true);
        if !norms.is_empty() || !byte_level_only {
            return Err(
                "byte-level BPE whose normalizer or pre-tokenizer is not GPT-2's (a lone \
                 ByteLevel with its regex and no prefix space) is not supported"
                    .into(),
            );
        }
        return Ok(Kind::Gpt2);
    }
    let is = |v: &Value, key: &str, want: &str| v[key].as_str() == Some(want);
    let space_to_meta = |n: &&Value| {
        type_of(n) == "Replace" && is(&n["pattern"], "String", " ") && is(n, "content", "▁")
    };
    let metaspace = pres.iter().find(|p| type_of(p) == "Metaspace");
    if !norms.iter().any(space_to_meta) && metaspace.is_none() {
        return Err(
            "BPE tokenizer is neither byte-level nor SentencePiece-style (spaces as ▁); not \
             supported"
                .into(),
        );
    }
    let prepend = norms
        .iter()
        .any(|n| type_of(n) == "Prepend" && is(n, "prepend", "▁"));
    let meta_prepends = metaspace.is_some_and(|m| {
        m["prepend_scheme"]
            .as_str()
            .map_or(m["add_prefix_space"].as_bool() == Some(true), |s| {
                s != "never"
            })
    });
    for n in &norms {
        let harmless = space_to_meta(n)
            || (type_of(n) == "Prepend" && is(n, "prepend", "▁"))
            // Doubling a leading ▁ before a prepending Metaspace is SentencePiece's dummy
            // prefix written another way.
            || (type_of(n) == "Replace"
                && is(&n["pattern"], "Regex", "\\A▁")
                && is(n, "content", "▁▁"));
        if !harmless {
            notes.push(format!(
                "the tokenizer's {} normalizer step ({n}) has no llama.cpp equivalent; text \
                 it changes may encode differently in llama.cpp",
                type_of(n)
            ));
        }
    }
    for p in &pres {
        if type_of(p) != "Metaspace" || p["split"].as_bool() == Some(true) {
            notes.push(format!(
                "the tokenizer's {} pre-tokenizer step ({p}) has no llama.cpp equivalent",
                type_of(p)
            ));
        }
    }
    Ok(Kind::Spm {
        add_space_prefix: prepend || meta_prepends,
    })
}
