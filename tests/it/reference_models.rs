//! Every architecture against transformers: the tiny random checkpoints in `tests/models/`
//! (made by `tests/models/make.py`) carry transformers' f32 logits for a fixed input and
//! its greedy continuation. Our forward pass must give every logit within 1e-4, both one
//! position at a time through the KV cache, as one pass over the whole prefix, and as a
//! batch of two suffixes after a forked shared prefix (the verifier's path), the same
//! greedy ids, and f16 / bf16 loads of the same weights close to the f32 logits. Folders of architectures not implemented here are listed, not skipped
//! silently: the test fails when a folder names an architecture `verify` refuses, unless
//! it is in [`NOT_YET`].

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde_json::Value;
use tokenaudit::model;

/// Reference folders whose architecture has no forward pass here yet (issue 16).
const NOT_YET: &[&str] = &[];

/// `tests/models`, or `TOKENAUDIT_REFERENCE_MODELS` (for trying freshly made folders).
fn models() -> PathBuf {
    std::env::var_os("TOKENAUDIT_REFERENCE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models"))
}

fn max_diff(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
}

/// Check one folder: logits position by position (cache), whole-prefix passes, greedy.
pub fn check_folder(dir: &Path) -> Result<String, String> {
    let reference: Value = serde_json::from_slice(
        &std::fs::read(dir.join("reference.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let ids: Vec<u32> = reference["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let logits: Vec<Vec<f64>> = reference["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    let greedy: Vec<u32> = reference["greedy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let dev = Device::Cpu;
    let (mut lm, _) = model::load(dir, &dev, None).map_err(|e| format!("{e:#}"))?;
    let row = |t: &Tensor| -> Vec<f32> { t.squeeze(0).unwrap().to_vec1().unwrap() };
    // One position at a time through the cache.
    let mut worst: f64 = 0.0;
    for (i, &id) in ids.iter().enumerate() {
        let x = Tensor::new(&[[id]], &dev).unwrap();
        let got = row(&lm.forward(&x, i).map_err(|e| format!("{e:#}"))?);
        worst = worst.max(max_diff(&got, &logits[i]));
    }
    // Greedy continuation from there.
    let mut next = Vec::new();
    let mut cur: Vec<f32> = logits[ids.len() - 1].iter().map(|&x| x as f32).collect();
    for k in 0..greedy.len() {
        let id = cur
            .iter()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |a, (i, &v)| if v > a.1 { (i, v) } else { a },
            )
            .0 as u32;
        next.push(id);
        let x = Tensor::new(&[[id]], &dev).unwrap();
        cur = row(&lm
            .forward(&x, ids.len() + k)
            .map_err(|e| format!("{e:#}"))?);
    }
    // Whole prefixes in one pass each (the batched verifier's path), from a clean cache.
    for n in [1, ids.len() / 2, ids.len()] {
        lm.reset(true).map_err(|e| format!("{e:#}"))?;
        let x = Tensor::new(&ids[..n], &dev).unwrap().unsqueeze(0).unwrap();
        let got = row(&lm.forward(&x, 0).map_err(|e| format!("{e:#}"))?);
        worst = worst.max(max_diff(&got, &logits[n - 1]));
    }
    // The verifier's shared-prefix path: the prefix once, a fork, then a batch of two
    // different suffixes in one multi-token pass after the cached positions. Row 0 must
    // give the reference; row 1 what a one-prompt pass gives for its own sequence.
    let split = ids.len() / 2;
    lm.reset(true).map_err(|e| format!("{e:#}"))?;
    let prefix = Tensor::new(&ids[..split], &dev)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let prefix = Tensor::cat(&[&prefix, &prefix], 0).unwrap();
    lm.forward(&prefix, 0).map_err(|e| format!("{e:#}"))?;
    let mut fork = lm.fork();
    let other: Vec<u32> = ids[split..]
        .iter()
        .rev()
        .map(|&i| (i * 7 + 3) % 500)
        .collect();
    let mut flat = ids[split..].to_vec();
    flat.extend(&other);
    let suffixes = Tensor::from_vec(flat, (2, other.len()), &dev).unwrap();
    let both = fork
        .forward(&suffixes, split)
        .map_err(|e| format!("{e:#}"))?;
    let rows: Vec<Vec<f32>> = both.to_vec2().unwrap();
    worst = worst.max(max_diff(&rows[0], &logits[ids.len() - 1]));
    let mut alone_ids = ids[..split].to_vec();
    alone_ids.extend(&other);
    lm.reset(true).map_err(|e| format!("{e:#}"))?;
    let x = Tensor::new(alone_ids.as_slice(), &dev)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let alone = row(&lm.forward(&x, 0).map_err(|e| format!("{e:#}"))?);
    let alone64: Vec<f64> = alone.iter().map(|&v| v as f64).collect();
    worst = worst.max(max_diff(&rows[1], &alone64));
    if worst > 1e-4 {
        return Err(format!("max |Δlogit| {worst:.2e} > 1e-4"));
    }
    // Half precision: the same weights loaded in f16 and bf16 stay near the f32 logits
    // (the bound is the rounding of 16-bit weights and activations, not a tolerance for
    // a wrong layer: a skipped norm or bias moves these logits by whole units).
    let mut half = String::new();
    for dtype in [candle_core::DType::F16, candle_core::DType::BF16] {
        let (mut lm, _) = model::load(dir, &dev, Some(dtype)).map_err(|e| format!("{e:#}"))?;
        let x = Tensor::new(ids.as_slice(), &dev)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let got = lm.forward(&x, 0).map_err(|e| format!("{dtype:?}: {e:#}"))?;
        let got = row(&got.to_dtype(candle_core::DType::F32).unwrap());
        let d = max_diff(&got, &logits[ids.len() - 1]);
        let bound = if dtype == candle_core::DType::F16 {
            0.05
        } else {
            0.25
        };
        if d > bound {
            return Err(format!("{dtype:?}: max |Δlogit| {d:.2e} > {bound}"));
        }
        half.push_str(&format!(", {dtype:?} {d:.1e}"));
    }
    if next != greedy {
        return Err(format!("greedy {next:?}, transformers {greedy:?}"));
    }
    Ok(format!("max |Δlogit| {worst:.1e}{half}"))
}

#[test]
fn every_architecture_matches_transformers() {
    let Ok(rd) = std::fs::read_dir(models()) else {
        panic!("{} is missing", models().display());
    };
    let mut dirs: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("reference.json").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    let mut failures = Vec::new();
    for d in &dirs {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let r = check_folder(d);
        eprintln!("{name:<14} {r:?}");
        match (r, NOT_YET.contains(&name.as_str())) {
            (Ok(_), true) => failures.push(format!("{name}: passes, remove it from NOT_YET")),
            (Ok(_), false) | (Err(_), true) => {}
            (Err(e), false) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The published verification (three prompts, the placeholder rule, 3 greedy steps, the
/// candidate's highest probability) as transformers computes it in make.py, against
/// `verify`'s batched, prefix-cached run on every architecture: the same placeholder, the
/// same prompt ids (tokenized independently by Python `tokenizers`), the same scores.
#[test]
fn verify_scores_match_transformers() {
    use tokenaudit::verify::{self, IdSource, VerifySettings};
    let tokenizer = models().join("tokenizer.json");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(models())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("verify.json").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 25, "verify.json in {} folders", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let want: Value =
            serde_json::from_slice(&std::fs::read(dir.join("verify.json")).unwrap()).unwrap();
        let ids: Vec<u32> = want["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap() as u32)
            .collect();
        let mut s = VerifySettings::new(dir.clone(), IdSource::Ids(ids));
        s.tokenizer = Some(tokenizer.clone());
        // A random model repeats nothing: the control check would refuse it.
        s.controls = false;
        s.early_stop = false;
        let r = match verify::run(&s) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e:#}"));
                continue;
            }
        };
        let placeholder = want["placeholder"][0].as_u64().unwrap() as u32;
        if r.placeholder.0 != placeholder {
            failures.push(format!(
                "{name}: placeholder {:?}, transformers side {placeholder}",
                r.placeholder
            ));
        }
        for (p, w) in r.prompts.iter().zip(want["prompts"].as_array().unwrap()) {
            let w_ids: Vec<u32> = w["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect();
            if p.name != w["name"].as_str().unwrap() || p.ids != w_ids {
                failures.push(format!("{name}: prompt {} ids differ", p.name));
            }
        }
        let mut worst: f64 = 0.0;
        for (row, w) in r.rows.iter().zip(want["rows"].as_array().unwrap()) {
            for (got, w) in row
                .prompt_scores
                .iter()
                .zip(w["prompt_scores"].as_array().unwrap())
            {
                let w = w.as_f64().unwrap();
                let got = got.map(|g| g as f64).unwrap_or(f64::NAN);
                let rel = (got - w).abs() / w.max(1e-6);
                worst = if rel.is_nan() {
                    f64::INFINITY
                } else {
                    worst.max(rel)
                };
            }
        }
        eprintln!("{name:<14} worst relative score difference {worst:.1e}");
        if worst > 1e-3 {
            failures.push(format!("{name}: scores differ by {worst:.1e} (relative)"));
        }
    }
    // Gemma 2's window is shorter than the prompts: refused, not computed over the
    // whole sequence as candle's model would.
    let mut s = VerifySettings::new(models().join("gemma2"), IdSource::Ids(vec![3]));
    s.tokenizer = Some(tokenizer);
    s.controls = false;
    let e = format!(
        "{:#}",
        verify::run(&s)
            .err()
            .expect("gemma2 verify must be refused")
    );
    assert!(e.contains("sliding_window 32 caps the context"), "{e}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same checkpoints converted to f32 GGUF by llama.cpp's own converter
/// (`tests/models/to_gguf.py`: llama, tied llama, mistral, qwen2, qwen3; phi3's and gemma3's
/// converters need a SentencePiece model the shared BPE is not), run in process from the
/// file: every logit within 1e-4 of transformers' (Qwen3: 5e-3, see below) and the same
/// greedy id, through the KV cache one position at a time and as one pass, with candle's
/// quantized models (`--gguf-weights quantized`) and,
/// for llama files, dequantized into candle's f32 Llama (`f32`).
#[test]
fn gguf_conversions_match_transformers() {
    use tokenaudit::model::quantized::GgufWeights;
    let mut files: Vec<PathBuf> = std::fs::read_dir(models())
        .unwrap()
        .flatten()
        .map(|e| e.path().join("model.gguf"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{} GGUF files", files.len());
    let dev = Device::Cpu;
    let mut failures = Vec::new();
    for f in &files {
        let dir = f.parent().unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let reference: Value =
            serde_json::from_slice(&std::fs::read(dir.join("reference.json")).unwrap()).unwrap();
        let ids: Vec<u32> = reference["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let logits: Vec<Vec<f64>> = reference["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect();
        let llama = !name.starts_with("qwen");
        let modes: &[GgufWeights] = if llama {
            &[GgufWeights::Quantized, GgufWeights::F32]
        } else {
            &[GgufWeights::Quantized]
        };
        for &mode in modes {
            let (mut lm, _) = match model::load_with(f, &dev, None, mode) {
                Ok(x) => x,
                Err(e) => {
                    failures.push(format!("{name} {mode:?}: {e:#}"));
                    continue;
                }
            };
            let row = |t: &Tensor| -> Vec<f32> { t.squeeze(0).unwrap().to_vec1().unwrap() };
            let mut worst: f64 = 0.0;
            for (i, &id) in ids.iter().enumerate() {
                let x = Tensor::new(&[[id]], &dev).unwrap();
                let got = row(&lm.forward(&x, i).unwrap());
                worst = worst.max(max_diff(&got, &logits[i]));
            }
            lm.reset(true).unwrap();
            let x = Tensor::new(ids.as_slice(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let got = row(&lm.forward(&x, 0).unwrap());
            worst = worst.max(max_diff(&got, &logits[ids.len() - 1]));
            let one_pass = max_diff(&got, &logits[ids.len() - 1]);
            eprintln!(
                "{name:<12} {mode:?}: max |Δlogit| {worst:.1e} (whole prefix {one_pass:.1e})"
            );
            // candle's quantized Qwen3 runs its own CPU attention kernels (a fused decode
            // step, a flash-style prefill): measured 1.6e-3 from transformers (4e-4 for a
            // whole prefix), where every other file here is within 5e-6.
            let bound = if name == "qwen3" { 5e-3 } else { 1e-4 };
            if worst > bound {
                failures.push(format!(
                    "{name} {mode:?}: max |Δlogit| {worst:.2e} > {bound}"
                ));
            }
            let argmax = |v: &[f64]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
            let got64: Vec<f64> = got.iter().map(|&x| x as f64).collect();
            if argmax(&got64) != argmax(&logits[ids.len() - 1]) {
                failures.push(format!("{name} {mode:?}: another greedy id"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
