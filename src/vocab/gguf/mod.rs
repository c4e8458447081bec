//! GGUF vocabularies (`tokenizer.ggml.*` metadata of llama.cpp model or vocab-only files).
//!
//! llama.cpp's own test vectors are generated with the Hugging Face tokenizer of each model,
//! so we rebuild that tokenizer from the GGUF fields with the shared builders: `llama` →
//! SentencePiece-style BPE, `t5` → Unigram, `gpt2` → byte-level BPE with the split regexes
//! of llama.cpp's `pre` type, `bert` → WordPiece.

mod bpe;
mod pre;
mod spm;
mod wordpiece;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::build::SpmModel;
use super::{PieceKind, Result, Vocab, VocabError};
use crate::gguf::{GgufArray, GgufError, GgufFile, GgufValue};
use bpe::bpe_vocab;
use spm::spm_vocab;
use wordpiece::wordpiece_vocab;

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
const KEY_CHARSMAP: &str = "tokenizer.ggml.precompiled_charsmap";
const KEY_REMOVE_EXTRA_WS: &str = "tokenizer.ggml.remove_extra_whitespaces";

impl From<GgufError> for VocabError {
    fn from(e: GgufError) -> VocabError {
        match e {
            GgufError::Io { path, source } => VocabError::Io { path, source },
            GgufError::Invalid { path, msg } => VocabError::Invalid { path, msg },
            GgufError::Truncated {
                path,
                what,
                need,
                offset,
                len,
            } => VocabError::Invalid {
                path,
                msg: format!(
                    "truncated: {what} needs {need} bytes at offset {offset}, file has {len}"
                ),
            },
        }
    }
}

/// Load the vocabulary of a GGUF file.
pub fn load(path: &Path) -> Result<Vocab> {
    let file = GgufFile::open(path)?;
    let model = file
        .get_str(KEY_MODEL)
        .ok_or_else(|| match file.get(KEY_MODEL) {
            Some(v) => wrong_type(path, KEY_MODEL, v, "string"),
            None => VocabError::invalid(
                path,
                format!("no {KEY_MODEL} key: this GGUF file carries no tokenizer"),
            ),
        })?;
    let fields = Fields::read(&file, path)?;
    let ids = NamedIds::read(&file, &fields);
    let mut vocab = match model {
        "llama" => spm_vocab(&file, path, &fields, SpmModel::Bpe)?,
        "t5" => spm_vocab(&file, path, &fields, SpmModel::Unigram)?,
        "gpt2" => bpe_vocab(&file, path, &fields)?,
        "bert" => wordpiece_vocab(path, &fields, ids.unk)?,
        other => {
            return Err(VocabError::invalid(
                path,
                format!(
                    "tokenizer model '{other}' is not supported \
                     (supported: llama, t5, gpt2, bert)"
                ),
            ))
        }
    };
    vocab.set_named_specials(ids.bos, ids.eos, ids.unk, ids.pad);
    Ok(vocab)
}

/// The per-token arrays, checked to be the same length.
struct Fields {
    tokens: Vec<String>,
    scores: Vec<f32>,
    kinds: Vec<PieceKind>,
    /// What the audit reports as the tokenizer's specials: control and unknown tokens,
    /// and the ids the metadata names as sep, cls or mask.
    specials: BTreeSet<u32>,
}

impl Fields {
    fn read(file: &GgufFile, path: &Path) -> Result<Fields> {
        let tokens = match file.get(KEY_TOKENS) {
            None => {
                return Err(VocabError::invalid(
                    path,
                    format!("no {KEY_TOKENS} key: this GGUF file has no vocabulary"),
                ))
            }
            Some(GgufValue::Array(GgufArray::Str(t))) => t,
            Some(v) => return Err(wrong_type(path, KEY_TOKENS, v, "array of string")),
        };
        if tokens.is_empty() {
            return Err(VocabError::invalid(path, format!("{KEY_TOKENS} is empty")));
        }
        let n = tokens.len();
        let scores = match file.get(KEY_SCORES) {
            None => vec![0.0; n],
            Some(GgufValue::Array(GgufArray::F32(s))) => s.clone(),
            // llama.cpp also accepts integer scores.
            Some(GgufValue::Array(GgufArray::I32(s))) => s.iter().map(|&x| x as f32).collect(),
            Some(v) => return Err(wrong_type(path, KEY_SCORES, v, "array of f32")),
        };
        let types = match file.get(KEY_TYPES) {
            None => vec![1; n],
            Some(GgufValue::Array(GgufArray::I32(t))) => t.clone(),
            Some(v) => return Err(wrong_type(path, KEY_TYPES, v, "array of i32")),
        };
        for (key, len) in [(KEY_SCORES, scores.len()), (KEY_TYPES, types.len())] {
            if len != n {
                return Err(VocabError::invalid(
                    path,
                    format!("{key} has {len} entries but {KEY_TOKENS} has {n}"),
                ));
            }
        }
        let mut tokens = tokens.clone();
        // llama.cpp renames empty entries the same way, so ids stay distinct.
        for (i, t) in tokens.iter_mut().enumerate() {
            if t.is_empty() {
                *t = format!("[EMPTY_{i}]");
            }
        }
        check_unique(path, &tokens)?;
        let kinds: Vec<PieceKind> = tokens
            .iter()
            .zip(&types)
            .enumerate()
            .map(|(i, (t, &ty))| {
                if is_placeholder(t, i) {
                    PieceKind::Unused
                } else {
                    PieceKind::from_spm(ty.into())
                }
            })
            .collect();
        let mut specials: BTreeSet<u32> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| matches!(k, PieceKind::Control | PieceKind::Unknown))
            .map(|(i, _)| i as u32)
            .collect();
        specials.extend(extra_special_ids(file, n));
        Ok(Fields {
            tokens,
            scores,
            kinds,
            specials,
        })
    }
}

