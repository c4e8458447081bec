//! Gemma 3, text only (candle-transformers' `gemma3::Model`): config mapping, tensor check,
//! load and the forward glue. Layers alternate sliding-window and full attention, each
//! kind with its own RoPE base; the head is always tied to the embedding. The KV cache
//! (rotating on sliding layers) lives inside the model, so a fork is a clone.

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::gemma3;
use serde_json::Value;

use super::shapes::Tensors;
use super::{Arch, Causal, Facts, LoadContext, Spec};
use crate::hf::reader::Reader;
use crate::hf::Config;

/// `model_type` `gemma3_text` (without one, the `Gemma3ForCausalLM` class).
pub const SPEC: Spec = Spec {
    arch: Arch::Gemma3,
    name: "gemma3",
    model_types: &["gemma3_text"],
    classes: &["Gemma3ForCausalLM"],
    facts,
    check,
    load,
};

const ARCH: &str = "gemma3";

/// The RoPE base of one layer kind: `rope_parameters.<kind>` (transformers 5) or the 4.x
/// key, refusing any scaling.
fn rope_base(r: &Reader<'_>, c: &Config, kind: &str, old_key: &str, default: f64) -> Result<f64> {
    if let Some(p) = r.object("rope_parameters")? {
        if let Some(k) = p.get(kind) {
            let Some(o) = k.as_object() else {
                return Err(r
                    .err(format!("rope_parameters.{kind} must be an object, not {k}"))
                    .into());
            };
            let ty = o
                .get("rope_type")
                .and_then(Value::as_str)
                .unwrap_or("default");
            let factor = o.get("factor").and_then(Value::as_f64).unwrap_or(1.0);
            if !(ty == "default" || (ty == "linear" && factor == 1.0)) {
                return Err(r
                    .refuse(
                        ARCH,
                        &format!("rope_parameters.{kind}.rope_type"),
                        &format!("{ty:?} (factor {factor})"),
                        "unscaled RoPE only",
                    )
                    .into());
            }
            return match o.get("rope_theta").and_then(Value::as_f64) {
                Some(t) if t > 0.0 => Ok(t),
                _ => Err(r
                    .err(format!(
                        "rope_parameters.{kind}.rope_theta must be a positive number"
                    ))
                    .into()),
            };
        }
    }
    if let Some(s) = r.object("rope_scaling")? {
        let ty = s
            .get("rope_type")
            .or_else(|| s.get("type"))
            .and_then(Value::as_str);
        let factor = s.get("factor").and_then(Value::as_f64).unwrap_or(1.0);
        if !(ty == Some("default") || factor == 1.0) {
            return Err(r
                .refuse(
                    ARCH,
                    "rope_scaling",
                    &format!("{ty:?} (factor {factor})"),
                    "unscaled RoPE only",
                )
                .into());
        }
    }
    let _ = c;
    Ok(r.float(old_key)?.unwrap_or(default))
}

/// Which layers use the sliding window, as candle's pattern: layer `i` slides iff
/// `(i + 1) % pattern != 0`. From `layer_types` (transformers 5) or
/// `sliding_window_pattern` (4.x, default 6); a list candle's pattern cannot express is
/// refused.
fn pattern(r: &Reader<'_>, layers: usize) -> Result<usize> {
    let Some(v) = r.get("layer_types") else {
        return Ok(r
            .positive("sliding_window_pattern")?
            .or(r.positive("_sliding_window_pattern")?)
            .unwrap_or(6));
    };
    let types = v
        .as_array()
        .ok_or_else(|| r.err(format!("layer_types must be a list, not {v}")))?;
    if types.len() != layers {
        return Err(r
            .err(format!(
                "layer_types has {} entries for {layers} layers",
                types.len()
            ))
            .into());
    }
    let sliding: Vec<bool> = types
        .iter()
        .map(|t| match t.as_str() {
            Some("sliding_attention") => Ok(true),
            Some("full_attention") => Ok(false),
            _ => Err(r.refuse(
                ARCH,
                "layer_types entry",
                t,
                "full_attention and sliding_attention only",
            )),
        })
        .collect::<Result<_, _>>()?;
    let p = sliding
        .iter()
        .position(|s| !s)
        .map_or(layers + 1, |f| f + 1);
    if sliding
        .iter()
        .enumerate()
        .any(|(i, &s)| s != ((i + 1) % p != 0))
    {
        return Err(r
            .refuse(
                ARCH,
                "layer_types",
                v,
                "one full-attention layer every N layers",
            )
            .into());
    }
    Ok(p)
}

