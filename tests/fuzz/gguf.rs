//! Fuzzing GGUF: the container reader (`gguf::GgufFile`: header, metadata, tensor infos,
//! tensor data ranges), the vocabulary built from its `tokenizer.ggml.*` keys
//! (`vocab::gguf`), and the embedding matrices read from its tensors (`weights::gguf`).
//! Inputs are the real `ggml-vocab-*.gguf` files, smaller copies of them rewritten with the
//! first few hundred tokens, a GGUF with real embeddings (from stories260K) and random
//! bytes; mutated at every structural boundary and field. See `tests/fuzz/driver.rs`
//! and `docs/faults.md`.

use std::path::Path;

use crate::driver::*;
use proptest::prelude::*;
use tokenaudit::gguf::builder::{self, Builder, RawTensor as Tensor};
use tokenaudit::gguf::{GgufArray, GgufFile, GgufValue};
use tokenaudit::vocab::{self, LoadOptions};
use tokenaudit::weights::Checkpoint;

// ---------------------------------------------------------------------------------------
// Loaders
// ---------------------------------------------------------------------------------------

fn load_container(p: &Path) -> Result<String, String> {
    let g = GgufFile::open(p).map_err(|e| e.to_string())?;
    let mut bytes = 0usize;
    for t in &g.tensors {
        // Unknown types are an error here, not a panic.
        if let Ok(b) = g.tensor_bytes(t) {
            bytes += b.len();
        }
    }
    let _ = (
        g.get_str("tokenizer.ggml.model"),
        g.get_u64("general.alignment"),
        g.get_str_array("tokenizer.ggml.tokens").map(|t| t.len()),
        g.get_f32_array("tokenizer.ggml.scores"),
        g.get_i32_array("tokenizer.ggml.token_type"),
        g.get_bool("tokenizer.ggml.add_bos_token"),
    );
    for (_, v) in &g.metadata {
        let _ = (v.type_name(), v.as_u64(), v.as_i64());
    }
    Ok(format!(
        "{} keys, {} tensors, {bytes} tensor bytes",
        g.metadata.len(),
        g.tensors.len()
    ))
}

fn load_vocab(p: &Path) -> Result<String, String> {
    vocab::load(p, &LoadOptions::default())
        .map(|v| use_vocab(&v))
        .map_err(|e| e.to_string())
}

fn load_weights(p: &Path) -> Result<String, String> {
    let ck = Checkpoint::open(p).map_err(|e| e.to_string())?;
    let emb = ck.embeddings(None, None).map_err(|e| e.to_string())?;
    let mut sum = 0f64;
    for m in [&emb.input, emb.unembedding()] {
        let mut row = vec![0f32; m.cols];
        for i in [0, m.rows / 2, m.rows - 1] {
            m.row_into(i, &mut row);
            sum += row.iter().map(|&x| x as f64).sum::<f64>();
        }
    }
    Ok(format!(
        "{}x{} rows read, sum {sum:.3}",
        emb.input.rows, emb.input.cols
    ))
}

// ---------------------------------------------------------------------------------------
// A writer and a walker for GGUF bytes
// ---------------------------------------------------------------------------------------

/// A GGUF v3 file; tensors at 32-byte aligned offsets (the library's byte builder,
/// which writes what it is given, broken or not).
fn write_gguf(kvs: &[(String, GgufValue)], tensors: &[Tensor]) -> Vec<u8> {
    builder::file(kvs, tensors)
}

/// Boundaries and fields of GGUF bytes (long arrays: their first and last 40 elements).
fn walk(bytes: &[u8]) -> Seed {
    struct W<'a> {
        b: &'a [u8],
        p: usize,
        s: Seed,
    }
    impl W<'_> {
        fn u32(&mut self, field: bool) -> Option<u32> {
            let v = u32::from_le_bytes(self.b.get(self.p..self.p + 4)?.try_into().ok()?);
            if field {
                self.s.fields.push(Field {
                    at: self.p,
                    width: Width::U32,
                });
            }
            self.s.bounds.push(self.p);
            self.p += 4;
            Some(v)
        }
        fn u64(&mut self, field: bool) -> Option<u64> {
            let v = u64::from_le_bytes(self.b.get(self.p..self.p + 8)?.try_into().ok()?);
            if field {
                self.s.fields.push(Field {
                    at: self.p,
                    width: Width::U64,
                });
            }
            self.s.bounds.push(self.p);
            self.p += 8;
            Some(v)
        }
        fn string(&mut self, field: bool) -> Option<()> {
            let n = self.u64(field)?;
            self.p = self.p.checked_add(n as usize)?;
            self.s.bounds.push(self.p);
            Some(())
        }
        fn value(&mut self, ty: u32) -> Option<()> {
            match ty {
                0 | 1 | 7 => self.p += 1,
                2 | 3 => self.p += 2,
                4..=6 => self.p += 4,
                10..=12 => self.p += 8,
                8 => self.string(true)?,
                9 => {
                    let et = self.u32(true)?;
                    let n = self.u64(true)? as usize;
                    for i in 0..n {
                        let keep = i < 40 || i + 40 >= n;
                        let mark = (self.s.bounds.len(), self.s.fields.len());
                        self.value(et)?;
                        if !keep {
                            self.s.bounds.truncate(mark.0);
                            self.s.fields.truncate(mark.1);
                        }
                    }
                }
                _ => return None,
            }
            self.s.bounds.push(self.p);
            Some(())
        }
    }
    let mut w = W {
        b: bytes,
        p: 4,
        s: Seed {
            bytes: bytes.to_vec(),
            bounds: vec![0, 4],
            ..Seed::default()
        },
    };
    let _ = (|| -> Option<()> {
        w.u32(true)?;
        let nt = w.u64(true)?;
        let nk = w.u64(true)?;
        for _ in 0..nk {
            w.string(true)?;
            let ty = w.u32(true)?;
            w.value(ty)?;
        }
        for _ in 0..nt {
            w.string(true)?;
            let nd = w.u32(true)?;
            for _ in 0..nd {
                w.u64(true)?;
            }
            w.u32(true)?;
            w.u64(true)?;
        }
        let data = w.p.div_ceil(32) * 32;
        w.s.bounds.push(data);
        Some(())
    })();
    w.s.bounds.push(bytes.len());
    w.s.bounds.retain(|&b| b <= bytes.len());
    w.s.bounds.sort_unstable();
    w.s.bounds.dedup();
    w.s
}

