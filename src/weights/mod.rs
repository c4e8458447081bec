//! Model weights, memory-mapped, reading only the embedding matrices.
//!
//! [`Checkpoint::open`] takes a model directory (Hugging Face layout), a `.safetensors`
//! file, a `model.safetensors.index.json` or a `.gguf` file. It parses headers only: tensor
//! data stays in the memory map, and of a sharded checkpoint only the shards holding the
//! tensors asked for are ever mapped. [`Checkpoint::embeddings`] then finds the input
//! embedding and the unembedding by the names of the common families (see [`names`]) and
//! returns them as [`Matrix`] views that decode rows to f32 on demand.
//!
//! Every header, offset and shape is checked against the file before any tensor data is
//! touched, so a corrupt or hostile file gives a [`WeightsError`] naming the file (and the
//! tensor), never a panic or an out-of-bounds read. Pickle checkpoints (`pytorch_model.bin`,
//! `.pt`, `.pth`, `.ckpt`) are refused: loading one can run arbitrary code.

mod detect;
mod dtype;
mod error;
mod gguf;
mod matrix;
pub mod names;
pub(crate) mod safetensors;
mod sharded;

use std::path::{Path, PathBuf};

use detect::Found;

use crate::gguf::GgufFile;
use crate::hf::{Config, HfError};

pub use dtype::{bf16_bits_to_f32, DType, Q8_0_BLOCK, Q8_0_BLOCK_BYTES};
pub use error::{Result, WeightsError};
pub use gguf::{GGUF_INPUT, GGUF_OUTPUT};
pub use matrix::Matrix;
pub use safetensors::SafetensorsFile;
pub use sharded::Sharded;

/// Where the tensors live.
#[derive(Debug)]
pub enum Source {
    /// One `.safetensors` file.
    Safetensors(SafetensorsFile),
    /// Shards behind a `model.safetensors.index.json`.
    Sharded(Sharded),
    /// A `.gguf` file.
    Gguf(GgufFile),
}

/// An opened checkpoint: its config and tensor directory, with no tensor data read.
#[derive(Debug)]
pub struct Checkpoint {
    /// The file the tensors were found through (the safetensors file, index or GGUF).
    pub path: PathBuf,
    /// The parsed headers of the file(s) holding the tensors.
    pub source: Source,
    config: Option<Config>,
    tied: bool,
    tie_reason: String,
}

/// The two matrices the indicators need.
#[derive(Debug, Clone)]
pub struct Embeddings<'a> {
    /// Input embedding, one row per token id.
    pub input: Matrix<'a>,
    /// Unembedding (lm_head); `None` when tied to the input embedding.
    pub output: Option<Matrix<'a>>,
}

impl<'a> Embeddings<'a> {
    /// The unembedding: `output`, or `input` when tied.
    pub fn unembedding(&self) -> &Matrix<'a> {
        self.output.as_ref().unwrap_or(&self.input)
    }

    /// Whether the unembedding is the input embedding itself.
    pub fn is_tied(&self) -> bool {
        self.output.is_none()
    }
}

