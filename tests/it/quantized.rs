//! Every quantization `scan` can meet: a small Llama (hidden 256, the Llama-2 vocabulary,
//! planted never-trained rows; `common::quantize`) exported to an f32 GGUF by
//! `export-gguf` and requantized by llama.cpp's `llama-quantize` with its embedding and
//! output matrices in each ggml type. `scan` of each file gives indicators within the
//! type's own quantization error of the f32 file's, ranks rows alike (Spearman) and finds
//! nearly the same bottom 2 %. Types candle cannot dequantize are refused by name. The
//! real SmolLM2 GGUF (embedding in q8_0) is requantized to q4_0 and read the same way.
//! Figures: docs/figures.md, "Quantized embeddings".

use crate::common;
use crate::common::quantize::{self, Planted};

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::quantized::k_quants::{BlockQ8K, BlockQ8_1, GgmlType};
use serde_json::Value;
use tokenaudit::weights::Checkpoint;

use common::writers::gguf_bytes;

/// One quantized file to make: the ggml type of token_embd/output, and the effective bits
/// of one value's quantization (mantissa bits for the float types, quant bits for the
/// integer ones, scales not counted) from which its tolerance is derived.
struct Case {
    ty: &'static str,
    bits: u32,
}

const fn c(ty: &'static str, bits: u32) -> Case {
    Case { ty, bits }
}

/// Every type llama-quantize writes for token_embd/output that we decode.
const CASES: &[Case] = &[
    c("f16", 11),
    c("bf16", 8),
    c("q8_0", 8),
    c("q6_K", 6),
    c("q5_1", 5),
    c("q5_0", 5),
    c("q5_K", 5),
    c("q4_1", 4),
    c("q4_0", 4),
    c("q4_K", 4),
    c("q3_K", 3),
    c("q2_K", 2),
];

/// The ggml types llama-quantize cannot write (ggml has no `quantize_chunk` for these
/// matmul intermediates; it aborts), written here with candle's own quantizer
/// (`GgmlType::from_float`) instead.
const CANDLE_WRITTEN: &[Case] = &[c("q8_K", 8), c("q8_1", 8)];

/// Types llama-quantize writes without an importance matrix that candle has no
/// dequantizer for: `scan` must refuse them by name. (The other i-quants are the same
/// case; iq3_xxs/iq3_s take 15 s each to make, and iq2_*/iq1_* need an importance matrix.)
const REFUSED: &[&str] = &["iq4_nl", "tq2_0", "mxfp4", "nvfp4", "q1_0", "q2_0"];

const INDICATORS: [&str; 5] = [
    "in_norm",
    "out_cos",
    "out_cos_pc",
    "out_cos_centered",
    "out_l2",
];

/// A scan's per-row indicators (CSV columns in [`INDICATORS`] order) and its JSON summary.
#[derive(Debug)]
struct Scan {
    cols: Vec<Vec<f64>>,
    json: Value,
}

fn scan(file: &Path, reference: &[u32], csv: &Path) -> Result<Scan, String> {
    scan_with(file, None, reference, csv)
}

/// `tokenaudit scan FILE [-t TOKENIZER] --reference-ids … --json --csv CSV`.
fn scan_with(
    file: &Path,
    tokenizer: Option<&Path>,
    reference: &[u32],
    csv: &Path,
) -> Result<Scan, String> {
    let ids: Vec<String> = reference.iter().map(u32::to_string).collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenaudit"));
    cmd.arg("scan").arg(file);
    if let Some(t) = tokenizer {
        cmd.arg("-t").arg(t);
    }
    let o = cmd
        .args(["--reference-ids", &ids.join(","), "--json", "--csv"])
        .arg(csv)
        .output()
        .unwrap();
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at: Vec<usize> = INDICATORS
        .iter()
        .map(|n| {
            header
                .iter()
                .position(|h| h == n)
                .unwrap_or_else(|| panic!("no {n} column"))
        })
        .collect();
    let mut cols = vec![Vec::new(); INDICATORS.len()];
    for line in lines {
        // The raw/decoded columns may hold quoted commas: read the numbers from the right.
        let f: Vec<&str> = line.rsplitn(header.len() - 3, ',').collect::<Vec<_>>();
        let f: Vec<&str> = f.into_iter().rev().collect();
        let shift = header.len() - f.len();
        for (c, &i) in cols.iter_mut().zip(&at) {
            c.push(f[i - shift].parse().unwrap());
        }
    }
    Ok(Scan { cols, json })
}