// ---------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------

const VOCABS: &[&str] = &[
    "baichuan",
    "bert-bge",
    "deepseek-coder",
    "deepseek-llm",
    "falcon",
    "gpt-2",
    "llama-bpe",
    "llama-spm",
    "mpt",
    "phi-3",
    "qwen2",
    "refact",
    "starcoder",
];

fn vocab_path(name: &str) -> String {
    format!("tokenizers/gguf/ggml-vocab-{name}.gguf")
}

/// The metadata of a real vocabulary with its per-token arrays cut to the first `n` ids
/// (merges kept only when both parts and the result survive).
fn shrunk_metadata(name: &str, n: usize) -> Vec<(String, GgufValue)> {
    let p = data().join(vocab_path(name));
    let g = GgufFile::open(&p).unwrap_or_else(|e| panic!("{e}"));
    let tokens: Vec<String> = g
        .get_str_array("tokenizer.ggml.tokens")
        .map(|t| t.iter().take(n).cloned().collect())
        .unwrap_or_default();
    let kept: std::collections::HashSet<&str> = tokens.iter().map(|s| s.as_str()).collect();
    g.metadata
        .iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                ("tokenizer.ggml.merges", GgufValue::Array(GgufArray::Str(m))) => {
                    GgufValue::Array(GgufArray::Str(
                        m.iter()
                            .filter(|m| match m.split_once(' ') {
                                Some((a, b)) => {
                                    kept.contains(a)
                                        && kept.contains(b)
                                        && kept.contains(format!("{a}{b}").as_str())
                                }
                                None => false,
                            })
                            .cloned()
                            .collect(),
                    ))
                }
                (_, GgufValue::Array(a)) if a.len() > n => GgufValue::Array(match a {
                    GgufArray::Str(v) => GgufArray::Str(v[..n].to_vec()),
                    GgufArray::F32(v) => GgufArray::F32(v[..n].to_vec()),
                    GgufArray::I32(v) => GgufArray::I32(v[..n].to_vec()),
                    other => other.clone(),
                }),
                _ => v.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// stories260K's real embedding (512 × 64 f32) as a GGUF with a Llama vocabulary, an
/// untied output matrix in f16 and, optionally, the embedding in q8_0.
fn model_gguf(q8: bool) -> Vec<u8> {
    let st = read("models/stories260K/model.safetensors");
    let n = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let start = 8 + n;
    let emb: Vec<f32> = st[start..start + 512 * 64 * 4]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let f16: Vec<u8> = emb
        .iter()
        .flat_map(|&x| half::f16::from_f32(x).to_bits().to_le_bytes())
        .collect();
    let input = if q8 {
        let mut out = Vec::new();
        for block in emb.chunks(32) {
            let amax = block.iter().fold(0f32, |a, &x| a.max(x.abs()));
            let d = amax / 127.0;
            let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
            out.extend(half::f16::from_f32(d).to_bits().to_le_bytes());
            out.extend(block.iter().map(|&x| (x * inv).round() as i8 as u8));
        }
        Tensor {
            name: "token_embd.weight".into(),
            dims: vec![64, 512],
            ggml_type: 8,
            data: out,
        }
    } else {
        Tensor {
            name: "token_embd.weight".into(),
            dims: vec![64, 512],
            ggml_type: 0,
            data: emb.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    };
    let output = Tensor {
        name: "output.weight".into(),
        dims: vec![64, 512],
        ggml_type: 1,
        data: f16,
    };
    let kvs = shrunk_metadata("llama-spm", 512);
    write_gguf(&kvs, &[input, output])
}

// ---------------------------------------------------------------------------------------
// Metadata- and tensor-level edits, re-serialized
// ---------------------------------------------------------------------------------------

/// Values a metadata entry is replaced with (wrong types, huge ids, empty arrays).
fn replacement(k: usize) -> GgufValue {
    let all = [
        GgufValue::U32(u32::MAX),
        GgufValue::I32(-1),
        GgufValue::U64(u64::MAX),
        GgufValue::I64(i64::MIN),
        GgufValue::F32(f32::NAN),
        GgufValue::F64(1e308),
        GgufValue::Bool(true),
        GgufValue::U8(7),
        GgufValue::Str(String::new()),
        GgufValue::Str("gpt2".into()),
        GgufValue::Str("llama".into()),
        GgufValue::Str("bert".into()),
        GgufValue::Str("t5".into()),
        GgufValue::Str("\u{0}\u{fffd}".into()),
        GgufValue::Array(GgufArray::Str(Vec::new())),
        GgufValue::Array(GgufArray::Str(vec!["a".into(), "a".into()])),
        GgufValue::Array(GgufArray::Str(vec!["a b".into(), "ab".into(), " ".into()])),
        GgufValue::Array(GgufArray::F32(vec![f32::NAN, f32::INFINITY, -0.0])),
        GgufValue::Array(GgufArray::I32(vec![i32::MIN, -1, 7, 1000])),
        GgufValue::Array(GgufArray::U8(vec![0xFF; 12])),
        GgufValue::Array(GgufArray::U32(vec![u32::MAX])),
        GgufValue::Array(GgufArray::Array(vec![GgufArray::Str(vec!["x".into()])])),
    ];
    all[k % all.len()].clone()
}

#[derive(Debug, Clone)]
enum KvEdit {
    /// Drop entry i.
    Drop(usize),
    /// Write entry i twice.
    Duplicate(usize),
    /// Replace entry i's value.
    Replace(usize, usize),
    /// Cut array entry i to `n` elements (mismatched lengths).
    CutArray(usize, u16),
    /// In array entry i, replace element j with replacement k's first string.
    Element(usize, usize, usize),
    /// Add an entry named after a real key with a replacement value.
    Add(usize, usize),
}

const KEYS: &[&str] = &[
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.add_space_prefix",
    "tokenizer.ggml.precompiled_charsmap",
    "general.alignment",
];

fn kv_edit() -> impl Strategy<Value = KvEdit> {
    prop_oneof![
        1 => any::<usize>().prop_map(KvEdit::Drop),
        1 => any::<usize>().prop_map(KvEdit::Duplicate),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(i, k)| KvEdit::Replace(i, k)),
        2 => (any::<usize>(), any::<u16>()).prop_map(|(i, n)| KvEdit::CutArray(i, n)),
        2 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(i, j, k)| KvEdit::Element(i, j, k)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(i, k)| KvEdit::Add(i, k)),
    ]
}

