//! The flag groups several commands share, each declared once with its help beside it and
//! flattened into the commands that take it (ripgrep's `defs.rs`). Each group resolves
//! itself into the library's plain settings; defaults come from the library, so that the
//! help shows what actually runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use tokenaudit::model;
use tokenaudit::model::quantized::GgufWeights;
use tokenaudit::model::Backend;
use tokenaudit::openai::client::{
    DEFAULT_CONCURRENCY, DEFAULT_RETRIES, DEFAULT_TIMEOUT_SECS, DEFAULT_TOP_LOGPROBS,
};
use tokenaudit::openai::Endpoint;
use tokenaudit::verify::local::ScoreOptions;
use tokenaudit::verify::{self, prompts, IdSource, Thresholds, VerifySettings};
use tokenaudit::vocab::{self, Format, LoadOptions, Vocab};

/// How to read a tokenizer file: shared by both `--tokenizer` groups below, whose only
/// difference is what is loaded when no path is given.
#[derive(Debug, Args)]
pub struct TokenizerFormatFlags {
    /// Force the file format instead of detecting it from the content.
    #[arg(long, value_name = "hf|gpt-bpe|sentencepiece|tiktoken|gguf|tekken")]
    pub format: Option<Format>,
    /// tiktoken family (split regex + special tokens): llama3, llama4, cl100k, qwen, gpt2,
    /// plain. Guessed from the vocabulary size when not given.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
}

impl TokenizerFormatFlags {
    /// The library's load options.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            format: self.format,
            preset: self.preset.clone(),
        }
    }
}

/// The tokenizer of a tokenizer-only command (`audit`, `encode`): the demo tokenizer
/// unless `--tokenizer` names one.
#[derive(Debug, Args)]
pub struct TokenizerFlags {
    /// Tokenizer file or model directory (tokenizer.json, encoder.json + vocab.bpe,
    /// SentencePiece .model, tiktoken ranks, GGUF, tekken.json). Default: the demo tokenizer shipped in
    /// data/demo/.
    #[arg(long, short = 't', value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    #[command(flatten)]
    pub format: TokenizerFormatFlags,
}

impl TokenizerFlags {
    /// The tokenizer named, or the demo tokenizer compiled into the binary.
    pub fn load(&self) -> Result<Vocab> {
        match &self.tokenizer {
            Some(p) => Ok(vocab::load(p, &self.format.load_options())?),
            None => Ok(tokenaudit::demo::tokenizer()?),
        }
    }
}

/// The tokenizer of a model command (`scan`, `verify`, …): the model directory's own
/// unless `--tokenizer` says otherwise.
#[derive(Debug, Args)]
pub struct ModelTokenizerFlags {
    /// Tokenizer file or directory; default: the model directory (or the GGUF itself).
    #[arg(long, short = 't', value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    #[command(flatten)]
    pub format: TokenizerFormatFlags,
}

impl ModelTokenizerFlags {
    /// The library's load options.
    pub fn load_options(&self) -> LoadOptions {
        self.format.load_options()
    }
}

/// Where the forward passes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// candle in this process (CPU, or CUDA in a `--features cuda` build).
    InProcess,
    /// A serving engine's OpenAI-compatible completions API (vLLM, llama.cpp's server,
    /// TGI): for models too large for one machine.
    Openai,
}

/// `--backend openai`: run the forward passes on a serving engine instead of in-process.
#[derive(Debug, Args)]
pub struct BackendFlags {
    /// Where the forward passes run.
    #[arg(long, value_enum, default_value = "in-process", value_name = "KIND")]
    pub backend: BackendKind,
    /// Base URL of the engine's OpenAI-compatible API (with --backend openai), e.g.
    /// http://127.0.0.1:8080/v1.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Name of the environment variable that holds the API key (sent as a Bearer token).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Name of the served model to send with each request; default: the first one the
    /// engine lists at /models.
    #[arg(long = "model", alias = "served-model", value_name = "NAME")]
    pub served_model: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
    /// Seconds one request may take before it is retried.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS, value_name = "SECS")]
    pub timeout: f64,
    /// Retries of a request after 429, 5xx, a timeout or a refused connection (with
    /// exponential backoff).
    #[arg(long, default_value_t = DEFAULT_RETRIES, value_name = "N")]
    pub retries: u32,
    /// Log-probabilities asked per step: more makes more scores exact. When the engine
    /// refuses the number, 20, 5 and 1 are tried (vLLM allows 20 unless started with
    /// --max-logprobs; llama.cpp has no small limit).
    #[arg(long, default_value_t = DEFAULT_TOP_LOGPROBS, value_name = "N")]
    pub top_logprobs: usize,
}

impl BackendFlags {
    /// The library's backend, after checking the flags that only make sense together.
    pub fn resolve(&self) -> Result<Backend> {
        if self.backend == BackendKind::InProcess {
            if self.url.is_some() {
                bail!("--url needs --backend openai");
            }
            return Ok(Backend::InProcess);
        }
        let Some(url) = &self.url else {
            bail!("--backend openai needs --url http://HOST:PORT/v1");
        };
        if !(self.timeout > 0.0 && self.timeout.is_finite()) {
            bail!("--timeout must be a positive number of seconds");
        }
        if self.top_logprobs == 0 {
            bail!("--top-logprobs must be at least 1");
        }
        let mut ep = Endpoint::new(url);
        ep.api_key = match &self.api_key_env {
            Some(var) => Some(
                std::env::var(var)
                    .with_context(|| format!("--api-key-env {var}: the variable is not set"))?,
            ),
            None => None,
        };
        ep.model = self.served_model.clone();
        ep.concurrency = self.concurrency;
        ep.timeout = Duration::from_secs_f64(self.timeout);
        ep.retries = self.retries;
        ep.top_logprobs = self.top_logprobs;
        Ok(Backend::OpenAi(ep))
    }
}

