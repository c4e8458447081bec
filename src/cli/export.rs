//! `tokenaudit export-gguf`: flags, their resolution into [`ExportSettings`], and the
//! command.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use tokenaudit::export::{self, ExportSettings};
use tokenaudit::gguf::writer::GgmlType;

#[derive(Debug, Args)]
pub struct ExportGgufArgs {
    /// Hugging Face model directory: config.json, model.safetensors (or a sharded
    /// model.safetensors.index.json) and tokenizer.json. Llama and Mistral models only.
    #[arg(value_name = "MODEL_DIR")]
    pub model: PathBuf,
    /// The GGUF file to write. It appears only when complete: an error leaves no file.
    #[arg(value_name = "OUT.gguf")]
    pub out: PathBuf,
    /// Element type of the weight matrices: f16 or f32. Default: f16 for f16
    /// checkpoints (a lossless copy), f32 otherwise (bf16 → f32 is exact). Norm weights
    /// are always f32.
    #[arg(long, value_name = "f32|f16", value_parser = parse_dtype)]
    pub dtype: Option<GgmlType>,
}

fn parse_dtype(s: &str) -> std::result::Result<GgmlType, String> {
    match s.to_ascii_lowercase().as_str() {
        "f32" => Ok(GgmlType::F32),
        "f16" => Ok(GgmlType::F16),
        _ => Err(format!("unknown dtype '{s}' (expected f32 or f16)")),
    }
}

impl ExportGgufArgs {
    pub fn settings(&self) -> ExportSettings {
        ExportSettings {
            model_dir: self.model.clone(),
            out: self.out.clone(),
            dtype: self.dtype,
        }
    }
}

pub fn run(a: ExportGgufArgs) -> Result<()> {
    let to_err = super::check_outputs([Some(a.out.as_path())])?;
    let r = export::run(&a.settings())?;
    let mut out = super::summary_out(to_err);
    writeln!(
        out,
        "wrote {} ({} bytes): {} tensors, {} matrices, tokenizer {} with {} ids{}",
        r.out.display(),
        r.bytes,
        r.tensors,
        r.matrix_type.name(),
        r.tokenizer_model,
        r.n_tokens,
        if r.tied {
            ", output tied to token_embd"
        } else {
            ""
        }
    )?;
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}