/// `[PAD{id}]` at its own id is a filler that llama.cpp's converter writes for ids the
/// Hugging Face tokenizer does not have (older converters typed it user-defined, some even
/// unknown). Treating it as a real added token would make text like "[PAD32022]" encode to
/// an id the original tokenizer never produces, so it is kept as an unused entry.
fn is_placeholder(token: &str, id: usize) -> bool {
    token
        .strip_prefix("[PAD")
        .and_then(|s| s.strip_suffix(']'))
        .is_some_and(|n| n == id.to_string())
}

/// llama.cpp refuses duplicate entries; so do we, rather than silently losing an id.
fn check_unique(path: &Path, tokens: &[String]) -> Result<()> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        if let Some(first) = seen.insert(t, i) {
            return Err(VocabError::invalid(
                path,
                format!("duplicate token {t:?} in {KEY_TOKENS} at ids {first} and {i}"),
            ));
        }
    }
    Ok(())
}

fn wrong_type(path: &Path, key: &str, v: &GgufValue, want: &str) -> VocabError {
    VocabError::invalid(
        path,
        format!("{key} has type {}, expected {want}", v.type_name()),
    )
}

/// bos/eos/unk/pad ids from the metadata, kept only when they name an existing id.
struct NamedIds {
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
}

impl NamedIds {
    fn read(file: &GgufFile, fields: &Fields) -> NamedIds {
        let n = fields.tokens.len() as u64;
        let id = |key: &str| {
            file.get_u64(&format!("tokenizer.ggml.{key}"))
                .filter(|&i| i < n)
                .map(|i| i as u32)
        };
        // BERT files name the [CLS] token, which plays the role of bos.
        let bos = id("bos_token_id").or_else(|| id("cls_token_id"));
        let unk = id("unknown_token_id").or_else(|| {
            let first_unknown = fields.kinds.iter().position(|k| *k == PieceKind::Unknown);
            first_unknown.map(|i| i as u32)
        });
        NamedIds {
            bos,
            eos: id("eos_token_id"),
            unk,
            pad: id("padding_token_id"),
        }
    }
}

/// Ids of the other named specials (sep, cls, mask) that the audit counts as specials.
fn extra_special_ids(file: &GgufFile, n: usize) -> impl Iterator<Item = u32> + '_ {
    // "seperator" is how llama.cpp spells the key.
    ["seperator_token_id", "cls_token_id", "mask_token_id"]
        .into_iter()
        .filter_map(move |k| file.get_u64(&format!("tokenizer.ggml.{k}")))
        .filter(move |&i| i < n as u64)
        .map(|i| i as u32)
}

