//! Qwen3 (candle-transformers' `qwen3::ModelForCausalLM`): config mapping, load and the
//! forward glue. Its attention is sized by `head_dim` itself and normalises q and k per
//! head; the KV cache lives inside the model, so a fork is a clone.

use anyhow::{bail, Result};
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::qwen3;

use super::{Arch, Causal, LoadContext, Spec};
use crate::hf::{Family, Forward};

/// `model_type` `qwen3` (without one, the `architectures` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Qwen3,
    name: "qwen3",
    model_types: &["qwen3"],
    classes: &["Qwen3ForCausalLM"],
    facts,
    check,
    load,
};

fn facts(c: &crate::hf::Config) -> Result<super::Facts> {
    Ok(super::Facts::of_forward(&Forward::read(c, Family::Qwen3)?))
}

fn check(files: &[std::path::PathBuf], c: &crate::hf::Config) -> Result<()> {
    super::shapes::check(
        files,
        &Forward::read(c, Family::Qwen3)?,
        Family::Qwen3,
        c.path(),
    )
}

impl Causal for qwen3::ModelForCausalLM {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        // [batch, 1, vocab]: the model keeps only the last position.
        Ok(qwen3::ModelForCausalLM::forward(self, ids, pos)?.squeeze(1)?)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.clear_kv_cache();
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let f = Forward::read(cx.config, Family::Qwen3)?;
    if !f.tie_word_embeddings && !vb.contains_tensor("lm_head.weight") {
        bail!(
            "{}: tie_word_embeddings is false but the checkpoint has no lm_head.weight",
            cx.config.path().display()
        );
    }
    Ok(Box::new(qwen3::ModelForCausalLM::new(&config(&f), vb)?))
}

/// candle's Qwen3 config, field by field from the checked view. candle's Qwen3 has no
/// sliding window (it refuses `use_sliding_window`): a window in force already caps the
/// positions the view allows, within which it masks nothing.
pub fn config(f: &Forward) -> qwen3::Config {
    qwen3::Config {
        vocab_size: f.vocab_size,
        hidden_size: f.hidden_size,
        intermediate_size: f.intermediate_size,
        num_hidden_layers: f.num_hidden_layers,
        num_attention_heads: f.num_attention_heads,
        head_dim: f.head_dim,
        attention_bias: f.attention_bias,
        num_key_value_heads: f.num_key_value_heads,
        max_position_embeddings: f.max_position_embeddings.min(super::RUN_POSITIONS),
        sliding_window: None,
        max_window_layers: f.num_hidden_layers,
        tie_word_embeddings: f.tie_word_embeddings,
        rope_theta: f.rope_theta,
        rms_norm_eps: f.rms_norm_eps,
        use_sliding_window: false,
        hidden_act: f.hidden_act,
    }
}
