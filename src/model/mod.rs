//! Loading a causal LM with candle from the memory-mapped safetensors, the architecture
//! chosen from `config.json`, in candle-transformers' `models/` style: one file per
//! architecture ([`llama`] (also Mistral), [`qwen2`], [`phi3`]) holding its config mapping,
//! load and forward glue, and a thin dispatch here.
//!
//! Every architecture exposes "logits of the last position" with an internal KV cache
//! ([`Causal`]); [`Lm::fork`] clones a model together with its cache (tensors are
//! reference-counted, so a fork costs nothing until new keys are appended), which is how a
//! template's shared prefix is computed once and reused for every batch of candidates.
//!
//! A `.gguf` file (detected by its magic) is run through candle's quantized models instead
//! ([`quantized`]: llama, qwen2, qwen3, phi3, gemma3), its hyper-parameters from the
//! file's metadata.
//!
//! [`LoadedModel`] is the model and tokenizer that `verify`, `pause`, `generate` and `eval`
//! share, in process or behind a serving engine ([`served_info`]).

pub mod cohere;
pub mod falcon;
pub mod gemma;
pub mod gemma2;
pub mod gemma3;
pub mod gpt2;
pub mod gpt_neox;
pub mod gptj;
pub mod granite;
pub mod llama;
pub mod loaded;
pub mod mixtral;
pub mod olmo;
pub mod phi;
pub mod phi3;
pub mod plain;
pub mod quantized;
pub mod qwen2;
pub mod qwen3;
mod served;
pub mod shapes;
pub mod stablelm;
pub mod starcoder2;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::hf::{Config, ShardIndex};

pub use loaded::{wants_bos, Backend, LoadSpec, LoadedModel, Runtime};
pub use served::served_info;

/// Which family we drive; [`ModelInfo::arch`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Llama and Mistral ([`llama`]).
    Llama,
    /// Qwen2 ([`qwen2`]).
    Qwen2,
    /// Phi-3 ([`phi3`]).
    Phi3,
    /// GPT-2 ([`gpt2`]).
    Gpt2,
    /// Qwen3 ([`qwen3`]).
    Qwen3,
    /// Mixtral, sparse mixture of experts ([`mixtral`]).
    Mixtral,
    /// StarCoder2 ([`starcoder2`]).
    Starcoder2,
    /// OLMo (1) ([`olmo`]).
    Olmo,
    /// OLMo 2 ([`olmo`]).
    Olmo2,
    /// Phi-1, 1.5 and 2 ([`phi`]).
    Phi,
    /// Gemma (1) ([`gemma`]).
    Gemma,
    /// Gemma 2 ([`gemma2`]).
    Gemma2,
    /// Gemma 3, text ([`gemma3`]).
    Gemma3,
    /// GPT-J ([`gptj`]).
    Gptj,
    /// GPT-NeoX and Pythia ([`gpt_neox`]).
    GptNeox,
    /// Cohere Command R / R+ ([`cohere`]).
    Cohere,
    /// StableLM 2 and StableLM-3B ([`stablelm`]).
    StableLm,
    /// IBM Granite 3.x ([`granite`]).
    Granite,
    /// Falcon ([`falcon`]).
    Falcon,
    /// A GGUF file through candle's quantized models ([`quantized`]).
    Gguf(quantized::QArch),
}

/// What dispatch needs of an architecture file: the names that select it, its reading of
/// config.json, its tensor check and its loader. Each file exports one as `SPEC`;
/// [`ARCHS`] lists them.
pub struct Spec {
    /// The variant [`ModelInfo::arch`] reports.
    pub arch: Arch,
    /// The name reports show.
    pub name: &'static str,
    /// `model_type` values that select this architecture (matched exactly: `gemma3_text`
    /// is not `gemma`).
    pub model_types: &'static [&'static str],
    /// `architectures` class names that select it when config.json has no `model_type`
    /// (matched exactly: `Phi3ForCausalLM` is not Phi-2's `PhiForCausalLM`).
    pub classes: &'static [&'static str],
    /// The facts the rest of the tool needs, read from config.json by the architecture's
    /// exact reader (which refuses what its forward pass does not implement).
    pub facts: fn(&Config) -> Result<Facts>,
    /// Hold the checkpoint's tensors to config.json before candle sees them (some of
    /// candle's loaders unwrap shape errors).
    pub check: fn(&[PathBuf], &Config) -> Result<()>,
    /// Build the model from the checkpoint.
    pub load: fn(&LoadContext<'_>, VarBuilder<'static>) -> Result<Box<dyn Causal>>,
}

