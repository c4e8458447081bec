//! StarCoder2 (candle-transformers' `starcoder2::Model`): LayerNorm decoder with biases
//! everywhere (`use_bias`), a plain `c_fc`/`c_proj` MLP and the head tied to the
//! embedding. candle's fields are private to it, so its config is built from our exact
//! reading and deserialized. candle applies the sliding window only to multi-token
//! passes, so the model runs without one and the window caps the trusted positions.

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::starcoder2;
use serde_json::json;

use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `starcoder2` (without one, the `Starcoder2ForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Starcoder2,
    name: "starcoder2",
    model_types: &["starcoder2"],
    classes: &["Starcoder2ForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "starcoder2";

#[derive(Debug, Clone)]
struct Read {
    vocab: usize,
    hidden: usize,
    inter: usize,
    layers: usize,
    heads: usize,
    kv: usize,
    mpe: usize,
    window: Option<usize>,
    act: candle_nn::Activation,
    eps: f64,
    theta: f64,
    bias: bool,
}

fn read(c: &Config) -> Result<Read> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &[])?;
    if !r.tied(true)? {
        return Err(r
            .refuse(
                ARCH,
                "tie_word_embeddings",
                &false,
                "candle's StarCoder2 ties its head",
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
    Ok(Read {
        vocab: r.need("vocab_size")?,
        hidden,
        inter: r.need("intermediate_size")?,
        layers: r.need("num_hidden_layers")?,
        heads,
        kv,
        mpe: r.need("max_position_embeddings")?,
        window: r.positive("sliding_window")?,
        act: r.activation(ARCH, "hidden_act", "gelu_pytorch_tanh")?,
        eps: r.float("norm_epsilon")?.unwrap_or(1e-5),
        theta: r.plain_rope(ARCH, 10_000.0)?,
        bias: r.bool("use_bias")?.unwrap_or(true),
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
    let t = Tensors::open(files, c.path(), "StarCoder2")?;
    let hd = m.hidden / m.heads;
    t.expect("model.embed_tokens.weight", &[m.vocab, m.hidden])?;
    t.norm("model.norm", m.hidden, true)?;
    for i in 0..m.layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.norm(&p("input_layernorm"), m.hidden, true)?;
        t.norm(&p("post_attention_layernorm"), m.hidden, true)?;
        t.attention(
            &p("self_attn"),
            m.hidden,
            (m.heads * hd, m.kv * hd),
            m.bias,
            m.bias,
        )?;
        t.linear(&p("mlp.c_fc"), m.inter, m.hidden, m.bias)?;
        t.linear(&p("mlp.c_proj"), m.hidden, m.inter, m.bias)?;
    }
    Ok(())
}

impl Causal for starcoder2::Model {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        Ok(starcoder2::Model::forward(self, ids, pos)?.squeeze(1)?)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.clear_kv_cache();
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let m = read(cx.config)?;
    let cfg: starcoder2::Config = serde_json::from_value(json!({
        "vocab_size": m.vocab,
        "hidden_size": m.hidden,
        "intermediate_size": m.inter,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "num_key_value_heads": m.kv,
        "hidden_act": m.act,
        "max_position_embeddings": m.mpe.min(super::RUN_POSITIONS),
        "norm_epsilon": m.eps,
        "rope_theta": m.theta,
        "use_bias": m.bias,
        "sliding_window": null,
    }))?;
    Ok(Box::new(starcoder2::Model::new(&cfg, vb)?))
}
