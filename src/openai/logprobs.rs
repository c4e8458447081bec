//! Reading the per-step log-probabilities out of a completions response.
//!
//! Engines disagree on the shape. llama.cpp's server returns
//! `logprobs.content[i] = {id, token, bytes, logprob, top_logprobs: [{id, token, bytes,
//! logprob}]}`, with ids. vLLM and the OpenAI legacy API return `logprobs.tokens[i]` and
//! `logprobs.top_logprobs[i] = {token: logprob}`; vLLM puts ids in the keys
//! (`"token_id:123"`) when asked with `return_tokens_as_token_ids`. A key that is only text
//! cannot name a token id for sure (many ids can share a text), so it is kept as text and
//! the scorer treats it conservatively.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

/// A token as the engine named it.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenRef {
    Id(u32),
    Text(String),
}

impl TokenRef {
    fn from_key(key: &str) -> TokenRef {
        match key
            .strip_prefix("token_id:")
            .and_then(|n| n.parse::<u32>().ok())
        {
            Some(id) => TokenRef::Id(id),
            None => TokenRef::Text(key.to_string()),
        }
    }
}

/// One generated position: the token the engine chose and the most probable tokens there,
/// as natural-log probabilities, most probable first.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub chosen: TokenRef,
    /// The engine's text for the chosen token, when it gives one beside an id (used to
    /// check that the engine's vocabulary is the tokenizer's).
    pub chosen_text: Option<Vec<u8>>,
    pub top: Vec<(TokenRef, f64)>,
    /// `(id, bytes)` pairs the engine named with both, for the vocabulary check.
    pub named: Vec<(u32, Vec<u8>)>,
}

/// One choice of a completions response.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub steps: Vec<Step>,
    /// The engine stopped before `max_tokens` (an end-of-sequence token or a stop string).
    pub stopped: bool,
    /// The generated text, when given.
    pub text: Option<String>,
}

impl Choice {
    /// The generated ids, when the engine named every one by id.
    pub fn chosen_ids(&self) -> Option<Vec<u32>> {
        self.steps
            .iter()
            .map(|s| match s.chosen {
                TokenRef::Id(i) => Some(i),
                TokenRef::Text(_) => None,
            })
            .collect()
    }
}

/// Parse a `/v1/completions` response body (one choice).
pub fn parse_completion(body: &Value) -> Result<Choice> {
    if let Some(err) = body.get("error") {
        bail!("the engine answered with an error: {}", short(err));
    }
    let choice = body
        .get("choices")
        .and_then(|c| c.as_array())
        .and_then(|c| c.first())
        .ok_or_else(|| anyhow!("no `choices[0]` in the response: {}", short(body)))?;
    let stopped = match choice.get("finish_reason").and_then(|f| f.as_str()) {
        Some("length") | None => false,
        Some(_) => true,
    };
    let text = choice
        .get("text")
        .and_then(|t| t.as_str())
        .map(String::from);
    let Some(lp) = choice.get("logprobs").filter(|l| !l.is_null()) else {
        // llama.cpp's server sends `"logprobs": null` when the generated tokens end in
        // incomplete UTF-8 (its text shows U+FFFD): the steps are unknown, not absent,
        // so the caller bounds them by [0, 1] instead of failing the run.
        if text.as_deref().is_some_and(|t| t.contains('\u{fffd}')) {
            return Ok(Choice {
                steps: Vec::new(),
                stopped: false,
                text,
            });
        }
        bail!("the response has no `logprobs` (does the engine support them?)");
    };
    let steps = if let Some(content) = lp.get("content").and_then(|c| c.as_array()) {
        content
            .iter()
            .map(parse_content_step)
            .collect::<Result<Vec<_>>>()?
    } else if let Some(tops) = lp.get("top_logprobs").and_then(|t| t.as_array()) {
        let tokens = lp.get("tokens").and_then(|t| t.as_array());
        tops.iter()
            .enumerate()
            .map(|(i, t)| parse_legacy_step(t, tokens.and_then(|ts| ts.get(i))))
            .collect::<Result<Vec<_>>>()?
    } else {
        bail!(
            "`logprobs` has neither `content` nor `top_logprobs`: {}",
            short(lp)
        );
    };
    Ok(Choice {
        steps,
        stopped,
        text,
    })
}

fn logprob(v: &Value) -> Result<f64> {
    let lp = v
        .as_f64()
        .ok_or_else(|| anyhow!("a logprob is not a number: {}", short(v)))?;
    if lp.is_nan() || lp > 1e-6 {
        bail!("a logprob is not ≤ 0: {lp}");
    }
    Ok(lp.min(0.0))
}

fn id_of(v: &Value) -> Result<u32> {
    v.as_u64()
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(|| anyhow!("a token id is not a non-negative integer: {}", short(v)))
}

/// The bytes of an entry: its `bytes` array when given (exact), else its text.
fn bytes_of(entry: &Value) -> Option<Vec<u8>> {
    if let Some(b) = entry.get("bytes").and_then(|b| b.as_array()) {
        return b
            .iter()
            .map(|x| x.as_u64().and_then(|x| u8::try_from(x).ok()))
            .collect();
    }
    entry
        .get("token")
        .and_then(|t| t.as_str())
        .map(|s| s.as_bytes().to_vec())
}

