//! Fuzzing what a serving engine answers (`--backend openai`): completions bodies in
//! llama.cpp's shape (captured from the project's own tiny-llama2tok served by
//! llama-server) and in vLLM's legacy shape, mutated node by node, cut at every structural
//! boundary, and replaced by random bytes. The parser must return steps or an error, never
//! panic, and the bound it gives a candidate must stay a probability interval.
//! See `tests/fuzz/driver.rs`.

use std::path::Path;

use crate::driver::*;
use tokenaudit::openai::bound::{at_step, Candidate};
use tokenaudit::openai::logprobs::parse_completion;

/// A `/v1/completions` answer of llama-server (tiny-llama2tok, prompt [1, 450, 4996],
/// `max_tokens` 2, `logprobs` 3).
const LLAMA_CPP: &str = r#"{"choices":[{"text":" is ","index":0,"logprobs":{"content":[{"id":338,"token":" is","bytes":[32,105,115],"logprob":-3.256618022918701,"top_logprobs":[{"id":338,"token":" is","bytes":[32,105,115],"logprob":-3.256618022918701},{"id":23735,"token":" tank","bytes":[32,116,97,110,107],"logprob":-3.4548234939575195},{"id":29899,"token":"-","bytes":[45],"logprob":-3.505236864089966}]},{"id":29871,"token":" ","bytes":[32],"logprob":-0.5699593424797058,"top_logprobs":[{"id":29871,"token":" ","bytes":[32],"logprob":-0.5699593424797058},{"id":8951,"token":" twice","bytes":[32,116,119,105,99,101],"logprob":-3.7989628314971924},{"id":278,"token":" the","bytes":[32,116,104,101],"logprob":-4.091241836547852}]}]},"finish_reason":"length"}],"created":1795743520,"model":"tiny-llama2tok.gguf","object":"text_completion","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#;

/// The same answer in the legacy shape with vLLM's `token_id:N` keys.
const VLLM: &str = r#"{"choices":[{"text":" is ","index":0,"finish_reason":"length","logprobs":{"tokens":["token_id:338","token_id:29871"],"token_logprobs":[-3.2566,-0.5699],"top_logprobs":[{"token_id:338":-3.2566,"token_id:23735":-3.4548,"token_id:29899":-3.5052},{"token_id:29871":-0.5699,"token_id:8951":-3.7989,"token_id:278":-4.0912}]}}]}"#;

fn load(p: &Path) -> Result<String, String> {
    let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", p.display()))?;
    let c = parse_completion(&v).map_err(|e| format!("{}: {e:#}", p.display()))?;
    for s in &c.steps {
        for id in [278, 338, 5] {
            let b = at_step(
                s,
                Candidate {
                    id,
                    text: Some(" the"),
                    text_unique: id == 278,
                },
            );
            if !(0.0 <= b.lo && b.lo <= b.hi && b.hi <= 1.0) {
                return Err(format!("{}: bound {b:?} is not in [0, 1]", p.display()));
            }
        }
    }
    Ok(format!("{} steps", c.steps.len()))
}

fn seeds() -> [(&'static str, &'static str); 2] {
    [("llama.cpp", LLAMA_CPP), ("vllm", VLLM)]
}

#[test]
fn engine_answer_mutations() {
    let t = Target::new("engine-answer", load);
    for (name, text) in seeds() {
        t.seed_loads(name, &[file("answer.json", text)]);
    }
    let parsed: Vec<serde_json::Value> = seeds()
        .iter()
        .map(|(_, s)| serde_json::from_str(s).unwrap())
        .collect();
    t.random(
        scaled(600),
        (0..2usize, proptest::collection::vec(json_edit(), 1..=3)),
        |(k, edits)| {
            let mut v = parsed[*k].clone();
            for (idx, e) in edits {
                v = serde_json::from_str(&json_apply(&v, *idx, e)).unwrap_or(v);
            }
            (
                format!("{}: {}", seeds()[*k].0, json_edit_kind(&edits[0].1)),
                vec![file("answer.json", v.to_string())],
            )
        },
    );
    t.report();
}

#[test]
fn engine_answer_truncations_and_random_bytes() {
    let t = Target::new("engine-answer-cut", load);
    let mut cases = Vec::new();
    for (name, text) in seeds() {
        for at in json_bounds(text.as_bytes()) {
            cases.push((
                format!("{name} cut at {at}"),
                vec![file("answer.json", &text.as_bytes()[..at])],
            ));
        }
    }
    t.sweep(cases);
    t.report();
    const PREFIXES: &[&[u8]] = &[b"{\"choices\":[{\"logprobs\":{\"content\":[", b"{", b"["];
    let r = Target::new("engine-answer-random", load);
    r.random(scaled(300), random_bytes(PREFIXES), |b| {
        (
            "random bytes".to_string(),
            vec![file("answer.json", with_prefix(PREFIXES, b))],
        )
    });
    r.report();
}
