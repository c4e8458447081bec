//! The pieces shared by the architectures written here in plain candle tensor code
//! (GPT-2, GPT-J, GPT-NeoX, Cohere, StableLM, Granite, Falcon): candle-transformers either
//! lacks them or keeps its KV cache where a fork cannot copy it. Each architecture file
//! keeps its own block layout; what is here is what they all compute the same way —
//! rotary embeddings of both layouts, cached causal attention with grouped KV heads, and
//! the loaders of linear layers and norms with or without biases.

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{LayerNorm, Linear, Module, VarBuilder};

/// A linear layer `name` of `inp` → `out` features.
pub fn linear(vb: &VarBuilder, name: &str, inp: usize, out: usize, bias: bool) -> Result<Linear> {
    let w = vb.get((out, inp), &format!("{name}.weight"))?;
    let b = if bias {
        Some(vb.get(out, &format!("{name}.bias"))?)
    } else {
        None
    };
    Ok(Linear::new(w, b))
}

/// A LayerNorm `name` over `size` values; without `bias`, Cohere's and StableLM-free
/// variants that subtract the mean but add no offset.
pub fn layer_norm(
    vb: &VarBuilder,
    name: &str,
    size: usize,
    eps: f64,
    bias: bool,
) -> Result<LayerNorm> {
    let w = vb.get(size, &format!("{name}.weight"))?;
    Ok(if bias {
        LayerNorm::new(w, vb.get(size, &format!("{name}.bias"))?, eps)
    } else {
        LayerNorm::new_no_bias(w, eps)
    })
}

/// The output matrix `[vocab, hidden]`: the embedding itself when tied, else
/// `lm_head.weight`.
pub fn head(
    vb: &VarBuilder,
    embed: &Tensor,
    tied: bool,
    vocab: usize,
    hidden: usize,
) -> Result<Tensor> {
    Ok(if tied {
        embed.clone()
    } else {
        vb.get((vocab, hidden), "lm_head.weight")?
    })
}

/// An RMS norm `name` over `size` values.
pub fn rms_norm(vb: &VarBuilder, name: &str, size: usize, eps: f64) -> Result<candle_nn::RmsNorm> {
    Ok(candle_nn::RmsNorm::new(
        vb.get(size, &format!("{name}.weight"))?,
        eps,
    ))
}

/// Rotary position embeddings on the first `dim` features of each head, `base^(-2i/dim)`
/// frequencies. `interleaved` rotates pairs of neighbours (GPT-J's `rotate_every_two`,
/// Cohere); otherwise the two halves of the rotated span (GPT-NeoX's `rotate_half`).
#[derive(Clone)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
    dim: usize,
    interleaved: bool,
}

impl Rope {
    /// Tables for `positions` positions in `dtype`.
    pub fn new(
        dim: usize,
        base: f64,
        positions: usize,
        interleaved: bool,
        dtype: DType,
        dev: &Device,
    ) -> Result<Rope> {
        if dim == 0 || !dim.is_multiple_of(2) {
            bail!("RoPE over {dim} features: needs a positive even number");
        }
        let inv: Vec<f32> = (0..dim / 2)
            .map(|i| (1.0 / base.powf(2.0 * i as f64 / dim as f64)) as f32)
            .collect();
        let inv = Tensor::from_vec(inv, (1, dim / 2), dev)?;
        let t = Tensor::arange(0u32, positions as u32, dev)?
            .to_dtype(DType::F32)?
            .reshape((positions, 1))?;
        let f = t.matmul(&inv)?;
        Ok(Rope {
            cos: f.cos()?.to_dtype(dtype)?,
            sin: f.sin()?.to_dtype(dtype)?,
            dim,
            interleaved,
        })
    }

