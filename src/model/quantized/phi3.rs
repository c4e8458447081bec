//! `general.architecture` `phi3` through candle-transformers' `quantized_phi3`. Its KV
//! cache is candle-nn's preallocated `KvCache`, written in place: clones share the
//! buffer, so a fork is not independent; it runs as `Recompute`. candle hard-codes RoPE
//! base 10000 and applies no scaling, so files with another `rope.freq_base` or with
//! long-context RoPE factors (Phi-3 128k) are refused.

use anyhow::{bail, Result};
use candle_core::Tensor;
use candle_transformers::models::quantized_phi3::ModelWeights;

use super::{recompute, Cache, Loader, Meta, QArch, QModel, QSpec};
use crate::model::Causal;

/// `general.architecture` `phi3`.
pub const SPEC: QSpec = QSpec {
    arch: QArch::Phi3,
    name: "gguf:phi3",
    gguf_arch: "phi3",
    check,
    max_positions: |m, _| m.opt_u64("context_length").unwrap_or(0) as usize,
    cache: |_| Cache::Recompute,
    load,
};

impl QModel for ModelWeights {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        ModelWeights::forward(self, ids, pos)
    }

    /// candle's phi3 resets its cache at position 0 itself.
    fn clear(&mut self) {}
}

fn check(meta: &Meta<'_>) -> Result<()> {
    let path = meta.file.path.display();
    let h = meta.u32("embedding_length")?;
    let heads = meta.u32("attention.head_count")?;
    let kv = meta.u32("attention.head_count_kv")?;
    let layers = meta.u32("block_count")?;
    let ff = meta.u32("feed_forward_length")?;
    let rope = meta.u32("rope.dimension_count")?;
    meta.u32("context_length")?;
    meta.need_f32("attention.layer_norm_rms_epsilon")?;
    meta.no_rope_scaling()?;
    if let Some(b) = meta.f32("rope.freq_base")? {
        if b != 10_000.0 {
            bail!("{path}: rope.freq_base {b}: candle's quantized phi3 uses 10000 only");
        }
    }
    if heads == 0 || h % heads != 0 {
        bail!("{path}: embedding_length {h} is not a multiple of head_count {heads}");
    }
    let hd = h / heads;
    if rope != hd {
        bail!("{path}: rope.dimension_count {rope} ≠ head size {hd}: not supported by candle");
    }
    let vocab = meta
        .file
        .tensor("token_embd.weight")
        .and_then(|t| t.dims.get(1).copied())
        .unwrap_or(0) as usize;
    meta.expect("token_embd.weight", &[h, vocab.max(1)])?;
    meta.expect("output_norm.weight", &[h])?;
    meta.expect("output.weight", &[h, vocab])?;
    for i in 0..layers {
        let p = format!("blk.{i}");
        meta.expect(&format!("{p}.attn_norm.weight"), &[h])?;
        meta.expect(&format!("{p}.ffn_norm.weight"), &[h])?;
        meta.expect(&format!("{p}.attn_qkv.weight"), &[h, (heads + 2 * kv) * hd])?;
        meta.expect(&format!("{p}.attn_output.weight"), &[h, h])?;
        meta.expect(&format!("{p}.ffn_up.weight"), &[h, 2 * ff])?;
        meta.expect(&format!("{p}.ffn_down.weight"), &[ff, h])?;
    }
    Ok(())
}

fn load(l: Loader<'_>, _: Cache) -> Result<Box<dyn Causal>> {
    let m = ModelWeights::from_gguf(false, l.content, l.reader, l.device)?;
    Ok(recompute(m))
}
