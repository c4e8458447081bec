//! The published summary counts on the real tokenizers in ../shared/data, against values
//! computed independently by `benches/reference_audit.py` (Python `tokenizers`,
//! `sentencepiece`, `tiktoken` and `gguf`, same rules; its output is
//! benches/reference_audit.json). cl100k's vocab_size here is one past its largest id
//! (100276); 16 ids in its special range are unassigned.

use crate::common;

use tokenaudit::audit::{self, Category};

struct Expected {
    path: &'static str,
    vocab_size: usize,
    bytes: usize,
    special: usize,
    unreachable: Option<usize>,
    partial_utf8: Option<usize>,
    /// ascii, utf8, unused_utf8
    byte_kinds: [usize; 3],
    /// OK, OK_SPECIAL, UNREACHABLE_SPECIAL, UNDECODEABLE, UNREACHABLE_SINGLE, UNREACHABLE_MULTI
    /// (the reference checks only the raw-vocabulary counts of GGUF files)
    categories: Option<[usize; 6]>,
}

#[rustfmt::skip]
const EXPECTED: &[Expected] = &[
    Expected { path: "gpt2/tokenizer.json", vocab_size: 50257, bytes: 256, special: 1, unreachable: Some(0), partial_utf8: Some(216), byte_kinds: [128, 115, 13], categories: Some([49912, 1, 0, 344, 0, 0]) },
    Expected { path: "pythia/20B_tokenizer.json", vocab_size: 50277, bytes: 243, special: 2, unreachable: Some(221), partial_utf8: Some(369), byte_kinds: [128, 115, 0], categories: Some([49570, 2, 0, 484, 23, 198]) },
    Expected { path: "olmo/allenai_eleuther-ai-gpt-neox-20b-pii-special.json", vocab_size: 50280, bytes: 243, special: 2, unreachable: Some(221), partial_utf8: Some(369), byte_kinds: [128, 115, 0], categories: Some([49573, 2, 0, 484, 23, 198]) },
    Expected { path: "olmo2/allenai_dolma2.json", vocab_size: 100278, bytes: 256, special: 19, unreachable: Some(0), partial_utf8: Some(645), byte_kinds: [128, 115, 13], categories: Some([99497, 8, 0, 773, 0, 0]) },
    Expected { path: "llama2/tokenizer.model", vocab_size: 32000, bytes: 351, special: 3, unreachable: Some(0), partial_utf8: Some(0), byte_kinds: [223, 115, 13], categories: Some([31773, 3, 0, 128, 96, 0]) },
    Expected { path: "mistral-7b-v0.1/tokenizer.model.v1", vocab_size: 32000, bytes: 380, special: 3, unreachable: Some(0), partial_utf8: Some(0), byte_kinds: [252, 115, 13], categories: Some([31744, 3, 0, 128, 125, 0]) },
    Expected { path: "mistral-v2/mistral_instruct_tokenizer_240216.model.v2", vocab_size: 32768, bytes: 380, special: 771, unreachable: Some(0), partial_utf8: Some(0), byte_kinds: [252, 115, 13], categories: Some([31744, 771, 0, 128, 125, 0]) },
    Expected { path: "mistral-v3/mistral_instruct_tokenizer_240323.model.v3", vocab_size: 32768, bytes: 380, special: 771, unreachable: Some(0), partial_utf8: Some(0), byte_kinds: [252, 115, 13], categories: Some([31764, 751, 0, 128, 125, 0]) },
    Expected { path: "mistral-v7/mistral_instruct_tokenizer_241114.model.v7", vocab_size: 32768, bytes: 380, special: 771, unreachable: Some(0), partial_utf8: Some(0), byte_kinds: [252, 115, 13], categories: Some([31766, 749, 0, 128, 125, 0]) },
    Expected { path: "llama3/tokenizer.model", vocab_size: 128256, bytes: 256, special: 256, unreachable: Some(0), partial_utf8: Some(1224), byte_kinds: [128, 115, 13], categories: Some([126648, 256, 0, 1352, 0, 0]) },
    Expected { path: "llama4/tokenizer.model", vocab_size: 202048, bytes: 256, special: 2048, unreachable: Some(7), partial_utf8: Some(1700), byte_kinds: [128, 115, 13], categories: Some([198165, 2048, 0, 1828, 0, 7]) },
    Expected { path: "cl100k_base/cl100k_base.tiktoken", vocab_size: 100277, bytes: 256, special: 5, unreachable: Some(0), partial_utf8: Some(645), byte_kinds: [128, 115, 13], categories: Some([99483, 5, 0, 773, 0, 0]) },
    Expected { path: "qwen/qwen.tiktoken", vocab_size: 151851, bytes: 256, special: 211, unreachable: Some(1670), partial_utf8: Some(1320), byte_kinds: [128, 115, 13], categories: Some([148522, 208, 3, 1448, 0, 1670]) },
    Expected { path: "whisper/gpt2.tiktoken", vocab_size: 50257, bytes: 256, special: 1, unreachable: Some(0), partial_utf8: Some(216), byte_kinds: [128, 115, 13], categories: Some([49912, 1, 0, 344, 0, 0]) },
    Expected { path: "gguf/ggml-vocab-baichuan.gguf", vocab_size: 64000, bytes: 352, special: 351, unreachable: None, partial_utf8: None, byte_kinds: [224, 115, 13], categories: None },
    Expected { path: "gguf/ggml-vocab-bert-bge.gguf", vocab_size: 30522, bytes: 68, special: 999, unreachable: None, partial_utf8: None, byte_kinds: [68, 0, 0], categories: None },
    Expected { path: "gguf/ggml-vocab-deepseek-coder.gguf", vocab_size: 32256, bytes: 256, special: 243, unreachable: None, partial_utf8: None, byte_kinds: [128, 115, 13], categories: None },
    Expected { path: "gguf/ggml-vocab-deepseek-llm.gguf", vocab_size: 102400, bytes: 256, special: 2387, unreachable: None, partial_utf8: None, byte_kinds: [128, 115, 13], categories: None },
    Expected { path: "gguf/ggml-vocab-falcon.gguf", vocab_size: 65024, bytes: 228, special: 1, unreachable: None, partial_utf8: None, byte_kinds: [114, 114, 0], categories: None },
    Expected { path: "gguf/ggml-vocab-gpt-2.gguf", vocab_size: 50257, bytes: 256, special: 1, unreachable: None, partial_utf8: None, byte_kinds: [128, 115, 13], categories: None },
    Expected { path: "gguf/ggml-vocab-llama-bpe.gguf", vocab_size: 128256, bytes: 256, special: 256, unreachable: None, partial_utf8: None, byte_kinds: [128, 115, 13], categories: None },
    Expected { path: "gguf/ggml-vocab-llama-spm.gguf", vocab_size: 32000, bytes: 351, special: 3, unreachable: None, partial_utf8: None, byte_kinds: [223, 115, 13], categories: None },
    Expected { path: "gguf/ggml-vocab-mpt.gguf", vocab_size: 50432, bytes: 243, special: 157, unreachable: None, partial_utf8: None, byte_kinds: [128, 115, 0], categories: None },
    Expected { path: "gguf/ggml-vocab-phi-3.gguf", vocab_size: 32064, bytes: 351, special: 67, unreachable: None, partial_utf8: None, byte_kinds: [223, 115, 13], categories: None },
    Expected { path: "gguf/ggml-vocab-qwen2.gguf", vocab_size: 151936, bytes: 256, special: 296, unreachable: None, partial_utf8: None, byte_kinds: [128, 115, 13], categories: None },
    Expected { path: "gguf/ggml-vocab-refact.gguf", vocab_size: 49216, bytes: 242, special: 83, unreachable: None, partial_utf8: None, byte_kinds: [128, 114, 0], categories: None },
    Expected { path: "gguf/ggml-vocab-starcoder.gguf", vocab_size: 49152, bytes: 242, special: 38, unreachable: None, partial_utf8: None, byte_kinds: [128, 114, 0], categories: None },];

