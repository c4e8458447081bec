//! The other architectures `verify` drives: Qwen2 and Phi-3 (random tiny checkpoints made
//! here in their Hugging Face layout, with the tiny-llama2tok (Llama-2) tokenizer), and Mistral configs
//! routed to the Llama implementation. They load, run the verification prompts, and a
//! missing tensor is an error, not a crash.

use crate::common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use tokenaudit::verify::{self, IdSource, VerifySettings};

const VOCAB: usize = 32000;
const H: usize = 64;
const I: usize = 128;
const LAYERS: usize = 2;

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 0.05, shape, &Device::Cpu).unwrap()
}

fn write_model(dir: &Path, config: serde_json::Value, tensors: HashMap<String, Tensor>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let tok = common::data().join("models/tiny-llama2tok/tokenizer.json");
    std::fs::copy(tok, dir.join("tokenizer.json")).unwrap();
}

fn common_tensors(t: &mut HashMap<String, Tensor>) {
    t.insert("model.embed_tokens.weight".into(), randn(&[VOCAB, H]));
    t.insert(
        "model.norm.weight".into(),
        Tensor::ones(H, candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    t.insert("lm_head.weight".into(), randn(&[VOCAB, H]));
    for l in 0..LAYERS {
        for n in ["input_layernorm", "post_attention_layernorm"] {
            t.insert(
                format!("model.layers.{l}.{n}.weight"),
                Tensor::ones(H, candle_core::DType::F32, &Device::Cpu).unwrap(),
            );
        }
        t.insert(
            format!("model.layers.{l}.self_attn.o_proj.weight"),
            randn(&[H, H]),
        );
        t.insert(
            format!("model.layers.{l}.mlp.down_proj.weight"),
            randn(&[H, I]),
        );
    }
}

fn qwen2(dir: &Path) {
    let mut t = HashMap::new();
    common_tensors(&mut t);
    for l in 0..LAYERS {
        for p in ["q_proj", "k_proj", "v_proj"] {
            t.insert(
                format!("model.layers.{l}.self_attn.{p}.weight"),
                randn(&[H, H]),
            );
            t.insert(format!("model.layers.{l}.self_attn.{p}.bias"), randn(&[H]));
        }
        t.insert(
            format!("model.layers.{l}.mlp.gate_proj.weight"),
            randn(&[I, H]),
        );
        t.insert(
            format!("model.layers.{l}.mlp.up_proj.weight"),
            randn(&[I, H]),
        );
    }
    let cfg = serde_json::json!({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "vocab_size": VOCAB, "hidden_size": H, "intermediate_size": I,
        "num_hidden_layers": LAYERS, "num_attention_heads": 4, "num_key_value_heads": 4,
        "max_position_embeddings": 512, "sliding_window": 512, "max_window_layers": LAYERS,
        "tie_word_embeddings": false, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
        "use_sliding_window": false, "hidden_act": "silu"
    });
    write_model(dir, cfg, t);
}

fn phi3(dir: &Path) {
    let mut t = HashMap::new();
    common_tensors(&mut t);
    for l in 0..LAYERS {
        t.insert(
            format!("model.layers.{l}.self_attn.qkv_proj.weight"),
            randn(&[3 * H, H]),
        );
        t.insert(
            format!("model.layers.{l}.mlp.gate_up_proj.weight"),
            randn(&[2 * I, H]),
        );
    }
    let cfg = serde_json::json!({
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3",
        "vocab_size": VOCAB, "hidden_act": "silu", "hidden_size": H, "intermediate_size": I,
        "num_hidden_layers": LAYERS, "num_attention_heads": 4, "num_key_value_heads": 4,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 2,
        "rope_scaling": null, "max_position_embeddings": 512, "tie_word_embeddings": false
    });
    write_model(dir, cfg, t);
}

fn verify_ids(dir: &Path, ids: Vec<u32>) -> anyhow::Result<verify::VerifyReport> {
    let mut s = VerifySettings::new(dir.to_path_buf(), IdSource::Ids(ids));
    // Random weights repeat nothing: the control tokens would (rightly) refuse them.
    s.controls = false;
    verify::run(&s)
}

#[test]
fn qwen2_and_phi3_checkpoints_verify() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, make) in [("qwen2", qwen2 as fn(&Path)), ("phi3", phi3)] {
        let dir = tmp.path().join(name);
        make(&dir);
        let r =
            verify_ids(&dir, vec![300, 301, 302, 400]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(r.info.arch.map(|a| a.name()).unwrap_or_default(), name);
        assert_eq!(r.rows.len(), 4);
        for row in &r.rows {
            assert!(row.score > 0.0 && row.score < 1.0, "{name}: {row:?}");
        }
        // The fast path and the published path agree on these architectures too.
        let mut s = VerifySettings::new(dir.clone(), IdSource::Ids(vec![300, 301, 302, 400]));
        s.scoring = verify::local::ScoreOptions::published();
        s.early_stop = false;
        s.controls = false;
        let slow = verify::run(&s).unwrap();
        for (a, b) in r.rows.iter().zip(&slow.rows) {
            for (x, y) in a.prompt_scores.iter().zip(&b.prompt_scores) {
                let (x, y) = (x.unwrap(), y.unwrap());
                assert!(
                    (x - y).abs() <= 1e-4 * y.max(1e-4),
                    "{name} id {}: {x} vs {y}",
                    a.id
                );
            }
        }
        // Remove a tensor: a clear error naming it.
        let st = dir.join("model.safetensors");
        let mut tensors = candle_core::safetensors::load(&st, &Device::Cpu).unwrap();
        tensors.remove("model.layers.1.post_attention_layernorm.weight");
        candle_core::safetensors::save(&tensors, &st).unwrap();
        let e = verify_ids(&dir, vec![300])
            .err()
            .expect("missing tensor must fail");
        assert!(
            format!("{e:#}").contains("post_attention_layernorm"),
            "{name}: {e:#}"
        );
    }
}

#[test]
fn mistral_config_runs_the_llama_implementation() {
    let src = common::data().join("models/tiny-llama2tok");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mistral");
    std::fs::create_dir(&dir).unwrap();
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::os::unix::fs::symlink(src.join(f), dir.join(f)).unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
    cfg["model_type"] = "mistral".into();
    cfg["architectures"] = serde_json::json!(["MistralForCausalLM"]);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let a = verify_ids(&dir, vec![278, 9405]).unwrap();
    let b = verify_ids(&src, vec![278, 9405]).unwrap();
    assert_eq!(a.info.arch.map(|a| a.name()).unwrap_or_default(), "llama");
    for (x, y) in a.rows.iter().zip(&b.rows) {
        assert_eq!(x.score, y.score);
    }
}