fn kv_edit_kind(e: &KvEdit, kvs: &[(String, GgufValue)]) -> String {
    let key = |i: usize| {
        kvs.get(i % kvs.len().max(1))
            .map_or("", |k| k.0.as_str())
            .to_string()
    };
    match e {
        KvEdit::Drop(i) => format!("key {} dropped", key(*i)),
        KvEdit::Duplicate(i) => format!("key {} duplicated", key(*i)),
        KvEdit::Replace(i, k) => {
            format!("key {} set to a {}", key(*i), replacement(*k).type_name())
        }
        KvEdit::CutArray(i, _) => format!("array {} cut short", key(*i)),
        KvEdit::Element(i, _, _) => format!("an element of {} replaced", key(*i)),
        KvEdit::Add(i, k) => format!(
            "key {} added as a {}",
            KEYS[i % KEYS.len()],
            replacement(*k).type_name()
        ),
    }
}

fn apply_kv(kvs: &[(String, GgufValue)], edits: &[KvEdit]) -> Vec<(String, GgufValue)> {
    let mut kvs = kvs.to_vec();
    for e in edits {
        if kvs.is_empty() {
            break;
        }
        let n = kvs.len();
        match e {
            KvEdit::Drop(i) => {
                kvs.remove(i % n);
            }
            KvEdit::Duplicate(i) => {
                let kv = kvs[i % n].clone();
                kvs.push(kv);
            }
            KvEdit::Replace(i, k) => kvs[i % n].1 = replacement(*k),
            KvEdit::CutArray(i, m) => {
                if let GgufValue::Array(a) = &mut kvs[i % n].1 {
                    let m = *m as usize % (a.len() + 1);
                    match a {
                        GgufArray::Str(v) => v.truncate(m),
                        GgufArray::F32(v) => v.truncate(m),
                        GgufArray::I32(v) => v.truncate(m),
                        GgufArray::U8(v) => v.truncate(m),
                        _ => {}
                    }
                }
            }
            KvEdit::Element(i, j, k) => {
                if let GgufValue::Array(a) = &mut kvs[i % n].1 {
                    match a {
                        GgufArray::Str(v) if !v.is_empty() => {
                            let len = v.len();
                            let s = match replacement(*k) {
                                GgufValue::Str(s) => s,
                                _ => v[(j / 3) % len].clone(),
                            };
                            v[j % len] = s;
                        }
                        GgufArray::I32(v) if !v.is_empty() => {
                            let len = v.len();
                            v[j % len] = [i32::MIN, -1, 0, 6, 7, i32::MAX][k % 6];
                        }
                        GgufArray::F32(v) if !v.is_empty() => {
                            let len = v.len();
                            v[j % len] = [f32::NAN, f32::INFINITY, f32::MIN][k % 3];
                        }
                        _ => {}
                    }
                }
            }
            KvEdit::Add(i, k) => kvs.push((KEYS[i % KEYS.len()].to_string(), replacement(*k))),
        }
    }
    kvs
}

