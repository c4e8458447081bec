//! The HTTP side: one blocking client shared by worker threads, with timeouts and retries.
//!
//! Engines under load answer 429 or 503, restart, or stall; a long verification run must
//! ride through that. Requests that fail that way are retried with exponential backoff
//! (honouring `Retry-After`); an answer that is not what the API promises (malformed JSON,
//! no logprobs) is an error at once, since asking again would get the same.

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use super::logprobs::{self, Choice, TokenRef};

/// Requests in flight at once unless told otherwise: enough to keep one engine's batch
/// full without queueing so much that requests time out behind each other.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Seconds one request may take (connection to last byte) before it is retried: a long
/// prompt on a loaded engine can take tens of seconds.
pub const DEFAULT_TIMEOUT_SECS: f64 = 60.0;
/// Further tries after a failed request; with the backoff this rides out an engine restart.
pub const DEFAULT_RETRIES: u32 = 4;
/// Log-probabilities asked per step: more makes more scores exact, and the first request
/// lowers it to what the engine allows.
pub const DEFAULT_TOP_LOGPROBS: usize = 100;

/// Where the engine is and how to talk to it. (`Debug` leaves the API key out, so that
/// settings printed for a bug report do not carry it.)
#[derive(Clone)]
pub struct Endpoint {
    /// Base URL of the API, e.g. `http://127.0.0.1:8080/v1`.
    pub url: String,
    /// Sent as a Bearer token.
    pub api_key: Option<String>,
    /// Model name sent with each request; asked from `/models` when not given.
    pub model: Option<String>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Limit for one request, connection to last byte.
    pub timeout: Duration,
    /// Further tries after a failed one (429, 5xx, timeout, connection refused).
    pub retries: u32,
    /// Log-probabilities asked per step; lowered by the first request to what the engine
    /// allows (see `vocab_check`).
    pub top_logprobs: usize,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .field("model", &self.model)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("top_logprobs", &self.top_logprobs)
            .finish()
    }
}

impl Endpoint {
    /// An endpoint at `url` (a trailing `/` is dropped) with the `DEFAULT_*` limits.
    pub fn new(url: &str) -> Endpoint {
        Endpoint {
            url: url.trim_end_matches('/').to_string(),
            api_key: None,
            model: None,
            concurrency: DEFAULT_CONCURRENCY,
            timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS),
            retries: DEFAULT_RETRIES,
            top_logprobs: DEFAULT_TOP_LOGPROBS,
        }
    }
}

/// One HTTP agent shared by the worker threads (its connections are reused), with the
/// endpoint's retry policy.
pub struct Client {
    agent: ureq::Agent,
    pub endpoint: Endpoint,
    /// First wait before a retry; doubled each try, at most 8 s.
    backoff_base: Duration,
}

/// Why a try failed, and whether another try may help.
enum Failure {
    /// Worth another try, after at least the wait the engine asked for (`Retry-After`).
    Retry(String, Option<Duration>),
    Fatal(anyhow::Error),
}

