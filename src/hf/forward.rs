//! The forward-pass fields of `config.json`, read exactly: one normalised, typed view
//! ([`Forward`]) of what transformers 4.x and 5.x write, from which the candle configs of
//! every architecture are built (never by deserializing the raw JSON into candle's
//! structs, which silently default a field they do not know, such as transformers 5's
//! `rope_parameters`).
//!
//! Every field that changes the forward pass is either implemented for the architecture or
//! refused with a message naming the key and its value; keys that do not (names, token
//! ids, `transformers_version`, `use_cache`, dropout) are ignored. An explicit `null`
//! means "absent", as it does for transformers. docs/usage.md has the table.

use serde_json::{Map, Value};

use super::reader::{float_in, rope_type, Reader, ACTIVATIONS, UNIMPLEMENTED};
use super::{Config, HfError};

/// The candle implementation a config is read for: what it implements decides what is
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// candle-transformers' `llama` (Llama and Mistral).
    Llama,
    /// candle-transformers' `qwen2`.
    Qwen2,
    /// candle-transformers' `phi3`.
    Phi3,
    /// candle-transformers' `qwen3` (explicit `head_dim`, q/k RMS norms, optional
    /// attention biases).
    Qwen3,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
            Family::Phi3 => "phi3",
            Family::Qwen3 => "qwen3",
        }
    }
}

/// The RoPE frequency scaling, of the kinds a candle model implements.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// `default` (or no scaling at all).
    None,
    /// `llama3` (Llama 3.1 and later): candle's `Llama3RopeConfig`.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
}

/// The forward-pass hyper-parameters of one checkpoint, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// `num_key_value_heads`, or `num_attention_heads` when absent.
    pub num_key_value_heads: usize,
    /// `head_dim`, or `hidden_size / num_attention_heads` when absent (candle's three
    /// models derive it that way, so any other value is refused).
    pub head_dim: usize,
    pub max_position_embeddings: usize,
    /// `rms_norm_eps`, or transformers' default for the architecture.
    pub rms_norm_eps: f64,
    /// `rope_theta` or `rope_parameters.rope_theta` (transformers 5); 10000 when neither.
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    /// `partial_rotary_factor` below 1 (Phi-3 only); `None` when absent or 1.
    pub partial_rotary_factor: Option<f64>,
    /// `hidden_act` (transformers' default `silu` when absent).
    pub hidden_act: candle_nn::Activation,
    /// `tie_word_embeddings` (top level or `text_config`); false when absent, the
    /// default of all three architectures' transformers configs.
    pub tie_word_embeddings: bool,
    /// The attention window in force (`sliding_window` where the architecture applies
    /// it): candle's models attend over the whole sequence, so they are exact only for
    /// sequences no longer than this, and [`Forward::exact_positions`] stops there.
    pub sliding_window: Option<usize>,
    /// `dtype` (transformers 5) or `torch_dtype` (4.x), e.g. `bfloat16`.
    pub stored_dtype: Option<String>,
    /// `attention_bias` where the architecture reads it (Qwen3); false elsewhere.
    pub attention_bias: bool,
}

