//! Phi-1, Phi-1.5 and Phi-2 (candle-transformers' `phi::Model`): attention and MLP in
//! parallel off one LayerNorm, partial RoPE (`partial_rotary_factor`), biases everywhere,
//! the head with its own weight and bias. candle's fields are private to it, so its config
//! is built from our exact reading and deserialized. Its multi-token mask ignores cached
//! positions, so a multi-token pass after cached positions goes in one token at a time
//! (same logits, one pass per token).

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::phi;
use serde_json::json;

use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::forward::Reader;
use crate::hf::Config;

/// `model_type` `phi` (without one, the `PhiForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Phi,
    name: "phi",
    model_types: &["phi"],
    classes: &["PhiForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "phi";

#[derive(Debug, Clone)]
struct Read {
    vocab: usize,
    hidden: usize,
    inter: usize,
    layers: usize,
    heads: usize,
    kv: usize,
    mpe: usize,
    act: candle_nn::Activation,
    eps: f64,
    theta: f64,
    partial: f64,
    qk_layernorm: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &["qk_layernorm"])?;
    if r.tied(false)? {
        return Err(r
            .refuse(
                ARCH,
                "tie_word_embeddings",
                &true,
                "candle's Phi has its own head",
            )
            .into());
    }
    let hidden = r.need("hidden_size")?;
    let heads = r.need("num_attention_heads")?;
    let kv = r.positive("num_key_value_heads")?.unwrap_or(heads);
    if hidden % heads != 0 || heads % kv != 0 {
        return Err(r
            .err(format!(
                "hidden_size {hidden}, num_attention_heads {heads} and num_key_value_heads {kv} \
                 do not divide"
            ))
            .into());
    }
    let partial = r.partial_rotary(None, 0.5)?;
    let rotary = (partial * (hidden / heads) as f64) as usize;
    if rotary == 0 || !rotary.is_multiple_of(2) {
        return Err(r
            .err(format!(
                "partial_rotary_factor {partial} gives {rotary} rotary dimensions per head; \
                 RoPE needs a positive even number"
            ))
            .into());
    }
    Ok(Read {
        vocab: r.need("vocab_size")?,
        hidden,
        inter: r.need("intermediate_size")?,
        layers: r.need("num_hidden_layers")?,
        heads,
        kv,
        mpe: r.need("max_position_embeddings")?,
        act: r.activation(ARCH, "hidden_act", "gelu_new")?,
        eps: r.float("layer_norm_eps")?.unwrap_or(1e-5),
        theta: r.plain_rope(ARCH, 10_000.0)?,
        partial,
        qk_layernorm: r.bool("qk_layernorm")?.unwrap_or(false),
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let m = read(c)?;
    Ok(Facts {
        vocab_size: m.vocab,
        hidden_size: m.hidden,
        layers: m.layers,
        max_position_embeddings: m.mpe,
        sliding_window: None,
        stored_dtype: Reader::new(c).stored_dtype(),
    })
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let m = read(c)?;
    let t = Tensors::open(files, c.path(), "Phi")?;
    let hd = m.hidden / m.heads;
    t.expect("model.embed_tokens.weight", &[m.vocab, m.hidden])?;
    t.norm("model.final_layernorm", m.hidden, true)?;
    t.linear("lm_head", m.vocab, m.hidden, true)?;
    for i in 0..m.layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.norm(&p("input_layernorm"), m.hidden, true)?;
        t.linear(&p("self_attn.q_proj"), m.heads * hd, m.hidden, true)?;
        t.linear(&p("self_attn.k_proj"), m.kv * hd, m.hidden, true)?;
        t.linear(&p("self_attn.v_proj"), m.kv * hd, m.hidden, true)?;
        t.linear(&p("self_attn.dense"), m.hidden, m.heads * hd, true)?;
        if m.qk_layernorm {
            t.norm(&p("self_attn.q_layernorm"), hd, true)?;
            t.norm(&p("self_attn.k_layernorm"), hd, true)?;
        }
        t.linear(&p("mlp.fc1"), m.inter, m.hidden, true)?;
        t.linear(&p("mlp.fc2"), m.hidden, m.inter, true)?;
    }
    Ok(())
}

#[derive(Clone)]
struct Phi(phi::Model);

impl Causal for Phi {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let n = ids.dim(1)?;
        if n > 1 && pos > 0 {
            let mut last = self.0.forward(&ids.narrow(1, 0, 1)?)?;
            for i in 1..n {
                last = self.0.forward(&ids.narrow(1, i, 1)?)?;
            }
            return Ok(last);
        }
        // [batch, vocab] already: candle's Phi squeezes the position itself.
        Ok(self.0.forward(ids)?)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.0.clear_kv_cache();
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let m = read(cx.config)?;
    let cfg: phi::Config = serde_json::from_value(json!({
        "vocab_size": m.vocab,
        "hidden_size": m.hidden,
        "intermediate_size": m.inter,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "num_key_value_heads": m.kv,
        "hidden_act": m.act,
        "max_position_embeddings": m.mpe.min(super::RUN_POSITIONS),
        "layer_norm_eps": m.eps,
        "tie_word_embeddings": false,
        "rope_theta": m.theta,
        "partial_rotary_factor": m.partial,
        "qk_layernorm": m.qk_layernorm,
    }))?;
    Ok(Box::new(Phi(phi::Model::new(&cfg, vb)?)))
}
