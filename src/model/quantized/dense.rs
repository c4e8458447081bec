//! A GGUF `llama` file with its weights dequantized to f32 once at load, run through
//! candle's f32 Llama (the model of Hugging Face checkpoints, [`crate::model::llama`]).
//!
//! Why: on the CPU, candle's quantized models take a batch one sequence at a time (see
//! the module above) and its quantized dot products are several times slower than its
//! f32 matrix products, while verification is all long prompts in large batches. llama.cpp
//! itself takes the same road for large batches on its BLAS backend: dequantize, then
//! sgemm. The values computed with are exactly the file's (each weight as the file's type
//! decodes it); only the activations stay f32 instead of being quantized to q8 for the dot
//! products, so the logits are, if anything, closer to the file's model. The price is
//! memory: 4 bytes per weight, which [`fits`] bounds.
//!
//! llama.cpp's converter permutes the rows of `attn_q` and `attn_k` so that its
//! interleaved RoPE sees the pairs Hugging Face's half-split RoPE rotates; the inverse
//! permutation here restores the Hugging Face layout candle's Llama expects.

use std::io::{Read, Seek};

use anyhow::{anyhow, Result};
use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama;

use super::Meta;
use crate::model::Causal;

/// Bytes the f32 weights take.
pub fn f32_bytes(content: &Content) -> u64 {
    content
        .tensor_infos
        .values()
        .map(|t| t.shape.elem_count() as u64 * 4)
        .sum()
}

/// Whether `bytes` of f32 weights fit: at most half the memory the system has available
/// now (`MemAvailable` in /proc/meminfo; unknown: no).
pub fn fits(bytes: u64) -> bool {
    let avail = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    avail.is_some_and(|kb| bytes <= kb * 1024 / 2)
}

/// candle's Llama config from the file's metadata (checked by `llama::check` first).
fn config(meta: &Meta<'_>, vocab: usize, tied: bool) -> Result<llama::Config> {
    Ok(llama::Config {
        hidden_size: meta.u32("embedding_length")?,
        intermediate_size: meta.u32("feed_forward_length")?,
        vocab_size: vocab,
        num_hidden_layers: meta.u32("block_count")?,
        num_attention_heads: meta.u32("attention.head_count")?,
        num_key_value_heads: meta.u32("attention.head_count_kv")?,
        use_flash_attn: false,
        rms_norm_eps: meta.need_f32("attention.layer_norm_rms_epsilon")? as f64,
        // llama.cpp's default when the key is absent.
        rope_theta: meta.f32("rope.freq_base")?.unwrap_or(10_000.0),
        bos_token_id: None,
        eos_token_id: None,
        rope_scaling: None,
        max_position_embeddings: (meta.opt_u64("context_length").unwrap_or(4096) as usize)
            .min(crate::model::RUN_POSITIONS),
        tie_word_embeddings: tied,
    })
}

/// Undo the converter's row permutation of a `[heads × head_dim, hidden]` projection.
fn unpermute(t: Tensor, heads: usize) -> Result<Tensor> {
    let (rows, cols) = t.dims2()?;
    let hd = rows / heads;
    Ok(t.reshape((heads, hd / 2, 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))?)
}

/// The Hugging Face name of a GGUF tensor name, and how many heads to unpermute by.
fn hf_name(gguf: &str, heads: usize, kv: usize) -> Option<(String, Option<usize>)> {
    let top = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(t) = top {
        return Some((t.to_string(), None));
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, name) = rest.split_once('.')?;
    let (hf, perm) = match name {
        "attn_norm.weight" => ("input_layernorm.weight", None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", None),
        "attn_q.weight" => ("self_attn.q_proj.weight", Some(heads)),
        "attn_k.weight" => ("self_attn.k_proj.weight", Some(kv)),
        "attn_v.weight" => ("self_attn.v_proj.weight", None),
        "attn_output.weight" => ("self_attn.o_proj.weight", None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", None),
        "ffn_up.weight" => ("mlp.up_proj.weight", None),
        "ffn_down.weight" => ("mlp.down_proj.weight", None),
        _ => return None,
    };
    Some((format!("model.layers.{layer}.{hf}"), perm))
}

/// Dequantize every tensor of the file and build candle's f32 Llama from them.
pub fn load<R: Read + Seek>(
    meta: &Meta<'_>,
    content: &Content,
    reader: &mut R,
    device: &Device,
) -> Result<Box<dyn Causal>> {
    let heads = meta.u32("attention.head_count")?;
    let kv = meta.u32("attention.head_count_kv")?;
    let mut tensors = std::collections::HashMap::new();
    for name in content.tensor_infos.keys() {
        // Tensors candle's Llama does not read (RoPE frequency tables of some converters)
        // were refused or are absent after `llama::check`; anything else is an error.
        let (hf, perm) = hf_name(name, heads, kv).ok_or_else(|| {
            anyhow!(
                "{}: tensor '{name}' has no place in the Llama model",
                meta.path()
            )
        })?;
        let q = content
            .tensor(reader, name, device)
            .map_err(|e| anyhow!("{}: reading tensor '{name}': {e}", meta.path()))?;
        let mut t = q
            .dequantize(device)
            .map_err(|e| anyhow!("{}: dequantizing tensor '{name}': {e}", meta.path()))?;
        if let Some(h) = perm {
            t = unpermute(t, h)?;
        }
        tensors.insert(hf, t.to_dtype(DType::F32)?);
    }
    let vocab = tensors
        .get("model.embed_tokens.weight")
        .map(|t| t.dim(0))
        .transpose()?
        .unwrap_or(0);
    let tied = !tensors.contains_key("lm_head.weight");
    let cfg = config(meta, vocab, tied)?;
    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    crate::model::llama::from_parts(vb, cfg, DType::F32, device)
}
