//! Before a long run, make sure the engine's token ids mean what the tokenizer's do: a
//! verification against the wrong vocabulary would score the wrong tokens and look fine.

use anyhow::{bail, Result};

use super::logprobs::Choice;
use super::Client;
use crate::audit::AuditReport;
use crate::vocab::Vocab;

/// Complete the probe with as many log-probabilities as the engine allows: from the
/// asked number down through 20, 5 and 1 while the engine refuses the number (vLLM's
/// default limit is 20, the OpenAI API's 5). Keeps the number that worked.
fn probe_top_logprobs(
    client: &mut Client,
    prompt: &[u32],
    notes: &mut Vec<String>,
) -> Result<Choice> {
    let asked = client.endpoint.top_logprobs;
    let mut tries: Vec<usize> = vec![asked];
    tries.extend([20, 5, 1].into_iter().filter(|&n| n < asked));
    let mut last = None;
    for n in tries {
        match client.complete(prompt, 4, n) {
            Ok(c) => {
                if n < asked {
                    notes.push(format!(
                        "{} refused {asked} log-probabilities per step; using {n}",
                        client.endpoint.url
                    ));
                    client.endpoint.top_logprobs = n;
                }
                return Ok(c);
            }
            Err(e) => {
                let msg = format!("{e:#}").to_lowercase();
                let refused = (msg.contains("http 400") || msg.contains("http 422"))
                    && msg.contains("logprob");
                if !refused {
                    return Err(e);
                }
                last = Some(e);
            }
        }
    }
    Err(last.expect("at least one try"))
}

/// What the check compared.
#[derive(Debug, Clone, Default)]
pub struct VocabCheck {
    /// The engine's own vocabulary size, when it says (llama.cpp: `/models` meta.n_vocab).
    pub engine_vocab: Option<usize>,
    /// Ids whose text the engine gave and we compared.
    pub compared: usize,
    /// The context the engine serves, when it says (llama.cpp: `meta.n_ctx`, per slot;
    /// vLLM: `max_model_len`).
    pub engine_context: Option<usize>,
    /// What a person should hear about the check (the log-probabilities stepped down);
    /// the caller decides how to show them.
    pub notes: Vec<String>,
}

const PROBE: &str = "The quick brown fox jumps over the lazy dog, and then the dog";

/// Ask `/models` and one short completion; compare every id the engine names with its
/// text against the tokenizer. `rows` is the model's vocabulary size when known.
pub fn check(
    client: &mut Client,
    vocab: &Vocab,
    audit: &AuditReport,
    bos: Option<u32>,
    rows: Option<usize>,
) -> Result<VocabCheck> {
    let url = client.endpoint.url.clone();
    let models = client.resolve_model()?;
    let engine_vocab = models
        .get("data")
        .and_then(|d| d.get(0))
        .and_then(|m| m.get("meta"))
        .and_then(|m| m.get("n_vocab"))
        .and_then(|n| n.as_u64())
        .map(|n| n as usize);
    let first = models.get("data").and_then(|d| d.get(0));
    let engine_context = first
        .and_then(|m| {
            m.get("meta")
                .and_then(|m| m.get("n_ctx"))
                .or_else(|| m.get("max_model_len"))
        })
        .and_then(|n| n.as_u64())
        .map(|n| n as usize);
    if let Some(n) = engine_vocab {
        if n < vocab.len() || rows.is_some_and(|r| r != n) {
            bail!(
                "{url}: the engine's vocabulary has {n} ids, the tokenizer {} ({}){}: they do \
                 not match",
                vocab.len(),
                vocab.source.display(),
                rows.map(|r| format!(" and the model config {r}"))
                    .unwrap_or_default()
            );
        }
    }
    let mut prompt: Vec<u32> = bos.into_iter().collect();
    prompt.extend(
        vocab
            .tokenizer
            .encode_fast(PROBE, false)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .get_ids(),
    );
    let mut notes = Vec::new();
    let choice = probe_top_logprobs(client, &prompt, &mut notes)?;
    let mut compared = 0;
    let mut wrong = Vec::new();
    // The same id is often named at several steps; compare it once.
    let mut seen = std::collections::HashSet::new();
    for (id, bytes) in choice.steps.iter().flat_map(|s| s.named.iter()) {
        if !seen.insert(*id) {
            continue;
        }
        let Some(t) = audit.token(*id) else {
            if *id as usize >= rows.unwrap_or(vocab.len()) {
                wrong.push(format!(
                    "id {id} is past the tokenizer's {} ids",
                    vocab.len()
                ));
            }
            continue;
        };
        // Specials render as "" or as their text depending on the engine; partial UTF-8
        // is cut differently by each. Plain text tokens must agree exactly.
        if vocab.special_ids.contains(id) || t.decoded.contains('\u{FFFD}') {
            continue;
        }
        compared += 1;
        if t.decoded.as_bytes() != bytes.as_slice() {
            wrong.push(format!(
                "id {id} is {:?} there, {:?} here",
                String::from_utf8_lossy(bytes),
                t.decoded
            ));
        }
    }
    // Engines that name tokens only by id: the generated text must be the decoded ids.
    if compared == 0 {
        if let (Some(ids), Some(text)) = (choice.chosen_ids(), &choice.text) {
            let ours = vocab
                .tokenizer
                .decode(&ids, false)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            compared = ids.len();
            if ours.trim() != text.trim() {
                wrong.push(format!("ids {ids:?} are {text:?} there, {ours:?} here"));
            }
        }
    }
    if !wrong.is_empty() {
        bail!(
            "{url}: the engine's vocabulary does not match the tokenizer {}: {}",
            vocab.source.display(),
            wrong.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
        );
    }
    Ok(VocabCheck {
        engine_vocab,
        compared,
        engine_context,
        notes,
    })
}
