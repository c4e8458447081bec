//! Fuzzing format detection (`vocab::detect`: a file or a model directory sniffed by its
//! content, then the loader it picks) with random bytes under every file name the
//! detection looks for, and with the first bytes of each real format grafted onto random
//! or other formats' bytes. See `tests/fuzz/driver.rs` and `docs/faults.md`.

use std::path::Path;

use crate::driver::*;
use proptest::prelude::*;
use tokenaudit::vocab::{self, LoadOptions};

fn load_file(p: &Path) -> Result<String, String> {
    vocab::load(p, &LoadOptions::default())
        .map(|v| format!("{} as {}", use_vocab(&v), v.format))
        .map_err(|e| e.to_string())
}

fn load_dir(p: &Path) -> Result<String, String> {
    load_file(p.parent().expect("case dir"))
}

const NAMES: &[&str] = &[
    "tokenizer.json",
    "tokenizer.model",
    "encoder.json",
    "vocab.json",
    "vocab.bpe",
    "merges.txt",
    "x.tiktoken",
    "x.gguf",
    "x.model",
    "README.md",
];

/// The first bytes of each real format, to steer detection.
fn heads() -> Vec<Vec<u8>> {
    let cut = |rel: &str, n: usize| {
        let b = read(rel);
        b[..n.min(b.len())].to_vec()
    };
    vec![
        Vec::new(),
        cut("tokenizers/gguf/ggml-vocab-llama-spm.gguf", 64),
        cut("models/stories260K/tokenizer.json", 200),
        cut("tokenizers/gpt2/encoder.json", 200),
        cut("tokenizers/gpt2/vocab.bpe", 200),
        cut("tokenizers/cl100k_base/cl100k_base.tiktoken", 200),
        cut("models/stories260K/tokenizer.model", 200),
        b"\xef\xbb\xbf{\"model\": ".to_vec(),
        b"   \n\t{".to_vec(),
        b"#version: 0.2\n".to_vec(),
    ]
}

#[test]
fn detect_random() {
    let heads = heads();
    let f = Target::new("detect-file", load_file);
    let d = Target::new("detect-dir", load_dir);
    let strategy = (
        0..NAMES.len(),
        0..heads.len(),
        proptest::collection::vec(any::<u8>(), 0..512),
        proptest::option::of(0..NAMES.len()),
    );
    let make = |(n, h, tail, other): &(usize, usize, Vec<u8>, Option<usize>)| {
        let mut b = heads[*h].clone();
        b.extend_from_slice(tail);
        let mut files = vec![file(NAMES[*n], &b)];
        // Sometimes a second file beside it (a merges file for encoder.json, a second
        // candidate in a directory).
        if let Some(o) = other {
            if NAMES[*o] != NAMES[*n] {
                files.push(file(NAMES[*o], tail));
            }
        }
        (format!("{} starting like format #{h}", NAMES[*n]), files)
    };
    f.random(scaled(500), strategy.clone(), make);
    f.report();
    d.random(scaled(300), strategy, make);
    d.report();
}

#[test]
fn detect_empty_and_odd_files() {
    let t = Target::new("detect-odd", load_file);
    let mut cases: Vec<(String, Vec<File>)> = Vec::new();
    for n in NAMES {
        cases.push((format!("empty {n}"), vec![file(n, b"")]));
        cases.push((format!("whitespace-only {n}"), vec![file(n, b" \n\t\r\n")]));
        cases.push((format!("one NUL byte {n}"), vec![file(n, b"\0")]));
        cases.push((format!("GGUF magic only {n}"), vec![file(n, b"GGUF")]));
        cases.push((format!("a lone brace {n}"), vec![file(n, b"{")]));
        cases.push((format!("a 0x0A byte {n}"), vec![file(n, b"\x0a")]));
    }
    t.sweep(cases);
    let d = Target::new("detect-odd-dir", load_dir);
    d.sweep([
        (
            "directory with only README.md".to_string(),
            vec![file("README.md", b"hello")],
        ),
        (
            "directory with an empty tokenizer.json".to_string(),
            vec![file("README.md", b"hello"), file("tokenizer.json", b"")],
        ),
        (
            "directory with encoder.json and no merges".to_string(),
            vec![file("encoder.json", b"{\"a\": 0}")],
        ),
    ]);
    t.report();
    d.report();
}

