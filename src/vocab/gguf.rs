//! GGUF vocabularies (`tokenizer.ggml.*` metadata of llama.cpp model or vocab-only files).
//!
//! llama.cpp's own test vectors are generated with the Hugging Face tokenizer of each model,
//! so we rebuild that tokenizer from the GGUF fields with the shared builders: `llama` →
//! SentencePiece-style BPE, `t5` → Unigram, `gpt2` → byte-level BPE with the split regexes
//! of llama.cpp's `pre` type, `bert` → WordPiece.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Tokenizer};

use super::build::{self, Added, Piece, PreSplit, SpmModel, SpmOptions};
use super::{Format, PieceKind, Result, Vocab, VocabError};
use crate::gguf::{GgufArray, GgufError, GgufFile, GgufValue};

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

// ---------------------------------------------------------------------------------------
// llama (SentencePiece BPE) and t5 (Unigram)
// ---------------------------------------------------------------------------------------

/// SentencePiece vocabularies. llama.cpp defaults `add_space_prefix` to true for `llama`
/// and false for `t5`; the key overrides both.
fn spm_vocab(file: &GgufFile, path: &Path, f: &Fields, model: SpmModel) -> Result<Vocab> {
    let pieces: Vec<Piece> = f
        .tokens
        .iter()
        .zip(&f.scores)
        .zip(&f.kinds)
        .map(|((t, &score), &kind)| Piece {
            piece: t.clone(),
            score,
            kind,
        })
        .collect();
    let (name, default_prefix, byte_fallback) = match model {
        SpmModel::Bpe => ("llama", true, true),
        SpmModel::Unigram => ("t5", false, f.kinds.contains(&PieceKind::Byte)),
    };
    let add_dummy_prefix = file
        .get_bool(KEY_ADD_SPACE_PREFIX)
        .unwrap_or(default_prefix);
    let precompiled_charsmap = match (model, file.get_array(KEY_CHARSMAP)) {
        (SpmModel::Unigram, Some(GgufArray::U8(b))) => Some(b.clone()),
        (SpmModel::Unigram, Some(GgufArray::I8(b))) => Some(b.iter().map(|&x| x as u8).collect()),
        _ => None,
    };
    let opts = SpmOptions {
        model,
        byte_fallback,
        add_dummy_prefix,
        // llama.cpp's SPM tokenizer keeps every space; its Unigram one honours the key.
        remove_extra_whitespaces: model == SpmModel::Unigram
            && file.get_bool(KEY_REMOVE_EXTRA_WS).unwrap_or(false),
        precompiled_charsmap,
    };
    let tk = build::spm_tokenizer(&pieces, &opts).map_err(|e| build_error(path, name, e))?;
    let kind = if model == SpmModel::Bpe {
        "spm"
    } else {
        "unigram"
    };
    let detail = format!("gguf {name} ({kind})");
    Vocab::from_tokenizer(
        Format::Gguf,
        path,
        detail,
        tk,
        Some(f.kinds.clone()),
        f.specials.clone(),
    )
}

// ---------------------------------------------------------------------------------------
// gpt2 (byte-level BPE)
// ---------------------------------------------------------------------------------------

/// GPT-2's split regex. llama.cpp lists it without the final `|\s+` (its hand-written
/// GPT-2 splitter implements the full pattern); we keep the original, as Hugging Face does.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Llama-3. llama.cpp rewrites `(?i:'s|…)` as `(?:'[sS]|…)` because std::regex lacks
/// inline flags; fancy-regex has them, so this is the tokenizer.json original.
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2: as Llama-3 but single digits (tokenizer.json original, see [`LLAMA3`]).
const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen3.5: letters keep their combining marks (tokenizer.json original).
const QWEN35: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Tekken (Mistral Nemo). llama.cpp emulates the case classes with look-aheads;
/// fancy-regex has `\p{Lu}` etc., so this is the tokenizer.json original.
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GPT-4o / Llama-4 (tokenizer.json original, see [`TEKKEN`]).
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// CJK runs shared by the DeepSeek pre-tokenizers.
const DEEPSEEK_CJK: &str = "[一-龥ࠀ-一가-퟿]+";

