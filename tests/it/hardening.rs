//! Issue 17: hostile model directories, config.json values and files made here. Each run
//! must end with one line naming the file and the problem (exit 1), or with the right
//! result; never a panic (exit 101), a backtrace, unbounded memory or a hang.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use safetensors::Dtype;
use serde_json::{json, Value};
use tokenaudit::model;

pub(crate) fn stories() -> PathBuf {
    common::data().join("models/stories260K")
}

pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tokenaudit"));
    // candle captures a backtrace into its error text when this is set: the messages
    // must not show it.
    c.env("RUST_BACKTRACE", "1");
    c
}

/// Run with a deadline: a hang fails the test instead of blocking it.
pub(crate) fn run(mut c: Command, secs: u64) -> (i32, String, String) {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            child.kill().unwrap();
            panic!("still running after {secs} s: {c:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit 1, and stderr is exactly `tokenaudit: error: WANT` on one line.
pub(crate) fn assert_error(r: (i32, String, String), want: &str) {
    let (code, _, err) = r;
    assert_ne!(code, 101, "panicked: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(!err.contains("candle_core::"), "backtrace text: {err}");
    assert_eq!(code, 1, "exit code for: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert_eq!(err.trim_end(), format!("tokenaudit: error: {want}"));
}

pub(crate) fn config() -> Value {
    serde_json::from_slice(&std::fs::read(stories().join("config.json")).unwrap()).unwrap()
}

pub(crate) fn tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(stories().join("model.safetensors"), &Device::Cpu).unwrap()
}

/// A model directory `tmp/name` with stories260K's tokenizer, `config` and either
/// stories260K's weights (`None`: linked) or the given safetensors bytes.
pub(crate) fn model_dir(
    tmp: &Path,
    name: &str,
    config: &Value,
    weights: Option<Vec<u8>>,
) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::os::unix::fs::symlink(stories().join(f), dir.join(f)).unwrap();
    }
    match weights {
        None => std::os::unix::fs::symlink(
            stories().join("model.safetensors"),
            dir.join("model.safetensors"),
        )
        .unwrap(),
        Some(b) => std::fs::write(dir.join("model.safetensors"), b).unwrap(),
    }
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

/// stories260K's tensors as safetensors bytes, with `edit` applied to the list of
/// (name, dtype, shape, bytes).
pub(crate) fn weights_with(
    edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
) -> Vec<u8> {
    let mut list: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors()
        .into_iter()
        .map(|(n, t)| {
            let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            (
                n,
                Dtype::F32,
                t.dims().to_vec(),
                common::writers::f32_bytes(&v),
            )
        })
        .collect();
    edit(&mut list);
    let refs: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = list
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.clone(), b.clone()))
        .collect();
    common::writers::st_bytes(&refs)
}

pub(crate) fn edited(fields: Value) -> Value {
    let mut c = config();
    for (k, v) in fields.as_object().unwrap() {
        c.as_object_mut().unwrap().insert(k.clone(), v.clone());
    }
    c
}

pub(crate) fn verify(dir: &Path) -> (i32, String, String) {
    let mut c = bin();
    c.arg("verify").arg(dir).args(["--ids", "5,6"]);
    run(c, 120)
}

#[test]
fn configs_that_disagree_with_the_tensors_are_named_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cases: Vec<(&str, Value, String)> = vec![
        (
            "kv_heads",
            json!({"num_key_value_heads": 2}),
            "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [32, 64], but {C} \
             implies [16, 64]"
                .into(),
        ),
        (
            "intermediate",
            json!({"intermediate_size": 100}),
            "tensor 'model.layers.0.mlp.down_proj.weight' has shape [64, 172], but {C} \
             implies [64, 100]"
                .into(),
        ),
        (
            "vocab",
            json!({"vocab_size": 1000}),
            "tensor 'model.embed_tokens.weight' has shape [512, 64], but {C} implies \
             [1000, 64]"
                .into(),
        ),
        (
            "layers",
            json!({"num_hidden_layers": 6}),
            "tensor 'model.layers.5.input_layernorm.weight' is missing: not a complete \
             Llama-family checkpoint for {C}"
                .into(),
        ),
        (
            "untied",
            json!({"tie_word_embeddings": false}),
            "tensor 'lm_head.weight' is missing: not a complete Llama-family checkpoint \
             for {C}"
                .into(),
        ),
    ];
    for (name, fields, want) in cases {
        let dir = model_dir(t, name, &edited(fields), None);
        let want = format!(
            "{}: {}",
            dir.join("model.safetensors").display(),
            want.replace("{C}", &dir.join("config.json").display().to_string())
        );
        assert_error(verify(&dir), &want);
    }
}

