//! Issue 17, part 1: weights that are not finite numbers, data read as the wrong dtype or
//! shifted by a lying header, and models that cannot repeat their commonest tokens. Each
//! ends in a named error or in a result that leaves the broken rows out; never in
//! confident verdicts. The broken files are made here from stories260K.

use std::path::Path;

use safetensors::Dtype;
use serde_json::{json, Value};

use crate::hardening::{
    assert_error, bin, config, edited, model_dir, run, stories, verify, weights_with,
};

type List = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

/// Set rows `rows` of f32 tensor `name` (row length `cols`) to `value`, or scale them.
fn set_rows(l: &mut List, name: &str, rows: &[usize], f: impl Fn(f32) -> f32) {
    let e = l.iter_mut().find(|e| e.0 == name).unwrap();
    let cols = e.2[1];
    for &r in rows {
        for c in 0..cols {
            let at = (r * cols + c) * 4;
            let x = f32::from_le_bytes(e.3[at..at + 4].try_into().unwrap());
            e.3[at..at + 4].copy_from_slice(&f(x).to_le_bytes());
        }
    }
}

fn scan(dir: &Path, csv: &Path) -> (i32, String, String) {
    let mut c = bin();
    c.arg("scan").arg(dir).arg("--csv").arg(csv).arg("--json");
    run(c, 120)
}

/// (category, out_cos_pc, candidate) per row of a scan CSV.
fn rows(csv: &Path) -> Vec<(String, f64, bool)> {
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(csv)
        .unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (cat, pc, cand) = (col("category"), col("out_cos_pc"), col("candidate"));
    r.records()
        .map(|x| {
            let x = x.unwrap();
            (
                x[cat].to_string(),
                x[pc].parse().unwrap(),
                &x[cand] == "true",
            )
        })
        .collect()
}

#[test]
fn scan_puts_rows_with_broken_weights_in_their_own_category() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let clean_csv = t.join("clean.csv");
    let (code, _, err) = scan(&stories(), &clean_csv);
    assert_eq!(code, 0, "{err}");
    let clean = rows(&clean_csv);

    let nan: Vec<usize> = (10..20).collect();
    let emb = "model.embed_tokens.weight";
    let w = weights_with(|l| {
        set_rows(l, emb, &nan, |_| f32::NAN);
        set_rows(l, emb, &[30, 31, 32], |_| f32::INFINITY);
        set_rows(l, emb, &[40, 41], |x| if x > 0.0 { 3e38 } else { -3e38 });
        // Subnormal values: a tiny row, but a row with a direction, not a broken one.
        set_rows(l, emb, &[50], |x| x * 1e-40);
    });
    let dir = model_dir(t, "broken", &config(), Some(w));
    let csv = t.join("broken.csv");
    let (code, out, err) = scan(&dir, &csv);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    let mut want: Vec<usize> = nan.clone();
    want.extend([30, 31, 32, 40, 41]);
    assert_eq!(j["non_finite_rows"], json!(want));
    let got = rows(&csv);
    for (id, (cat, pc, cand)) in got.iter().enumerate() {
        if want.contains(&id) {
            assert_eq!(cat, "NON_FINITE", "row {id}");
            assert!(pc.is_nan() && !cand, "row {id}: {pc} {cand}");
        } else {
            assert_ne!(cat, "NON_FINITE", "row {id}");
            assert!(pc.is_finite(), "row {id}: {pc}");
        }
    }
    // The subnormal row keeps (about) its direction's distance.
    assert!(
        (got[50].1 - clean[50].1).abs() < 0.05,
        "{} vs {}",
        got[50].1,
        clean[50].1
    );
    // The broken rows took no part in the mean or the component: the other rows rank as
    // before (the candidates of the clean scan that are not broken stay candidates).
    let kept: Vec<usize> = (0..clean.len())
        .filter(|i| clean[*i].2 && !want.contains(i))
        .collect();
    let still = kept.iter().filter(|&&i| got[i].2).count();
    assert!(
        still * 10 >= kept.len() * 9,
        "{still} of {} candidates kept",
        kept.len()
    );
    // The specials (<unk>, <s>, </s>) are flagged as in the clean scan, no more.
    for id in 0..3 {
        assert_eq!(got[id].2, clean[id].2, "special {id}");
    }
}

