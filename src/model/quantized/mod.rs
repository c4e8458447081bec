//! GGUF models in process, through candle-transformers' quantized models: one file per
//! architecture ([`llama`] (also Mistral, SmolLM, Yi: every file whose
//! `general.architecture` is `llama`), [`qwen2`], [`qwen3`], [`phi3`], [`gemma3`]), each
//! holding its metadata and tensor checks and the glue to [`Causal`], and the dispatch
//! here.
//!
//! The file is detected by its magic, not its name. Before candle sees it, the project's
//! own hardened reader ([`crate::gguf::GgufFile`]) checks what candle's loaders would
//! otherwise unwrap or misread: the architecture is one we can run, every metadata key
//! the loader reads is present with the type it reads it as, every tensor it will index
//! exists with the shape the metadata implies and a type candle can compute with, and no
//! feature candle would silently ignore (RoPE scaling, merged experts) is in use. Then
//! candle's `gguf_file::Content::read` reads the file through a memory map; candle copies
//! each tensor into its own `QTensor` storage, still quantized (its API reads tensors
//! through `Read`, so the weights cannot stay in the map), and dequantizes the token
//! embedding to f32. Activations are f32 (candle quantizes them to q8 for the quantized
//! dot products, as llama.cpp does).
//!
//! candle's quantized models run a batch of several multi-token sequences into an error
//! (their last-position view is strided and the CPU quantized matmul wants it contiguous),
//! so a batch runs one sequence at a time (while all sequences are the same, as for a
//! shared prefix, once). Two ways to drive a model ([`Cache`]): `Native` uses its internal
//! KV cache, one clone per sequence (the model type must be `Clone` so a fork copies the
//! cache, and must extend a cached prefix correctly); `Recompute` keeps the ids seen so far
//! and runs every pass from position 0, for the models whose cache cannot be forked or is
//! wrong for what the verifier asks (each file says which and why). Both give the same
//! logits; `Recompute` only costs more ([`drive`]).
//!
//! Because that is slow on the CPU, a dense `llama` file whose f32 weights fit in memory is
//! instead dequantized once and run by the f32 Llama ([`dense`], [`GgufWeights`]).

pub mod dense;
pub mod drive;
pub mod gemma3;
pub mod llama;
pub mod phi3;
pub mod qwen2;
pub mod qwen3;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device};
use memmap2::Mmap;

use super::{Arch, Causal, ModelInfo};
use crate::gguf::{GgufFile, GgufValue};

/// GGUF's magic, the first four bytes of every file.
const MAGIC: &[u8; 4] = b"GGUF";

/// The ggml tensor types candle 0.11.1 reads and computes with (`GgmlDType::from_u32`).
const CANDLE_TYPES: &[u32] = &[0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 30];

/// A quantized architecture, as [`ModelInfo::arch`] reports it (`Arch::Gguf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QArch {
    /// `general.architecture` `llama` (Llama, Mistral, SmolLM, Yi...).
    Llama,
    /// `qwen2`.
    Qwen2,
    /// `qwen3`.
    Qwen3,
    /// `phi3`.
    Phi3,
    /// `gemma3`.
    Gemma3,
}

impl QArch {
    /// The name reports show: `gguf:` and the file's architecture.
    pub fn name(self) -> &'static str {
        spec(self).name
    }
}

/// What a GGUF file's weights are computed with in process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GgufWeights {
    /// f32 ([`dense`]) on the CPU for a `llama` file whose f32 weights fit in half the
    /// available memory; otherwise quantized.
    #[default]
    Auto,
    /// Quantized, through candle's quantized model of the architecture.
    Quantized,
    /// Dequantized to f32 at load ([`dense`]; `llama` files only).
    F32,
}

/// How the model's KV cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// candle's own cache, one clone per sequence of a batch: forks clone it, a cached
    /// prefix is extended.
    Native,
    /// Every pass starts from position 0 over all the ids seen so far.
    Recompute,
}

