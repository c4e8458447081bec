//! `export-gguf`: the GGUF written for each real model reads back with the project's GGUF
//! reader with the right metadata and every tensor equal to the checkpoint's (Q/K rows
//! permuted to ggml's RoPE layout); its vocabulary encodes real text to the same ids as the
//! model's tokenizer.json; a forward pass through it with candle's GGUF llama reproduces
//! the transformers reference logits; bad input fails cleanly and leaves no file.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use half::f16;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use tokenaudit::export::{self, ExportReport, ExportSettings};
use tokenaudit::gguf::writer::{GgmlType, GgufWriter, TensorSpec};
use tokenaudit::gguf::{GgufArray, GgufFile, GgufValue};
use tokenaudit::vocab::{self, LoadOptions};

fn model_dir(name: &str) -> PathBuf {
    common::data().join("models").join(name)
}

fn export_model(dir: &Path, out: &Path, dtype: Option<GgmlType>) -> ExportReport {
    export::run(&ExportSettings {
        model_dir: dir.to_path_buf(),
        out: out.to_path_buf(),
        dtype,
    })
    .unwrap_or_else(|e| panic!("exporting {}: {e:#}", dir.display()))
}

fn config(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

/// A tensor of a safetensors file as f32 values, with its dtype and shape.
fn st_values(st: &SafeTensors, name: &str) -> (Dtype, Vec<usize>, Vec<f32>) {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let v = match t.dtype() {
        Dtype::F32 => t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        Dtype::F16 => t
            .data()
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => t
            .data()
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        d => panic!("{name}: dtype {d:?}"),
    };
    (t.dtype(), t.shape().to_vec(), v)
}

/// A GGUF tensor as f32 values (f32 or f16 data).
fn gguf_values(g: &GgufFile, name: &str) -> (u32, Vec<u64>, Vec<f32>) {
    let t = g.tensor(name).unwrap_or_else(|| panic!("no tensor {name}"));
    let bytes = g.tensor_bytes(t).unwrap();
    let v = match t.ggml_type {
        0 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        1 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        ty => panic!("{name}: ggml type {ty}"),
    };
    (t.ggml_type, t.dims.clone(), v)
}

/// The Hugging Face tensor each GGUF tensor comes from, and the head count of Q and K,
/// written out independently of the exporter's own table.
fn hf_source(gguf: &str, cfg: &Value) -> (String, Option<usize>) {
    let heads = cfg["num_attention_heads"].as_u64().unwrap() as usize;
    let kv = cfg["num_key_value_heads"].as_u64().unwrap() as usize;
    match gguf {
        "token_embd.weight" => ("model.embed_tokens.weight".into(), None),
        "output_norm.weight" => ("model.norm.weight".into(), None),
        "output.weight" => ("lm_head.weight".into(), None),
        _ => {
            let rest = gguf.strip_prefix("blk.").unwrap();
            let (n, part) = rest.split_once('.').unwrap();
            let (hf, perm) = match part {
                "attn_norm.weight" => ("input_layernorm", None),
                "attn_q.weight" => ("self_attn.q_proj", Some(heads)),
                "attn_k.weight" => ("self_attn.k_proj", Some(kv)),
                "attn_v.weight" => ("self_attn.v_proj", None),
                "attn_output.weight" => ("self_attn.o_proj", None),
                "ffn_norm.weight" => ("post_attention_layernorm", None),
                "ffn_gate.weight" => ("mlp.gate_proj", None),
                "ffn_up.weight" => ("mlp.up_proj", None),
                "ffn_down.weight" => ("mlp.down_proj", None),
                other => panic!("unexpected GGUF tensor {other}"),
            };
            (format!("model.layers.{n}.{hf}.weight"), perm)
        }
    }
}

/// convert_hf_to_gguf.py's permute on a row-major [rows, cols] matrix:
/// `w.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2).reshape(rows, cols)`.
fn permute(w: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let half = rows / n_head / 2;
    let mut out = vec![0f32; w.len()];
    for h in 0..n_head {
        for j in 0..2 {
            for i in 0..half {
                let src = (h * 2 + j) * half + i; // index in [n_head, 2, half]
                let dst = (h * half + i) * 2 + j; // index in [n_head, half, 2]
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

fn meta_u64(g: &GgufFile, key: &str) -> u64 {
    match g.get(key) {
        Some(GgufValue::U32(v)) => u64::from(*v),
        other => panic!("{key}: expected u32, found {other:?}"),
    }
}

fn meta_f32(g: &GgufFile, key: &str) -> f32 {
    match g.get(key) {
        Some(GgufValue::F32(v)) => *v,
        other => panic!("{key}: expected f32, found {other:?}"),
    }
}

/// Check the metadata and every tensor of an exported file against its model directory.
/// `want_matrix` is the ggml type the matrices must have.
fn check_export(name: &str, path: &Path, want_matrix: u32) {
    let dir = model_dir(name);
    let cfg = config(&dir);
    let g = GgufFile::open(path).unwrap();
    let u = |k: &str| cfg[k].as_u64().unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.get_str("general.architecture"), Some("llama"));
    assert_eq!(g.get_str("general.name"), Some(name));
    assert_eq!(meta_u64(&g, "general.alignment"), 32);
    assert_eq!(
        meta_u64(&g, "general.file_type"),
        u64::from(want_matrix),
        "{name}"
    );
    for (key, cfg_key) in [
        ("llama.context_length", "max_position_embeddings"),
        ("llama.embedding_length", "hidden_size"),
        ("llama.block_count", "num_hidden_layers"),
        ("llama.feed_forward_length", "intermediate_size"),
        ("llama.attention.head_count", "num_attention_heads"),
        ("llama.attention.head_count_kv", "num_key_value_heads"),
        ("llama.rope.dimension_count", "head_dim"),
        ("llama.attention.key_length", "head_dim"),
        ("llama.attention.value_length", "head_dim"),
        ("llama.vocab_size", "vocab_size"),
    ] {
        assert_eq!(meta_u64(&g, key), u(cfg_key), "{name} {key}");
    }
    assert_eq!(
        meta_f32(&g, "llama.attention.layer_norm_rms_epsilon"),
        cfg["rms_norm_eps"].as_f64().unwrap() as f32
    );
    assert_eq!(
        meta_f32(&g, "llama.rope.freq_base"),
        cfg["rope_theta"].as_f64().unwrap() as f32
    );

    // Tokenizer metadata.
    let n_vocab = u("vocab_size") as usize;
    let tokens = g.get_str_array("tokenizer.ggml.tokens").unwrap();
    let types = g.get_i32_array("tokenizer.ggml.token_type").unwrap();
    assert_eq!(tokens.len(), n_vocab);
    assert_eq!(types.len(), n_vocab);
    assert_eq!(
        meta_u64(&g, "tokenizer.ggml.bos_token_id"),
        u("bos_token_id")
    );
    assert_eq!(
        meta_u64(&g, "tokenizer.ggml.eos_token_id"),
        u("eos_token_id")
    );
    // All three tokenizers add BOS (the two SentencePiece ones by their post-processor,
    // tiny-gpt2tok by tokenizer_config.json's add_bos_token), none adds EOS.
    assert_eq!(g.get_bool("tokenizer.ggml.add_bos_token"), Some(true));
    assert_eq!(g.get_bool("tokenizer.ggml.add_eos_token"), Some(false));
    if name == "tiny-gpt2tok" {
        assert_eq!(g.get_str("tokenizer.ggml.model"), Some("gpt2"));
        assert_eq!(g.get_str("tokenizer.ggml.pre"), Some("gpt-2"));
        assert_eq!(tokens[50256], "<|endoftext|>");
        assert_eq!(tokens[11], ",");
        assert_eq!(tokens[262], "Ġthe");
        let control: Vec<usize> = (0..n_vocab).filter(|&i| types[i] == 3).collect();
        assert_eq!(control, [50256]);
        assert!(types.iter().all(|&t| t == 1 || t == 3));
        let merges = g.get_str_array("tokenizer.ggml.merges").unwrap();
        assert_eq!(merges.len(), 50000);
        assert_eq!(&merges[..3], ["Ġ t", "Ġ a", "h e"]);
        assert!(g.get("tokenizer.ggml.scores").is_none());
    } else {
        assert_eq!(g.get_str("tokenizer.ggml.model"), Some("llama"));
        assert_eq!(g.get_bool("tokenizer.ggml.add_space_prefix"), Some(true));
        assert_eq!(meta_u64(&g, "tokenizer.ggml.unknown_token_id"), 0);
        assert_eq!(&tokens[..3], ["<unk>", "<s>", "</s>"]);
        assert_eq!(&types[..3], [2, 3, 3]);
        assert_eq!(tokens[3], "<0x00>");
        assert_eq!(tokens[258], "<0xFF>");
        assert!(types[3..259].iter().all(|&t| t == 6), "{name}: byte types");
        assert!(types[259..].iter().all(|&t| t == 1), "{name}: normal types");
        // Scores: minus the rank of the first merge producing the piece (tokenizer.json
        // lists merges in rank order).
        let tj: Value =
            serde_json::from_slice(&std::fs::read(dir.join("tokenizer.json")).unwrap()).unwrap();
        let mut rank: BTreeMap<String, usize> = BTreeMap::new();
        for (r, m) in tj["model"]["merges"].as_array().unwrap().iter().enumerate() {
            let piece = format!("{}{}", m[0].as_str().unwrap(), m[1].as_str().unwrap());
            rank.entry(piece).or_insert(r);
        }
        let scores = g.get_f32_array("tokenizer.ggml.scores").unwrap();
        for (i, t) in tokens.iter().enumerate() {
            let want = rank.get(t).map_or(0.0, |&r| -(r as f32));
            assert_eq!(scores[i], want, "{name}: score of {t:?}");
        }
        assert!(g.get("tokenizer.ggml.merges").is_none());
    }

    // Tensors: exactly llama.cpp's set, each equal to its source.
    let layers = u("num_hidden_layers") as usize;
    let tied = cfg["tie_word_embeddings"].as_bool().unwrap();
    let mut want_names = vec!["token_embd.weight".to_string(), "output_norm.weight".into()];
    if !tied {
        want_names.push("output.weight".into());
    }
    for n in 0..layers {
        for p in [
            "attn_norm",
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_norm",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
        ] {
            want_names.push(format!("blk.{n}.{p}.weight"));
        }
    }
    let mut got_names: Vec<String> = g.tensors.iter().map(|t| t.name.clone()).collect();
    want_names.sort();
    got_names.sort();
    assert_eq!(got_names, want_names, "{name}: tensor set");

    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for t in &g.tensors {
        assert_eq!(t.offset % 32, 0);
        let (src, perm) = hf_source(&t.name, &cfg);
        let (dtype, shape, mut want) = st_values(&st, &src);
        let (ty, dims, got) = gguf_values(&g, &t.name);
        let rev: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
        assert_eq!(dims, rev, "{name} {}: dims", t.name);
        if shape.len() == 1 {
            assert_eq!(ty, 0, "{name} {}: norms are f32", t.name);
        } else {
            assert_eq!(ty, want_matrix, "{name} {}: matrix type", t.name);
            if let Some(n_head) = perm {
                want = permute(&want, shape[0], shape[1], n_head);
            }
            if ty == 1 && dtype != Dtype::F16 {
                want = want.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
            }
        }
        // Decoding f16/bf16 to f32 is exact, so equal values mean equal data.
        assert!(got == want, "{name} {}: data differs", t.name);
        if t.name == "token_embd.weight" && dtype == Dtype::F16 && ty == 1 {
            let raw = g.tensor_bytes(t).unwrap();
            assert_eq!(
                raw,
                st.tensor(&src).unwrap().data(),
                "{name}: byte-exact f16"
            );
        }
    }
}

#[test]
fn metadata_and_every_tensor_match_the_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, dtype, want_matrix) in [
        ("tiny-llama2tok", None, 1),
        ("tiny-gpt2tok", None, 0),
        ("stories260K", None, 0),
        ("tiny-gpt2tok", Some(GgmlType::F16), 1),
        ("tiny-llama2tok", Some(GgmlType::F32), 0),
    ] {
        let out = tmp.path().join(format!("{name}-{want_matrix}.gguf"));
        let r = export_model(&model_dir(name), &out, dtype);
        assert_eq!(r.matrix_type.id(), want_matrix);
        assert_eq!(r.bytes, std::fs::metadata(&out).unwrap().len());
        check_export(name, &out, want_matrix);
        // The two SentencePiece models need no notes; stories260K's tokenizer collapses
        // runs of spaces, which llama.cpp does not.
        match name {
            "stories260K" => assert_eq!(r.notes.len(), 2, "{:?}", r.notes),
            _ => assert!(r.notes.is_empty(), "{name}: {:?}", r.notes),
        }
    }
}

#[test]
fn exported_vocab_encodes_real_text_like_tokenizer_json() {
    let lines = common::corpus_lines();
    assert!(lines.len() > 40_000);
    let tmp = tempfile::tempdir().unwrap();
    for name in ["tiny-llama2tok", "tiny-gpt2tok"] {
        let dir = model_dir(name);
        let out = tmp.path().join(format!("{name}.gguf"));
        export_model(&dir, &out, None);
        let from_gguf = vocab::load(&out, &LoadOptions::default()).unwrap();
        assert_eq!(from_gguf.format, vocab::Format::Gguf);
        let hf = common::load_path(&dir.join("tokenizer.json"));
        assert_eq!(from_gguf.len(), hf.len());
        assert_eq!(from_gguf.bos_id, hf.bos_id);
        assert_eq!(from_gguf.eos_id, hf.eos_id);
        let (n, ex) = common::disagreements(&hf, &from_gguf, &lines);
        assert_eq!(
            n,
            0,
            "{name}: {n} of {} lines encode differently:\n{}",
            lines.len(),
            ex.join("\n")
        );
    }
}

/// Largest |difference| from the reference logits seen over the three prompts of a model,
/// with the bound it must stay under. Measured: see docs/usage.md.
fn forward_matches_reference(name: &str, dtype: Option<GgmlType>, tol: f32) {
    let dir = model_dir(name);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m.gguf");
    export_model(&dir, &out, dtype);
    let mut f = std::fs::File::open(&out).unwrap();
    let content = gguf_file::Content::read(&mut f).unwrap();
    let mut model = ModelWeights::from_gguf(content, &mut f, &Device::Cpu).unwrap();

    let mut worst = 0f32;
    for (k, r) in common::references(&dir).into_iter().enumerate() {
        let (ids, want) = (r.ids, r.last_logits);
        let x = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let got: Vec<f32> = model
            .forward(&x, 0)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(got.len(), want.len());
        let diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst = worst.max(diff);
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0
        };
        assert_eq!(argmax(&got), argmax(&want), "{name} prompt {k}: argmax");
        assert_eq!(
            argmax(&got) as u64,
            r.greedy[0] as u64,
            "{name} prompt {k}: first greedy id"
        );
    }
    eprintln!("{name} {dtype:?}: max |logit - reference| = {worst:e} (bound {tol:e})");
    assert!(worst < tol, "{name}: max |logit diff| {worst} >= {tol}");
}

#[test]
fn forward_pass_reproduces_reference_logits_tiny_llama2tok() {
    forward_matches_reference("tiny-llama2tok", None, 1e-4);
}

#[test]
fn forward_pass_reproduces_reference_logits_tiny_gpt2tok() {
    forward_matches_reference("tiny-gpt2tok", None, 1e-4);
    forward_matches_reference("tiny-gpt2tok", Some(GgmlType::F16), 1e-4);
}

#[test]
fn forward_pass_reproduces_reference_logits_stories260k() {
    forward_matches_reference("stories260K", None, 1e-4);
}

/// A copy of a model directory's small files in a fresh directory named like the model.
fn copy_model(name: &str, into: &Path) -> PathBuf {
    let dst = into.join(name);
    std::fs::create_dir_all(&dst).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(model_dir(name).join(f), dst.join(f)).unwrap();
    }
    dst
}

