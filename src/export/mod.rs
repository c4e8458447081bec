//! Export: write a Hugging Face checkpoint as GGUF (for serving engines such as llama.cpp).
//!
//! The mapping mirrors llama.cpp's `convert_hf_to_gguf.py` for its `llama` architecture
//! (`LlamaForCausalLM`, `MistralForCausalLM`), so that the project can serve the models it
//! audits with llama.cpp without a Python toolchain. Three things have to be right for the
//! served model to be the same model:
//!
//! - the tensors ([`tensors`]): llama.cpp's names, dims in ggml order, and the Q/K rows
//!   permuted back from Hugging Face's rotate-half RoPE layout to ggml's interleaved one
//!   ([`permuted_row`]);
//! - the hyper-parameters ([`hparams`]): anything llama.cpp's `llama` graph cannot express
//!   (RoPE scaling, biases, other activations) is refused rather than silently dropped;
//! - the tokenizer ([`tokenizer`]): llama.cpp re-implements tokenization from
//!   `tokenizer.ggml.*`, so the scores (SentencePiece-style) or merges (byte-level) must
//!   make it encode text to the ids the model was trained on.
//!
//! Everything is read and checked before the output file is created, and the file is
//! written through [`crate::util::fs::write_atomic`], so a failure leaves nothing behind.

mod hparams;
mod tensors;
mod tokenizer;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use crate::gguf::writer::{GgmlType, GgufWriter, TensorSpec};
use crate::gguf::GgufValue;
use crate::weights::{Checkpoint, Source};
use hparams::HParams;
use tensors::{default_matrix_type, plan_tensors};
use tokenizer::TokenizerPlan;

pub use tensors::permuted_row;

/// The data alignment written as `general.alignment` (GGUF's default, stated explicitly).
pub const ALIGNMENT: u32 = 32;

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// Hugging Face model directory: config.json, weights, tokenizer.
    pub model_dir: PathBuf,
    /// The GGUF file to write.
    pub out: PathBuf,
    /// Element type of the 2-D matrices; `None`: f16 when every matrix of the checkpoint
    /// is f16 (a lossless copy), f32 otherwise (bf16 → f32 is exact, bf16 → f16 is not).
    pub dtype: Option<GgmlType>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// The GGUF file written.
    pub out: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Number of tensors in it.
    pub tensors: usize,
    /// Type of the 2-D matrices (norm weights are always f32).
    pub matrix_type: GgmlType,
    /// `tokenizer.ggml.model`: "llama" or "gpt2".
    pub tokenizer_model: &'static str,
    /// Entries of `tokenizer.ggml.tokens` (the model's vocabulary size).
    pub n_tokens: usize,
    /// Whether `output.weight` was left out so that llama.cpp reuses `token_embd.weight`.
    pub tied: bool,
    /// Things the user should know: tokenizer steps llama.cpp does not reproduce, ignored
    /// tensors. Empty for the common case.
    pub notes: Vec<String>,
}

/// Export `s.model_dir` to `s.out`.
pub fn run(s: &ExportSettings) -> Result<ExportReport> {
    let dir = &s.model_dir;
    if !dir.is_dir() {
        bail!(
            "{}: not a model directory (export-gguf needs a Hugging Face directory with \
             config.json, safetensors weights and a tokenizer)",
            dir.display()
        );
    }
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        bail!(
            "{}: missing (export-gguf needs the model's hyper-parameters)",
            config_path.display()
        );
    }
    let mut notes = Vec::new();
    let ck = Checkpoint::open(dir)?;
    if let Source::Gguf(_) = ck.source {
        bail!(
            "{}: already GGUF; export-gguf reads safetensors checkpoints",
            ck.path.display()
        );
    }
    let config = ck
        .hf_config()
        .ok_or_else(|| anyhow!("{}: missing", config_path.display()))?;
    let mut hp = HParams::read(&config_path, config, &mut notes)?;
    let tensors = plan_tensors(&ck, &mut hp, &mut notes)?;
    let matrix_type = s.dtype.unwrap_or_else(|| default_matrix_type(&tensors));
    let tok = TokenizerPlan::read(dir, &hp, config, &mut notes)?;

    let mut w = GgufWriter::new();
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".to_string());
    let file_type = match matrix_type {
        GgmlType::F32 => 0,
        GgmlType::F16 => 1,
    };
    w.add("general.architecture", s_("llama"))?;
    w.add("general.name", s_(&name))?;
    w.add("general.file_type", GgufValue::U32(file_type))?;
    w.add("general.alignment", GgufValue::U32(ALIGNMENT))?;
    hp.add_metadata(&mut w)?;
    tok.add_metadata(&mut w)?;
    for t in &tensors {
        w.add_tensor(TensorSpec {
            name: t.gguf.clone(),
            dims: t.gguf_dims(),
            ggml_type: t.out_type(matrix_type),
        })?;
    }

    let mut bytes = 0;
    crate::util::fs::write_atomic(&s.out, |out| {
        bytes = w.write(out, |i, spec, out| {
            tensors[i].write_data(&ck, spec.ggml_type, out)
        })?;
        Ok(())
    })?;
    Ok(ExportReport {
        out: s.out.clone(),
        bytes,
        tensors: tensors.len(),
        matrix_type,
        tokenizer_model: tok.model,
        n_tokens: tok.tokens.len(),
        tied: hp.tied,
        notes,
    })
}

/// A GGUF string value.
fn s_(s: &str) -> GgufValue {
    GgufValue::Str(s.to_string())
}

/// A GGUF u32 value, refusing sizes that do not fit (naming the config that gave them).
fn u32_(path: &Path, what: &str, v: usize) -> Result<GgufValue> {
    u32::try_from(v)
        .map(GgufValue::U32)
        .map_err(|_| anyhow!("{}: {what} {v} does not fit GGUF's u32", path.display()))
}
