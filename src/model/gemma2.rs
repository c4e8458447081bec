//! Gemma 2 (candle-transformers' `gemma2::Model`): config mapping, tensor check, load and
//! the forward glue. Beyond Gemma: four norms per layer, attention scaled by
//! `query_pre_attn_scalar` (only where it equals `head_dim`, as candle computes it), tanh soft-capping of attention scores and final logits, and
//! every other layer attending over a sliding window. candle's Gemma 2 does not alternate
//! the window (it masks every layer or none), so it runs with full attention and the
//! window caps the positions it is trusted with ([`Facts::sliding_window`]): within the
//! window, sliding and full attention are the same function.

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::gemma2;

use super::gemma::{activation, check_decoder, heads, refuse_common};
use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `gemma2` (without one, the `Gemma2ForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Gemma2,
    name: "gemma2",
    model_types: &["gemma2"],
    classes: &["Gemma2ForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "gemma2";

/// candle's Gemma 2 config from config.json, read exactly; `sliding_window` is returned
/// apart (see the module comment) and left out of candle's config.
pub fn read(c: &Config) -> Result<(gemma2::Config, Option<usize>)> {
    let r = Reader::new(c);
    r.refuse_unimplemented(
        ARCH,
        &[
            "attn_logit_softcapping",
            "final_logit_softcapping",
            "query_pre_attn_scalar",
        ],
    )?;
    refuse_common(&r, ARCH)?;
    let (heads, kv, head_dim) = heads(&r)?;
    let layers = r.need("num_hidden_layers")?;
    if let Some(v) = r.get("layer_types") {
        // transformers' default: even layers slide, odd layers attend fully. Any other
        // pattern is still exact within the window, which caps the positions anyway.
        let n = v.as_array().map(Vec::len);
        if n != Some(layers) {
            return Err(r
                .err(format!(
                    "layer_types must be a list of {layers} entries, not {v}"
                ))
                .into());
        }
    }
    // candle's Gemma 2 scales attention by 1/sqrt(head_dim) whatever this says
    // (Gemma-2-27B: 144 against a head of 128).
    if let Some(q) = r.positive("query_pre_attn_scalar")? {
        if q != head_dim {
            return Err(r
                .refuse(
                    ARCH,
                    "query_pre_attn_scalar",
                    &q,
                    &format!("candle's Gemma 2 scales by head_dim {head_dim}"),
                )
                .into());
        }
    }
    let cfg = gemma2::Config {
        attention_bias: r.bool("attention_bias")?.unwrap_or(false),
        head_dim,
        hidden_activation: activation(&r, ARCH)?,
        hidden_size: r.need("hidden_size")?,
        intermediate_size: r.need("intermediate_size")?,
        num_attention_heads: heads,
        num_hidden_layers: layers,
        num_key_value_heads: kv,
        rms_norm_eps: r.float("rms_norm_eps")?.unwrap_or(1e-6),
        rope_theta: r.plain_rope(ARCH, 10_000.0)?,
        vocab_size: r.need("vocab_size")?,
        final_logit_softcapping: r.float("final_logit_softcapping")?,
        attn_logit_softcapping: r.float("attn_logit_softcapping")?,
        query_pre_attn_scalar: head_dim,
        sliding_window: None,
        max_position_embeddings: r.need("max_position_embeddings")?,
    };
    Ok((cfg, r.positive("sliding_window")?))
}

fn facts(c: &Config) -> Result<Facts> {
    let (g, window) = read(c)?;
    Ok(Facts {
        vocab_size: g.vocab_size,
        hidden_size: g.hidden_size,
        layers: g.num_hidden_layers,
        max_position_embeddings: g.max_position_embeddings,
        sliding_window: window,
        stored_dtype: Reader::new(c).stored_dtype(),
    })
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let (g, _) = read(c)?;
    let t = Tensors::open(files, c.path(), "Gemma 2")?;
    check_decoder(
        &t,
        g.vocab_size,
        g.hidden_size,
        g.intermediate_size,
        g.num_hidden_layers,
        (g.num_attention_heads, g.num_key_value_heads, g.head_dim),
        g.attention_bias,
        &["pre_feedforward_layernorm", "post_feedforward_layernorm"],
    )
}

impl Causal for gemma2::Model {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        Ok(gemma2::Model::forward(self, ids, pos)?.squeeze(1)?)
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
    let (mut cfg, _) = read(cx.config)?;
    cfg.max_position_embeddings = cfg.max_position_embeddings.min(super::RUN_POSITIONS);
    Ok(Box::new(gemma2::Model::new(false, &cfg, vb)?))
}
