//! GPT-J (transformers' `GPTJForCausalLM`), in plain candle tensor code: candle-transformers
//! has no GPT-J. Attention and MLP in parallel off one LayerNorm, rotary embeddings of
//! neighbouring pairs (`rotate_every_two`) on the first `rotary_dim` features of each head
//! with the base fixed at 10000 (transformers reads no `rope_theta` for it), no attention
//! biases, and a head with a bias (its weight tied to `wte` when the config says so).

use anyhow::Result;
use candle_core::{IndexOp, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};

use super::plain::{self, Kv, Rope};
use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `gptj` (without one, the `GPTJForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Gptj,
    name: "gptj",
    model_types: &["gptj"],
    classes: &["GPTJForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "gptj";

#[derive(Debug, Clone)]
struct Read {
    vocab: usize,
    embd: usize,
    layers: usize,
    heads: usize,
    positions: usize,
    inner: usize,
    rotary: usize,
    act: candle_nn::Activation,
    eps: f64,
    tied: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &[])?;
    let embd = r.need("n_embd")?;
    let heads = r.need("n_head")?;
    if embd % heads != 0 {
        return Err(r
            .err(format!("n_embd {embd} is not a multiple of n_head {heads}"))
            .into());
    }
    let hd = embd / heads;
    let rotary = r.positive("rotary_dim")?.unwrap_or(hd);
    if rotary > hd || rotary % 2 != 0 {
        return Err(r
            .err(format!(
                "rotary_dim {rotary} must be even and at most the head size {hd}"
            ))
            .into());
    }
    let positions = match r.positive("n_positions")? {
        Some(n) => n,
        None => r.need("max_position_embeddings")?,
    };
    Ok(Read {
        vocab: r.need("vocab_size")?,
        embd,
        layers: r.need("n_layer")?,
        heads,
        positions,
        inner: r.positive("n_inner")?.unwrap_or(4 * embd),
        rotary,
        act: r.activation(ARCH, "activation_function", "gelu_new")?,
        eps: r.float("layer_norm_epsilon")?.unwrap_or(1e-5),
        tied: r.tied(false)?,
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let m = read(c)?;
    Ok(Facts::plain(c, m.vocab, m.embd, m.layers, m.positions))
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let m = read(c)?;
    let t = Tensors::open(files, c.path(), "GPT-J")?;
    let e = m.embd;
    t.expect("transformer.wte.weight", &[m.vocab, e])?;
    t.norm("transformer.ln_f", e, true)?;
    if m.tied {
        t.expect("lm_head.bias", &[m.vocab])?;
    } else {
        t.linear("lm_head", m.vocab, e, true)?;
    }
    for i in 0..m.layers {
        let p = |s: &str| format!("transformer.h.{i}.{s}");
        t.norm(&p("ln_1"), e, true)?;
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            t.linear(&p(&format!("attn.{n}")), e, e, false)?;
        }
        t.linear(&p("mlp.fc_in"), m.inner, e, true)?;
        t.linear(&p("mlp.fc_out"), e, m.inner, true)?;
    }
    Ok(())
}

#[derive(Clone)]
struct Block {
    ln_1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    fc_in: Linear,
    fc_out: Linear,
    kv: Kv,
}

#[derive(Clone)]
struct GptJ {
    m: Read,
    wte: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    head: Linear,
    rope: Rope,
    use_cache: bool,
}

impl Causal for GptJ {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let t = ids.dim(1)?;
        let (h, hd) = (self.m.heads, self.m.embd / self.m.heads);
        let scale = 1.0 / (hd as f64).sqrt();
        let mut x = self.wte.forward(ids)?;
        for b in self.blocks.iter_mut() {
            let n = b.ln_1.forward(&x)?;
            let q = self
                .rope
                .apply(&plain::heads(&b.q.forward(&n)?, h, hd)?, pos)?;
            let k = self
                .rope
                .apply(&plain::heads(&b.k.forward(&n)?, h, hd)?, pos)?;
            let v = plain::heads(&b.v.forward(&n)?, h, hd)?;
            let a = plain::attend(&q, k, v, &mut b.kv, self.use_cache, scale)?;
            let a = b.out.forward(&a)?;
            let f = b
                .fc_out
                .forward(&b.fc_in.forward(&n)?.apply(&self.m.act)?)?;
            x = ((x + a)? + f)?;
        }
        let last = self.ln_f.forward(&x.i((.., t - 1, ..))?.contiguous()?)?;
        Ok(self.head.forward(&last)?)
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
    let m = read(cx.config)?;
    let root = vb.pp("transformer");
    let (e, eps) = (m.embd, m.eps);
    let wte = root.get((m.vocab, e), "wte.weight")?;
    let mut blocks = Vec::with_capacity(m.layers);
    for i in 0..m.layers {
        let b = root.pp(format!("h.{i}"));
        blocks.push(Block {
            ln_1: plain::layer_norm(&b, "ln_1", e, eps, true)?,
            q: plain::linear(&b, "attn.q_proj", e, e, false)?,
            k: plain::linear(&b, "attn.k_proj", e, e, false)?,
            v: plain::linear(&b, "attn.v_proj", e, e, false)?,
            out: plain::linear(&b, "attn.out_proj", e, e, false)?,
            fc_in: plain::linear(&b, "mlp.fc_in", e, m.inner, true)?,
            fc_out: plain::linear(&b, "mlp.fc_out", m.inner, e, true)?,
            kv: None,
        });
    }
    let head = if m.tied {
        Linear::new(wte.clone(), Some(vb.get(m.vocab, "lm_head.bias")?))
    } else {
        plain::linear(&vb, "lm_head", e, m.vocab, true)?
    };
    let rope = Rope::new(
        m.rotary,
        10_000.0,
        m.positions.min(super::RUN_POSITIONS),
        true,
        cx.dtype,
        cx.device,
    )?;
    Ok(Box::new(GptJ {
        ln_f: plain::layer_norm(&root, "ln_f", e, eps, true)?,
        wte: Embedding::new(wte, e),
        blocks,
        head,
        rope,
        use_cache: true,
        m,
    }))
}
