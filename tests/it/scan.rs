//! `scan` on the real models in ../shared/data/models: the indicators agree with an
//! independent f64 computation written here (no code shared with src/indicators), and
//! their separation of never-seen tokens is locked in against the training counts.

use crate::common;

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use tokenaudit::indicators::Indicator;
use tokenaudit::scan::{self, ScanReport, ScanSettings};

fn model(name: &str) -> PathBuf {
    common::data().join("models").join(name)
}

fn scan_model(dir: &Path, counts: bool) -> ScanReport {
    let mut s = ScanSettings::new(dir.to_path_buf());
    if counts {
        s.counts = Some(dir.join("token_counts.csv"));
    }
    scan::run(&s).unwrap_or_else(|e| panic!("scan {}: {e:#}", dir.display()))
}

fn auc(r: &ScanReport, k: Indicator) -> f64 {
    r.evaluation
        .as_ref()
        .unwrap()
        .auc
        .iter()
        .find(|(n, _)| *n == k.name())
        .unwrap()
        .1
}

#[test]
fn untied_model_low_norm_finds_never_seen_tokens() {
    // MODELS.md: AUC of low input norm for unseen tokens = 0.9966 on tiny-llama2tok.
    let r = scan_model(&model("tiny-llama2tok"), true);
    assert!(!r.tied);
    assert_eq!(r.main, Indicator::InNorm);
    let e = r.evaluation.as_ref().unwrap();
    assert!(
        (auc(&r, Indicator::InNorm) - 0.9966).abs() < 0.002,
        "{:?}",
        e.auc
    );
    for k in [
        Indicator::OutCos,
        Indicator::OutCosPc,
        Indicator::OutCosCentered,
        Indicator::OutL2,
    ] {
        assert!(auc(&r, k) > 0.99, "{}: {:?}", k.name(), e.auc);
    }
    assert!(e.precision > 0.98, "precision {}", e.precision);
    // 2% of the OK tokens, give or take ties.
    let ok = r.audit.categories["OK"];
    assert!((r.candidates.len() as f64 - 0.02 * ok as f64).abs() < 30.0);
}

#[test]
fn tied_model_needs_the_unembedding_indicators() {
    // MODELS.md: in the tied tiny-gpt2tok, low norm points the wrong way (AUC 0.0052);
    // closeness to the unused rows finds the never-seen tokens.
    let r = scan_model(&model("tiny-gpt2tok"), true);
    assert!(r.tied);
    assert_eq!(r.main, Indicator::OutCosPc);
    let e = r.evaluation.as_ref().unwrap();
    assert!(auc(&r, Indicator::InNorm) < 0.02, "{:?}", e.auc);
    for k in [
        Indicator::OutCos,
        Indicator::OutCosPc,
        Indicator::OutCosCentered,
        Indicator::OutL2,
    ] {
        assert!(auc(&r, k) > 0.99, "{}: {:?}", k.name(), e.auc);
    }
    assert!(e.precision > 0.98, "precision {}", e.precision);
}

/// Rows of a tensor as f64, decoded here from the raw bytes.
fn rows_f64(path: &Path, name: &str) -> (usize, usize, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let (n, d) = (t.shape()[0], t.shape()[1]);
    let data = t.data();
    let v: Vec<f64> = match t.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f64())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f64())
            .collect(),
        other => panic!("{other:?}"),
    };
    (n, d, v)
}

/// The indicators by the textbook: covariance matrix, its top eigenvector, cosines.
fn reference_indicators(n: usize, d: usize, x: &[f64], reference: &[u32]) -> Vec<[f64; 5]> {
    let row = |i: usize| &x[i * d..(i + 1) * d];
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let mut mu = vec![0.0; d];
    for i in 0..n {
        for (a, v) in mu.iter_mut().zip(row(i)) {
            *a += v / n as f64;
        }
    }
    let mut m = vec![0.0; d];
    for &i in reference {
        for (a, v) in m.iter_mut().zip(row(i as usize)) {
            *a += v / reference.len() as f64;
        }
    }
    let mut cov = vec![0.0; d * d];
    for i in 0..n {
        let c: Vec<f64> = row(i).iter().zip(&mu).map(|(a, b)| a - b).collect();
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += c[a] * c[b];
            }
        }
    }
    let mut u = vec![1.0; d];
    for _ in 0..3000 {
        let w: Vec<f64> = (0..d).map(|a| dot(&cov[a * d..(a + 1) * d], &u)).collect();
        let norm = dot(&w, &w).sqrt();
        u = w.iter().map(|v| v / norm).collect();
    }
    let remove = |v: &[f64]| -> Vec<f64> {
        let p = dot(v, &u);
        v.iter().zip(&u).map(|(a, b)| a - p * b).collect()
    };
    let cosd = |a: &[f64], b: &[f64]| 1.0 - dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt());
    let m_pc = remove(&m);
    let m_c: Vec<f64> = m.iter().zip(&mu).map(|(a, b)| a - b).collect();
    (0..n)
        .map(|i| {
            let r = row(i);
            let rc: Vec<f64> = r.iter().zip(&mu).map(|(a, b)| a - b).collect();
            let diff: Vec<f64> = r.iter().zip(&m).map(|(a, b)| a - b).collect();
            [
                dot(r, r).sqrt(),
                cosd(r, &m),
                cosd(&remove(r), &m_pc),
                cosd(&rc, &m_c),
                dot(&diff, &diff).sqrt(),
            ]
        })
        .collect()
}

