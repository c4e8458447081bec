//! `tokenaudit generate` and `tokenaudit eval`: the entropy-aware sampler on a real model.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::flags::ModelFlags;
use tokenaudit::chat::{ChatPrompt, ChatTemplate};
use tokenaudit::eval::{self, data::Task, EvalSettings, DEFAULT_PROBLEMS};
use tokenaudit::generate::{self, GenOptions, DEFAULT_MAX_TOKENS};
use tokenaudit::model::LoadedModel;
use tokenaudit::output;
use tokenaudit::pause::{self, PauseSettings};
use tokenaudit::sampler::{self, Sampler, SamplerConfig, SamplerKind};
use tokenaudit::verify::{IdSource, VerifySettings};

/// Sampler flags, named like llama.cpp's.
#[derive(Debug, Args)]
pub struct SamplerFlags {
    /// Temperature (published entropix default 0.666; 0 = greedy).
    #[arg(long)]
    pub temp: Option<f32>,
    /// Keep the K most probable tokens (0 = off).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens with this much probability (1 = off).
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Keep tokens with p ≥ min-p × max p (0 = off).
    #[arg(long)]
    pub min_p: Option<f32>,
    /// Random seed; the same seed gives the same tokens.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Pause token for the entropix sampler: auto (the top of `tokenaudit pause`), an id,
    /// or none.
    #[arg(long, default_value = "none", value_name = "auto|ID|none")]
    pub pause_token: String,
    /// At most this many generated tokens (pauses not counted).
    #[arg(long, default_value_t = DEFAULT_MAX_TOKENS)]
    pub max_tokens: usize,
}

impl SamplerFlags {
    pub fn config(&self, kind: SamplerKind) -> Result<SamplerConfig> {
        let mut c = SamplerConfig::new(kind);
        if let Some(t) = self.temp {
            c.temp = t;
        }
        if let Some(k) = self.top_k {
            c.top_k = k;
        }
        if let Some(p) = self.top_p {
            c.top_p = p;
        }
        if let Some(m) = self.min_p {
            c.min_p = m;
        }
        if let Some(s) = self.seed {
            c.seed = s;
        }
        c.validate().map_err(|e| anyhow::anyhow!(e))?;
        super::warn(&sampler::warnings(&c));
        Ok(c)
    }

    /// Resolve `--pause-token` for a loaded model.
    pub fn pause_token(
        &self,
        v: &LoadedModel,
        s: &VerifySettings,
        kinds: &[SamplerKind],
    ) -> Result<Option<u32>> {
        let id = match self.pause_token.as_str() {
            "none" => None,
            "auto" => {
                let ps = PauseSettings {
                    verify: s.clone(),
                    contexts: None,
                    n_contexts: 16,
                    per_source: 8,
                };
                let r = pause::run_with(v, &ps)?;
                let best = r
                    .recommended()
                    .ok_or_else(|| anyhow::anyhow!("no pause-token candidate passed the checks"))?;
                eprintln!(
                    "tokenaudit: pause token {} {:?} (mean KL {:.4} over {} contexts)",
                    best.id, best.decoded, best.mean_kl, r.contexts
                );
                Some(best.id)
            }
            n => {
                let id: u32 = n.parse().map_err(|_| {
                    anyhow::anyhow!("--pause-token: expected auto, none or an id, got '{n}'")
                })?;
                sampler::check_pause_token(id, v.info.vocab_size)
                    .map_err(|e| anyhow::anyhow!(e))?;
                Some(id)
            }
        };
        if id.is_some() && !kinds.contains(&SamplerKind::Entropix) {
            eprintln!("tokenaudit: warning: only --sampler entropix inserts pause tokens");
        }
        Ok(id)
    }
}

/// How a prompt is put to the model: through its chat template by default.
#[derive(Debug, Args)]
pub struct ChatFlags {
    /// Give the prompt as plain text, even when the model has a chat template.
    #[arg(long, conflicts_with_all = ["chat_template", "system"])]
    pub no_chat: bool,
    /// Render prompts with this Jinja template instead of the model's own.
    #[arg(long, value_name = "FILE")]
    pub chat_template: Option<PathBuf>,
    /// A system message before the prompt (needs a chat template).
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
}