/// What dispatch needs of a quantized architecture file. Each exports one as `SPEC`.
pub struct QSpec {
    /// The variant reported.
    pub arch: QArch,
    /// The name reports show (`gguf:llama`).
    pub name: &'static str,
    /// The `general.architecture` value that selects it.
    pub gguf_arch: &'static str,
    /// Check the metadata and tensors (names, shapes, features) before candle sees them.
    pub check: fn(&Meta<'_>) -> Result<()>,
    /// The longest sequence candle's model can take on `device` (its RoPE tables).
    pub max_positions: fn(&Meta<'_>, &Device) -> usize,
    /// How the KV cache is driven on `device`.
    pub cache: fn(&Device) -> Cache,
    /// Build the model.
    pub load: fn(Loader<'_>, Cache) -> Result<Box<dyn Causal>>,
}

/// The supported architectures.
const QARCHS: &[QSpec] = &[
    llama::SPEC,
    qwen2::SPEC,
    qwen3::SPEC,
    phi3::SPEC,
    gemma3::SPEC,
];

fn spec(a: QArch) -> &'static QSpec {
    QARCHS
        .iter()
        .find(|s| s.arch == a)
        .expect("every QArch has a QSpec in QARCHS")
}

/// Whether `path` is a GGUF file (by its magic).
pub fn is_gguf(path: &Path) -> bool {
    if !path.is_file() {
        return false;
    }
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == MAGIC
}

/// The parsed file and its architecture prefix, with typed look-ups whose errors name
/// the file and the key.
pub struct Meta<'a> {
    /// The file, parsed by the project's reader.
    pub file: &'a GgufFile,
    /// `general.architecture`.
    pub arch: &'a str,
}

impl Meta<'_> {
    fn path(&self) -> String {
        self.file.path.display().to_string()
    }

    /// `{arch}.{key}` as candle reads it, `to_u32`: it must be stored as u32.
    pub fn u32(&self, key: &str) -> Result<usize> {
        let k = format!("{}.{key}", self.arch);
        match self.file.get(&k) {
            Some(GgufValue::U32(v)) => Ok(*v as usize),
            Some(v) => bail!(
                "{}: metadata key '{k}' is {} (candle's loader reads it as u32)",
                self.path(),
                v.type_name()
            ),
            None => bail!(
                "{}: metadata key '{k}' is missing (needed to run a {} model)",
                self.path(),
                self.arch
            ),
        }
    }

    /// `{arch}.{key}` when present (any integer type).
    pub fn opt_u64(&self, key: &str) -> Option<u64> {
        self.file.get_u64(&format!("{}.{key}", self.arch))
    }

    /// `{arch}.{key}` as candle reads it, `to_f32`: it must be stored as f32. `None` when
    /// absent (candle then uses its default, as llama.cpp does).
    pub fn f32(&self, key: &str) -> Result<Option<f32>> {
        let k = format!("{}.{key}", self.arch);
        match self.file.get(&k) {
            Some(GgufValue::F32(v)) => Ok(Some(*v)),
            Some(v) => bail!(
                "{}: metadata key '{k}' is {} (candle's loader reads it as f32)",
                self.path(),
                v.type_name()
            ),
            None => Ok(None),
        }
    }

    /// `{arch}.{key}` that must be present as f32.
    pub fn need_f32(&self, key: &str) -> Result<f32> {
        self.f32(key)?.ok_or_else(|| {
            anyhow!(
                "{}: metadata key '{}.{key}' is missing (needed to run a {} model)",
                self.path(),
                self.arch,
                self.arch
            )
        })
    }

    /// Whether the file has tensor `name`.
    pub fn has(&self, name: &str) -> bool {
        self.file.tensor(name).is_some()
    }

    /// Tensor `name` must exist (any shape).
    pub fn need(&self, name: &str) -> Result<()> {
        if !self.has(name) {
            bail!(
                "{}: tensor '{name}' is missing: not a complete {} model",
                self.path(),
                self.arch
            );
        }
        Ok(())
    }

    /// Tensor `name` must exist with `dims` (ggml order: row length first) and a type
    /// candle computes with.
    pub fn expect(&self, name: &str, dims: &[usize]) -> Result<()> {
        let t = self.file.tensor(name).ok_or_else(|| {
            anyhow!(
                "{}: tensor '{name}' is missing: not a complete {} model",
                self.path(),
                self.arch
            )
        })?;
        let want: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        if t.dims != want {
            bail!(
                "{}: tensor '{name}' has shape {:?} but the metadata implies {want:?} (ggml \
                 order, row length first)",
                self.path(),
                t.dims
            );
        }
        Ok(())
    }

    /// Refuse RoPE scaling, which candle's quantized models do not apply (its logits would
    /// be silently wrong past the original context).
    pub fn no_rope_scaling(&self) -> Result<()> {
        let k = format!("{}.rope.scaling.type", self.arch);
        if let Some(t) = self.file.get_str(&k) {
            if t != "none" {
                bail!(
                    "{}: '{k}' is '{t}': RoPE scaling is not supported by candle's quantized \
                     {} model",
                    self.path(),
                    self.arch
                );
            }
        }
        for t in ["rope_freqs.weight", "rope_factors_long.weight"] {
            if self.has(t) {
                bail!(
                    "{}: tensor '{t}' (RoPE frequency factors, e.g. Llama 3.1's scaling) is \
                     not supported by candle's quantized {} model",
                    self.path(),
                    self.arch
                );
            }
        }
        Ok(())
    }
}

