//! `eval`: several samplers side by side on the same problems (GSM8K, GPT-3 arithmetic),
//! with accuracy and its 95% interval, generated tokens, pauses and speed — how a user
//! checks a claim like "entropy-aware sampling raised GSM8K from 32.5 to 39.7" on their
//! own model.

pub mod data;

use std::path::PathBuf;

use anyhow::Result;

use crate::generate::{self, GenOptions};
use crate::model::LoadedModel;
use crate::sampler::{Sampler, SamplerConfig};
use data::{Problem, Task};

/// Problems taken from the start of the data file unless told otherwise: enough to tell
/// samplers apart, few enough for a CPU run.
pub const DEFAULT_PROBLEMS: usize = 200;

/// Which problems, which samplers to compare on them, and how long each may generate.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    pub task: Task,
    pub data: PathBuf,
    pub n: usize,
    pub samplers: Vec<SamplerConfig>,
    pub max_tokens: usize,
    pub pause_token: Option<u32>,
    /// Put each problem to the model as the user's message of its chat template (the
    /// model then answers until its end of turn); `None`: the plain prompt text.
    pub chat: Option<crate::chat::ChatPrompt>,
}

/// One problem under one sampler.
#[derive(Debug, Clone)]
pub struct Answer {
    pub sampler: String,
    pub index: usize,
    pub gold: Option<f64>,
    pub gold_text: String,
    pub predicted: Option<f64>,
    pub correct: bool,
    pub tokens: usize,
    pub pauses: usize,
    pub stop: &'static str,
    pub output: String,
}

/// One sampler's score over the problems; the interval says whether a difference
/// between samplers is more than noise.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SamplerResult {
    pub sampler: String,
    pub problems: usize,
    /// Problems whose gold answer could not be parsed (left out of the accuracy).
    pub unparseable_gold: usize,
    /// Problems whose prompt alone fills the model's context (left out).
    pub too_long: usize,
    /// Answers with no number in them.
    pub no_answer: usize,
    pub correct: usize,
    pub accuracy: f64,
    pub ci95: (f64, f64),
    pub mean_tokens: f64,
    pub pauses: usize,
    pub tokens_per_s: f64,
}

/// Every sampler's result, and every answer (for the CSV).
pub struct EvalReport {
    pub results: Vec<SamplerResult>,
    pub answers: Vec<Answer>,
}

/// Where a completion of the plain prompt ends (the next few-shot question). An answer in
/// a chat turn ends at the end of the turn instead: an instruct model's reasoning runs
/// over several paragraphs.
fn stop_texts(task: Task, chat: bool) -> &'static [&'static str] {
    match (task, chat) {
        (_, true) => &[],
        (Task::Gsm8k, false) => &["\n\n", "Question:"],
        (Task::Arith, false) => &["\n", "Q:"],
    }
}

/// Run every sampler on the same problems with one loaded model, so that only the
/// sampler differs between the results.
pub fn run(v: &LoadedModel, s: &EvalSettings) -> Result<EvalReport> {
    let problems: Vec<Problem> = data::read(&s.data, s.task, s.n)?;
    let mut results = Vec::new();
    let mut answers = Vec::new();
    let bar =
        crate::util::progress::bar_always((problems.len() * s.samplers.len()) as u64, "problems");
    let end_of_turn = s
        .chat
        .as_ref()
        .map(|c| c.end_of_turn(&v.vocab))
        .unwrap_or_default();
    for cfg in &s.samplers {
        let name = cfg.kind.as_str().to_string();
        let mut sampler = Sampler::new(cfg.clone());
        let (mut correct, mut scored, mut no_answer, mut too_long, mut bad_gold) = (0, 0, 0, 0, 0);
        let (mut tokens, mut pauses, mut secs) = (0usize, 0usize, 0f64);
        for p in &problems {
            bar.inc(1);
            let Some(gold) = p.gold else {
                bad_gold += 1;
                continue;
            };
            let ids = match &s.chat {
                Some(c) => c.ids(&v.vocab, &p.prompt)?.1,
                None => {
                    let mut ids = v.vocab.encode(&p.prompt).map_err(|e| anyhow::anyhow!(e))?;
                    if let Some(b) = v.bos {
                        ids.insert(0, b);
                    }
                    ids
                }
            };
            if ids.len() + 4 > v.info.max_positions {
                too_long += 1;
                continue;
            }
            // Each problem gets its own seed, so results do not depend on the order run.
            sampler.reset_with_seed(cfg.seed.wrapping_add(p.index as u64));
            let opts = GenOptions {
                max_tokens: s.max_tokens,
                pause_token: s.pause_token,
                stop_texts: stop_texts(s.task, s.chat.is_some()),
                stop_ids: &end_of_turn,
            };
            let g = generate::generate(v, &ids, &mut sampler, &opts, &mut |_| {})?;
            let predicted = data::extract(s.task, &g.text);
            no_answer += predicted.is_none() as usize;
            let ok = predicted.is_some_and(|x| (x - gold).abs() < 1e-6);
            correct += ok as usize;
            scored += 1;
            tokens += g.ids.len();
            pauses += g.pauses;
            secs += g.seconds;
            answers.push(Answer {
                sampler: name.clone(),
                index: p.index,
                gold: p.gold,
                gold_text: p.gold_text.clone(),
                predicted,
                correct: ok,
                tokens: g.ids.len(),
                pauses: g.pauses,
                stop: g.stop.name(),
                output: g.text,
            });
        }
        results.push(SamplerResult {
            sampler: name,
            problems: problems.len(),
            unparseable_gold: bad_gold,
            too_long,
            no_answer,
            correct,
            accuracy: if scored > 0 {
                correct as f64 / scored as f64
            } else {
                f64::NAN
            },
            ci95: data::wilson(correct, scored),
            mean_tokens: if scored > 0 {
                tokens as f64 / scored as f64
            } else {
                0.0
            },
            pauses,
            tokens_per_s: if secs > 0.0 {
                tokens as f64 / secs
            } else {
                0.0
            },
        });
    }
    bar.finish_and_clear();
    Ok(EvalReport { results, answers })
}