fn assert_close(r: &ScanReport, want: &[[f64; 5]], what: &str) {
    let mut worst = (0.0f64, 0usize, "");
    for (k, ind) in Indicator::ALL.iter().enumerate() {
        let got = r.indicators.get(*ind);
        for (i, w) in want.iter().enumerate() {
            let rel = (got[i] - w[k]).abs() / w[k].abs().max(1e-12);
            if rel > worst.0 {
                worst = (rel, i, ind.name());
            }
        }
    }
    assert!(
        worst.0 < 1e-4,
        "{what}: {} of row {} off by {:.2e} relative",
        worst.2,
        worst.1,
        worst.0
    );
}

#[test]
fn indicators_match_an_independent_f64_computation() {
    // tiny-gpt2tok is tied and bf16; tiny-llama2tok untied f16 (input norm from
    // embed_tokens, the rest from lm_head).
    let dir = model("tiny-gpt2tok");
    let r = scan_model(&dir, false);
    let (n, d, x) = rows_f64(&dir.join("model.safetensors"), "model.embed_tokens.weight");
    assert_close(
        &r,
        &reference_indicators(n, d, &x, &r.indicators.reference_ids),
        "tiny-gpt2tok",
    );

    let dir = model("tiny-llama2tok");
    let r = scan_model(&dir, false);
    let (n, d, xin) = rows_f64(&dir.join("model.safetensors"), "model.embed_tokens.weight");
    let (_, _, xout) = rows_f64(&dir.join("model.safetensors"), "lm_head.weight");
    let mut want = reference_indicators(n, d, &xout, &r.indicators.reference_ids);
    let norms = reference_indicators(n, d, &xin, &r.indicators.reference_ids);
    for (w, nrm) in want.iter_mut().zip(&norms) {
        w[0] = nrm[0];
    }
    assert_close(&r, &want, "tiny-llama2tok");
}

/// Decode a copy's values the way the file stores them, for the independent computation.
fn roundtrip(v: &[f32], dtype: &str) -> Vec<f64> {
    match dtype {
        "f32" => v.iter().map(|&x| x as f64).collect(),
        "f16" => v.iter().map(|&x| half::f16::from_f32(x).to_f64()).collect(),
        "bf16" => v
            .iter()
            .map(|&x| half::bf16::from_f32(x).to_f64())
            .collect(),
        _ => unreachable!(),
    }
}

#[test]
fn indicators_agree_across_f32_f16_bf16_and_gguf_copies() {
    use common::writers::*;
    let src = model("tiny-llama2tok");
    let (n, d, xin) = rows_f64(&src.join("model.safetensors"), "model.embed_tokens.weight");
    let (_, _, xout) = rows_f64(&src.join("model.safetensors"), "lm_head.weight");
    let (fin, fout): (Vec<f32>, Vec<f32>) = (
        xin.iter().map(|&x| x as f32).collect(),
        xout.iter().map(|&x| x as f32).collect(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let copies: Vec<(&str, PathBuf)> = ["f32", "f16", "bf16"]
        .iter()
        .map(|&dt| {
            let dir = tmp.path().join(dt);
            std::fs::create_dir(&dir).unwrap();
            std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
            type Encoder = fn(&[f32]) -> Vec<u8>;
            let (dtype, enc): (safetensors::Dtype, Encoder) = match dt {
                "f32" => (safetensors::Dtype::F32, f32_bytes),
                "f16" => (safetensors::Dtype::F16, f16_bytes),
                _ => (safetensors::Dtype::BF16, bf16_bytes),
            };
            write_st(
                &dir.join("model.safetensors"),
                &[
                    ("model.embed_tokens.weight", dtype, vec![n, d], enc(&fin)),
                    ("lm_head.weight", dtype, vec![n, d], enc(&fout)),
                ],
            );
            (dt, dir)
        })
        .collect();
    // GGUF stores the same matrices as token_embd / output, f16 (ggml type 1).
    let gguf = tmp.path().join("copy.gguf");
    let dims = vec![d as u64, n as u64];
    std::fs::write(
        &gguf,
        gguf_bytes(&[
            ("token_embd.weight", dims.clone(), 1, f16_bytes(&fin)),
            ("output.weight", dims, 1, f16_bytes(&fout)),
        ]),
    )
    .unwrap();
    let mut all = copies;
    all.push(("f16", gguf));
    for (dt, path) in all {
        let mut s = ScanSettings::new(path.clone());
        s.tokenizer = Some(src.clone());
        let r = scan::run(&s).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        let mut want =
            reference_indicators(n, d, &roundtrip(&fout, dt), &r.indicators.reference_ids);
        let norms = reference_indicators(n, d, &roundtrip(&fin, dt), &r.indicators.reference_ids);
        for (w, nrm) in want.iter_mut().zip(&norms) {
            w[0] = nrm[0];
        }
        assert_close(&r, &want, &path.display().to_string());
    }
}
