//! config.json read exactly (`hf::Forward`): one test per forward-pass key, on
//! tiny-llama2tok's weights beside rewritten configs. Layouts transformers 4.x and 5.x
//! write for the same model give the same logits; a key the forward pass does not
//! implement is refused with a message naming it; `null` means absent. Also: greedy steps
//! stop at end-of-sequence, stories260K gets a placeholder, and (by hand, `--ignored`) the
//! transformers-5 SmolLM2 checkpoint agrees with the published Python method.

use crate::common;

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde_json::{json, Value};
use tokenaudit::model;
use tokenaudit::verify::{self, local::ScoreOptions, IdSource, VerifySettings};

fn tiny() -> PathBuf {
    common::data().join("models/tiny-llama2tok")
}

fn tiny_config() -> Value {
    serde_json::from_slice(&std::fs::read(tiny().join("config.json")).unwrap()).unwrap()
}

/// A model directory in `tmp` with tiny-llama2tok's weights and tokenizer and `config`.
fn with_config(tmp: &Path, name: &str, config: &Value) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        std::os::unix::fs::symlink(tiny().join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

/// tiny-llama2tok's config edited by `edit`.
fn edited(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = tiny_config();
    edit(c.as_object_mut().unwrap());
    c
}

/// The logits of a fixed prompt (long enough for RoPE to matter).
fn logits(dir: &Path) -> Vec<f32> {
    let (mut lm, _) = model::load(dir, &Device::Cpu, None).unwrap();
    let ids: Vec<u32> = (0..40).map(|i| 100 + 37 * i).collect();
    let t = Tensor::from_vec(ids, (1, 40), &Device::Cpu).unwrap();
    lm.forward(&t, 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn load_err(dir: &Path) -> String {
    match model::load(dir, &Device::Cpu, None) {
        Ok(_) => panic!("{}: expected a refusal", dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

/// The config.json transformers 5 writes for the same model: `rope_parameters` instead of
/// `rope_theta` and `rope_scaling`, `dtype` instead of `torch_dtype`, explicit nulls.
fn transformers5(c: &Value) -> Value {
    let mut c = c.clone();
    let o = c.as_object_mut().unwrap();
    let theta = o.remove("rope_theta").unwrap();
    o.remove("rope_scaling");
    o.insert(
        "rope_parameters".into(),
        json!({"rope_theta": theta, "rope_type": "default"}),
    );
    let dtype = o.remove("torch_dtype").unwrap();
    o.insert("dtype".into(), dtype);
    o.insert("transformers_version".into(), json!("5.25.0"));
    o.insert("pad_token_id".into(), Value::Null);
    o.insert("sliding_window".into(), Value::Null);
    c
}

#[test]
fn rope_parameters_layout_gives_the_rope_theta_layouts_logits() {
    let tmp = tempfile::tempdir().unwrap();
    let v4 = logits(&tiny());
    let v5 = logits(&with_config(
        tmp.path(),
        "v5",
        &transformers5(&tiny_config()),
    ));
    assert_eq!(v4, v5);
    // A base that is not candle's default: both layouts read it, and it matters.
    let base = edited(|o| {
        o.insert("rope_theta".into(), json!(100000.0));
    });
    let a = logits(&with_config(tmp.path(), "v4_1e5", &base));
    let b = logits(&with_config(tmp.path(), "v5_1e5", &transformers5(&base)));
    assert_eq!(a, b);
    assert_ne!(a, v4, "rope_theta 100000 must change the logits");
}

#[test]
fn rope_theta_in_both_places_must_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let same = edited(|o| {
        o.insert("rope_parameters".into(), json!({"rope_theta": 10000.0}));
    });
    assert_eq!(
        logits(&with_config(tmp.path(), "same", &same)),
        logits(&tiny())
    );
    let differ = edited(|o| {
        o.insert("rope_parameters".into(), json!({"rope_theta": 500000.0}));
    });
    let e = load_err(&with_config(tmp.path(), "differ", &differ));
    assert!(
        e.contains("rope_theta") && e.contains("rope_parameters.rope_theta"),
        "{e}"
    );
}

#[test]
fn explicit_nulls_mean_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let c = edited(|o| {
        for k in [
            "num_key_value_heads",
            "head_dim",
            "rope_scaling",
            "sliding_window",
            "tie_word_embeddings",
            "partial_rotary_factor",
            "hidden_act",
            "attention_bias",
            "mlp_bias",
            "rope_parameters",
            "quantization_config",
        ] {
            o.insert(k.into(), Value::Null);
        }
    });
    assert_eq!(
        logits(&with_config(tmp.path(), "nulls", &c)),
        logits(&tiny())
    );
    // And absent keys alike.
    let c = edited(|o| {
        for k in [
            "num_key_value_heads",
            "head_dim",
            "rope_scaling",
            "tie_word_embeddings",
            "hidden_act",
            "attention_bias",
            "mlp_bias",
        ] {
            o.remove(k);
        }
    });
    assert_eq!(
        logits(&with_config(tmp.path(), "absent", &c)),
        logits(&tiny())
    );
}

#[test]
fn llama3_rope_scaling_is_implemented() {
    let tmp = tempfile::tempdir().unwrap();
    let scaling = json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 16});
    let c = edited(|o| {
        o.insert("rope_scaling".into(), scaling.clone());
    });
    let a = logits(&with_config(tmp.path(), "llama3", &c));
    assert_ne!(a, logits(&tiny()), "llama3 scaling must change the logits");
    // The same in transformers 5's layout.
    let c5 = edited(|o| {
        o.remove("rope_scaling");
        let mut p = scaling.clone();
        p["rope_theta"] = o.remove("rope_theta").unwrap();
        o.insert("rope_parameters".into(), p);
    });
    assert_eq!(a, logits(&with_config(tmp.path(), "llama3_v5", &c5)));
    // A llama3 config without its factor is refused, naming the field.
    let bad = edited(|o| {
        o.insert(
            "rope_scaling".into(),
            json!({"rope_type": "llama3", "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16}),
        );
    });
    let e = load_err(&with_config(tmp.path(), "llama3_bad", &bad));
    assert!(e.contains("rope_scaling.factor"), "{e}");
}

#[test]
fn unimplemented_forward_keys_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "rope_scaling",
            json!({"type": "linear", "factor": 2.0}),
            &["rope_scaling type", "linear"],
        ),
        (
            "rope_scaling",
            json!({"rope_type": "dynamic", "factor": 2.0}),
            &["rope_scaling type", "dynamic"],
        ),
        (
            "rope_scaling",
            json!({"rope_type": "yarn", "factor": 4.0,
                "original_max_position_embeddings": 32}),
            &["rope_scaling type", "yarn"],
        ),
        (
            "rope_parameters",
            json!({"rope_type": "longrope", "rope_theta": 10000.0}),
            &["rope_parameters type", "longrope"],
        ),
        (
            "rope_parameters",
            json!({"full_attention": {"rope_theta": 10000.0},
                "sliding_attention": {"rope_theta": 10000.0}}),
            &["rope_parameters", "per layer type"],
        ),
        (
            "partial_rotary_factor",
            json!(0.5),
            &["partial_rotary_factor 0.5"],
        ),
        ("attention_bias", json!(true), &["attention_bias true"]),
        ("mlp_bias", json!(true), &["mlp_bias true"]),
        ("hidden_act", json!("gelu"), &["hidden_act \"gelu\""]),
        ("hidden_act", json!("bogus"), &["hidden_act \"bogus\""]),
        ("head_dim", json!(16), &["head_dim 16"]),
        (
            "attn_logit_softcapping",
            json!(50.0),
            &["attn_logit_softcapping"],
        ),
        ("num_experts", json!(8), &["num_experts 8"]),
        (
            "quantization_config",
            json!({"quant_method": "gptq", "bits": 4}),
            &["quantization_config.quant_method", "gptq"],
        ),
        (
            "layer_types",
            json!([
                "full_attention",
                "chunked_attention",
                "full_attention",
                "full_attention"
            ]),
            &["layer_types", "chunked_attention"],
        ),
    ];
    for (i, (key, value, want)) in cases.into_iter().enumerate() {
        let c = edited(|o| {
            o.insert(key.into(), value.clone());
        });
        let e = load_err(&with_config(tmp.path(), &format!("case{i}"), &c));
        for w in want {
            assert!(e.contains(w), "{key} = {value}: {e}");
        }
        assert!(e.contains("config.json"), "{key}: names the file: {e}");
    }
}

#[test]
fn shapes_that_cannot_work_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    // Each case's fields replace the config's (`null`: absent).
    let cases: Vec<(Value, &str)> = vec![
        (json!({"num_hidden_layers": 0}), "num_hidden_layers is 0"),
        (
            json!({"num_attention_heads": 0}),
            "num_attention_heads is 0",
        ),
        (
            json!({"num_attention_heads": 3, "num_key_value_heads": null}),
            "hidden_size 128 is not a multiple of num_attention_heads 3",
        ),
        (
            json!({"num_key_value_heads": 3}),
            "num_attention_heads 4 is not a multiple of num_key_value_heads 3",
        ),
        (
            json!({"vocab_size": -1}),
            "vocab_size must be a non-negative integer",
        ),
        (
            json!({"rope_theta": "big"}),
            "rope_theta must be a positive number",
        ),
    ];
    for (i, (fields, want)) in cases.into_iter().enumerate() {
        let c = edited(|o| {
            for (k, v) in fields.as_object().unwrap() {
                o.insert(k.clone(), v.clone());
            }
        });
        let e = load_err(&with_config(tmp.path(), &format!("shape{i}"), &c));
        assert!(e.contains(want), "{fields}: {e}");
    }
    let c = edited(|o| {
        o.remove("hidden_size");
    });
    let e = load_err(&with_config(tmp.path(), "missing", &c));
    assert!(e.contains("missing field `hidden_size`"), "{e}");
}

