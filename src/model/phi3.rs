//! Phi-3 (candle-transformers' `phi3::Model`): config mapping, load and the forward glue.
//! The KV cache lives inside the model, so a fork is a clone.

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::phi3;

use super::{Arch, Causal, LoadContext, Spec};
use crate::hf::{Family, Forward};

/// `model_type` `phi3` (without one, the `architectures` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Phi3,
    name: "phi3",
    model_types: &["phi3"],
    classes: &["Phi3ForCausalLM"],
    facts,
    check,
    load,
};

fn facts(c: &crate::hf::Config) -> Result<super::Facts> {
    Ok(super::Facts::of_forward(&Forward::read(c, Family::Phi3)?))
}

fn check(files: &[std::path::PathBuf], c: &crate::hf::Config) -> Result<()> {
    super::shapes::check(
        files,
        &Forward::read(c, Family::Phi3)?,
        Family::Phi3,
        c.path(),
    )
}

impl Causal for phi3::Model {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        // [batch, 1, vocab]: the model already keeps only the last position.
        Ok(phi3::Model::forward(self, ids, pos)?.squeeze(1)?)
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
    let f = Forward::read(cx.config, Family::Phi3)?;
    Ok(Box::new(phi3::Model::new(&config(&f), vb)?))
}

/// candle's Phi-3 config, built field by field from the checked view (which refuses
/// every RoPE scaling, so `rope_scaling` is always none here).
pub fn config(f: &Forward) -> phi3::Config {
    phi3::Config {
        vocab_size: f.vocab_size,
        hidden_act: f.hidden_act,
        hidden_size: f.hidden_size,
        intermediate_size: f.intermediate_size,
        num_hidden_layers: f.num_hidden_layers,
        num_attention_heads: f.num_attention_heads,
        num_key_value_heads: f.num_key_value_heads,
        rms_norm_eps: f.rms_norm_eps,
        rope_theta: f.rope_theta,
        bos_token_id: None,
        eos_token_id: None,
        rope_scaling: None,
        max_position_embeddings: f.max_position_embeddings.min(super::RUN_POSITIONS),
        original_max_position_embeddings: None,
        partial_rotary_factor: f.partial_rotary_factor,
        tie_word_embeddings: f.tie_word_embeddings,
    }
}