/// Rewrite a copy's model.safetensors through `edit` (name, dtype, shape, bytes).
fn rewrite_weights(dir: &Path, edit: impl Fn(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    edit(&mut tensors);
    let refs: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.clone(), b.clone()))
        .collect();
    common::writers::write_st(&dir.join("model.safetensors"), &refs);
}

fn edit_config(dir: &Path, edit: impl Fn(&mut Value)) {
    let mut cfg = config(dir);
    edit(&mut cfg);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
}

/// Run the binary on `dir`, expect a clean one-line failure naming `file` and saying
/// `what`, and no file at all in the output directory.
fn assert_export_fails(dir: &Path, extra: &[&str], file: &str, what: &str) {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out.gguf");
    let res = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .arg("export-gguf")
        .arg(dir)
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    let code = res.status.code().unwrap_or(-1);
    assert_ne!(code, 0, "expected failure: {err}");
    assert_ne!(code, 101, "panicked: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(file), "error does not name {file}: {err}");
    assert!(err.contains(what), "error does not say '{what}': {err}");
    let left: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn bad_input_fails_cleanly_and_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();

    let d = copy_model("stories260K", &tmp.path().join("no-config"));
    std::fs::remove_file(d.join("config.json")).unwrap();
    assert_export_fails(&d, &[], "config.json", "missing");

    let d = copy_model("stories260K", &tmp.path().join("gpt2-type"));
    edit_config(&d, |c| c["model_type"] = "gpt2".into());
    assert_export_fails(&d, &[], "config.json", "model_type \"gpt2\"");

    let d = copy_model("stories260K", &tmp.path().join("rope-scaling"));
    edit_config(&d, |c| {
        c["rope_scaling"] = serde_json::json!({"rope_type": "linear", "factor": 2.0})
    });
    assert_export_fails(&d, &[], "config.json", "rope_scaling");

    let d = copy_model("stories260K", &tmp.path().join("missing-tensor"));
    rewrite_weights(&d, |t| {
        t.retain(|x| x.0 != "model.layers.2.mlp.up_proj.weight")
    });
    assert_export_fails(
        &d,
        &[],
        "model.safetensors",
        "'model.layers.2.mlp.up_proj.weight' is missing",
    );

    let d = copy_model("stories260K", &tmp.path().join("bias"));
    rewrite_weights(&d, |t| {
        t.push((
            "model.layers.0.self_attn.q_proj.bias".into(),
            Dtype::F32,
            vec![64],
            vec![0; 256],
        ))
    });
    assert_export_fails(&d, &[], "model.safetensors", "bias");

    // A failure while the data is being written (a value f16 cannot hold) must remove
    // the half-written temporary file too.
    let d = copy_model("stories260K", &tmp.path().join("overflow"));
    rewrite_weights(&d, |t| {
        let x = t
            .iter_mut()
            .find(|x| x.0 == "model.layers.4.mlp.down_proj.weight")
            .unwrap();
        x.3[..4].copy_from_slice(&1e6f32.to_le_bytes());
    });
    assert_export_fails(
        &d,
        &["--dtype", "f16"],
        "model.safetensors",
        "does not fit in f16",
    );

    // Not a directory at all.
    assert_export_fails(
        &model_dir("stories260K").join("model.safetensors"),
        &[],
        "model.safetensors",
        "not a model directory",
    );
}

#[test]
fn sharded_checkpoint_exports_the_same_file() {
    // The same weights split over two shards and an index must give a byte-identical GGUF
    // (same directory name, so the same general.name).
    let tmp = tempfile::tempdir().unwrap();
    let single = copy_model("stories260K", &tmp.path().join("a"));
    let sharded = copy_model("stories260K", &tmp.path().join("b"));
    let bytes = std::fs::read(sharded.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let mut map = serde_json::Map::new();
    for (k, part) in names.chunks(names.len() / 2 + 1).enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", k + 1);
        let tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = part
            .iter()
            .map(|n| {
                let t = st.tensor(n).unwrap();
                (n.as_str(), t.dtype(), t.shape().to_vec(), t.data().to_vec())
            })
            .collect();
        common::writers::write_st(&sharded.join(&file), &tensors);
        for n in part {
            map.insert(n.clone(), file.clone().into());
        }
    }
    std::fs::remove_file(sharded.join("model.safetensors")).unwrap();
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();

    let (a, b) = (tmp.path().join("a.gguf"), tmp.path().join("b.gguf"));
    export_model(&single, &a, None);
    export_model(&sharded, &b, None);
    assert!(
        std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
        "sharded export differs"
    );
}

#[test]
fn writer_round_trips_values_and_aligns_tensors() {
    let mut w = GgufWriter::new();
    let values = vec![
        ("a.u8", GgufValue::U8(7)),
        ("a.i16", GgufValue::I16(-3)),
        ("a.u32", GgufValue::U32(40_000)),
        ("a.i32", GgufValue::I32(-5)),
        ("a.f32", GgufValue::F32(0.25)),
        ("a.bool", GgufValue::Bool(true)),
        ("a.str", GgufValue::Str("▁héllo".into())),
        ("a.u64", GgufValue::U64(1 << 40)),
        ("a.f64", GgufValue::F64(-1.5)),
        (
            "a.strs",
            GgufValue::Array(GgufArray::Str(vec!["x".into(), String::new(), "Ġy".into()])),
        ),
        (
            "a.f32s",
            GgufValue::Array(GgufArray::F32(vec![-0.0, 1.0, f32::MIN])),
        ),
        ("a.i32s", GgufValue::Array(GgufArray::I32(vec![1, -2, 3]))),
        (
            "a.nested",
            GgufValue::Array(GgufArray::Array(vec![
                GgufArray::U8(vec![1, 2]),
                GgufArray::Bool(vec![false]),
            ])),
        ),
    ];
    for (k, v) in &values {
        w.add(k, v.clone()).unwrap();
    }
    assert!(w.add("a.u8", GgufValue::U8(1)).is_err(), "duplicate key");
    // Odd sizes, so that padding between tensors is needed.
    w.add_tensor(TensorSpec {
        name: "h".into(),
        dims: vec![3],
        ggml_type: GgmlType::F16,
    })
    .unwrap();
    w.add_tensor(TensorSpec {
        name: "m".into(),
        dims: vec![5, 3],
        ggml_type: GgmlType::F32,
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("w.gguf");
    let mut file = std::fs::File::create(&path).unwrap();
    let n = w
        .write(&mut file, |i, spec, out| {
            let bytes: Vec<u8> = match i {
                0 => [1.0f32, 2.0, 3.0]
                    .iter()
                    .flat_map(|&x| f16::from_f32(x).to_le_bytes())
                    .collect(),
                _ => (0..15).flat_map(|x| (x as f32).to_le_bytes()).collect(),
            };
            assert_eq!(bytes.len() as u64, spec.n_bytes());
            out.write_all(&bytes)?;
            Ok(())
        })
        .unwrap();
    drop(file);
    assert_eq!(n, std::fs::metadata(&path).unwrap().len());
    let g = GgufFile::open(&path).unwrap();
    assert_eq!(g.metadata.len(), values.len());
    for ((k, v), (gk, gv)) in values.iter().zip(&g.metadata) {
        assert_eq!(k, gk);
        if let (GgufValue::F32(a), GgufValue::F32(b)) = (v, gv) {
            assert_eq!(a.to_bits(), b.to_bits());
        } else {
            assert_eq!(v, gv, "{k}");
        }
    }
    assert_eq!(gguf_values(&g, "h").2, [1.0, 2.0, 3.0]);
    let (ty, dims, m) = gguf_values(&g, "m");
    assert_eq!((ty, dims), (0, vec![5, 3]));
    assert_eq!(m, (0..15).map(|x| x as f32).collect::<Vec<_>>());
    assert_eq!(g.tensor("m").unwrap().offset, 32);

    // A callback that writes the wrong number of bytes is caught.
    let err = w
        .write(&mut Vec::new(), |_, _, out| {
            out.write_all(&[0; 2])?;
            Ok(())
        })
        .unwrap_err();
    assert!(err.to_string().contains("bytes of data written"), "{err}");
}
