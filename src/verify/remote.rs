//! Scoring candidates on a served model (`--backend openai`).
//!
//! Each (candidate, prompt) is one greedy completion of `steps` tokens with the top
//! log-probabilities per step. The candidate's probability per step is exact when it is
//! among them and bounded from above otherwise (see [`crate::openai::bound`]), so a
//! token's score is an interval and its verdict is decided only when the interval is.
//! When the engine stops at an end-of-sequence token (one of the model's `eos_ids`, named
//! by id or by its text) the prompt is done, as Hugging Face `generate` stops there and the
//! in-process path too. When it stops for another reason (a stop string, or an engine
//! that does not report the end-of-sequence step), the steps left are asked for with the
//! generated ids appended; steps never seen leave the score unknown.

use std::collections::HashMap;

use anyhow::Result;

use super::prompts::BuiltPrompt;
use super::{Row, Thresholds, Verdict};
use crate::audit::AuditReport;
use crate::openai::bound::{self, Bound, Candidate};
use crate::openai::Client;

pub struct Scorer<'a> {
    client: &'a Client,
    audit: &'a AuditReport,
    prompts: &'a [BuiltPrompt],
    steps: usize,
    stop_above: Option<f32>,
    /// Greedy decoding stops at these ids.
    eos: Vec<u32>,
    /// How many ids share each decoded text (for engines that name tokens by text).
    text_counts: HashMap<&'a str, u32>,
}

impl<'a> Scorer<'a> {
    pub fn new(
        client: &'a Client,
        audit: &'a AuditReport,
        prompts: &'a [BuiltPrompt],
        steps: usize,
        stop_above: Option<f32>,
    ) -> Scorer<'a> {
        let mut text_counts = HashMap::new();
        for t in &audit.tokens {
            *text_counts.entry(t.decoded.as_str()).or_insert(0) += 1;
        }
        Scorer {
            client,
            audit,
            prompts,
            steps,
            stop_above,
            eos: Vec::new(),
            text_counts,
        }
    }

    /// The prompt's steps end at the step that generates one of `eos`.
    pub fn with_eos(mut self, eos: &[u32]) -> Self {
        self.eos = eos.to_vec();
        self
    }

    /// The step chose an end-of-sequence token (by id, or by text when the engine names
    /// tokens by text and the text is an end-of-sequence token's).
    fn is_eos(&self, s: &crate::openai::logprobs::Step) -> bool {
        match &s.chosen {
            crate::openai::logprobs::TokenRef::Id(i) => self.eos.contains(i),
            crate::openai::logprobs::TokenRef::Text(t) => self.eos.iter().any(|&e| {
                self.audit
                    .token(e)
                    .is_some_and(|tok| !tok.decoded.is_empty() && tok.decoded == *t)
            }),
        }
    }

    /// The bound on the candidate's score for each prompt (`None`: skipped because its
    /// verdict was already `trained`).
    pub fn score(&self, id: u32) -> Result<Vec<Option<Bound>>> {
        let text = self.audit.token(id).map(|t| t.decoded.as_str());
        let cand = Candidate {
            id,
            text,
            text_unique: text.is_some_and(|t| self.text_counts.get(t) == Some(&1)),
        };
        let mut out = vec![None; self.prompts.len()];
        let mut best = Bound::ZERO;
        // The in-process order, so both paths skip the same prompts.
        for k in super::run_order(self.prompts) {
            if self.stop_above.is_some_and(|t| best.lo > t) {
                break;
            }
            let b = self.score_prompt(self.prompts[k].with(id), cand)?;
            best = best.max(b);
            out[k] = Some(b);
        }
        Ok(out)
    }

    fn score_prompt(&self, mut ids: Vec<u32>, cand: Candidate) -> Result<Bound> {
        let top = self.client.endpoint.top_logprobs;
        let mut b = Bound::ZERO;
        let mut got = 0;
        'steps: while got < self.steps {
            let c = self.client.complete(&ids, self.steps - got, top)?;
            if c.steps.is_empty() {
                break;
            }
            for s in &c.steps {
                b = b.max(bound::at_step(s, cand));
                got += 1;
                if self.is_eos(s) {
                    // Hugging Face `generate` stops here: no later step counts.
                    return Ok(b);
                }
                if got == self.steps {
                    break 'steps;
                }
            }
            if !c.stopped {
                break;
            }
            // Continue after the end-of-sequence token, when the engine says which it was.
            match c.chosen_ids() {
                Some(n) => ids.extend(n),
                None => break,
            }
        }
        if got < self.steps {
            // Steps never seen could have given the candidate any probability.
            b = b.max(Bound::UNKNOWN);
        }
        Ok(b)
    }
}

/// The row of one token: per-prompt upper ends, the score (exact or an upper bound) and
/// the verdict the interval decides.
pub fn row(id: u32, decoded: String, ps: &[Option<Bound>], t: &Thresholds) -> Row {
    let best = ps.iter().flatten().fold(Bound::ZERO, |a, &b| a.max(b));
    Row {
        id,
        decoded,
        prompt_scores: ps.iter().map(|b| b.map(|b| b.hi)).collect(),
        score: best.hi,
        bound: !best.is_exact(),
        verdict: Verdict::of_bound(best, t),
    }
}
