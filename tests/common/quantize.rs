//! Quantized test files: a small complete Llama checkpoint with rows wide enough for the
//! k-quants (hidden 256, the Llama-2 tokenizer's 32000 ids, random weights from a fixed
//! seed, planted never-trained rows), exported to an f32 GGUF by `tokenaudit export-gguf`
//! and requantized by llama.cpp's `llama-quantize`, built once by
//! scripts/build-llama-server.sh (`--tool llama-quantize`; `TOKENAUDIT_LLAMA_QUANTIZE`
//! points at another binary). Nothing here is committed: the files are made under
//! `target/tmp` by the test that needs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use safetensors::Dtype;

use super::writers::{f32_bytes, write_st};

/// The llama-quantize binary (built on first use; CI runs the script beforehand).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("TOKENAUDIT_LLAMA_QUANTIZE") {
            return PathBuf::from(p);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-llama-server.sh");
        let out = Command::new("bash")
            .arg(script)
            .args(["--tool", "llama-quantize"])
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/build-llama-server.sh --tool llama-quantize");
        assert!(
            out.status.success(),
            "scripts/build-llama-server.sh --tool llama-quantize failed"
        );
        let text = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(
            text.lines()
                .last()
                .expect("the script prints the binary")
                .trim(),
        )
    })
}

/// `llama-quantize [--allow-requantize] --token-embedding-type T --output-tensor-type T
/// src dst FTYPE 2`: the embedding and output matrices in ggml type `ty` ("q4_K"), every
/// other tensor in the llama file type `ftype` ("Q8_0"). `Err` carries llama-quantize's
/// last lines when it refuses.
pub fn quantize(
    src: &Path,
    dst: &Path,
    ty: &str,
    ftype: &str,
    requantize: bool,
) -> Result<(), String> {
    let mut cmd = Command::new(binary());
    if requantize {
        cmd.arg("--allow-requantize");
    }
    let o = cmd
        .args(["--token-embedding-type", ty, "--output-tensor-type", ty])
        .arg(src)
        .arg(dst)
        .args([ftype, "2"])
        .output()
        .expect("run llama-quantize");
    if o.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    let tail: Vec<&str> = text.lines().rev().take(4).collect();
    Err(tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
}

/// The synthetic checkpoint and what was planted in it.
pub struct Planted {
    /// The Hugging Face directory: config.json, model.safetensors, the tokenizer.
    pub dir: PathBuf,
    pub vocab: usize,
    pub hidden: usize,
    /// Rows left near zero in the input embedding and collapsed onto one direction in the
    /// unembedding: the "never trained" ids.
    pub never_trained: Vec<u32>,
    /// Some of them, passed to `scan --reference-ids`.
    pub reference: Vec<u32>,
}

/// splitmix64: a fixed-seed generator, so the checkpoint is the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
    fn vec(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal() * std).collect()
    }
}

/// Write the checkpoint into `dir`: a one-layer Llama, hidden 256 (four heads of 64),
/// the Llama-2 tokenizer of `tiny-llama2tok`, f32 weights.
///
/// Input embedding: trained rows are Gaussian with a per-row scale log-uniform over
/// [0.5, 2] (so the norms spread and their ranks mean something); 400 planted rows
/// (`never_trained`, 1.25 % of the vocabulary) are 0.02 × Gaussian. Unembedding: trained
/// rows are a shared mean direction plus a Gaussian of the same per-row spread; planted
/// rows are one shared "unused" direction plus 1 % noise.
pub fn tiny_llama_256(dir: &Path) -> Planted {
    let (vocab, hidden, inter) = (32000usize, 256usize, 512usize);
    std::fs::create_dir_all(dir).unwrap();
    let src = super::data().join("models/tiny-llama2tok");
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "head_dim": 64,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "max_position_embeddings": 128,
        "tie_word_embeddings": false,
        "torch_dtype": "float32",
        "bos_token_id": 1,
        "eos_token_id": 2,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let never_trained: Vec<u32> = (0..400u32).map(|k| 1000 + 77 * k).collect();
    let reference = never_trained.iter().step_by(20).copied().collect();
    let planted = |i: usize| never_trained.binary_search(&(i as u32)).is_ok();

    let mut rng = Rng(0x7E57_0256);
    let per_dim = 1.0 / (hidden as f32).sqrt();
    let mean_dir = rng.vec(hidden, per_dim);
    let unused_dir = rng.vec(hidden, 0.3 * per_dim);
    let mut embed = Vec::with_capacity(vocab * hidden);
    let mut lm_head = Vec::with_capacity(vocab * hidden);
    for i in 0..vocab {
        if planted(i) {
            embed.extend(rng.vec(hidden, 0.02 * per_dim));
            lm_head.extend(
                unused_dir
                    .iter()
                    .map(|&u| u + 0.01 * 0.3 * per_dim * rng.normal()),
            );
        } else {
            let scale = 0.5 * 4f32.powf(rng.uniform());
            embed.extend(rng.vec(hidden, scale * per_dim));
            let scale = 0.5 * 4f32.powf(rng.uniform());
            lm_head.extend(mean_dir.iter().map(|&m| m + scale * per_dim * rng.normal()));
        }
    }

    let w = |rng: &mut Rng, n: usize| f32_bytes(&rng.vec(n, 0.02));
    let ones = |n: usize| f32_bytes(&vec![1.0; n]);
    let layer = |s: &str| format!("model.layers.0.{s}.weight");
    let (sq, si) = (vec![hidden, hidden], vec![inter, hidden]);
    let owned = [
        (
            "model.embed_tokens.weight".to_string(),
            vec![vocab, hidden],
            f32_bytes(&embed),
        ),
        (
            "lm_head.weight".to_string(),
            vec![vocab, hidden],
            f32_bytes(&lm_head),
        ),
        ("model.norm.weight".to_string(), vec![hidden], ones(hidden)),
        (layer("input_layernorm"), vec![hidden], ones(hidden)),
        (
            layer("post_attention_layernorm"),
            vec![hidden],
            ones(hidden),
        ),
        (
            layer("self_attn.q_proj"),
            sq.clone(),
            w(&mut rng, hidden * hidden),
        ),
        (
            layer("self_attn.k_proj"),
            sq.clone(),
            w(&mut rng, hidden * hidden),
        ),
        (
            layer("self_attn.v_proj"),
            sq.clone(),
            w(&mut rng, hidden * hidden),
        ),
        (layer("self_attn.o_proj"), sq, w(&mut rng, hidden * hidden)),
        (
            layer("mlp.gate_proj"),
            si.clone(),
            w(&mut rng, inter * hidden),
        ),
        (layer("mlp.up_proj"), si, w(&mut rng, inter * hidden)),
        (
            layer("mlp.down_proj"),
            vec![hidden, inter],
            w(&mut rng, inter * hidden),
        ),
    ];
    let (names, data): (Vec<String>, Vec<_>) =
        owned.into_iter().map(|(n, s, b)| (n, (s, b))).unzip();
    let refs: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = names
        .iter()
        .zip(data)
        .map(|(n, (s, b))| (n.as_str(), Dtype::F32, s, b))
        .collect();
    write_st(&dir.join("model.safetensors"), &refs);
    Planted {
        dir: dir.to_path_buf(),
        vocab,
        hidden,
        never_trained,
        reference,
    }
}