fn parse_content_step(step: &Value) -> Result<Step> {
    let chosen_id = id_of(
        step.get("id")
            .ok_or_else(|| anyhow!("a `logprobs.content` entry has no `id`: {}", short(step)))?,
    )?;
    let mut named = Vec::new();
    let chosen_text = bytes_of(step);
    if let Some(b) = &chosen_text {
        named.push((chosen_id, b.clone()));
    }
    let list = step
        .get("top_logprobs")
        .and_then(|t| t.as_array())
        .ok_or_else(|| anyhow!("a `logprobs.content` entry has no `top_logprobs` list"))?;
    let mut top = Vec::with_capacity(list.len());
    for e in list {
        let id = id_of(
            e.get("id")
                .ok_or_else(|| anyhow!("a `top_logprobs` entry has no `id`: {}", short(e)))?,
        )?;
        let lp = logprob(
            e.get("logprob")
                .ok_or_else(|| anyhow!("a `top_logprobs` entry has no `logprob`"))?,
        )?;
        if let Some(b) = bytes_of(e) {
            named.push((id, b));
        }
        top.push((TokenRef::Id(id), lp));
    }
    sort_top(&mut top);
    Ok(Step {
        chosen: TokenRef::Id(chosen_id),
        chosen_text,
        top,
        named,
    })
}

fn parse_legacy_step(top: &Value, token: Option<&Value>) -> Result<Step> {
    let map = top
        .as_object()
        .ok_or_else(|| anyhow!("a `top_logprobs` entry is not an object: {}", short(top)))?;
    let mut list = Vec::with_capacity(map.len());
    for (k, v) in map {
        list.push((TokenRef::from_key(k), logprob(v)?));
    }
    sort_top(&mut list);
    let chosen = match token.and_then(|t| t.as_str()) {
        Some(t) => TokenRef::from_key(t),
        None => list
            .first()
            .map(|(t, _)| t.clone())
            .ok_or_else(|| anyhow!("an empty `top_logprobs` entry and no `tokens`"))?,
    };
    Ok(Step {
        chosen,
        chosen_text: None,
        top: list,
        named: Vec::new(),
    })
}

fn sort_top(top: &mut [(TokenRef, f64)]) {
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
}

/// A response cut for an error message.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 200 {
        s
    } else {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn llama_cpp_shape() {
        let body = json!({"choices": [{"text": "ab", "finish_reason": "length", "logprobs": {"content": [
            {"id": 5, "token": "a", "bytes": [97], "logprob": -0.1,
             "top_logprobs": [{"id": 7, "token": "c", "bytes": [99], "logprob": -3.0},
                              {"id": 5, "token": "a", "bytes": [97], "logprob": -0.1}]}]}}]});
        let c = parse_completion(&body).unwrap();
        assert!(!c.stopped);
        assert_eq!(c.steps[0].chosen, TokenRef::Id(5));
        assert_eq!(c.steps[0].top[0], (TokenRef::Id(5), -0.1));
        assert_eq!(c.steps[0].named.len(), 3);
    }

    #[test]
    fn vllm_shape_with_ids_in_keys() {
        let body = json!({"choices": [{"finish_reason": "stop", "logprobs": {
            "tokens": ["token_id:9"], "top_logprobs": [{"token_id:9": -0.5, "token_id:3": -1.5, "x": -2.0}]}}]});
        let c = parse_completion(&body).unwrap();
        assert!(c.stopped);
        assert_eq!(c.steps[0].chosen, TokenRef::Id(9));
        assert_eq!(c.steps[0].top[2], (TokenRef::Text("x".into()), -2.0));
    }

    #[test]
    fn malformed_answers_are_errors() {
        for b in [
            json!({}),
            json!({"choices": []}),
            json!({"choices": [{"logprobs": null}]}),
            json!({"choices": [{"logprobs": {"content": [{"id": -1, "top_logprobs": []}]}}]}),
            json!({"choices": [{"logprobs": {"content": [{"id": 1, "top_logprobs": [{"id": 2, "logprob": 3.0}]}]}}]}),
            json!({"error": {"message": "boom"}}),
        ] {
            assert!(parse_completion(&b).is_err(), "{b}");
        }
    }

    /// llama.cpp's answer when the generated tokens end in incomplete UTF-8 (seen with
    /// SmolLM2's `ĠâĹ`, id 32785): no steps, so the caller bounds them; without U+FFFD
    /// in the text a null `logprobs` stays an error (above).
    #[test]
    fn logprobs_withheld_for_incomplete_utf8_are_unknown_steps() {
        let b = json!({"choices": [{"text": " \u{fffd} \u{fffd}", "logprobs": null,
                                     "finish_reason": "length"}]});
        let c = parse_completion(&b).unwrap();
        assert!(c.steps.is_empty() && !c.stopped);
    }
}