impl Client {
    /// Check the endpoint's settings and build the agent; no request is sent yet.
    pub fn new(endpoint: Endpoint) -> Result<Client> {
        let u = &endpoint.url;
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            bail!("--url {u:?}: expected http://HOST:PORT/v1 or https://…");
        }
        if endpoint.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(endpoint.timeout))
            .http_status_as_error(false)
            .max_idle_connections_per_host(endpoint.concurrency.max(1))
            .build()
            .into();
        Ok(Client {
            agent,
            endpoint,
            backoff_base: Duration::from_millis(250),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.endpoint.url, path)
    }

    /// `GET /models`: the served model's name, and what the engine says about it.
    /// `Null` when the engine has no such route (it is optional for our purposes).
    pub fn models(&self) -> Result<Value> {
        self.request(None, "models")
    }

    /// Fill in the model name from `/models` when none was given (vLLM requires it).
    pub fn resolve_model(&mut self) -> Result<Value> {
        let models = self.models()?;
        if self.endpoint.model.is_none() {
            self.endpoint.model = models
                .get("data")
                .and_then(|d| d.get(0))
                .and_then(|m| m.get("id"))
                .and_then(|i| i.as_str())
                .map(String::from);
        }
        Ok(models)
    }

    /// Greedy completion of a token-id prompt with the top log-probabilities per step.
    pub fn complete(&self, prompt: &[u32], max_tokens: usize, logprobs: usize) -> Result<Choice> {
        let mut body = json!({
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "logprobs": logprobs,
            "n": 1,
            "stream": false,
            // vLLM: name tokens by id in the logprobs (ignored by engines that do not know it).
            "return_tokens_as_token_ids": true,
        });
        if let Some(m) = &self.endpoint.model {
            body["model"] = json!(m);
        }
        let v = self.request(Some(&body), "completions")?;
        logprobs::parse_completion(&v)
            .with_context(|| format!("{}: unexpected completions answer", self.url("completions")))
    }

    /// The engine's top next-token log-probabilities after `prompt`, by token id.
    /// Sampling and the pause ranking need ids; an engine that names tokens only by text
    /// is an error.
    pub fn next_token_logprobs(&self, prompt: &[u32]) -> Result<Vec<(u32, f64)>> {
        let c = self.complete(prompt, 1, self.endpoint.top_logprobs)?;
        let top: Vec<(u32, f64)> = c
            .steps
            .first()
            .map(|s| {
                s.top
                    .iter()
                    .filter_map(|(t, lp)| match t {
                        TokenRef::Id(i) => Some((*i, *lp)),
                        TokenRef::Text(_) => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if top.is_empty() {
            bail!(
                "{}: the engine returned no log-probabilities by token id; sampling and the \
                 pause ranking need them (llama.cpp's server, or vLLM's \
                 return_tokens_as_token_ids)",
                self.endpoint.url
            );
        }
        Ok(top)
    }

    fn request(&self, body: Option<&Value>, path: &str) -> Result<Value> {
        let url = self.url(path);
        let mut last = String::new();
        let mut asked = None;
        for attempt in 0..=self.endpoint.retries {
            if attempt > 0 {
                let backoff = self.backoff_base * 2u32.saturating_pow(attempt - 1);
                let wait = backoff
                    .min(Duration::from_secs(8))
                    .max(asked.unwrap_or_default());
                std::thread::sleep(wait);
            }
            match self.try_once(&url, body) {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(why, after)) => (last, asked) = (why, after),
            }
        }
        let tries = match self.endpoint.retries + 1 {
            1 => "1 try".to_string(),
            n => format!("{n} tries"),
        };
        bail!("{url}: {last} ({tries}; is the engine running?)")
    }

    fn try_once(&self, url: &str, body: Option<&Value>) -> std::result::Result<Value, Failure> {
        let res = match body {
            Some(b) => {
                let mut r = self
                    .agent
                    .post(url)
                    .header("Content-Type", "application/json");
                if let Some(k) = &self.endpoint.api_key {
                    r = r.header("Authorization", format!("Bearer {k}"));
                }
                r.send(b.to_string())
            }
            None => {
                let mut r = self.agent.get(url);
                if let Some(k) = &self.endpoint.api_key {
                    r = r.header("Authorization", format!("Bearer {k}"));
                }
                r.call()
            }
        };
        let mut resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Err(Failure::Retry(
                    format!("no answer within {} s", self.endpoint.timeout.as_secs_f64()),
                    None,
                ))
            }
            Err(e @ (ureq::Error::Io(_) | ureq::Error::ConnectionFailed)) => {
                return Err(Failure::Retry(format!("cannot connect: {e}"), None))
            }
            Err(ureq::Error::HostNotFound) => {
                return Err(Failure::Fatal(anyhow!("{url}: host not found")))
            }
            Err(e) => return Err(Failure::Retry(format!("request failed: {e}"), None)),
        };
        let status = resp.status().as_u16();
        // Seconds only (the HTTP-date form is rare from engines); at most a minute.
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(60.0)));
        let mut text = String::new();
        let read = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .reader()
            .read_to_string(&mut text);
        if let Err(e) = read {
            return Err(Failure::Retry(format!("answer cut off: {e}"), None));
        }
        if status == 429 || status >= 500 {
            let snippet: String = text.chars().take(200).collect();
            return Err(Failure::Retry(
                format!("HTTP {status}: {snippet}"),
                retry_after,
            ));
        }
        if body.is_none() && (status == 404 || status == 405) {
            return Ok(Value::Null);
        }
        if status != 200 {
            let snippet: String = text.chars().take(300).collect();
            return Err(Failure::Fatal(anyhow!("{url}: HTTP {status}: {snippet}")));
        }
        serde_json::from_str::<Value>(&text).map_err(|e| {
            let snippet: String = text.chars().take(200).collect();
            Failure::Fatal(anyhow!(
                "{url}: the engine's answer is not JSON ({e}): {snippet:?}"
            ))
        })
    }
}
