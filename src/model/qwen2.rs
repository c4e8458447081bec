//! Qwen2 (candle-transformers' `qwen2::ModelForCausalLM`): config mapping, load and the
//! forward glue. The KV cache lives inside the model, so a fork is a clone.

use anyhow::{bail, Result};
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::qwen2;

use super::{Arch, Causal, LoadContext, Spec};
use crate::hf::{Family, Forward};

/// `model_type` `qwen2` (without one, the `architectures` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Qwen2,
    name: "qwen2",
    model_types: &["qwen2"],
    classes: &["Qwen2ForCausalLM"],
    facts,
    check,
    load,
};

fn facts(c: &crate::hf::Config) -> Result<super::Facts> {
    Ok(super::Facts::of_forward(&Forward::read(c, Family::Qwen2)?))
}

fn check(files: &[std::path::PathBuf], c: &crate::hf::Config) -> Result<()> {
    super::shapes::check(
        files,
        &Forward::read(c, Family::Qwen2)?,
        Family::Qwen2,
        c.path(),
    )
}

impl Causal for qwen2::ModelForCausalLM {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        // [batch, 1, vocab]: the model already keeps only the last position.
        Ok(qwen2::ModelForCausalLM::forward(self, ids, pos)?.squeeze(1)?)
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
    let f = Forward::read(cx.config, Family::Qwen2)?;
    // candle picks the head by the tensors alone: hold it to the config's tie flag.
    if !f.tie_word_embeddings && !vb.contains_tensor("lm_head.weight") {
        bail!(
            "{}: tie_word_embeddings is false but the checkpoint has no lm_head.weight",
            cx.config.path().display()
        );
    }
    Ok(Box::new(qwen2::ModelForCausalLM::new(&config(&f), vb)?))
}

/// candle's Qwen2 config, built field by field from the checked view. candle applies
/// `sliding_window` to every layer whatever `use_sliding_window` says, so a window not
/// in force is the whole context (the view already caps positions at a window in force).
pub fn config(f: &Forward) -> qwen2::Config {
    qwen2::Config {
        vocab_size: f.vocab_size,
        hidden_size: f.hidden_size,
        intermediate_size: f.intermediate_size,
        num_hidden_layers: f.num_hidden_layers,
        num_attention_heads: f.num_attention_heads,
        num_key_value_heads: f.num_key_value_heads,
        max_position_embeddings: f.max_position_embeddings.min(super::RUN_POSITIONS),
        sliding_window: f
            .sliding_window
            .unwrap_or(f.max_position_embeddings)
            .min(super::RUN_POSITIONS),
        max_window_layers: f.num_hidden_layers,
        tie_word_embeddings: f.tie_word_embeddings,
        rope_theta: f.rope_theta,
        rms_norm_eps: f.rms_norm_eps,
        use_sliding_window: f.sliding_window.is_some(),
        hidden_act: f.hidden_act,
    }
}