#[test]
fn tied_flag_and_dtype_keys_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    // transformers 5's `dtype` decides the CUDA default like 4.x's `torch_dtype`; on the
    // CPU both load in f32.
    let c = edited(|o| {
        let d = o.remove("torch_dtype").unwrap();
        o.insert("dtype".into(), d);
    });
    let (_, info) = model::load(&with_config(tmp.path(), "dtype", &c), &Device::Cpu, None).unwrap();
    assert_eq!(info.dtype, candle_core::DType::F32);
    // Tied in text_config (multimodal layout): the head is the embedding, so logits change.
    let c = edited(|o| {
        o.remove("tie_word_embeddings");
        o.insert("text_config".into(), json!({"tie_word_embeddings": true}));
    });
    assert_ne!(
        logits(&with_config(tmp.path(), "tied", &c)),
        logits(&tiny())
    );
}

#[test]
fn a_sliding_window_shorter_than_the_prompts_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let ids = vec![278, 9405];
    // Mistral applies `sliding_window`; one at least as long as the context changes
    // nothing.
    let wide = edited(|o| {
        o.insert("model_type".into(), json!("mistral"));
        o.insert("architectures".into(), json!(["MistralForCausalLM"]));
        o.insert("sliding_window".into(), json!(4096));
    });
    let dir = with_config(tmp.path(), "wide", &wide);
    let a = verify::run(&VerifySettings::new(dir, IdSource::Ids(ids.clone()))).unwrap();
    let b = verify::run(&VerifySettings::new(tiny(), IdSource::Ids(ids.clone()))).unwrap();
    for (x, y) in a.rows.iter().zip(&b.rows) {
        assert_eq!(x.score, y.score);
    }
    let narrow = edited(|o| {
        o.insert("model_type".into(), json!("mistral"));
        o.insert("sliding_window".into(), json!(64));
    });
    let dir = with_config(tmp.path(), "narrow", &narrow);
    let e = format!(
        "{:#}",
        verify::run(&VerifySettings::new(dir, IdSource::Ids(ids.clone())))
            .err()
            .expect("a 64-position window must be refused")
    );
    assert!(e.contains("sliding_window 64"), "{e}");
    // Llama's config has no sliding window: transformers ignores the key, so do we.
    let llama = edited(|o| {
        o.insert("sliding_window".into(), json!(64));
    });
    let dir = with_config(tmp.path(), "llama_window", &llama);
    let c = verify::run(&VerifySettings::new(dir, IdSource::Ids(ids))).unwrap();
    for (x, y) in c.rows.iter().zip(&b.rows) {
        assert_eq!(x.score, y.score);
    }
}

