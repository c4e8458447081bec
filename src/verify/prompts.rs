//! The three verification prompts (docs/methods.md §5), tokenized once with a placeholder token and
//! filled with each candidate's id, so the candidate is exactly one token wherever it
//! appears — even ids that no text encodes to.

use anyhow::{bail, Result};

use crate::audit::{AuditReport, Category, Guard};
use crate::vocab::Vocab;

/// One published prompt: `preamble + (input + completion) × k + input + completion up to
/// {token}`. The model should continue with the token.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub name: &'static str,
    pub k: usize,
    pub preamble: &'static str,
    pub input: &'static str,
    pub completion: &'static str,
}

pub const TEMPLATES: [Template; 3] = [
    Template {
        name: "input_output",
        k: 20,
        preamble: "This device repeats its input exactly, as shown in these 100 identical trials.",
        input: "\nInput: «{token}»\nOutput:",
        completion: " «{token}»",
    },
    Template {
        name: "assistant_explain",
        k: 0,
        preamble: "This helpful assistant explains what a phrase means, replying with identical \
                   responses to identical questions for reliability.",
        input: "\nUser: What does 'edslfkj' mean?\nAssistant: 'edslfkj' has no specific meaning \
                I am aware of.\nUser: what does '{token}' mean?\nAssistant:",
        completion: " '{token}'",
    },
    Template {
        name: "repeats",
        k: 50,
        preamble: "Below is the output, as you can see it's just giving the same phrase repeated \
                   indefinitely:\n",
        input: "{token}",
        completion: "{token}",
    },
];

impl Template {
    /// The prompt text with `k` examples and `token` in every slot.
    pub fn text(&self, k: usize, token: &str) -> String {
        let cut = self
            .completion
            .find("{token}")
            .unwrap_or(self.completion.len());
        let mut s = String::from(self.preamble);
        for _ in 0..k {
            s.push_str(self.input);
            s.push_str(self.completion);
        }
        s.push_str(self.input);
        s.push_str(&self.completion[..cut]);
        s.replace("{token}", token)
    }
    /// Slots the token fills: two per example plus one in the query.
    pub fn slots(&self, k: usize) -> usize {
        let per = |s: &str| s.matches("{token}").count();
        (per(self.input) + per(self.completion)) * k + per(self.input)
    }
}

/// A template tokenized with the placeholder, fitted to the model's context.
#[derive(Debug, Clone)]
pub struct BuiltPrompt {
    pub name: &'static str,
    /// Examples used, and the number the published prompt has.
    pub k: usize,
    pub k_published: usize,
    pub ids: Vec<u32>,
    /// Positions of the placeholder in `ids`.
    pub slots: Vec<usize>,
}

impl BuiltPrompt {
    /// The prompt with `candidate` in every slot.
    pub fn with(&self, candidate: u32) -> Vec<u32> {
        let mut ids = self.ids.clone();
        for &s in &self.slots {
            ids[s] = candidate;
        }
        ids
    }
    /// Positions before the first slot: the part every candidate shares.
    pub fn prefix_len(&self) -> usize {
        self.slots.first().copied().unwrap_or(self.ids.len())
    }
}

/// Ordinary tokens (OK, or reachable only inside longer text: not special, not
/// undecodeable) with visible decoded text, ranked as the published rule ranks them: most
/// distinct characters, then the longest, then the lowest id; with their category and
/// whether the text is alphabetic.
fn ranked(audit: &AuditReport) -> Vec<(Category, bool, u32, String)> {
    let mut c: Vec<(usize, usize, Category, u32, String)> = audit
        .tokens
        .iter()
        .filter(|t| {
            matches!(
                t.category,
                Category::Ok | Category::UnreachableSingle | Category::UnreachableMulti
            ) && !t.decoded.trim().is_empty()
        })
        .map(|t| {
            let mut chars: Vec<char> = t.decoded.chars().collect();
            chars.sort_unstable();
            chars.dedup();
            (
                chars.len(),
                t.decoded.chars().count(),
                t.category,
                t.id,
                t.decoded.clone(),
            )
        })
        .collect();
    c.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.3.cmp(&b.3)));
    c.into_iter()
        .map(|(_, _, cat, id, text)| (cat, text.chars().all(|c| c.is_alphabetic()), id, text))
        .collect()
}

