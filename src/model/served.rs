//! What we need to know of a model served by an engine (`--backend openai`), where no
//! weights are loaded here.

use std::path::Path;

use anyhow::{bail, Result};
use candle_core::{DType, Device};

use super::ModelInfo;
use crate::hf::Config;

/// Facts about a served model: its config.json when the model directory has one
/// (vocabulary size, context), else the tokenizer's size and no limit of our own on the
/// context (the engine enforces its own).
pub fn served_info(
    dir: &Path,
    vocab: &crate::vocab::Vocab,
    ep: &crate::openai::Endpoint,
) -> Result<ModelInfo> {
    if super::quantized::is_gguf(dir) {
        return gguf_info(dir, vocab, ep);
    }
    let config = if dir.join("config.json").is_file() {
        Config::read_in(dir)?
    } else {
        None
    };
    let field = |k: &str| config.as_ref().and_then(|c| c.usize(k));
    let vocab_size = field("vocab_size").unwrap_or(vocab.len());
    if vocab.len() > vocab_size {
        bail!(
            "{}: the tokenizer has {} ids but the model's vocab_size is {}: the tokenizer \
             does not match the model",
            vocab.source.display(),
            vocab.len(),
            vocab_size
        );
    }
    Ok(ModelInfo {
        dir: dir.to_path_buf(),
        arch: None,
        served: Some(engine(ep)),
        vocab_size,
        max_positions: field("max_position_embeddings").unwrap_or(1 << 20),
        hidden_size: field("hidden_size").unwrap_or(0),
        layers: field("num_hidden_layers").unwrap_or(0),
        eos_ids: {
            let ids = super::eos_ids(dir, config.as_ref())?;
            if ids.is_empty() {
                vocab.eos_id.into_iter().collect()
            } else {
                ids
            }
        },
        dtype: DType::F32,
        device: Device::Cpu,
        dequantized: false,
    })
}

fn engine(ep: &crate::openai::Endpoint) -> String {
    format!(
        "{}{}",
        ep.url,
        ep.model
            .as_deref()
            .map(|m| format!(" model {m}"))
            .unwrap_or_default()
    )
}

/// A served model given as the GGUF file the engine serves: its metadata says what a
/// model directory's config.json would.
fn gguf_info(
    path: &Path,
    vocab: &crate::vocab::Vocab,
    ep: &crate::openai::Endpoint,
) -> Result<ModelInfo> {
    let f = super::quantized::facts(&crate::gguf::GgufFile::open(path)?);
    let vocab_size = f.vocab_size.unwrap_or(vocab.len());
    if vocab.len() > vocab_size {
        bail!(
            "{}: the tokenizer has {} ids but the model's token_embd has {vocab_size} rows: \
             the tokenizer does not match the model",
            vocab.source.display(),
            vocab.len()
        );
    }
    Ok(ModelInfo {
        dir: path.to_path_buf(),
        arch: None,
        served: Some(engine(ep)),
        vocab_size,
        max_positions: f.context.unwrap_or(1 << 20),
        hidden_size: f.hidden.unwrap_or(0),
        layers: f.layers.unwrap_or(0),
        eos_ids: if f.eos_ids.is_empty() {
            vocab.eos_id.into_iter().collect()
        } else {
            f.eos_ids
        },
        dtype: DType::F32,
        device: Device::Cpu,
        dequantized: false,
    })
}
