//! GPT-2 (transformers' `GPT2LMHeadModel`), written here as plain candle tensor code:
//! candle-transformers has no GPT-2. Learned absolute positions, pre-LayerNorm blocks,
//! one fused `c_attn` projection, `Conv1D` weights stored `[in, out]`, the head tied to
//! `wte` unless the checkpoint says otherwise. The KV cache is per layer and lives in the
//! model, so a fork is a clone (tensors are shared until appended to).

use anyhow::Result;
use candle_core::{IndexOp, Tensor, D};
use candle_nn::{Embedding, LayerNorm, Module, VarBuilder};

use super::plain::{self, Kv};
use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `gpt2` (without one, the `GPT2LMHeadModel` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Gpt2,
    name: "gpt2",
    model_types: &["gpt2"],
    classes: &["GPT2LMHeadModel"],
    facts,
    check,
    load,
};

/// The forward-pass fields of a GPT-2 config.json, read exactly.
#[derive(Debug, Clone)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_positions: usize,
    pub n_inner: usize,
    pub activation: candle_nn::Activation,
    pub layer_norm_epsilon: f64,
    pub scale_attn_weights: bool,
    pub tie_word_embeddings: bool,
    pub stored_dtype: Option<String>,
}

impl Gpt2Config {
    /// Read `c`, refusing what this forward pass does not implement.
    pub fn read(c: &Config) -> Result<Gpt2Config> {
        let r = Reader::new(c);
        r.refuse_unimplemented("gpt2", &[])?;
        for (key, why) in [
            (
                "scale_attn_by_inverse_layer_idx",
                "attention scores are not scaled by layer",
            ),
            ("add_cross_attention", "a decoder without cross-attention"),
        ] {
            if r.bool(key)? == Some(true) {
                return Err(r.refuse("gpt2", key, &true, why).into());
            }
        }
        let n_embd = r.need("n_embd")?;
        let n_head = r.need("n_head")?;
        if n_embd % n_head != 0 {
            return Err(r
                .err(format!(
                    "n_embd {n_embd} is not a multiple of n_head {n_head}"
                ))
                .into());
        }
        let n_positions = match r.positive("n_positions")? {
            Some(n) => n,
            None => r.need("max_position_embeddings")?,
        };
        Ok(Gpt2Config {
            vocab_size: r.need("vocab_size")?,
            n_embd,
            n_layer: r.need("n_layer")?,
            n_head,
            n_positions,
            n_inner: r.positive("n_inner")?.unwrap_or(4 * n_embd),
            activation: r.activation("gpt2", "activation_function", "gelu_new")?,
            layer_norm_epsilon: r.float("layer_norm_epsilon")?.unwrap_or(1e-5),
            scale_attn_weights: r.bool("scale_attn_weights")?.unwrap_or(true),
            tie_word_embeddings: r.bool("tie_word_embeddings")?.unwrap_or(true),
            stored_dtype: r.stored_dtype(),
        })
    }
}

fn facts(c: &Config) -> Result<Facts> {
    let g = Gpt2Config::read(c)?;
    Ok(Facts {
        vocab_size: g.vocab_size,
        hidden_size: g.n_embd,
        layers: g.n_layer,
        max_position_embeddings: g.n_positions,
        sliding_window: None,
        stored_dtype: g.stored_dtype,
    })
}