impl ChatFlags {
    /// The chat prompt to use: the model's template (a GGUF's, or the one beside the
    /// tokenizer), unless `--no-chat`; `None` for a model without one.
    pub fn resolve(&self, s: &VerifySettings, v: &LoadedModel) -> Result<Option<ChatPrompt>> {
        if self.no_chat {
            return Ok(None);
        }
        let template = match &self.chat_template {
            Some(f) => Some(ChatTemplate::from_file(f, &v.vocab)?),
            None => {
                let at = s.tokenizer.as_deref().unwrap_or(&s.model);
                match ChatTemplate::find(at, &v.vocab)? {
                    Some(t) => Some(t),
                    None if at != s.model.as_path() => ChatTemplate::find(&s.model, &v.vocab)?,
                    None => None,
                }
            }
        };
        match template {
            Some(template) => {
                eprintln!(
                    "tokenaudit: prompts go through the chat template of {} (--no-chat for plain text)",
                    template.origin
                );
                Ok(Some(ChatPrompt {
                    template,
                    system: self.system.clone(),
                }))
            }
            None if self.system.is_some() => bail!(
                "{}: --system needs a chat template, and the model has none (give one with \
                 --chat-template FILE)",
                s.model.display()
            ),
            None => Ok(None),
        }
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model directory (config.json + safetensors), or a .gguf file (run through candle's
    /// quantized models: llama, qwen2, qwen3, phi3, gemma3).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The prompt.
    #[arg(long, short = 'p')]
    pub prompt: String,
    /// greedy, temp, min-p, adaptive or entropix.
    #[arg(long, default_value = "entropix")]
    pub sampler: SamplerKind,
    /// Write one CSV row per step: entropy, varentropy, state, chosen id, pause or not.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    #[command(flatten)]
    pub sampling: SamplerFlags,
    #[command(flatten)]
    pub chat: ChatFlags,
    #[command(flatten)]
    pub model_flags: ModelFlags,
}

pub fn run_generate(a: GenerateArgs) -> Result<()> {
    super::check_outputs([a.trace.as_deref()])?;
    let cfg = a.sampling.config(a.sampler)?;
    let s = a
        .model_flags
        .settings(a.model.clone(), IdSource::Ids(vec![]))?;
    let v = LoadedModel::load(&s)?;
    super::warn(&v.warnings);
    let pause = a.sampling.pause_token(&v, &s, &[a.sampler])?;
    let chat = a.chat.resolve(&s, &v)?;
    let (shown, ids, end_of_turn) = match &chat {
        Some(c) => {
            let (text, ids) = c.ids(&v.vocab, &a.prompt)?;
            (text, ids, c.end_of_turn(&v.vocab))
        }
        None => {
            let mut ids = v.vocab.encode(&a.prompt).map_err(|e| anyhow::anyhow!(e))?;
            if let Some(b) = v.bos {
                ids.insert(0, b);
            }
            (a.prompt.clone(), ids, Vec::new())
        }
    };
    if ids.len() >= v.info.max_positions {
        bail!(
            "the prompt is {} tokens; the model's context is {}",
            ids.len(),
            v.info.max_positions
        );
    }
    let mut sampler = Sampler::new(cfg);
    let opts = GenOptions {
        max_tokens: a.sampling.max_tokens,
        pause_token: pause,
        stop_texts: &[],
        stop_ids: &end_of_turn,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write!(out, "{shown}")?;
    out.flush()?;
    let g = generate::generate(&v, &ids, &mut sampler, &opts, &mut |t| {
        let _ = write!(out, "{t}");
        let _ = out.flush();
    })?;
    writeln!(out)?;
    eprintln!(
        "tokenaudit: {} tokens, {} pauses, stopped by {}, {:.1} tokens/s",
        g.ids.len(),
        g.pauses,
        g.stop.name(),
        g.trace.len() as f64 / g.seconds.max(1e-9)
    );
    if let Some(p) = &a.trace {
        output::generate::write_trace(&v.vocab, &g, p)?;
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model directory (config.json + safetensors), or a .gguf file (run through candle's
    /// quantized models: llama, qwen2, qwen3, phi3, gemma3).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// gsm8k (question/answer with `#### N`) or arith (GPT-3 context/completion).
    #[arg(long)]
    pub task: Task,
    /// The problems (JSONL).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Number of problems (from the start of the file; 0 = all).
    #[arg(long, default_value_t = DEFAULT_PROBLEMS)]
    pub n: usize,
    /// Samplers to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "greedy,min-p,entropix")]
    pub sampler: Vec<SamplerKind>,
    /// Write every answer as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sampling: SamplerFlags,
    #[command(flatten)]
    pub chat: ChatFlags,
    #[command(flatten)]
    pub model_flags: ModelFlags,
}

pub fn run_eval(a: EvalArgs) -> Result<()> {
    let to_err = super::check_outputs([a.csv.as_deref()])?;
    let samplers = a
        .sampler
        .iter()
        .map(|&k| a.sampling.config(k))
        .collect::<Result<Vec<_>>>()?;
    let s = a
        .model_flags
        .settings(a.model.clone(), IdSource::Ids(vec![]))?;
    let v = LoadedModel::load(&s)?;
    super::warn(&v.warnings);
    let pause = a.sampling.pause_token(&v, &s, &a.sampler)?;
    let es = EvalSettings {
        task: a.task,
        data: a.data.clone(),
        n: a.n,
        samplers,
        max_tokens: a.sampling.max_tokens,
        pause_token: pause,
        chat: a.chat.resolve(&s, &v)?,
    };
    let r = eval::run(&v, &es)?;
    if let Some(p) = &a.csv {
        output::generate::write_answers(&r, p)?;
    }
    let mut out = super::summary_out(to_err);
    if a.json {
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({"task": format!("{:?}", a.task), "data": a.data.display().to_string(), "results": r.results}),
        )?;
        writeln!(out)?;
    } else {
        output::generate::write_eval_table(&r, &mut out)?;
        if let Some(p) = &a.csv {
            writeln!(out, "\nanswers written to {}", p.display())?;
        }
    }
    Ok(())
}