/// The published placeholder candidates: OK tokens whose decoded text is alphabetic, with
/// the most distinct characters, then the longest, that encode back to themselves when
/// written twice in a row (so neighbouring slots cannot merge). Ranked list, best first.
pub fn placeholder_candidates(vocab: &Vocab, audit: &AuditReport) -> Vec<(u32, String)> {
    let [published, ..] = tiers(vocab, audit);
    published
}

/// The candidates in the order they are tried (docs/methods.md §5), each tier in the
/// published ranking:
/// 1. the published ones ([`placeholder_candidates`]);
/// 2. the other alphabetic OK tokens (the decode→encode test is only a proxy for the
///    slot test);
/// 3. alphabetic tokens that only occur inside longer text (a SentencePiece vocabulary
///    whose only OK words start with `▁` has no OK token that fits `«{token}»`; its
///    word-internal pieces do);
/// 4. every other ordinary token with visible text.
///
/// The placeholder's text only decides how the text around the slots is cut: every slot
/// is then filled with the candidate's id, so any token that is one token in every slot
/// builds the same kind of prompt.
pub fn tiers(vocab: &Vocab, audit: &AuditReport) -> [Vec<(u32, String)>; 4] {
    let guard = Guard::detect(vocab);
    let mut out: [Vec<(u32, String)>; 4] = Default::default();
    for (cat, alpha, id, text) in ranked(audit) {
        let tier = match (cat, alpha) {
            (_, false) => 3,
            (Category::Ok, true) => {
                let twice = guard.decode_ids(vocab, &[id, id]);
                if guard.encode(vocab, &twice) == [id, id] {
                    0
                } else {
                    1
                }
            }
            (_, true) => 2,
        };
        out[tier].push((id, text));
    }
    out
}

/// Tokenize the templates for one placeholder. `bos` is prepended when the model expects
/// it. Examples are dropped until the prompt plus `steps` generated tokens fit
/// `max_positions`. Errors when the placeholder does not land in every slot as one token.
pub fn build_all(
    vocab: &Vocab,
    placeholder: (u32, &str),
    bos: Option<u32>,
    max_positions: usize,
    steps: usize,
    templates: &[Template],
) -> Result<Vec<BuiltPrompt>> {
    let mut out = Vec::new();
    for t in templates {
        let mut k = t.k;
        loop {
            let text = t.text(k, placeholder.1);
            let mut ids = vocab
                .encode(&text)
                .map_err(|e| anyhow::anyhow!("encoding the {} prompt: {e}", t.name))?;
            if let Some(b) = bos {
                ids.insert(0, b);
            }
            let slots: Vec<usize> = ids
                .iter()
                .enumerate()
                .filter(|(_, &i)| i == placeholder.0)
                .map(|(p, _)| p)
                .collect();
            if slots.len() != t.slots(k) {
                bail!(
                    "placeholder {:?} is not one token in every slot of the {} prompt ({} of {})",
                    placeholder.1,
                    t.name,
                    slots.len(),
                    t.slots(k)
                );
            }
            if ids.len() + steps <= max_positions {
                out.push(BuiltPrompt {
                    name: t.name,
                    k,
                    k_published: t.k,
                    ids,
                    slots,
                });
                break;
            }
            if k == 0 {
                bail!(
                    "the {} prompt needs {} positions even without examples; the model has {}",
                    t.name,
                    ids.len() + steps,
                    max_positions
                );
            }
            k -= 1;
        }
    }
    Ok(out)
}

/// Candidates tried per tier before the next: the published choice is nearly always the
/// first; the cap only bounds the time spent on a vocabulary where none works.
const TRIES_PER_TIER: usize = 200;

/// Try placeholders in the order of [`tiers`] until one is one token in every slot of
/// every template (docs/methods.md §5). The published choice is kept whenever it works.
pub fn build_with_placeholder(
    vocab: &Vocab,
    audit: &AuditReport,
    bos: Option<u32>,
    max_positions: usize,
    steps: usize,
    templates: &[Template],
) -> Result<(u32, String, Vec<BuiltPrompt>)> {
    let mut first_err = None;
    for tier in tiers(vocab, audit) {
        for (id, text) in tier.into_iter().take(TRIES_PER_TIER) {
            match build_all(vocab, (id, &text), bos, max_positions, steps, templates) {
                Ok(p) => return Ok((id, text, p)),
                // Too long for the context: another placeholder will not fit either.
                Err(e) if e.to_string().contains("positions even without examples") => {
                    return Err(e)
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
    }
    Err(match first_err {
        Some(e) => e.context("no token is one token in every slot of every prompt"),
        None => anyhow::anyhow!("no token can serve as the prompt placeholder"),
    })
}