/// `transformer.` when the checkpoint was saved by `save_pretrained` of the LM-head model;
/// none for the original `gpt2` files (bare `wte.weight`, `h.0.…`).
fn prefix(t: &Tensors<'_>) -> &'static str {
    if t.has("transformer.wte.weight") {
        "transformer."
    } else {
        ""
    }
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let g = Gpt2Config::read(c)?;
    let t = Tensors::open(files, c.path(), "GPT-2")?;
    let p = prefix(&t);
    let (e, inner) = (g.n_embd, g.n_inner);
    t.expect(&format!("{p}wte.weight"), &[g.vocab_size, e])?;
    t.expect(&format!("{p}wpe.weight"), &[g.n_positions, e])?;
    t.expect(&format!("{p}ln_f.weight"), &[e])?;
    t.expect(&format!("{p}ln_f.bias"), &[e])?;
    if !g.tie_word_embeddings {
        t.expect("lm_head.weight", &[g.vocab_size, e])?;
    }
    for i in 0..g.n_layer {
        let n = |s: &str| format!("{p}h.{i}.{s}");
        for ln in ["ln_1", "ln_2"] {
            t.expect(&n(&format!("{ln}.weight")), &[e])?;
            t.expect(&n(&format!("{ln}.bias")), &[e])?;
        }
        t.expect(&n("attn.c_attn.weight"), &[e, 3 * e])?;
        t.expect(&n("attn.c_attn.bias"), &[3 * e])?;
        t.expect(&n("attn.c_proj.weight"), &[e, e])?;
        t.expect(&n("attn.c_proj.bias"), &[e])?;
        t.expect(&n("mlp.c_fc.weight"), &[e, inner])?;
        t.expect(&n("mlp.c_fc.bias"), &[inner])?;
        t.expect(&n("mlp.c_proj.weight"), &[inner, e])?;
        t.expect(&n("mlp.c_proj.bias"), &[e])?;
    }
    Ok(())
}

/// transformers' `Conv1D`: `x @ w + b` with `w` stored `[in, out]`.
#[derive(Clone)]
struct Conv1D {
    w: Tensor,
    b: Tensor,
}

impl Conv1D {
    fn load(vb: &VarBuilder, name: &str, inp: usize, out: usize) -> Result<Conv1D> {
        Ok(Conv1D {
            w: vb.get((inp, out), &format!("{name}.weight"))?,
            b: vb.get(out, &format!("{name}.bias"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.broadcast_matmul(&self.w)?.broadcast_add(&self.b)?)
    }
}

#[derive(Clone)]
struct Block {
    ln_1: LayerNorm,
    c_attn: Conv1D,
    c_proj: Conv1D,
    ln_2: LayerNorm,
    c_fc: Conv1D,
    mlp_proj: Conv1D,
    kv: Kv,
}

fn layer_norm(vb: &VarBuilder, name: &str, size: usize, eps: f64) -> Result<LayerNorm> {
    Ok(LayerNorm::new(
        vb.get(size, &format!("{name}.weight"))?,
        vb.get(size, &format!("{name}.bias"))?,
        eps,
    ))
}

#[derive(Clone)]
struct Gpt2 {
    cfg: Gpt2Config,
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    /// `[vocab, n_embd]`: `wte` when tied.
    head: Tensor,
    use_cache: bool,
}

impl Gpt2 {
    fn attention(&self, b: &mut Block, x: &Tensor) -> Result<Tensor> {
        let e = x.dim(D::Minus1)?;
        let h = self.cfg.n_head;
        let hd = e / h;
        let qkv = b.c_attn.forward(x)?;
        let part = |k: usize| plain::heads(&qkv.narrow(D::Minus1, k * e, e)?, h, hd);
        let scale = if self.cfg.scale_attn_weights {
            1.0 / (hd as f64).sqrt()
        } else {
            1.0
        };
        let y = plain::attend(
            &part(0)?,
            part(1)?,
            part(2)?,
            &mut b.kv,
            self.use_cache,
            scale,
        )?;
        b.c_proj.forward(&y)
    }
}

impl Causal for Gpt2 {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let positions = Tensor::arange(pos as u32, (pos + t) as u32, ids.device())?;
        let mut x = self
            .wte
            .forward(ids)?
            .broadcast_add(&self.wpe.forward(&positions)?)?;
        let mut blocks = std::mem::take(&mut self.blocks);
        let act = self.cfg.activation;
        for b in blocks.iter_mut() {
            let a = self.attention(b, &b.ln_1.forward(&x)?)?;
            x = (x + a)?;
            let m = b.c_fc.forward(&b.ln_2.forward(&x)?)?;
            let m = b.mlp_proj.forward(&m.apply(&act)?)?;
            x = (x + m)?;
        }
        self.blocks = blocks;
        let last = self.ln_f.forward(&x.i((.., t - 1, ..))?.contiguous()?)?;
        Ok(last.matmul(&self.head.t()?)?)
    }

    fn reset(&mut self, use_cache: bool) -> Result<()> {
        self.use_cache = use_cache;
        for b in &mut self.blocks {
            b.kv = None;
        }
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let cfg = Gpt2Config::read(cx.config)?;
    let root = if vb.contains_tensor("transformer.wte.weight") {
        vb.pp("transformer")
    } else {
        vb.clone()
    };
    let (e, inner, eps) = (cfg.n_embd, cfg.n_inner, cfg.layer_norm_epsilon);
    let wte = root.get((cfg.vocab_size, e), "wte.weight")?;
    let wpe = root.get((cfg.n_positions, e), "wpe.weight")?;
    let mut blocks = Vec::with_capacity(cfg.n_layer);
    for i in 0..cfg.n_layer {
        let b = root.pp(format!("h.{i}"));
        blocks.push(Block {
            ln_1: layer_norm(&b, "ln_1", e, eps)?,
            c_attn: Conv1D::load(&b, "attn.c_attn", e, 3 * e)?,
            c_proj: Conv1D::load(&b, "attn.c_proj", e, e)?,
            ln_2: layer_norm(&b, "ln_2", e, eps)?,
            c_fc: Conv1D::load(&b, "mlp.c_fc", e, inner)?,
            mlp_proj: Conv1D::load(&b, "mlp.c_proj", inner, e)?,
            kv: None,
        });
    }
    let head = if cfg.tie_word_embeddings {
        wte.clone()
    } else {
        vb.get((cfg.vocab_size, e), "lm_head.weight")?
    };
    Ok(Box::new(Gpt2 {
        ln_f: layer_norm(&root, "ln_f", e, eps)?,
        wte: Embedding::new(wte, e),
        wpe: Embedding::new(wpe, e),
        blocks,
        head,
        use_cache: true,
        cfg,
    }))
}