#[derive(Debug, Clone)]
enum TensorEdit {
    Dims(usize, usize),
    Type(usize, usize),
    Data(usize, u16),
    Rename(usize),
}

const DIMS: &[&[u64]] = &[
    &[u64::MAX, 2],
    &[1 << 32, 1 << 32],
    &[1 << 40],
    &[0, 512],
    &[64, 0],
    &[64, 512, 1, 1],
    &[64, 512, 2],
    &[1, 1, 1, 1, 1],
    &[],
    &[32768],
    &[512, 64],
    &[64, 513],
    &[63, 512],
];

const TYPES: &[u32] = &[0, 1, 2, 8, 12, 14, 26, 30, 31, 39, 1000, u32::MAX];

fn tensor_edit() -> impl Strategy<Value = TensorEdit> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(i, k)| TensorEdit::Dims(i, k)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, k)| TensorEdit::Type(i, k)),
        (any::<usize>(), any::<u16>()).prop_map(|(i, n)| TensorEdit::Data(i, n)),
        any::<usize>().prop_map(TensorEdit::Rename),
    ]
}

fn tensor_edit_kind(e: &TensorEdit) -> String {
    match e {
        TensorEdit::Dims(_, k) => format!("tensor dims set to {:?}", DIMS[k % DIMS.len()]),
        TensorEdit::Type(_, k) => format!("tensor ggml type set to {}", TYPES[k % TYPES.len()]),
        TensorEdit::Data(..) => "tensor data cut short".into(),
        TensorEdit::Rename(_) => "tensor renamed to the other's name".into(),
    }
}

fn apply_tensor(tensors: &[Tensor], e: &TensorEdit) -> Vec<Tensor> {
    let mut t = tensors.to_vec();
    let n = t.len();
    match e {
        TensorEdit::Dims(i, k) => t[i % n].dims = DIMS[k % DIMS.len()].to_vec(),
        TensorEdit::Type(i, k) => t[i % n].ggml_type = TYPES[k % TYPES.len()],
        TensorEdit::Data(i, m) => {
            let d = &mut t[i % n].data;
            d.truncate(*m as usize % (d.len() + 1));
        }
        TensorEdit::Rename(i) => t[i % n].name = t[(i + 1) % n].name.clone(),
    }
    t
}

