//! Why a checkpoint or one of its tensors could not be read.
//!
//! Every message starts with the file it is about, and names the tensor when one is
//! involved, because the user of a 100 GB sharded checkpoint needs to know which of
//! dozens of files is at fault.

use std::path::PathBuf;

use thiserror::Error;

use crate::gguf::GgufError;

/// Why a checkpoint or one of its tensors could not be read.
#[derive(Debug, Error)]
pub enum WeightsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Pickle-based checkpoints (`pytorch_model.bin`, `.pt`, `.pth`, `.ckpt`) run code when
    /// loaded; this tool never opens them.
    #[error(
        "{path}: refusing to load a pickle checkpoint (arbitrary code execution risk); \
         convert it to safetensors first"
    )]
    Pickle { path: PathBuf },
    /// A malformed file: bad header, offsets outside the file, inconsistent shapes.
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    /// A shard that `model.safetensors.index.json` names for a tensor we need is absent.
    #[error("{index}: shard '{shard}' holding tensor '{tensor}' is missing ({source})")]
    MissingShard {
        index: PathBuf,
        shard: String,
        tensor: String,
        #[source]
        source: std::io::Error,
    },
    /// Nothing loadable in a directory or file.
    #[error("{path}: {msg}")]
    NoWeights { path: PathBuf, msg: String },
    /// The tensor asked for (or none of the usual names) is in the checkpoint.
    #[error("{path}: {msg}")]
    TensorNotFound { path: PathBuf, msg: String },
    /// A tensor whose element type we cannot turn into f32 rows.
    #[error(
        "{path}: tensor '{tensor}' has dtype {dtype}, which is not a float type we can read \
         (supported: {supported})"
    )]
    UnsupportedDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
        supported: &'static str,
    },
    /// A tensor that is not the 2-D matrix an embedding must be, or two matrices that
    /// cannot belong together.
    #[error("{path}: tensor '{tensor}': {msg}")]
    Shape {
        path: PathBuf,
        tensor: String,
        msg: String,
    },
    /// `config.json` or `model.safetensors.index.json` is not what it should be.
    #[error("{path}: {msg}")]
    Config { path: PathBuf, msg: String },
    /// The GGUF container reader's error; it already names the file.
    #[error(transparent)]
    Gguf(#[from] GgufError),
}

pub type Result<T> = std::result::Result<T, WeightsError>;

/// Wrap an I/O error with the path it happened on.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> WeightsError + '_ {
    move |source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    }
}
