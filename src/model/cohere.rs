//! Cohere's Command R and R+ (transformers' `CohereForCausalLM`), in plain candle tensor
//! code: candle-transformers has no Cohere. Llama's projections with attention and MLP in
//! parallel off one LayerNorm that centres but has no bias, rotary embeddings of
//! neighbouring pairs (Cohere interleaves where Llama halves), optional per-head
//! LayerNorms of q and k (`use_qk_norm`, Command R+), and the logits multiplied by
//! `logit_scale`; the head is tied to the embedding unless the config says otherwise.

use anyhow::Result;
use candle_core::{IndexOp, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};

use super::plain::{self, Attention, AttentionShape, QkNorm, Rope};
use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `cohere` (without one, the `CohereForCausalLM` class); `cohere2`
/// (Command R7B, with sliding windows) is another architecture.
pub const SPEC: Spec = Spec {
    arch: Arch::Cohere,
    name: "cohere",
    model_types: &["cohere"],
    classes: &["CohereForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "cohere";

#[derive(Debug, Clone)]
struct Read {
    vocab: usize,
    hidden: usize,
    inter: usize,
    layers: usize,
    heads: usize,
    kv: usize,
    positions: usize,
    theta: f64,
    act: candle_nn::Activation,
    eps: f64,
    bias: bool,
    qk_norm: bool,
    logit_scale: f64,
    tied: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &["use_qk_norm"])?;
    let (hidden, heads, kv) = r.heads()?;
    Ok(Read {
        vocab: r.need("vocab_size")?,
        hidden,
        inter: r.need("intermediate_size")?,
        layers: r.need("num_hidden_layers")?,
        heads,
        kv,
        positions: r.need("max_position_embeddings")?,
        theta: r.plain_rope(ARCH, 10_000.0)?,
        act: r.activation(ARCH, "hidden_act", "silu")?,
        eps: r.float("layer_norm_eps")?.unwrap_or(1e-5),
        bias: r.bool("attention_bias")?.unwrap_or(false),
        qk_norm: r.bool("use_qk_norm")?.unwrap_or(false),
        logit_scale: r.float("logit_scale")?.unwrap_or(0.0625),
        tied: r.tied(true)?,
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let m = read(c)?;
    Ok(Facts::plain(c, m.vocab, m.hidden, m.layers, m.positions))
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let m = read(c)?;
    let t = Tensors::open(files, c.path(), "Cohere")?;
    let (h, hd) = (m.hidden, m.hidden / m.heads);
    t.expect("model.embed_tokens.weight", &[m.vocab, h])?;
    t.norm("model.norm", h, false)?;
    if !m.tied {
        t.linear("lm_head", m.vocab, h, false)?;
    }
    for i in 0..m.layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.norm(&p("input_layernorm"), h, false)?;
        t.attention(
            &p("self_attn"),
            h,
            (m.heads * hd, m.kv * hd),
            m.bias,
            m.bias,
        )?;
        if m.qk_norm {
            t.expect(&p("self_attn.q_norm.weight"), &[m.heads, hd])?;
            t.expect(&p("self_attn.k_norm.weight"), &[m.kv, hd])?;
        }
        t.gated_mlp(&p("mlp"), h, m.inter)?;
    }
    Ok(())
}

#[derive(Clone)]
struct Layer {
    norm: LayerNorm,
    attn: Attention,
    gate: Linear,
    up: Linear,
    down: Linear,
}

#[derive(Clone)]
struct Cohere {
    m: Read,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: LayerNorm,
    head: Tensor,
    rope: Rope,
    use_cache: bool,
}

impl Causal for Cohere {
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
            let g = l.gate.forward(&n)?.apply(&m.act)?;
            let f = l.down.forward(&(g * l.up.forward(&n)?)?)?;
            x = ((x + a)? + f)?;
        }
        let last = self.norm.forward(&x.i((.., t - 1, ..))?.contiguous()?)?;
        Ok((last.matmul(&self.head.t()?)? * m.logit_scale)?)
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
        qkv_bias: m.bias,
        o_bias: m.bias,
    };
    let embed = root.get((m.vocab, h), "embed_tokens.weight")?;
    let mut layers = Vec::with_capacity(m.layers);
    for i in 0..m.layers {
        let l = root.pp(format!("layers.{i}"));
        let qk_norm = if m.qk_norm {
            Some(QkNorm::PerHead {
                q: l.get((m.heads, hd), "self_attn.q_norm.weight")?,
                k: l.get((m.kv, hd), "self_attn.k_norm.weight")?,
                eps,
            })
        } else {
            None
        };
        layers.push(Layer {
            norm: plain::layer_norm(&l, "input_layernorm", h, eps, false)?,
            attn: Attention::load(&l, "self_attn", "o_proj", &shape)?.with_norm(qk_norm),
            gate: plain::linear(&l, "mlp.gate_proj", h, m.inter, false)?,
            up: plain::linear(&l, "mlp.up_proj", h, m.inter, false)?,
            down: plain::linear(&l, "mlp.down_proj", m.inter, h, false)?,
        });
    }
    let head = plain::head(&vb, &embed, m.tied, m.vocab, h)?;
    let rope = Rope::new(
        hd,
        m.theta,
        m.positions.min(super::RUN_POSITIONS),
        true,
        cx.dtype,
        cx.device,
    )?;
    Ok(Box::new(Cohere {
        norm: plain::layer_norm(&root, "norm", h, eps, false)?,
        embed: Embedding::new(embed, h),
        layers,
        head,
        rope,
        use_cache: true,
        m,
    }))
}