/// What the tool needs to know of a checkpoint's config, whatever its architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Rows of the (un)embedding.
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub layers: usize,
    /// The context the config declares.
    pub max_position_embeddings: usize,
    /// An attention window shorter than the declared context, in force on every layer or
    /// some: candle's models attend over the whole sequence, so they are exact only up to
    /// it.
    pub sliding_window: Option<usize>,
    /// `dtype` / `torch_dtype` as stored (`bfloat16`…).
    pub stored_dtype: Option<String>,
}

impl Facts {
    /// The longest sequence computed exactly as transformers computes it.
    pub fn exact_positions(&self) -> usize {
        self.sliding_window
            .map_or(self.max_position_embeddings, |w| {
                w.min(self.max_position_embeddings)
            })
    }

    /// The facts of an architecture without a sliding window.
    pub fn plain(
        c: &Config,
        vocab_size: usize,
        hidden_size: usize,
        layers: usize,
        positions: usize,
    ) -> Facts {
        Facts {
            vocab_size,
            hidden_size,
            layers,
            max_position_embeddings: positions,
            sliding_window: None,
            stored_dtype: crate::hf::reader::Reader::new(c).stored_dtype(),
        }
    }

    /// The facts of the shared [`crate::hf::Forward`] reading (llama, qwen2, phi3).
    pub fn of_forward(f: &crate::hf::Forward) -> Facts {
        Facts {
            vocab_size: f.vocab_size,
            hidden_size: f.hidden_size,
            layers: f.num_hidden_layers,
            max_position_embeddings: f.max_position_embeddings,
            sliding_window: f.sliding_window,
            stored_dtype: f.stored_dtype.clone(),
        }
    }
}

/// The supported architectures, in the order config.json is matched against them.
const ARCHS: &[Spec] = &[
    llama::SPEC,
    qwen2::SPEC,
    qwen3::SPEC,
    phi3::SPEC,
    gpt2::SPEC,
    gemma::SPEC,
    mixtral::SPEC,
    starcoder2::SPEC,
    olmo::SPEC,
    olmo::SPEC2,
    phi::SPEC,
    gemma2::SPEC,
    gemma3::SPEC,
    gptj::SPEC,
    gpt_neox::SPEC,
    cohere::SPEC,
    stablelm::SPEC,
    granite::SPEC,
    falcon::SPEC,
];

impl Arch {
    /// The config facts of an in-process safetensors architecture (`None` for GGUF).
    pub fn facts(self, c: &Config) -> Result<Option<Facts>> {
        match self {
            Arch::Gguf(_) => Ok(None),
            _ => (self.spec().facts)(c).map(Some),
        }
    }

    fn spec(self) -> &'static Spec {
        ARCHS
            .iter()
            .find(|s| s.arch == self)
            .expect("every Arch has a Spec in ARCHS")
    }

    /// The short name shown in reports and JSON (`llama`, `qwen2`, `phi3`, `gguf:llama`…).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Gguf(q) => q.name(),
            _ => self.spec().name,
        }
    }
}

/// What an architecture's loader gets besides the weights.
pub struct LoadContext<'a> {
    /// The model directory.
    pub dir: &'a Path,
    /// Its config.json, already read and checked for the common fields.
    pub config: &'a Config,
    /// The safetensors files the weights are mapped from.
    pub files: &'a [PathBuf],
    /// The dtype the weights are loaded in (the KV cache uses it too).
    pub dtype: DType,
    /// Where the model runs.
    pub device: &'a Device,
}

/// One architecture's model with its KV cache: the three operations the scorers need.
/// `Send + Sync` so a loaded model can be shared like the candle models themselves.
pub trait Causal: Send + Sync {
    /// Logits of the last position for each sequence of `ids` (`[batch, seq]`) placed
    /// after `pos` cached positions: `[batch, vocab]`, in the model's dtype.
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor>;
    /// Forget every cached position; `use_cache = false` disables the cache from now on
    /// where the architecture can (Llama), so every pass starts from scratch.
    fn reset(&mut self, use_cache: bool) -> Result<()>;
    /// A copy carrying the same cached positions (a clone: tensors are shared).
    fn fork(&self) -> Box<dyn Causal>;
}

/// What the rest of the tool needs to know about a model.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The model directory.
    pub dir: PathBuf,
    /// `None` for a served model: the engine knows its architecture, we need not.
    pub arch: Option<Arch>,
    /// The engine a served model runs on (`--backend openai`): URL and model name.
    pub served: Option<String>,
    /// Rows of the (un)embedding: the ids the model can score, at least the tokenizer's.
    pub vocab_size: usize,
    /// The longest prompt the model (or the engine serving it) accepts.
    pub max_positions: usize,
    /// Width of the hidden state (0 when a served model's config is unknown).
    pub hidden_size: usize,
    /// Transformer blocks (0 when a served model's config is unknown).
    pub layers: usize,
    /// The ids at which greedy decoding stops, as Hugging Face `generate` stops
    /// (generation_config.json's `eos_token_id`, else config.json's; a GGUF's
    /// `tokenizer.ggml.eos_token_id`). Empty when the model names none.
    pub eos_ids: Vec<u32>,
    /// The dtype forward passes run in.
    pub dtype: DType,
    /// Where forward passes run (CPU for a served model: not here).
    pub device: Device,
    /// A GGUF file's weights were dequantized to f32 at load
    /// ([`quantized::dense`]).
    pub dequantized: bool,
}

