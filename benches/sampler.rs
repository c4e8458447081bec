//! Sampler overhead: one sampling step (max, entropy, varentropy, state, min-p /
//! top-k / top-p, draw) on a 128,256-logit row against one single-token decode step of a
//! candle-transformers Llama with that vocabulary, KV cache on, CPU. Target: ≤ 3%.
//!
//! The model is built in memory with random weights (seeded, uniform): hidden 512, 2 layers,
//! 8 heads, MLP 1,408, vocabulary 128,256 (the Llama-3 size). Its decode step is dominated
//! by the 128,256 × 512 output projection, as in any small model with a large vocabulary.
//! The sampler runs on the logits that same forward pass produced. When
//! ../shared/data/models/tiny-llama2tok exists the same comparison runs on that real
//! checkpoint too (32,000-token vocabulary, hidden 128).
//!
//! Run: `cargo bench --bench sampler`. Besides criterion's estimates it prints a summary
//! with medians and the ratio.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama::{Cache, Config, Llama, LlamaConfig};
use criterion::Criterion;
use tokenaudit::sampler::rng::Xoshiro256;
use tokenaudit::sampler::{metrics, Sampler, SamplerConfig, SamplerKind};

const VOCAB: usize = 128_256;
const PROMPT: usize = 32;

struct Model {
    name: String,
    llama: Llama,
    cache: Cache,
    device: Device,
    next: u32,
}

impl Model {
    /// One decode step after the prompt (the prompt's cache is cloned, so every call is the
    /// same step at position PROMPT). Returns the logits row.
    fn decode(&self) -> Vec<f32> {
        let mut cache = self.cache.clone();
        let x = Tensor::new(&[[self.next]], &self.device).unwrap();
        let logits = self.llama.forward(&x, PROMPT, &mut cache).unwrap();
        logits.squeeze(0).unwrap().to_vec1::<f32>().unwrap()
    }
}

fn uniform(rng: &mut Xoshiro256, n: usize, amp: f32) -> Vec<f32> {
    (0..n)
        .map(|_| ((rng.next_f64() * 2.0 - 1.0) as f32) * amp)
        .collect()
}

fn prefill(name: String, llama: Llama, cfg: &Config, device: Device) -> Model {
    let mut cache = Cache::new(true, DType::F32, cfg, &device).unwrap();
    let prompt: Vec<u32> = (0..PROMPT as u32).map(|i| 1 + i * 37).collect();
    let x = Tensor::new(prompt.as_slice(), &device)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    llama.forward(&x, 0, &mut cache).unwrap();
    Model {
        name,
        llama,
        cache,
        device,
        next: 1234,
    }
}

fn random_llama() -> Model {
    let device = Device::Cpu;
    let (hidden, inter, layers, heads) = (512usize, 1408usize, 2usize, 8usize);
    let cfg = Config {
        hidden_size: hidden,
        intermediate_size: inter,
        vocab_size: VOCAB,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: heads,
        use_flash_attn: false,
        rms_norm_eps: 1e-5,
        rope_theta: 500_000.0,
        bos_token_id: None,
        eos_token_id: None,
        rope_scaling: None,
        max_position_embeddings: 512,
        tie_word_embeddings: false,
    };
    let mut rng = Xoshiro256::seed_from_u64(42);
    let mut ts = HashMap::new();
    let mut put = |name: String, shape: &[usize], amp: f32| {
        let n = shape.iter().product();
        let data = if amp == 0.0 {
            vec![1.0f32; n]
        } else {
            uniform(&mut rng, n, amp)
        };
        ts.insert(name, Tensor::from_vec(data, shape, &device).unwrap());
    };
    // Uniform ±a has std a/√3; the output projection gets std ≈ 0.1, so the logits
    // (unit-RMS hidden state · 512 weights) have a std of about 2.3 nats.
    put("model.embed_tokens.weight".into(), &[VOCAB, hidden], 1.0);
    put("lm_head.weight".into(), &[VOCAB, hidden], 0.17);
    put("model.norm.weight".into(), &[hidden], 0.0);
    for l in 0..layers {
        let p = format!("model.layers.{l}");
        for w in ["q_proj", "k_proj", "v_proj", "o_proj"] {
            put(format!("{p}.self_attn.{w}.weight"), &[hidden, hidden], 0.04);
        }
        put(format!("{p}.mlp.gate_proj.weight"), &[inter, hidden], 0.04);
        put(format!("{p}.mlp.up_proj.weight"), &[inter, hidden], 0.04);
        put(format!("{p}.mlp.down_proj.weight"), &[hidden, inter], 0.04);
        put(format!("{p}.input_layernorm.weight"), &[hidden], 0.0);
        put(
            format!("{p}.post_attention_layernorm.weight"),
            &[hidden],
            0.0,
        );
    }
    let vb = VarBuilder::from_tensors(ts, DType::F32, &device);
    let llama = Llama::load(vb, &cfg).unwrap();
    prefill(
        "random Llama, vocab 128256, hidden 512, 2 layers".into(),
        llama,
        &cfg,
        device,
    )
}