fn check(e: &Expected) -> Vec<String> {
    let v = common::load(e.path);
    let r = audit::audit(&v);
    let mut bad = Vec::new();
    let mut cmp = |what: &str, got: usize, want: usize| {
        if got != want {
            bad.push(format!("{}: {what} = {got}, expected {want}", e.path));
        }
    };
    cmp("vocab_size", r.vocab_size, e.vocab_size);
    cmp("bytes", r.counts.bytes, e.bytes);
    cmp("special", r.counts.special, e.special);
    if let Some(u) = e.unreachable {
        cmp("unreachable", r.counts.unreachable, u);
    }
    if let Some(p) = e.partial_utf8 {
        cmp("partial_utf8", r.counts.partial_utf8, p);
    }
    for (k, want) in ["ascii", "utf8", "unused_utf8"].iter().zip(e.byte_kinds) {
        cmp(k, r.byte_kinds[k], want);
    }
    if let Some(cats) = e.categories {
        for (c, want) in Category::ALL.iter().zip(cats) {
            cmp(c.name(), r.categories[c.name()], want);
        }
    }
    bad
}

#[test]
fn summary_counts_match_the_independent_reference() {
    let bad: Vec<String> = EXPECTED.iter().flat_map(check).collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_same_vocabulary_audits_the_same_in_every_format() {
    let cats = |rel: &str| audit::audit(&common::load(rel)).categories;
    assert_eq!(
        cats("llama2/tokenizer.model"),
        cats("gguf/ggml-vocab-llama-spm.gguf")
    );
    assert_eq!(
        cats("gpt2/tokenizer.json"),
        cats("gguf/ggml-vocab-gpt-2.gguf")
    );
    assert_eq!(cats("gpt2/tokenizer.json"), cats("gpt2/encoder.json"));
    assert_eq!(
        cats("llama3/tokenizer.model"),
        cats("gguf/ggml-vocab-llama-bpe.gguf")
    );
}

#[test]
fn known_tokens_land_in_their_categories() {
    let v = common::load("llama2/tokenizer.model");
    let r = audit::audit(&v);
    assert_eq!(r.guard, Some('«'));
    // "▁the" survives decode → encode behind the guard.
    let the = v.tokenizer.token_to_id("▁the").unwrap();
    assert_eq!(r.token(the).unwrap().category, Category::Ok);
    // <s> is special; <0x41> decodes to "A", which has its own piece.
    assert_eq!(r.token(1).unwrap().category, Category::OkSpecial);
    let a = r.token(3 + 0x41).unwrap();
    assert_eq!(
        (a.raw.as_str(), a.category),
        ("<0x41>", Category::UnreachableSingle)
    );
    // <0xE2> alone is a partial UTF-8 sequence.
    assert_eq!(r.token(3 + 0xE2).unwrap().category, Category::Undecodeable);
}