#[test]
fn data_that_is_not_what_the_header_says_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let emb = "model.embed_tokens.weight";
    // Every row NaN.
    let w = weights_with(|l| set_rows(l, emb, &(0..512).collect::<Vec<_>>(), |_| f32::NAN));
    let dir = model_dir(t, "all_nan", &config(), Some(w));
    let file = dir.join("model.safetensors");
    assert_error(
        scan(&dir, &t.join("a.csv")),
        &format!(
            "{}: 512 of 512 rows of '{emb}' hold NaN, infinite or out-of-range values (the \
             first is row 0): the data is not what the header says (a corrupt or shifted \
             file, or the wrong dtype)",
            file.display()
        ),
    );
    assert!(!t.join("a.csv").exists());
    // f32 data declared as f16 (twice the columns: the sizes agree).
    let w = weights_with(|l| {
        let e = l.iter_mut().find(|e| e.0 == emb).unwrap();
        e.1 = Dtype::F16;
        e.2 = vec![512, 128];
    });
    let dir = model_dir(t, "as_f16", &config(), Some(w));
    let (code, _, err) = scan(&dir, &t.join("b.csv"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(" of 512 rows of 'model.embed_tokens.weight' hold NaN, infinite"),
        "{err}"
    );
    // The header length one byte short: the header still parses (its padding is spaces),
    // every tensor is shifted by a byte.
    let mut b = weights_with(|_| {});
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let mut padded = (n as u64 + 8 - 1).to_le_bytes().to_vec();
    padded.extend_from_slice(&b[8..8 + n]);
    padded.extend_from_slice(b"        ");
    padded.extend_from_slice(&b[8 + n..]);
    b = padded;
    let dir = model_dir(t, "short_header", &config(), Some(b));
    let data = std::fs::metadata(dir.join("model.safetensors"))
        .unwrap()
        .len()
        - 8
        - (n as u64 + 7);
    let want = format!(
        "{}: the data section is {data} bytes but its tensors end at {}: the header length or \
         the offsets are wrong (a shifted or corrupt file)",
        dir.join("model.safetensors").display(),
        data - 1
    );
    let (code, _, err) = scan(&dir, &t.join("c.csv"));
    assert_eq!(code, 1);
    assert!(err.contains(&want), "{err}");
    let (code, _, err) = verify(&dir);
    assert_eq!(code, 1);
    assert!(err.contains("but its tensors end at"), "{err}");
}

#[test]
fn non_finite_logits_stop_verify_with_the_model_named() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // An untied copy whose lm_head has 5 NaN rows.
    let w = weights_with(|l| {
        let e = l
            .iter()
            .find(|e| e.0 == "model.embed_tokens.weight")
            .unwrap()
            .clone();
        l.push(("lm_head.weight".into(), e.1, e.2, e.3));
        set_rows(l, "lm_head.weight", &[100, 101, 102, 103, 104], |_| {
            f32::NAN
        });
    });
    let dir = model_dir(
        t,
        "nan_head",
        &edited(json!({"tie_word_embeddings": false})),
        Some(w),
    );
    let want = format!(
        "{}: the forward pass gave logits that are not finite numbers (NaN or infinity): the \
         weights or config.json are broken; no verdict can be given",
        dir.join("model.safetensors").display()
    );
    assert_error(verify(&dir), &want);
    // A layer of NaN: the same.
    let w = weights_with(|l| {
        let e = l
            .iter_mut()
            .find(|e| e.0 == "model.layers.2.mlp.down_proj.weight")
            .unwrap();
        e.3 = e.3.chunks(4).flat_map(|_| f32::NAN.to_le_bytes()).collect();
    });
    let dir = model_dir(t, "nan_layer", &config(), Some(w));
    let want = format!(
        "{}: the forward pass gave logits that are not finite numbers (NaN or infinity): the \
         weights or config.json are broken; no verdict can be given",
        dir.join("model.safetensors").display()
    );
    assert_error(verify(&dir), &want);
    // Out-of-range config values never reach a forward pass.
    for (k, v) in [("rope_theta", -1.0), ("rms_norm_eps", -1.0)] {
        let dir = model_dir(t, k, &edited(json!({ k: v })), None);
        assert_error(
            verify(&dir),
            &format!(
                "{}: {k} must be a positive number, not -1.0",
                dir.join("config.json").display()
            ),
        );
    }
}

