//! Verification throughput through a serving engine (`--backend openai`) against the
//! in-process candle path, on the same model and machine in the same run: tiny-llama2tok,
//! exported to GGUF (f32) and served by llama.cpp's server (built by
//! scripts/build-llama-server.sh, as the tests do) with 4 slots on 127.0.0.1.
//!
//! Run: `cargo bench --bench serving`. The token set is the one of `benches/verify.rs`:
//! half tokens the model copies, half never seen.

#[path = "../tests/common/engine/server.rs"]
mod server;

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokenaudit::model::{Backend, LoadedModel};
use tokenaudit::openai::Endpoint;
use tokenaudit::verify::{self, IdSource, VerifySettings};

fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/models/tiny-llama2tok")
}

fn token_set(n: usize) -> Vec<u32> {
    let frequent = [
        13u32, 278, 450, 263, 322, 297, 304, 338, 29889, 29892, 471, 372, 385, 393,
    ];
    let unseen = [
        9405u32, 28682, 25069, 5624, 15653, 4661, 31192, 27615, 12425, 23667, 12859,
    ];
    (0..n)
        .map(|k| {
            if k % 2 == 0 {
                frequent[(k / 2) % frequent.len()]
            } else {
                unseen[(k / 2) % unseen.len()]
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny-llama2tok.gguf");
    server::export(&model(), &gguf, "f32");
    let eng = server::LlamaServer::start(&gguf, 4, 128);
    let ids = token_set(32);
    let base = VerifySettings::new(model(), IdSource::All);
    let mut g = c.benchmark_group("verify_tiny_llama2tok_engine_vs_in_process");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(ids.len() as u64));
    let local = LoadedModel::load(&base).unwrap();
    g.bench_function("in_process_batch32", |b| {
        b.iter(|| verify::run_with(&local, &base, &ids).unwrap())
    });
    for (concurrency, top) in [(1, 20), (4, 20), (8, 20), (4, 100)] {
        let mut ep = Endpoint::new(&eng.url);
        ep.concurrency = concurrency;
        ep.top_logprobs = top;
        let mut s = base.clone();
        s.backend = Backend::OpenAi(ep);
        let remote = LoadedModel::load(&s).unwrap();
        g.bench_function(format!("llama_server_c{concurrency}_top{top}"), |b| {
            b.iter(|| verify::run_with(&remote, &s, &ids).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