/// The two tensors of [`model_gguf`] and its metadata, for tensor-level edits.
fn model_parts() -> (Vec<(String, GgufValue)>, Vec<Tensor>) {
    let g_bytes = model_gguf(false);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.gguf");
    std::fs::write(&p, &g_bytes).unwrap();
    let g = GgufFile::open(&p).unwrap();
    let tensors = g
        .tensors
        .iter()
        .map(|t| Tensor {
            name: t.name.clone(),
            dims: t.dims.clone(),
            ggml_type: t.ggml_type,
            data: g.tensor_bytes(t).unwrap().to_vec(),
        })
        .collect();
    (g.metadata.clone(), tensors)
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn gguf_container_sweep() {
    let t = Target::new("gguf-container-sweep", load_container);
    // Every boundary and every field of a small real-derived vocabulary and of the model.
    let small = walk(&write_gguf(&shrunk_metadata("llama-bpe", 200), &[]));
    let model = walk(&model_gguf(false));
    let mut cases: Vec<Lazy> = Vec::new();
    for (name, s) in [("llama-bpe 200 tokens", &small), ("model", &model)] {
        for &b in &s.bounds {
            cases.push(lazy(format!("{name}: truncate at a boundary"), move || {
                vec![file("x.gguf", &s.bytes[..b])]
            }));
        }
        for i in 0..s.fields.len() {
            for (k, special) in SPECIALS.iter().enumerate() {
                cases.push(lazy(format!("{name}: field set to {special}"), move || {
                    vec![file("x.gguf", apply(s, &[Mutation::SetField(i, k)]))]
                }));
            }
        }
    }
    t.sweep_lazy(cases);
    // Spread boundaries and fields of every real vocabulary file.
    for v in VOCABS {
        let s = walk(&read(&vocab_path(v)));
        let mut cases: Vec<Lazy> = Vec::new();
        for i in spread(s.bounds.len(), scaled(40)) {
            let s = &s;
            cases.push(lazy(format!("{v}: truncate at a boundary"), move || {
                vec![file("x.gguf", &s.bytes[..s.bounds[i]])]
            }));
        }
        for i in spread(s.fields.len(), scaled(20)) {
            let k = i % SPECIALS.len();
            let s = &s;
            cases.push(lazy(
                format!("{v}: field set to {}", SPECIALS[k]),
                move || vec![file("x.gguf", apply(s, &[Mutation::SetField(i, k)]))],
            ));
        }
        t.sweep_lazy(cases);
    }
    t.report();
}

#[test]
fn gguf_container_mutations() {
    let t = Target::new("gguf-container-mutations", load_container);
    let seeds: Vec<(String, Seed)> = VOCABS
        .iter()
        .map(|v| (v.to_string(), walk(&read(&vocab_path(v)))))
        .chain([("model".to_string(), walk(&model_gguf(true)))])
        .collect();
    t.random(scaled(600), (0..seeds.len(), mutations()), |(s, m)| {
        let (name, seed) = &seeds[*s];
        (label(name, m), vec![file("x.gguf", apply(seed, m))])
    });
    t.report();
}

#[test]
fn gguf_vocab_mutations() {
    let t = Target::new("gguf-vocab", load_vocab);
    let metas: Vec<(String, Vec<(String, GgufValue)>)> = VOCABS
        .iter()
        .map(|v| (v.to_string(), shrunk_metadata(v, 300)))
        .collect();
    let seeds: Vec<Seed> = metas
        .iter()
        .map(|(_, m)| walk(&write_gguf(m, &[])))
        .collect();
    for ((name, _), s) in metas.iter().zip(&seeds) {
        t.seed_loads(name, &[file("x.gguf", &s.bytes)]);
    }
    // Byte-level.
    t.random(scaled(400), (0..seeds.len(), mutations()), |(s, m)| {
        (
            label(&format!("{} 300 tokens", metas[*s].0), m),
            vec![file("x.gguf", apply(&seeds[*s], m))],
        )
    });
    // Metadata-level: wrong types, duplicated and missing keys, mismatched arrays.
    t.random(
        scaled(700),
        (0..metas.len(), proptest::collection::vec(kv_edit(), 1..=3)),
        |(s, edits)| {
            let (name, kvs) = &metas[*s];
            (
                format!("{name} 300 tokens: {}", kv_edit_kind(&edits[0], kvs)),
                vec![file("x.gguf", write_gguf(&apply_kv(kvs, edits), &[]))],
            )
        },
    );
    t.report();
}

#[test]
fn gguf_vocab_full_size() {
    // One byte-level and one metadata-level mutation of each whole real file.
    let t = Target::new("gguf-vocab-full", load_vocab);
    let per_file = scaled(1);
    for (i, v) in VOCABS.iter().enumerate() {
        let bytes = read(&vocab_path(v));
        let seed = walk(&bytes);
        t.random(per_file, mutations(), |m| {
            (label(v, m), vec![file("x.gguf", apply(&seed, m))])
        });
        if i % 3 == 0 {
            let g = GgufFile::open(&data().join(vocab_path(v))).unwrap();
            let kvs = g.metadata.clone();
            t.random(per_file, kv_edit(), |e| {
                (
                    format!("{v}: {}", kv_edit_kind(e, &kvs)),
                    vec![file(
                        "x.gguf",
                        write_gguf(&apply_kv(&kvs, std::slice::from_ref(e)), &[]),
                    )],
                )
            });
        }
    }
    t.report();
}

#[test]
fn gguf_weights_mutations() {
    let t = Target::new("gguf-weights", load_weights);
    let seeds = [walk(&model_gguf(false)), walk(&model_gguf(true))];
    for s in &seeds {
        t.seed_loads("model", &[file("m.gguf", &s.bytes)]);
    }
    t.sweep([
        (
            "model f32 unchanged".to_string(),
            vec![file("m.gguf", &seeds[0].bytes)],
        ),
        (
            "model q8_0 unchanged".to_string(),
            vec![file("m.gguf", &seeds[1].bytes)],
        ),
    ]);
    t.random(scaled(400), (0..2usize, mutations()), |(s, m)| {
        (
            label("model", m),
            vec![file("m.gguf", apply(&seeds[*s], m))],
        )
    });
    let (kvs, tensors) = model_parts();
    t.random(
        scaled(400),
        proptest::collection::vec(tensor_edit(), 1..=2),
        |edits| {
            let mut ts = tensors.clone();
            for e in edits {
                ts = apply_tensor(&ts, e);
            }
            (
                format!("model: {}", tensor_edit_kind(&edits[0])),
                vec![file("m.gguf", write_gguf(&kvs, &ts))],
            )
        },
    );
    t.report();
}

#[test]
fn gguf_random_bytes() {
    const PREFIXES: &[&[u8]] = &[
        b"GGUF",
        b"GGUF\x03\x00\x00\x00",
        b"GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        b"GGUF\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00",
    ];
    let c = Target::new("gguf-random-container", load_container);
    c.random(scaled(400), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("x.gguf", with_prefix(PREFIXES, r))],
        )
    });
    c.report();
    let v = Target::new("gguf-random-vocab", load_vocab);
    v.random(scaled(200), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("x.gguf", with_prefix(PREFIXES, r))],
        )
    });
    v.report();
    let w = Target::new("gguf-random-weights", load_weights);
    w.random(scaled(200), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("x.gguf", with_prefix(PREFIXES, r))],
        )
    });
    w.report();
}

