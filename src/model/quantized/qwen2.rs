//! `general.architecture` `qwen2` through candle-transformers' `quantized_qwen2`. Its
//! `ModelWeights` is not `Clone` in candle 0.11.1, so a fork could not copy its KV cache:
//! it runs as `Recompute` (every pass from position 0 over the ids so far, one model
//! shared by the forks). candle reads `head_dim` as `embedding_length / head_count`, needs
//! the q/k/v biases, and builds RoPE for `context_length` positions (`rope.freq_base`
//! defaults to 10000, as in llama.cpp).

use anyhow::{bail, Result};
use candle_core::Tensor;
use candle_transformers::models::quantized_qwen2::ModelWeights;

use super::{check_llama_like, recompute, Cache, Loader, Meta, QArch, QModel, QSpec};
use crate::model::Causal;

/// `general.architecture` `qwen2`.
pub const SPEC: QSpec = QSpec {
    arch: QArch::Qwen2,
    name: "gguf:qwen2",
    gguf_arch: "qwen2",
    check,
    max_positions: |m, _| m.opt_u64("context_length").unwrap_or(0) as usize,
    cache: |_| Cache::Recompute,
    load,
};

impl QModel for ModelWeights {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        ModelWeights::forward(self, ids, pos)
    }

    fn clear(&mut self) {
        self.clear_kv_cache();
    }
}

fn check(meta: &Meta<'_>) -> Result<()> {
    let h = meta.u32("embedding_length")?;
    let heads = meta.u32("attention.head_count")?;
    meta.u32("context_length")?;
    meta.need_f32("attention.layer_norm_rms_epsilon")?;
    meta.f32("rope.freq_base")?;
    meta.no_rope_scaling()?;
    if heads == 0 || h % heads != 0 {
        bail!(
            "{}: embedding_length {h} is not a multiple of head_count {heads}",
            meta.file.path.display()
        );
    }
    let head_dim = h / heads;
    if let Some(k) = meta.opt_u64("attention.key_length") {
        if k as usize != head_dim {
            bail!(
                "{}: attention.key_length {k} ≠ embedding_length / head_count = {head_dim}: \
                 not supported by candle's quantized qwen2",
                meta.file.path.display()
            );
        }
    }
    check_llama_like(
        meta,
        head_dim,
        &["attn_q.bias", "attn_k.bias", "attn_v.bias"],
    )
}

fn load(l: Loader<'_>, _: Cache) -> Result<Box<dyn Causal>> {
    let m = ModelWeights::from_gguf(l.content, l.reader, l.device)?;
    Ok(recompute(m))
}