fn build_error(path: &Path, what: &str, e: impl std::fmt::Display) -> VocabError {
    VocabError::invalid(path, format!("building the {what} tokenizer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::builder::{write, Builder};

    fn load_bytes(b: &Builder) -> std::result::Result<Vocab, String> {
        let f = write(&b.0);
        load(f.path()).map_err(|e| e.to_string())
    }

    fn load_err(b: &Builder) -> String {
        match load_bytes(b) {
            Ok(_) => panic!("expected an error"),
            Err(e) => {
                assert!(e.contains(".gguf: "), "message names the file: {e}");
                e
            }
        }
    }

    const LLAMA_TOKENS: &[&str] = &["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab"];

    /// A tiny SentencePiece vocabulary with `extra` more metadata entries.
    fn tiny_llama(extra: u64) -> Builder {
        let mut b = Builder::header(3, 0, 6 + extra);
        b.kv_str(KEY_MODEL, "llama")
            .kv_str_array(KEY_TOKENS, LLAMA_TOKENS)
            .kv_f32_array(
                KEY_SCORES,
                &[0.0, 0.0, 0.0, -3.0, -2.0, -3.0, -1.5, -1.0, -0.5],
            )
            .kv_i32_array(KEY_TYPES, &[2, 3, 3, 1, 1, 1, 1, 1, 1])
            .kv_u32("tokenizer.ggml.bos_token_id", 1)
            .kv_u32("tokenizer.ggml.eos_token_id", 2);
        b
    }

    #[test]
    fn loads_a_tiny_llama_vocabulary() {
        let v = load_bytes(&tiny_llama(0)).expect("loads");
        assert_eq!(v.len(), LLAMA_TOKENS.len());
        assert_eq!(v.encode("ab").expect("encodes"), vec![8]);
        assert_eq!(v.encode("a a").expect("encodes"), vec![6, 6]);
        assert_eq!(v.bos_id, Some(1));
        assert_eq!(v.unk_id, Some(0));
        assert!(v.special_ids.contains(&0) && v.special_ids.contains(&2));
        assert_eq!(v.kinds[1], PieceKind::Control);
        assert_eq!(v.detail, "gguf llama (spm)");

        let mut b = tiny_llama(1);
        b.kv_bool(KEY_ADD_SPACE_PREFIX, false);
        let v = load_bytes(&b).expect("loads");
        assert_eq!(v.encode("ab").expect("encodes"), vec![7]);
    }

    #[test]
    fn loads_a_tiny_gpt2_vocabulary() {
        let mut b = Builder::header(3, 0, 5);
        b.kv_str(KEY_MODEL, "gpt2")
            .kv_str(KEY_PRE, "gpt-2")
            .kv_str_array(KEY_TOKENS, &["a", "b", "ab", "<|end|>", "[PAD4]"])
            .kv_i32_array(KEY_TYPES, &[1, 1, 1, 3, 4])
            .kv_str_array(KEY_MERGES, &["a b"]);
        let v = load_bytes(&b).expect("loads");
        assert_eq!(v.encode("ab<|end|>ba").expect("encodes"), vec![2, 3, 1, 0]);
        assert_eq!(v.kinds[4], PieceKind::Unused);
        assert!(v.special_ids.contains(&3));
        assert!(!v.special_ids.contains(&4));
        assert_eq!(v.detail, "gguf gpt2, pre=gpt-2");
    }

    #[test]
    fn loads_a_tiny_bert_vocabulary() {
        let mut b = Builder::header(3, 0, 4);
        b.kv_str(KEY_MODEL, "bert")
            .kv_str_array(KEY_TOKENS, &["[PAD]", "[UNK]", "▁hello", "llo", "▁he"])
            .kv_i32_array(KEY_TYPES, &[3, 3, 1, 1, 1])
            .kv_u32("tokenizer.ggml.unknown_token_id", 1);
        let v = load_bytes(&b).expect("loads");
        assert_eq!(v.raw(3), Some("##llo"));
        assert_eq!(v.encode("Hello HEllo xyz").expect("encodes"), vec![2, 2, 1]);
        assert_eq!(v.unk_id, Some(1));
    }

    #[test]
    fn clear_errors_for_unusable_vocabularies() {
        let mut b = Builder::header(3, 0, 1);
        b.kv_str_array(KEY_TOKENS, &["a"]);
        assert!(load_err(&b).contains("no tokenizer.ggml.model key"));

        for model in ["rwkv", "no_vocab"] {
            let mut b = Builder::header(3, 0, 2);
            b.kv_str(KEY_MODEL, model).kv_str_array(KEY_TOKENS, &["a"]);
            let e = load_err(&b);
            assert!(
                e.contains(&format!("tokenizer model '{model}' is not supported")),
                "{e}"
            );
        }

        let mut b = Builder::header(3, 0, 1);
        b.kv_str(KEY_MODEL, "llama");
        assert!(load_err(&b).contains("no tokenizer.ggml.tokens key"));

        let mut b = Builder::header(3, 0, 2);
        b.kv_str(KEY_MODEL, "llama")
            .kv_f32_array(KEY_TOKENS, &[1.0]);
        let e = load_err(&b);
        assert!(
            e.contains("has type array of f32, expected array of string"),
            "{e}"
        );

        let mut b = Builder::header(3, 0, 3);
        b.kv_str(KEY_MODEL, "llama")
            .kv_str_array(KEY_TOKENS, &["a", "b", "c"])
            .kv_f32_array(KEY_SCORES, &[0.0, 0.0]);
        let e = load_err(&b);
        assert!(e.contains("tokenizer.ggml.scores has 2 entries but tokenizer.ggml.tokens has 3"));

        let mut b = Builder::header(3, 0, 2);
        b.kv_str(KEY_MODEL, "llama")
            .kv_str_array(KEY_TOKENS, &["a", "b", "a"]);
        assert!(load_err(&b).contains("duplicate token \"a\""));

        let gpt2 = |pre: &str, merges: &[&str]| {
            let mut b = Builder::header(3, 0, 4);
            b.kv_str(KEY_MODEL, "gpt2")
                .kv_str(KEY_PRE, pre)
                .kv_str_array(KEY_TOKENS, &["a", "b", "ab"])
                .kv_str_array(KEY_MERGES, merges);
            b
        };
        assert!(load_err(&gpt2("kimi-k2", &["a b"])).contains("'kimi-k2'"));
        assert!(load_err(&gpt2("gpt-2", &["ab"])).contains("has no space"));

        let full = tiny_llama(0).0;
        let cut = Builder(full[..full.len() - 3].to_vec());
        assert!(load_err(&cut).contains("truncated"));
    }

    #[test]
    fn placeholders_are_recognised() {
        assert!(is_placeholder("[PAD32022]", 32022));
        assert!(!is_placeholder("[PAD32022]", 32023));
        assert!(!is_placeholder("[PAD]", 0));
    }
}