#[test]
fn transformers5_layout_verifies_like_the_original() {
    // The CI-able stand-in for the SmolLM2 check below: tiny-llama2tok's config rewritten
    // as transformers 5 writes it.
    let tmp = tempfile::tempdir().unwrap();
    let dir = with_config(tmp.path(), "v5", &transformers5(&tiny_config()));
    let ids = vec![13, 278, 450, 1576, 29871, 9405, 28682];
    let a = verify::run(&VerifySettings::new(dir, IdSource::Ids(ids.clone()))).unwrap();
    let b = verify::run(&VerifySettings::new(tiny(), IdSource::Ids(ids))).unwrap();
    for (x, y) in a.rows.iter().zip(&b.rows) {
        assert_eq!((x.id, x.score, x.verdict), (y.id, y.score, y.verdict));
    }
}

/// Greedy steps per prompt the scorer would take, seen through the scores: with `eos`
/// set to a prompt's first greedy token, only step 1 counts.
#[test]
fn greedy_steps_stop_at_end_of_sequence() {
    let dir = tiny();
    let v = tokenaudit::model::LoadedModel::load(&VerifySettings::new(
        dir.clone(),
        IdSource::Ids(vec![278]),
    ))
    .unwrap();
    let tokenaudit::model::Runtime::Local(lm) = &v.runtime else {
        panic!("in process")
    };
    let (_, _, built) = verify::prompts::build_with_placeholder(
        &v.vocab,
        &v.audit,
        v.bos,
        v.info.max_positions,
        3,
        &verify::prompts::TEMPLATES,
    )
    .unwrap();
    let p = &built[0];
    let cands: Vec<u32> = vec![
        278, 9405, 13, 450, 1576, 29871, 28682, 5624, 15653, 31192, 338, 29889, 1014, 3186,
    ];
    // Each candidate's greedy tokens and per-step probabilities, by hand.
    let mut greedy: Vec<Vec<u32>> = Vec::new();
    let mut step_probs: Vec<Vec<f32>> = Vec::new();
    for &c in &cands {
        let mut m = lm.fork();
        let mut seq = p.with(c);
        let (mut probs, mut next_ids) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            m.reset(false).unwrap();
            let n = seq.len();
            let t = Tensor::from_vec(seq.clone(), (1, n), &Device::Cpu).unwrap();
            let l = m.forward(&t, 0).unwrap().squeeze(0).unwrap();
            let pr: Vec<f32> = candle_nn::ops::softmax_last_dim(&l)
                .unwrap()
                .to_vec1()
                .unwrap();
            probs.push(pr[c as usize]);
            let next = l.argmax(0).unwrap().to_scalar::<u32>().unwrap();
            next_ids.push(next);
            seq.push(next);
        }
        step_probs.push(probs);
        greedy.push(next_ids);
    }
    // What Hugging Face `generate` scores: the steps up to and including the first that
    // generates `eos`.
    let hf = |i: usize, eos: Option<u32>| -> f32 {
        let mut best = 0f32;
        for (p, g) in step_probs[i].iter().zip(&greedy[i]) {
            best = best.max(*p);
            if Some(*g) == eos {
                break;
            }
        }
        best
    };
    // A candidate whose best step is a later one: making its first greedy token the
    // end-of-sequence id must lower its score to its step-1 probability.
    let k = (0..cands.len())
        .find(|&i| {
            step_probs[i][1..]
                .iter()
                .any(|&q| q > step_probs[i][0] * 1.01)
        })
        .expect("some candidate's best step is a later one");
    let eos = greedy[k][0];
    for opts in [
        ScoreOptions::published(),
        ScoreOptions {
            batch_size: 8,
            kv_cache: true,
            prefix_cache: true,
            steps: 3,
        },
    ] {
        let mut s = verify::local::Scorer::new(lm, &Device::Cpu, p, opts).with_eos(&[eos]);
        let got = s.score(&cands, None).unwrap();
        for (i, &c) in cands.iter().enumerate() {
            let want = hf(i, Some(eos));
            assert!(
                (got[i] - want).abs() <= 1e-5 * want.max(1e-3),
                "{opts:?} candidate {c} (greedy {:?}): {} vs {want} (steps {:?})",
                greedy[i],
                got[i],
                step_probs[i]
            );
        }
        assert!((got[k] - step_probs[k][0]).abs() <= 1e-5 * step_probs[k][0]);
        assert!(
            got[k] < hf(k, None),
            "the stop must lower candidate {}",
            cands[k]
        );
        assert!(
            (0..cands.len()).any(|i| !greedy[i].contains(&eos) && hf(i, None) > 0.0),
            "some candidate must go on past step 1 for the test to mean anything"
        );
        // Without the end-of-sequence id every candidate scores all three steps.
        let mut s = verify::local::Scorer::new(lm, &Device::Cpu, p, opts);
        let got = s.score(&cands, None).unwrap();
        for (i, &g) in got.iter().enumerate() {
            let want = hf(i, None);
            assert!((g - want).abs() <= 1e-5 * want.max(1e-3));
        }
    }
}

