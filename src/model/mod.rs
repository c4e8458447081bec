//! Loading a causal LM with candle from the memory-mapped safetensors, the architecture
//! chosen from `config.json` (candle-transformers' Llama, Qwen2 and Phi-3).
//!
//! All three expose "logits of the last position" with an internal KV cache; [`Lm::fork`]
//! clones a model together with its cache (tensors are reference-counted, so a fork costs
//! nothing until new keys are appended), which is how a template's shared prefix is
//! computed once and reused for every batch of candidates.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{llama, phi3, qwen2};
use serde_json::Value;

/// Which family of the three we drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Phi3,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Phi3 => "phi3",
        }
    }
}

/// What the rest of the tool needs to know about a model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub dir: PathBuf,
    /// `None` for a served model: the engine knows its architecture, we need not.
    pub arch: Option<Arch>,
    /// The engine a served model runs on (`--backend openai`): URL and model name.
    pub served: Option<String>,
    pub vocab_size: usize,
    pub max_positions: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub dtype: DType,
    pub device: Device,
}

/// A loaded model with its KV-cache state. (One exists per model and a few per batch
/// size, so the variants' size difference costs nothing worth a Box.)
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Lm {
    Llama {
        model: llama::Llama,
        cache: llama::Cache,
        config: llama::Config,
        dtype: DType,
        device: Device,
    },
    Qwen2(qwen2::ModelForCausalLM),
    Phi3(phi3::Model),
}

impl Lm {
    /// Logits of the last position for each sequence of `ids` ([batch, seq]) placed after
    /// `pos` cached positions; `[batch, vocab]` in f32.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let logits = match self {
            Lm::Llama { model, cache, .. } => model.forward(ids, pos, cache)?,
            Lm::Qwen2(m) => m.forward(ids, pos)?.squeeze(1)?,
            Lm::Phi3(m) => m.forward(ids, pos)?.squeeze(1)?,
        };
        Ok(logits.to_dtype(DType::F32)?)
    }

    /// A copy carrying the same cached positions.
    pub fn fork(&self) -> Lm {
        self.clone()
    }

    /// Forget every cached position. `use_cache = false` makes every forward pass start
    /// from scratch (the published one-prompt-per-pass path).
    pub fn reset(&mut self, use_cache: bool) -> Result<()> {
        match self {
            Lm::Llama {
                cache,
                config,
                dtype,
                device,
                ..
            } => *cache = llama::Cache::new(use_cache, *dtype, config, device)?,
            Lm::Qwen2(m) => m.clear_kv_cache(),
            Lm::Phi3(m) => m.clear_kv_cache(),
        }
        Ok(())
    }
}

/// Parse `--device`: `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device> {
    let s = s.trim().to_ascii_lowercase();
    if s == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match s.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| anyhow!("--device: expected cpu, cuda or cuda:N, got '{s}'"))?,
        None => bail!("--device: expected cpu, cuda or cuda:N, got '{s}'"),
    };
    if !candle_core::utils::cuda_is_available() {
        bail!(
            "--device {s}: this build has no CUDA support; rebuild with `cargo build --release \
             --features cuda` (see scripts/build-cuda.sh)"
        );
    }
    Ok(Device::new_cuda(ordinal)?)
}

pub fn parse_dtype(s: &str) -> Result<DType> {
    match s.to_ascii_lowercase().as_str() {
        "f32" | "float32" => Ok(DType::F32),
        "f16" | "float16" | "half" => Ok(DType::F16),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        _ => bail!("--dtype: expected f32, f16 or bf16, got '{s}'"),
    }
}

fn read_config(dir: &Path) -> Result<Value> {
    let p = dir.join("config.json");
    let bytes = std::fs::read(&p).with_context(|| format!("{}", p.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: invalid JSON", p.display()))
}

fn arch_of(config: &Value, path: &Path) -> Result<Arch> {
    let model_type = config
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let archs: Vec<&str> = config
        .get("architectures")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let has =
        |s: &str| model_type == s || archs.iter().any(|a| a.to_ascii_lowercase().starts_with(s));
    if has("llama") || has("mistral") {
        Ok(Arch::Llama)
    } else if has("qwen2") {
        Ok(Arch::Qwen2)
    } else if has("phi3") {
        Ok(Arch::Phi3)
    } else {
        let what = if model_type.is_empty() {
            archs.join(", ")
        } else {
            model_type.to_string()
        };
        bail!(
            "{}: architecture '{}' is not supported for forward passes (supported: llama, \
             mistral, qwen2, phi3)",
            path.join("config.json").display(),
            if what.is_empty() { "unknown" } else { &what }
        )
    }
}

/// The config value as the architecture's own struct, naming the file on a missing field.
fn typed<T: serde::de::DeserializeOwned>(config: &Value, dir: &Path) -> Result<T> {
    serde_json::from_value(config.clone())
        .map_err(|e| anyhow!("{}: {e}", dir.join("config.json").display()))
}

/// Safetensors files of the model: `model.safetensors`, or the shards of the index.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let v: Value = serde_json::from_slice(&std::fs::read(&index)?)
            .with_context(|| format!("{}: invalid JSON", index.display()))?;
        let mut files: Vec<String> = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| anyhow!("{}: no weight_map", index.display()))?
            .values()
            .filter_map(|f| f.as_str().map(String::from))
            .collect();
        files.sort();
        files.dedup();
        let files: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
        for f in &files {
            if !f.is_file() {
                bail!("{}: shard {} is missing", index.display(), f.display());
            }
        }
        return Ok(files);
    }
    bail!(
        "{}: no model.safetensors or model.safetensors.index.json (pickle checkpoints are \
         never loaded)",
        dir.display()
    )
}

