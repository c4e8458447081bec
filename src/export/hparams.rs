//! The hyper-parameters llama.cpp's `llama` graph needs, from config.json, and their
//! `llama.*` GGUF metadata. Anything the graph cannot express is refused here.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::u32_;
use crate::gguf::writer::GgufWriter;
use crate::gguf::GgufValue;
use crate::hf::Config;

/// `model_type` values whose checkpoints are llama.cpp's `llama` architecture.
const MODEL_TYPES: &[&str] = &["llama", "mistral"];
const ARCHITECTURES: &[&str] = &["LlamaForCausalLM", "MistralForCausalLM"];

/// The hyper-parameters llama.cpp's `llama` graph needs, from config.json.
#[derive(Debug)]
pub(super) struct HParams {
    pub(super) config_path: PathBuf,
    pub(super) vocab_size: usize,
    pub(super) hidden: usize,
    pub(super) ffn: usize,
    pub(super) layers: usize,
    pub(super) heads: usize,
    pub(super) kv_heads: usize,
    pub(super) head_dim: usize,
    pub(super) ctx: usize,
    pub(super) eps: f32,
    pub(super) rope_theta: f32,
    pub(super) tied: bool,
}

impl HParams {
    /// Read and check config.json (`c`, read from `path`); `tied` is decided later, with
    /// the tensors. Doubtful but harmless settings become `notes`.
    pub(super) fn read(path: &Path, c: &Config, notes: &mut Vec<String>) -> Result<HParams> {
        let p = path.display();
        let model_type = c.model_type().ok_or_else(|| {
            anyhow!("{p}: field \"model_type\" is missing (expected one of {MODEL_TYPES:?})")
        })?;
        if !MODEL_TYPES.contains(&model_type) {
            bail!(
                "{p}: model_type \"{model_type}\" is not supported (export-gguf writes llama.cpp's \
                 llama architecture: model_type {})",
                MODEL_TYPES.join(" or ")
            );
        }
        if let Some(archs) = c.get("architectures").and_then(|a| a.as_array()) {
            for a in archs {
                let a = a.as_str().unwrap_or("(not a string)");
                if !ARCHITECTURES.contains(&a) {
                    bail!(
                        "{p}: architectures lists \"{a}\", which is not supported (expected {})",
                        ARCHITECTURES.join(" or ")
                    );
                }
            }
        }
        // Anything the llama graph cannot express would make llama.cpp compute another
        // function than the checkpoint's: refuse instead of dropping it.
        if let Some(rs) = c.get("rope_scaling").filter(|v| !v.is_null()) {
            bail!("{p}: rope_scaling {rs} is not supported (only null)");
        }
        for key in ["attention_bias", "mlp_bias"] {
            if c.get(key).and_then(|v| v.as_bool()) == Some(true) {
                bail!("{p}: {key} is true; biases are not supported");
            }
        }
        if let Some(act) = c.get("hidden_act").and_then(|v| v.as_str()) {
            if act != "silu" {
                bail!("{p}: hidden_act \"{act}\" is not supported (llama uses silu)");
            }
        }
        let uint = |key: &str| -> Result<Option<usize>> {
            match c.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if n > 0 => Ok(Some(n as usize)),
                    _ => bail!("{p}: field \"{key}\" must be a positive integer, found {v}"),
                },
            }
        };
        let need = |key: &str| -> Result<usize> {
            uint(key)?.ok_or_else(|| anyhow!("{p}: field \"{key}\" is missing"))
        };
        let float = |key: &str, default: f64| -> Result<f32> {
            match c.get(key) {
                None | Some(Value::Null) => Ok(default as f32),
                Some(v) => match v.as_f64() {
                    Some(x) if x.is_finite() && x > 0.0 => Ok(x as f32),
                    _ => bail!("{p}: field \"{key}\" must be a positive number, found {v}"),
                },
            }
        };
        let hidden = need("hidden_size")?;
        let heads = need("num_attention_heads")?;
        let kv_heads = uint("num_key_value_heads")?.unwrap_or(heads);
        let head_dim = match uint("head_dim")? {
            Some(d) => d,
            None if hidden % heads == 0 => hidden / heads,
            None => bail!(
                "{p}: hidden_size {hidden} is not a multiple of num_attention_heads {heads} and \
                 there is no head_dim"
            ),
        };
        if head_dim % 2 != 0 {
            bail!("{p}: head_dim {head_dim} is odd; RoPE rotates pairs of values");
        }
        if heads % kv_heads != 0 {
            bail!(
                "{p}: num_attention_heads {heads} is not a multiple of num_key_value_heads \
                 {kv_heads}"
            );
        }
        let ctx = need("max_position_embeddings")?;
        if let Some(w) = uint("sliding_window")? {
            if w < ctx {
                notes.push(format!(
                    "config.json sets sliding_window {w} below max_position_embeddings {ctx}; \
                     llama.cpp's llama architecture attends to the whole context, so outputs \
                     differ past {w} tokens"
                ));
            }
        }
        Ok(HParams {
            config_path: path.to_path_buf(),
            vocab_size: need("vocab_size")?,
            hidden,
            ffn: need("intermediate_size")?,
            layers: need("num_hidden_layers")?,
            heads,
            kv_heads,
            head_dim,
            ctx,
            // transformers' LlamaConfig defaults.
            eps: float("rms_norm_eps", 1e-6)?,
            rope_theta: float("rope_theta", 10_000.0)?,
            tied: false,
        })
    }

    /// The `llama.*` keys.
    pub(super) fn add_metadata(&self, w: &mut GgufWriter) -> Result<()> {
        let p = &self.config_path;
        let entries = [
            ("llama.context_length", self.ctx),
            ("llama.embedding_length", self.hidden),
            ("llama.block_count", self.layers),
            ("llama.feed_forward_length", self.ffn),
            ("llama.attention.head_count", self.heads),
            ("llama.attention.head_count_kv", self.kv_heads),
            ("llama.rope.dimension_count", self.head_dim),
            // Needed whenever head_dim != hidden / heads; harmless otherwise.
            ("llama.attention.key_length", self.head_dim),
            ("llama.attention.value_length", self.head_dim),
            ("llama.vocab_size", self.vocab_size),
        ];
        for (key, v) in entries {
            w.add(key, u32_(p, key, v)?)?;
        }
        w.add(
            "llama.attention.layer_norm_rms_epsilon",
            GgufValue::F32(self.eps),
        )?;
        w.add("llama.rope.freq_base", GgufValue::F32(self.rope_theta))?;
        Ok(())
    }
}
