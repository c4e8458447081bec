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

/// The placeholder: an OK token whose decoded text is alphabetic, with the most distinct
/// characters, then the longest, that encodes back to itself when written twice in a row
/// (so neighbouring slots cannot merge). Ranked list, best first.
pub fn placeholder_candidates(vocab: &Vocab, audit: &AuditReport) -> Vec<(u32, String)> {
    let mut c: Vec<(usize, usize, u32, String)> = audit
        .tokens
        .iter()
        .filter(|t| t.category == Category::Ok)
        .filter(|t| !t.decoded.is_empty() && t.decoded.chars().all(|c| c.is_alphabetic()))
        .map(|t| {
            let mut chars: Vec<char> = t.decoded.chars().collect();
            chars.sort_unstable();
            chars.dedup();
            (
                chars.len(),
                t.decoded.chars().count(),
                t.id,
                t.decoded.clone(),
            )
        })
        .collect();
    c.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let guard = Guard::detect(vocab);
    c.into_iter()
        .filter(|(_, _, id, _)| {
            let twice = guard.decode_ids(vocab, &[*id, *id]);
            guard.encode(vocab, &twice) == [*id, *id]
        })
        .map(|(_, _, id, text)| (id, text))
        .collect()
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

/// Try placeholders in order until one builds all templates.
pub fn build_with_placeholder(
    vocab: &Vocab,
    audit: &AuditReport,
    bos: Option<u32>,
    max_positions: usize,
    steps: usize,
    templates: &[Template],
) -> Result<(u32, String, Vec<BuiltPrompt>)> {
    let mut last_err = None;
    for (id, text) in placeholder_candidates(vocab, audit).into_iter().take(200) {
        match build_all(vocab, (id, &text), bos, max_positions, steps, templates) {
            Ok(p) => return Ok((id, text, p)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        anyhow::anyhow!("no alphabetic OK token can serve as the prompt placeholder")
    }))
}
