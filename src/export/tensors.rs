//! The tensor plan: which Hugging Face tensor becomes which GGUF tensor, checked
//! (presence, shape, dtype) before the output exists, and the streaming of their data
//! (Q/K rows permuted, rows converted to the output type).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use half::f16;

use super::hparams::HParams;
use crate::gguf::writer::GgmlType;
use crate::weights::{Checkpoint, DType, Matrix, SafetensorsFile, Source};

/// One output tensor: where its data comes from and how it is reshaped.
#[derive(Debug)]
pub(super) struct TensorPlan {
    /// The GGUF name.
    pub(super) gguf: String,
    /// The Hugging Face name.
    pub(super) src: String,
    /// Hugging Face shape: `[rows, cols]` for matrices, `[len]` for vectors.
    shape: Vec<usize>,
    src_dtype: DType,
    /// Q and K: the number of heads whose rows are permuted to ggml's RoPE layout.
    permute_heads: Option<usize>,
    /// Norm weights, read whole at planning time (they are a few KB).
    vector: Option<Vec<f32>>,
}

impl TensorPlan {
    /// Dims in ggml order (innermost first).
    pub(super) fn gguf_dims(&self) -> Vec<u64> {
        self.shape.iter().rev().map(|&d| d as u64).collect()
    }

    /// Matrices take the chosen type; 1-D weights stay f32 as llama.cpp's converter keeps
    /// them (they are tiny, and some backends only add/multiply f32 norms).
    pub(super) fn out_type(&self, matrix_type: GgmlType) -> GgmlType {
        if self.vector.is_some() {
            GgmlType::F32
        } else {
            matrix_type
        }
    }

    /// Stream the data in type `ty`.
    pub(super) fn write_data(
        &self,
        ck: &Checkpoint,
        ty: GgmlType,
        out: &mut dyn Write,
    ) -> Result<()> {
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
pub(super) fn default_matrix_type(tensors: &[TensorPlan]) -> GgmlType {
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
pub(super) fn plan_tensors(
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
