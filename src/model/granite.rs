//! IBM Granite 3.x (transformers' `GraniteForCausalLM`), in plain candle tensor code:
//! candle's Granite keeps its KV cache outside the model, where a fork cannot copy it
//! with the model. A Llama with four multipliers that change every logit — the embedding
//! times `embedding_multiplier`, attention scores scaled by `attention_multiplier`
//! (instead of 1/√head_dim), each residual branch times `residual_multiplier`, and the
//! logits divided by `logits_scaling` — all read exactly, none defaulted silently.

use anyhow::Result;
use candle_core::{IndexOp, Tensor};
use candle_nn::{Embedding, Linear, Module, RmsNorm, VarBuilder};

use super::plain::{self, Attention, AttentionShape, Rope};
use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `granite` (without one, the `GraniteForCausalLM` class); `granitemoe…`
/// are other architectures.
pub const SPEC: Spec = Spec {
    arch: Arch::Granite,
    name: "granite",
    model_types: &["granite"],
    classes: &["GraniteForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "granite";

#[derive(Debug, Clone)]
struct Read {
    vocab: usize,
    hidden: usize,
    inter: usize,
    layers: usize,
    heads: usize,
    kv: usize,
    head_dim: usize,
    positions: usize,
    theta: f64,
    act: candle_nn::Activation,
    eps: f64,
    attention_bias: bool,
    mlp_bias: bool,
    embedding_multiplier: f64,
    attention_multiplier: f64,
    residual_multiplier: f64,
    logits_scaling: f64,
    tied: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(
        ARCH,
        &[
            "embedding_multiplier",
            "attention_multiplier",
            "residual_multiplier",
            "logits_scaling",
        ],
    )?;
    let hidden = r.need("hidden_size")?;
    let heads = r.need("num_attention_heads")?;
    let kv = r.positive("num_key_value_heads")?.unwrap_or(heads);
    let head_dim = r.positive("head_dim")?.unwrap_or(hidden / heads);
    if heads % kv != 0 || head_dim == 0 {
        return Err(r
            .err(format!(
                "num_attention_heads {heads} and num_key_value_heads {kv} do not divide"
            ))
            .into());
    }
    // Each multiplier changes the function; transformers' defaults are 1, so a config that
    // omits one means 1 — as in transformers — and any given value is used.
    let mult = |k: &str| -> Result<f64> { Ok(r.float(k)?.unwrap_or(1.0)) };
    Ok(Read {
        vocab: r.need("vocab_size")?,
        hidden,
        inter: r.need("intermediate_size")?,
        layers: r.need("num_hidden_layers")?,
        heads,
        kv,
        head_dim,
        positions: r.need("max_position_embeddings")?,
        theta: r.plain_rope(ARCH, 10_000.0)?,
        act: r.activation(ARCH, "hidden_act", "silu")?,
        eps: r.float("rms_norm_eps")?.unwrap_or(1e-6),
        attention_bias: r.bool("attention_bias")?.unwrap_or(false),
        mlp_bias: r.bool("mlp_bias")?.unwrap_or(false),
        embedding_multiplier: mult("embedding_multiplier")?,
        attention_multiplier: mult("attention_multiplier")?,
        residual_multiplier: mult("residual_multiplier")?,
        logits_scaling: mult("logits_scaling")?,
        tied: r.tied(false)?,
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let m = read(c)?;
    Ok(Facts::plain(c, m.vocab, m.hidden, m.layers, m.positions))
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let m = read(c)?;
    let t = Tensors::open(files, c.path(), "Granite")?;
    let h = m.hidden;
    let (q, kv) = (m.heads * m.head_dim, m.kv * m.head_dim);
    t.expect("model.embed_tokens.weight", &[m.vocab, h])?;
    t.norm("model.norm", h, false)?;
    if !m.tied {
        t.linear("lm_head", m.vocab, h, false)?;
    }
    for i in 0..m.layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.norm(&p("input_layernorm"), h, false)?;
        t.norm(&p("post_attention_layernorm"), h, false)?;
        t.attention(
            &p("self_attn"),
            h,
            (q, kv),
            m.attention_bias,
            m.attention_bias,
        )?;
        t.linear(&p("mlp.gate_proj"), m.inter, h, m.mlp_bias)?;
        t.linear(&p("mlp.up_proj"), m.inter, h, m.mlp_bias)?;
        t.linear(&p("mlp.down_proj"), h, m.inter, m.mlp_bias)?;
    }
    Ok(())
}

#[derive(Clone)]
struct Layer {
    ln_1: RmsNorm,
    ln_2: RmsNorm,
    attn: Attention,
    gate: Linear,
    up: Linear,
    down: Linear,
}

#[derive(Clone)]
struct Granite {
    m: Read,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    head: Tensor,
    rope: Rope,
    use_cache: bool,
}

impl Causal for Granite {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let t = ids.dim(1)?;
        let m = &self.m;
        let mut x = (self.embed.forward(ids)? * m.embedding_multiplier)?;
        for l in self.layers.iter_mut() {
            let n = l.ln_1.forward(&x)?;
            let a = l
                .attn
                .forward(&n, &self.rope, pos, self.use_cache, m.attention_multiplier)?;
            x = (x + (a * m.residual_multiplier)?)?;
            let n = l.ln_2.forward(&x)?;
            let g = l.gate.forward(&n)?.apply(&m.act)?;
            let f = l.down.forward(&(g * l.up.forward(&n)?)?)?;
            x = (x + (f * m.residual_multiplier)?)?;
        }
        let last = self.norm.forward(&x.i((.., t - 1, ..))?.contiguous()?)?;
        Ok((last.matmul(&self.head.t()?)? / m.logits_scaling)?)
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
    let (h, eps) = (m.hidden, m.eps);
    let shape = AttentionShape {
        hidden: h,
        heads: m.heads,
        kv_heads: m.kv,
        head_dim: m.head_dim,
        qkv_bias: m.attention_bias,
        o_bias: m.attention_bias,
    };
    let embed = root.get((m.vocab, h), "embed_tokens.weight")?;
    let mut layers = Vec::with_capacity(m.layers);
    for i in 0..m.layers {
        let l = root.pp(format!("layers.{i}"));
        layers.push(Layer {
            ln_1: plain::rms_norm(&l, "input_layernorm", h, eps)?,
            ln_2: plain::rms_norm(&l, "post_attention_layernorm", h, eps)?,
            attn: Attention::load(&l, "self_attn", "o_proj", &shape)?,
            gate: plain::linear(&l, "mlp.gate_proj", h, m.inter, m.mlp_bias)?,
            up: plain::linear(&l, "mlp.up_proj", h, m.inter, m.mlp_bias)?,
            down: plain::linear(&l, "mlp.down_proj", m.inter, h, m.mlp_bias)?,
        });
    }
    let head = plain::head(&vb, &embed, m.tied, m.vocab, h)?;
    let rope = Rope::new(
        m.head_dim,
        m.theta,
        m.positions.min(super::RUN_POSITIONS),
        false,
        cx.dtype,
        cx.device,
    )?;
    Ok(Box::new(Granite {
        norm: plain::rms_norm(&root, "norm", h, eps)?,
        embed: Embedding::new(embed, h),
        layers,
        head,
        rope,
        use_cache: true,
        m,
    }))
}