#[test]
fn stories260k_verifies_with_a_fallback_placeholder() {
    let dir = common::data().join("models/stories260K");
    let ids = vec![300, 400, 450, 100];
    let r = verify::run(&VerifySettings::new(dir, IdSource::Ids(ids))).unwrap();
    // No OK token of this vocabulary fits `«{token}»` (its OK words all start with `▁`):
    // the placeholder is a word-internal piece, one token in every slot.
    let (_, text) = &r.placeholder;
    assert!(
        !text.is_empty() && text.chars().all(|c| c.is_alphabetic()),
        "{text}"
    );
    for p in &r.prompts {
        assert!(!p.slots.is_empty(), "{}", p.name);
    }
    assert_eq!(r.rows.len(), 4);
    for row in &r.rows {
        assert!(row.score > 0.0 && row.score <= 1.0, "{row:?}");
    }
}

/// By hand (`cargo test --release --test it smollm2 -- --ignored`, ~minutes on 2 cores):
/// the transformers-5 SmolLM2-135M-Instruct checkpoint against the published Python
/// method's scores. Skips when the checkpoint or the Python scores are not here.
#[test]
#[ignore]
fn smollm2_transformers5_agrees_with_the_python_method() {
    let dir = PathBuf::from("/work/main/target/smollm2-hf");
    let py = PathBuf::from("/work/cmp/python_verify_smollm2.csv");
    if !dir.join("config.json").is_file() || !py.is_file() {
        eprintln!("skipped: {} or {} is not here", dir.display(), py.display());
        return;
    }
    let text = std::fs::read_to_string(&py).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let (ci, cs, cv) = (col("token_id"), col("score"), col("verdict"));
    let mut want = Vec::new();
    for l in lines {
        // The token column may hold commas: count the id from the left and the rest
        // from the right.
        let f: Vec<&str> = l.split(',').collect();
        let back = head.len() - cs;
        let id: u32 = f[ci].parse().unwrap();
        let score: f64 = f[f.len() - back].parse().unwrap();
        let verdict = f[f.len() - back + (cv - cs)].to_string();
        want.push((id, score, verdict));
    }
    let ids: Vec<u32> = want.iter().map(|w| w.0).collect();
    let mut s = VerifySettings::new(dir, IdSource::Ids(ids));
    s.early_stop = false;
    let r = verify::run(&s).unwrap();
    let mut same = 0;
    let mut max_diff = 0f64;
    for (row, (id, score, verdict)) in r.rows.iter().zip(&want) {
        assert_eq!(row.id, *id);
        if row.verdict.name() == verdict {
            same += 1;
        }
        max_diff = max_diff.max((row.score as f64 - score).abs());
    }
    eprintln!(
        "smollm2: {same}/{} verdicts agree, max |score diff| {max_diff:.3e}",
        want.len()
    );
    assert_eq!(same, want.len());
    assert!(max_diff < 1e-5, "{max_diff}");
}

