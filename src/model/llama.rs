//! Llama and Mistral (candle-transformers' `llama`): config mapping, the tensor check its
//! loader needs, load, and the forward/fork glue. Its KV cache lives outside the model, so
//! a fork clones both.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama;

use super::{Arch, Causal, LoadContext, Spec};

/// `model_type` `llama` or `mistral`, or an `architectures` entry starting with either.
pub const SPEC: Spec = Spec {
    arch: Arch::Llama,
    name: "llama",
    families: &["llama", "mistral"],
    load,
};

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
    let lc: llama::LlamaConfig = cx.config.typed()?;
    let heads = lc.num_attention_heads;
    if let Some(hd) = cx.config.usize("head_dim") {
        if hd * heads != lc.hidden_size {
            bail!(
                "{}: head_dim {hd} × {heads} heads ≠ hidden_size {}: not supported by \
                 candle's Llama",
                cx.config.path().display(),
                lc.hidden_size
            );
        }
    }
    let cfg = lc.into_config(false);
    check_tensors(cx.files, cfg.num_hidden_layers, cfg.tie_word_embeddings)?;
    let model = llama::Llama::load(vb, &cfg)?;
    let cache = llama::Cache::new(true, cx.dtype, &cfg, cx.device)?;
    Ok(Box::new(Llama {
        model,
        cache,
        config: cfg,
        dtype: cx.dtype,
        device: cx.device.clone(),
    }))
}

/// Names that must exist before candle-transformers' loader runs (its Llama loader
/// unwraps per-layer results, so a missing tensor would abort the process).
fn check_tensors(files: &[PathBuf], layers: usize, tied: bool) -> Result<()> {
    let mut names = HashSet::new();
    for f in files {
        let st = crate::weights::Checkpoint::open(f)?;
        names.extend(st.tensor_names());
    }
    let mut need = vec![
        "model.embed_tokens.weight".to_string(),
        "model.norm.weight".into(),
    ];
    if !tied {
        need.push("lm_head.weight".into());
    }
    for i in 0..layers {
        for t in [
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
            "input_layernorm",
            "post_attention_layernorm",
        ] {
            need.push(format!("model.layers.{i}.{t}.weight"));
        }
    }
    if let Some(missing) = need.iter().find(|n| !names.contains(*n)) {
        bail!(
            "{}: tensor '{missing}' is missing: not a complete Llama-family checkpoint",
            files[0].display()
        );
    }
    Ok(())
}
