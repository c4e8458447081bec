//! Export: write a Hugging Face checkpoint as GGUF (for serving engines such as llama.cpp).
//!
//! The mapping mirrors llama.cpp's `convert_hf_to_gguf.py` for its `llama` architecture
//! (`LlamaForCausalLM`, `MistralForCausalLM`), so that the project can serve the models it
//! audits with llama.cpp without a Python toolchain. Three things have to be right for the
//! served model to be the same model:
//!
//! - the tensors: llama.cpp's names, dims in ggml order, and the Q/K rows permuted back
//!   from Hugging Face's rotate-half RoPE layout to ggml's interleaved one ([`permuted_row`]);
//! - the hyper-parameters: anything llama.cpp's `llama` graph cannot express (RoPE
//!   scaling, biases, other activations) is refused rather than silently dropped;
//! - the tokenizer: llama.cpp re-implements tokenization from `tokenizer.ggml.*`, so the
//!   scores (SentencePiece-style) or merges (byte-level) must make it encode text to the
//!   ids the model was trained on.
//!
//! Everything is read and checked before the output file is created, and the file is
//! written through [`crate::output::write_atomic`], so a failure leaves nothing behind.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use half::f16;
use serde_json::Value;

use crate::gguf::writer::{GgmlType, GgufWriter, TensorSpec};
use crate::gguf::{GgufArray, GgufValue};
use crate::vocab::{self, LoadOptions, PieceKind, Vocab};
use crate::weights::{Checkpoint, DType, Matrix, SafetensorsFile, Source};

/// The data alignment written as `general.alignment` (GGUF's default, stated explicitly).
pub const ALIGNMENT: u32 = 32;

/// `model_type` values whose checkpoints are llama.cpp's `llama` architecture.
const MODEL_TYPES: &[&str] = &["llama", "mistral"];
const ARCHITECTURES: &[&str] = &["LlamaForCausalLM", "MistralForCausalLM"];

/// config.json and tokenizer_config.json are a few KB (long chat templates: a few hundred);
/// the bound only stops a hostile link to a device from being read forever.
const MAX_JSON_LEN: u64 = 10_000_000;

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// Hugging Face model directory: config.json, weights, tokenizer.
    pub model_dir: PathBuf,
    /// The GGUF file to write.
    pub out: PathBuf,
    /// Element type of the 2-D matrices; `None`: f16 when every matrix of the checkpoint
    /// is f16 (a lossless copy), f32 otherwise (bf16 → f32 is exact, bf16 → f16 is not).
    pub dtype: Option<GgmlType>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub out: PathBuf,
    pub bytes: u64,
    pub tensors: usize,
    /// Type of the 2-D matrices (norm weights are always f32).
    pub matrix_type: GgmlType,
    /// `tokenizer.ggml.model`: "llama" or "gpt2".
    pub tokenizer_model: &'static str,
    /// Entries of `tokenizer.ggml.tokens` (the model's vocabulary size).
    pub n_tokens: usize,
    /// Whether `output.weight` was left out so that llama.cpp reuses `token_embd.weight`.
    pub tied: bool,
    /// Things the user should know: tokenizer steps llama.cpp does not reproduce, ignored
    /// tensors. Empty for the common case.
    pub notes: Vec<String>,
}