#[test]
fn a_model_that_cannot_repeat_common_tokens_gets_no_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // Every weight replaced by noise of a trained model's scale: finite, plausible
    // numbers that compute nothing (as a wrong config or a scrambled file would).
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let w = weights_with(|l| {
        for e in l.iter_mut() {
            e.3 =
                e.3.chunks(4)
                    .flat_map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let u = (seed >> 40) as f32 / (1u64 << 24) as f32;
                        ((u - 0.5) * 0.2).to_le_bytes()
                    })
                    .collect();
        }
    });
    let dir = model_dir(t, "mute", &config(), Some(w));
    let csv = t.join("v.csv");
    let mut c = bin();
    c.arg("verify")
        .arg(&dir)
        .args(["--ids", "5,6"])
        .arg("--csv")
        .arg(&csv);
    let (code, _, err) = run(c, 120);
    assert_eq!(code, 1, "{err}");
    let prefix = format!("tokenaudit: error: {}: ", dir.display());
    assert!(err.starts_with(&prefix), "{err}");
    assert!(
        err.contains("control tokens (the most common tokens of plain English) scored below 0.01")
            && err.contains("no verdicts given (--no-controls verifies anyway)"),
        "{err}"
    );
    // No verdict reached the log.
    let log = std::fs::read_to_string(&csv).unwrap_or_default();
    assert_eq!(log.lines().count(), 2, "{log}");
    // Asked for, the run goes on.
    let mut c = bin();
    c.arg("verify")
        .arg(&dir)
        .args(["--ids", "5,6", "--no-controls", "--json"]);
    let (code, out, err) = run(c, 120);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["controls"], json!([]));
    // The real model passes its controls, and says so.
    let mut c = bin();
    c.arg("verify")
        .arg(stories())
        .args(["--ids", "5", "--json"]);
    let (code, out, err) = run(c, 120);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    let controls = j["controls"].as_array().unwrap();
    assert_eq!(controls.len(), 5);
    let passed = controls
        .iter()
        .filter(|c| !c["verdict"].as_str().unwrap().contains("under_trained"))
        .count();
    assert!(passed >= 3, "{controls:?}");
}

#[test]
fn a_gguf_whose_tensor_data_is_shifted_is_refused() {
    // SmolLM2's Q4_1 file with one byte inserted where the tensor data starts: every
    // block's scale and minimum are read from the wrong bytes.
    let src = std::fs::read_dir(crate::common::data().join("models/smollm2-135m-instruct"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "gguf"))
        .unwrap();
    let off = tokenaudit::gguf::GgufFile::open(&src).unwrap().data_offset as usize;
    let bytes = std::fs::read(&src).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let shifted = tmp.path().join("shifted.gguf");
    let mut out = bytes[..off].to_vec();
    out.push(0);
    out.extend_from_slice(&bytes[off..]);
    std::fs::write(&shifted, out).unwrap();
    let mut c = bin();
    c.arg("scan").arg(&shifted);
    assert_error(
        run(c, 120),
        &format!(
            "{}: 18930 of 49152 rows of 'token_embd.weight' hold NaN, infinite or out-of-range \
             values (the first is row 2): the data is not what the header says (a corrupt or \
             shifted file, or the wrong dtype)",
            shifted.display()
        ),
    );
}
