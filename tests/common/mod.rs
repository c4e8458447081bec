//! Shared helpers for the integration tests: where the real data lives, loading it.
#![allow(dead_code)]

pub mod engine;
pub mod quantize;
pub mod writers;

use std::path::PathBuf;

use tokenaudit::vocab::{self, LoadOptions, Vocab};

/// `../shared/data` beside the repository; CI lays it there.
pub fn data() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        p.is_dir(),
        "test data not found at {} (the tests read ../shared/data)",
        p.display()
    );
    p
}

pub fn tok(rel: &str) -> PathBuf {
    data().join("tokenizers").join(rel)
}

pub fn load(rel: &str) -> Vocab {
    let p = tok(rel);
    vocab::load(&p, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("loading {}: {e}", p.display()))
}

pub fn load_path(p: &std::path::Path) -> Vocab {
    vocab::load(p, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("loading {}: {e}", p.display()))
}

/// Non-empty lines of the real corpora: English prose, 8 languages of the PUD parallel
/// corpus, and code.
pub fn corpus_lines() -> Vec<String> {
    let d = data().join("corpus");
    let mut files = vec![d.join("tinyshakespeare.txt")];
    for lang in ["en", "de", "fr", "ru", "zh", "ja", "ar", "hi"] {
        files.push(d.join("pud").join(format!("{lang}.txt")));
    }
    files.push(d.join("code/HumanEval.jsonl"));
    let mut lines = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        lines.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from),
        );
    }
    lines
}

/// Count lines on which two vocabularies give different ids; return a few examples.
pub fn disagreements(a: &Vocab, b: &Vocab, lines: &[String]) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut ex = Vec::new();
    for l in lines {
        let x = a.encode(l).unwrap();
        let y = b.encode(l).unwrap();
        if x != y {
            n += 1;
            if ex.len() < 3 {
                ex.push(format!("{l:?}\n  {x:?}\n  {y:?}"));
            }
        }
    }
    (n, ex)
}

/// One reference prompt of a shared model (made by transformers in f32, MODELS.md): the
/// prompt ids, the logits of its last position and the greedy continuation.
pub struct Reference {
    pub ids: Vec<u32>,
    pub last_logits: Vec<f32>,
    pub greedy: Vec<u32>,
}

/// The reference prompts of a model directory, checking that the logits stored beside
/// each prompt belong to its ids.
pub fn references(dir: &std::path::Path) -> Vec<Reference> {
    let bytes = std::fs::read(dir.join("reference_logits.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let gen: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("reference_generation.json")).unwrap())
            .unwrap();
    let ids_of = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    let data = |name: &str| st.tensor(name).unwrap().data().to_vec();
    gen["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let ids = ids_of(&p["input_ids"]);
            let stored: Vec<u32> = data(&format!("input_ids_{k}"))
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
                .collect();
            assert_eq!(stored, ids, "{}: prompt {k}: reference ids", dir.display());
            Reference {
                ids,
                last_logits: data(&format!("last_logits_{k}"))
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
                greedy: ids_of(&p["greedy_ids"]),
            }
        })
        .collect()
}
