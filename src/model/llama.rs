//! Llama and Mistral (candle-transformers' `llama`): config mapping, the tensor check its
//! loader needs, load, and the forward/fork glue. Its KV cache lives outside the model, so
//! a fork clones both.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama;

use super::{Arch, Causal, LoadContext, Spec};
use crate::hf::{Family, Forward, RopeScaling};

/// `model_type` `llama` or `mistral` (without one, the `architectures` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Llama,
    name: "llama",
    model_types: &["llama", "mistral"],
    classes: &["LlamaForCausalLM", "MistralForCausalLM"],
    facts,
    check,
    load,
};

fn facts(c: &crate::hf::Config) -> Result<super::Facts> {
    Ok(super::Facts::of_forward(&Forward::read(c, Family::Llama)?))
}

fn check(files: &[std::path::PathBuf], c: &crate::hf::Config) -> Result<()> {
    super::shapes::check(
        files,
        &Forward::read(c, Family::Llama)?,
        Family::Llama,
        c.path(),
    )
}

/// A Llama-family model with the cache candle keeps beside it, and what rebuilding that
/// cache needs.
#[derive(Clone)]
struct Llama {
    model: llama::Llama,
    cache: llama::Cache,
    config: llama::Config,
    dtype: DType,
    device: Device,
}

impl Causal for Llama {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        Ok(self.model.forward(ids, pos, &mut self.cache)?)
    }

    fn reset(&mut self, use_cache: bool) -> Result<()> {
        self.cache = llama::Cache::new(use_cache, self.dtype, &self.config, &self.device)?;
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let cfg = config(&Forward::read(cx.config, Family::Llama)?);
    // The tensors were held to the config by `super::shapes::check` (candle's Llama
    // loader unwraps per-layer results).
    from_parts(vb, cfg, cx.dtype, cx.device)
}

/// candle's Llama from checked tensors and config (also for a dequantized GGUF file,
/// [`crate::model::quantized::dense`]).
pub fn from_parts(
    vb: VarBuilder<'_>,
    cfg: llama::Config,
    dtype: DType,
    device: &Device,
) -> Result<Box<dyn Causal>> {
    let model = llama::Llama::load(vb, &cfg)?;
    let cache = llama::Cache::new(true, dtype, &cfg, device)?;
    Ok(Box::new(Llama {
        model,
        cache,
        config: cfg,
        dtype,
        device: device.clone(),
    }))
}

/// candle's Llama config, built field by field from the checked view.
pub fn config(f: &Forward) -> llama::Config {
    llama::Config {
        hidden_size: f.hidden_size,
        intermediate_size: f.intermediate_size,
        vocab_size: f.vocab_size,
        num_hidden_layers: f.num_hidden_layers,
        num_attention_heads: f.num_attention_heads,
        num_key_value_heads: f.num_key_value_heads,
        use_flash_attn: false,
        rms_norm_eps: f.rms_norm_eps,
        rope_theta: f.rope_theta as f32,
        bos_token_id: None,
        eos_token_id: None,
        rope_scaling: match f.rope_scaling {
            RopeScaling::None => None,
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => Some(llama::Llama3RopeConfig {
                factor: factor as f32,
                low_freq_factor: low_freq_factor as f32,
                high_freq_factor: high_freq_factor as f32,
                original_max_position_embeddings,
                rope_type: llama::Llama3RopeType::Llama3,
            }),
        },
        max_position_embeddings: f.max_position_embeddings.min(super::RUN_POSITIONS),
        tie_word_embeddings: f.tie_word_embeddings,
    }
}