/// Facts read from a GGUF's metadata without loading the model: for a served GGUF too.
pub struct Facts {
    /// `general.architecture`.
    pub arch: String,
    /// Rows of `token_embd.weight` (else `{arch}.vocab_size`, else the tokenizer's size).
    pub vocab_size: Option<usize>,
    /// `{arch}.context_length`.
    pub context: Option<usize>,
    /// `{arch}.embedding_length`.
    pub hidden: Option<usize>,
    /// `{arch}.block_count`.
    pub layers: Option<usize>,
    /// `tokenizer.ggml.eos_token_id`, then `tokenizer.ggml.eot_token_id` when it differs
    /// (llama.cpp stops at both; Hugging Face's generation configs for chat models list
    /// both, e.g. Llama 3's 128001 and 128009).
    pub eos_ids: Vec<u32>,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos: Option<bool>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
}

/// Read [`Facts`] from a parsed file.
pub fn facts(f: &GgufFile) -> Facts {
    let arch = f.get_str("general.architecture").unwrap_or("").to_string();
    let k = |s: &str| {
        f.get_u64(&format!("{arch}.{s}"))
            .and_then(|v| usize::try_from(v).ok())
    };
    let vocab_size = f
        .tensor("token_embd.weight")
        .and_then(|t| t.dims.get(1).copied())
        .and_then(|v| usize::try_from(v).ok())
        .or_else(|| k("vocab_size"));
    let id = |key: &str| f.get_u64(key).and_then(|v| u32::try_from(v).ok());
    let mut eos_ids: Vec<u32> = id("tokenizer.ggml.eos_token_id").into_iter().collect();
    if let Some(eot) = id("tokenizer.ggml.eot_token_id") {
        if !eos_ids.contains(&eot) {
            eos_ids.push(eot);
        }
    }
    Facts {
        vocab_size,
        context: k("context_length"),
        hidden: k("embedding_length"),
        layers: k("block_count"),
        eos_ids,
        add_bos: f.get_bool("tokenizer.ggml.add_bos_token"),
        bos: id("tokenizer.ggml.bos_token_id"),
        arch,
    }
}

/// What a loader gets: candle's parsed content, a reader over the mapped file, and the
/// device.
pub struct Loader<'a> {
    /// candle's view of the file.
    pub content: gguf_file::Content,
    /// The mapped file.
    pub reader: &'a mut std::io::Cursor<&'a [u8]>,
    /// Where the model runs.
    pub device: &'a Device,
}

pub use drive::{native, recompute, QModel};

