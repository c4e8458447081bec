//! `general.architecture` `gemma3` through candle-transformers' `quantized_gemma3`. Its
//! mask cannot extend a cached prefix (it concatenates a u32 mask with an f32 one, and
//! would mask the prefix out) and a one-token step applies no sliding window, so it runs
//! as `Recompute`: every pass from position 0 with the full, windowed mask. `head_dim`
//! is `attention.key_length`; `attention.sliding_window` is required by candle, and the
//! sliding pattern defaults to every 6th layer global, as in llama.cpp.

use anyhow::Result;
use candle_core::Tensor;
use candle_transformers::models::quantized_gemma3::ModelWeights;

use super::{check_llama_like, recompute, Cache, Loader, Meta, QArch, QModel, QSpec};
use crate::model::Causal;

/// `general.architecture` `gemma3`.
pub const SPEC: QSpec = QSpec {
    arch: QArch::Gemma3,
    name: "gguf:gemma3",
    gguf_arch: "gemma3",
    check,
    max_positions: |m, _| {
        let ctx = m.opt_u64("context_length").unwrap_or(0) as usize;
        ctx.min(candle_transformers::models::quantized_gemma3::MAX_SEQ_LEN)
    },
    cache: |_| Cache::Recompute,
    load,
};

impl QModel for ModelWeights {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        ModelWeights::forward(self, ids, pos)
    }

    /// candle's gemma3 ignores its cache at position 0, the only position used here.
    fn clear(&mut self) {}
}

fn check(meta: &Meta<'_>) -> Result<()> {
    let head_dim = meta.u32("attention.key_length")?;
    meta.u32("attention.value_length")?;
    meta.u32("attention.sliding_window")?;
    meta.need_f32("attention.layer_norm_rms_epsilon")?;
    meta.f32("rope.freq_base")?;
    meta.f32("rope.local_freq_base")?;
    meta.no_rope_scaling()?;
    check_llama_like(
        meta,
        head_dim,
        &[
            "attn_q_norm.weight",
            "attn_k_norm.weight",
            "post_attention_norm.weight",
            "post_ffw_norm.weight",
        ],
    )
}

fn load(l: Loader<'_>, _: Cache) -> Result<Box<dyn Causal>> {
    let m = ModelWeights::from_gguf(l.content, l.reader, l.device)?;
    Ok(recompute(m))
}
