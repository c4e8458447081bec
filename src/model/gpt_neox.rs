//! GPT-NeoX and Pythia (transformers' `GPTNeoXForCausalLM`), in plain candle tensor code:
//! candle-transformers has no GPT-NeoX. One fused `query_key_value` projection laid out
//! per head (`[q | k | v]` of each head in turn), rotary embeddings of the two halves on
//! the first `partial_rotary_factor` (4.x: `rotary_pct`) of each head, LayerNorms with
//! biases, and the residual either parallel (`x + attn(ln1 x) + mlp(ln2 x)`, Pythia) or
//! sequential. transformers' GPT-NeoX has no grouped KV heads: a `num_key_value_heads` in
//! its config is not read by it, nor here.

use anyhow::Result;
use candle_core::{IndexOp, Tensor, D};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};

use super::plain::{self, Kv, Rope};
use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `gpt_neox` (without one, the `GPTNeoXForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::GptNeox,
    name: "gpt_neox",
    model_types: &["gpt_neox"],
    classes: &["GPTNeoXForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "gpt_neox";

#[derive(Debug, Clone)]
struct Read {
    vocab: usize,
    hidden: usize,
    inter: usize,
    layers: usize,
    heads: usize,
    positions: usize,
    rotary: usize,
    theta: f64,
    act: candle_nn::Activation,
    eps: f64,
    parallel: bool,
    bias: bool,
    tied: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &["use_parallel_residual"])?;
    let hidden = r.need("hidden_size")?;
    let heads = r.need("num_attention_heads")?;
    if hidden % heads != 0 {
        return Err(r
            .err(format!(
                "hidden_size {hidden} is not a multiple of num_attention_heads {heads}"
            ))
            .into());
    }
    let hd = hidden / heads;
    let partial = r.partial_rotary(Some("rotary_pct"), 0.25)?;
    let rotary = (hd as f64 * partial) as usize;
    if rotary == 0 || !rotary.is_multiple_of(2) {
        return Err(r
            .err(format!(
                "partial_rotary_factor {partial} gives {rotary} rotary features per head; \
                 RoPE needs a positive even number"
            ))
            .into());
    }
    // 4.x names the base `rotary_emb_base`.
    let theta = match r.float("rotary_emb_base")? {
        Some(b) => {
            let t = r.plain_rope(ARCH, b)?;
            if t != b {
                return Err(r
                    .err(format!("rotary_emb_base {b} and rope_theta {t} differ"))
                    .into());
            }
            b
        }
        None => r.plain_rope(ARCH, 10_000.0)?,
    };
    Ok(Read {
        vocab: r.need("vocab_size")?,
        hidden,
        inter: r.need("intermediate_size")?,
        layers: r.need("num_hidden_layers")?,
        heads,
        positions: r.need("max_position_embeddings")?,
        rotary,
        theta,
        act: r.activation(ARCH, "hidden_act", "gelu")?,
        eps: r.float("layer_norm_eps")?.unwrap_or(1e-5),
        parallel: r.bool("use_parallel_residual")?.unwrap_or(true),
        bias: r.bool("attention_bias")?.unwrap_or(true),
        tied: r.tied(false)?,
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let m = read(c)?;
    Ok(Facts::plain(c, m.vocab, m.hidden, m.layers, m.positions))
}

/// `embed_out` (every released checkpoint) or `lm_head`.
fn head_name(t: &Tensors<'_>) -> &'static str {
    if t.has("lm_head.weight") && !t.has("embed_out.weight") {
        "lm_head"
    } else {
        "embed_out"
    }
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let m = read(c)?;
    let t = Tensors::open(files, c.path(), "GPT-NeoX")?;
    let h = m.hidden;
    t.expect("gpt_neox.embed_in.weight", &[m.vocab, h])?;
    t.norm("gpt_neox.final_layer_norm", h, true)?;
    if !m.tied {
        t.linear(head_name(&t), m.vocab, h, false)?;
    }
    for i in 0..m.layers {
        let p = |s: &str| format!("gpt_neox.layers.{i}.{s}");
        t.norm(&p("input_layernorm"), h, true)?;
        t.norm(&p("post_attention_layernorm"), h, true)?;
        t.linear(&p("attention.query_key_value"), 3 * h, h, m.bias)?;
        t.linear(&p("attention.dense"), h, h, m.bias)?;
        t.linear(&p("mlp.dense_h_to_4h"), m.inter, h, true)?;
        t.linear(&p("mlp.dense_4h_to_h"), h, m.inter, true)?;
    }
    Ok(())
}

#[derive(Clone)]
struct Layer {
    ln_1: LayerNorm,
    ln_2: LayerNorm,
    qkv: Linear,
    dense: Linear,
    up: Linear,
    down: Linear,
    kv: Kv,
}

#[derive(Clone)]
struct GptNeox {
    m: Read,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: LayerNorm,
    head: Tensor,
    rope: Rope,
    use_cache: bool,
}

impl GptNeox {
    fn attention(&self, l: &mut Layer, x: &Tensor, pos: usize) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (h, hd) = (self.m.heads, self.m.hidden / self.m.heads);
        // [b, t, heads, 3 * hd] → [b, heads, t, 3 * hd], then q, k, v of each head.
        let qkv = l
            .qkv
            .forward(x)?
            .reshape((b, t, h, 3 * hd))?
            .transpose(1, 2)?;
        let part = |i: usize| qkv.narrow(D::Minus1, i * hd, hd);
        let q = self.rope.apply(&part(0)?, pos)?;
        let k = self.rope.apply(&part(1)?, pos)?;
        let v = part(2)?;
        let a = plain::attend(
            &q,
            k,
            v,
            &mut l.kv,
            self.use_cache,
            1.0 / (hd as f64).sqrt(),
        )?;
        Ok(l.dense.forward(&a)?)
    }
}

impl Causal for GptNeox {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let t = ids.dim(1)?;
        let mut x = self.embed.forward(ids)?;
        let mut layers = std::mem::take(&mut self.layers);
        for l in layers.iter_mut() {
            let a = self.attention(l, &l.ln_1.forward(&x)?, pos)?;
            let mlp = |l: &Layer, y: &Tensor| -> Result<Tensor> {
                Ok(l.down
                    .forward(&l.up.forward(&l.ln_2.forward(y)?)?.apply(&self.m.act)?)?)
            };
            x = if self.m.parallel {
                let f = mlp(l, &x)?;
                ((x + a)? + f)?
            } else {
                let y = (x + a)?;
                let f = mlp(l, &y)?;
                (y + f)?
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
    let root = vb.pp("gpt_neox");
    let (h, eps) = (m.hidden, m.eps);
    let embed = root.get((m.vocab, h), "embed_in.weight")?;
    let mut layers = Vec::with_capacity(m.layers);
    for i in 0..m.layers {
        let l = root.pp(format!("layers.{i}"));
        layers.push(Layer {
            ln_1: plain::layer_norm(&l, "input_layernorm", h, eps, true)?,
            ln_2: plain::layer_norm(&l, "post_attention_layernorm", h, eps, true)?,
            qkv: plain::linear(&l, "attention.query_key_value", h, 3 * h, m.bias)?,
            dense: plain::linear(&l, "attention.dense", h, h, m.bias)?,
            up: plain::linear(&l, "mlp.dense_h_to_4h", h, m.inter, true)?,
            down: plain::linear(&l, "mlp.dense_4h_to_h", m.inter, h, true)?,
            kv: None,
        });
    }
    let head = if m.tied {
        embed.clone()
    } else if vb.contains_tensor("embed_out.weight") {
        vb.get((m.vocab, h), "embed_out.weight")?
    } else {
        vb.get((m.vocab, h), "lm_head.weight")?
    };
    let rope = Rope::new(
        m.rotary,
        m.theta,
        m.positions.min(super::RUN_POSITIONS),
        false,
        cx.dtype,
        cx.device,
    )?;
    Ok(Box::new(GptNeox {
        norm: plain::layer_norm(&root, "final_layer_norm", h, eps, true)?,
        embed: Embedding::new(embed, h),
        layers,
        head,
        rope,
        use_cache: true,
        m,
    }))
}
