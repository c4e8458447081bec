//! StableLM 2 and StableLM-3B (transformers' `StableLmForCausalLM`), in plain candle tensor
//! code: candle's `stable_lm::Model` cannot be cloned with its cache, which a fork needs.
//! Llama's projections and gated MLP with LayerNorms (with biases), rotary embeddings of
//! the two halves on the first `partial_rotary_factor` of each head, optional q/k biases
//! (`use_qkv_bias`), optional per-head q/k LayerNorms (`qk_layernorm`, StableLM 2 12B) and
//! an optional parallel residual (`use_parallel_residual`, which drops the second norm).

use anyhow::Result;
use candle_core::{IndexOp, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};

use super::plain::{self, Attention, AttentionShape, QkNorm, Rope};
use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `stablelm` (without one, the `StableLmForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::StableLm,
    name: "stablelm",
    model_types: &["stablelm"],
    classes: &["StableLmForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "stablelm";

#[derive(Debug, Clone)]
struct Read {
    vocab: usize,
    hidden: usize,
    inter: usize,
    layers: usize,
    heads: usize,
    kv: usize,
    positions: usize,
    rotary: usize,
    theta: f64,
    act: candle_nn::Activation,
    eps: f64,
    qkv_bias: bool,
    qk_norm: bool,
    parallel: bool,
    tied: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &["qk_layernorm", "use_parallel_residual"])?;
    let (hidden, heads, kv) = r.heads()?;
    let hd = hidden / heads;
    let partial = r.partial_rotary(None, 0.25)?;
    let rotary = (hd as f64 * partial) as usize;
    if rotary == 0 || !rotary.is_multiple_of(2) {
        return Err(r
            .err(format!(
                "partial_rotary_factor {partial} gives {rotary} rotary features per head; \
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
        positions: r.need("max_position_embeddings")?,
        rotary,
        theta: r.plain_rope(ARCH, 10_000.0)?,
        act: r.activation(ARCH, "hidden_act", "silu")?,
        eps: r.float("layer_norm_eps")?.unwrap_or(1e-5),
        qkv_bias: r.bool("use_qkv_bias")?.unwrap_or(false),
        qk_norm: r.bool("qk_layernorm")?.unwrap_or(false),
        parallel: r.bool("use_parallel_residual")?.unwrap_or(false),
        tied: r.tied(false)?,
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let m = read(c)?;
    Ok(Facts::plain(c, m.vocab, m.hidden, m.layers, m.positions))
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let m = read(c)?;
    let t = Tensors::open(files, c.path(), "StableLM")?;
    let (h, hd) = (m.hidden, m.hidden / m.heads);
    t.expect("model.embed_tokens.weight", &[m.vocab, h])?;
    t.norm("model.norm", h, true)?;
    if !m.tied {
        t.linear("lm_head", m.vocab, h, false)?;
    }
    for i in 0..m.layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.norm(&p("input_layernorm"), h, true)?;
        if !m.parallel {
            t.norm(&p("post_attention_layernorm"), h, true)?;
        }
        t.attention(&p("self_attn"), h, (h, m.kv * hd), m.qkv_bias, false)?;
        if m.qk_norm {
            for (which, n) in [("q", m.heads), ("k", m.kv)] {
                for j in 0..n {
                    t.norm(
                        &p(&format!("self_attn.{which}_layernorm.norms.{j}")),
                        hd,
                        false,
                    )?;
                }
            }
        }
        t.gated_mlp(&p("mlp"), h, m.inter)?;
    }
    Ok(())
}

#[derive(Clone)]
struct Layer {
    ln_1: LayerNorm,
    /// `None` with the parallel residual.
    ln_2: Option<LayerNorm>,
    attn: Attention,
    gate: Linear,
    up: Linear,
    down: Linear,
}

#[derive(Clone)]
struct StableLm {
    m: Read,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: LayerNorm,
    head: Tensor,
    rope: Rope,
    use_cache: bool,
}

impl Causal for StableLm {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let t = ids.dim(1)?;
        let m = &self.m;
        let hd = m.hidden / m.heads;
        let mut x = self.embed.forward(ids)?;
        for l in self.layers.iter_mut() {
            let n = l.ln_1.forward(&x)?;
            let a = l.attn.forward(
                &n,
                &self.rope,
                pos,
                self.use_cache,
                1.0 / (hd as f64).sqrt(),
            )?;
            let mlp = |y: &Tensor| -> Result<Tensor> {
                let g = l.gate.forward(y)?.apply(&m.act)?;
                Ok(l.down.forward(&(g * l.up.forward(y)?)?)?)
            };
            x = match &l.ln_2 {
                None => {
                    let f = mlp(&n)?;
                    ((x + a)? + f)?
                }
                Some(ln_2) => {
                    let y = (x + a)?;
                    let f = mlp(&ln_2.forward(&y)?)?;
                    (y + f)?
                }
            };
        }
        let last = self.norm.forward(&x.i((.., t - 1, ..))?.contiguous()?)?;
        Ok(last.matmul(&self.head.t()?)?)
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

/// The per-head norm weights `{name}.norms.{j}.weight` stacked as `[n, head_dim]`.
fn per_head(vb: &VarBuilder, name: &str, n: usize, hd: usize) -> Result<Tensor> {
    let rows = (0..n)
        .map(|j| vb.get(hd, &format!("{name}.norms.{j}.weight")))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Tensor::stack(&rows, 0)?)
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
        qkv_bias: m.qkv_bias,
        o_bias: false,
    };
    let embed = root.get((m.vocab, h), "embed_tokens.weight")?;
    let mut layers = Vec::with_capacity(m.layers);
    for i in 0..m.layers {
        let l = root.pp(format!("layers.{i}"));
        let qk_norm = if m.qk_norm {
            Some(QkNorm::PerHead {
                q: per_head(&l, "self_attn.q_layernorm", m.heads, hd)?,
                k: per_head(&l, "self_attn.k_layernorm", m.kv, hd)?,
                eps,
            })
        } else {
            None
        };
        let ln_2 = if m.parallel {
            None
        } else {
            Some(plain::layer_norm(
                &l,
                "post_attention_layernorm",
                h,
                eps,
                true,
            )?)
        };
        layers.push(Layer {
            ln_1: plain::layer_norm(&l, "input_layernorm", h, eps, true)?,
            ln_2,
            attn: Attention::load(&l, "self_attn", "o_proj", &shape)?.with_norm(qk_norm),
            gate: plain::linear(&l, "mlp.gate_proj", h, m.inter, false)?,
            up: plain::linear(&l, "mlp.up_proj", h, m.inter, false)?,
            down: plain::linear(&l, "mlp.down_proj", m.inter, h, false)?,
        });
    }
    let head = plain::head(&vb, &embed, m.tied, m.vocab, h)?;
    let rope = Rope::new(
        m.rotary,
        m.theta,
        m.positions.min(super::RUN_POSITIONS),
        false,
        cx.dtype,
        cx.device,
    )?;
    Ok(Box::new(StableLm {
        norm: plain::layer_norm(&root, "norm", h, eps, true)?,
        embed: Embedding::new(embed, h),
        layers,
        head,
        rope,
        use_cache: true,
        m,
    }))
}
