//! `general.architecture` `llama` (Llama, Mistral, SmolLM, Yi, …) through
//! candle-transformers' `quantized_llama`. Its model is `Clone` with a per-layer KV cache
//! that handles batches and a cached prefix (a rectangular causal mask), so it runs
//! natively: forks clone the cache.
//!
//! candle reads `head_dim` as `embedding_length / head_count` and builds its RoPE tables
//! from `rope.dimension_count` for at most 4096 positions (`MAX_SEQ_LEN`), with
//! `rope.freq_base` defaulting to 10000 as llama.cpp does. Files where `attention.key_length`
//! or `rope.dimension_count` differ from that head size, or that use RoPE scaling, are
//! refused. Mixture-of-experts files load only in the per-expert tensor layout
//! (`ffn_gate.{e}`); the merged layout (`ffn_gate_exps`) is refused.

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};

use super::{check_llama_like, native, Cache, Loader, Meta, QArch, QModel, QSpec};
use crate::model::Causal;

/// `general.architecture` `llama`.
pub const SPEC: QSpec = QSpec {
    arch: QArch::Llama,
    name: "gguf:llama",
    gguf_arch: "llama",
    check,
    max_positions,
    cache: |_| Cache::Native,
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
    let rope = meta.u32("rope.dimension_count")?;
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
                 not supported by candle's quantized llama",
                meta.file.path.display()
            );
        }
    }
    if rope != head_dim {
        bail!(
            "{}: rope.dimension_count {rope} ≠ head size {head_dim} (partial rotary): not \
             supported by candle's quantized llama",
            meta.file.path.display()
        );
    }
    let experts = meta.opt_u64("expert_count").unwrap_or(0);
    if experts > 1 {
        if meta.has("blk.0.ffn_gate_exps.weight") {
            bail!(
                "{}: mixture-of-experts tensors in the merged layout (ffn_gate_exps) are not \
                 supported by candle's quantized llama",
                meta.file.path.display()
            );
        }
        meta.u32("expert_used_count")?;
        let layers = meta.u32("block_count")?;
        for i in 0..layers {
            for t in ["ffn_gate_inp.weight".to_string()]
                .into_iter()
                .chain((0..experts).flat_map(|e| {
                    [
                        format!("ffn_gate.{e}.weight"),
                        format!("ffn_up.{e}.weight"),
                        format!("ffn_down.{e}.weight"),
                    ]
                }))
            {
                meta.need(&format!("blk.{i}.{t}"))?;
            }
        }
        return Ok(());
    }
    check_llama_like(meta, head_dim, &[])
}

fn max_positions(meta: &Meta<'_>, _: &Device) -> usize {
    let ctx = meta.opt_u64("context_length").unwrap_or(MAX_SEQ_LEN as u64) as usize;
    ctx.min(MAX_SEQ_LEN)
}

fn load(l: Loader<'_>, _: Cache) -> Result<Box<dyn Causal>> {
    let m = ModelWeights::from_gguf(l.content, l.reader, l.device)?;
    Ok(native(m))
}
