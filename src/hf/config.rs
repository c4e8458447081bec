//! `config.json`: a model's hyper-parameters and architecture, read once into a [`Config`]
//! that answers the questions weights, model and export ask of it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{read_bounded, HfError, Refused};

/// config.json of real models is a few KB; this only bounds a hostile one.
pub const MAX_CONFIG_LEN: u64 = 10_000_000;

/// A parsed `config.json` (always a JSON object), with the path for messages.
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    value: Value,
}

impl Config {
    /// `config.json` in `dir`; `None` when there is none. A config that exists but cannot
    /// be read is an error: silently ignoring it could flip decisions made from it (the
    /// tie of the embeddings, the architecture).
    pub fn read_in(dir: &Path) -> Result<Option<Config>, HfError> {
        Config::read(&dir.join("config.json"))
    }

    /// `config.json` in `dir`, which must exist (forward passes and export cannot guess
    /// the hyper-parameters).
    pub fn require_in(dir: &Path) -> Result<Config, HfError> {
        let path = dir.join("config.json");
        Config::read(&path)?.ok_or_else(|| HfError::Io {
            path,
            source: std::io::ErrorKind::NotFound.into(),
        })
    }

    /// The file at `path`; `None` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Config>, HfError> {
        // A link to /dev/zero or a named pipe would be read (or waited on) forever.
        let Some(bytes) = read_bounded(path, MAX_CONFIG_LEN, |r| match r {
            Refused::NotRegular => "not a regular file".into(),
            Refused::TooLarge(n) => format!("{n} bytes is too large for a model config"),
        })?
        else {
            return Ok(None);
        };
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| HfError::invalid(path, format!("not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(HfError::invalid(path, "not a JSON object"));
        }
        Ok(Some(Config {
            path: path.to_path_buf(),
            value,
        }))
    }

    /// The file this was read from, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole parsed object, for callers that hand it on (`Checkpoint::config`).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// One top-level field as JSON, for callers that validate it with their own rules
    /// and messages (export's hyper-parameters).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.value.get(key)
    }

    /// A top-level string field.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.as_str())
    }

    /// A top-level non-negative integer field; anything else reads as absent.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.as_u64())
    }

    /// [`Config::u64`] as a size or count.
    pub fn usize(&self, key: &str) -> Option<usize> {
        self.u64(key).map(|v| v as usize)
    }

    /// A top-level boolean field.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|v| v.as_bool())
    }

    /// `model_type`, e.g. `llama`.
    pub fn model_type(&self) -> Option<&str> {
        self.str("model_type")
    }

    /// The string entries of `architectures`, e.g. `LlamaForCausalLM` (empty when absent).
    pub fn architectures(&self) -> Vec<&str> {
        self.get("architectures")
            .and_then(|a| a.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default()
    }

    /// `tie_word_embeddings` at the top level, or in `text_config` (multimodal configs).
    pub fn tie_word_embeddings(&self) -> Option<bool> {
        self.value
            .get("tie_word_embeddings")
            .or_else(|| self.value.get("text_config")?.get("tie_word_embeddings"))
            .and_then(|v| v.as_bool())
    }

    /// A token id (`bos_token_id`, `eos_token_id`); a list gives its first entry, as
    /// llama.cpp takes one.
    pub fn token_id(&self, key: &str) -> Option<u32> {
        let v = self.get(key)?;
        let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
        v.as_u64().and_then(|x| u32::try_from(x).ok())
    }

    /// Every id of a token-id key that may be one id or a list (`eos_token_id`: models
    /// with several end-of-turn tokens list them all).
    pub fn token_ids(&self, key: &str) -> Vec<u32> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let one = |x: &Value| x.as_u64().and_then(|x| u32::try_from(x).ok());
        match v.as_array() {
            Some(a) => a.iter().filter_map(one).collect(),
            None => one(v).into_iter().collect(),
        }
    }

    /// The whole config as an architecture's own struct (candle-transformers' configs),
    /// naming the file on a missing or mistyped field.
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Result<T, HfError> {
        serde_json::from_value(self.value.clone())
            .map_err(|e| HfError::invalid(&self.path, e.to_string()))
    }
}