/// Names that must exist before candle-transformers' loaders run (its Llama loader
/// unwraps per-layer results, so a missing tensor would abort the process).
fn check_llama_tensors(files: &[PathBuf], layers: usize, tied: bool) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for f in files {
        let st = crate::weights::Checkpoint::open(f)?;
        names.extend(st.tensor_names());
    }
    let mut need = vec![
        "model.embed_tokens.weight".to_string(),
        "model.norm.weight".into(),
    ];
    if !tied {
        need.push("lm_head.weight".into());
    }
    for i in 0..layers {
        for t in [
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
            "input_layernorm",
            "post_attention_layernorm",
        ] {
            need.push(format!("model.layers.{i}.{t}.weight"));
        }
    }
    if let Some(missing) = need.iter().find(|n| !names.contains(*n)) {
        bail!(
            "{}: tensor '{missing}' is missing: not a complete Llama-family checkpoint",
            files[0].display()
        );
    }
    Ok(())
}

/// Load the model in `dir` on `device`. `dtype` defaults to f32 on CPU (candle's CPU
/// kernels are fastest and exact there) and to the checkpoint's dtype on CUDA.
/// What we need to know of a model served by an engine: its config.json when the model
/// directory has one (vocabulary size, context), else the tokenizer's size and no limit
/// of our own on the context (the engine enforces its own).
pub fn served_info(
    dir: &Path,
    vocab: &crate::vocab::Vocab,
    ep: &crate::openai::Endpoint,
) -> Result<ModelInfo> {
    let config = if dir.join("config.json").is_file() {
        Some(read_config(dir)?)
    } else {
        None
    };
    let field = |k: &str| {
        config
            .as_ref()
            .and_then(|c| c.get(k))
            .and_then(|v| v.as_u64())
            .map(|v| v as usize)
    };
    let vocab_size = field("vocab_size").unwrap_or(vocab.len());
    if vocab.len() > vocab_size {
        bail!(
            "{}: the tokenizer has {} ids but the model's vocab_size is {}: the tokenizer \
             does not match the model",
            vocab.source.display(),
            vocab.len(),
            vocab_size
        );
    }
    Ok(ModelInfo {
        dir: dir.to_path_buf(),
        arch: None,
        served: Some(format!(
            "{}{}",
            ep.url,
            ep.model
                .as_deref()
                .map(|m| format!(" model {m}"))
                .unwrap_or_default()
        )),
        vocab_size,
        max_positions: field("max_position_embeddings").unwrap_or(1 << 20),
        hidden_size: field("hidden_size").unwrap_or(0),
        layers: field("num_hidden_layers").unwrap_or(0),
        dtype: DType::F32,
        device: Device::Cpu,
    })
}

pub fn load(dir: &Path, device: &Device, dtype: Option<DType>) -> Result<(Lm, ModelInfo)> {
    if !dir.is_dir() {
        bail!("{}: not a model directory", dir.display());
    }
    let config = read_config(dir)?;
    let arch = arch_of(&config, dir)?;
    let stored = match config.get("torch_dtype").and_then(|v| v.as_str()) {
        Some("bfloat16") => DType::BF16,
        Some("float16") => DType::F16,
        _ => DType::F32,
    };
    let dtype = dtype.unwrap_or(if device.is_cpu() { DType::F32 } else { stored });
    let files = weight_files(dir)?;
    // SAFETY: the files are memory-mapped read-only; candle validates every tensor's
    // offsets against the file size before use. A file truncated by another process
    // while mapped could still fault, as with every mmap reader.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, dtype, device)? };
    let field = |k: &str| config.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
    let need = |k: &str| {
        field(k)
            .ok_or_else(|| anyhow!("{}: missing field `{k}`", dir.join("config.json").display()))
    };
    let info = ModelInfo {
        dir: dir.to_path_buf(),
        arch: Some(arch),
        served: None,
        vocab_size: need("vocab_size")?,
        max_positions: need("max_position_embeddings")?,
        hidden_size: need("hidden_size")?,
        layers: need("num_hidden_layers")?,
        dtype,
        device: device.clone(),
    };
    let lm = match arch {
        Arch::Llama => {
            let lc: llama::LlamaConfig = typed(&config, dir)?;
            let heads = lc.num_attention_heads;
            if let Some(hd) = field("head_dim") {
                if hd * heads != lc.hidden_size {
                    bail!(
                        "{}: head_dim {hd} × {heads} heads ≠ hidden_size {}: not supported by \
                         candle's Llama",
                        dir.join("config.json").display(),
                        lc.hidden_size
                    );
                }
            }
            let cfg = lc.into_config(false);
            check_llama_tensors(&files, cfg.num_hidden_layers, cfg.tie_word_embeddings)?;
            let model = llama::Llama::load(vb, &cfg)?;
            let cache = llama::Cache::new(true, dtype, &cfg, device)?;
            Lm::Llama {
                model,
                cache,
                config: cfg,
                dtype,
                device: device.clone(),
            }
        }
        Arch::Qwen2 => {
            let cfg: qwen2::Config = typed(&config, dir)?;
            Lm::Qwen2(qwen2::ModelForCausalLM::new(&cfg, vb)?)
        }
        Arch::Phi3 => {
            let cfg: phi3::Config = typed(&config, dir)?;
            Lm::Phi3(phi3::Model::new(&cfg, vb)?)
        }
    };
    Ok((lm, info))
}
