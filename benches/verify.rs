//! Verification throughput (tokens verified per second) on tiny-llama2tok, CPU: the
//! published path (one prompt per pass, three full passes per prompt) against the fast
//! path, adding one speed-up at a time so each one's share shows:
//! batching → + KV cache across the greedy steps → + shared-prefix cache → + early stop.
//!
//! Run: `cargo bench --bench verify`. The token set mixes frequent tokens (which the model
//! repeats, so early stopping can skip their remaining prompts) and never-seen ones.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokenaudit::model::LoadedModel;
use tokenaudit::verify::local::ScoreOptions;
use tokenaudit::verify::{self, IdSource, VerifySettings};

fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/models/tiny-llama2tok")
}

/// Half tokens the model copies (frequent), half never seen (from the scan).
fn token_set(n: usize) -> Vec<u32> {
    let frequent = [
        13u32, 278, 450, 263, 322, 297, 304, 338, 29889, 29892, 471, 372, 385, 393, 411, 445, 526,
        540, 591, 607, 610, 635, 674, 727, 763, 901, 947, 1014, 1105, 1576, 2217, 4335,
    ];
    let unseen = [
        9405u32, 28682, 25069, 5624, 15653, 4661, 31192, 27615, 12425, 23667, 12859, 31208, 15621,
        17980, 22227, 15190, 11089, 26865, 30915, 8272, 24435, 20828, 18608, 9931, 18659, 9067,
        18311, 21859, 20432, 31339, 9864, 19477,
    ];
    let mut ids = Vec::new();
    for k in 0..n {
        ids.push(if k % 2 == 0 {
            frequent[(k / 2) % frequent.len()]
        } else {
            unseen[(k / 2) % unseen.len()]
        });
    }
    ids
}

fn bench(c: &mut Criterion) {
    let base = VerifySettings::new(model(), IdSource::All);
    let v = LoadedModel::load(&base).unwrap();
    let configs: [(&str, usize, ScoreOptions, bool); 5] = [
        ("published_batch1", 16, ScoreOptions::published(), false),
        (
            "batched",
            64,
            ScoreOptions {
                batch_size: 32,
                kv_cache: false,
                prefix_cache: false,
                steps: 3,
            },
            false,
        ),
        (
            "batched+kv",
            64,
            ScoreOptions {
                batch_size: 32,
                kv_cache: true,
                prefix_cache: false,
                steps: 3,
            },
            false,
        ),
        (
            "batched+kv+prefix",
            64,
            ScoreOptions {
                batch_size: 32,
                kv_cache: true,
                prefix_cache: true,
                steps: 3,
            },
            false,
        ),
        (
            "batched+kv+prefix+early_stop",
            64,
            ScoreOptions {
                batch_size: 32,
                kv_cache: true,
                prefix_cache: true,
                steps: 3,
            },
            true,
        ),
    ];
    let mut g = c.benchmark_group("verify_tiny_llama2tok_cpu");
    g.sample_size(10).warm_up_time(Duration::from_millis(500));
    for (name, n, engine, early) in configs {
        let ids = token_set(n);
        let mut s = base.clone();
        s.scoring = engine;
        s.early_stop = early;
        g.throughput(Throughput::Elements(n as u64));
        g.measurement_time(Duration::from_secs(if n == 16 { 15 } else { 10 }));
        g.bench_function(name, |b| b.iter(|| verify::run_with(&v, &s, &ids).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
