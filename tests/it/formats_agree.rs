//! The same vocabulary read from different formats must encode identically, and each
//! decode must give back the text byte for byte.

use crate::common;

use common::*;

#[test]
fn gpt2_three_formats_agree_on_real_text() {
    let lines = corpus_lines();
    assert!(lines.len() > 40_000);
    let json = load("gpt2/tokenizer.json");
    let pair = load("gpt2/encoder.json");
    let tiktoken = load("whisper/gpt2.tiktoken");
    assert_eq!(json.len(), 50257);
    assert_eq!(pair.len(), 50257);
    assert_eq!(tiktoken.len(), 50257);
    for other in [&pair, &tiktoken] {
        let (n, ex) = disagreements(&json, other, &lines);
        assert_eq!(
            n,
            0,
            "{} differs from tokenizer.json:\n{}",
            other.source.display(),
            ex.join("\n")
        );
    }
}

#[test]
fn llama2_sentencepiece_agrees_with_independent_hf_conversion() {
    // tiny-llama2tok/tokenizer.json was converted from the same .model by transformers'
    // SpmConverter (see models/MODELS.md), so it is an independent reading of the file.
    let lines = corpus_lines();
    let spm = load("llama2/tokenizer.model");
    let hf = load_path(&data().join("models/tiny-llama2tok/tokenizer.json"));
    let (n, ex) = disagreements(&spm, &hf, &lines);
    assert_eq!(n, 0, "llama2 .model vs tokenizer.json:\n{}", ex.join("\n"));
}

#[test]
fn stories260k_sentencepiece_agrees_with_its_tokenizer_json() {
    let lines = corpus_lines();
    let dir = data().join("models/stories260K");
    let spm = load_path(&dir.join("tokenizer.model"));
    let hf = load_path(&dir.join("tokenizer.json"));
    let (n, ex) = disagreements(&spm, &hf, &lines);
    assert_eq!(
        n,
        0,
        "stories260K .model vs tokenizer.json:\n{}",
        ex.join("\n")
    );
}

#[test]
fn decode_of_encode_is_byte_exact() {
    // Byte-level and byte-fallback tokenizers lose nothing: decode(encode(x)) == x.
    let lines = corpus_lines();
    for rel in [
        "gpt2/tokenizer.json",
        "llama3/tokenizer.model",
        "cl100k_base/cl100k_base.tiktoken",
        "qwen/qwen.tiktoken",
    ] {
        let v = load(rel);
        for l in lines.iter().step_by(7) {
            let ids = v.encode(l).unwrap();
            assert_eq!(&v.decode(&ids).unwrap(), l, "{rel}: round trip of {l:?}");
        }
    }
    // SentencePiece with a dummy prefix: the decoder strips the space it added.
    let v = load("llama2/tokenizer.model");
    for l in lines.iter().step_by(7).filter(|l| !l.starts_with(' ')) {
        let ids = v.encode(l).unwrap();
        assert_eq!(&v.decode(&ids).unwrap(), l, "llama2: round trip of {l:?}");
    }
}

#[test]
fn tiktoken_ids_match_published_examples() {
    // Ids that tiktoken itself gives (cl100k: "hello world" = [15339, 1917]).
    let v = load("cl100k_base/cl100k_base.tiktoken");
    assert_eq!(v.encode("hello world").unwrap(), vec![15339, 1917]);
    assert_eq!(v.encode("<|endoftext|>").unwrap(), vec![100257]);
    let l3 = load("llama3/tokenizer.model");
    assert_eq!(l3.len(), 128256);
    assert_eq!(l3.encode("<|begin_of_text|>").unwrap(), vec![128000]);
    assert_eq!(l3.encode("<|eot_id|>").unwrap(), vec![128009]);
    // Llama-3 splits digits in runs of three, left to right.
    let ids = l3.encode("1234567").unwrap();
    let pieces: Vec<String> = ids.iter().map(|&i| l3.decode(&[i]).unwrap()).collect();
    assert_eq!(pieces, ["123", "456", "7"]);
}
