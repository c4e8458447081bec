//! Mixtral (transformers' `MixtralForCausalLM`), in plain candle tensor code: candle's
//! `mixtral::Model` multiplies f16/bf16 expert outputs by f32 routing weights (a half-
//! precision load fails) and cannot clear its cache. A Mistral decoder whose MLP is a
//! sparse mixture of experts in the per-expert layout checkpoints keep
//! (`block_sparse_moe.gate` routes each position to the top `num_experts_per_tok` of
//! `num_local_experts`, `experts.N.w1/w2/w3`, weights renormalised over the chosen). The
//! sliding window is not applied: it caps the positions the model is trusted with.

use anyhow::Result;
use candle_core::{DType, IndexOp, Tensor};
use candle_nn::{Embedding, Linear, Module, RmsNorm, VarBuilder};

use super::plain::{self, Attention, AttentionShape, Rope};

use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `mixtral` (without one, the `MixtralForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Mixtral,
    name: "mixtral",
    model_types: &["mixtral"],
    classes: &["MixtralForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "mixtral";

#[derive(Debug, Clone)]
struct Read {
    vocab: usize,
    hidden: usize,
    inter: usize,
    layers: usize,
    heads: usize,
    kv: usize,
    experts: usize,
    per_token: usize,
    mpe: usize,
    window: Option<usize>,
    act: candle_nn::Activation,
    eps: f64,
    theta: f64,
    head_dim: usize,
    tied: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &["num_local_experts"])?;
    let hidden = r.need("hidden_size")?;
    let heads = r.need("num_attention_heads")?;
    let kv = r.positive("num_key_value_heads")?.unwrap_or(heads);
    let head_dim = r.positive("head_dim")?;
    if heads % kv != 0 || (head_dim.is_none() && hidden % heads != 0) {
        return Err(r
            .err(format!(
                "hidden_size {hidden}, num_attention_heads {heads} and num_key_value_heads {kv} \
                 do not divide"
            ))
            .into());
    }
    let head_dim = head_dim.unwrap_or(hidden / heads);
    let experts = r.need("num_local_experts")?;
    let per_token = r.need("num_experts_per_tok")?;
    if per_token > experts {
        return Err(r
            .err(format!(
                "num_experts_per_tok {per_token} exceeds num_local_experts {experts}"
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
        experts,
        per_token,
        mpe: r.need("max_position_embeddings")?,
        window: r.positive("sliding_window")?,
        act: r.activation(ARCH, "hidden_act", "silu")?,
        eps: r.float("rms_norm_eps")?.unwrap_or(1e-5),
        theta: r.plain_rope(ARCH, 1_000_000.0)?,
        head_dim,
        tied: r.tied(false)?,
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let m = read(c)?;
    Ok(Facts {
        vocab_size: m.vocab,
        hidden_size: m.hidden,
        layers: m.layers,
        max_position_embeddings: m.mpe,
        sliding_window: m.window,
        stored_dtype: Reader::new(c).stored_dtype(),
    })
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let m = read(c)?;
    let t = Tensors::open(files, c.path(), "Mixtral")?;
    let hd = m.head_dim;
    t.expect("model.embed_tokens.weight", &[m.vocab, m.hidden])?;
    t.norm("model.norm", m.hidden, false)?;
    if !m.tied {
        t.linear("lm_head", m.vocab, m.hidden, false)?;
    }
    for i in 0..m.layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.norm(&p("input_layernorm"), m.hidden, false)?;
        t.norm(&p("post_attention_layernorm"), m.hidden, false)?;
        t.attention(
            &p("self_attn"),
            m.hidden,
            (m.heads * hd, m.kv * hd),
            false,
            false,
        )?;
        t.linear(&p("block_sparse_moe.gate"), m.experts, m.hidden, false)?;
        for e in 0..m.experts {
            let x = |w: &str| p(&format!("block_sparse_moe.experts.{e}.{w}"));
            t.linear(&x("w1"), m.inter, m.hidden, false)?;
            t.linear(&x("w2"), m.hidden, m.inter, false)?;
            t.linear(&x("w3"), m.inter, m.hidden, false)?;
        }
    }
    Ok(())
}

/// One expert: `w2(act(w1 x) * w3 x)`.
#[derive(Clone)]
struct Expert {
    w1: Linear,
    w2: Linear,
    w3: Linear,
}

#[derive(Clone)]
struct Layer {
    ln_1: RmsNorm,
    ln_2: RmsNorm,
    attn: Attention,
    gate: Linear,
    experts: Vec<Expert>,
}

#[derive(Clone)]
struct Mixtral {
    m: Read,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    head: Tensor,
    rope: Rope,
    use_cache: bool,
}

impl Mixtral {
    /// The sparse MLP of `x` `[batch, t, hidden]`: each position through its top
    /// `num_experts_per_tok` experts by router softmax (in f32), their outputs weighted by
    /// the chosen probabilities renormalised to sum to 1.
    fn moe(&self, l: &Layer, x: &Tensor) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let xs = x.reshape((b * t, h))?;
        let probs = candle_nn::ops::softmax_last_dim(&l.gate.forward(&xs)?.to_dtype(DType::F32)?)?;
        let probs: Vec<Vec<f32>> = probs.to_vec2()?;
        let mut rows = vec![Vec::<u32>::new(); l.experts.len()];
        let mut weights = vec![Vec::<f32>::new(); l.experts.len()];
        for (r, p) in probs.iter().enumerate() {
            let mut order: Vec<usize> = (0..p.len()).collect();
            // Ties go to the lower index, as torch.topk's do on CPU.
            order.sort_by(|&i, &j| p[j].total_cmp(&p[i]).then(i.cmp(&j)));
            let top = &order[..self.m.per_token];
            let sum: f32 = top.iter().map(|&e| p[e]).sum();
            for &e in top {
                rows[e].push(r as u32);
                weights[e].push(p[e] / sum);
            }
        }
        let mut ys = xs.zeros_like()?;
        for (e, ex) in l.experts.iter().enumerate() {
            if rows[e].is_empty() {
                continue;
            }
            let idx = Tensor::new(rows[e].as_slice(), x.device())?;
            let w = Tensor::new(weights[e].as_slice(), x.device())?
                .to_dtype(x.dtype())?
                .reshape(((), 1))?;
            let xe = xs.index_select(&idx, 0)?;
            let a = ex.w1.forward(&xe)?.apply(&self.m.act)?;
            let y = ex.w2.forward(&(a * ex.w3.forward(&xe)?)?)?;
            ys = ys.index_add(&idx, &y.broadcast_mul(&w)?, 0)?;
        }
        Ok(ys.reshape((b, t, h))?)
    }
}

impl Causal for Mixtral {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let t = ids.dim(1)?;
        let hd = self.m.head_dim;
        let mut x = self.embed.forward(ids)?;
        let mut layers = std::mem::take(&mut self.layers);
        for l in layers.iter_mut() {
            let n = l.ln_1.forward(&x)?;
            let a = l.attn.forward(
                &n,
                &self.rope,
                pos,
                self.use_cache,
                1.0 / (hd as f64).sqrt(),
            )?;
            x = (x + a)?;
            let f = self.moe(l, &l.ln_2.forward(&x)?)?;
            x = (x + f)?;
        }
        self.layers = layers;
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

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let m = read(cx.config)?;
    let root = vb.pp("model");
    let (h, eps) = (m.hidden, m.eps);
    let shape = AttentionShape {
        hidden: h,
        heads: m.heads,
        kv_heads: m.kv,
        head_dim: m.head_dim,
        qkv_bias: false,
        o_bias: false,
    };
    let embed = root.get((m.vocab, h), "embed_tokens.weight")?;
    let mut layers = Vec::with_capacity(m.layers);
    for i in 0..m.layers {
        let l = root.pp(format!("layers.{i}"));
        let experts = (0..m.experts)
            .map(|e| -> Result<Expert> {
                let x = l.pp(format!("block_sparse_moe.experts.{e}"));
                Ok(Expert {
                    w1: plain::linear(&x, "w1", h, m.inter, false)?,
                    w2: plain::linear(&x, "w2", m.inter, h, false)?,
                    w3: plain::linear(&x, "w3", h, m.inter, false)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        layers.push(Layer {
            ln_1: plain::rms_norm(&l, "input_layernorm", h, eps)?,
            ln_2: plain::rms_norm(&l, "post_attention_layernorm", h, eps)?,
            attn: Attention::load(&l, "self_attn", "o_proj", &shape)?,
            gate: plain::linear(&l, "block_sparse_moe.gate", h, m.experts, false)?,
            experts,
        });
    }
    let head = plain::head(&vb, &embed, m.tied, m.vocab, h)?;
    let rope = Rope::new(
        m.head_dim,
        m.theta,
        m.mpe.min(super::RUN_POSITIONS),
        false,
        cx.dtype,
        cx.device,
    )?;
    Ok(Box::new(Mixtral {
        norm: plain::rms_norm(&root, "norm", h, eps)?,
        embed: Embedding::new(embed, h),
        layers,
        head,
        rope,
        use_cache: true,
        m,
    }))
}