#[test]
fn config_values_candle_would_divide_or_loop_by_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "heads0",
            json!({"num_attention_heads": 0}),
            "num_attention_heads is 0: not a usable model",
        ),
        (
            "layers0",
            json!({"num_hidden_layers": 0}),
            "num_hidden_layers is 0: not a usable model",
        ),
        (
            "kv0",
            json!({"num_key_value_heads": 0}),
            "num_key_value_heads is 0: not a usable model",
        ),
        (
            "gelu",
            json!({"hidden_act": "gelu"}),
            "hidden_act \"gelu\" is not implemented by the llama forward pass (silu only); \
             refused rather than computing another function than the checkpoint's",
        ),
        (
            "bogus",
            json!({"hidden_act": "bogus"}),
            "hidden_act \"bogus\" is not implemented by the llama forward pass (silu only); \
             refused rather than computing another function than the checkpoint's",
        ),
    ];
    for (name, fields, want) in cases {
        let dir = model_dir(t, name, &edited(fields), None);
        let (code, out, err) = verify(&dir);
        assert_error(
            (code, out, err),
            &format!("{}: {want}", dir.join("config.json").display()),
        );
    }
}

#[test]
fn tensors_of_the_wrong_shape_or_dtype_are_named_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // A layer tensor stored transposed.
    let w = weights_with(|l| {
        let e = l
            .iter_mut()
            .find(|e| e.0 == "model.layers.3.mlp.down_proj.weight")
            .unwrap();
        e.2 = vec![e.2[1], e.2[0]];
    });
    let dir = model_dir(t, "transposed", &config(), Some(w));
    assert_error(
        verify(&dir),
        &format!(
            "{}: tensor 'model.layers.3.mlp.down_proj.weight' has shape [172, 64], but {} \
             implies [64, 172]",
            dir.join("model.safetensors").display(),
            dir.join("config.json").display()
        ),
    );
    // A norm stored as booleans.
    let w = weights_with(|l| {
        let e = l.iter_mut().find(|e| e.0 == "model.norm.weight").unwrap();
        e.1 = Dtype::BOOL;
        e.3 = vec![1u8; 64];
    });
    let dir = model_dir(t, "bool", &config(), Some(w));
    assert_error(
        verify(&dir),
        &format!(
            "{}: tensor 'model.norm.weight' has dtype BOOL, not a float dtype a forward pass \
             can use (F32, F16, BF16, F64)",
            dir.join("model.safetensors").display()
        ),
    );
}

#[test]
fn huge_declared_context_costs_nothing_and_long_runs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, n) in [("ctx24", 1u64 << 24), ("ctx28", 1u64 << 28)] {
        let dir = model_dir(
            tmp.path(),
            name,
            &edited(json!({ "max_position_embeddings": n })),
            None,
        );
        // Under a 3 GB address-space limit: 2^28 positions would need a 16 GiB table.
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!(
            "ulimit -v 3000000; exec {} verify {} --ids 5,6",
            env!("CARGO_BIN_EXE_tokenaudit"),
            dir.display()
        ));
        let (code, out, err) = run(c, 120);
        assert_eq!(code, 0, "{name}: {out}{err}");
        let (mut lm, info) = model::load(&dir, &Device::Cpu, None).unwrap();
        assert_eq!(
            info.max_positions, n as usize,
            "the model's own limit is kept"
        );
        let ids = Tensor::new(&[[5u32, 6, 7]], &Device::Cpu).unwrap();
        lm.forward(&ids, 0).unwrap();
        let e = lm.forward(&ids, model::RUN_POSITIONS - 2).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!(
                "{}: a forward pass to position 8193 is past the 8192 positions the model was \
                 built for (at most 8192 per run; docs/faults.md)",
                dir.join("model.safetensors").display()
            )
        );
    }
}
