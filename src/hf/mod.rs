//! Hugging Face sidecar files, each read by one hardened reader: `config.json`
//! ([`config`]), `tokenizer_config.json` ([`tokenizer_config`]) and
//! `model.safetensors.index.json` ([`shard_index`]).
//!
//! They sit in downloaded model directories, so each is read only when it is a regular
//! file of bounded size (a link to `/dev/zero` or a named pipe must not be read, or waited
//! on, forever) and parsed once; the layers above (weights, model, export, vocab) ask the
//! parsed file typed questions instead of re-reading it their own way.

pub mod config;
pub mod forward;
pub mod reader;
pub mod shard_index;
pub mod tokenizer_config;

use std::path::{Path, PathBuf};

pub use config::Config;
pub use forward::{Family, Forward, RopeScaling};
pub use shard_index::ShardIndex;
pub use tokenizer_config::{SpecialNames, TokenizerConfig};

/// Why a sidecar file could not be read. Every message starts with the file.
#[derive(Debug, thiserror::Error)]
pub enum HfError {
    /// The file could not be stat'ed or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is there but is not what it should be (not a regular file, too large,
    /// not JSON, missing a required part).
    #[error("{path}: {msg}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
}

impl HfError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            HfError::Io { path, .. } | HfError::Invalid { path, .. } => path,
        }
    }

    pub(crate) fn invalid(path: &Path, msg: impl Into<String>) -> HfError {
        HfError::Invalid {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }

    fn io(path: &Path, source: std::io::Error) -> HfError {
        HfError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Why [`read_bounded`] refused a file that exists, for the caller to word.
enum Refused {
    NotRegular,
    TooLarge(u64),
}

/// The bytes of `path`; `None` when it does not exist. Anything but a regular file of at
/// most `max` bytes is refused with the message `refuse` gives, so that no caller can
/// forget the bound.
fn read_bounded(
    path: &Path,
    max: u64,
    refuse: impl FnOnce(Refused) -> String,
) -> Result<Option<Vec<u8>>, HfError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(HfError::io(path, e)),
    };
    if !meta.is_file() {
        return Err(HfError::invalid(path, refuse(Refused::NotRegular)));
    }
    if meta.len() > max {
        return Err(HfError::invalid(
            path,
            refuse(Refused::TooLarge(meta.len())),
        ));
    }
    std::fs::read(path)
        .map(Some)
        .map_err(|e| HfError::io(path, e))
}