/// Export `s.model_dir` to `s.out`.
pub fn run(s: &ExportSettings) -> Result<ExportReport> {
    let dir = &s.model_dir;
    if !dir.is_dir() {
        bail!(
            "{}: not a model directory (export-gguf needs a Hugging Face directory with \
             config.json, safetensors weights and a tokenizer)",
            dir.display()
        );
    }
    let config_path = dir.join("config.json");
    if !config_path.is_file() {
        bail!(
            "{}: missing (export-gguf needs the model's hyper-parameters)",
            config_path.display()
        );
    }
    let mut notes = Vec::new();
    let ck = Checkpoint::open(dir)?;
    if let Source::Gguf(_) = ck.source {
        bail!(
            "{}: already GGUF; export-gguf reads safetensors checkpoints",
            ck.path.display()
        );
    }
    let config = ck
        .config()
        .ok_or_else(|| anyhow!("{}: missing", config_path.display()))?;
    let mut hp = HParams::read(&config_path, config, &mut notes)?;
    let tensors = plan_tensors(&ck, &mut hp, &mut notes)?;
    let matrix_type = s.dtype.unwrap_or_else(|| default_matrix_type(&tensors));
    let tok = TokenizerPlan::read(dir, &hp, config, &mut notes)?;

    let mut w = GgufWriter::new();
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".to_string());
    let file_type = match matrix_type {
        GgmlType::F32 => 0,
        GgmlType::F16 => 1,
    };
    w.add("general.architecture", s_("llama"))?;
    w.add("general.name", s_(&name))?;
    w.add("general.file_type", GgufValue::U32(file_type))?;
    w.add("general.alignment", GgufValue::U32(ALIGNMENT))?;
    hp.add_metadata(&mut w)?;
    tok.add_metadata(&mut w)?;
    for t in &tensors {
        w.add_tensor(TensorSpec {
            name: t.gguf.clone(),
            dims: t.gguf_dims(),
            ggml_type: t.out_type(matrix_type),
        })?;
    }

    let mut bytes = 0;
    crate::output::write_atomic(&s.out, |out| {
        bytes = w.write(out, |i, spec, out| {
            tensors[i].write_data(&ck, spec.ggml_type, out)
        })?;
        Ok(())
    })?;
    Ok(ExportReport {
        out: s.out.clone(),
        bytes,
        tensors: tensors.len(),
        matrix_type,
        tokenizer_model: tok.model,
        n_tokens: tok.tokens.len(),
        tied: hp.tied,
        notes,
    })
}

fn s_(s: &str) -> GgufValue {
    GgufValue::Str(s.to_string())
}

fn u32_(path: &Path, what: &str, v: usize) -> Result<GgufValue> {
    u32::try_from(v)
        .map(GgufValue::U32)
        .map_err(|_| anyhow!("{}: {what} {v} does not fit GGUF's u32", path.display()))
}

// ---------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------

/// The hyper-parameters llama.cpp's `llama` graph needs, from config.json.
#[derive(Debug)]
struct HParams {
    config_path: PathBuf,
    vocab_size: usize,
    hidden: usize,
    ffn: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    ctx: usize,
    eps: f32,
    rope_theta: f32,
    tied: bool,
}

