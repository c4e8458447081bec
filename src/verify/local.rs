//! Scoring candidates: the probability the model gives the candidate id over 3 greedy
//! steps, for one prompt.
//!
//! The fast path runs many candidates per forward pass (all prompts of a template have
//! the same length), computes the shared prefix before the first slot once per batch size
//! and forks its KV cache, and keeps the KV cache across the greedy steps. The published
//! path (`batch_size = 1`, no caches) runs one prompt per pass and three full passes.
//!
//! A sequence whose greedy token at some step is an end-of-sequence id stops there, as
//! Hugging Face `generate` stops: that step's probability counts, later steps do not
//! (the other sequences of a batch go on).

use std::collections::HashMap;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, D};

use super::prompts::BuiltPrompt;
use crate::model::Lm;

/// Which speed-ups are on. `published()` turns them all off.
#[derive(Debug, Clone, Copy)]
pub struct ScoreOptions {
    pub batch_size: usize,
    pub kv_cache: bool,
    pub prefix_cache: bool,
    pub steps: usize,
}

impl ScoreOptions {
    pub fn published() -> Self {
        ScoreOptions {
            batch_size: 1,
            kv_cache: false,
            prefix_cache: false,
            steps: 3,
        }
    }
}

/// Scores one template for batches of candidates, keeping forked prefix caches.
pub struct Scorer<'a> {
    base: &'a Lm,
    device: Device,
    prompt: &'a BuiltPrompt,
    opts: ScoreOptions,
    /// Prefix state per batch size.
    prefixes: HashMap<usize, Lm>,
    /// Greedy decoding stops at these ids ([`crate::model::ModelInfo::eos_ids`]).
    eos: Vec<u32>,
    /// Sequence positions forwarded so far (rows × length of every pass).
    pub positions: u64,
}

impl<'a> Scorer<'a> {
    pub fn new(base: &'a Lm, device: &Device, prompt: &'a BuiltPrompt, opts: ScoreOptions) -> Self {
        Scorer {
            base,
            device: device.clone(),
            prompt,
            opts,
            prefixes: HashMap::new(),
            eos: Vec::new(),
            positions: 0,
        }
    }

    /// Stop a sequence's greedy steps after the step that generates one of `eos`.
    pub fn with_eos(mut self, eos: &[u32]) -> Self {
        self.eos = eos.to_vec();
        self
    }

