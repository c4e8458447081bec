//! The one exact reader of config.json fields every architecture's mapping goes through
//! ([`Reader`]), with the tables of what no model here implements and which activations
//! candle computes as transformers does. [`super::forward`] builds the llama / qwen2 /
//! phi3 view on it; the other architectures read their keys with it directly.

use serde_json::{Map, Value};

use super::{Config, HfError};

/// Forward-affecting keys no candle model here implements, with the value that means
/// "off": present with any other value, they are refused.
pub(crate) const UNIMPLEMENTED: &[(&str, Off)] = &[
    ("attn_logit_softcapping", Off::Null),
    ("final_logit_softcapping", Off::Null),
    ("query_pre_attn_scalar", Off::Null),
    ("use_qk_norm", Off::False),
    ("qk_layernorm", Off::False),
    ("attention_multiplier", Off::One),
    ("embedding_multiplier", Off::One),
    ("residual_multiplier", Off::One),
    ("logits_scaling", Off::One),
    ("scale_emb", Off::One),
    ("num_experts", Off::Zero),
    ("num_local_experts", Off::Zero),
    ("attention_chunk_size", Off::Null),
    ("no_rope_layers", Off::Null),
    ("rope_local_base_freq", Off::Null),
    ("use_parallel_residual", Off::False),
];

/// What value of an [`UNIMPLEMENTED`] key means the feature is off (`null` always does).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Off {
    Null,
    False,
    One,
    Zero,
}

impl Off {
    pub(crate) fn is_off(self, v: &Value) -> bool {
        match self {
            Off::Null => v.is_null(),
            Off::False => v.is_null() || v.as_bool() == Some(false),
            Off::One => v.is_null() || v.as_f64() == Some(1.0),
            Off::Zero => v.is_null() || v.as_f64() == Some(0.0),
        }
    }
}

/// Activations whose candle implementation is transformers' function of the same name.
pub(crate) const ACTIVATIONS: &[(&str, candle_nn::Activation)] = &[
    ("silu", candle_nn::Activation::Silu),
    ("swish", candle_nn::Activation::Silu),
    ("gelu", candle_nn::Activation::Gelu),
    ("gelu_new", candle_nn::Activation::NewGelu),
    ("gelu_pytorch_tanh", candle_nn::Activation::GeluPytorchTanh),
    ("relu", candle_nn::Activation::Relu),
    ("sigmoid", candle_nn::Activation::Sigmoid),
];

/// Reads fields with `null` meaning absent, naming the file and key on a wrong type: the
/// one exact reader every architecture's config mapping goes through.
pub struct Reader<'a> {
    c: &'a Config,
}

impl<'a> Reader<'a> {
    /// A reader of `c`.
    pub fn new(c: &'a Config) -> Reader<'a> {
        Reader { c }
    }

    /// The refusal of a key whose value `arch`'s forward pass does not implement.
    pub fn refuse(
        &self,
        arch: &str,
        key: &str,
        value: &dyn std::fmt::Display,
        why: &str,
    ) -> HfError {
        self.err(format!(
            "{key} {value} is not implemented by the {arch} forward pass ({why}); refused \
             rather than computing another function than the checkpoint's"
        ))
    }

    /// Refuse every key of the shared list of forward-affecting features that is on,
    /// except those in `implemented` (which the caller reads itself).
    pub fn refuse_unimplemented(&self, arch: &str, implemented: &[&str]) -> Result<(), HfError> {
        for (key, off) in UNIMPLEMENTED {
            if implemented.contains(key) {
                continue;
            }
            if let Some(v) = self.c.get(key) {
                if !off.is_off(v) {
                    return Err(self.refuse(arch, key, v, "no model here has it"));
                }
            }
        }
        Ok(())
    }

    /// `dtype` (transformers 5) or `torch_dtype` (4.x).
    pub fn stored_dtype(&self) -> Option<String> {
        self.get("dtype")
            .or_else(|| self.get("torch_dtype"))
            .and_then(|v| v.as_str())
            .map(String::from)
    }

    /// The activation named by `key` (`default` when absent), one of `ACTIVATIONS`.
    pub fn activation(
        &self,
        arch: &str,
        key: &str,
        default: &str,
    ) -> Result<candle_nn::Activation, HfError> {
        let name = match self.get(key) {
            None => default.to_string(),
            Some(v) => v
                .as_str()
                .ok_or_else(|| self.err(format!("{key} must be a string, not {v}")))?
                .to_string(),
        };
        ACTIVATIONS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|x| x.1)
            .ok_or_else(|| {
                let names: Vec<&str> = ACTIVATIONS.iter().map(|x| x.0).collect();
                self.refuse(arch, key, &format!("{name:?}"), &names.join(", "))
            })
    }