/// Ranks 1..n, ties sharing their mean rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// The lowest 2 % of rows by `v`.
fn bottom(v: &[f64]) -> HashSet<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then(a.cmp(&b)));
    idx.truncate(v.len() * 2 / 100);
    idx.into_iter().collect()
}

fn overlap(a: &[f64], b: &[f64]) -> f64 {
    let (x, y) = (bottom(a), bottom(b));
    x.intersection(&y).count() as f64 / x.len() as f64
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// How one quantized scan compares with the f32 one.
#[derive(Clone)]
struct Figures {
    ty: String,
    bpw: f64,
    /// Per indicator: max |Δ|, Spearman, bottom-2 % overlap.
    per: Vec<(f64, f64, f64)>,
    /// max over rows of |Δ in_norm| / in_norm(f32).
    in_norm_rel: f64,
    /// Rows in a bottom 2 %.
    bottom: usize,
}

fn compare(ty: &str, bpw: f64, q: &Scan, base: &Scan) -> Figures {
    let per = q
        .cols
        .iter()
        .zip(&base.cols)
        .map(|(a, b)| (max_abs_diff(a, b), spearman(a, b), overlap(a, b)))
        .collect();
    let in_norm_rel = q.cols[0]
        .iter()
        .zip(&base.cols[0])
        .map(|(a, b)| (a - b).abs() / b)
        .fold(0.0, f64::max);
    Figures {
        ty: ty.to_string(),
        bpw,
        per,
        in_norm_rel,
        bottom: base.cols[0].len() * 2 / 100,
    }
}

fn table(rows: &[Figures]) -> String {
    let mut s = String::from(
        "| type | bits/weight | max \\|Δ\\| in_norm (rel.) | max \\|Δ\\| out_cos_pc | \
         Spearman in_norm / out_cos_pc | bottom-2 % overlap in_norm / out_cos_pc |\n\
         |---|---|---|---|---|---|\n",
    );
    for f in rows {
        let (n, pc) = (f.per[0], f.per[2]);
        s += &format!(
            "| {} | {:.3} | {:.2e} ({:.2e}) | {:.2e} | {:.5} / {:.5} | {:.3} / {:.3} |\n",
            f.ty, f.bpw, n.0, f.in_norm_rel, pc.0, n.1, pc.1, n.2, pc.2
        );
    }
    s
}

fn bits_per_weight(ty: &str) -> f64 {
    let t = tokenaudit::gguf::ggml::TYPES
        .iter()
        .find(|t| t.name == ty)
        .unwrap_or_else(|| panic!("{ty} not in the ggml table"));
    8.0 * t.block_bytes as f64 / t.block_size as f64
}

/// The input dtype a scan reports.
fn scanned_dtype(s: &Scan) -> &str {
    s.json["model_input"]["dtype"].as_str().unwrap()
}

/// Bounds for a type of `bits` effective bits, from ε = 2^(1−bits): a row quantized with
/// a step of 2·max|x| / 2^bits has an rms error of about step/√12 ≈ 1.7·σ / 2^bits for
/// Gaussian blocks, so ‖x − x̂‖ ≤ ε‖x‖ (float types: `bits` mantissa bits, the same
/// bound with room to spare).
/// - in_norm: |‖x‖ − ‖x̂‖| ≤ ‖x − x̂‖, so the relative error is at most ε.
/// - the cosine indicators: the row and the reference mean each turn by at most ε, so a
///   cosine distance moves by at most 2ε (the principal component barely moves).
/// - Spearman ≥ 1 − 2ε² for every indicator: the rank correlation lost is about the ratio
///   of the quantization noise's variance to the indicator's spread, and ε² is the noise's
///   relative variance (observed: up to 1.04 ε², for out_cos, whose values crowd, in q8_K,
///   whose one scale per 256 values makes its steps coarser than q8_0's).
/// - bottom-2 % overlap ≥ 1 − 1.5ε − 2/|bottom|: the planted rows stay far below the rest,
///   trained rows near the boundary trade places in proportion to the noise, and the
///   two-row slack covers ties at the boundary.
///
/// out_l2 gets no |Δ| bound here: its scale is the rows' norms, which the CSV does not hold.
fn check(f: &Figures, bits: u32) {
    let eps = 2f64.powi(1 - bits as i32);
    assert!(
        f.in_norm_rel <= eps,
        "{}: in_norm relative error {} > {eps}",
        f.ty,
        f.in_norm_rel
    );
    let rho_min = 1.0 - 2.0 * eps * eps;
    let ov_min = 1.0 - 1.5 * eps - 2.0 / f.bottom as f64;
    for (name, &(d, rho, ov)) in INDICATORS.iter().zip(&f.per) {
        if name.starts_with("out_cos") {
            assert!(
                d <= 2.0 * eps,
                "{}: {name} max |Δ| {d} > {}",
                f.ty,
                2.0 * eps
            );
        }
        assert!(
            rho >= rho_min,
            "{}: {name} Spearman {rho} < {rho_min}",
            f.ty
        );
        assert!(
            ov >= ov_min,
            "{}: {name} bottom-2% overlap {ov} < {ov_min}",
            f.ty
        );
    }
}

/// Every planted never-trained row is among the lowest 2 % by in_norm and by out_cos_pc.
fn planted_are_lowest(ty: &str, s: &Scan, never_trained: &[u32]) {
    for (k, name) in [(0, "in_norm"), (2, "out_cos_pc")] {
        let low = bottom(&s.cols[k]);
        let missed = never_trained
            .iter()
            .filter(|&&i| !low.contains(&(i as usize)))
            .count();
        assert_eq!(
            missed, 0,
            "{ty}: {missed} planted rows above the bottom 2% by {name}"
        );
    }
}

/// `src`'s token_embd and output quantized by candle into block type `B` (ggml id `id`),
/// in a GGUF holding just the two matrices (the tokenizer is then `dir`'s).
fn candle_quantize<B: GgmlType>(src: &Path, out: &Path, id: u32) {
    let ck = Checkpoint::open(src).unwrap();
    let mut tensors = Vec::new();
    for name in ["token_embd.weight", "output.weight"] {
        let m = ck.matrix(name).unwrap();
        let mut bytes = Vec::new();
        let mut blocks = vec![B::zeros(); m.cols / B::BLCK_SIZE];
        for r in 0..m.rows {
            B::from_float(&m.row(r), &mut blocks);
            let n = std::mem::size_of_val(blocks.as_slice());
            // SAFETY: candle's blocks are padding-free plain data (repr(C) of f16, f32,
            // i8, i16 and u8 fields), ggml's bytes on a little-endian machine.
            bytes.extend_from_slice(unsafe {
                std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), n)
            });
        }
        tensors.push((name, vec![m.cols as u64, m.rows as u64], id, bytes));
    }
    std::fs::write(out, gguf_bytes(&tensors)).unwrap();
}

