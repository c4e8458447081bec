//! Loading vocabularies: one module per on-disk format, all ending in one [`Vocab`].
//!
//! Every format is turned into a `tokenizers::Tokenizer` so that the audit, the digit
//! schemes and the verification prompts encode and decode the same way whatever the
//! file was. The raw entries and piece kinds are kept beside it because the published
//! summary counts are defined on the raw vocabulary, not on decoded text.

pub mod build;
pub mod bytelevel;
pub mod detect;
pub mod gguf;
pub mod hf;
pub mod presets;
pub mod protobuf;
pub mod split;
pub mod spm;
pub mod tekken;
pub mod tiktoken;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tokenizers::Tokenizer;

pub use detect::Format;

/// Why a tokenizer file could not be loaded. Every variant names the file, so the one-line
/// message printed by the binary is enough to act on.
#[derive(Debug, Error)]
pub enum VocabError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a usable vocabulary.
    #[error("{path}: {msg}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, capped in length.
        msg: String,
    },
}

impl VocabError {
    /// An invalid-file error; the message is capped because it may quote file content.
    pub fn invalid(path: &Path, msg: impl fmt::Display) -> Self {
        VocabError::Invalid {
            path: path.to_path_buf(),
            msg: cap_message(msg.to_string()),
        }
    }
    /// A read error for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        VocabError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Results of loading a vocabulary.
pub type Result<T> = std::result::Result<T, VocabError>;

pub(crate) use crate::util::text::cap_message;

/// What a vocabulary entry is, as the file itself declares it (SentencePiece and GGUF
/// carry this; for other formats it is inferred: added specials are `Control`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PieceKind {
    /// An ordinary piece the model reaches by encoding text.
    Normal,
    /// The unknown token (`<unk>`).
    Unknown,
    /// A control token (`<s>`, `</s>`): never produced from text.
    Control,
    /// A user-defined piece, matched whole in raw text.
    UserDefined,
    /// Declared unused: a placeholder the model was never meant to see.
    Unused,
    /// A byte-fallback piece (`<0x41>`).
    Byte,
}

impl PieceKind {
    /// SentencePiece / GGUF numbering (NORMAL=1 … BYTE=6); anything else is treated as normal.
    pub fn from_spm(t: i64) -> PieceKind {
        match t {
            2 => PieceKind::Unknown,
            3 => PieceKind::Control,
            4 => PieceKind::UserDefined,
            5 => PieceKind::Unused,
            6 => PieceKind::Byte,
            _ => PieceKind::Normal,
        }
    }
    /// The snake_case name reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            PieceKind::Normal => "normal",
            PieceKind::Unknown => "unknown",
            PieceKind::Control => "control",
            PieceKind::UserDefined => "user_defined",
            PieceKind::Unused => "unused",
            PieceKind::Byte => "byte",
        }
    }
}

/// Options that change how a file is read. `format` and `preset` override detection.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Read as this format instead of detecting one.
    pub format: Option<Format>,
    /// tiktoken family preset (split regex + specials), e.g. `llama3`, `cl100k`.
    pub preset: Option<String>,
}

/// A loaded vocabulary: the encoder/decoder plus what the file says about each id.
#[derive(Clone)]
pub struct Vocab {
    /// The format it was read from.
    pub format: Format,
    /// The file (or files) the vocabulary came from, for messages and reports.
    pub source: PathBuf,
    /// Extra description of how it was read, e.g. the tiktoken preset or GGUF `pre`.
    pub detail: String,
    /// The encoder/decoder every format is turned into, so all use one code path.
    pub tokenizer: Tokenizer,
    /// Raw vocabulary entry per id (`None` for ids the file leaves unassigned).
    pub raw: Vec<Option<String>>,
    /// Declared kind per id.
    pub kinds: Vec<PieceKind>,
    /// The tokenizer's special ids: bos/eos/pad/unk/sep/mask and declared specials.
    pub special_ids: BTreeSet<u32>,
    /// Beginning-of-sequence id, when the file names one.
    pub bos_id: Option<u32>,
    /// End-of-sequence id, when the file names one.
    pub eos_id: Option<u32>,
    /// Unknown-token id, when the file names one.
    pub unk_id: Option<u32>,
    /// Padding id, when the file names one.
    pub pad_id: Option<u32>,
}

impl fmt::Debug for Vocab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vocab")
            .field("format", &self.format)
            .field("source", &self.source)
            .field("size", &self.len())
            .finish()
    }
}

impl Vocab {
    /// Number of ids (one past the largest id that has an entry).
    pub fn len(&self) -> usize {
        self.raw.len()
    }
    /// Whether there are no ids at all.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// The raw vocabulary entry of `id`, as the file wrote it (not decoded text).
    pub fn raw(&self, id: u32) -> Option<&str> {
        self.raw.get(id as usize).and_then(|s| s.as_deref())
    }
    /// Ids the file leaves unassigned (holes in tiktoken special ranges).
    pub fn holes(&self) -> usize {
        self.raw.iter().filter(|r| r.is_none()).count()
    }

