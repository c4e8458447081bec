//! Mixtral (candle-transformers' `mixtral::Model`): a Mistral decoder whose MLP is a
//! sparse mixture of experts (`block_sparse_moe.gate` routes each position to the top
//! `num_experts_per_tok` of `num_local_experts`, weights renormalised over the chosen).
//! candle's fields are private to it, so its config is built from our exact reading and
//! deserialized. candle applies the sliding window only to multi-token passes, so the
//! model runs without one and the window caps the positions it is trusted with. It has no
//! way to clear its cache: a reset returns to the clone taken at load.

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::mixtral;
use serde_json::json;

use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::forward::Reader;
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

/// The exact reading, in candle's field names.
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
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &["num_local_experts"])?;
    if r.tied(false)? {
        return Err(r
            .refuse(
                ARCH,
                "tie_word_embeddings",
                &true,
                "candle's Mixtral has its own head",
            )
            .into());
    }
    let hidden = r.need("hidden_size")?;
    let heads = r.need("num_attention_heads")?;
    let kv = r.positive("num_key_value_heads")?.unwrap_or(heads);
    if hidden % heads != 0 || heads % kv != 0 {
        return Err(r
            .err(format!(
                "hidden_size {hidden}, num_attention_heads {heads} and num_key_value_heads {kv} \
                 do not divide"
            ))
            .into());
    }
    if let Some(d) = r.positive("head_dim")? {
        if d != hidden / heads {
            return Err(r
                .refuse(
                    ARCH,
                    "head_dim",
                    &d,
                    "candle's Mixtral uses hidden_size / num_attention_heads",
                )
                .into());
        }
    }
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
    let hd = m.hidden / m.heads;
    t.expect("model.embed_tokens.weight", &[m.vocab, m.hidden])?;
    t.norm("model.norm", m.hidden, false)?;
    t.linear("lm_head", m.vocab, m.hidden, false)?;
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

#[derive(Clone)]
struct Mixtral {
    model: mixtral::Model,
    fresh: mixtral::Model,
}

impl Causal for Mixtral {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        Ok(self.model.forward(ids, pos)?.squeeze(1)?)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.model = self.fresh.clone();
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let m = read(cx.config)?;
    let positions = m.mpe.min(super::RUN_POSITIONS);
    let cfg: mixtral::Config = serde_json::from_value(json!({
        "vocab_size": m.vocab,
        "hidden_size": m.hidden,
        "intermediate_size": m.inter,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "num_key_value_heads": m.kv,
        "hidden_act": m.act,
        "max_position_embeddings": positions,
        "rms_norm_eps": m.eps,
        "rope_theta": m.theta,
        // Never reached: positions are capped at the window (see the module comment).
        "sliding_window": positions,
        "num_experts_per_tok": m.per_token,
        "num_local_experts": m.experts,
        "use_flash_attn": false,
    }))?;
    let model = mixtral::Model::new(&cfg, vb)?;
    Ok(Box::new(Mixtral {
        fresh: model.clone(),
        model,
    }))
}
