//! Gemma (1) (candle-transformers' `gemma::Model`): config mapping, tensor check, load and
//! the forward glue. RMS norms scale by `1 + w`, the embedding is multiplied by
//! `sqrt(hidden_size)`, the head is always the embedding. The KV cache lives inside the
//! model, so a fork is a clone. The helpers here are shared with Gemma 2.

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::gemma;

use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::{Config, HfError};

/// `model_type` `gemma` (without one, the `GemmaForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Gemma,
    name: "gemma",
    model_types: &["gemma"],
    classes: &["GemmaForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "gemma";

/// The MLP activation of the Gemma family: `hidden_activation` where given (4.x configs of
/// Gemma 1 carry both keys and transformers reads this one), else `hidden_act`, with the
/// legacy `gelu` meaning the tanh approximation, as transformers maps it.
pub(crate) fn activation(r: &Reader<'_>, arch: &str) -> Result<candle_nn::Activation, HfError> {
    let key = if r.get("hidden_activation").is_some() {
        "hidden_activation"
    } else {
        "hidden_act"
    };
    if r.get(key).and_then(|v| v.as_str()) == Some("gelu") {
        return Ok(candle_nn::Activation::GeluPytorchTanh);
    }
    r.activation(arch, key, "gelu_pytorch_tanh")
}

/// What every Gemma refuses: bidirectional attention (the embedding-model variant) and an
/// untied head (candle's Gemmas compute the head from the embedding).
pub(crate) fn refuse_common(r: &Reader<'_>, arch: &str) -> Result<(), HfError> {
    if r.bool("use_bidirectional_attention")? == Some(true) {
        return Err(r.refuse(
            arch,
            "use_bidirectional_attention",
            &true,
            "causal attention only",
        ));
    }
    if !r.tied(true)? {
        return Err(r.refuse(
            arch,
            "tie_word_embeddings",
            &false,
            "candle's Gemma ties its head",
        ));
    }
    Ok(())
}

/// Heads, KV heads and head width, checked against each other.
pub(crate) fn heads(r: &Reader<'_>) -> Result<(usize, usize, usize), HfError> {
    let hidden = r.need("hidden_size")?;
    let heads = r.need("num_attention_heads")?;
    let kv = r.positive("num_key_value_heads")?.unwrap_or(heads);
    if heads % kv != 0 {
        return Err(r.err(format!(
            "num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}"
        )));
    }
    let head_dim = r.positive("head_dim")?.unwrap_or(hidden / heads);
    if head_dim % 2 != 0 {
        return Err(r.err(format!(
            "head_dim {head_dim} is odd; RoPE rotates pairs of values"
        )));
    }
    Ok((heads, kv, head_dim))
}

/// The tensors of a Gemma decoder: `extra_norms` are the per-layer norms beyond
/// `input_layernorm` and `post_attention_layernorm` (Gemma 2 and 3 add two).
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_decoder(
    t: &Tensors<'_>,
    vocab: usize,
    hidden: usize,
    inter: usize,
    layers: usize,
    (heads, kv_heads, head_dim): (usize, usize, usize),
    bias: bool,
    extra_norms: &[&str],
) -> Result<()> {
    let (q, kv) = (
        heads.saturating_mul(head_dim),
        kv_heads.saturating_mul(head_dim),
    );
    t.expect("model.embed_tokens.weight", &[vocab, hidden])?;
    t.norm("model.norm", hidden, false)?;
    for i in 0..layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        for n in ["input_layernorm", "post_attention_layernorm"]
            .iter()
            .chain(extra_norms)
        {
            t.norm(&p(n), hidden, false)?;
        }
        t.attention(&p("self_attn"), hidden, (q, kv), bias, bias)?;
        t.gated_mlp(&p("mlp"), hidden, inter)?;
    }
    Ok(())
}

/// candle's Gemma config from config.json, read exactly.
pub fn read(c: &Config) -> Result<gemma::Config> {
    let r = Reader::new(c);
    r.refuse_unimplemented(ARCH, &[])?;
    refuse_common(&r, ARCH)?;
    let (heads, kv, head_dim) = heads(&r)?;
    let act = activation(&r, ARCH)?;
    Ok(gemma::Config {
        attention_bias: r.bool("attention_bias")?.unwrap_or(false),
        head_dim,
        hidden_act: Some(act),
        hidden_activation: None,
        hidden_size: r.need("hidden_size")?,
        intermediate_size: r.need("intermediate_size")?,
        num_attention_heads: heads,
        num_hidden_layers: r.need("num_hidden_layers")?,
        num_key_value_heads: kv,
        rms_norm_eps: r.float("rms_norm_eps")?.unwrap_or(1e-6),
        rope_theta: r.plain_rope(ARCH, 10_000.0)?,
        vocab_size: r.need("vocab_size")?,
        max_position_embeddings: r.need("max_position_embeddings")?,
    })
}

fn facts(c: &Config) -> Result<Facts> {
    let g = read(c)?;
    Ok(Facts {
        vocab_size: g.vocab_size,
        hidden_size: g.hidden_size,
        layers: g.num_hidden_layers,
        max_position_embeddings: g.max_position_embeddings,
        sliding_window: None,
        stored_dtype: Reader::new(c).stored_dtype(),
    })
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let g = read(c)?;
    let t = Tensors::open(files, c.path(), "Gemma")?;
    check_decoder(
        &t,
        g.vocab_size,
        g.hidden_size,
        g.intermediate_size,
        g.num_hidden_layers,
        (g.num_attention_heads, g.num_key_value_heads, g.head_dim),
        g.attention_bias,
        &[],
    )
}

impl Causal for gemma::Model {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        Ok(gemma::Model::forward(self, ids, pos)?.squeeze(1)?)
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
    let mut cfg = read(cx.config)?;
    cfg.max_position_embeddings = cfg.max_position_embeddings.min(super::RUN_POSITIONS);
    Ok(Box::new(gemma::Model::new(false, &cfg, vb)?))
}
