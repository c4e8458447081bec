//! Verification speed against the published code, side by side in one run: tokenaudit's
//! `verify` (library call, defaults) and `benches/reference_verify.py` (the published method
//! of cohere-ai/magikarp: Hugging Face `generate`, batch 1, KV cache) on the same f32
//! Hugging Face directory, the same ids and the same cores.
//!
//! Besides tokens/s the bench prints the compute floor of each run: the sequence positions
//! it forwarded × 2 × the parameters a position passes through (every matrix but the
//! embedding lookup; the output matrix once per scored step), divided by the f32 matmul rate
//! measured here first. The published method forwards every prompt in full for every
//! candidate, so its floor is fixed; tokenaudit's gains are fewer positions (early stop,
//! cheapest decisive prompt first, shared prefixes) more than faster arithmetic.
//!
//! Run: `cargo bench --bench verify_published`. Needs the model directory made by
//! `python benches/smollm2_to_hf.py` (default `target/smollm2-hf`, or
//! `TOKENAUDIT_SMOLLM2_HF`) and a Python with `benches/requirements-verify.txt`
//! (`TOKENAUDIT_PYTHON`, default `python3`); without them it says what is missing and stops.
//! `TOKENAUDIT_BENCH_N` takes the first N ids of `benches/verify_ids_smollm2.txt` (150).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use candle_core::{Device, Tensor};
use tokenaudit::verify::{self, IdSource, VerifySettings};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ids(n: usize) -> Vec<u32> {
    let text = std::fs::read_to_string(root().join("benches/verify_ids_smollm2.txt"))
        .expect("benches/verify_ids_smollm2.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.parse().expect("an id per line"))
        .take(n)
        .collect()
}

/// Best of five f32 matmuls of the shape a batch of prompts meets (8192 positions ×
/// hidden 576 × MLP 1536), in FLOP/s.
fn matmul_rate() -> f64 {
    let (m, k, n) = (8192usize, 576usize, 1536usize);
    let a = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
    let b = Tensor::randn(0f32, 1.0, (k, n), &Device::Cpu).unwrap();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let c = a.matmul(&b).unwrap();
        let _ = c.sum_all().unwrap().to_scalar::<f32>().unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best
}

/// (parameters every position passes through, parameters of the output matrix), from the
/// safetensors header: every 2-D matrix but the embedding lookup; the output matrix is the
/// embedding when tied.
fn parameters(dir: &Path) -> (f64, f64) {
    let bytes = std::fs::read(dir.join("model.safetensors")).expect("model.safetensors");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors header");
    let (mut body, mut embed, mut head) = (0f64, 0f64, None);
    for (name, view) in st.tensors() {
        let n: usize = view.shape().iter().product();
        if view.shape().len() != 2 {
            continue;
        }
        if name.contains("embed_tokens") {
            embed = n as f64;
        } else if name.contains("lm_head") {
            head = Some(n as f64);
        } else {
            body += n as f64;
        }
    }
    (body, head.unwrap_or(embed))
}

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Run {
    name: String,
    tokens: usize,
    seconds: f64,
    positions: f64,
    logit_rows: f64,
    peak_mb: f64,
    verdicts: HashMap<u32, String>,
}

fn ours(dir: &Path, ids: &[u32]) -> Run {
    let s = VerifySettings::new(dir.to_path_buf(), IdSource::Ids(ids.to_vec()));
    let t = Instant::now();
    let r = verify::run(&s).expect("tokenaudit verify");
    let seconds = t.elapsed().as_secs_f64();
    // Each prompt a row ran scores at most `steps` logits rows.
    let logit_rows: usize = r
        .rows
        .iter()
        .map(|x| x.prompt_scores.iter().flatten().count() * s.scoring.steps)
        .sum();
    Run {
        name: format!("tokenaudit (batch {})", s.scoring.batch_size),
        tokens: r.rows.len(),
        seconds,
        positions: r.positions as f64,
        logit_rows: logit_rows as f64,
        peak_mb: peak_rss_mb(),
        verdicts: r
            .rows
            .iter()
            .map(|x| (x.id, x.verdict.name().to_string()))
            .collect(),
    }
}

fn python(py: &str, dir: &Path, ids: &[u32], threads: usize) -> Option<Run> {
    let tmp = std::env::temp_dir().join(format!("tokenaudit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).ok()?;
    let ids_file = tmp.join("ids.txt");
    let text: String = ids.iter().map(|i| format!("{i}\n")).collect();
    std::fs::write(&ids_file, text).ok()?;
    let csv_path = tmp.join("python.csv");
    let t = Instant::now();
    let out = Command::new(py)
        .arg(root().join("benches/reference_verify.py"))
        .arg(dir)
        .arg("--ids-file")
        .arg(&ids_file)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--csv")
        .arg(&csv_path)
        .output()
        .ok()?;
    let wall = t.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!(
            "reference_verify.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last()?).ok()?;
    let mut verdicts = HashMap::new();
    let mut logit_rows = 0f64;
    let mut rd = csv::Reader::from_path(&csv_path).ok()?;
    let headers = rd.headers().ok()?.clone();
    let col = |n: &str| headers.iter().position(|h| h == n);
    let (id_c, v_c, l_c) = (col("token_id")?, col("verdict")?, col("logits_rows")?);
    for rec in rd.records().flatten() {
        verdicts.insert(rec[id_c].parse().ok()?, rec[v_c].to_string());
        logit_rows += rec[l_c].parse::<f64>().unwrap_or(0.0);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "python: model load {} s and placeholder search {} s not counted (whole process {wall:.1} s)",
        summary["load_s"], summary["placeholder_search_s"]
    );
    Some(Run {
        name: format!(
            "published (torch {}, {} threads)",
            summary["torch"].as_str().unwrap_or("?"),
            summary["threads"]
        ),
        tokens: summary["n_tokens"].as_u64()? as usize,
        seconds: summary["total_s"].as_f64()?,
        positions: summary["total_positions"].as_f64()?,
        logit_rows,
        peak_mb: summary["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        verdicts,
    })
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let dir = std::env::var_os("TOKENAUDIT_SMOLLM2_HF")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/smollm2-hf"));
    if !dir.join("config.json").is_file() {
        eprintln!(
            "{}: no model directory; make it with `python benches/smollm2_to_hf.py \
             ../shared/data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf {}` \
             (or set TOKENAUDIT_SMOLLM2_HF)",
            dir.display(),
            dir.display()
        );
        return;
    }
    let n: usize = std::env::var("TOKENAUDIT_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let py = std::env::var("TOKENAUDIT_PYTHON").unwrap_or_else(|_| "python3".into());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ids = ids(n);
    let rate = matmul_rate();
    let (body, head) = parameters(&dir);
    println!(
        "machine: {threads} threads, f32 matmul {:.1} GFLOP/s (candle, 8192x576 · 576x1536); \
         model {:.1}M parameters per position + {:.1}M output matrix per scored step; {} ids",
        rate / 1e9,
        body / 1e6,
        head / 1e6,
        ids.len()
    );

    let third = ours(&dir, &ids[..ids.len().div_ceil(3)]);
    let mut runs = vec![ours(&dir, &ids)];
    println!(
        "tokenaudit peak RSS: {:.0} MB after {} ids, {:.0} MB after a run of {} (bounded by the \
         batch, not the number of candidates)",
        third.peak_mb, third.tokens, runs[0].peak_mb, runs[0].tokens
    );
    match python(&py, &dir, &ids, threads) {
        Some(r) => runs.push(r),
        None => eprintln!(
            "{py}: could not run benches/reference_verify.py (needs torch and transformers: \
             pip install -r benches/requirements-verify.txt; or set TOKENAUDIT_PYTHON)"
        ),
    }

    println!(
        "\n| run | tokens/s | s/token | positions/token | floor s/token | run ÷ floor | peak MB | vs published |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let published = runs.get(1).map(|r| r.tokens as f64 / r.seconds);
    for r in &runs {
        let tps = r.tokens as f64 / r.seconds;
        let floor = (r.positions * 2.0 * body + r.logit_rows * 2.0 * head) / rate;
        println!(
            "| {} | {:.2} | {:.3} | {:.0} | {:.3} | {:.2} | {:.0} | {} |",
            r.name,
            tps,
            r.seconds / r.tokens as f64,
            r.positions / r.tokens as f64,
            floor / r.tokens as f64,
            r.seconds / floor,
            r.peak_mb,
            published.map_or("–".into(), |p| format!("{:.2}×", tps / p)),
        );
    }
    if let [a, b] = &runs[..] {
        let same = a
            .verdicts
            .iter()
            .filter(|(id, v)| b.verdicts.get(id) == Some(v))
            .count();
        println!(
            "\nverdicts agree on {same} of {} ids (published floor: every prompt in full for \
             every id)",
            a.verdicts.len()
        );
    }
}