/// The most positions a candle model's RoPE tables and KV cache are built for, whatever
/// `max_position_embeddings` says: candle allocates its cos/sin tables for every declared
/// position up front (a config declaring 2^24 positions would take gigabytes before the
/// first token), while the verifier's prompts need a few hundred and `generate` the
/// prompt plus `--max-tokens`. [`ModelInfo::max_positions`] keeps the model's own limit;
/// a run past this one is an error, never a wrong answer. docs/faults.md.
pub const RUN_POSITIONS: usize = 8192;

/// A loaded in-process model with its KV-cache state. Cloning is [`Lm::fork`].
pub struct Lm(Box<dyn Causal>, Limit);

/// Stop on logits that are not finite numbers: a softmax over them gives NaN scores,
/// which every threshold reads as "not repeated", so broken weights or a broken config
/// would come out as every token under-trained. `x - x` is 0 for a finite value and NaN
/// otherwise; one sum on the device says which.
fn check_finite(logits: &Tensor, source: &Path) -> Result<()> {
    let s = logits.sub(logits)?.sum_all()?.to_scalar::<f32>()?;
    if !s.is_finite() {
        bail!(
            "{}: the forward pass gave logits that are not finite numbers (NaN or infinity): \
             the weights or config.json are broken; no verdict can be given",
            source.display()
        );
    }
    Ok(())
}

/// What [`Lm::forward`] holds a call to, for its messages.
#[derive(Clone)]
struct Limit {
    /// Positions the candle model was built for.
    positions: usize,
    /// The weights, named when candle fails.
    source: PathBuf,
}

impl Clone for Lm {
    fn clone(&self) -> Lm {
        self.fork()
    }
}

impl Lm {
    /// Logits of the last position for each sequence of `ids` ([batch, seq]) placed after
    /// `pos` cached positions; `[batch, vocab]` in f32.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let end = pos + ids.dims().last().copied().unwrap_or(0);
        if end > self.1.positions {
            bail!(
                "{}: a forward pass to position {end} is past the {} positions the model \
                 was built for (at most {RUN_POSITIONS} per run; docs/faults.md)",
                self.1.source.display(),
                self.1.positions
            );
        }
        let source = &self.1.source;
        let m = &mut self.0;
        let logits = crate::util::panic::catch(
            || format!("{}: forward pass", source.display()),
            || Ok(m.forward(ids, pos)?.to_dtype(DType::F32)?),
        )
        .map_err(|e| {
            anyhow!(
                "{}",
                crate::util::text::strip_backtrace(&format!("{e:#}")).replace('\n', " ")
            )
        })?;
        check_finite(&logits, source)?;
        Ok(logits)
    }

    /// A model with the run limit of [`RUN_POSITIONS`] (or the model's own, when lower).
    pub(crate) fn new(model: Box<dyn Causal>, positions: usize, source: &Path) -> Lm {
        Lm(
            model,
            Limit {
                positions: positions.min(RUN_POSITIONS),
                source: source.to_path_buf(),
            },
        )
    }

    /// A copy carrying the same cached positions.
    pub fn fork(&self) -> Lm {
        Lm(self.0.fork(), self.1.clone())
    }

    /// Forget every cached position. `use_cache = false` makes every forward pass start
    /// from scratch (the published one-prompt-per-pass path).
    pub fn reset(&mut self, use_cache: bool) -> Result<()> {
        self.0.reset(use_cache)
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

/// Parse `--dtype`: `f32`, `f16` or `bf16` (and their long names).
pub fn parse_dtype(s: &str) -> Result<DType> {
    match s.to_ascii_lowercase().as_str() {
        "f32" | "float32" => Ok(DType::F32),
        "f16" | "float16" | "half" => Ok(DType::F16),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        _ => bail!("--dtype: expected f32, f16 or bf16, got '{s}'"),
    }
}

/// The architecture config.json names: the [`Spec`] of its `model_type`, exactly; without
/// one, of an `architectures` class name, exactly (prefixes are a trap: `Gemma3…`,
/// `Olmo2…` and `Phi3…` start like their predecessors).
fn arch_of(config: &Config, path: &Path) -> Result<&'static Spec> {
    let model_type = config.model_type().unwrap_or("");
    let archs = config.architectures();
    let found = if model_type.is_empty() {
        ARCHS
            .iter()
            .find(|a| a.classes.iter().any(|c| archs.iter().any(|x| x == c)))
    } else {
        ARCHS.iter().find(|a| a.model_types.contains(&model_type))
    };
    if let Some(spec) = found {
        return Ok(spec);
    }
    let what = if model_type.is_empty() {
        archs.join(", ")
    } else {
        model_type.to_string()
    };
    let supported: Vec<&str> = ARCHS
        .iter()
        .flat_map(|a| a.model_types.iter().copied())
        .collect();
    bail!(
        "{}: architecture '{}' is not supported for forward passes (supported: {})",
        path.join("config.json").display(),
        if what.is_empty() { "unknown" } else { &what },
        supported.join(", ")
    )
}

