//! Speed of the digit schemes: encoding with a scheme's stage in front of the pipeline
//! against plain encoding with the same tokenizer, in MB/s, on two corpora: the PUD
//! parallel corpus (8 languages, 8000 sentences, few digits) and the numeric CSV files
//! (World Bank GDP, Mauna Loa CO2, S&P 500 financials: digits everywhere).
//!
//! Run: `cargo bench --bench digits` (`cargo bench --bench digits -- none` prints only the
//! table). Criterion measures each (tokenizer, corpus, scheme); at the end everything is
//! timed again with the variants interleaved round by round (so that load on a shared
//! machine hits all of them alike), in CPU time of the thread where Linux gives it, and a
//! table of MB/s, overhead against plain encoding and token counts is printed. One
//! thread, `encode_fast` per line, as a data loader would call it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokenaudit::digits::{Scheme, Schemed};
use tokenaudit::vocab::{self, LoadOptions, Vocab};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

const TOKENIZERS: [(&str, &str); 3] = [
    ("gpt2", "tokenizers/gpt2/tokenizer.json"),
    ("llama2", "tokenizers/llama2/tokenizer.model"),
    ("llama3", "tokenizers/llama3/tokenizer.model"),
];

/// (name, lines) of each corpus.
fn corpora() -> Vec<(&'static str, Vec<String>)> {
    let read = |rel: &str| std::fs::read_to_string(data().join(rel)).unwrap();
    let mut pud = Vec::new();
    for lang in ["en", "de", "fr", "ru", "zh", "ja", "ar", "hi"] {
        pud.extend(
            read(&format!("corpus/pud/{lang}.txt"))
                .lines()
                .map(String::from),
        );
    }
    let mut numeric = Vec::new();
    for f in [
        "gdp.csv",
        "co2-mm-mlo.csv",
        "sp500-constituents-financials.csv",
    ] {
        numeric.extend(
            read(&format!("corpus/numeric/{f}"))
                .lines()
                .map(String::from),
        );
    }
    vec![("pud", pud), ("numeric", numeric)]
}

/// The tokenizers under test: plain (the vocabulary's own tokenizer, no stage added)
/// and one per fixed scheme (the stage in front of a clone of it).
fn variants(v: &Vocab) -> Vec<(&'static str, Schemed)> {
    [Scheme::Own, Scheme::One, Scheme::L2r, Scheme::R2l]
        .into_iter()
        .map(|s| {
            let name = if s == Scheme::Own { "plain" } else { s.key() };
            (name, Schemed::new(&v.tokenizer, s).unwrap())
        })
        .collect()
}

fn encode_all(s: &Schemed, lines: &[String]) -> usize {
    lines.iter().map(|l| s.count(l).unwrap()).sum()
}

fn bench_digits(c: &mut Criterion) {
    let corpora = corpora();
    let mut vocabs = Vec::new();
    for (name, rel) in TOKENIZERS {
        let v = vocab::load(&data().join(rel), &LoadOptions::default()).unwrap();
        vocabs.push((name, v));
    }
    for (tname, v) in &vocabs {
        let vars = variants(v);
        for (cname, lines) in &corpora {
            let bytes: usize = lines.iter().map(|l| l.len()).sum();
            let mut g = c.benchmark_group(format!("{tname}/{cname}"));
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(3))
                .throughput(Throughput::Bytes(bytes as u64));
            for (vname, var) in &vars {
                g.bench_function(*vname, |b| b.iter(|| encode_all(var, lines)));
            }
            g.finish();
        }
    }
    summary(&vocabs, &corpora);
}

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`): on a
/// shared machine the time spent waiting for a CPU is left out, which wall time is not.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Seconds of CPU time (wall time where schedstat is missing) to run `f`.
fn timed(f: impl FnOnce()) -> f64 {
    let (c0, t0) = (cpu_ns(), Instant::now());
    f();
    match (c0, cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e9,
        _ => t0.elapsed().as_secs_f64(),
    }
}

/// Interleaved rounds, median seconds per variant, printed as MB/s and overhead.
fn summary(vocabs: &[(&str, Vocab)], corpora: &[(&str, Vec<String>)]) {
    const ROUNDS: usize = 9;
    println!(
        "\nMB/s (10^6 bytes per second of {} time, one thread, median of {ROUNDS} interleaved \
         rounds); in brackets: overhead against plain",
        if cpu_ns().is_some() { "CPU" } else { "wall" }
    );
    let mut header = vec![format!("{:<9}", "tokenizer"), format!("{:<8}", "corpus")];
    for (name, _) in variants(&vocabs[0].1) {
        header.push(format!("{name:>14}"));
    }
    println!("{}", header.join(" "));
    for (tname, v) in vocabs {
        let vars = variants(v);
        for (cname, lines) in corpora {
            let bytes: usize = lines.iter().map(|l| l.len()).sum();
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); vars.len()];
            for _ in 0..ROUNDS {
                for (i, (_, var)) in vars.iter().enumerate() {
                    times[i].push(timed(|| {
                        std::hint::black_box(encode_all(var, lines));
                    }));
                }
            }
            let med: Vec<f64> = times
                .iter_mut()
                .map(|t| {
                    t.sort_by(f64::total_cmp);
                    t[t.len() / 2]
                })
                .collect();
            let mut row = vec![format!("{tname:<9}"), format!("{cname:<8}")];
            for (i, m) in med.iter().enumerate() {
                let mbs = bytes as f64 / m / 1e6;
                row.push(if i == 0 {
                    format!("{mbs:>14.2}")
                } else {
                    format!(
                        "{:>14}",
                        format!("{mbs:.2} ({:+.0}%)", 100.0 * (m / med[0] - 1.0))
                    )
                });
            }
            println!("{}", row.join(" "));
            let plain_tokens = encode_all(&vars[0].1, lines);
            let more: Vec<String> = vars[1..]
                .iter()
                .map(|(n, var)| {
                    let t = encode_all(var, lines);
                    format!(
                        "{n} {:+.1}%",
                        100.0 * (t as f64 / plain_tokens as f64 - 1.0)
                    )
                })
                .collect();
            println!("{:20}tokens: plain {plain_tokens}, {}", "", more.join(", "));
        }
    }
}

criterion_group!(benches, bench_digits);
criterion_main!(benches);