impl Forward {
    /// The view of `c` for `family`, refusing what that family's candle model does not
    /// implement.
    pub fn read(c: &Config, family: Family) -> Result<Forward, HfError> {
        let r = Reader::new(c);
        let arch = family.name();
        let refuse = |key: &str, value: &dyn std::fmt::Display, why: &str| {
            r.err(format!(
                "{key} {value} is not implemented by the {arch} forward pass ({why}); refused \
                 rather than computing another function than the checkpoint's"
            ))
        };

        for (key, off) in UNIMPLEMENTED {
            if let Some(v) = c.get(key) {
                if !off.is_off(v) {
                    return Err(refuse(key, v, "no model here has it"));
                }
            }
        }
        if let Some(q) = r.object("quantization_config")? {
            // transformers dequantizes a GGUF on load and saves plain float tensors; any
            // other method stores weights candle would read without their scales.
            let method = q.get("quant_method").and_then(|v| v.as_str()).unwrap_or("");
            if method != "gguf" {
                return Err(refuse(
                    "quantization_config.quant_method",
                    &format!("{method:?}"),
                    "quantized weights are read as plain tensors",
                ));
            }
        }

        let vocab_size = r.need("vocab_size")?;
        let hidden_size = r.need("hidden_size")?;
        let intermediate_size = r.need("intermediate_size")?;
        let num_hidden_layers = r.need("num_hidden_layers")?;
        let heads = r.need("num_attention_heads")?;
        let kv_heads = r.positive("num_key_value_heads")?.unwrap_or(heads);
        let max_position_embeddings = r.need("max_position_embeddings")?;
        if heads % kv_heads != 0 {
            return Err(r.err(format!(
                "num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
            )));
        }
        let explicit = r.positive("head_dim")?;
        if hidden_size % heads != 0 && !(family == Family::Qwen3 && explicit.is_some()) {
            return Err(r.err(format!(
                "hidden_size {hidden_size} is not a multiple of num_attention_heads {heads}"
            )));
        }
        let derived = hidden_size / heads;
        let head_dim = match explicit {
            // Qwen3's attention is sized by head_dim itself.
            Some(d) if family == Family::Qwen3 => d,
            Some(d) if d != derived => {
                return Err(refuse(
                    "head_dim",
                    &d,
                    &format!("candle's model uses hidden_size / num_attention_heads = {derived}"),
                ))
            }
            _ => derived,
        };
        if head_dim % 2 != 0 {
            return Err(r.err(format!(
                "head_dim {head_dim} is odd; RoPE rotates pairs of values"
            )));
        }

        let rms_norm_eps = r.float("rms_norm_eps")?.unwrap_or(match family {
            Family::Phi3 => 1e-5,
            Family::Llama | Family::Qwen2 | Family::Qwen3 => 1e-6,
        });

        // RoPE: transformers 4.x writes `rope_theta` and `rope_scaling`; 5.x one
        // `rope_parameters` object holding both.
        let params = r.object("rope_parameters")?;
        if let Some(p) = params {
            if !p.contains_key("rope_theta")
                && rope_type(p).is_none()
                && !p.is_empty()
                && p.values().all(|v| v.is_object())
            {
                let kinds: Vec<&str> = p.keys().map(|k| k.as_str()).collect();
                return Err(refuse(
                    "rope_parameters",
                    &format!("per layer type ({})", kinds.join(", ")),
                    "one RoPE for every layer only",
                ));
            }
        }
        let top_theta = r.float("rope_theta")?;
        let param_theta = float_in(
            params.and_then(|p| p.get("rope_theta")),
            "rope_parameters.rope_theta",
        )
        .map_err(|m| r.err(m))?;
        let rope_theta = match (top_theta, param_theta) {
            (Some(a), Some(b)) if a != b => {
                return Err(r.err(format!(
                    "rope_theta {a} and rope_parameters.rope_theta {b} differ"
                )))
            }
            (a, b) => a.or(b).unwrap_or(10_000.0),
        };
        let scaling = r.object("rope_scaling")?;
        let kind = |o: Option<&Map<String, Value>>| {
            o.map(|o| rope_type(o).unwrap_or("default").to_string())
        };
        let (scaling_key, scaling) = match (kind(scaling), kind(params)) {
            (Some(a), Some(b)) if a != b && a != "default" && b != "default" => {
                return Err(r.err(format!(
                    "rope_scaling type {a:?} and rope_parameters.rope_type {b:?} differ"
                )))
            }
            (Some(a), _) if a != "default" => ("rope_scaling", scaling),
            (_, Some(_)) => ("rope_parameters", params),
            _ => ("rope_scaling", scaling),
        };
        let rope_scaling = match scaling {
            None => RopeScaling::None,
            Some(o) => match rope_type(o).unwrap_or("default") {
                "default" => RopeScaling::None,
                "llama3" if family == Family::Llama => {
                    let f = |k: &str| -> Result<f64, HfError> {
                        let key = format!("{scaling_key}.{k}");
                        float_in(o.get(k), &key)
                            .map_err(|m| r.err(m))?
                            .ok_or_else(|| {
                                r.err(format!("missing field `{key}` (rope type llama3)"))
                            })
                    };
                    let orig = o
                        .get("original_max_position_embeddings")
                        .and_then(|v| v.as_u64())
                        .filter(|&n| n > 0)
                        .ok_or_else(|| {
                            r.err(format!(
                                "{scaling_key}.original_max_position_embeddings must be a \
                                 positive integer (rope type llama3)"
                            ))
                        })?;
                    let (low, high) = (f("low_freq_factor")?, f("high_freq_factor")?);
                    if low >= high {
                        return Err(r.err(format!(
                            "{scaling_key}: low_freq_factor {low} must be below \
                             high_freq_factor {high}"
                        )));
                    }
                    RopeScaling::Llama3 {
                        factor: f("factor")?,
                        low_freq_factor: low,
                        high_freq_factor: high,
                        original_max_position_embeddings: orig as usize,
                    }
                }
                other => {
                    let implemented = match family {
                        Family::Llama => "default and llama3 only",
                        Family::Qwen2 | Family::Qwen3 | Family::Phi3 => "default only",
                    };
                    return Err(refuse(
                        &format!("{scaling_key} type"),
                        &format!("{other:?}"),
                        implemented,
                    ));
                }
            },
        };

        let prf = float_in(
            c.get("partial_rotary_factor")
                .or_else(|| params.and_then(|p| p.get("partial_rotary_factor"))),
            "partial_rotary_factor",
        )
        .map_err(|m| r.err(m))?;
        let partial_rotary_factor = match prf {
            None => None,
            Some(1.0) => None,
            Some(x) if x > 1.0 => {
                return Err(r.err(format!("partial_rotary_factor {x} is above 1")));
            }
            Some(x) if family == Family::Phi3 => Some(x),
            Some(x) => {
                return Err(refuse(
                    "partial_rotary_factor",
                    &x,
                    "RoPE rotates the whole head",
                ))
            }
        };

        let hidden_act = match r.get("hidden_act") {
            None => candle_nn::Activation::Silu,
            Some(v) => {
                let name = v
                    .as_str()
                    .ok_or_else(|| r.err(format!("hidden_act must be a string, not {v}")))?;
                let found = ACTIVATIONS.iter().find(|(n, _)| *n == name).map(|x| x.1);
                match (family, found) {
                    (Family::Llama, Some(candle_nn::Activation::Silu)) => {
                        candle_nn::Activation::Silu
                    }
                    (Family::Llama, _) => {
                        return Err(refuse("hidden_act", &format!("{name:?}"), "silu only"))
                    }
                    (_, Some(a)) => a,
                    (_, None) => {
                        let names: Vec<&str> = ACTIVATIONS.iter().map(|x| x.0).collect();
                        return Err(refuse(
                            "hidden_act",
                            &format!("{name:?}"),
                            &names.join(", "),
                        ));
                    }
                }
            }
        };

        // Biases: candle's Llama and Phi-3 have none; Qwen2 always has q/k/v biases and
        // no MLP bias (transformers' Qwen2 ignores `attention_bias`).
        let mut bias_keys = vec!["mlp_bias"];
        if !matches!(family, Family::Qwen2 | Family::Qwen3) {
            bias_keys.push("attention_bias");
        }
        // Qwen3's q/k/v/o projections have biases exactly when it says so.
        let attention_bias = family == Family::Qwen3 && r.bool("attention_bias")?.unwrap_or(false);
        for key in bias_keys {
            if r.bool(key)? == Some(true) {
                return Err(refuse(key, &true, "its linear layers have no bias"));
            }
        }

        let tie_word_embeddings = match r.bool("tie_word_embeddings")? {
            Some(t) => t,
            None => c.tie_word_embeddings().unwrap_or(false),
        };

        let sliding_window = sliding_window(&r, c, family, num_hidden_layers)?;
        let stored_dtype = r
            .get("dtype")
            .or_else(|| r.get("torch_dtype"))
            .and_then(|v| v.as_str())
            .map(String::from);

        Ok(Forward {
            vocab_size,
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            max_position_embeddings,
            rms_norm_eps,
            rope_theta,
            rope_scaling,
            partial_rotary_factor,
            hidden_act,
            tie_word_embeddings,
            sliding_window,
            stored_dtype,
            attention_bias,
        })
    }