/// The end-of-sequence ids of an HF model directory: generation_config.json's when it
/// names them (what `generate` uses), else config.json's.
pub fn eos_ids(dir: &Path, config: Option<&Config>) -> Result<Vec<u32>> {
    let gen = dir.join("generation_config.json");
    if gen.is_file() {
        if let Some(g) = Config::read(&gen)? {
            let ids = g.token_ids("eos_token_id");
            if !ids.is_empty() {
                return Ok(ids);
            }
        }
    }
    Ok(config
        .map(|c| c.token_ids("eos_token_id"))
        .unwrap_or_default())
}

/// Safetensors files of the model: `model.safetensors`, or the shards of the index (read
/// by [`ShardIndex`], so its size bound and shard-name check apply here too).
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let files = ShardIndex::read(&index)?.shard_paths();
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

/// Load the model in `dir` on `device`. `dtype` defaults to f32 on CPU (candle's CPU
/// kernels are fastest and exact there) and to the checkpoint's dtype on CUDA. A GGUF
/// file instead of a directory runs through candle's quantized models
/// ([`quantized::load`]).
pub fn load(dir: &Path, device: &Device, dtype: Option<DType>) -> Result<(Lm, ModelInfo)> {
    load_with(dir, device, dtype, quantized::GgufWeights::Auto)
}

/// [`load`], saying how a GGUF file's weights are computed with.
pub fn load_with(
    dir: &Path,
    device: &Device,
    dtype: Option<DType>,
    gguf: quantized::GgufWeights,
) -> Result<(Lm, ModelInfo)> {
    if quantized::is_gguf(dir) {
        return quantized::load(dir, device, dtype, gguf);
    }
    if !dir.is_dir() {
        bail!("{}: not a model directory or a GGUF file", dir.display());
    }
    let config = Config::require_in(dir)?;
    let spec = arch_of(&config, dir)?;
    // The architecture's exact reading of config.json: what its loader builds the candle
    // config from, read here too for what the rest of the tool is told.
    let forward = (spec.facts)(&config)?;
    let stored = match forward.stored_dtype.as_deref() {
        Some("bfloat16") => DType::BF16,
        Some("float16") => DType::F16,
        _ => DType::F32,
    };
    let dtype = dtype.unwrap_or(if device.is_cpu() { DType::F32 } else { stored });
    let files = weight_files(dir)?;
    // Our reader's checks first (layout, offsets, dtypes: every message names the file
    // and the tensor); candle's say less ("incomplete metadata, file not fully covered").
    for f in &files {
        crate::weights::safetensors::SafetensorsFile::open(f)?;
    }
    // SAFETY: the files are memory-mapped read-only; candle validates every tensor's
    // offsets against the file size before use. A file truncated by another process
    // while mapped could still fault, as with every mmap reader.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, dtype, device)? };
    let info = ModelInfo {
        dir: dir.to_path_buf(),
        arch: Some(spec.arch),
        served: None,
        vocab_size: forward.vocab_size,
        // Past an attention window candle's models would attend where transformers'
        // do not: the usable context stops at the window.
        max_positions: forward.exact_positions(),
        hidden_size: forward.hidden_size,
        layers: forward.layers,
        eos_ids: eos_ids(dir, Some(&config))?,
        dtype,
        device: device.clone(),
        dequantized: false,
    };
    let cx = LoadContext {
        dir,
        config: &config,
        files: &files,
        dtype,
        device,
    };
    (spec.check)(&files, &config)?;
    let model = crate::util::panic::catch(
        || format!("{}: building the model", files[0].display()),
        || (spec.load)(&cx, vb),
    )
    .map_err(|e| {
        anyhow!(
            "{}: {}",
            files[0].display(),
            crate::util::text::strip_backtrace(&format!("{e:#}")).replace('\n', " ")
        )
    })?;
    let lm = Lm::new(model, forward.max_position_embeddings, &files[0]);
    Ok((lm, info))
}
