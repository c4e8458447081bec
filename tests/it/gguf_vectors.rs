//! llama.cpp's tokenizer test vectors (`models/ggml-vocab-*.gguf.inp` / `.out`), which
//! llama.cpp generates with each model's Hugging Face tokenizer: loading the GGUF vocabulary
//! must reproduce them exactly.
//!
//! `.inp` holds the inputs, each followed by a line `__ggml_vocab_test__` (the newline
//! before the marker belongs to the marker, not the input); `.out` holds one line of
//! space-separated ids per input, without BOS.

use std::path::{Path, PathBuf};

use tokenaudit::vocab::{self, Format, LoadOptions, Vocab};

const SEPARATOR: &str = "\n__ggml_vocab_test__\n";

/// Inputs we knowingly encode differently: (vocabulary file, input index, reason).
/// Every entry must still fail; a fixed one has to be removed from the list.
const KNOWN_FAILURES: &[(&str, usize, &str)] = &[];

fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        dir.is_dir(),
        "test data folder {} is missing (it holds the GGUF vocabularies and llama.cpp's test vectors)",
        dir.display()
    );
    dir
}

fn gguf_dir() -> PathBuf {
    data_dir().join("tokenizers/gguf")
}

/// Split an `.inp` file into its inputs.
fn read_inputs(path: &Path) -> Vec<String> {
    let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut inputs: Vec<String> = raw.split(SEPARATOR).map(str::to_string).collect();
    // The file ends with a separator, which leaves one empty tail.
    assert_eq!(
        inputs.pop().as_deref(),
        Some(""),
        "{}: does not end with the separator",
        path.display()
    );
    inputs
}

/// Parse an `.out` file: one line of ids per input.
fn read_expected(path: &Path) -> Vec<Vec<u32>> {
    let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    raw.lines()
        .map(|line| {
            line.split_whitespace()
                .map(|t| {
                    t.parse()
                        .unwrap_or_else(|e| panic!("{}: bad id {t:?}: {e}", path.display()))
                })
                .collect()
        })
        .collect()
}

fn load_gguf(path: &Path) -> Vocab {
    let opts = LoadOptions {
        format: Some(Format::Gguf),
        preset: None,
    };
    vocab::load(path, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// Encode every input of one vocabulary, print a summary, and fail on any mismatch that
/// is not a listed known failure (or on a listed one that now passes).
fn check_vectors(file: &str) {
    let path = gguf_dir().join(file);
    let inputs = read_inputs(&path.with_extension("gguf.inp"));
    let expected = read_expected(&path.with_extension("gguf.out"));
    assert_eq!(
        inputs.len(),
        expected.len(),
        "{file}: .inp and .out differ in length"
    );
    let vocab = load_gguf(&path);

    let mut passed = 0;
    let mut problems = Vec::new();
    for (i, (text, want)) in inputs.iter().zip(&expected).enumerate() {
        let got = vocab
            .encode(text)
            .unwrap_or_else(|e| panic!("{file}: input {i} {text:?}: {e}"));
        let known = KNOWN_FAILURES.iter().any(|k| k.0 == file && k.1 == i);
        match (got == *want, known) {
            (true, false) => passed += 1,
            (false, true) => {}
            (true, true) => problems.push(format!(
                "input {i} {text:?} is listed as a known failure but now passes"
            )),
            (false, false) => problems.push(format!(
                "input {i} {text:?}\n    expected {want:?}\n    got      {got:?}"
            )),
        }
    }
    let known = KNOWN_FAILURES.iter().filter(|k| k.0 == file).count();
    eprintln!(
        "{file}: {passed}/{} passed, {known} known failures ({})",
        inputs.len(),
        vocab.detail
    );
    assert!(
        problems.is_empty(),
        "{file}: {} unexpected results:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// The vocabularies with test vectors in the data folder (command-r's .gguf is not shipped).
const VOCABS: &[&str] = &[
    "ggml-vocab-bert-bge.gguf",
    "ggml-vocab-deepseek-coder.gguf",
    "ggml-vocab-deepseek-llm.gguf",
    "ggml-vocab-falcon.gguf",
    "ggml-vocab-gpt-2.gguf",
    "ggml-vocab-llama-bpe.gguf",
    "ggml-vocab-llama-spm.gguf",
    "ggml-vocab-mpt.gguf",
    "ggml-vocab-phi-3.gguf",
    "ggml-vocab-qwen2.gguf",
    "ggml-vocab-refact.gguf",
    "ggml-vocab-starcoder.gguf",
];

#[test]
fn every_vocabulary_with_vectors_is_checked() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(gguf_dir()).expect("gguf data folder") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let has_vectors =
            path.with_extension("gguf.inp").exists() && path.with_extension("gguf.out").exists();
        if name.ends_with(".gguf") && has_vectors {
            found.push(name.to_string());
        }
    }
    found.sort();
    assert_eq!(
        found, VOCABS,
        "update VOCABS and add a test for new vocabularies"
    );
    for k in KNOWN_FAILURES {
        assert!(
            VOCABS.contains(&k.0),
            "known failure for unknown vocabulary {}",
            k.0
        );
    }
}

#[test]
fn bert_bge() {
    check_vectors("ggml-vocab-bert-bge.gguf");
}

#[test]
fn deepseek_coder() {
    check_vectors("ggml-vocab-deepseek-coder.gguf");
}

#[test]
fn deepseek_llm() {
    check_vectors("ggml-vocab-deepseek-llm.gguf");
}

#[test]
fn falcon() {
    check_vectors("ggml-vocab-falcon.gguf");
}

#[test]
fn gpt_2() {
    check_vectors("ggml-vocab-gpt-2.gguf");
}

#[test]
fn llama_bpe() {
    check_vectors("ggml-vocab-llama-bpe.gguf");
}

#[test]
fn llama_spm() {
    check_vectors("ggml-vocab-llama-spm.gguf");
}

#[test]
fn mpt() {
    check_vectors("ggml-vocab-mpt.gguf");
}

#[test]
fn phi_3() {
    check_vectors("ggml-vocab-phi-3.gguf");
}

#[test]
fn qwen2() {
    check_vectors("ggml-vocab-qwen2.gguf");
}

#[test]
fn refact() {
    check_vectors("ggml-vocab-refact.gguf");
}

#[test]
fn starcoder() {
    check_vectors("ggml-vocab-starcoder.gguf");
}

/// The GGUF copy of the Llama-2 vocabulary and Meta's SentencePiece model must be the
/// same tokenizer: same raw entries, and the same ids for every line of a real corpus.
#[test]
fn llama_spm_gguf_matches_sentencepiece_model() {
    let gguf = load_gguf(&gguf_dir().join("ggml-vocab-llama-spm.gguf"));
    let spm_path = data_dir().join("tokenizers/llama2/tokenizer.model");
    let spm = vocab::spm::load(&spm_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gguf.len(), spm.len());
    assert_eq!(gguf.raw, spm.raw, "raw vocabulary entries differ");

    let corpus_path = data_dir().join("corpus/tinyshakespeare.txt");
    let corpus = std::fs::read_to_string(&corpus_path)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus_path.display()));
    let mut lines = 0;
    for (n, line) in corpus.lines().enumerate() {
        let a = gguf
            .encode(line)
            .unwrap_or_else(|e| panic!("line {n}: {e}"));
        let b = spm.encode(line).unwrap_or_else(|e| panic!("line {n}: {e}"));
        assert_eq!(a, b, "line {} {line:?}", n + 1);
        lines += 1;
    }
    assert!(lines > 1000, "corpus unexpectedly short");
}