    /// Encode without the post-processor's BOS/EOS: what the text itself produces.
    pub fn encode(&self, text: &str) -> std::result::Result<Vec<u32>, String> {
        self.tokenizer
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| e.to_string())
    }

    /// Encode and return ids with their pieces (for `tokenaudit encode --tokens`).
    pub fn encode_pieces(&self, text: &str) -> std::result::Result<Vec<(u32, String)>, String> {
        // encode_fast leaves the token strings empty; the pieces need the full encode.
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| e.to_string())?;
        Ok(enc
            .get_ids()
            .iter()
            .zip(enc.get_tokens())
            .map(|(i, t)| (*i, t.clone()))
            .collect())
    }

    /// Decode without skipping specials, so a special id shows as its text.
    pub fn decode(&self, ids: &[u32]) -> std::result::Result<String, String> {
        self.tokenizer.decode(ids, false).map_err(|e| e.to_string())
    }

    /// Assemble a vocabulary from a built tokenizer; raw entries are read back from it
    /// (for formats whose file has no better source of them).
    pub(crate) fn from_tokenizer(
        format: Format,
        source: &Path,
        detail: String,
        tokenizer: Tokenizer,
        kinds: Option<Vec<PieceKind>>,
        special_ids: BTreeSet<u32>,
    ) -> Result<Vocab> {
        let n = tokenizer.get_vocab_size(true);
        // Every id below the largest gets an entry, so an id far past the number of
        // entries (a corrupt or hostile file) would allocate for billions of ids. Real
        // vocabularies are dense; allow holes up to the number of entries again.
        let limit = n.saturating_mul(2).saturating_add(256);
        let mut raw: Vec<Option<String>> = vec![None; n];
        for (tok, id) in tokenizer.get_vocab(true) {
            let id = id as usize;
            if id >= limit {
                let tok: String = tok.chars().take(40).collect();
                return Err(VocabError::invalid(
                    source,
                    format!(
                        "token {tok:?} has id {id}, far past the {n} entries of the \
                         vocabulary (limit {limit}): ids must be dense"
                    ),
                ));
            }
            if id >= raw.len() {
                raw.resize(id + 1, None);
            }
            raw[id] = Some(tok);
        }
        Self::from_parts(format, source, detail, tokenizer, raw, kinds, special_ids)
    }

    /// Assemble a vocabulary when the loader already has the raw entries in id order.
    pub(crate) fn from_parts(
        format: Format,
        source: &Path,
        detail: String,
        mut tokenizer: Tokenizer,
        raw: Vec<Option<String>>,
        kinds: Option<Vec<PieceKind>>,
        special_ids: BTreeSet<u32>,
    ) -> Result<Vocab> {
        tokenizer
            .with_truncation(None)
            .map_err(|e| VocabError::invalid(source, e))?;
        tokenizer.with_padding(None);
        let mut kinds = kinds.unwrap_or_default();
        kinds.resize(raw.len(), PieceKind::Normal);
        for &s in &special_ids {
            if let Some(k) = kinds.get_mut(s as usize) {
                if *k == PieceKind::Normal {
                    *k = PieceKind::Control;
                }
            }
        }
        Ok(Vocab {
            format,
            source: source.to_path_buf(),
            detail,
            tokenizer,
            raw,
            kinds,
            special_ids,
            bos_id: None,
            eos_id: None,
            unk_id: None,
            pad_id: None,
        })
    }

    /// Register the named special ids (and count them as specials).
    pub(crate) fn set_named_specials(
        &mut self,
        bos: Option<u32>,
        eos: Option<u32>,
        unk: Option<u32>,
        pad: Option<u32>,
    ) {
        let n = self.len() as u32;
        let keep = |x: Option<u32>| x.filter(|&i| i < n);
        self.bos_id = keep(bos);
        self.eos_id = keep(eos);
        self.unk_id = keep(unk);
        self.pad_id = keep(pad);
        for id in [self.bos_id, self.eos_id, self.unk_id, self.pad_id]
            .into_iter()
            .flatten()
        {
            self.special_ids.insert(id);
        }
    }
}

/// Load a vocabulary from a file or a model directory, detecting the format from content.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Vocab> {
    let resolved = detect::resolve(path, opts.format)?;
    match resolved.format {
        Format::HfJson => hf::load_tokenizer_json(&resolved.path),
        Format::GptBpe => hf::load_bpe_pair(&resolved.path, resolved.companion.as_deref()),
        Format::SentencePiece => spm::load(&resolved.path),
        Format::Tiktoken => tiktoken::load(&resolved.path, opts.preset.as_deref()),
        Format::Gguf => gguf::load(&resolved.path),
        Format::Tekken => tekken::load(&resolved.path),
    }
}

/// Read a whole file (at most [`crate::util::text::MAX_INPUT`] bytes; a regular file or a
/// named pipe), naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = crate::util::text::read_bounded(path, crate::util::text::MAX_INPUT)
        .map_err(|e| VocabError::io(path, e))?;
    if bytes.is_empty() {
        return Err(VocabError::invalid(path, "the file is empty"));
    }
    Ok(bytes)
}
