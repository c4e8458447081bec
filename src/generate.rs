//! Text generation with the entropy-aware sampler and pause-token insertion, one token at
//! a time with the KV cache. Used by `generate` (streamed) and `eval` (many problems).

use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};

use crate::model::{Lm, LoadedModel, Runtime};
use crate::openai::Client;
use crate::sampler::{Choice, Sampler};

/// Where the next-token logits come from. (One per generation; a Box would buy nothing.)
#[allow(clippy::large_enum_variant)]
enum Source<'a> {
    Local {
        lm: Lm,
        dev: &'a Device,
        pos: usize,
    },
    /// A served model: one request per token with the whole context as ids. Only the top
    /// log-probabilities come back, so the logits are those and −∞ elsewhere: the sampler
    /// sees the distribution cut to the top k and renormalized (docs/sampler.md).
    Remote {
        client: &'a Client,
        ctx: Vec<u32>,
        rows: usize,
    },
}

impl Source<'_> {
    fn start(&mut self, prompt: &[u32]) -> Result<Vec<f32>> {
        match self {
            Source::Local { lm, dev, pos } => {
                lm.reset(true)?;
                *pos = prompt.len();
                let t = Tensor::from_vec(prompt.to_vec(), (1, prompt.len()), dev)?;
                Ok(lm.forward(&t, 0)?.squeeze(0)?.to_vec1()?)
            }
            Source::Remote { client, ctx, rows } => {
                *ctx = prompt.to_vec();
                remote_logits(client, ctx, *rows)
            }
        }
    }

    fn push(&mut self, id: u32) -> Result<Vec<f32>> {
        match self {
            Source::Local { lm, dev, pos } => {
                let t = Tensor::from_vec(vec![id], (1, 1), dev)?;
                let l = lm.forward(&t, *pos)?.squeeze(0)?.to_vec1()?;
                *pos += 1;
                Ok(l)
            }
            Source::Remote { client, ctx, rows } => {
                ctx.push(id);
                remote_logits(client, ctx, *rows)
            }
        }
    }
}

/// The engine's top log-probabilities as logits, −∞ for every other id.
fn remote_logits(client: &Client, ctx: &[u32], rows: usize) -> Result<Vec<f32>> {
    let mut logits = vec![f32::NEG_INFINITY; rows];
    let mut any = false;
    for (i, lp) in client.next_token_logprobs(ctx)? {
        if let Some(slot) = logits.get_mut(i as usize) {
            *slot = lp as f32;
            any = true;
        }
    }
    if !any {
        bail!(
            "{}: the engine's log-probabilities name no id of the model's {rows}",
            client.endpoint.url
        );
    }
    Ok(logits)
}

/// One step of the trace: what the sampler saw and chose.
#[derive(Debug, Clone)]
pub struct TraceStep {
    pub step: usize,
    pub id: u32,
    pub entropy: f32,
    pub varentropy: f32,
    pub state: &'static str,
    pub pause: bool,
}

/// Why generation ended, for the summary line and the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Eos,
    MaxTokens,
    ContextFull,
    StopText,
}

impl Stop {
    /// The name in CSV output and the summary line.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Eos => "eos",
            Stop::MaxTokens => "max_tokens",
            Stop::ContextFull => "context_full",
            Stop::StopText => "stop_text",
        }
    }
}

/// What came out, with one trace step per sampling step (pauses included).
#[derive(Debug, Clone)]
pub struct Generation {
    /// Generated token ids, pause tokens left out.
    pub ids: Vec<u32>,
    pub text: String,
    pub trace: Vec<TraceStep>,
    pub pauses: usize,
    pub stop: Stop,
    pub seconds: f64,
}

/// Generated tokens (pauses not counted) unless told otherwise: enough to see how a
/// sampler behaves without waiting long on a CPU.
pub const DEFAULT_MAX_TOKENS: usize = 64;