impl HParams {
    fn read(path: &Path, c: &Value, notes: &mut Vec<String>) -> Result<HParams> {
        let p = path.display();
        let model_type = c
            .get("model_type")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
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

    fn add_metadata(&self, w: &mut GgufWriter) -> Result<()> {
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

// ---------------------------------------------------------------------------------------
// Tensors
// ---------------------------------------------------------------------------------------

/// One output tensor: where its data comes from and how it is reshaped.
#[derive(Debug)]
struct TensorPlan {
    gguf: String,
    src: String,
    /// Hugging Face shape: `[rows, cols]` for matrices, `[len]` for vectors.
    shape: Vec<usize>,
    src_dtype: DType,
    /// Q and K: the number of heads whose rows are permuted to ggml's RoPE layout.
    permute_heads: Option<usize>,
    /// Norm weights, read whole at planning time (they are a few KB).
    vector: Option<Vec<f32>>,
}

impl TensorPlan {
    fn gguf_dims(&self) -> Vec<u64> {
        self.shape.iter().rev().map(|&d| d as u64).collect()
    }

    /// Matrices take the chosen type; 1-D weights stay f32 as llama.cpp's converter keeps
    /// them (they are tiny, and some backends only add/multiply f32 norms).
    fn out_type(&self, matrix_type: GgmlType) -> GgmlType {
        if self.vector.is_some() {
            GgmlType::F32
        } else {
            matrix_type
        }
    }

    fn write_data(&self, ck: &Checkpoint, ty: GgmlType, out: &mut dyn Write) -> Result<()> {
        if let Some(v) = &self.vector {
            return write_f32s(v, out);
        }
        let m = ck.matrix(&self.src)?;
        write_matrix(&m, self.permute_heads, ty, out)
    }
}

/// Source row of GGUF row `r` of a Q or K matrix with `n_head` heads: llama.cpp's
/// `LlamaModel.permute` (`reshape(n_head, 2, d/2, cols).swapaxes(1, 2)`), which undoes
/// transformers' conversion from Meta's interleaved pairs to rotate-half halves. Within a
/// head of `d` rows, GGUF row `2i + j` is Hugging Face row `j * d/2 + i`.
pub fn permuted_row(r: usize, rows: usize, n_head: usize) -> usize {
    let d = rows / n_head;
    let (h, k) = (r / d, r % d);
    let (i, j) = (k / 2, k % 2);
    h * d + j * (d / 2) + i
}

fn write_f32s(v: &[f32], out: &mut dyn Write) -> Result<()> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    out.write_all(&bytes)?;
    Ok(())
}

/// Stream a matrix row by row from the memory map. Rows whose type does not change are
/// copied byte for byte (so an f16 checkpoint exports losslessly); others are decoded to
/// f32 and, for f16 output, rounded to nearest-even as numpy's cast does.
fn write_matrix(
    m: &Matrix,
    permute_heads: Option<usize>,
    ty: GgmlType,
    out: &mut dyn Write,
) -> Result<()> {
    let same = matches!(
        (m.dtype, ty),
        (DType::F16, GgmlType::F16) | (DType::F32, GgmlType::F32)
    );
    let mut row = vec![0f32; m.cols];
    let mut buf: Vec<u8> = Vec::with_capacity(m.cols * 4);
    for r in 0..m.rows {
        let src = permute_heads.map_or(r, |n| permuted_row(r, m.rows, n));
        if same {
            out.write_all(m.raw_row(src))?;
            continue;
        }
        m.row_into(src, &mut row);
        buf.clear();
        match ty {
            GgmlType::F32 => buf.extend(row.iter().flat_map(|x| x.to_le_bytes())),
            GgmlType::F16 => {
                for (c, &x) in row.iter().enumerate() {
                    let h = f16::from_f32(x);
                    if x.is_finite() && !h.is_finite() {
                        bail!(
                            "{}: tensor '{}' row {src} column {c} holds {x}, which does not fit \
                             in f16; export with --dtype f32",
                            m.file.display(),
                            m.name
                        );
                    }
                    buf.extend(h.to_bits().to_le_bytes());
                }
            }
        }
        out.write_all(&buf)?;
    }
    Ok(())
}

/// f16 when every matrix is f16 (nothing is lost); f32 otherwise.
fn default_matrix_type(tensors: &[TensorPlan]) -> GgmlType {
    let all_f16 = tensors
        .iter()
        .filter(|t| t.vector.is_none())
        .all(|t| t.src_dtype == DType::F16);
    if all_f16 {
        GgmlType::F16
    } else {
        GgmlType::F32
    }
}

/// Hugging Face name, GGUF name, expected shape, Q/K head count, for every tensor the
/// llama graph needs. Decides whether `output.weight` is written.
fn expected_tensors(
    ck: &Checkpoint,
    hp: &mut HParams,
    names: &HashSet<&str>,
    notes: &mut Vec<String>,
) -> Vec<(String, String, Vec<usize>, Option<usize>)> {
    let (v, h, f) = (hp.vocab_size, hp.hidden, hp.ffn);
    let q = hp.heads * hp.head_dim;
    let kv = hp.kv_heads * hp.head_dim;
    let mut list = vec![(
        "model.embed_tokens.weight".to_string(),
        "token_embd.weight".to_string(),
        vec![v, h],
        None,
    )];
    for n in 0..hp.layers {
        let hf = |s: &str| format!("model.layers.{n}.{s}.weight");
        let gg = |s: &str| format!("blk.{n}.{s}.weight");
        list.extend([
            (hf("input_layernorm"), gg("attn_norm"), vec![h], None),
            (
                hf("self_attn.q_proj"),
                gg("attn_q"),
                vec![q, h],
                Some(hp.heads),
            ),
            (
                hf("self_attn.k_proj"),
                gg("attn_k"),
                vec![kv, h],
                Some(hp.kv_heads),
            ),
            (hf("self_attn.v_proj"), gg("attn_v"), vec![kv, h], None),
            (hf("self_attn.o_proj"), gg("attn_output"), vec![h, q], None),
            (
                hf("post_attention_layernorm"),
                gg("ffn_norm"),
                vec![h],
                None,
            ),
            (hf("mlp.gate_proj"), gg("ffn_gate"), vec![f, h], None),
            (hf("mlp.up_proj"), gg("ffn_up"), vec![f, h], None),
            (hf("mlp.down_proj"), gg("ffn_down"), vec![h, f], None),
        ]);
    }
    list.push((
        "model.norm.weight".to_string(),
        "output_norm.weight".to_string(),
        vec![h],
        None,
    ));
    // Tied: llama.cpp falls back to token_embd.weight when output.weight is absent. A tied
    // checkpoint that still stores lm_head.weight is tied in transformers too (the stored
    // copy is replaced by the embedding at load), so it is left out here as well.
    hp.tied = ck.is_tied();
    if hp.tied {
        if names.contains("lm_head.weight") {
            notes.push(format!(
                "lm_head.weight is ignored: the model is tied ({})",
                ck.tie_reason()
            ));
        }
    } else {
        list.push((
            "lm_head.weight".to_string(),
            "output.weight".to_string(),
            vec![v, h],
            None,
        ));
    }
    list
}

/// Check every tensor (presence, shape, dtype) and read the norm weights, before the
/// output file exists.
fn plan_tensors(
    ck: &Checkpoint,
    hp: &mut HParams,
    notes: &mut Vec<String>,
) -> Result<Vec<TensorPlan>> {
    let all = ck.tensor_names();
    let names: HashSet<&str> = all.iter().map(String::as_str).collect();
    let expected = expected_tensors(ck, hp, &names, notes);
    let mut shards: HashMap<PathBuf, SafetensorsFile> = HashMap::new();
    let mut plans = Vec::with_capacity(expected.len());
    for (src, gguf, shape, permute_heads) in expected {
        if !names.contains(src.as_str()) {
            bail!(
                "{}: tensor '{src}' is missing (needed for GGUF {gguf}, shape {shape:?} from {})",
                ck.path.display(),
                hp.config_path.display()
            );
        }
        let plan = if shape.len() == 2 {
            let m = ck.matrix(&src)?;
            if [m.rows, m.cols] != shape[..] {
                bail!(
                    "{}: tensor '{src}' has shape [{}, {}], but {} implies {shape:?}",
                    m.file.display(),
                    m.rows,
                    m.cols,
                    hp.config_path.display()
                );
            }
            TensorPlan {
                gguf,
                src,
                shape,
                src_dtype: m.dtype,
                permute_heads,
                vector: None,
            }
        } else {
            let (file, dtype, v) = read_vector(ck, &mut shards, &src)?;
            if v.len() != shape[0] {
                bail!(
                    "{}: tensor '{src}' has {} values, but {} implies {}",
                    file.display(),
                    v.len(),
                    hp.config_path.display(),
                    shape[0]
                );
            }
            TensorPlan {
                gguf,
                src,
                shape,
                src_dtype: dtype,
                permute_heads: None,
                vector: Some(v),
            }
        };
        plans.push(plan);
    }
    let used: HashSet<&str> = plans.iter().map(|p| p.src.as_str()).collect();
    for n in &all {
        if used.contains(n.as_str()) || n == "lm_head.weight" {
            continue;
        }
        // Buffers some old checkpoints saved; llama.cpp computes them.
        if n.ends_with(".rotary_emb.inv_freq") {
            continue;
        }
        if n.ends_with(".bias") {
            bail!(
                "{}: tensor '{n}' is a bias; biases are not supported by llama.cpp's llama \
                 architecture",
                ck.path.display()
            );
        }
        bail!(
            "{}: tensor '{n}' has no counterpart in llama.cpp's llama architecture",
            ck.path.display()
        );
    }
    Ok(plans)
}

/// A 1-D tensor as f32. The weights module reads 2-D matrices only, so the bytes are read
/// here from the byte range its validated header gives (the range was checked against the
/// file when the header was parsed).
fn read_vector(
    ck: &Checkpoint,
    shards: &mut HashMap<PathBuf, SafetensorsFile>,
    name: &str,
) -> Result<(PathBuf, DType, Vec<f32>)> {
    let st: &SafetensorsFile = match &ck.source {
        Source::Safetensors(s) => s,
        Source::Sharded(sh) => {
            let shard = sh.weight_map.get(name).ok_or_else(|| {
                anyhow!(
                    "{}: no tensor named '{name}' in the weight_map",
                    sh.index_path.display()
                )
            })?;
            let dir = sh.index_path.parent().unwrap_or(Path::new("."));
            let path = dir.join(shard);
            if !shards.contains_key(&path) {
                let f = SafetensorsFile::open(&path).with_context(|| {
                    format!(
                        "{}: shard '{shard}' holding tensor '{name}'",
                        sh.index_path.display()
                    )
                })?;
                shards.insert(path.clone(), f);
            }
            &shards[&path]
        }
        Source::Gguf(g) => bail!("{}: already GGUF", g.path.display()),
    };
    let p = st.path.display();
    let e = st
        .tensors
        .get(name)
        .ok_or_else(|| anyhow!("{p}: no tensor named '{name}'"))?;
    let dtype = DType::from_safetensors(&e.dtype).ok_or_else(|| {
        anyhow!(
            "{p}: tensor '{name}' has dtype {}, not F32, F16 or BF16",
            e.dtype
        )
    })?;
    let [n] = e.shape[..] else {
        bail!("{p}: tensor '{name}' has shape {:?}, expected 1-D", e.shape);
    };
    let want = dtype.row_bytes(n);
    if want != Some(e.end - e.begin) {
        bail!("{p}: tensor '{name}': byte range does not match its shape");
    }
    let mut f = File::open(&st.path).with_context(|| format!("{p}"))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).with_context(|| format!("{p}"))?;
    let start = 8 + u64::from_le_bytes(len) + e.begin as u64;
    f.seek(SeekFrom::Start(start))
        .with_context(|| format!("{p}"))?;
    let mut bytes = vec![0u8; e.end - e.begin];
    f.read_exact(&mut bytes)
        .with_context(|| format!("{p}: tensor '{name}'"))?;
    let mut v = vec![0f32; n];
    dtype.decode_row(&bytes, &mut v);
    Ok((st.path.clone(), dtype, v))
}

// ---------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------

/// `tokenizer.ggml.*` as llama.cpp reads them.
#[derive(Debug)]
struct TokenizerPlan {
    /// "llama" (SentencePiece-style BPE) or "gpt2" (byte-level BPE).
    model: &'static str,
    tokens: Vec<String>,
    scores: Option<Vec<f32>>,
    types: Vec<i32>,
    merges: Option<Vec<String>>,
    add_space_prefix: Option<bool>,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<String>,
}

/// llama.cpp's token types (`llama_token_type`), as SentencePiece numbers them.
const T_NORMAL: i32 = 1;
const T_UNKNOWN: i32 = 2;
const T_CONTROL: i32 = 3;
const T_USER_DEFINED: i32 = 4;
const T_UNUSED: i32 = 5;
const T_BYTE: i32 = 6;

/// How the tokenizer splits text, decided from its serialized pipeline.
enum Kind {
    /// `▁` for spaces, merges replayed by llama.cpp from per-piece scores.
    Spm { add_space_prefix: bool },
    /// GPT-2's byte-level BPE with its own split regex.
    Gpt2,
}

impl TokenizerPlan {
    fn read(
        dir: &Path,
        hp: &HParams,
        config: &Value,
        notes: &mut Vec<String>,
    ) -> Result<TokenizerPlan> {
        let vocab = vocab::load(dir, &LoadOptions::default())?;
        let src = vocab.source.display().to_string();
        let tk = serde_json::to_value(&vocab.tokenizer)
            .map_err(|e| anyhow!("{src}: cannot serialize the tokenizer: {e}"))?;
        let kind = classify(&tk, notes).map_err(|e| anyhow!("{src}: {e}"))?;
        let n = hp.vocab_size;
        if vocab.len() > n {
            bail!(
                "{src}: the tokenizer has {} ids but {} says vocab_size {n}",
                vocab.len(),
                hp.config_path.display()
            );
        }
        let merges = bpe_merges(&tk["model"]).map_err(|e| anyhow!("{src}: {e}"))?;
        let byte_fallback = tk["model"]["byte_fallback"].as_bool() == Some(true);

        // Ids the model has but the tokenizer lacks get the filler llama.cpp's converter
        // writes, typed unused so that no text can produce them.
        let mut tokens = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        for id in 0..n {
            match vocab.raw(id as u32) {
                Some(t) => {
                    tokens.push(t.to_string());
                    types.push(token_type(&vocab, id, t, byte_fallback));
                }
                None => {
                    tokens.push(format!("[PAD{id}]"));
                    types.push(T_UNUSED);
                }
            }
        }
        let mut plan = TokenizerPlan {
            model: "llama",
            tokens,
            scores: None,
            types,
            merges: None,
            add_space_prefix: None,
            bos: vocab.bos_id.or_else(|| config_id(config, "bos_token_id")),
            eos: vocab.eos_id.or_else(|| config_id(config, "eos_token_id")),
            unk: vocab.unk_id,
            pad: vocab.pad_id,
            add_bos: false,
            add_eos: false,
            chat_template: None,
        };
        match kind {
            Kind::Spm { add_space_prefix } => {
                let (scores, orphans) = spm_scores(&plan.tokens, &plan.types, &merges);
                if orphans > 0 {
                    notes.push(format!(
                        "{orphans} multi-character pieces are produced by no merge; they get \
                         the lowest score, so llama.cpp may still form them where the \
                         tokenizer never would"
                    ));
                }
                plan.scores = Some(scores);
                plan.add_space_prefix = Some(add_space_prefix);
            }
            Kind::Gpt2 => {
                plan.model = "gpt2";
                let mut list = Vec::with_capacity(merges.len());
                for (i, (a, b)) in merges.iter().enumerate() {
                    if a.contains(' ') || b.contains(' ') {
                        bail!("{src}: merge #{i} ({a:?}, {b:?}) contains a space, which GGUF's \"a b\" merges cannot hold");
                    }
                    list.push(format!("{a} {b}"));
                }
                plan.merges = Some(list);
            }
        }
        let tok_config = read_json_if_present(&dir.join("tokenizer_config.json"))?;
        let flag = |key: &str| {
            tok_config
                .as_ref()
                .and_then(|c| c.get(key))
                .and_then(|v| v.as_bool())
        };
        plan.add_bos = adds(&vocab, plan.bos, true).or_else(|| flag("add_bos_token")) == Some(true);
        plan.add_eos =
            adds(&vocab, plan.eos, false).or_else(|| flag("add_eos_token")) == Some(true);
        plan.chat_template = tok_config
            .as_ref()
            .and_then(|c| c.get("chat_template"))
            .and_then(|v| v.as_str())
            .map(String::from);
        Ok(plan)
    }

