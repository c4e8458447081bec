//! Fuzzing the model layer: stories260K's config.json with 1 to 3 fields changed (zero,
//! huge, negative, fractional, wrong-typed or removed values) crossed with 0 to 2 edits of
//! its tensors (transposed, a row short or long, reshaped, renamed, removed, declared as
//! another dtype, NaN), then `model::load` and a forward pass of three tokens. Each case
//! must end in logits or an error naming the file, within the time and heap bounds of the
//! driver: never a panic (a candle panic must come back as an error), a hang or an
//! allocation sized by a config value. See `tests/fuzz/driver.rs` and `docs/faults.md`.

use std::path::Path;

use candle_core::{Device, Tensor};
use proptest::prelude::*;
use safetensors::Dtype;
use serde_json::{json, Value};

use crate::common;
use crate::driver::*;

fn load(p: &Path) -> Result<String, String> {
    let dir = p.parent().unwrap();
    let (mut lm, info) =
        tokenaudit::model::load(dir, &Device::Cpu, None).map_err(|e| format!("{e:#}"))?;
    let ids = Tensor::new(&[[1u32, 2, 3]], &Device::Cpu).map_err(|e| e.to_string())?;
    let logits = lm.forward(&ids, 0).map_err(|e| format!("{e:#}"))?;
    Ok(format!(
        "{:?} logits, vocab {}",
        logits.dims(),
        info.vocab_size
    ))
}

fn stories() -> std::path::PathBuf {
    common::data().join("models/stories260K")
}

type List = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

fn tensors() -> List {
    let mut v: List =
        candle_core::safetensors::load(stories().join("model.safetensors"), &Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(n, t)| {
                let x: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
                (
                    n,
                    Dtype::F32,
                    t.dims().to_vec(),
                    common::writers::f32_bytes(&x),
                )
            })
            .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

const FIELDS: &[&str] = &[
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "tie_word_embeddings",
    "hidden_act",
    "rope_scaling",
    "torch_dtype",
    "bos_token_id",
    "eos_token_id",
    "model_type",
    "attention_bias",
    "mlp_bias",
    "sliding_window",
];

fn values() -> Vec<Value> {
    vec![
        json!(0),
        json!(1),
        json!(2),
        json!(3),
        json!(7),
        json!(63),
        json!(64),
        json!(65),
        json!(128),
        json!(172),
        json!(512),
        json!(1u64 << 24),
        json!(1u64 << 31),
        json!(1u64 << 32),
        json!(u64::MAX),
        json!(-1),
        json!(1.5),
        json!(1e-12),
        json!(1e300),
        json!("x"),
        json!("gelu"),
        json!("qwen2"),
        json!("phi3"),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!({"rope_type": "llama3", "factor": 8.0}),
        json!({"rope_type": "linear", "factor": 0.0}),
    ]
}

#[derive(Debug, Clone)]
enum TensorEdit {
    Transpose(usize),
    RowShort(usize),
    RowLong(usize),
    Flatten(usize),
    Rename(usize),
    Remove(usize),
    AsF16(usize),
    Nan(usize),
}

fn tensor_edit() -> impl Strategy<Value = TensorEdit> {
    (0..8usize, 0..64usize).prop_map(|(k, i)| match k {
        0 => TensorEdit::Transpose(i),
        1 => TensorEdit::RowShort(i),
        2 => TensorEdit::RowLong(i),
        3 => TensorEdit::Flatten(i),
        4 => TensorEdit::Rename(i),
        5 => TensorEdit::Remove(i),
        6 => TensorEdit::AsF16(i),
        _ => TensorEdit::Nan(i),
    })
}

fn apply(list: &mut List, e: &TensorEdit) {
    let n = list.len();
    let pick = |i: usize| i % n;
    match *e {
        TensorEdit::Transpose(i) => {
            let t = &mut list[pick(i)];
            if t.2.len() == 2 {
                t.2.swap(0, 1);
            }
        }
        TensorEdit::RowShort(i) => {
            let t = &mut list[pick(i)];
            let row: usize = t.2[1..].iter().product::<usize>() * (t.1.bitsize() / 8);
            if t.2[0] > 1 {
                t.2[0] -= 1;
                t.3.truncate(t.3.len() - row);
            }
        }
        TensorEdit::RowLong(i) => {
            let t = &mut list[pick(i)];
            let row: usize = t.2[1..].iter().product::<usize>() * (t.1.bitsize() / 8);
            t.2[0] += 1;
            t.3.extend(std::iter::repeat_n(0u8, row));
        }
        TensorEdit::Flatten(i) => {
            let t = &mut list[pick(i)];
            t.2 = vec![t.2.iter().product()];
        }
        TensorEdit::Rename(i) => {
            let t = &mut list[pick(i)];
            t.0 = format!("{}.renamed", t.0);
        }
        TensorEdit::Remove(i) => {
            list.remove(pick(i));
        }
        TensorEdit::AsF16(i) => {
            let t = &mut list[pick(i)];
            t.1 = Dtype::F16;
            *t.2.last_mut().unwrap() *= 2;
        }
        TensorEdit::Nan(i) => {
            let t = &mut list[pick(i)];
            for c in t.3.chunks_mut(4).step_by(7) {
                c.copy_from_slice(&f32::NAN.to_le_bytes());
            }
        }
    }
}

fn weights(list: &List) -> Vec<u8> {
    let refs: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = list
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.clone(), b.clone()))
        .collect();
    common::writers::st_bytes(&refs)
}

#[test]
fn model_configs_and_tensor_shapes() {
    let t = Target::new("model", load);
    let config: Value =
        serde_json::from_slice(&std::fs::read(stories().join("config.json")).unwrap()).unwrap();
    let base = tensors();
    let tok = std::fs::read(stories().join("tokenizer.json")).unwrap();
    let seed_files = vec![
        file("config.json", config.to_string()),
        file("model.safetensors", weights(&base)),
        file("tokenizer.json", &tok),
    ];
    t.seed_loads("stories260K", &seed_files);
    let vals = values();
    let n_vals = vals.len();
    let edit = (0..FIELDS.len(), 0..n_vals + 1);
    t.random(
        scaled(300),
        (
            proptest::collection::vec(edit, 1..=3),
            proptest::collection::vec(tensor_edit(), 0..=2),
        ),
        |(fields, edits)| {
            let mut c = config.clone();
            let mut label = Vec::new();
            for &(f, v) in fields {
                let key = FIELDS[f];
                if v == n_vals {
                    c.as_object_mut().unwrap().remove(key);
                    label.push(format!("-{key}"));
                } else {
                    c[key] = vals[v].clone();
                    label.push(format!("{key}={}", vals[v]));
                }
            }
            let mut list = base.clone();
            for e in edits {
                apply(&mut list, e);
                label.push(format!("{e:?}"));
            }
            (
                label.join(" "),
                vec![
                    file("config.json", c.to_string()),
                    file("model.safetensors", weights(&list)),
                    file("tokenizer.json", &tok),
                ],
            )
        },
    );
    t.report();
}