/// DeepSeek LLM letters: the explicit ranges of its tokenizer.json (not `\p{L}`). Six of
/// them are written as `\x{…}` escapes because those characters (U+1F7D, U+1FBE, U+1FD3,
/// U+1FDB, U+2126, U+212A) are Unicode singletons that NFC normalization, which text tools
/// may apply silently, turns into other characters and so into reversed ranges.
const DEEPSEEK_LLM_LETTERS: &str = r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";

/// DeepSeek-V3 main pattern (also Hunyuan-dense, JoyAI).
const DEEPSEEK3_MAIN: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;

/// BLOOM / Poro / GPT-3-Finnish: everything up to whitespace or listed punctuation.
const BLOOM: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";

/// How one llama.cpp `pre` type splits text: regexes applied in turn (each splits the
/// pieces of the previous one, keeping matches and gaps), and whether a piece that is
/// itself in the vocabulary skips the merges (`ignore_merges`, as Hugging Face's Llama-3
/// tokenizer and llama.cpp do).
struct PreSpec {
    regexes: Vec<&'static str>,
    ignore_merges: bool,
}

/// The split regexes per `tokenizer.ggml.pre`, from the `llm_tokenizer_bpe` constructor
/// and `llama_vocab::impl::load` in llama.cpp's `src/llama-vocab.cpp`. Types whose
/// splitting llama.cpp implements in code rather than regexes (kimi-k2, afmoe, superbpe)
/// or that are not byte-level (gemma4, sarvam-moe, whitespace) are not supported.
fn pre_spec(pre: &str) -> Option<PreSpec> {
    let spec = |regexes: Vec<&'static str>, ignore_merges| {
        Some(PreSpec {
            regexes,
            ignore_merges,
        })
    };
    match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => spec(vec![LLAMA3], true),
        "dbrx" | "smaug-bpe" | "glm4" | "chatglm-bpe" => spec(vec![LLAMA3], false),
        "deepseek-llm" => spec(
            vec![
                "[\r\n]",
                DEEPSEEK_LLM_LETTERS,
                r"\s?[!-/:-~！-／：-～‘-‟　-。]+",
                r"\s+$",
                DEEPSEEK_CJK,
                r"\p{N}+",
            ],
            false,
        ),
        "deepseek-coder" => spec(
            vec!["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", DEEPSEEK_CJK, r"\p{N}"],
            false,
        ),
        "deepseek-v3" | "hunyuan-dense" | "joyai-llm" | "hy_v4" => spec(
            vec![r"\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", DEEPSEEK3_MAIN],
            false,
        ),
        "falcon" => spec(
            vec![r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"],
            false,
        ),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b"
        | "mellum2" => spec(vec![r"\p{N}", GPT2], false),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
        | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe"
        | "exaone4" | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" => {
            spec(vec![GPT2], false)
        }
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2" | "hunyuan"
        | "solar-open" | "grok-2" => spec(vec![QWEN2], false),
        "qwen35" => spec(vec![QWEN35], false),
        "tekken" => spec(vec![TEKKEN], true),
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => spec(vec![GPT4O], false),
        "poro-chat" | "bloom" | "gpt3-finnish" => spec(vec![BLOOM], false),
        "viking" => spec(vec![BLOOM, r"\p{N}"], false),
        "chameleon" => spec(
            vec![
                "<sentinel:[0-9]+>",
                "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                "([\\t\\n]|    |  )",
                r"\p{N}",
                r"[\p{P}!-/:-@\[-`{-~]",
                GPT2,
            ],
            false,
        ),
        "default" => spec(
            vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
            false,
        ),
        _ => None,
    }
}

/// A merge as llama.cpp reads it: split at the first space after the first byte, so a
/// left part that is itself a space survives. `None` when there is no such space.
fn split_merge(m: &str) -> Option<(String, String)> {
    // A space byte is never inside a multi-byte character, so both halves stay valid UTF-8.
    let pos = m.bytes().skip(1).position(|b| b == b' ')? + 1;
    Some((m.get(..pos)?.to_string(), m.get(pos + 1..)?.to_string()))
}