fn tiny_llama() -> Option<Model> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/models/tiny-llama2tok");
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let lc: LlamaConfig = serde_json::from_str(&text).ok()?;
    let cfg = lc.into_config(false);
    let device = Device::Cpu;
    let files = [dir.join("model.safetensors")];
    // SAFETY: the checkpoint is read-only shared data, not modified while mapped.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, DType::F32, &device).ok()? };
    let llama = Llama::load(vb, &cfg).ok()?;
    Some(prefill(
        format!(
            "tiny-llama2tok, vocab {}, hidden {}, {} layers",
            cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers
        ),
        llama,
        &cfg,
        device,
    ))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Every measurement is one decode step followed by one sampler call on the logits it just
/// produced (the order of real generation: the sampler meets the cache state and the
/// thread-pool wind-down the forward pass leaves behind); rounds cycle through the cases so
/// that machine load affects all alike. Medians and minima of `ROUNDS` rounds (on a shared
/// machine the minima are the closer estimate of an unloaded run).
fn summary(models: &[&Model]) {
    const ROUNDS: usize = 41;
    println!(
        "\nsampler overhead summary (medians of {ROUNDS} rounds of: decode step, then one sampler call"
    );
    println!(
        "on its logits); AVX2 loops: {}",
        tokenaudit::sampler::metrics::uses_avx2()
    );
    for m in models {
        let row = m.decode();
        let mut cases: Vec<(String, Option<Sampler>, bool)> =
            vec![("entropy + varentropy (with max)".to_string(), None, false)];
        for k in SamplerKind::ALL {
            cases.push((
                format!("step {}", k.as_str()),
                Some(Sampler::new(SamplerConfig::new(k))),
                false,
            ));
        }
        cases.push((
            "step entropix, logits x4".to_string(),
            Some(Sampler::new(SamplerConfig::new(SamplerKind::Entropix))),
            true,
        ));
        let mut fwd = Vec::new();
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
        let mut states = vec![String::new(); cases.len()];
        for _ in 0..ROUNDS {
            for (i, (_, sampler, sharpened)) in cases.iter_mut().enumerate() {
                let t = Instant::now();
                let mut logits = m.decode();
                fwd.push(t.elapsed().as_secs_f64());
                if *sharpened {
                    for z in logits.iter_mut() {
                        *z *= 4.0;
                    }
                }
                let t = Instant::now();
                match sampler {
                    None => {
                        black_box(metrics(black_box(&logits)));
                    }
                    Some(s) => {
                        let st = s.step(black_box(&logits), Some(7));
                        states[i] = format!(" ({})", st.state);
                    }
                }
                times[i].push(t.elapsed().as_secs_f64());
            }
        }
        let f = median(fwd.clone());
        let f_min = fwd.iter().cloned().fold(f64::INFINITY, f64::min);
        let (h, v) = metrics(&row);
        println!(
            "  {}: decode step median {:.3} ms, min {:.3} ms; its logits: H {:.2} bits, V {:.2} bits²",
            m.name,
            f * 1e3,
            f_min * 1e3,
            h,
            v
        );
        println!(
            "    {:<40} {:>9} {:>9}  {:>7} {:>7}",
            "", "median", "min", "med/med", "min/min"
        );
        for (i, (label, _, _)) in cases.iter().enumerate() {
            let t = median(times[i].clone());
            let t_min = times[i].iter().cloned().fold(f64::INFINITY, f64::min);
            println!(
                "    {:<40} {:>6.1} µs {:>6.1} µs  {:>6.2}% {:>6.2}%",
                format!("{label}{}", states[i]),
                t * 1e6,
                t_min * 1e6,
                100.0 * t / f,
                100.0 * t_min / f_min
            );
        }
    }
}

fn main() {
    let big = random_llama();
    let tiny = tiny_llama();
    let logits = big.decode();
    assert_eq!(logits.len(), VOCAB);

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    {
        let mut g = c.benchmark_group("sampler_128k");
        g.bench_function("forward_decode_step", |b| {
            b.iter(|| black_box(big.decode()))
        });
        g.bench_function("metrics", |b| {
            b.iter(|| black_box(metrics(black_box(&logits))))
        });
        for kind in SamplerKind::ALL {
            let mut s = Sampler::new(SamplerConfig::new(kind));
            g.bench_function(format!("step_{}", kind.as_str()), |b| {
                b.iter(|| black_box(s.step(black_box(&logits), Some(7))))
            });
        }
        g.finish();
    }
    if let Some(t) = &tiny {
        let logits = t.decode();
        let mut g = c.benchmark_group("sampler_tiny_llama2tok");
        g.bench_function("forward_decode_step", |b| b.iter(|| black_box(t.decode())));
        let mut s = Sampler::new(SamplerConfig::new(SamplerKind::Entropix));
        g.bench_function("step_entropix", |b| {
            b.iter(|| black_box(s.step(black_box(&logits), Some(7))))
        });
        g.finish();
    }
    c.final_summary();

    let mut models = vec![&big];
    if let Some(t) = &tiny {
        models.push(t);
    }
    summary(&models);
}
