//! `--backend openai`: run the forward passes on a serving engine instead of in-process.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use tokenaudit::model::Backend;
use tokenaudit::openai::Endpoint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// candle in this process (CPU, or CUDA in a `--features cuda` build).
    InProcess,
    /// A serving engine's OpenAI-compatible completions API (vLLM, llama.cpp's server,
    /// TGI): for models too large for one machine.
    Openai,
}

/// Flags of the serving-engine backend.
#[derive(Debug, Args)]
pub struct BackendArgs {
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
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    /// Seconds one request may take before it is retried.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub timeout: f64,
    /// Retries of a request after 429, 5xx, a timeout or a refused connection (with
    /// exponential backoff).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub retries: u32,
    /// Log-probabilities asked per step: more makes more scores exact. When the engine
    /// refuses the number, 20, 5 and 1 are tried (vLLM allows 20 unless started with
    /// --max-logprobs; llama.cpp has no small limit).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub top_logprobs: usize,
}

impl BackendArgs {
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