#[test]
fn gguf_regressions() {
    let loaders: [(&str, Loader); 3] = [
        ("container", load_container),
        ("vocab", load_vocab),
        ("weights", load_weights),
    ];
    for (name, load) in loaders {
        let t = Target::new(&format!("gguf-regressions-{name}"), load);
        for (f, bytes) in regressions("gguf") {
            t.case(&f, &[file("x.gguf", bytes)])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        t.report();
    }
}

// ---------------------------------------------------------------------------------------
// The catalogue (docs/faults.md)
// ---------------------------------------------------------------------------------------

/// Metadata entries in file order.
type Kvs = Vec<(String, GgufValue)>;

fn kv(k: &str, v: GgufValue) -> (String, GgufValue) {
    (k.to_string(), v)
}

fn strs(v: &[&str]) -> GgufValue {
    GgufValue::Array(GgufArray::Str(v.iter().map(|s| s.to_string()).collect()))
}

/// A small valid GGUF: a Llama vocabulary of 8 tokens and a 64 x 8 f32 embedding.
fn tiny_kvs() -> Vec<(String, GgufValue)> {
    vec![
        kv("tokenizer.ggml.model", GgufValue::Str("llama".into())),
        kv(
            "tokenizer.ggml.tokens",
            strs(&["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab"]),
        ),
        kv(
            "tokenizer.ggml.scores",
            GgufValue::Array(GgufArray::F32(vec![
                0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -0.5, -0.7,
            ])),
        ),
        kv(
            "tokenizer.ggml.token_type",
            GgufValue::Array(GgufArray::I32(vec![2, 3, 3, 1, 1, 1, 1, 1])),
        ),
    ]
}

fn tiny_tensor(name: &str, dims: &[u64], ty: u32, bytes: usize) -> Tensor {
    Tensor {
        name: name.into(),
        dims: dims.to_vec(),
        ggml_type: ty,
        data: (0..bytes).map(|i| (i % 7) as u8).collect(),
    }
}

fn emb() -> Tensor {
    tiny_tensor("token_embd.weight", &[64, 8], 0, 64 * 8 * 4)
}

/// Overwrite 8 bytes at `at` with `v`.
fn set_u64(mut b: Vec<u8>, at: usize, v: u64) -> Vec<u8> {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    b
}

#[test]
fn gguf_catalogue() {
    let f = |b: Vec<u8>| vec![file("x.gguf", b)];
    let good = write_gguf(&tiny_kvs(), &[emb()]);
    // Offsets in `good`: magic 0, version 4, tensor count 8, kv count 16, first key's
    // length 24, its bytes 32.., type, value: a string (length, bytes).
    let first_value_len = 24 + 8 + "tokenizer.ggml.model".len() + 4;
    let mut nested = Builder::header(3, 0, 1);
    nested.str("deep").u32(9);
    for _ in 0..20 {
        nested.u32(9).u64(1);
    }
    let nested = nested.0;
    let mut bad_type = good.clone();
    bad_type[first_value_len - 4..first_value_len].copy_from_slice(&13u32.to_le_bytes());
    let mut bad_utf8 = good.clone();
    bad_utf8[32] = 0xFF;
    let with_tensors = |ts: &[Tensor]| f(write_gguf(&tiny_kvs(), ts));
    let mut kvs_dup = tiny_kvs();
    kvs_dup.push(kv("tokenizer.ggml.model", GgufValue::Str("gpt2".into())));
    let mut kvs_align = tiny_kvs();
    kvs_align.push(kv("general.alignment", GgufValue::U32(3)));

    let c = Target::new("gguf-container", load_container);
    c.catalogue(vec![
        row("empty file", f(Vec::new()), "the file is empty"),
        row("wrong magic", f(b"GGUX\x03\0\0\0".to_vec()), "not a GGUF file"),
        row("version 1", f(set_u64(good.clone(), 4, 1)), "unsupported GGUF version 1"),
        row("cut inside the header (10 bytes)", f(good[..10].to_vec()), "truncated: tensor count needs 8 bytes at offset 8"),
        row("cut after 36 bytes (inside the first key)", f(good[..36].to_vec()), "truncated: 4 metadata entries needs 52 bytes"),
        row("cut inside the token array", f(good[..160].to_vec()), "metadata value of key 'tokenizer.ggml.tokens'"),
        row("cut inside the tensor data", f(good[..good.len() - 100].to_vec()), "truncated: data of tensor 'token_embd.weight'"),
        row("tensor count u64::MAX", f(set_u64(good.clone(), 8, u64::MAX)), "18446744073709551615 tensor infos"),
        row("metadata count 2^40", f(set_u64(good.clone(), 16, 1 << 40)), "1099511627776 metadata entries"),
        row("a key length u64::MAX", f(set_u64(good.clone(), 24, u64::MAX)), "key of metadata entry #0 needs 18446744073709551615 bytes"),
        row("a string length just past the end", f({
            let len = good.len() - first_value_len - 8 + 1;
            set_u64(good.clone(), first_value_len, len as u64)
        }), "truncated: metadata value of key 'tokenizer.ggml.model'"),
        row("an array count 2^60", f({
            let mut b = Builder::header(3, 0, 1);
            b.str("k").u32(9).u32(8).u64(1 << 60);
            b.0
        }), "truncated: metadata value of key 'k' needs 9223372036854775808 bytes"),
        row("unknown value type 13", f(bad_type), "unknown value type 13"),
        row("arrays nested 20 deep", f(nested), "nested deeper than 8 levels"),
        row("a key that is not UTF-8", f(bad_utf8), "is not valid UTF-8"),
        row("a duplicated key", f(write_gguf(&kvs_dup, &[])), "duplicate metadata key 'tokenizer.ggml.model'"),
        row("general.alignment 3", f(write_gguf(&kvs_align, &[])), "general.alignment must be a power of two"),
        row("a tensor with 5 dimensions", with_tensors(&[tiny_tensor("t", &[1, 1, 1, 1, 1], 0, 4)]), "has 5 dimensions (at most 4)"),
        row("dimensions [u64::MAX, 2]", with_tensors(&[tiny_tensor("t", &[u64::MAX, 2], 0, 4)]), "overflow the element count"),
        row("dimensions [2^32, 2^32] (product 2^64)", with_tensors(&[tiny_tensor("t", &[1 << 32, 1 << 32], 0, 4)]), "overflow the element count"),
        row("dimensions [2^40] of f32 (4 TiB)", with_tensors(&[tiny_tensor("t", &[1 << 40], 0, 4)]), "truncated: data of tensor 't' (f32) needs 4398046511104 bytes"),
        row("a tensor offset not aligned", f({
            let mut b = write_gguf(&tiny_kvs(), &[emb()]);
            let at = b.windows(17).position(|w| w == b"token_embd.weight").unwrap() + 17 + 4 + 16 + 4;
            b[at..at + 8].copy_from_slice(&7u64.to_le_bytes());
            b
        }), "is not a multiple of the alignment 32"),
        row("a tensor offset of 2^40", f({
            let mut b = write_gguf(&tiny_kvs(), &[emb()]);
            let at = b.windows(17).position(|w| w == b"token_embd.weight").unwrap() + 17 + 4 + 16 + 4;
            b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            b
        }), "truncated: data of tensor 'token_embd.weight' (f32) needs 2048 bytes at offset 1099511628"),
        row("two tensors with one name", with_tensors(&[emb(), emb()]), "duplicate tensor name 'token_embd.weight'"),
        row("a q8_0 tensor with rows of 33", with_tensors(&[tiny_tensor("t", &[33, 2], 8, 68)]), "row length 33 is not a multiple of its type's block size 32"),
        row("a tensor of unknown ggml type 1000", with_tensors(&[tiny_tensor("t", &[4], 1000, 16)]), ""),
    ]);

    let v = Target::new("gguf-vocab-catalogue", load_vocab);
    let edit = |f2: &dyn Fn(&mut Kvs)| {
        let mut k = tiny_kvs();
        f2(&mut k);
        vec![file("x.gguf", write_gguf(&k, &[]))]
    };
    let set = |key: &'static str, val: GgufValue| {
        move |k: &mut Vec<(String, GgufValue)>| match k.iter_mut().find(|e| e.0 == key) {
            Some(e) => e.1 = val.clone(),
            None => k.push(kv(key, val.clone())),
        }
    };
    v.catalogue(vec![
        row(
            "no tokenizer.ggml.model",
            edit(&|k| k.retain(|e| e.0 != "tokenizer.ggml.model")),
            "this GGUF file carries no tokenizer",
        ),
        row(
            "tokenizer.ggml.model is a u32",
            edit(&set("tokenizer.ggml.model", GgufValue::U32(1))),
            "tokenizer.ggml.model has type u32, expected string",
        ),
        row(
            "tokenizer model 'rwkv'",
            edit(&set("tokenizer.ggml.model", GgufValue::Str("rwkv".into()))),
            "tokenizer model 'rwkv' is not supported",
        ),
        row(
            "no tokens",
            edit(&|k| k.retain(|e| e.0 != "tokenizer.ggml.tokens")),
            "no tokenizer.ggml.tokens key",
        ),
        row(
            "tokens as an array of f32",
            edit(&set(
                "tokenizer.ggml.tokens",
                GgufValue::Array(GgufArray::F32(vec![1.0])),
            )),
            "has type array of f32, expected array of string",
        ),
        row(
            "an empty token array",
            edit(&set("tokenizer.ggml.tokens", strs(&[]))),
            "tokenizer.ggml.tokens is empty",
        ),
        row(
            "scores shorter than tokens",
            edit(&set(
                "tokenizer.ggml.scores",
                GgufValue::Array(GgufArray::F32(vec![0.0; 3])),
            )),
            "tokenizer.ggml.scores has 3 entries but tokenizer.ggml.tokens has 8",
        ),
        row(
            "token types as strings",
            edit(&set("tokenizer.ggml.token_type", strs(&["1"]))),
            "tokenizer.ggml.token_type has type array of string, expected array of i32",
        ),
        row(
            "a token listed twice",
            edit(&set(
                "tokenizer.ggml.tokens",
                strs(&["<unk>", "<s>", "</s>", "▁", "a", "b", "a", "ab"]),
            )),
            "duplicate token \"a\" in tokenizer.ggml.tokens at ids 4 and 6",
        ),
        row(
            "bos id u32::MAX, eos id -1",
            edit(&|k| {
                k.push(kv("tokenizer.ggml.bos_token_id", GgufValue::U32(u32::MAX)));
                k.push(kv("tokenizer.ggml.eos_token_id", GgufValue::I32(-1)));
            }),
            "",
        ),
        row(
            "token types out of range (-1, 7, 1000)",
            edit(&set(
                "tokenizer.ggml.token_type",
                GgufValue::Array(GgufArray::I32(vec![-1, 7, 1000, 1, 1, 1, 1, 1])),
            )),
            "",
        ),
        row(
            "gpt2 model without merges",
            edit(&set("tokenizer.ggml.model", GgufValue::Str("gpt2".into()))),
            "needs tokenizer.ggml.merges, which is missing",
        ),
        row(
            "gpt2 model with a merge without a space",
            edit(&|k| {
                set("tokenizer.ggml.model", GgufValue::Str("gpt2".into()))(k);
                k.push(kv("tokenizer.ggml.merges", strs(&["ab"])));
            }),
            "tokenizer.ggml.merges entry #0 \"ab\" has no space",
        ),
        row(
            "gpt2 model with a merge of unknown tokens",
            edit(&|k| {
                set("tokenizer.ggml.model", GgufValue::Str("gpt2".into()))(k);
                k.push(kv("tokenizer.ggml.merges", strs(&["x y"])));
            }),
            "building the byte-level BPE tokenizer",
        ),
        row(
            "pre-tokenizer 'kimi-k2'",
            edit(&|k| {
                set("tokenizer.ggml.model", GgufValue::Str("gpt2".into()))(k);
                k.push(kv("tokenizer.ggml.pre", GgufValue::Str("kimi-k2".into())));
            }),
            "pre-tokenizer type 'kimi-k2' (tokenizer.ggml.pre) is not supported",
        ),
        row(
            "t5 model with a garbage precompiled charsmap",
            edit(&|k| {
                set("tokenizer.ggml.model", GgufValue::Str("t5".into()))(k);
                k.push(kv(
                    "tokenizer.ggml.precompiled_charsmap",
                    GgufValue::Array(GgufArray::U8(vec![0xFF; 12])),
                ));
            }),
            "precompiled charsmap: trie size",
        ),
    ]);

    let w = Target::new("gguf-weights-catalogue", load_weights);
    let out = |cols: u64| tiny_tensor("output.weight", &[cols, 8], 0, cols as usize * 8 * 4);
    w.catalogue(vec![
        row(
            "the embedding as iq4_nl",
            with_tensors(&[tiny_tensor("token_embd.weight", &[64, 8], 20, 2 * 18 * 8)]),
            "has dtype iq4_nl (ggml type 20), which is not a float type we can read",
        ),
        row(
            "the embedding 3-D [64, 8, 2]",
            with_tensors(&[tiny_tensor(
                "token_embd.weight",
                &[64, 8, 2],
                0,
                64 * 16 * 4,
            )]),
            "dimensions [64, 8, 2] are not a 2-D matrix",
        ),
        row(
            "the embedding [0, 8]",
            with_tensors(&[tiny_tensor("token_embd.weight", &[0, 8], 0, 0)]),
            "empty matrix",
        ),
        row(
            "no token_embd.weight",
            with_tensors(&[tiny_tensor("blk.0.attn_q.weight", &[64, 8], 0, 64 * 8 * 4)]),
            "no input embedding tensor under the usual names",
        ),
        row(
            "output.weight with rows of 32 against 64",
            with_tensors(&[emb(), out(32)]),
            "the unembedding has rows of 32 values but the input embedding",
        ),
        row(
            "embedding and output (f32)",
            with_tensors(&[emb(), out(64)]),
            "",
        ),
    ]);
}
