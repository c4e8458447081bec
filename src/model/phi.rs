//! Phi-1, Phi-1.5 and Phi-2 (transformers' `PhiForCausalLM`), in plain candle tensor code:
//! candle's `phi::Model` builds its rotary tables in f32 only (an f16 or bf16 load fails)
//! and masks a multi-token pass as if nothing were cached. Attention and MLP in parallel
//! off one LayerNorm, rotary embeddings of the two halves on the first
//! `partial_rotary_factor` of each head, biases everywhere, optional q/k LayerNorms shared
//! by the heads (`qk_layernorm`), and a head with a bias (its weight tied to the
//! embedding when the config says so).

use anyhow::Result;
use candle_core::{IndexOp, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};

use super::plain::{self, Attention, AttentionShape, QkNorm, Rope};

use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
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
    tied: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &["qk_layernorm"])?;
    let (hidden, heads, kv) = r.heads()?;
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
        tied: r.tied(false)?,
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let m = read(c)?;
    Ok(Facts::plain(c, m.vocab, m.hidden, m.layers, m.mpe))
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let m = read(c)?;
    let t = Tensors::open(files, c.path(), "Phi")?;
    let hd = m.hidden / m.heads;
    t.expect("model.embed_tokens.weight", &[m.vocab, m.hidden])?;
    t.norm("model.final_layernorm", m.hidden, true)?;
    if m.tied {
        t.expect("lm_head.bias", &[m.vocab])?;
    } else {
        t.linear("lm_head", m.vocab, m.hidden, true)?;
    }
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
struct Layer {
    norm: LayerNorm,
    attn: Attention,
    fc1: Linear,
    fc2: Linear,
}

#[derive(Clone)]
struct Phi {
    m: Read,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: LayerNorm,
    head: Linear,
    rope: Rope,
    use_cache: bool,
}

impl Causal for Phi {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let t = ids.dim(1)?;
        let m = &self.m;
        let hd = m.hidden / m.heads;
        let mut x = self.embed.forward(ids)?;
        for l in self.layers.iter_mut() {
            let n = l.norm.forward(&x)?;
            let a = l.attn.forward(
                &n,
                &self.rope,
                pos,
                self.use_cache,
                1.0 / (hd as f64).sqrt(),
            )?;
            let f = l.fc2.forward(&l.fc1.forward(&n)?.apply(&m.act)?)?;
            x = ((x + a)? + f)?;
        }
        let last = self.norm.forward(&x.i((.., t - 1, ..))?.contiguous()?)?;
        Ok(self.head.forward(&last)?)
    }

    fn reset(&mut self, use_cache: bool) -> Result<()> {
        self.use_cache = use_cache;
        for l in &mut self.layers {
            l.attn.clear();
        }
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let m = read(cx.config)?;
    let root = vb.pp("model");
    let (h, hd, eps) = (m.hidden, m.hidden / m.heads, m.eps);
    let shape = AttentionShape {
        hidden: h,
        heads: m.heads,
        kv_heads: m.kv,
        head_dim: hd,
        qkv_bias: true,
        o_bias: true,
    };
    let embed = root.get((m.vocab, h), "embed_tokens.weight")?;
    let mut layers = Vec::with_capacity(m.layers);
    for i in 0..m.layers {
        let l = root.pp(format!("layers.{i}"));
        let qk_norm = if m.qk_layernorm {
            Some(QkNorm::Shared {
                q: plain::layer_norm(&l, "self_attn.q_layernorm", hd, eps, true)?,
                k: plain::layer_norm(&l, "self_attn.k_layernorm", hd, eps, true)?,
            })
        } else {
            None
        };
        layers.push(Layer {
            norm: plain::layer_norm(&l, "input_layernorm", h, eps, true)?,
            attn: Attention::load(&l, "self_attn", "dense", &shape)?.with_norm(qk_norm),
            fc1: plain::linear(&l, "mlp.fc1", h, m.inter, true)?,
            fc2: plain::linear(&l, "mlp.fc2", m.inter, h, true)?,
        });
    }
    let head = if m.tied {
        Linear::new(embed.clone(), Some(vb.get(m.vocab, "lm_head.bias")?))
    } else {
        plain::linear(&vb, "lm_head", h, m.vocab, true)?
    };
    let rotary = (m.partial * hd as f64) as usize;
    let rope = Rope::new(
        rotary,
        m.theta,
        m.mpe.min(super::RUN_POSITIONS),
        false,
        cx.dtype,
        cx.device,
    )?;
    Ok(Box::new(Phi {
        norm: plain::layer_norm(&root, "final_layernorm", h, eps, true)?,
        embed: Embedding::new(embed, h),
        layers,
        head,
        rope,
        use_cache: true,
        m,
    }))
}