    /// Max probability of each candidate over the greedy steps, with `stop_above`: steps
    /// stop early once every candidate of the batch is already above it (its verdict is
    /// settled). Candidates are scored in chunks of `batch_size`.
    pub fn score(&mut self, candidates: &[u32], stop_above: Option<f32>) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(candidates.len());
        let max = self.opts.batch_size.max(1);
        for chunk in candidates.chunks(max) {
            // Pad to a multiple of 8 so only a few batch sizes (and prefix caches) exist,
            // whatever early stopping leaves of a batch, while wasting little compute.
            let b = chunk.len().div_ceil(8).saturating_mul(8).min(max);
            let mut padded = chunk.to_vec();
            padded.resize(b, chunk[chunk.len() - 1]);
            let s = if self.opts.kv_cache {
                self.score_cached(&padded, stop_above)?
            } else {
                self.score_uncached(&padded, stop_above)?
            };
            out.extend_from_slice(&s[..chunk.len()]);
        }
        Ok(out)
    }

    fn prefix_model(&mut self, b: usize) -> Result<Lm> {
        if let Some(m) = self.prefixes.get(&b) {
            return Ok(m.fork());
        }
        let mut m = self.base.fork();
        m.reset(true)?;
        let p = self.prompt.prefix_len();
        if p > 0 {
            let row = &self.prompt.ids[..p];
            let ids: Vec<u32> = (0..b).flat_map(|_| row.iter().copied()).collect();
            let t = Tensor::from_vec(ids, (b, p), &self.device)?;
            m.forward(&t, 0)?;
            self.positions += (b * p) as u64;
        }
        self.prefixes.insert(b, m.fork());
        Ok(m)
    }

    fn score_cached(&mut self, cands: &[u32], stop_above: Option<f32>) -> Result<Vec<f32>> {
        let b = cands.len();
        let (mut m, start) = if self.opts.prefix_cache {
            (self.prefix_model(b)?, self.prompt.prefix_len())
        } else {
            let mut m = self.base.fork();
            m.reset(true)?;
            (m, 0)
        };
        let len = self.prompt.ids.len();
        let rows: Vec<u32> = cands
            .iter()
            .flat_map(|&c| self.prompt.with(c)[start..].to_vec())
            .collect();
        let mut input = Tensor::from_vec(rows, (b, len - start), &self.device)?;
        let cand_t = Tensor::from_vec(cands.to_vec(), (b, 1), &self.device)?;
        let mut best = vec![0f32; b];
        let mut alive = vec![true; b];
        let mut pos = start;
        for step in 0..self.opts.steps {
            let logits = m.forward(&input, pos)?;
            pos += input.dim(1)?;
            self.positions += (b * input.dim(1)?) as u64;
            let next = self.update(&logits, &cand_t, &mut best, &mut alive)?;
            if step + 1 == self.opts.steps || settled(&best, &alive, stop_above) {
                break;
            }
            input = Tensor::from_vec(next, (b, 1), &self.device)?;
        }
        Ok(best)
    }

    /// The published way: every step is a full forward pass over the whole sequence.
    fn score_uncached(&mut self, cands: &[u32], stop_above: Option<f32>) -> Result<Vec<f32>> {
        let b = cands.len();
        let mut seqs: Vec<Vec<u32>> = cands.iter().map(|&c| self.prompt.with(c)).collect();
        let cand_t = Tensor::from_vec(cands.to_vec(), (b, 1), &self.device)?;
        let mut best = vec![0f32; b];
        let mut alive = vec![true; b];
        let mut m = self.base.fork();
        for step in 0..self.opts.steps {
            m.reset(false)?;
            let len = seqs[0].len();
            let flat: Vec<u32> = seqs.iter().flatten().copied().collect();
            let logits = m.forward(&Tensor::from_vec(flat, (b, len), &self.device)?, 0)?;
            self.positions += (b * len) as u64;
            let next = self.update(&logits, &cand_t, &mut best, &mut alive)?;
            if step + 1 == self.opts.steps || settled(&best, &alive, stop_above) {
                break;
            }
            for (s, n) in seqs.iter_mut().zip(next) {
                s.push(n);
            }
        }
        Ok(best)
    }

    /// Record the probability of each candidate whose sequence is still `alive` in
    /// `best`; end the sequences whose greedy next id is end-of-sequence; return the
    /// greedy next ids (an ended sequence's rows still run, their results unused).
    fn update(
        &self,
        logits: &Tensor,
        cand: &Tensor,
        best: &mut [f32],
        alive: &mut [bool],
    ) -> Result<Vec<u32>> {
        let probs = candle_nn::ops::softmax_last_dim(&logits.to_dtype(DType::F32)?)?;
        let p: Vec<f32> = probs.gather(cand, 1)?.squeeze(1)?.to_vec1()?;
        let next: Vec<u32> = logits.argmax(D::Minus1)?.to_dtype(DType::U32)?.to_vec1()?;
        for ((b, v), (a, n)) in best.iter_mut().zip(p).zip(alive.iter_mut().zip(&next)) {
            if *a {
                *b = b.max(v);
                *a = !self.eos.contains(n);
            }
        }
        Ok(next)
    }
}

/// No further step can change a score: every sequence has ended or (with `stop_above`)
/// every candidate is already above it.
fn settled(best: &[f32], alive: &[bool], stop_above: Option<f32>) -> bool {
    alive.iter().all(|a| !a)
        || stop_above.is_some_and(|t| best.iter().zip(alive).all(|(&b, &a)| !a || b > t))
}