    /// `x` `[batch, heads, t, head_dim]` at positions `pos..pos + t`.
    pub fn apply(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, _, t, hd) = x.dims4()?;
        let cos = self.cos.narrow(0, pos, t)?;
        let sin = self.sin.narrow(0, pos, t)?;
        let rot = |x: &Tensor| -> Result<Tensor> {
            let x = x.contiguous()?;
            Ok(if self.interleaved {
                candle_nn::rotary_emb::rope_i(&x, &cos, &sin)?
            } else {
                candle_nn::rotary_emb::rope(&x, &cos, &sin)?
            })
        };
        if self.dim == hd {
            return rot(x);
        }
        let head = rot(&x.narrow(D::Minus1, 0, self.dim)?)?;
        let tail = x.narrow(D::Minus1, self.dim, hd - self.dim)?;
        Ok(Tensor::cat(&[&head, &tail], D::Minus1)?)
    }
}

/// `[t, past + t]` additive mask: 0 where position `past + i` may attend, -inf after it.
pub fn causal_mask(t: usize, past: usize, dtype: DType, dev: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..past + t).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 })
        })
        .collect();
    Ok(Tensor::from_vec(mask, (t, past + t), dev)?.to_dtype(dtype)?)
}

/// Keys and values of the cached positions of one layer, `[batch, kv_heads, pos, head_dim]`.
pub type Kv = Option<(Tensor, Tensor)>;

/// Causal attention of `q` `[batch, heads, t, head_dim]` over the cached and new keys and
/// values `[batch, kv_heads, t, head_dim]` (each KV head serving `heads / kv_heads`
/// queries), scores scaled by `scale` and soft-maxed in f32. The new keys and values join
/// `cache` when `keep`. Returns `[batch, t, heads * head_dim]`.
pub fn attend(
    q: &Tensor,
    k: Tensor,
    v: Tensor,
    cache: &mut Kv,
    keep: bool,
    scale: f64,
) -> Result<Tensor> {
    let (b, h, t, hd) = q.dims4()?;
    let (mut k, mut v) = (k.contiguous()?, v.contiguous()?);
    if let Some((pk, pv)) = cache.as_ref() {
        k = Tensor::cat(&[pk, &k], 2)?;
        v = Tensor::cat(&[pv, &v], 2)?;
    }
    if keep {
        *cache = Some((k.clone(), v.clone()));
    }
    let kvh = k.dim(1)?;
    if h % kvh != 0 {
        bail!("{h} query heads cannot share {kvh} key/value heads");
    }
    let rep = h / kvh;
    let s = k.dim(2)?;
    let (k, v) = if rep == 1 {
        (k, v)
    } else {
        let grow = |x: Tensor| -> Result<Tensor> {
            Ok(x.unsqueeze(2)?
                .expand((b, kvh, rep, s, hd))?
                .reshape((b, h, s, hd))?)
        };
        (grow(k)?, grow(v)?)
    };
    let q32 = q.to_dtype(DType::F32)?.contiguous()?;
    let k32 = k.to_dtype(DType::F32)?;
    let mut att = (q32.matmul(&k32.t()?.contiguous()?)? * scale)?;
    if t > 1 {
        att = att.broadcast_add(&causal_mask(t, s - t, DType::F32, att.device())?)?;
    }
    let att = candle_nn::ops::softmax_last_dim(&att)?.to_dtype(v.dtype())?;
    Ok(att
        .matmul(&v.contiguous()?)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b, t, h * hd))?)
}

/// `x` `[batch, t, heads * head_dim]` as `[batch, heads, t, head_dim]`.
pub fn heads(x: &Tensor, heads: usize, head_dim: usize) -> Result<Tensor> {
    let (b, t, _) = x.dims3()?;
    Ok(x.reshape((b, t, heads, head_dim))?
        .transpose(1, 2)?
        .contiguous()?)
}