#[test]
fn quantized_embeddings_scan_like_f32() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("quantized");
    let _ = std::fs::remove_dir_all(&root);
    let Planted {
        dir,
        vocab,
        never_trained,
        reference,
        ..
    } = quantize::tiny_llama_256(&root.join("hf"));
    let f32_file = root.join("model-f32.gguf");
    common::engine::server::export(&dir, &f32_file, "f32");
    let base = scan(&f32_file, &reference, &root.join("f32.csv")).expect("scan f32");
    assert_eq!(scanned_dtype(&base), "f32");
    assert_eq!(base.cols[0].len(), vocab);
    // The planted rows are the lowest rows: the bottom 2 % holds all of them.
    planted_are_lowest("f32", &base, &never_trained);

    let mut rows = Vec::new();
    for case in CASES {
        let out = root.join(format!("model-{}.gguf", case.ty));
        quantize::quantize(&f32_file, &out, case.ty, "Q8_0", false)
            .unwrap_or_else(|e| panic!("llama-quantize {}: {e}", case.ty));
        let s = scan(&out, &reference, &root.join(format!("{}.csv", case.ty)))
            .unwrap_or_else(|e| panic!("scan {}: {e}", case.ty));
        assert_eq!(
            scanned_dtype(&s),
            case.ty,
            "llama-quantize wrote another type"
        );
        planted_are_lowest(case.ty, &s, &never_trained);
        let f = compare(case.ty, bits_per_weight(case.ty), &s, &base);
        rows.push((f, case.bits));
        std::fs::remove_file(&out).unwrap();
    }
    for case in CANDLE_WRITTEN {
        let out = root.join(format!("model-{}.gguf", case.ty));
        match case.ty {
            "q8_K" => candle_quantize::<BlockQ8K>(&f32_file, &out, 15),
            "q8_1" => candle_quantize::<BlockQ8_1>(&f32_file, &out, 9),
            t => unreachable!("{t}"),
        }
        let csv = root.join(format!("{}.csv", case.ty));
        let s = scan_with(&out, Some(&dir), &reference, &csv)
            .unwrap_or_else(|e| panic!("scan {}: {e}", case.ty));
        assert_eq!(scanned_dtype(&s), case.ty);
        planted_are_lowest(case.ty, &s, &never_trained);
        let f = compare(case.ty, bits_per_weight(case.ty), &s, &base);
        rows.push((f, case.bits));
        std::fs::remove_file(&out).unwrap();
    }
    let figures: Vec<Figures> = rows.iter().map(|(f, _)| f.clone()).collect();
    let t = table(&figures);
    println!("{t}");
    for f in &figures {
        eprintln!("{}: {:?}", f.ty, f.per);
    }
    std::fs::write(root.join("figures.md"), &t).unwrap();
    for (f, bits) in &rows {
        check(f, *bits);
    }

    // The Hugging Face checkpoint scans like its f32 export (same matrices, same ids).
    let hf = scan(&dir, &reference, &root.join("hf.csv")).expect("scan the checkpoint");
    for (a, b) in hf.cols.iter().zip(&base.cols) {
        assert!(max_abs_diff(a, b) < 1e-5);
    }

    for ty in REFUSED {
        let out = root.join(format!("model-{ty}.gguf"));
        quantize::quantize(&f32_file, &out, ty, "Q8_0", false)
            .unwrap_or_else(|e| panic!("llama-quantize {ty}: {e}"));
        let err = scan(&out, &reference, &root.join("x.csv")).expect_err(ty);
        assert!(
            err.contains(&format!(
                "tensor 'token_embd.weight' has dtype {ty} (ggml type"
            )) && err.contains(out.to_str().unwrap())
                && err.contains("supported: f32, f16, bf16, q8_0"),
            "{ty}: {err}"
        );
        std::fs::remove_file(&out).unwrap();
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// The real SmolLM2-135M-Instruct Q4_1 release keeps its (tied) embedding in q8_0;
/// requantized to q4_0 by llama-quantize it scans within q4_0's bounds of the release.
/// Its hidden size 576 is not a multiple of 256, so llama-quantize refuses k-quant
/// embeddings for it, and a file that claims one anyway is refused by the reader.
#[test]
fn smollm2_release_and_requantized() {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("quantized-smollm2");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let release =
        common::data().join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    // The chat specials <|endoftext|>, <|im_start|>, <|im_end|> and the repository ones.
    let reference: Vec<u32> = (0..17).collect();
    let base = scan(&release, &reference, &root.join("release.csv")).expect("scan the release");
    assert_eq!(scanned_dtype(&base), "q8_0");
    assert!(base.json["model_output"].is_null(), "tied: {}", base.json);

    let q4 = root.join("q4_0.gguf");
    quantize::quantize(&release, &q4, "q4_0", "Q4_1", true).expect("requantize to q4_0");
    let s = scan(&q4, &reference, &root.join("q4_0.csv")).expect("scan q4_0");
    assert_eq!(scanned_dtype(&s), "q4_0");
    let f = compare("q4_0 (from q8_0)", bits_per_weight("q4_0"), &s, &base);
    println!("{}", table(std::slice::from_ref(&f)));
    eprintln!("{}: {:?}", f.ty, f.per);
    check(&f, 4);

    let err = quantize::quantize(&release, &root.join("q4_K.gguf"), "q4_K", "Q4_1", true)
        .expect_err("q4_K rows of 576");
    assert!(err.contains("invalid size"), "{err}");

    let bad = root.join("bad.gguf");
    std::fs::write(
        &bad,
        gguf_bytes(&[("token_embd.weight", vec![576, 4], 12, vec![0u8; 9 * 144])]),
    )
    .unwrap();
    let err = scan(&bad, &[0], &root.join("bad.csv")).expect_err("q4_K rows of 576");
    assert!(
        err.contains("bad.gguf")
            && err.contains("token_embd.weight")
            && err.contains("row length 576 is not a multiple of its type's block size 256"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