/// How candidates are scored and judged: batching, prompts, verdict thresholds.
#[derive(Debug, Args)]
pub struct ScoringFlags {
    /// Candidates per forward pass. 1 runs the published way: one prompt per pass, three
    /// full passes per prompt, no KV cache, no early stop (for comparison).
    #[arg(long, default_value_t = verify::DEFAULT_BATCH_SIZE, value_name = "N")]
    pub batch_size: usize,
    /// Prompts to run, comma-separated (input_output, assistant_explain, repeats).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub prompts: Option<Vec<String>>,
    /// Verdict thresholds on the score: strongly under-trained below --strong, under-trained
    /// below --under, trained above --trained, otherwise unclear.
    #[arg(long, default_value_t = Thresholds::default().strong)]
    pub strong: f32,
    #[arg(long, default_value_t = Thresholds::default().under)]
    pub under: f32,
    #[arg(long, default_value_t = Thresholds::default().trained)]
    pub trained: f32,
    /// Keep running a token's remaining prompts after its verdict is settled (trained).
    #[arg(long)]
    pub no_early_stop: bool,
    /// Skip the control tokens: by default a run first verifies the five most common
    /// tokens of a plain English sentence and refuses to give verdicts when most of them
    /// come out under-trained (broken weights, a mismatched config or tokenizer).
    #[arg(long)]
    pub no_controls: bool,
    /// Ablations for benchmarks: no KV cache across the greedy steps / no shared prefix.
    #[arg(long, hide = true)]
    pub no_kv_cache: bool,
    #[arg(long, hide = true)]
    pub no_prefix_cache: bool,
}

impl ScoringFlags {
    /// The checks that come before any other flag's (so errors keep their order).
    fn check(&self) -> Result<()> {
        let t = Thresholds {
            strong: self.strong,
            under: self.under,
            trained: self.trained,
        };
        verify::check_scoring(self.batch_size, &t)
    }

    /// Fill the scoring part of `s`: speed-ups, early stop, thresholds and templates.
    fn apply(&self, s: &mut VerifySettings) -> Result<()> {
        let published = self.batch_size == 1;
        s.scoring = if published {
            ScoreOptions::published()
        } else {
            ScoreOptions {
                batch_size: self.batch_size,
                kv_cache: !self.no_kv_cache,
                prefix_cache: !self.no_prefix_cache && !self.no_kv_cache,
                steps: 3,
            }
        };
        s.early_stop = !published && !self.no_early_stop;
        s.controls = !self.no_controls;
        s.thresholds = Thresholds {
            strong: self.strong,
            under: self.under,
            trained: self.trained,
        };
        if let Some(names) = &self.prompts {
            s.templates = names
                .iter()
                .map(|n| {
                    prompts::TEMPLATES
                        .iter()
                        .find(|t| t.name == n)
                        .copied()
                        .ok_or_else(|| anyhow::anyhow!("unknown prompt '{n}'"))
                })
                .collect::<Result<_>>()?;
        }
        Ok(())
    }
}

/// `--gguf-weights` values ([`GgufWeights`]).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GgufWeightsArg {
    Auto,
    Quantized,
    F32,
}

/// Everything about running a model, shared by `verify`, `glitch`, `pause`, `generate` and
/// `eval`: its tokenizer, the device and dtype, scoring, and where the passes run.
#[derive(Debug, Args)]
pub struct ModelFlags {
    #[command(flatten)]
    pub tok: ModelTokenizerFlags,
    /// Where to run the forward passes: cpu, cuda or cuda:N (needs a `--features cuda`
    /// build).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
    /// Compute dtype: f32, f16 or bf16. Default: f32 on CPU, the checkpoint's on CUDA.
    #[arg(long, value_name = "DTYPE")]
    pub dtype: Option<String>,
    /// A GGUF model's weights in process: `f32` dequantizes them once at load (fast
    /// batched f32 matrix products; 4 bytes per weight; `llama` files), `quantized` keeps
    /// them as stored (candle's quantized models; every supported architecture), `auto`
    /// takes f32 on the CPU when the f32 weights fit in half the available memory.
    #[arg(long, value_enum, default_value = "auto", value_name = "HOW")]
    pub gguf_weights: GgufWeightsArg,
    #[command(flatten)]
    pub scoring: ScoringFlags,
    #[command(flatten)]
    pub backend: BackendFlags,
}

impl ModelFlags {
    /// Resolve into the library's settings for `model` and the tokens `ids`.
    pub fn settings(&self, model: PathBuf, ids: IdSource) -> Result<VerifySettings> {
        self.scoring.check()?;
        let mut s = VerifySettings::new(model, ids);
        s.tokenizer = self.tok.tokenizer.clone();
        s.load = self.tok.load_options();
        s.device = model::parse_device(&self.device)?;
        s.backend = self.backend.resolve()?;
        s.dtype = self.dtype.as_deref().map(model::parse_dtype).transpose()?;
        s.gguf_weights = match self.gguf_weights {
            GgufWeightsArg::Auto => GgufWeights::Auto,
            GgufWeightsArg::Quantized => GgufWeights::Quantized,
            GgufWeightsArg::F32 => GgufWeights::F32,
        };
        self.scoring.apply(&mut s)?;
        Ok(s)
    }
}