/// Tensor-type and common checks, then the architecture's own.
fn check(meta: &Meta<'_>) -> Result<&'static QSpec> {
    let spec = QARCHS
        .iter()
        .find(|s| s.gguf_arch == meta.arch)
        .ok_or_else(|| {
            let names: Vec<&str> = QARCHS.iter().map(|s| s.gguf_arch).collect();
            anyhow!(
                "{}: general.architecture '{}' cannot be run in process (candle's quantized \
                 models run: {}); serve it with llama.cpp and use --backend openai",
                meta.path(),
                if meta.arch.is_empty() {
                    "(missing)"
                } else {
                    meta.arch
                },
                names.join(", ")
            )
        })?;
    if let Some(t) = meta
        .file
        .tensors
        .iter()
        .find(|t| !CANDLE_TYPES.contains(&t.ggml_type))
    {
        bail!(
            "{}: tensor '{}' has ggml type {} ({}), which candle cannot compute with \
             (supported: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k…q6_k)",
            meta.path(),
            t.name,
            t.type_name(),
            t.ggml_type
        );
    }
    (spec.check)(meta)?;
    Ok(spec)
}

/// The common per-layer check of the Llama-like files: attention and MLP weights with the
/// shapes the metadata implies, and the norms. `head_dim` is what candle uses.
pub fn check_llama_like(meta: &Meta<'_>, head_dim: usize, extra: &[&str]) -> Result<()> {
    let h = meta.u32("embedding_length")?;
    let heads = meta.u32("attention.head_count")?;
    let kv = meta.u32("attention.head_count_kv")?;
    let layers = meta.u32("block_count")?;
    let ff = meta.opt_u64("feed_forward_length").map(|v| v as usize);
    if heads == 0 || kv == 0 || heads % kv != 0 {
        bail!(
            "{}: {} attention heads and {kv} key/value heads: not a valid grouping",
            meta.path(),
            heads
        );
    }
    meta.expect("output_norm.weight", &[h])?;
    let vocab = meta
        .file
        .tensor("token_embd.weight")
        .and_then(|t| t.dims.get(1).copied())
        .unwrap_or(0) as usize;
    meta.expect("token_embd.weight", &[h, vocab.max(1)])?;
    if meta.has("output.weight") {
        meta.expect("output.weight", &[h, vocab])?;
    }
    for i in 0..layers {
        let p = format!("blk.{i}");
        meta.expect(&format!("{p}.attn_norm.weight"), &[h])?;
        meta.expect(&format!("{p}.ffn_norm.weight"), &[h])?;
        meta.expect(&format!("{p}.attn_q.weight"), &[h, heads * head_dim])?;
        meta.expect(&format!("{p}.attn_k.weight"), &[h, kv * head_dim])?;
        meta.expect(&format!("{p}.attn_v.weight"), &[h, kv * head_dim])?;
        meta.expect(&format!("{p}.attn_output.weight"), &[heads * head_dim, h])?;
        let ff = match ff {
            Some(f) => f,
            None => meta
                .file
                .tensor(&format!("{p}.ffn_up.weight"))
                .and_then(|t| t.dims.get(1).copied())
                .unwrap_or(0) as usize,
        };
        meta.expect(&format!("{p}.ffn_gate.weight"), &[h, ff])?;
        meta.expect(&format!("{p}.ffn_up.weight"), &[h, ff])?;
        meta.expect(&format!("{p}.ffn_down.weight"), &[ff, h])?;
        for e in extra {
            meta.need(&format!("{p}.{e}"))?;
        }
    }
    Ok(())
}

/// Load a GGUF model file on `device`. The weights stay quantized and activations are
/// f32, so `dtype` may only be f32.
pub fn load(
    path: &Path,
    device: &Device,
    dtype: Option<DType>,
    weights: GgufWeights,
) -> Result<(super::Lm, ModelInfo)> {
    if let Some(d) = dtype.filter(|d| *d != DType::F32) {
        bail!(
            "{}: a GGUF model keeps its quantized weights and computes in f32; --dtype {d:?} \
             does not apply",
            path.display()
        );
    }
    let file = GgufFile::open(path)?;
    let arch = file
        .get_str("general.architecture")
        .unwrap_or("")
        .to_string();
    let meta = Meta {
        file: &file,
        arch: &arch,
    };
    let spec = check(&meta)?;
    let f = facts(&file);
    let mut info = ModelInfo {
        dir: path.to_path_buf(),
        arch: Some(Arch::Gguf(spec.arch)),
        served: None,
        vocab_size: f.vocab_size.unwrap_or(0),
        max_positions: (spec.max_positions)(&meta, device),
        hidden_size: f.hidden.unwrap_or(0),
        layers: f.layers.unwrap_or(0),
        eos_ids: f.eos_ids,
        dtype: DType::F32,
        device: device.clone(),
        dequantized: false,
    };
    let fh = File::open(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    // SAFETY: the map is only read, through a Cursor whose reads are bounds-checked; the
    // file was checked above. Another process truncating it while mapped could still
    // fault, as with every memory-mapped reader.
    let map = unsafe { Mmap::map(&fh) }.map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let mut reader = std::io::Cursor::new(&map[..]);
    let content = gguf_file::Content::read(&mut reader)
        .map_err(|e| anyhow!("{}: candle could not read the file: {e}", path.display()))?;
    let experts = meta.opt_u64("expert_count").unwrap_or(0);
    let dense_ok = spec.arch == QArch::Llama && experts <= 1;
    let dense = match weights {
        GgufWeights::Quantized => false,
        GgufWeights::F32 if !dense_ok => bail!(
            "{}: --gguf-weights f32 runs dense `llama` files only, not {arch}{}",
            path.display(),
            if experts > 1 { " with experts" } else { "" }
        ),
        GgufWeights::F32 => true,
        GgufWeights::Auto => dense_ok && device.is_cpu() && dense::fits(dense::f32_bytes(&content)),
    };
    if dense {
        let model = dense::load(&meta, &content, &mut reader, device)
            .map_err(|e| anyhow!("{}: loading the {arch} model in f32: {e}", path.display()))?;
        info.dequantized = true;
        // candle's f32 Llama builds RoPE tables for the whole context.
        info.max_positions = f.context.unwrap_or(info.max_positions);
        let built = if info.max_positions == 0 {
            4096
        } else {
            info.max_positions
        };
        return Ok((super::Lm::new(model, built, path), info));
    }
    let cache = (spec.cache)(device);
    let model = (spec.load)(
        Loader {
            content,
            reader: &mut reader,
            device,
        },
        cache,
    )
    .map_err(|e| anyhow!("{}: loading the {arch} model: {e}", path.display()))?;
    Ok((super::Lm::new(model, usize::MAX, path), info))
}

/// Things a person should know about running this GGUF in process (one line each).
pub fn notes(info: &ModelInfo, context: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(Arch::Gguf(a)), Some(c)) = (info.arch, context) {
        if info.max_positions < c {
            out.push(format!(
                "{}: candle's quantized {} model takes at most {} positions (the file's \
                 context_length is {c})",
                info.dir.display(),
                a.name(),
                info.max_positions
            ));
        }
    }
    out
}