/// candle's Gemma 3 config from config.json, read exactly.
pub fn read(c: &Config) -> Result<gemma3::Config> {
    let r = Reader::new(c);
    r.refuse_unimplemented(
        ARCH,
        &[
            "attn_logit_softcapping",
            "final_logit_softcapping",
            "query_pre_attn_scalar",
            "rope_local_base_freq",
        ],
    )?;
    super::gemma::refuse_common(&r, ARCH)?;
    let hidden_size = r.need("hidden_size")?;
    let (heads, kv, head_dim) = super::gemma::heads(&r)?;
    let layers = r.need("num_hidden_layers")?;
    let sliding_window = r.need("sliding_window")?;
    Ok(gemma3::Config {
        attention_bias: r.bool("attention_bias")?.unwrap_or(false),
        head_dim,
        hidden_activation: r.activation(ARCH, "hidden_activation", "gelu_pytorch_tanh")?,
        hidden_size,
        intermediate_size: r.need("intermediate_size")?,
        num_attention_heads: heads,
        num_hidden_layers: layers,
        num_key_value_heads: kv,
        rms_norm_eps: r.float("rms_norm_eps")?.unwrap_or(1e-6),
        rope_theta: rope_base(&r, c, "full_attention", "rope_theta", 1_000_000.0)?,
        rope_local_base_freq: rope_base(
            &r,
            c,
            "sliding_attention",
            "rope_local_base_freq",
            10_000.0,
        )?,
        vocab_size: r.need("vocab_size")?,
        final_logit_softcapping: r.float("final_logit_softcapping")?,
        attn_logit_softcapping: r.float("attn_logit_softcapping")?,
        query_pre_attn_scalar: r.positive("query_pre_attn_scalar")?.unwrap_or(256),
        sliding_window,
        sliding_window_pattern: pattern(&r, layers)?,
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
        // candle's masks and rotating caches follow the window exactly: no cap needed
        // (tests/models/gemma3 runs past its window of 16 positions).
        sliding_window: None,
        stored_dtype: Reader::new(c).stored_dtype(),
    })
}

fn check(files: &[std::path::PathBuf], c: &Config) -> Result<()> {
    let g = read(c)?;
    let t = Tensors::open(files, c.path(), "Gemma 3")?;
    super::gemma::check_decoder(
        &t,
        g.vocab_size,
        g.hidden_size,
        g.intermediate_size,
        g.num_hidden_layers,
        (g.num_attention_heads, g.num_key_value_heads, g.head_dim),
        g.attention_bias,
        &["pre_feedforward_layernorm", "post_feedforward_layernorm"],
    )?;
    for i in 0..g.num_hidden_layers {
        t.norm(
            &format!("model.layers.{i}.self_attn.q_norm"),
            g.head_dim,
            false,
        )?;
        t.norm(
            &format!("model.layers.{i}.self_attn.k_norm"),
            g.head_dim,
            false,
        )?;
    }
    Ok(())
}

/// candle's Gemma 3 with the one workaround it needs: its full-attention layers append
/// keys and values to a `KvCache` that requires contiguous tensors, and a prefix of more
/// than one token with more than one KV head is not contiguous there ("slice-set only
/// supports contiguous tensors"). Such prefixes go in one token at a time, which gives the
/// same logits (the last position's) at the cost of one pass per token.
#[derive(Clone)]
struct Gemma3 {
    model: gemma3::Model,
    one_at_a_time: bool,
}

impl Causal for Gemma3 {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let n = ids.dim(1)?;
        if n > 1 && self.one_at_a_time {
            let mut last = self.model.forward(&ids.narrow(1, 0, 1)?, pos)?;
            for i in 1..n {
                last = self.model.forward(&ids.narrow(1, i, 1)?, pos + i)?;
            }
            return Ok(last.squeeze(1)?);
        }
        Ok(self.model.forward(ids, pos)?.squeeze(1)?)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.model.clear_kv_cache();
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let mut cfg = read(cx.config)?;
    cfg.max_position_embeddings = cfg.max_position_embeddings.min(super::RUN_POSITIONS);
    Ok(Box::new(Gemma3 {
        model: gemma3::Model::new(false, &cfg, vb)?,
        one_at_a_time: cfg.num_key_value_heads > 1,
    }))
}
