//! `general.architecture` `qwen3` through candle-transformers' `quantized_qwen3`. On CPU
//! candle's attention takes one sequence at a time (a batch panics on its missing
//! fallback cache) and keeps a preallocated raw cache of 4096 positions per layer that a
//! fork would copy, and its cache appends whatever the position; so on CPU it runs as
//! `Recompute` (each sequence from position 0, one model shared by the forks), on CUDA
//! natively (its concatenating cache, cleared at position 0). `head_dim` is
//! `attention.key_length`; `rope.freq_base` is required by candle.

use anyhow::Result;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_qwen3::ModelWeights;

use super::{check_llama_like, native, recompute, Cache, Loader, Meta, QArch, QModel, QSpec};
use crate::model::Causal;

/// `general.architecture` `qwen3`.
pub const SPEC: QSpec = QSpec {
    arch: QArch::Qwen3,
    name: "gguf:qwen3",
    gguf_arch: "qwen3",
    check,
    max_positions: |m, _| m.opt_u64("context_length").unwrap_or(0) as usize,
    cache: |d: &Device| {
        if d.is_cpu() {
            Cache::Recompute
        } else {
            Cache::Native
        }
    },
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
    let head_dim = meta.u32("attention.key_length")?;
    meta.u32("context_length")?;
    meta.need_f32("attention.layer_norm_rms_epsilon")?;
    meta.need_f32("rope.freq_base")?;
    meta.no_rope_scaling()?;
    check_llama_like(
        meta,
        head_dim,
        &["attn_q_norm.weight", "attn_k_norm.weight"],
    )
}

fn load(l: Loader<'_>, cache: Cache) -> Result<Box<dyn Causal>> {
    let m = ModelWeights::from_gguf(l.content, l.reader, l.device)?;
    Ok(match cache {
        Cache::Native => native(m),
        Cache::Recompute => recompute(m),
    })
}