    /// The longest sequence the candle model computes exactly as transformers does:
    /// `max_position_embeddings`, or the attention window when one is in force and
    /// shorter (within it, a sliding window masks nothing).
    pub fn exact_positions(&self) -> usize {
        match self.sliding_window {
            Some(w) => w.min(self.max_position_embeddings),
            None => self.max_position_embeddings,
        }
    }
}

/// The attention window transformers applies, if any: Mistral and Phi-3 whenever
/// `sliding_window` is set; Qwen2 when `use_sliding_window` is true (or `layer_types`
/// names a `sliding_attention` layer); Llama never (its config has no such field).
fn sliding_window(
    r: &Reader<'_>,
    c: &Config,
    family: Family,
    layers: usize,
) -> Result<Option<usize>, HfError> {
    let window = r.positive("sliding_window")?;
    let mut sliding_layer = false;
    if let Some(v) = r.get("layer_types") {
        let types = v
            .as_array()
            .ok_or_else(|| r.err(format!("layer_types must be a list, not {v}")))?;
        if types.len() != layers {
            return Err(r.err(format!(
                "layer_types has {} entries for {layers} layers",
                types.len()
            )));
        }
        for t in types {
            match t.as_str() {
                Some("full_attention") => {}
                Some("sliding_attention") => sliding_layer = true,
                _ => {
                    return Err(HfError::invalid(
                        c.path(),
                        format!(
                            "layer_types entry {t} is not implemented by the {} forward pass \
                             (full_attention and sliding_attention only); refused",
                            family.name()
                        ),
                    ))
                }
            }
        }
    }
    let mistral = c.model_type() == Some("mistral")
        || c.architectures()
            .iter()
            .any(|a| a.to_ascii_lowercase().starts_with("mistral"));
    let applies = match family {
        Family::Llama => mistral || sliding_layer,
        Family::Phi3 => true,
        Family::Qwen2 | Family::Qwen3 => {
            r.bool("use_sliding_window")?.unwrap_or(false) || sliding_layer
        }
    };
    if sliding_layer && window.is_none() {
        return Err(
            r.err("layer_types names sliding_attention layers but sliding_window is not set")
        );
    }
    Ok(if applies { window } else { None })
}