    fn add_metadata(&self, w: &mut GgufWriter) -> Result<()> {
        w.add("tokenizer.ggml.model", s_(self.model))?;
        if self.model == "gpt2" {
            w.add("tokenizer.ggml.pre", s_("gpt-2"))?;
        }
        w.add(
            "tokenizer.ggml.tokens",
            GgufValue::Array(GgufArray::Str(self.tokens.clone())),
        )?;
        if let Some(s) = &self.scores {
            w.add(
                "tokenizer.ggml.scores",
                GgufValue::Array(GgufArray::F32(s.clone())),
            )?;
        }
        w.add(
            "tokenizer.ggml.token_type",
            GgufValue::Array(GgufArray::I32(self.types.clone())),
        )?;
        if let Some(m) = &self.merges {
            w.add(
                "tokenizer.ggml.merges",
                GgufValue::Array(GgufArray::Str(m.clone())),
            )?;
        }
        let ids = [
            ("tokenizer.ggml.bos_token_id", self.bos),
            ("tokenizer.ggml.eos_token_id", self.eos),
            ("tokenizer.ggml.unknown_token_id", self.unk),
            ("tokenizer.ggml.padding_token_id", self.pad),
        ];
        for (key, id) in ids {
            if let Some(id) = id {
                w.add(key, GgufValue::U32(id))?;
            }
        }
        w.add(
            "tokenizer.ggml.add_bos_token",
            GgufValue::Bool(self.add_bos),
        )?;
        w.add(
            "tokenizer.ggml.add_eos_token",
            GgufValue::Bool(self.add_eos),
        )?;
        if let Some(p) = self.add_space_prefix {
            w.add("tokenizer.ggml.add_space_prefix", GgufValue::Bool(p))?;
        }
        if let Some(t) = &self.chat_template {
            w.add("tokenizer.chat_template", s_(t))?;
        }
        Ok(())
    }
}

/// An id from config.json (`eos_token_id` may be a list; llama.cpp takes one).
fn config_id(config: &Value, key: &str) -> Option<u32> {
    let v = config.get(key)?;
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    v.as_u64().and_then(|x| u32::try_from(x).ok())
}

/// Whether the tokenizer's post-processor puts `id` first (`first`) or last when special
/// tokens are added; `None` when it does not, so tokenizer_config.json decides (as the
/// verifier decides whether prompts start with BOS).
fn adds(vocab: &Vocab, id: Option<u32>, first: bool) -> Option<bool> {
    let id = id?;
    let with = vocab.tokenizer.encode_fast("a", true).ok()?;
    let without = vocab.tokenizer.encode_fast("a", false).ok()?;
    let ids = with.get_ids();
    let added = ids.len() > without.get_ids().len();
    let at = if first { ids.first() } else { ids.last() };
    (added && at == Some(&id)).then_some(true)
}

fn token_type(vocab: &Vocab, id: usize, piece: &str, byte_fallback: bool) -> i32 {
    if vocab.unk_id == Some(id as u32) {
        return T_UNKNOWN;
    }
    match vocab.kinds.get(id).copied().unwrap_or(PieceKind::Normal) {
        PieceKind::Unknown => T_UNKNOWN,
        PieceKind::Control => T_CONTROL,
        PieceKind::UserDefined => T_USER_DEFINED,
        PieceKind::Unused => T_UNUSED,
        PieceKind::Byte => T_BYTE,
        PieceKind::Normal if byte_fallback && is_byte_piece(piece) => T_BYTE,
        PieceKind::Normal if vocab.special_ids.contains(&(id as u32)) => T_CONTROL,
        PieceKind::Normal => T_NORMAL,
    }
}

/// `<0xXX>`: SentencePiece's byte-fallback pieces (llama.cpp maps them back to bytes).
fn is_byte_piece(p: &str) -> bool {
    p.len() == 6
        && p.starts_with("<0x")
        && p.ends_with('>')
        && p[3..5].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Scores that make llama.cpp's SentencePiece merging (repeatedly join the adjacent pair
/// whose joined piece has the highest score, leftmost on ties) replay the BPE merge order:
/// a piece's score is minus the rank of the first merge producing it. Pieces no merge
/// produces get 0 when they are single characters, bytes or specials (their score is never
/// consulted) and the lowest score otherwise, so they are formed last if at all. Returns
/// the scores and the number of such orphan pieces.
fn spm_scores(tokens: &[String], types: &[i32], merges: &[(String, String)]) -> (Vec<f32>, usize) {
    let mut rank: HashMap<String, usize> = HashMap::with_capacity(merges.len());
    for (r, (a, b)) in merges.iter().enumerate() {
        rank.entry(format!("{a}{b}")).or_insert(r);
    }
    let lowest = -(merges.len() as f32);
    let mut orphans = 0;
    let scores = tokens
        .iter()
        .zip(types)
        .map(|(t, &ty)| match rank.get(t) {
            Some(&r) => -(r as f32),
            None if matches!(ty, T_NORMAL | T_USER_DEFINED) && t.chars().nth(1).is_some() => {
                orphans += 1;
                lowest
            }
            None => 0.0,
        })
        .collect();
    (scores, orphans)
}

/// The BPE merges in rank order, from the serialized model (pairs, or "a b" strings in
/// older files).
fn bpe_merges(model: &Value) -> std::result::Result<Vec<(String, String)>, String> {
    let Some(list) = model.get("merges").and_then(|m| m.as_array()) else {
        return Err("the BPE model has no merges".into());
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let pair = match m {
                Value::String(s) => s.split_once(' ').map(|(a, b)| (a.into(), b.into())),
                Value::Array(a) if a.len() == 2 => a[0]
                    .as_str()
                    .zip(a[1].as_str())
                    .map(|(x, y)| (x.into(), y.into())),
                _ => None,
            };
            pair.ok_or_else(|| format!("merge #{i} is not a pair: {m}"))
        })
        .collect()
}

/// The parts of a component (normalizer, pre-tokenizer), with `Sequence`s flattened.
fn parts(v: &Value) -> Vec<&Value> {
    match v.get("type").and_then(|t| t.as_str()) {
        Some("Sequence") => v
            .get("normalizers")
            .or_else(|| v.get("pretokenizers"))
            .and_then(|a| a.as_array())
            .map(|a| a.iter().flat_map(parts).collect())
            .unwrap_or_default(),
        Some(_) => vec![v],
        None => vec![],
    }
}

fn type_of(v: &Value) -> &str {
    v.get("type").and_then(|t| t.as_str()).unwrap_or("?")
}

/// Decide which llama.cpp tokenizer reproduces this pipeline. Errors say why none does;
/// pipeline steps llama.cpp skips but that rarely matter become notes.
fn classify(tk: &Value, notes: &mut Vec<String>) -> std::result::Result<Kind, String> {
    let model = &tk["model"];
    let mtype = type_of(model);
    if mtype != "BPE" {
        return Err(format!(
            "tokenizer model {mtype} is not supported (export-gguf writes SentencePiece-style \
             BPE with byte fallback, or GPT-2 byte-level BPE)"
        ));
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if model[key].as_str().is_some_and(|s| !s.is_empty()) {
            return Err(format!("BPE {key} is not supported"));
        }
    }
    if model["ignore_merges"].as_bool() == Some(true) {
        return Err("BPE ignore_merges is not supported".into());
    }
    let norms = parts(&tk["normalizer"]);
    let pres = parts(&tk["pre_tokenizer"]);
    if pres.iter().any(|p| type_of(p) == "ByteLevel") {
        let byte_level_only = pres.len() == 1
            && pres[0]["use_regex"].as_bool() != Some(false)
            && pres[0]["add_prefix_space"].as_bool() != Some(true);
        if !norms.is_empty() || !byte_level_only {
            return Err(
                "byte-level BPE whose normalizer or pre-tokenizer is not GPT-2's (a lone \
                 ByteLevel with its regex and no prefix space) is not supported"
                    .into(),
            );
        }
        return Ok(Kind::Gpt2);
    }
    let is = |v: &Value, key: &str, want: &str| v[key].as_str() == Some(want);
    let space_to_meta = |n: &&Value| {
        type_of(n) == "Replace" && is(&n["pattern"], "String", " ") && is(n, "content", "▁")
    };
    let metaspace = pres.iter().find(|p| type_of(p) == "Metaspace");
    if !norms.iter().any(space_to_meta) && metaspace.is_none() {
        return Err(
            "BPE tokenizer is neither byte-level nor SentencePiece-style (spaces as ▁); not \
             supported"
                .into(),
        );
    }
    let prepend = norms
        .iter()
        .any(|n| type_of(n) == "Prepend" && is(n, "prepend", "▁"));
    let meta_prepends = metaspace.is_some_and(|m| {
        m["prepend_scheme"]
            .as_str()
            .map_or(m["add_prefix_space"].as_bool() == Some(true), |s| {
                s != "never"
            })
    });
    for n in &norms {
        let harmless = space_to_meta(n)
            || (type_of(n) == "Prepend" && is(n, "prepend", "▁"))
            // Doubling a leading ▁ before a prepending Metaspace is SentencePiece's dummy
            // prefix written another way.
            || (type_of(n) == "Replace"
                && is(&n["pattern"], "Regex", "\\A▁")
                && is(n, "content", "▁▁"));
        if !harmless {
            notes.push(format!(
                "the tokenizer's {} normalizer step ({n}) has no llama.cpp equivalent; text \
                 it changes may encode differently in llama.cpp",
                type_of(n)
            ));
        }
    }
    for p in &pres {
        if type_of(p) != "Metaspace" || p["split"].as_bool() == Some(true) {
            notes.push(format!(
                "the tokenizer's {} pre-tokenizer step ({p}) has no llama.cpp equivalent",
                type_of(p)
            ));
        }
    }
    Ok(Kind::Spm {
        add_space_prefix: prepend || meta_prepends,
    })
}

/// A small JSON file beside the model, when present. Unlike the vocabulary loader, which
/// only looks for token names in it, a broken file is an error here: add_bos_token and
/// the chat template change what llama.cpp feeds the model.
fn read_json_if_present(path: &Path) -> Result<Option<Value>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("{}: {e}", path.display())),
    };
    if !meta.is_file() || meta.len() > MAX_JSON_LEN {
        bail!(
            "{}: not a regular JSON file of at most {MAX_JSON_LEN} bytes",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let v = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("{}: not valid JSON: {e}", path.display()))?;
    Ok(Some(v))
}
