//! `tokenizer_config.json`: the tokenizer's special-token names, whether BOS/EOS are
//! added, and the chat template.
//!
//! Two readings, because the callers disagree on what a broken file means: the vocabulary
//! loader only looks for token names in it and ignores a file it cannot read
//! ([`special_names_beside`]), while export and the BOS decision read flags that change
//! what a model is fed ([`TokenizerConfig::read`] reports a broken file).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{read_bounded, HfError};

/// tokenizer_config.json files are at most a few hundred KB (long chat templates).
pub const MAX_TOKENIZER_CONFIG_LEN: u64 = 10_000_000;

/// A parsed `tokenizer_config.json`, with the path for messages.
#[derive(Debug, Clone)]
pub struct TokenizerConfig {
    path: PathBuf,
    value: Value,
}

/// Special-token names from `tokenizer_config.json`; all empty when there is none.
#[derive(Debug, Default, Clone)]
pub struct SpecialNames {
    /// `bos_token`.
    pub bos: Option<String>,
    /// `eos_token`.
    pub eos: Option<String>,
    /// `unk_token`.
    pub unk: Option<String>,
    /// `pad_token`.
    pub pad: Option<String>,
    /// `sep_token` (BERT-style tokenizers).
    pub sep: Option<String>,
    /// `mask_token` (BERT-style tokenizers).
    pub mask: Option<String>,
    /// `additional_special_tokens`, in the file's order.
    pub additional: Vec<String>,
}

impl TokenizerConfig {
    /// The file at `path`; `None` when it does not exist, an error when it exists but is
    /// not a regular JSON file of bounded size.
    pub fn read(path: &Path) -> Result<Option<TokenizerConfig>, HfError> {
        let Some(bytes) = read_bounded(path, MAX_TOKENIZER_CONFIG_LEN, |_| {
            format!("not a regular JSON file of at most {MAX_TOKENIZER_CONFIG_LEN} bytes")
        })?
        else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| HfError::invalid(path, format!("not valid JSON: {e}")))?;
        Ok(Some(TokenizerConfig {
            path: path.to_path_buf(),
            value,
        }))
    }

    /// `tokenizer_config.json` in `dir`, as [`TokenizerConfig::read`].
    pub fn read_in(dir: &Path) -> Result<Option<TokenizerConfig>, HfError> {
        TokenizerConfig::read(&dir.join("tokenizer_config.json"))
    }

    /// The file this was read from, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A boolean field (`add_bos_token`, `add_eos_token`).
    pub fn flag(&self, key: &str) -> Option<bool> {
        self.value.get(key).and_then(|v| v.as_bool())
    }

    /// The whole file.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The Jinja chat template, when it is a single string.
    pub fn chat_template(&self) -> Option<&str> {
        self.value.get("chat_template").and_then(|v| v.as_str())
    }

    /// The special-token names it declares.
    pub fn special_names(&self) -> SpecialNames {
        let v = &self.value;
        // A token is either a plain string or an AddedToken object with "content".
        let name = |x: Option<&Value>| -> Option<String> {
            match x? {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("content")?.as_str().map(String::from),
                _ => None,
            }
        };
        SpecialNames {
            bos: name(v.get("bos_token")),
            eos: name(v.get("eos_token")),
            unk: name(v.get("unk_token")),
            pad: name(v.get("pad_token")),
            sep: name(v.get("sep_token")),
            mask: name(v.get("mask_token")),
            additional: v
                .get("additional_special_tokens")
                .and_then(|a| a.as_array())
                .map(|a| a.iter().filter_map(|t| name(Some(t))).collect())
                .unwrap_or_default(),
        }
    }
}

/// Special-token names from `tokenizer_config.json` beside the tokenizer file, when it is
/// there and readable; empty otherwise. The names only help classify tokens, so a missing,
/// hostile or broken file is not worth failing the load for.
pub fn special_names_beside(tokenizer_path: &Path) -> SpecialNames {
    let Some(dir) = tokenizer_path.parent() else {
        return SpecialNames::default();
    };
    match TokenizerConfig::read_in(dir) {
        Ok(Some(c)) => c.special_names(),
        _ => SpecialNames::default(),
    }
}
