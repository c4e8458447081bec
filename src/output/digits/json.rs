//! The digit-scheme report as one JSON object (`digits --json`).

use serde_json::{json, Value};

use crate::digits::metrics::{ArithStats, TextStats};
use crate::digits::run::DigitsReport;

fn text_json(s: &TextStats) -> Value {
    json!({
        "docs": s.docs,
        "bytes": s.bytes,
        "words": s.words,
        "tokens": s.tokens,
        "numbers": s.numbers,
        "number_tokens": s.number_tokens,
        "digits": s.digits,
        "tokens_per_number": s.tokens_per_number(),
        "digits_per_token": s.digits_per_token(),
        "bytes_per_token": s.bytes_per_token(),
        "tokens_per_word": s.tokens_per_word(),
        "tokens_per_doc": s.tokens_per_doc(),
        "groups": s.groups,
        "split_groups": s.split_groups,
        "split_group_rate": s.split_group_rate(),
        "shapes": s.shapes,
    })
}

fn arith_json(s: &ArithStats) -> Value {
    json!({
        "records": s.records,
        "integer_records": s.integer_records,
        "answer_longer": s.answer_longer,
        "answer_longer_rate": s.answer_longer_rate(),
        "aligned": s.aligned,
        "aligned_rate": s.aligned_rate(),
        "aligned_when_longer": s.aligned_when_longer,
        "aligned_when_longer_rate": s.aligned_when_longer_rate(),
        "aligned_when_not_longer_rate": s.aligned_when_not_longer_rate(),
        "answers": s.answers,
        "answer_tokens": s.answer_tokens,
        "tokens_per_answer": s.tokens_per_answer(),
        "operands": s.operands,
        "operand_tokens": s.operand_tokens,
        "tokens_per_operand": s.tokens_per_operand(),
        "answer_shapes": s.answer_shapes,
    })
}

/// The whole report as one JSON object.
pub fn to_json(r: &DigitsReport) -> Value {
    let tokenizers: Vec<Value> = r
        .tokenizers
        .iter()
        .map(|t| {
            let c = &t.coverage;
            let fb: Vec<Value> = (0..3)
                .map(|i| {
                    json!({
                        "digits": i + 1,
                        "single": c.single[i],
                        "total": c.total[i],
                        "by_token_count": c.fallback[i]
                            .iter()
                            .map(|(k, v)| (k.to_string(), json!(v)))
                            .collect::<serde_json::Map<_, _>>(),
                        "examples": c.examples[i],
                    })
                })
                .collect();
            json!({
                "name": t.name,
                "path": t.path,
                "format": t.format,
                "detail": t.detail,
                "vocab_size": t.vocab_size,
                "coverage": fb,
                "expresses": r.schemes.iter().filter(|s| s.max_group().is_some())
                    .map(|s| (s.key().to_string(), json!(c.expresses(*s))))
                    .collect::<serde_json::Map<_, _>>(),
                "digit_stage": t.placements.iter()
                    .map(|(s, p)| (s.key().to_string(), json!(p.describe())))
                    .collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    let corpora: Vec<Value> = r
        .corpora
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "path": c.path,
                "kind": c.kind.name(),
                "docs": c.docs,
                "bytes": c.bytes,
                "words": c.words,
                "records": c.records.iter()
                    .map(|(k, v)| (k.key().to_string(), json!(v)))
                    .collect::<serde_json::Map<_, _>>(),
                "skipped_annotations": c.skipped,
            })
        })
        .collect();
    let text: Vec<Value> = r
        .text
        .iter()
        .map(|t| {
            let mut v = text_json(&t.stats);
            v["source"] = json!(r.corpora[t.corpus].name);
            v["tokenizer"] = json!(r.tokenizers[t.tokenizer].name);
            v["scheme"] = json!(t.scheme.key());
            v
        })
        .collect();
    let arith: Vec<Value> = r
        .arith
        .iter()
        .map(|a| {
            let mut v = arith_json(&a.stats);
            v["source"] = json!(r.corpora[a.corpus].name);
            v["records_kind"] = json!(a.kind.key());
            v["tokenizer"] = json!(r.tokenizers[a.tokenizer].name);
            v["scheme"] = json!(a.scheme.key());
            v
        })
        .collect();
    let probe: Vec<Value> = r
        .probe
        .iter()
        .map(|p| {
            json!({
                "left": p.pair.0,
                "right": p.pair.1,
                "tokenizer": r.tokenizers[p.tokenizer].name,
                "scheme": p.scheme.key(),
                "left_cut": p.cut.left.pieces,
                "right_cut": p.cut.right.pieces,
                "left_tokens": p.cut.left.tokens(),
                "right_tokens": p.cut.right.tokens(),
                "fraction_aligned": p.cut.fraction_aligned,
            })
        })
        .collect();
    json!({
        "seed": r.seed,
        "schemes": r.schemes.iter().map(|s| json!({
            "key": s.key(), "label": s.label(), "pattern": s.pattern(),
        })).collect::<Vec<_>>(),
        "tokenizers": tokenizers,
        "sources": corpora,
        "text": text,
        "arith": arith,
        "probe": probe,
    })
}
