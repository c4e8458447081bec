//! OLMo (1) and OLMo 2 (candle-transformers' `olmo::Model` and `olmo2::Model`): Llama-like
//! decoders that differ in their norms, so one reading serves both. OLMo normalises with a
//! LayerNorm that has no parameters (epsilon fixed at 1e-5, as in transformers) and may
//! clip q, k and v (`clip_qkv`); OLMo 2 puts RMS norms after attention and MLP instead of
//! before, and RMS-normalises the whole q and k projections. The KV cache lives in the
//! model, so a fork is a clone.

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::{olmo, olmo2};

use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `olmo` (without one, the `OlmoForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Olmo,
    name: "olmo",
    model_types: &["olmo"],
    classes: &["OlmoForCausalLM"],
    facts: |c| facts(c, false),
    check: |f, c| check(f, c, false),
    load: |cx, vb| load(cx, vb, false),
};

/// `model_type` `olmo2` (without one, the `Olmo2ForCausalLM` class).
pub const SPEC2: Spec = Spec {
    arch: Arch::Olmo2,
    name: "olmo2",
    model_types: &["olmo2"],
    classes: &["Olmo2ForCausalLM"],
    facts: |c| facts(c, true),
    check: |f, c| check(f, c, true),
    load: |cx, vb| load(cx, vb, true),
};

/// OLMo 2's config is OLMo's plus `rms_norm_eps`, which candle keeps apart.
fn read(c: &Config, two: bool) -> Result<(olmo::Config, f64)> {
    let arch = if two { "olmo2" } else { "olmo" };
    let r = Reader::new(c);
    r.refuse_unimplemented(arch, &[])?;
    let (hidden, heads, kv) = r.heads()?;
    let cfg = olmo::Config {
        vocab_size: r.need("vocab_size")?,
        hidden_size: hidden,
        intermediate_size: r.need("intermediate_size")?,
        attention_bias: r.bool("attention_bias")?.unwrap_or(false),
        num_hidden_layers: r.need("num_hidden_layers")?,
        num_attention_heads: heads,
        num_key_value_heads: kv,
        hidden_act: r.activation(arch, "hidden_act", "silu")?,
        max_position_embeddings: r.need("max_position_embeddings")?,
        rope_theta: r.plain_rope(arch, 10_000.0)?,
        tie_word_embeddings: r.tied(false)?,
        clip_qkv: r.float("clip_qkv")?,
    };
    if two && cfg.clip_qkv.is_some() {
        return Err(r
            .refuse(
                arch,
                "clip_qkv",
                &cfg.clip_qkv.unwrap_or_default(),
                "candle's OLMo 2 does not clip",
            )
            .into());
    }
    let eps = if two {
        r.float("rms_norm_eps")?.unwrap_or(1e-5)
    } else {
        1e-5
    };
    Ok((cfg, eps))
}

fn facts(c: &Config, two: bool) -> Result<Facts> {
    let (m, _) = read(c, two)?;
    Ok(Facts {
        vocab_size: m.vocab_size,
        hidden_size: m.hidden_size,
        layers: m.num_hidden_layers,
        max_position_embeddings: m.max_position_embeddings,
        sliding_window: None,
        stored_dtype: Reader::new(c).stored_dtype(),
    })
}

fn check(files: &[std::path::PathBuf], c: &Config, two: bool) -> Result<()> {
    let (m, _) = read(c, two)?;
    let t = Tensors::open(files, c.path(), if two { "OLMo 2" } else { "OLMo" })?;
    let h = m.hidden_size;
    let (q, kv) = (h, m.num_key_value_heads * (h / m.num_attention_heads));
    t.expect("model.embed_tokens.weight", &[m.vocab_size, h])?;
    if !m.tie_word_embeddings {
        t.linear("lm_head", m.vocab_size, h, false)?;
    }
    if two {
        t.norm("model.norm", h, false)?;
    }
    for i in 0..m.num_hidden_layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.attention(
            &p("self_attn"),
            h,
            (q, kv),
            m.attention_bias,
            m.attention_bias,
        )?;
        t.gated_mlp(&p("mlp"), h, m.intermediate_size)?;
        if two {
            t.norm(&p("post_attention_layernorm"), h, false)?;
            t.norm(&p("post_feedforward_layernorm"), h, false)?;
            t.norm(&p("self_attn.q_norm"), q, false)?;
            t.norm(&p("self_attn.k_norm"), kv, false)?;
        }
    }
    Ok(())
}

impl Causal for olmo::Model {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        Ok(olmo::Model::forward(self, ids, pos)?.squeeze(1)?)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.clear_kv_cache();
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

impl Causal for olmo2::Model {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        Ok(olmo2::Model::forward(self, ids, pos)?.squeeze(1)?)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.clear_kv_cache();
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>, two: bool) -> Result<Box<dyn Causal>> {
    let (mut m, eps) = read(cx.config, two)?;
    m.max_position_embeddings = m.max_position_embeddings.min(super::RUN_POSITIONS);
    if !two {
        return Ok(Box::new(olmo::Model::new(&m, vb)?));
    }
    let cfg = olmo2::Config {
        vocab_size: m.vocab_size,
        hidden_size: m.hidden_size,
        intermediate_size: m.intermediate_size,
        attention_bias: m.attention_bias,
        num_hidden_layers: m.num_hidden_layers,
        num_attention_heads: m.num_attention_heads,
        num_key_value_heads: m.num_key_value_heads,
        rms_norm_eps: eps,
        hidden_act: m.hidden_act,
        max_position_embeddings: m.max_position_embeddings,
        rope_theta: m.rope_theta,
        tie_word_embeddings: m.tie_word_embeddings,
        clip_qkv: None,
    };
    Ok(Box::new(olmo2::Model::new(&cfg, vb)?))
}