impl Checkpoint {
    /// Open a model directory, a `.safetensors` file, a shard index (`*.json`) or a `.gguf`
    /// file. Reads `config.json` beside safetensors weights when present.
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let (file, source) = match detect::find(path)? {
            Found::Safetensors(p) => {
                let s = SafetensorsFile::open(&p)?;
                (p, Source::Safetensors(s))
            }
            Found::Index(p) => {
                let s = Sharded::open(&p)?;
                (p, Source::Sharded(s))
            }
            Found::Gguf(p) => {
                let g = GgufFile::open(&p)?;
                (p, Source::Gguf(g))
            }
        };
        // A GGUF file carries its own metadata; a config.json beside it may belong to
        // something else.
        let config = match source {
            Source::Gguf(_) => None,
            _ => read_config(&file)?,
        };
        let mut ck = Checkpoint {
            path: file,
            source,
            config,
            tied: false,
            tie_reason: String::new(),
        };
        (ck.tied, ck.tie_reason) = ck.decide_tie();
        Ok(ck)
    }

    /// Every tensor name, sorted (for a sharded checkpoint, from the index alone).
    pub fn tensor_names(&self) -> Vec<String> {
        let mut v: Vec<String> = match &self.source {
            Source::Safetensors(s) => s.tensors.keys().cloned().collect(),
            Source::Sharded(s) => s.weight_map.keys().cloned().collect(),
            Source::Gguf(g) => g.tensors.iter().map(|t| t.name.clone()).collect(),
        };
        v.sort();
        v
    }

    /// The parsed `config.json` beside safetensors weights (never for GGUF, which
    /// carries its own metadata).
    pub fn config(&self) -> Option<&serde_json::Value> {
        self.config.as_ref().map(Config::value)
    }

    /// [`Checkpoint::config`] with its typed accessors and path, for callers that read
    /// hyper-parameters from it (export).
    pub fn hf_config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    /// Whether the unembedding is the input embedding, decided at open time: GGUF by the
    /// presence of `output.weight`; otherwise config.json's `tie_word_embeddings` (also
    /// under `text_config`), else the default of its `model_type`, else whether a separate
    /// unembedding tensor exists.
    pub fn is_tied(&self) -> bool {
        self.tied
    }

    /// Why [`Checkpoint::is_tied`] says what it says, for reports.
    pub fn tie_reason(&self) -> &str {
        &self.tie_reason
    }

    /// Files mapped so far: the single file, or the shards opened up to now.
    pub fn mapped_files(&self) -> Vec<PathBuf> {
        match &self.source {
            Source::Sharded(s) => s.opened(),
            _ => vec![self.path.clone()],
        }
    }

    /// One tensor as a matrix (mapping its shard if needed).
    pub fn matrix(&self, name: &str) -> Result<Matrix<'_>> {
        match &self.source {
            Source::Safetensors(s) => s.matrix(name),
            Source::Sharded(s) => s.matrix(name),
            Source::Gguf(g) => gguf::matrix(g, name),
        }
    }

    /// The input embedding and, unless tied, the unembedding. `emb_override` /
    /// `unemb_override` name the tensors directly (`--embedding` / `--unembedding`); an
    /// unembedding override wins over the tie decision, and naming the input embedding
    /// itself means tied.
    pub fn embeddings(
        &self,
        emb_override: Option<&str>,
        unemb_override: Option<&str>,
    ) -> Result<Embeddings<'_>> {
        let names = self.tensor_names();
        let input_name = match emb_override {
            Some(n) => self.require(&names, n, "--embedding")?,
            None => self.find_input(&names)?,
        };
        let input = self.matrix(&input_name)?;
        let output_name = match unemb_override {
            Some(n) if n == input_name => None,
            Some(n) => Some(self.require(&names, n, "--unembedding")?),
            None if self.tied => None,
            None => Some(self.find_output(&names, &input_name)?),
        };
        let output = match output_name {
            Some(n) => {
                let m = self.matrix(&n)?;
                if m.cols != input.cols {
                    return Err(WeightsError::Shape {
                        path: m.file.clone(),
                        tensor: m.name.clone(),
                        msg: format!(
                            "the unembedding has rows of {} values but the input embedding '{}' \
                             has {}; pass --unembedding NAME if this is the wrong tensor",
                            m.cols, input.name, input.cols
                        ),
                    });
                }
                Some(m)
            }
            None => None,
        };
        Ok(Embeddings { input, output })
    }

    fn require(&self, names: &[String], name: &str, flag: &str) -> Result<String> {
        if names.iter().any(|n| n == name) {
            return Ok(name.to_string());
        }
        Err(WeightsError::TensorNotFound {
            path: self.path.clone(),
            msg: format!("{flag} {name}: no such tensor{}", self.suggest(names)),
        })
    }

    fn find_input(&self, names: &[String]) -> Result<String> {
        if let Source::Gguf(_) = self.source {
            if names.iter().any(|n| n == GGUF_INPUT) {
                return Ok(GGUF_INPUT.to_string());
            }
        }
        names::find_input(names).map_err(|ambiguous| {
            let msg = if ambiguous.is_empty() {
                format!(
                    "no input embedding tensor under the usual names (model.embed_tokens.weight, \
                     transformer.wte.weight, gpt_neox.embed_in.weight, token_embd.weight, ...); \
                     pass --embedding NAME{}",
                    self.suggest(names)
                )
            } else {
                format!(
                    "several tensors could be the input embedding ({}); pass --embedding NAME",
                    ambiguous.join(", ")
                )
            };
            WeightsError::TensorNotFound {
                path: self.path.clone(),
                msg,
            }
        })
    }

    fn find_output(&self, names: &[String], input: &str) -> Result<String> {
        let found = match self.source {
            Source::Gguf(_) => names.iter().find(|n| *n == GGUF_OUTPUT).cloned(),
            _ => names::find_output(names, Some(input)),
        };
        found.ok_or_else(|| WeightsError::TensorNotFound {
            path: self.path.clone(),
            msg: format!(
                "the model is not tied ({}), but no unembedding tensor is present under the \
                 usual names (lm_head.weight, embed_out.weight, output.weight, ...); pass \
                 --unembedding NAME, or --unembedding {input} to treat it as tied{}",
                self.tie_reason,
                self.suggest(names)
            ),
        })
    }

    /// "; tensors that look like embeddings: a, b" or "" when there are none. Shapes are
    /// used where known without mapping a shard; sharded checkpoints go by name.
    fn suggest(&self, names: &[String]) -> String {
        let shape = |n: &str| -> Option<Vec<usize>> {
            match &self.source {
                Source::Safetensors(s) => s.tensors.get(n).map(|e| e.shape.clone()),
                Source::Gguf(g) => g
                    .tensor(n)
                    .map(|t| t.dims.iter().map(|&d| d as usize).collect()),
                Source::Sharded(_) => None,
            }
        };
        let like = names::embedding_like(names, &shape, 8);
        if like.is_empty() {
            String::new()
        } else {
            format!("; tensors that look like embeddings: {}", like.join(", "))
        }
    }

    /// See [`Checkpoint::is_tied`].
    fn decide_tie(&self) -> (bool, String) {
        let names = self.tensor_names();
        if let Source::Gguf(_) = self.source {
            return if names.iter().any(|n| n == GGUF_OUTPUT) {
                (false, format!("the GGUF file has {GGUF_OUTPUT}"))
            } else {
                (true, format!("the GGUF file has no {GGUF_OUTPUT}"))
            };
        }
        if let Some(t) = self.config_tie() {
            return (t, format!("config.json tie_word_embeddings = {t}"));
        }
        let model_type = self.config.as_ref().and_then(Config::model_type);
        if let Some(mt) = model_type {
            if names::default_tie(mt) == Some(true) {
                return (
                    true,
                    format!(
                        "config.json has no tie_word_embeddings; model_type {mt} ties by default"
                    ),
                );
            }
        }
        let input = names::find_input(&names).ok();
        match names::find_output(&names, input.as_deref()) {
            Some(o) => (false, format!("separate unembedding tensor {o}")),
            None => (true, "no separate unembedding tensor".to_string()),
        }
    }

    /// `tie_word_embeddings` at the top level, or in `text_config` (multimodal configs).
    fn config_tie(&self) -> Option<bool> {
        self.config.as_ref()?.tie_word_embeddings()
    }
}

/// `config.json` beside the weights file, if there is one (read by
/// [`crate::hf::Config`], which bounds and checks it). A config that exists but cannot be
/// read is an error: silently ignoring it could flip the tie decision.
fn read_config(weights: &Path) -> Result<Option<Config>> {
    let dir = weights.parent().unwrap_or(Path::new("."));
    Ok(Config::read_in(dir)?)
}

/// A sidecar file's error: unreadable is [`WeightsError::Io`], malformed is
/// [`WeightsError::Config`]; the message is the same either way.
impl From<HfError> for WeightsError {
    fn from(e: HfError) -> WeightsError {
        match e {
            HfError::Io { path, source } => WeightsError::Io { path, source },
            HfError::Invalid { path, msg } => WeightsError::Config { path, msg },
        }
    }
}
