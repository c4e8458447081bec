//! Falcon (transformers' `FalconForCausalLM`: Falcon-7B, 40B, 180B and Falcon 2 11B), in
//! plain candle tensor code: candle's Falcon implements the 7B layout only and keeps no
//! position offset for a shared prefix. One fused `query_key_value` projection in the
//! config's layout — grouped `[queries of the group | k | v]` per KV head
//! (`new_decoder_architecture`), all queries then one k and one v (`multi_query`), or
//! `[q | k | v]` per head — rotary embeddings of the two halves over the whole head, and
//! attention and MLP in parallel off one or two LayerNorms (`num_ln_in_parallel_attn`) or
//! in sequence. ALiBi (Falcon-RW) is refused.

use anyhow::Result;
use candle_core::{IndexOp, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};

use super::plain::{self, Kv, Rope};
use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `falcon` (without one, the `FalconForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Falcon,
    name: "falcon",
    model_types: &["falcon"],
    classes: &["FalconForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "falcon";

/// How `query_key_value` packs the heads.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// `[kv_heads, heads / kv_heads + 2, head_dim]`.
    Grouped,
    /// `[heads + 2, head_dim]`: one key and one value head.
    MultiQuery,
    /// `[heads, 3, head_dim]`.
    PerHead,
}

/// Which norms feed attention and MLP.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Norms {
    /// `ln_attn` and `ln_mlp`, in parallel.
    Two,
    /// `input_layernorm` feeding both, in parallel.
    One,
    /// `input_layernorm`, attention, then `post_attention_layernorm` and the MLP.
    Sequential,
}

#[derive(Debug, Clone)]
struct Read {
    vocab: usize,
    hidden: usize,
    ffn: usize,
    layers: usize,
    heads: usize,
    /// Key/value heads as computed (1 for multi-query).
    kv: usize,
    positions: usize,
    theta: f64,
    act: candle_nn::Activation,
    eps: f64,
    bias: bool,
    layout: Layout,
    norms: Norms,
    tied: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &[])?;
    for (key, why) in [
        ("alibi", "rotary position embeddings only"),
        (
            "apply_residual_connection_post_layernorm",
            "the residual is the block's input",
        ),
    ] {
        if r.bool(key)? == Some(true) {
            return Err(r.refuse(ARCH, key, &true, why).into());
        }
    }
    let hidden = match r.positive("hidden_size")? {
        Some(h) => h,
        None => r.need("n_embed")?,
    };
    let heads = match r.positive("num_attention_heads")? {
        Some(h) => h,
        None => r.need("n_head")?,
    };
    let layers = match r.positive("num_hidden_layers")? {
        Some(n) => n,
        None => r.need("n_layer")?,
    };
    let new = r.bool("new_decoder_architecture")?.unwrap_or(false);
    let multi_query = r.bool("multi_query")?.unwrap_or(true);
    let parallel = r.bool("parallel_attn")?.unwrap_or(true);
    let kv_given = r.positive("num_kv_heads")?.unwrap_or(heads);
    let (layout, kv) = if new {
        (Layout::Grouped, kv_given)
    } else if multi_query {
        (Layout::MultiQuery, 1)
    } else {
        (Layout::PerHead, heads)
    };
    if hidden % heads != 0 || heads % kv != 0 {
        return Err(r
            .err(format!(
                "hidden_size {hidden}, num_attention_heads {heads} and num_kv_heads {kv} do \
                 not divide"
            ))
            .into());
    }
    let ln = r.uint("num_ln_in_parallel_attn")?;
    let norms = match (new, parallel, ln) {
        (true, false, _) => {
            return Err(r
                .refuse(
                    ARCH,
                    "parallel_attn",
                    &false,
                    "transformers' new decoder architecture is parallel",
                )
                .into())
        }
        (_, false, _) => Norms::Sequential,
        (true, true, None | Some(2)) => Norms::Two,
        (_, true, None | Some(1)) => Norms::One,
        (_, true, Some(n)) => {
            return Err(r
                .refuse(ARCH, "num_ln_in_parallel_attn", &n, "1 or 2 norms")
                .into())
        }
    };
    Ok(Read {
        vocab: r.need("vocab_size")?,
        hidden,
        ffn: r.positive("ffn_hidden_size")?.unwrap_or(4 * hidden),
        layers,
        heads,
        kv,
        positions: r.need("max_position_embeddings")?,
        theta: r.plain_rope(ARCH, 10_000.0)?,
        act: r.activation(ARCH, "activation", "gelu")?,
        eps: r.float("layer_norm_epsilon")?.unwrap_or(1e-5),
        bias: r.bool("bias")?.unwrap_or(false),
        layout,
        norms,
        tied: r.tied(true)?,
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let m = read(c)?;
    Ok(Facts::plain(c, m.vocab, m.hidden, m.layers, m.positions))
}

impl Read {
    fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    fn qkv_out(&self) -> usize {
        (self.heads + 2 * self.kv) * self.head_dim()
    }

    /// The norms of a layer, by tensor name.
    fn norm_names(&self) -> &'static [&'static str] {
        match self.norms {
            Norms::Two => &["ln_attn", "ln_mlp"],
            Norms::One => &["input_layernorm"],
            Norms::Sequential => &["input_layernorm", "post_attention_layernorm"],
        }
    }
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let m = read(c)?;
    let t = Tensors::open(files, c.path(), "Falcon")?;
    let h = m.hidden;
    t.expect("transformer.word_embeddings.weight", &[m.vocab, h])?;
    t.norm("transformer.ln_f", h, true)?;
    if !m.tied {
        t.linear("lm_head", m.vocab, h, false)?;
    }
    for i in 0..m.layers {
        let p = |s: &str| format!("transformer.h.{i}.{s}");
        for n in m.norm_names() {
            t.norm(&p(n), h, true)?;
        }
        t.linear(&p("self_attention.query_key_value"), m.qkv_out(), h, m.bias)?;
        t.linear(&p("self_attention.dense"), h, h, m.bias)?;
        t.linear(&p("mlp.dense_h_to_4h"), m.ffn, h, m.bias)?;
        t.linear(&p("mlp.dense_4h_to_h"), h, m.ffn, m.bias)?;
    }
    Ok(())
}

#[derive(Clone)]
struct Layer {
    /// The norms in [`Read::norm_names`] order.
    norms: Vec<LayerNorm>,
    qkv: Linear,
    dense: Linear,
    up: Linear,
    down: Linear,
    kv: Kv,
}

#[derive(Clone)]
struct Falcon {
    m: Read,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: LayerNorm,
    head: Tensor,
    rope: Rope,
    use_cache: bool,
}

impl Falcon {
    /// q `[b, heads, t, hd]`, k and v `[b, kv, t, hd]` from the fused projection.
    fn split(&self, qkv: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let m = &self.m;
        let (b, t, _) = qkv.dims3()?;
        let hd = m.head_dim();
        let (q, k, v) = match m.layout {
            Layout::Grouped => {
                let g = m.heads / m.kv;
                let x = qkv.reshape((b, t, m.kv, g + 2, hd))?;
                (
                    x.narrow(3, 0, g)?.reshape((b, t, m.heads, hd))?,
                    x.narrow(3, g, 1)?.squeeze(3)?,
                    x.narrow(3, g + 1, 1)?.squeeze(3)?,
                )
            }
            Layout::MultiQuery => {
                let x = qkv.reshape((b, t, m.heads + 2, hd))?;
                (
                    x.narrow(2, 0, m.heads)?,
                    x.narrow(2, m.heads, 1)?,
                    x.narrow(2, m.heads + 1, 1)?,
                )
            }
            Layout::PerHead => {
                let x = qkv.reshape((b, t, m.heads, 3, hd))?;
                (
                    x.narrow(3, 0, 1)?.squeeze(3)?,
                    x.narrow(3, 1, 1)?.squeeze(3)?,
                    x.narrow(3, 2, 1)?.squeeze(3)?,
                )
            }
        };
        let heads = |x: Tensor| -> Result<Tensor> { Ok(x.transpose(1, 2)?.contiguous()?) };
        Ok((heads(q)?, heads(k)?, heads(v)?))
    }

    fn attention(&self, l: &mut Layer, x: &Tensor, pos: usize) -> Result<Tensor> {
        let (q, k, v) = self.split(&l.qkv.forward(x)?)?;
        let q = self.rope.apply(&q, pos)?;
        let k = self.rope.apply(&k, pos)?;
        let scale = 1.0 / (self.m.head_dim() as f64).sqrt();
        let a = plain::attend(&q, k, v, &mut l.kv, self.use_cache, scale)?;
        Ok(l.dense.forward(&a)?)
    }
}

impl Causal for Falcon {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let t = ids.dim(1)?;
        let mut x = self.embed.forward(ids)?;
        let mut layers = std::mem::take(&mut self.layers);
        for l in layers.iter_mut() {
            let mlp = |l: &Layer, y: &Tensor| -> Result<Tensor> {
                Ok(l.down.forward(&l.up.forward(y)?.apply(&self.m.act)?)?)
            };
            let n_attn = l.norms[0].forward(&x)?;
            let a = self.attention(l, &n_attn, pos)?;
            x = match self.m.norms {
                Norms::Two => {
                    let f = mlp(l, &l.norms[1].forward(&x)?)?;
                    ((x + a)? + f)?
                }
                Norms::One => {
                    let f = mlp(l, &n_attn)?;
                    ((x + a)? + f)?
                }
                Norms::Sequential => {
                    let y = (x + a)?;
                    let f = mlp(l, &l.norms[1].forward(&y)?)?;
                    (y + f)?
                }
            };
        }
        self.layers = layers;
        let last = self.norm.forward(&x.i((.., t - 1, ..))?.contiguous()?)?;
        Ok(last.matmul(&self.head.t()?)?)
    }

    fn reset(&mut self, use_cache: bool) -> Result<()> {
        self.use_cache = use_cache;
        for l in &mut self.layers {
            l.kv = None;
        }
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let m = read(cx.config)?;
    let root = vb.pp("transformer");
    let (h, eps) = (m.hidden, m.eps);
    let embed = root.get((m.vocab, h), "word_embeddings.weight")?;
    let mut layers = Vec::with_capacity(m.layers);
    for i in 0..m.layers {
        let l = root.pp(format!("h.{i}"));
        let norms = m
            .norm_names()
            .iter()
            .map(|n| plain::layer_norm(&l, n, h, eps, true))
            .collect::<Result<Vec<_>>>()?;
        layers.push(Layer {
            norms,
            qkv: plain::linear(&l, "self_attention.query_key_value", h, m.qkv_out(), m.bias)?,
            dense: plain::linear(&l, "self_attention.dense", h, h, m.bias)?,
            up: plain::linear(&l, "mlp.dense_h_to_4h", h, m.ffn, m.bias)?,
            down: plain::linear(&l, "mlp.dense_4h_to_h", m.ffn, h, m.bias)?,
            kv: None,
        });
    }
    let head = plain::head(&vb, &embed, m.tied, m.vocab, h)?;
    let rope = Rope::new(
        m.head_dim(),
        m.theta,
        m.positions.min(super::RUN_POSITIONS),
        false,
        cx.dtype,
        cx.device,
    )?;
    Ok(Box::new(Falcon {
        norm: plain::layer_norm(&root, "ln_f", h, eps, true)?,
        embed: Embedding::new(embed, h),
        layers,
        head,
        rope,
        use_cache: true,
        m,
    }))
}