    /// The RoPE base of an architecture whose model implements unscaled RoPE only:
    /// `rope_theta` (4.x) or `rope_parameters.rope_theta` (5.x), `default` when neither;
    /// the two disagreeing, or a scaling type other than `default`, is an error.
    pub fn plain_rope(&self, arch: &str, default: f64) -> Result<f64, HfError> {
        let params = self.object("rope_parameters")?;
        for (key, o) in [
            ("rope_scaling", self.object("rope_scaling")?),
            ("rope_parameters", params),
        ] {
            if let Some(o) = o {
                let ty = rope_type(o).unwrap_or("default");
                if ty != "default" {
                    return Err(self.refuse(
                        arch,
                        &format!("{key} type"),
                        &format!("{ty:?}"),
                        "unscaled RoPE only",
                    ));
                }
            }
        }
        let top = self.float("rope_theta")?;
        let nested = float_in(
            params.and_then(|p| p.get("rope_theta")),
            "rope_parameters.rope_theta",
        )
        .map_err(|m| self.err(m))?;
        match (top, nested) {
            (Some(a), Some(b)) if a != b => Err(self.err(format!(
                "rope_theta {a} and rope_parameters.rope_theta {b} differ"
            ))),
            (a, b) => Ok(a.or(b).unwrap_or(default)),
        }
    }

    /// The share of each head that RoPE rotates: `rope_parameters.partial_rotary_factor`
    /// (what transformers 5 reads), `partial_rotary_factor` at the top level, or the 4.x
    /// name `alias` (e.g. GPT-NeoX's `rotary_pct`); `default` when none. Two of them that
    /// disagree, or a value above 1, is an error: transformers 4.x and 5.x would read such
    /// a file differently.
    pub fn partial_rotary(&self, alias: Option<&str>, default: f64) -> Result<f64, HfError> {
        let nested = float_in(
            self.object("rope_parameters")?
                .and_then(|p| p.get("partial_rotary_factor")),
            "rope_parameters.partial_rotary_factor",
        )
        .map_err(|m| self.err(m))?;
        let mut found: Vec<(String, f64)> = Vec::new();
        if let Some(x) = nested {
            found.push(("rope_parameters.partial_rotary_factor".into(), x));
        }
        if let Some(x) = self.float("partial_rotary_factor")? {
            found.push(("partial_rotary_factor".into(), x));
        }
        if let Some(a) = alias {
            if let Some(x) = self.float(a)? {
                found.push((a.to_string(), x));
            }
        }
        if let Some((k, x)) = found.iter().find(|(_, x)| *x != found[0].1) {
            return Err(self.err(format!(
                "{} {} and {k} {x} differ: transformers 4.x and 5.x would rotate different \
                 shares of each head",
                found[0].0, found[0].1
            )));
        }
        match found.first().map_or(default, |f| f.1) {
            x if x > 1.0 => Err(self.err(format!("partial_rotary_factor {x} is above 1"))),
            x => Ok(x),
        }
    }

    /// `hidden_size`, `num_attention_heads` and `num_key_value_heads` (the heads when
    /// absent), required to divide: the hidden size by the heads, the heads by the KV
    /// heads.
    pub fn heads(&self) -> Result<(usize, usize, usize), HfError> {
        let hidden = self.need("hidden_size")?;
        let heads = self.need("num_attention_heads")?;
        let kv = self.positive("num_key_value_heads")?.unwrap_or(heads);
        if hidden % heads != 0 || heads % kv != 0 {
            return Err(self.err(format!(
                "hidden_size {hidden}, num_attention_heads {heads} and num_key_value_heads {kv} \
                 do not divide"
            )));
        }
        Ok((hidden, heads, kv))
    }

    /// `tie_word_embeddings` (top level or `text_config`), `default` when absent.
    pub fn tied(&self, default: bool) -> Result<bool, HfError> {
        Ok(match self.bool("tie_word_embeddings")? {
            Some(t) => t,
            None => self.c.tie_word_embeddings().unwrap_or(default),
        })
    }

    pub fn err(&self, msg: impl Into<String>) -> HfError {
        HfError::invalid(self.c.path(), msg)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.c.get(key).filter(|v| !v.is_null())
    }

    pub fn uint(&self, key: &str) -> Result<Option<usize>, HfError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.err(format!("{key} must be a non-negative integer, not {v}"))),
        }
    }

    pub fn positive(&self, key: &str) -> Result<Option<usize>, HfError> {
        match self.uint(key)? {
            Some(0) => Err(self.err(format!("{key} is 0: not a usable model"))),
            n => Ok(n),
        }
    }

    pub fn need(&self, key: &str) -> Result<usize, HfError> {
        self.positive(key)?
            .ok_or_else(|| self.err(format!("missing field `{key}`")))
    }

    pub fn float(&self, key: &str) -> Result<Option<f64>, HfError> {
        float_in(self.get(key), key).map_err(|m| self.err(m))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, HfError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.err(format!("{key} must be true or false, not {v}"))),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&Map<String, Value>>, HfError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_object()
                .map(Some)
                .ok_or_else(|| self.err(format!("{key} must be an object or null, not {v}"))),
        }
    }
}

pub(crate) fn float_in(v: Option<&Value>, key: &str) -> Result<Option<f64>, String> {
    match v.filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
            _ => Err(format!("{key} must be a positive number, not {v}")),
        },
    }
}

/// A rope-scaling object's type: `rope_type` (transformers ≥ 4.45, 5) or `type`.
pub(crate) fn rope_type(o: &Map<String, Value>) -> Option<&str> {
    o.get("rope_type")
        .or_else(|| o.get("type"))
        .and_then(|v| v.as_str())
}
