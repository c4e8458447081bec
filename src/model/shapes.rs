//! The checkpoint's tensors held to config.json before candle sees them: every tensor the
//! architecture's loader asks for must be present, of a float dtype candle converts, and of
//! the shape the config implies. candle-transformers' loaders unwrap some of these results
//! (Llama's per-layer `Block::load`) and print a backtrace in others, so a mismatch is
//! found here first and named by file, tensor and both shapes.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::hf::{Family, Forward};

/// A safetensors header is a few MB even for the largest checkpoints; this bounds a
/// hostile length field.
const MAX_HEADER: u64 = 100_000_000;

/// One tensor's header entry and the file it is in.
struct Entry {
    file: PathBuf,
    dtype: String,
    shape: Vec<usize>,
}

/// The dtype names candle's safetensors loader converts to the float dtypes a model runs
/// in.
const FLOAT: &[&str] = &["F32", "F16", "BF16", "F64"];

/// Every tensor of every file: name → (file, dtype, shape), from the headers alone.
fn headers(files: &[PathBuf]) -> Result<HashMap<String, Entry>> {
    let mut all = HashMap::new();
    for f in files {
        let mut file = std::fs::File::open(f).with_context(|| f.display().to_string())?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut len = [0u8; 8];
        file.read_exact(&mut len)
            .map_err(|_| anyhow::anyhow!("{}: not a safetensors file (too short)", f.display()))?;
        let n = u64::from_le_bytes(len);
        if n > MAX_HEADER || n + 8 > total {
            bail!(
                "{}: safetensors header length {n} is past the file's {total} bytes",
                f.display()
            );
        }
        let mut head = vec![0u8; n as usize];
        file.read_exact(&mut head)
            .with_context(|| f.display().to_string())?;
        let v: serde_json::Value = serde_json::from_slice(&head)
            .map_err(|e| anyhow::anyhow!("{}: safetensors header is not JSON: {e}", f.display()))?;
        let Some(obj) = v.as_object() else {
            bail!("{}: safetensors header is not a JSON object", f.display());
        };
        for (name, t) in obj {
            if name == "__metadata__" {
                continue;
            }
            let dtype = t.get("dtype").and_then(|d| d.as_str()).unwrap_or("?");
            let shape: Option<Vec<usize>> = t
                .get("shape")
                .and_then(|s| s.as_array())
                .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
            let Some(shape) = shape else {
                bail!("{}: tensor '{name}' has no valid shape", f.display());
            };
            all.insert(
                name.clone(),
                Entry {
                    file: f.clone(),
                    dtype: dtype.to_string(),
                    shape,
                },
            );
        }
    }
    Ok(all)
}

fn show(s: &[usize]) -> String {
    let d: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", d.join(", "))
}

/// The tensors of a checkpoint's files, from their headers, for checking against what a
/// config implies ([`Tensors::expect`]).
pub struct Tensors<'a> {
    have: HashMap<String, Entry>,
    files: &'a [PathBuf],
    config: &'a Path,
    /// What a complete checkpoint is called in messages ("GPT-2", "Llama-family").
    what: &'static str,
}

