//! Audit speed on the 128k-entry Llama-3 vocabulary: load and audit measured separately,
//! then the same work done by the Python reference (`benches/reference_audit.py`, Python
//! `tokenizers`) in the same run, so the ratio is taken on one machine at one time.
//!
//! Run: `cargo bench --bench audit` (needs `pip install -r benches/requirements.txt` for the
//! Python side; without it only the Rust figures are printed).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tokenaudit::audit;
use tokenaudit::vocab::{self, LoadOptions};

fn llama3() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/tokenizers/llama3/tokenizer.model")
}

fn bench_audit(c: &mut Criterion) {
    let path = llama3();
    let opts = LoadOptions::default();
    let mut g = c.benchmark_group("llama3");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("load", |b| b.iter(|| vocab::load(&path, &opts).unwrap()));
    let v = vocab::load(&path, &opts).unwrap();
    g.bench_function("audit", |b| b.iter(|| audit::audit(&v)));
    g.bench_function("load+audit", |b| {
        b.iter(|| audit::audit(&vocab::load(&path, &opts).unwrap()))
    });
    g.finish();

    // One more timed end-to-end run to compare with Python in the same process run.
    let t = Instant::now();
    let v = vocab::load(&path, &opts).unwrap();
    let load_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = audit::audit(&v);
    let audit_s = t.elapsed().as_secs_f64();
    println!(
        "rust   load {load_s:.3} s  audit {audit_s:.3} s  total {:.3} s  ({} ids)",
        load_s + audit_s,
        r.tokens.len()
    );
    python_reference(load_s + audit_s);
}

/// Median wall time of a command run `n` times (process start included).
fn median_wall(n: usize, mut cmd: impl FnMut() -> Command) -> Option<f64> {
    let mut t: Vec<f64> = Vec::new();
    for _ in 0..n {
        let start = Instant::now();
        let out = cmd().output().ok()?;
        if !out.status.success() {
            return None;
        }
        t.push(start.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Some(t[t.len() / 2])
}

/// Run the Python reference on the same file: its own phase timings, then both whole
/// commands end to end (interpreter start and imports included, as a user waits for them).
fn python_reference(rust_total: f64) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/reference_audit.py");
    let py = || {
        let mut c = Command::new("python3");
        c.arg(&script).args(["--bench", "llama3", "--no-parity"]);
        c
    };
    let out = py().output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let last = text.lines().find(|l| l.contains("\"total_s\""));
            match last.and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
                Some(j) => {
                    let total = j["total_s"].as_f64().unwrap_or(f64::NAN);
                    println!(
                        "python load {:.3} s  audit {:.3} s  total {total:.3} s  (in-process ratio {:.1}x)",
                        j["load_s"].as_f64().unwrap_or(f64::NAN),
                        j["audit_s"].as_f64().unwrap_or(f64::NAN),
                        total / rust_total
                    );
                }
                None => println!("python reference printed no timing JSON:\n{text}"),
            }
        }
        Ok(o) => {
            println!(
                "python reference failed (pip install -r benches/requirements.txt?): {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return;
        }
        Err(e) => {
            println!("python3 not available: {e}");
            return;
        }
    }
    let rust = median_wall(5, || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tokenaudit"));
        c.args(["audit", "--json", "--tokenizer"]).arg(llama3());
        c
    });
    let python = median_wall(3, py);
    if let (Some(r), Some(p)) = (rust, python) {
        println!(
            "end to end (median wall): tokenaudit audit {r:.3} s, python {p:.3} s, speed-up {:.1}x",
            p / r
        );
    }
}

criterion_group!(benches, bench_audit);
criterion_main!(benches);
