//! The weights layer: real checkpoints, copies of one matrix in every dtype and container,
//! sharded checkpoints, and hostile or wrong input.
//!
//! Expected values are computed here independently of the library: safetensors headers
//! are read with serde_json and the raw bytes decoded by hand (bf16 by a shift, f16 by its
//! bit fields), and GGUF files are written byte by byte.

use std::path::{Path, PathBuf};

use safetensors::Dtype;
use tokenaudit::weights::{Checkpoint, DType, WeightsError};

use crate::common;
use common::writers::*;

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/models")
}

// ---------------------------------------------------------------------------------------
// Independent decoding of real files
// ---------------------------------------------------------------------------------------

/// f16 bits → f32 from the IEEE 754 bit fields, without the `half` crate.
fn f16_by_hand(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let man = f32::from(h & 0x3ff);
    match exp {
        0 => sign * man * 2f32.powi(-24),
        31 if man == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + man / 1024.0) * 2f32.powi(e - 15),
    }
}

/// Row `row` of tensor `name` of a safetensors file, decoded from the raw file bytes.
fn row_by_hand(file: &Path, name: &str, row: usize) -> Vec<f32> {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let t = &header[name];
    let dtype = t["dtype"].as_str().unwrap();
    let cols = t["shape"][1].as_u64().unwrap() as usize;
    let begin = t["data_offsets"][0].as_u64().unwrap() as usize;
    let size = match dtype {
        "F32" => 4,
        _ => 2,
    };
    let start = 8 + n + begin + row * cols * size;
    let raw = &bytes[start..start + cols * size];
    match dtype {
        "F32" => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        "F16" => raw
            .chunks_exact(2)
            .map(|b| f16_by_hand(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        "BF16" => raw
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        d => panic!("unexpected dtype {d}"),
    }
}

fn assert_rows_match(ck: &Checkpoint, file: &Path, name: &str, rows: &[usize]) {
    let m = ck.matrix(name).unwrap();
    for &r in rows {
        let want = row_by_hand(file, name, r);
        let got = m.row(r);
        assert_eq!(got.len(), want.len());
        for (c, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{name} row {r} col {c}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn tiny_llama2tok_is_untied_f16() {
    let dir = models().join("tiny-llama2tok");
    let ck = Checkpoint::open(&dir).unwrap();
    assert!(!ck.is_tied(), "{}", ck.tie_reason());
    assert!(ck.tie_reason().contains("tie_word_embeddings = false"));
    assert_eq!(ck.config().unwrap()["model_type"], "llama");
    let e = ck.embeddings(None, None).unwrap();
    assert_eq!(e.input.name, "model.embed_tokens.weight");
    assert_eq!(
        (e.input.rows, e.input.cols, e.input.dtype),
        (32000, 128, DType::F16)
    );
    let out = e.output.as_ref().expect("untied");
    assert_eq!(out.name, "lm_head.weight");
    assert_eq!((out.rows, out.cols, out.dtype), (32000, 128, DType::F16));
    let file = dir.join("model.safetensors");
    assert_rows_match(
        &ck,
        &file,
        "model.embed_tokens.weight",
        &[0, 1, 13, 830, 31999],
    );
    assert_rows_match(&ck, &file, "lm_head.weight", &[0, 2, 29901, 31999]);
}

#[test]
fn tiny_gpt2tok_is_tied_bf16() {
    let dir = models().join("tiny-gpt2tok");
    let ck = Checkpoint::open(&dir).unwrap();
    assert!(ck.is_tied());
    let e = ck.embeddings(None, None).unwrap();
    assert!(e.is_tied());
    assert_eq!(
        (e.input.rows, e.input.cols, e.input.dtype),
        (50257, 96, DType::BF16)
    );
    assert_eq!(e.unembedding().name, "model.embed_tokens.weight");
    let file = dir.join("model.safetensors");
    assert_rows_match(
        &ck,
        &file,
        "model.embed_tokens.weight",
        &[0, 198, 930, 40322, 50256],
    );
}

#[test]
fn stories260k_is_tied_f32() {
    let dir = models().join("stories260K");
    let ck = Checkpoint::open(&dir).unwrap();
    assert!(ck.is_tied());
    let e = ck.embeddings(None, None).unwrap();
    assert!(e.output.is_none());
    assert_eq!(
        (e.input.rows, e.input.cols, e.input.dtype),
        (512, 64, DType::F32)
    );
    let file = dir.join("model.safetensors");
    assert_rows_match(
        &ck,
        &file,
        "model.embed_tokens.weight",
        &[0, 1, 2, 100, 511],
    );
    // A file given directly reads the config.json beside it.
    let ck2 = Checkpoint::open(&file).unwrap();
    assert!(ck2.config().is_some());
    assert!(ck2.is_tied());
}

#[test]
fn checkpoint_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Checkpoint>();
    assert_send_sync::<tokenaudit::weights::Matrix<'static>>();
}

#[test]
fn parallel_rows_match_serial_rows() {
    let ck = Checkpoint::open(&models().join("tiny-gpt2tok")).unwrap();
    let m = ck.embeddings(None, None).unwrap().input;
    let par: Vec<f64> = m.map_rows_par(|_, r| r.iter().map(|&x| f64::from(x) * f64::from(x)).sum());
    assert_eq!(par.len(), m.rows);
    for i in [0, 1, 777, m.rows - 1] {
        let s: f64 = m.row(i).iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        assert_eq!(par[i], s);
    }
    let count = std::sync::atomic::AtomicUsize::new(0);
    m.for_each_row_par(|_, r| {
        assert_eq!(r.len(), 96);
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(count.into_inner(), m.rows);
}

#[test]
fn overrides_pick_the_named_tensors() {
    let ck = Checkpoint::open(&models().join("tiny-llama2tok")).unwrap();
    let e = ck
        .embeddings(Some("lm_head.weight"), Some("model.embed_tokens.weight"))
        .unwrap();
    assert_eq!(e.input.name, "lm_head.weight");
    assert_eq!(e.output.unwrap().name, "model.embed_tokens.weight");
    // Naming the input embedding as the unembedding means tied.
    let e = ck
        .embeddings(None, Some("model.embed_tokens.weight"))
        .unwrap();
    assert!(e.is_tied());
    let err = ck
        .embeddings(Some("nope.weight"), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--embedding nope.weight: no such tensor"),
        "{err}"
    );
    assert!(err.contains("model.embed_tokens.weight"), "{err}");
    // An unembedding whose rows do not match the input embedding's is refused.
    let err = ck
        .embeddings(None, Some("model.layers.0.mlp.down_proj.weight"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("rows of 384 values"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Writers: safetensors through the crate, GGUF by hand
// ---------------------------------------------------------------------------------------

/// The first `rows` rows of tiny-llama2tok's input embedding, in f32.
fn reference_rows(rows: usize) -> (Vec<f32>, usize) {
    let ck = Checkpoint::open(&models().join("tiny-llama2tok")).unwrap();
    let m = ck.matrix("model.embed_tokens.weight").unwrap();
    let mut v = Vec::with_capacity(rows * m.cols);
    for i in 0..rows {
        v.extend(m.row(i));
    }
    (v, m.cols)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// Every row of `m` against `want` (row-major, `cols` wide), within `tol(row, col)`.
fn assert_close(
    ck: &Checkpoint,
    name: &str,
    want: &[f32],
    cols: usize,
    tol: &dyn Fn(usize, usize, f32) -> f32,
) {
    let m = ck.matrix(name).unwrap();
    assert_eq!((m.rows, m.cols), (want.len() / cols, cols));
    let mut buf = vec![0f32; cols];
    for r in 0..m.rows {
        m.row_into(r, &mut buf);
        for c in 0..cols {
            let w = want[r * cols + c];
            let t = tol(r, c, w);
            assert!(
                (buf[c] - w).abs() <= t,
                "{} {name} row {r} col {c}: {} vs {w} (tol {t})",
                ck.path.display(),
                buf[c]
            );
        }
    }
}

const ROWS: usize = 512;

#[test]
fn every_dtype_and_container_gives_the_same_rows() {
    let (v, cols) = reference_rows(ROWS);
    let shape = vec![ROWS, cols];
    let dir = tempfile::tempdir().unwrap();
    let name = "model.embed_tokens.weight";

    let exact = |_: usize, _: usize, _: f32| 0.0;
    // f16 has an 11-bit significand; bf16 an 8-bit one: half an ulp of relative error.
    let f16_tol = |_: usize, _: usize, w: f32| w.abs() * 1e-3 + 1e-7;
    let bf16_tol = |_: usize, _: usize, w: f32| w.abs() * 4e-3;
    // q8_0: half a quantum (d/2, d = block max / 127) plus the f16 rounding of d.
    let block_max: Vec<f32> = v
        .chunks(32)
        .map(|b| b.iter().fold(0f32, |a, &x| a.max(x.abs())))
        .collect();
    let q8_tol = |r: usize, c: usize, _: f32| {
        let amax = block_max[(r * cols + c) / 32];
        amax / 127.0 * 0.5 + amax * 1e-3 + 1e-7
    };

    type Tol<'a> = &'a dyn Fn(usize, usize, f32) -> f32;
    let st_cases: [(&str, Dtype, Vec<u8>, Tol); 3] = [
        ("f32.safetensors", Dtype::F32, f32_bytes(&v), &exact),
        ("f16.safetensors", Dtype::F16, f16_bytes(&v), &f16_tol),
        ("bf16.safetensors", Dtype::BF16, bf16_bytes(&v), &bf16_tol),
    ];
    for (file, dt, bytes, tol) in st_cases {
        let p = dir.path().join(file);
        write_st(&p, &[(name, dt, shape.clone(), bytes)]);
        let ck = Checkpoint::open(&p).unwrap();
        assert!(ck.is_tied(), "no lm_head and no config: tied");
        assert_close(&ck, name, &v, cols, tol);
    }

    let dims = vec![cols as u64, ROWS as u64];
    let gguf_cases: [(&str, u32, Vec<u8>, Tol, DType); 4] = [
        ("f32.gguf", 0, f32_bytes(&v), &exact, DType::F32),
        ("f16.gguf", 1, f16_bytes(&v), &f16_tol, DType::F16),
        ("q8_0.gguf", 8, q8_0_bytes(&v), &q8_tol, DType::Q8_0),
        ("bf16.gguf", 30, bf16_bytes(&v), &bf16_tol, DType::BF16),
    ];
    for (file, ty, bytes, tol, dtype) in gguf_cases {
        let p = dir.path().join(file);
        write(
            &p,
            &gguf_bytes(&[("token_embd.weight", dims.clone(), ty, bytes)]),
        );
        let ck = Checkpoint::open(&p).unwrap();
        assert!(ck.is_tied(), "{}", ck.tie_reason());
        let e = ck.embeddings(None, None).unwrap();
        assert_eq!(e.input.dtype, dtype);
        assert_eq!((e.input.rows, e.input.cols), (ROWS, cols));
        assert_close(&ck, "token_embd.weight", &v, cols, tol);
    }
}

#[test]
fn gguf_with_output_is_untied() {
    let (v, cols) = reference_rows(64);
    let dims = vec![cols as u64, 64];
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.gguf");
    write(
        &p,
        &gguf_bytes(&[
            ("token_embd.weight", dims.clone(), 1, f16_bytes(&v)),
            (
                "blk.0.attn_norm.weight",
                vec![cols as u64],
                0,
                f32_bytes(&v[..cols]),
            ),
            ("output.weight", dims, 8, q8_0_bytes(&v)),
        ]),
    );
    // The directory is found by its single .gguf file.
    let ck = Checkpoint::open(dir.path()).unwrap();
    assert!(!ck.is_tied());
    let e = ck.embeddings(None, None).unwrap();
    assert_eq!(e.input.name, "token_embd.weight");
    let out = e.output.unwrap();
    assert_eq!(
        (out.name.as_str(), out.dtype),
        ("output.weight", DType::Q8_0)
    );
    // A 1-D tensor is not a matrix.
    let err = ck
        .embeddings(Some("blk.0.attn_norm.weight"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a 2-D matrix"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Sharded checkpoints
// ---------------------------------------------------------------------------------------

fn write_index(dir: &Path, map: &[(&str, &str)]) {
    let wm: serde_json::Map<String, serde_json::Value> = map
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    let json = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": wm});
    write(
        &dir.join("model.safetensors.index.json"),
        json.to_string().as_bytes(),
    );
}

/// Two real shards (embedding + dummy, lm_head + dummy) and a third that is garbage and
/// must never be opened, since it holds no tensor we ask for.
fn sharded_checkpoint(dir: &Path, tie: bool) -> Vec<f32> {
    let (v, cols) = reference_rows(64);
    let shape = vec![64, cols];
    let s1 = "model-00001-of-00003.safetensors";
    let s2 = "model-00002-of-00003.safetensors";
    let s3 = "model-00003-of-00003.safetensors";
    write_st(
        &dir.join(s1),
        &[
            (
                "model.embed_tokens.weight",
                Dtype::BF16,
                shape.clone(),
                bf16_bytes(&v),
            ),
            (
                "model.layers.0.mlp.up_proj.weight",
                Dtype::F32,
                vec![4, 4],
                f32_bytes(&[0.5; 16]),
            ),
        ],
    );
    let rev: Vec<f32> = v.iter().map(|x| -x).collect();
    write_st(
        &dir.join(s2),
        &[
            ("lm_head.weight", Dtype::F16, shape, f16_bytes(&rev)),
            (
                "model.norm.weight",
                Dtype::F32,
                vec![cols],
                f32_bytes(&v[..cols]),
            ),
        ],
    );
    write(
        &dir.join(s3),
        b"this is not a safetensors file and is never read",
    );
    write_index(
        dir,
        &[
            ("model.embed_tokens.weight", s1),
            ("model.layers.0.mlp.up_proj.weight", s1),
            ("lm_head.weight", s2),
            ("model.norm.weight", s2),
            ("model.layers.1.mlp.up_proj.weight", s3),
        ],
    );
    let config = serde_json::json!({"model_type": "llama", "tie_word_embeddings": tie});
    write(&dir.join("config.json"), config.to_string().as_bytes());
    v
}

#[test]
fn sharded_checkpoint_maps_only_the_needed_shards() {
    let dir = tempfile::tempdir().unwrap();
    let v = sharded_checkpoint(dir.path(), false);
    let ck = Checkpoint::open(dir.path()).unwrap();
    assert!(ck.path.ends_with("model.safetensors.index.json"));
    assert_eq!(ck.tensor_names().len(), 5);
    assert!(ck.mapped_files().is_empty(), "open maps no shard");
    assert!(!ck.is_tied());
    let e = ck.embeddings(None, None).unwrap();
    assert_eq!(e.input.dtype, DType::BF16);
    let out = e.output.as_ref().unwrap();
    assert!(out.file.ends_with("model-00002-of-00003.safetensors"));
    let r = e.input.row(3);
    let o = out.row(3);
    for c in 0..e.input.cols {
        let w = v[3 * e.input.cols + c];
        assert!((r[c] - w).abs() <= w.abs() * 4e-3);
        assert!((o[c] + w).abs() <= w.abs() * 1e-3 + 1e-7);
    }
    let mut mapped = ck.mapped_files();
    mapped.sort();
    assert_eq!(mapped.len(), 2, "{mapped:?}");
    assert!(mapped
        .iter()
        .all(|p| !p.ends_with("model-00003-of-00003.safetensors")));

    // The index given directly works the same.
    let ck = Checkpoint::open(&dir.path().join("model.safetensors.index.json")).unwrap();
    assert!(ck.config().is_some());
    assert!(!ck.embeddings(None, None).unwrap().is_tied());

    // Tied: only the embedding's shard is mapped.
    let dir2 = tempfile::tempdir().unwrap();
    sharded_checkpoint(dir2.path(), true);
    let ck = Checkpoint::open(dir2.path()).unwrap();
    assert!(ck.is_tied());
    assert!(ck.embeddings(None, None).unwrap().is_tied());
    assert_eq!(ck.mapped_files().len(), 1);
    // The garbage shard is only an error when a tensor in it is asked for.
    let err = ck
        .matrix("model.layers.1.mlp.up_proj.weight")
        .unwrap_err()
        .to_string();
    assert!(err.contains("model-00003-of-00003.safetensors"), "{err}");
}

#[test]
fn missing_shard_names_the_shard_and_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    sharded_checkpoint(dir.path(), false);
    std::fs::remove_file(dir.path().join("model-00002-of-00003.safetensors")).unwrap();
    let ck = Checkpoint::open(dir.path()).unwrap();
    let err = ck.embeddings(None, None).unwrap_err();
    assert!(matches!(err, WeightsError::MissingShard { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("model-00002-of-00003.safetensors"), "{msg}");
    assert!(msg.contains("lm_head.weight"), "{msg}");
    assert!(msg.contains("model.safetensors.index.json"), "{msg}");
}

#[test]
fn hostile_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_index(
        dir.path(),
        &[("model.embed_tokens.weight", "../../etc/passwd")],
    );
    let err = open_err(dir.path());
    assert!(err.contains("not a relative path inside"), "{err}");
    write(
        &dir.path().join("model.safetensors.index.json"),
        b"{\"weight_map\": 3}",
    );
    let err = open_err(dir.path());
    assert!(err.contains("no \"weight_map\" object"), "{err}");
    // The index says the tensor is in a shard that does not hold it.
    write_st(
        &dir.path().join("a.safetensors"),
        &[("x.weight", Dtype::F32, vec![1, 1], f32_bytes(&[1.0]))],
    );
    write_index(
        dir.path(),
        &[("model.embed_tokens.weight", "a.safetensors")],
    );
    let ck = Checkpoint::open(dir.path()).unwrap();
    let err = ck.embeddings(None, None).unwrap_err().to_string();
    assert!(err.contains("has no such tensor"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Bad input: clear errors, no panics
// ---------------------------------------------------------------------------------------

fn open_err(path: &Path) -> String {
    match Checkpoint::open(path) {
        Ok(_) => panic!("{} opened, expected an error", path.display()),
        Err(e) => e.to_string(),
    }
}

/// A small valid safetensors file: a 4 x 8 f32 embedding and a 2 x 2 dummy.
fn small_st() -> Vec<u8> {
    let emb: Vec<f32> = (0..32).map(|i| i as f32).collect();
    st_bytes(&[
        (
            "model.embed_tokens.weight",
            Dtype::F32,
            vec![4, 8],
            f32_bytes(&emb),
        ),
        ("z.weight", Dtype::F32, vec![2, 2], f32_bytes(&[1.0; 4])),
    ])
}

/// A safetensors file with a hand-written header and `data_len` zero bytes of data.
fn st_with_header(header: &str, data_len: usize) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend(header.as_bytes());
    v.resize(v.len() + data_len, 0);
    v
}

#[test]
fn truncated_safetensors_is_an_error_at_every_cut() {
    let full = small_st();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    write(&p, &full);
    assert!(Checkpoint::open(&p).unwrap().embeddings(None, None).is_ok());

    let header_len = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let cuts = [
        (0, "truncated"),
        (3, "truncated"),
        (7, "truncated"),
        (8, "truncated: the header length says"),
        (8 + header_len / 2, "truncated: the header length says"),
        (8 + header_len + 1, "past the end of the data section"),
        (full.len() - 1, "past the end of the data section"),
    ];
    for (cut, want) in cuts {
        write(&p, &full[..cut]);
        let err = open_err(&p);
        assert!(err.contains(want), "cut at {cut}: {err}");
        assert!(err.contains("model.safetensors"), "cut at {cut}: {err}");
    }
    // Every other cut point: an error, never a panic.
    for cut in 0..full.len() {
        write(&p, &full[..cut]);
        assert!(Checkpoint::open(&p).is_err(), "cut at {cut} opened");
    }
}

#[test]
fn lying_headers_are_refused_naming_the_tensor() {
    let e = "model.embed_tokens.weight";
    let cases = [
        (
            format!(r#"{{"{e}":{{"dtype":"F32","shape":[4,8],"data_offsets":[0,4096]}}}}"#),
            "past the end of the data section",
        ),
        (
            format!(r#"{{"{e}":{{"dtype":"F32","shape":[4,8],"data_offsets":[128,0]}}}}"#),
            "end before they begin",
        ),
        (
            format!(r#"{{"{e}":{{"dtype":"F32","shape":[4,8],"data_offsets":[0,64]}}}}"#),
            "needs 128 bytes",
        ),
        (
            format!(
                r#"{{"{e}":{{"dtype":"F32","shape":[4,8],"data_offsets":[0,128]}},"b":{{"dtype":"F32","shape":[4],"data_offsets":[64,80]}}}}"#
            ),
            "overlap",
        ),
        (
            format!(r#"{{"{e}":{{"dtype":"F32","shape":[4,8],"data_offsets":[-8,120]}}}}"#),
            "bad header entry",
        ),
        (
            format!(
                r#"{{"{e}":{{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,128]}}}}"#
            ),
            "more than 2^64",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    for (header, want) in cases {
        write(&p, &st_with_header(&header, 128));
        let err = open_err(&p);
        assert!(err.contains(want), "{header}: {err}");
        assert!(err.contains(e) || want == "overlap", "{header}: {err}");
    }
    // A header length far past the file, and one over the 100 MB limit.
    let mut b = 1_000u64.to_le_bytes().to_vec();
    b.extend(b"{}");
    write(&p, &b);
    assert!(open_err(&p).contains("truncated"));
    let mut b = 200_000_000u64.to_le_bytes().to_vec();
    b.extend(b"{}");
    write(&p, &b);
    assert!(open_err(&p).contains("limit"));
}

#[test]
fn integer_embedding_dtype_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (dt, name, bytes) in [(Dtype::I64, "I64", 8usize), (Dtype::I32, "I32", 4)] {
        let p = dir.path().join(format!("{name}.safetensors"));
        write_st(
            &p,
            &[(
                "model.embed_tokens.weight",
                dt,
                vec![4, 8],
                vec![0u8; 32 * bytes],
            )],
        );
        let ck = Checkpoint::open(&p).unwrap();
        let err = ck.embeddings(None, None).unwrap_err();
        assert!(
            matches!(err, WeightsError::UnsupportedDtype { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!(
                "dtype {name}, which is not a float type we can read"
            )),
            "{msg}"
        );
        assert!(msg.contains("model.embed_tokens.weight"), "{msg}");
    }
}

#[test]
fn pickle_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A protocol-2 pickle named like transformers' default.
    write(
        &d.join("pytorch_model.bin"),
        &[0x80, 0x02, b'}', b'q', 0x00, b'.'],
    );
    write(&d.join("config.json"), b"{\"model_type\": \"gpt2\"}");
    for path in [d.to_path_buf(), d.join("pytorch_model.bin")] {
        let err = Checkpoint::open(&path).unwrap_err();
        assert!(matches!(err, WeightsError::Pickle { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("pytorch_model.bin"), "{msg}");
        assert!(
            msg.contains("refusing to load a pickle checkpoint"),
            "{msg}"
        );
        assert!(msg.contains("convert it to safetensors"), "{msg}");
    }
    // torch.save's zip archive, by extension and by content alone.
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl";
    for name in ["model.pt", "weights.dat", "model.safetensors"] {
        let p = d.join(name);
        write(&p, zip);
        let err = open_err(&p);
        assert!(
            err.contains("refusing to load a pickle checkpoint"),
            "{name}: {err}"
        );
        std::fs::remove_file(&p).unwrap();
    }
    // A raw pickle with an unknown extension.
    let p = d.join("weights.dat");
    write(&p, &[0x80, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    assert!(open_err(&p).contains("pickle"));
}

#[test]
fn directory_with_nothing_loadable() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("README.md"), b"# nothing here");
    let err = open_err(dir.path());
    assert!(err.contains("no model weights found"), "{err}");
    let err = open_err(&dir.path().join("README.md"));
    assert!(err.contains("not a safetensors, GGUF"), "{err}");
    let err = open_err(&dir.path().join("absent"));
    assert!(err.contains("absent"), "{err}");
    // Two candidate files: ask rather than guess.
    let st = small_st();
    write(&dir.path().join("a.safetensors"), &st);
    write(&dir.path().join("b.safetensors"), &st);
    let err = open_err(dir.path());
    assert!(
        err.contains("several candidate weight files (a.safetensors, b.safetensors)"),
        "{err}"
    );
}

#[test]
fn unknown_embedding_name_lists_lookalikes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("odd.safetensors");
    write_st(
        &p,
        &[
            (
                "encoder.tokens.weight",
                Dtype::F32,
                vec![1000, 2],
                vec![0u8; 8000],
            ),
            ("small.weight", Dtype::F32, vec![2, 2], vec![0u8; 16]),
        ],
    );
    let ck = Checkpoint::open(&p).unwrap();
    let err = ck.embeddings(None, None).unwrap_err().to_string();
    assert!(err.contains("pass --embedding NAME"), "{err}");
    assert!(
        err.contains("look like embeddings: encoder.tokens.weight"),
        "{err}"
    );
    assert!(!err.contains("small.weight"), "{err}");
    let e = ck.embeddings(Some("encoder.tokens.weight"), None).unwrap();
    assert_eq!((e.input.rows, e.input.cols), (1000, 2));
}

#[test]
fn tie_decision_follows_config_then_model_type_then_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let emb = f32_bytes(&[0.25; 32]);
    write_st(
        &d.join("model.safetensors"),
        &[
            (
                "transformer.wte.weight",
                Dtype::F32,
                vec![4, 8],
                emb.clone(),
            ),
            ("lm_head.weight", Dtype::F32, vec![4, 8], emb),
        ],
    );
    let cases = [
        (r#"{"model_type":"gpt2"}"#, true, "ties by default"),
        (
            r#"{"model_type":"llama"}"#,
            false,
            "separate unembedding tensor lm_head.weight",
        ),
        (
            r#"{"model_type":"newthing"}"#,
            false,
            "separate unembedding",
        ),
        (
            r#"{"model_type":"gpt2","tie_word_embeddings":false}"#,
            false,
            "= false",
        ),
        (
            r#"{"text_config":{"tie_word_embeddings":true}}"#,
            true,
            "= true",
        ),
    ];
    for (config, tied, why) in cases {
        write(&d.join("config.json"), config.as_bytes());
        let ck = Checkpoint::open(d).unwrap();
        assert_eq!(ck.is_tied(), tied, "{config}");
        assert!(
            ck.tie_reason().contains(why),
            "{config}: {}",
            ck.tie_reason()
        );
        assert_eq!(ck.embeddings(None, None).unwrap().is_tied(), tied);
    }
    // Config says untied, but there is no unembedding: an error that says how to go on.
    write_st(
        &d.join("model.safetensors"),
        &[(
            "transformer.wte.weight",
            Dtype::F32,
            vec![4, 8],
            f32_bytes(&[0.25; 32]),
        )],
    );
    write(&d.join("config.json"), br#"{"tie_word_embeddings":false}"#);
    let err = Checkpoint::open(d)
        .unwrap()
        .embeddings(None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--unembedding transformer.wte.weight to treat it as tied"),
        "{err}"
    );
    // A broken config.json is reported, not ignored.
    write(&d.join("config.json"), b"{not json");
    let err = open_err(d);
    assert!(err.contains("config.json: not valid JSON"), "{err}");
}

#[test]
fn gguf_unsupported_and_bad_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("q4k.gguf");
    // iq2_xxs (type 16): 256 values per 66-byte block, a type candle cannot dequantize.
    write(
        &p,
        &gguf_bytes(&[("token_embd.weight", vec![256, 4], 16, vec![0u8; 4 * 66])]),
    );
    let ck = Checkpoint::open(&p).unwrap();
    let err = ck.embeddings(None, None).unwrap_err();
    assert!(
        matches!(err, WeightsError::UnsupportedDtype { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("iq2_xxs (ggml type 16)"), "{msg}");
    assert!(msg.contains("token_embd.weight"), "{msg}");

    // A type id ggml does not have.
    write(
        &p,
        &gguf_bytes(&[("token_embd.weight", vec![8, 4], 99, vec![0u8; 32])]),
    );
    let err = Checkpoint::open(&p)
        .unwrap()
        .embeddings(None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown (ggml type 99)"), "{err}");

    // Data running past the end of the file is caught by the container reader.
    let mut b = gguf_bytes(&[("token_embd.weight", vec![8, 4], 0, vec![0u8; 128])]);
    b.truncate(b.len() - 10);
    write(&p, &b);
    let err = open_err(&p);
    assert!(err.contains("q4k.gguf"), "{err}");

    // No token_embd.weight at all.
    write(
        &p,
        &gguf_bytes(&[("blk.0.x.weight", vec![8, 4], 0, vec![0u8; 128])]),
    );
    let err = Checkpoint::open(&p)
        .unwrap()
        .embeddings(None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("token_embd.weight"), "{err}");
}