/// A copy of the tiny reference checkpoint `tests/models/NAME` in `tmp` with its config
/// edited by `edit`.
fn reference_copy(
    tmp: &Path,
    name: &str,
    tag: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/models")
        .join(name);
    let dir = tmp.join(format!("{name}-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(src.join("model.safetensors"), dir.join("model.safetensors"))
        .unwrap();
    let mut c: Value =
        serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
    edit(c.as_object_mut().unwrap());
    std::fs::write(dir.join("config.json"), c.to_string()).unwrap();
    dir
}

/// The last logits of a fixed 30-token prompt of ids below 512.
fn small_logits(dir: &Path) -> Vec<f32> {
    let (mut lm, _) = model::load(dir, &Device::Cpu, None).unwrap();
    let ids: Vec<u32> = (0..30).map(|i| (7 + 37 * i) % 512).collect();
    let t = Tensor::from_vec(ids, (1, 30), &Device::Cpu).unwrap();
    lm.forward(&t, 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The 4.x spellings of GPT-NeoX's and Phi's rotary settings (`rotary_pct`,
/// `rotary_emb_base`, top-level `partial_rotary_factor` and `rope_theta`) load to the
/// same function as the 5.x `rope_parameters`; copies that disagree are refused; and a
/// rotary share that changes the function does change the logits.
#[test]
fn rotary_settings_of_4x_and_5x_configs_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let v5 = small_logits(&reference_copy(tmp.path(), "gpt_neox", "v5", |_| {}));
    let v4 = small_logits(&reference_copy(tmp.path(), "gpt_neox", "v4", |o| {
        o.remove("rope_parameters");
        o.insert("rotary_pct".into(), json!(0.5));
        o.insert("rotary_emb_base".into(), json!(10000));
        o.insert("torch_dtype".into(), o["dtype"].clone());
        o.remove("dtype");
    }));
    assert_eq!(v4, v5);
    let quarter = small_logits(&reference_copy(tmp.path(), "gpt_neox", "quarter", |o| {
        o.insert(
            "rope_parameters".into(),
            json!({"rope_theta": 10000.0, "rope_type": "default", "partial_rotary_factor": 0.25}),
        );
    }));
    assert_ne!(quarter, v5, "the rotary share must change the logits");
    let e = load_err(&reference_copy(tmp.path(), "gpt_neox", "lying", |o| {
        o.insert("rotary_pct".into(), json!(0.25));
    }));
    assert!(e.contains("differ") && e.contains("rotary_pct"), "{e}");

    let p5 = small_logits(&reference_copy(tmp.path(), "phi", "v5", |_| {}));
    let p4 = small_logits(&reference_copy(tmp.path(), "phi", "v4", |o| {
        o.remove("rope_parameters");
        o.insert("partial_rotary_factor".into(), json!(0.5));
        o.insert("rope_theta".into(), json!(10000.0));
    }));
    assert_eq!(p4, p5);
}

/// Per architecture, a config key whose value changes the forward pass in a way it does
/// not implement is refused by name (never computed as another function).
#[test]
fn each_architecture_refuses_what_it_does_not_implement() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, Value, &str)] = &[
        (
            "gemma2",
            "query_pre_attn_scalar",
            json!(144),
            "query_pre_attn_scalar 144",
        ),
        ("falcon", "alibi", json!(true), "alibi"),
        (
            "falcon-7b",
            "num_ln_in_parallel_attn",
            json!(3),
            "num_ln_in_parallel_attn 3",
        ),
        (
            "cohere",
            "rope_parameters",
            json!({"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}),
            "rope_parameters type",
        ),
        ("granite", "hidden_act", json!("gelu_fast"), "hidden_act"),
        (
            "mixtral",
            "num_experts_per_tok",
            json!(5),
            "exceeds num_local_experts",
        ),
        ("stablelm", "partial_rotary_factor", json!(0.75), "differ"),
        ("olmo2", "clip_qkv", json!(0.5), "clip_qkv"),
        (
            "gpt2",
            "scale_attn_by_inverse_layer_idx",
            json!(true),
            "scale_attn_by_inverse",
        ),
        ("gptj", "rotary_dim", json!(9), "rotary_dim 9"),
        (
            "qwen3",
            "attn_logit_softcapping",
            json!(30.0),
            "attn_logit_softcapping",
        ),
        (
            "phi",
            "use_parallel_residual",
            json!(true),
            "use_parallel_residual",
        ),
    ];
    for (arch, key, value, want) in cases {
        let dir = reference_copy(tmp.path(), arch, key, |o| {
            o.insert(key.to_string(), value.clone());
        });
        let e = load_err(&dir);
        assert!(e.contains(want), "{arch} {key} = {value}: {e}");
        assert!(
            e.contains("config.json"),
            "{arch} {key}: names the file: {e}"
        );
    }
}