impl<'a> Tensors<'a> {
    /// Read the headers of `files`; `config` and `what` are for the messages.
    pub fn open(files: &'a [PathBuf], config: &'a Path, what: &'static str) -> Result<Tensors<'a>> {
        Ok(Tensors {
            have: headers(files)?,
            files,
            config,
            what,
        })
    }

    /// Whether the checkpoint has a tensor of this name.
    pub fn has(&self, name: &str) -> bool {
        self.have.contains_key(name)
    }

    /// A linear layer `name` of `inp` → `out` (weight `[out, inp]`), with its bias when
    /// `bias`.
    pub fn linear(&self, name: &str, out: usize, inp: usize, bias: bool) -> Result<()> {
        self.expect(&format!("{name}.weight"), &[out, inp])?;
        if bias {
            self.expect(&format!("{name}.bias"), &[out])?;
        }
        Ok(())
    }

    /// A norm `name` over `size` values, with its bias when `bias` (LayerNorm).
    pub fn norm(&self, name: &str, size: usize, bias: bool) -> Result<()> {
        self.expect(&format!("{name}.weight"), &[size])?;
        if bias {
            self.expect(&format!("{name}.bias"), &[size])?;
        }
        Ok(())
    }

    /// Self-attention `{prefix}.{q,k,v,o}_proj` of a decoder of width `hidden` with `q`
    /// query and `kv` key/value features; `qkv_bias` and `o_bias` say which have biases.
    pub fn attention(
        &self,
        prefix: &str,
        hidden: usize,
        (q, kv): (usize, usize),
        qkv_bias: bool,
        o_bias: bool,
    ) -> Result<()> {
        self.linear(&format!("{prefix}.q_proj"), q, hidden, qkv_bias)?;
        self.linear(&format!("{prefix}.k_proj"), kv, hidden, qkv_bias)?;
        self.linear(&format!("{prefix}.v_proj"), kv, hidden, qkv_bias)?;
        self.linear(&format!("{prefix}.o_proj"), hidden, q, o_bias)
    }

    /// A gated MLP `{prefix}.{gate,up,down}_proj` without biases.
    pub fn gated_mlp(&self, prefix: &str, hidden: usize, inter: usize) -> Result<()> {
        self.linear(&format!("{prefix}.gate_proj"), inter, hidden, false)?;
        self.linear(&format!("{prefix}.up_proj"), inter, hidden, false)?;
        self.linear(&format!("{prefix}.down_proj"), hidden, inter, false)
    }

    /// The tensor `name` must exist, be of a float dtype and have `shape`.
    pub fn expect(&self, name: &str, shape: &[usize]) -> Result<()> {
        let Some(e) = self.have.get(name) else {
            bail!(
                "{}: tensor '{name}' is missing: not a complete {} checkpoint for {}",
                self.files[0].display(),
                self.what,
                self.config.display()
            );
        };
        if !FLOAT.contains(&e.dtype.as_str()) {
            bail!(
                "{}: tensor '{name}' has dtype {}, not a float dtype a forward pass can use \
                 (F32, F16, BF16, F64)",
                e.file.display(),
                e.dtype
            );
        }
        if e.shape != shape {
            bail!(
                "{}: tensor '{name}' has shape {}, but {} implies {}",
                e.file.display(),
                show(&e.shape),
                self.config.display(),
                show(shape)
            );
        }
        Ok(())
    }
}

/// Check the tensors of `files` against `f` for `family`'s candle loader. `config` is the
/// config.json path, named when a shape disagrees with it.
pub fn check(files: &[PathBuf], f: &Forward, family: Family, config: &Path) -> Result<()> {
    let have = headers(files)?;
    let (h, hd, inter) = (f.hidden_size, f.head_dim, f.intermediate_size);
    let (q, kv) = (
        f.num_attention_heads.saturating_mul(hd),
        f.num_key_value_heads.saturating_mul(hd),
    );
    let t = Tensors {
        have,
        files,
        config,
        what: match family {
            Family::Llama => "Llama-family",
            Family::Qwen2 => "Qwen2",
            Family::Phi3 => "Phi-3",
            Family::Qwen3 => "Qwen3",
        },
    };
    // Each tensor is checked as it is named, so a config declaring 2^31 layers costs one
    // missing-tensor error, not a list of 2^31 names.
    let check_one = |name: &str, shape: &[usize]| t.expect(name, shape);
    let have = &t.have;
    check_one("model.embed_tokens.weight", &[f.vocab_size, h])?;
    check_one("model.norm.weight", &[h])?;
    // Qwen2's candle model picks the head by the tensors (its loader checks the flag).
    let head_present = have.contains_key("lm_head.weight");
    if !f.tie_word_embeddings || (family == Family::Qwen2 && head_present) {
        check_one("lm_head.weight", &[f.vocab_size, h])?;
    }
    for i in 0..f.num_hidden_layers {
        let p = |t: &str| format!("model.layers.{i}.{t}");
        check_one(&p("input_layernorm.weight"), &[h])?;
        check_one(&p("post_attention_layernorm.weight"), &[h])?;
        check_one(&p("self_attn.o_proj.weight"), &[h, q])?;
        check_one(&p("mlp.down_proj.weight"), &[h, inter])?;
        match family {
            Family::Phi3 => {
                check_one(
                    &p("self_attn.qkv_proj.weight"),
                    &[q.saturating_add(kv.saturating_mul(2)), h],
                )?;
                check_one(&p("mlp.gate_up_proj.weight"), &[inter.saturating_mul(2), h])?;
            }
            Family::Llama | Family::Qwen2 | Family::Qwen3 => {
                check_one(&p("self_attn.q_proj.weight"), &[q, h])?;
                check_one(&p("self_attn.k_proj.weight"), &[kv, h])?;
                check_one(&p("self_attn.v_proj.weight"), &[kv, h])?;
                check_one(&p("mlp.gate_proj.weight"), &[inter, h])?;
                check_one(&p("mlp.up_proj.weight"), &[inter, h])?;
                if family == Family::Qwen3 {
                    check_one(&p("self_attn.q_norm.weight"), &[hd])?;
                    check_one(&p("self_attn.k_norm.weight"), &[hd])?;
                }
                if family == Family::Qwen2 || f.attention_bias {
                    check_one(&p("self_attn.q_proj.bias"), &[q])?;
                    check_one(&p("self_attn.k_proj.bias"), &[kv])?;
                    check_one(&p("self_attn.v_proj.bias"), &[kv])?;
                }
                if f.attention_bias {
                    check_one(&p("self_attn.o_proj.bias"), &[h])?;
                }
            }
        }
    }
    Ok(())
}