/// Model directories unpacked from an archive can hold symbolic links and named pipes
/// where files are expected. Reading `/dev/zero` never ends, and opening a FIFO blocks.
#[test]
fn detect_links_and_pipes() {
    let tk = read("models/stories260K/tokenizer.json");
    let t = Target::new("detect-links", load_dir);
    let cases = [
        (
            "tokenizer_config.json -> /dev/zero".to_string(),
            vec![
                file("tokenizer.json", &tk),
                file("@tokenizer_config.json", "/dev/zero"),
            ],
        ),
        (
            "tokenizer_config.json is a FIFO".to_string(),
            vec![
                file("tokenizer.json", &tk),
                file("|tokenizer_config.json", ""),
            ],
        ),
        (
            "tokenizer.json -> /dev/zero".to_string(),
            vec![file("@tokenizer.json", "/dev/zero")],
        ),
        (
            "tokenizer.json is a FIFO".to_string(),
            vec![file("|tokenizer.json", "")],
        ),
        (
            "tokenizer.json -> a directory".to_string(),
            vec![file("@tokenizer.json", "/")],
        ),
        (
            "tokenizer.json -> itself".to_string(),
            vec![file("@tokenizer.json", "tokenizer.json")],
        ),
        (
            "encoder.json with vocab.bpe -> /dev/zero".to_string(),
            vec![
                file("encoder.json", b"{\"a\": 0}"),
                file("@vocab.bpe", "/dev/zero"),
            ],
        ),
        (
            "encoder.json with vocab.bpe a FIFO".to_string(),
            vec![file("encoder.json", b"{\"a\": 0}"), file("|vocab.bpe", "")],
        ),
        (
            "x.tiktoken -> /dev/zero".to_string(),
            vec![file("@x.tiktoken", "/dev/zero")],
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(l, f)| t.case(l, f).err())
        .collect();
    t.report();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn detect_catalogue() {
    let t = Target::new("detect-catalogue", load_file);
    let d = Target::new("detect-dir-catalogue", load_dir);
    t.catalogue(vec![
        row("empty tokenizer.json", vec![file("tokenizer.json", "")], "tokenizer.json: the file is empty"),
        row("bytes of no known format", vec![file("x.bin", b"\x00\x01\x02 not a tokenizer")], "unknown tokenizer format (not tokenizer.json, encoder.json/vocab.bpe, SentencePiece, tiktoken, GGUF or tekken.json); use --format to say which it is"),
        row("a flat JSON map without vocab.bpe", vec![file("vocab.json", "{\"a\": 0}")], "needs both files; vocab.bpe or merges.txt not found beside it"),
        row("\"GGUF\" and nothing else", vec![file("x.gguf", "GGUF")], "x.gguf: truncated: version needs 4 bytes at offset 4, file has 4"),
        row("one 0x0A byte (looks like SentencePiece)", vec![file("x.model", b"\x0a")], "x.model: truncated varint at byte 1"),
        row("\"#version\" and nothing else", vec![file("merges.txt", "#version")], "a GPT-2 style BPE needs both files; encoder.json or vocab.json not found beside it"),
    ]);
    d.catalogue(vec![
        row(
            "a directory with only README.md",
            vec![file("README.md", "hello")],
            "<dir>: no tokenizer found in this directory",
        ),
        row(
            "tokenizer.json -> /dev/zero",
            vec![file("@tokenizer.json", "/dev/zero")],
            "<dir>: no tokenizer found in this directory",
        ),
        row(
            "tokenizer.json is a named pipe",
            vec![file("|tokenizer.json", "")],
            "<dir>: no tokenizer found in this directory",
        ),
        row(
            "tokenizer_config.json -> /dev/zero (ignored)",
            vec![
                file("tokenizer.json", read("models/stories260K/tokenizer.json")),
                file("@tokenizer_config.json", "/dev/zero"),
            ],
            "",
        ),
        row(
            "tokenizer_config.json is a named pipe (ignored)",
            vec![
                file("tokenizer.json", read("models/stories260K/tokenizer.json")),
                file("|tokenizer_config.json", ""),
            ],
            "",
        ),
    ]);
}