/// `x` `[batch, heads, t, head_dim]` centred and scaled over each head, times that head's
/// weights `[heads, head_dim]` (Cohere's `CohereLayerNorm` of a `(heads, head_dim)` shape, StableLM's
/// `StableLmLayerNormPerHead`).
pub fn head_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(candle_core::DType::F32)?;
    let x = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = x.sqr()?.mean_keepdim(D::Minus1)?;
    let x = x.broadcast_div(&(var + eps)?.sqrt()?)?;
    let (h, hd) = w.dims2()?;
    let w = w
        .to_dtype(candle_core::DType::F32)?
        .reshape((1, h, 1, hd))?;
    Ok(x.broadcast_mul(&w)?.to_dtype(dtype)?)
}

/// q and k normalised before the rotary embedding.
#[derive(Clone)]
pub enum QkNorm {
    /// Each head its own weights `[heads, head_dim]`, no bias ([`head_norm`]: Cohere's
    /// `use_qk_norm`, StableLM's `qk_layernorm`).
    PerHead { q: Tensor, k: Tensor, eps: f64 },
    /// One LayerNorm over `head_dim` shared by the heads (Phi's `qk_layernorm`).
    Shared { q: LayerNorm, k: LayerNorm },
}

/// Self-attention with separate `q/k/v` projections and an output projection, optional
/// q/k norms, rotary embeddings and its own KV cache: the block Cohere, StableLM, Phi,
/// Granite and Mixtral share.
#[derive(Clone)]
pub struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    norm: Option<QkNorm>,
    kv: Kv,
}

/// Sizes and biases of an [`Attention`].
pub struct AttentionShape {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub qkv_bias: bool,
    pub o_bias: bool,
}

impl Attention {
    /// `{prefix}.q_proj`, `k_proj`, `v_proj` and `{prefix}.{out}` (`o_proj`, Phi's
    /// `dense`).
    pub fn load(vb: &VarBuilder, prefix: &str, out: &str, s: &AttentionShape) -> Result<Attention> {
        let (q, kv) = (s.heads * s.head_dim, s.kv_heads * s.head_dim);
        let p = |n: &str| format!("{prefix}.{n}");
        Ok(Attention {
            q: linear(vb, &p("q_proj"), s.hidden, q, s.qkv_bias)?,
            k: linear(vb, &p("k_proj"), s.hidden, kv, s.qkv_bias)?,
            v: linear(vb, &p("v_proj"), s.hidden, kv, s.qkv_bias)?,
            o: linear(vb, &p(out), q, s.hidden, s.o_bias)?,
            heads: s.heads,
            kv_heads: s.kv_heads,
            head_dim: s.head_dim,
            norm: None,
            kv: None,
        })
    }

    /// With q/k norms.
    pub fn with_norm(mut self, norm: Option<QkNorm>) -> Attention {
        self.norm = norm;
        self
    }

    /// `x` `[batch, t, hidden]` at positions `pos..`, scores scaled by `scale`; the new
    /// keys and values join the cache when `keep`.
    pub fn forward(
        &mut self,
        x: &Tensor,
        rope: &Rope,
        pos: usize,
        keep: bool,
        scale: f64,
    ) -> Result<Tensor> {
        let hd = self.head_dim;
        let mut q = heads(&self.q.forward(x)?, self.heads, hd)?;
        let mut k = heads(&self.k.forward(x)?, self.kv_heads, hd)?;
        match &self.norm {
            None => {}
            Some(QkNorm::PerHead { q: qn, k: kn, eps }) => {
                q = head_norm(&q, qn, *eps)?;
                k = head_norm(&k, kn, *eps)?;
            }
            Some(QkNorm::Shared { q: qn, k: kn }) => {
                q = qn.forward(&q)?;
                k = kn.forward(&k)?;
            }
        }
        let q = rope.apply(&q, pos)?;
        let k = rope.apply(&k, pos)?;
        let v = heads(&self.v.forward(x)?, self.kv_heads, hd)?;
        let a = attend(&q, k, v, &mut self.kv, keep, scale)?;
        Ok(self.o.forward(&a)?)
    }

    /// Forget the cached positions.
    pub fn clear(&mut self) {
        self.kv = None;
    }
}