fn bpe_vocab(file: &GgufFile, path: &Path, f: &Fields) -> Result<Vocab> {
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

// ---------------------------------------------------------------------------------------
// bert (WordPiece)
// ---------------------------------------------------------------------------------------

/// Undo llama.cpp's "phantom space" form of a BERT vocabulary: the converter writes
/// word-initial pieces with a leading '▁' and continuation pieces without their "##",
/// and leaves bracketed tokens ("[CLS]", "[unused0]") alone.
fn wordpiece_token(t: &str) -> String {
    if t.starts_with('[') && t.ends_with(']') {
        t.to_string()
    } else if let Some(word) = t.strip_prefix('▁') {
        word.to_string()
    } else {
        format!("##{t}")
    }
}

/// BERT's tokenizer as transformers builds it for an uncased model: BertNormalizer
/// (clean text, Chinese characters spaced, lowercase with accents stripped),
/// BertPreTokenizer, WordPiece with "##" continuations.
fn wordpiece_vocab(path: &Path, f: &Fields, unk_id: Option<u32>) -> Result<Vocab> {
    let tokens: Vec<String> = f.tokens.iter().map(|t| wordpiece_token(t)).collect();
    check_unique(path, &tokens)?;
    // llama.cpp types BERT's [UNK] as control, so the id comes from unknown_token_id.
    let unk = unk_id
        .and_then(|i| tokens.get(i as usize))
        .cloned()
        .unwrap_or_else(|| "[UNK]".to_string());
    let vocab: ahash::AHashMap<String, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token(unk)
        .continuing_subword_prefix("##".to_string())
        .max_input_chars_per_word(100)
        .build()
        .map_err(|e| build_error(path, "WordPiece", e))?;
    let mut tk = Tokenizer::new(model);
    tk.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
    tk.with_pre_tokenizer(Some(BertPreTokenizer));
    tk.with_decoder(Some(WordPieceDecoder::default()));
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(&f.kinds)
        .filter_map(|(t, k)| match k {
            PieceKind::Control | PieceKind::Unknown => Some(AddedToken::from(t.clone(), true)),
            PieceKind::UserDefined => Some(AddedToken::from(t.clone(), false)),
            _ => None,
        })
        .collect();
    tk.add_tokens(&added);
    Vocab::from_tokenizer(
        Format::Gguf,
        path,
        "gguf bert (wordpiece)".to_string(),
        tk,
        Some(f.kinds.clone()),
        f.specials.clone(),
    )
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
    fn merges_split_at_first_space_after_first_byte() {
        assert_eq!(split_merge("Ġ t"), Some(("Ġ".into(), "t".into())));
        assert_eq!(split_merge("  a"), Some((" ".into(), "a".into())));
        assert_eq!(split_merge("ab"), None);
        assert_eq!(split_merge(""), None);
    }

    #[test]
    fn phantom_space_is_undone() {
        assert_eq!(wordpiece_token("▁hello"), "hello");
        assert_eq!(wordpiece_token("ing"), "##ing");
        assert_eq!(wordpiece_token("[CLS]"), "[CLS]");
    }

    #[test]
    fn placeholders_are_recognised() {
        assert!(is_placeholder("[PAD32022]", 32022));
        assert!(!is_placeholder("[PAD32022]", 32023));
        assert!(!is_placeholder("[PAD]", 0));
    }

    #[test]
    fn every_pre_regex_compiles() {
        let pres = [
            "llama-bpe",
            "dbrx",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "falcon",
            "starcoder",
            "gpt-2",
            "qwen2",
            "qwen35",
            "tekken",
            "gpt-4o",
            "bloom",
            "viking",
            "chameleon",
            "default",
        ];
        for p in pres {
            let spec = pre_spec(p).expect(p);
            for r in spec.regexes {
                if let Err(e) = fancy_regex::Regex::new(r) {
                    panic!("{p}: {r}: {e}");
                }
            }
        }
        assert!(pre_spec("kimi-k2").is_none());
    }

    #[test]
    fn deepseek_letters_keep_nfc_unstable_characters() {
        let re = fancy_regex::Regex::new(DEEPSEEK_LLM_LETTERS).expect("compiles");
        for c in [
            '\u{1F7D}', '\u{1FBE}', '\u{1FD3}', '\u{1FDB}', '\u{2126}', '\u{212A}',
        ] {
            let text = c.to_string();
            let m = re.find(&text).expect("no error");
            assert!(m.is_some(), "U+{:04X} should be a letter", c as u32);
        }
        assert!(re.find("\u{2129}").expect("no error").is_none());
    }
}