/// What to generate and when to stop.
pub struct GenOptions<'a> {
    pub max_tokens: usize,
    pub pause_token: Option<u32>,
    /// Stop when the generated text contains one of these.
    pub stop_texts: &'a [&'a str],
    /// Stop at these ids too (a chat template's end of turn), besides the model's
    /// end-of-sequence ids.
    pub stop_ids: &'a [u32],
}

/// Prompt tokens decoded before the generated ones ([`generate`]).
const CONTEXT_TOKENS: usize = 4;

/// Generate after `prompt` (already tokenized, BOS included if wanted). `on_text` gets
/// each new piece of decoded text as soon as it is complete UTF-8.
pub fn generate(
    v: &LoadedModel,
    prompt: &[u32],
    sampler: &mut Sampler,
    opts: &GenOptions,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation> {
    let start = Instant::now();
    let max_pos = v.info.max_positions;
    let eos = v.vocab.eos_id;
    let mut source = match &v.runtime {
        Runtime::Local(lm) => Source::Local {
            lm: lm.fork(),
            dev: &v.info.device,
            pos: 0,
        },
        Runtime::Remote(client) => Source::Remote {
            client,
            ctx: Vec::new(),
            rows: v.info.vocab_size,
        },
    };
    let mut ids = Vec::new();
    let mut trace = Vec::new();
    let mut pauses = 0;
    let mut shown = 0usize;
    let mut text = String::new();
    let mut pos = prompt.len();
    // Decoded after the prompt's last tokens, so a first token that begins with a space
    // keeps it (SentencePiece drops the space of a sequence's first piece).
    let context = &prompt[prompt.len().saturating_sub(CONTEXT_TOKENS)..];
    let base = v.vocab.decode(context).unwrap_or_default();
    let decode_new = |ids: &[u32]| -> String {
        let mut all = context.to_vec();
        all.extend_from_slice(ids);
        match v.vocab.decode(&all) {
            Ok(full) if full.starts_with(&base) => full[base.len()..].to_string(),
            _ => v.vocab.decode(ids).unwrap_or_default(),
        }
    };
    if opts.max_tokens == 0 {
        return Ok(Generation {
            ids,
            text,
            trace,
            pauses,
            stop: Stop::MaxTokens,
            seconds: 0.0,
        });
    }
    if pos >= max_pos {
        return Ok(Generation {
            ids,
            text,
            trace,
            pauses,
            stop: Stop::ContextFull,
            seconds: 0.0,
        });
    }
    let mut logits = source.start(prompt)?;
    let stop = loop {
        let s = sampler.step(&logits, opts.pause_token);
        let id = s.choice.id();
        let pause = s.choice.is_pause();
        trace.push(TraceStep {
            step: trace.len(),
            id,
            entropy: s.entropy,
            varentropy: s.varentropy,
            state: s.state.as_str(),
            pause,
        });
        if let Choice::Token(t) = s.choice {
            if Some(t) == eos || v.info.eos_ids.contains(&t) || opts.stop_ids.contains(&t) {
                break Stop::Eos;
            }
            ids.push(t);
            let full = decode_new(&ids);
            if !full.ends_with('\u{FFFD}') && full.len() > shown && full.is_char_boundary(shown) {
                on_text(&full[shown..]);
                shown = full.len();
            }
            text = full;
            if opts.stop_texts.iter().any(|st| text.contains(st)) {
                break Stop::StopText;
            }
            if ids.len() >= opts.max_tokens {
                break Stop::MaxTokens;
            }
        } else {
            pauses += 1;
        }
        if pos + 1 > max_pos {
            break Stop::ContextFull;
        }
        logits = source.push(id)?;
        pos += 1;
    };
    if text.len() > shown && text.is_char_boundary(shown) {
        on_text(&text[shown..]);
    }
    Ok(Generation {
        ids,
        text,
        trace,
        pauses,
        stop,
        seconds: start.elapsed().as_secs_f64(),
    })
}
