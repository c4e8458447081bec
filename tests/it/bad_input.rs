//! Bad input gets a one-line error naming the file and the problem, a non-zero exit, and
//! never a panic.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Run `tokenaudit audit --tokenizer PATH` and return (exit code, stderr).
fn audit(path: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .arg("audit")
        .arg("--tokenizer")
        .arg(path)
        .args(extra)
        .output()
        .expect("run tokenaudit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The error must be one line, name the file, contain `what`, and not be a panic.
fn assert_clean_error(path: &Path, extra: &[&str], what: &str) {
    let (code, err) = audit(path, extra);
    assert_ne!(code, 0, "expected failure for {}", path.display());
    assert_ne!(code, 101, "panicked on {}: {err}", path.display());
    assert!(
        !err.contains("panicked"),
        "panic on {}: {err}",
        path.display()
    );
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(err.contains(&*name), "error does not name {name}: {err}");
    assert!(
        err.to_lowercase().contains(&what.to_lowercase()),
        "error does not say '{what}': {err}"
    );
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn missing_file() {
    assert_clean_error(
        Path::new("/nonexistent/tokenizer.json"),
        &[],
        "no such file",
    );
}

#[test]
fn empty_file() {
    let d = tempfile::tempdir().unwrap();
    assert_clean_error(&write(d.path(), "tokenizer.json", b""), &[], "empty");
}

#[test]
fn truncated_json() {
    let d = tempfile::tempdir().unwrap();
    let full = std::fs::read(tok("gpt2/tokenizer.json")).unwrap();
    for cut in [100, 5_000, full.len() / 2, full.len() - 10] {
        let p = write(d.path(), "tokenizer.json", &full[..cut]);
        assert_clean_error(&p, &[], "truncated JSON");
    }
}

#[test]
fn truncated_sentencepiece() {
    let d = tempfile::tempdir().unwrap();
    let full = std::fs::read(tok("llama2/tokenizer.model")).unwrap();
    for cut in [1, 7, 1_000, 250_000, full.len() - 3] {
        let p = write(d.path(), "tokenizer.model", &full[..cut]);
        assert_clean_error(&p, &["--format", "sentencepiece"], "truncated");
    }
}

#[test]
fn tiktoken_line_not_base64() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "bad.tiktoken", b"IQ== 0\nIg== 1\n!!notbase64 2\n");
    assert_clean_error(&p, &[], "line 3: token is not base64");
    let p = write(d.path(), "bad2.tiktoken", b"IQ== 0\r\nIg== x\r\n");
    assert_clean_error(&p, &[], "line 2: rank");
}

#[test]
fn directory_without_tokenizer() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "README.md", b"nothing here");
    let (code, err) = audit(d.path(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no tokenizer found"), "{err}");
}

#[test]
fn unknown_format() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "mystery.bin",
        b"\x00\x01\x02 this is not a tokenizer",
    );
    assert_clean_error(&p, &[], "unknown tokenizer format");
}

#[test]
fn unknown_preset_and_bad_format_flag() {
    let (code, err) = audit(&tok("llama3/tokenizer.model"), &["--preset", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown tiktoken preset 'nope'"), "{err}");
    let (code, err) = audit(&tok("llama3/tokenizer.model"), &["--format", "xml"]);
    assert_eq!(code, 2, "clap usage error: {err}");
    assert!(err.contains("unknown format 'xml'"), "{err}");
}

#[test]
fn non_utf8_text_for_encode() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "latin1.txt", b"caf\xe9 au lait");
    let out = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .args(["encode", "--file"])
        .arg(&p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("latin1.txt: not UTF-8 text (invalid byte at offset 3)"),
        "{err}"
    );
}

/// Run `tokenaudit scan ARGS…` and return (exit code, stderr).
fn scan(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .arg("scan")
        .args(args)
        .output()
        .expect("run tokenaudit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_scan_error(args: &[&std::ffi::OsStr], needles: &[&str]) {
    let (code, err) = scan(args);
    assert_eq!(code, 1, "expected a clean failure: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for n in needles {
        assert!(err.contains(n), "error lacks '{n}': {err}");
    }
}

fn models(name: &str) -> std::path::PathBuf {
    data().join("models").join(name)
}

#[test]
fn scan_refuses_a_tokenizer_larger_than_the_matrix() {
    let m = models("stories260K");
    let t = models("tiny-llama2tok");
    assert_scan_error(
        &[m.as_os_str(), "--tokenizer".as_ref(), t.as_os_str()],
        &["32000 ids", "512 rows", "does not belong to this model"],
    );
}

#[test]
fn scan_refuses_pickle_and_broken_checkpoints() {
    let d = tempfile::tempdir().unwrap();
    let pkl = write(d.path(), "pytorch_model.bin", b"\x80\x02}q\x00.");
    assert_scan_error(&[pkl.as_os_str()], &["pytorch_model.bin", "pickle"]);
    // A safetensors file cut inside its data.
    let full = std::fs::read(models("tiny-gpt2tok").join("model.safetensors")).unwrap();
    let cut = write(d.path(), "model.safetensors", &full[..full.len() / 2]);
    assert_scan_error(&[cut.as_os_str()], &["model.safetensors"]);
    // A header whose offsets run past the end of the file.
    let mut lying = Vec::new();
    let header =
        br#"{"model.embed_tokens.weight":{"dtype":"F32","shape":[4,2],"data_offsets":[0,4096]}}"#;
    lying.extend((header.len() as u64).to_le_bytes());
    lying.extend(header);
    lying.extend([0u8; 32]);
    let p = write(d.path(), "lying.safetensors", &lying);
    assert_scan_error(
        &[p.as_os_str()],
        &["lying.safetensors", "model.embed_tokens.weight"],
    );
}

#[test]
fn scan_reports_a_missing_shard() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("model.safetensors.index.json"),
        br#"{"weight_map":{"model.embed_tokens.weight":"model-00001-of-00002.safetensors","lm_head.weight":"model-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let t = models("tiny-llama2tok");
    assert_scan_error(
        &[d.path().as_os_str(), "--tokenizer".as_ref(), t.as_os_str()],
        &["model-00001-of-00002.safetensors"],
    );
}

#[test]
fn scan_rejects_bad_counts_and_reference_ids() {
    let d = tempfile::tempdir().unwrap();
    let m = models("tiny-gpt2tok");
    let counts = write(d.path(), "counts.csv", b"token_id,count\n0,5\n1,many\n");
    assert_scan_error(
        &[m.as_os_str(), "--counts".as_ref(), counts.as_os_str()],
        &["counts.csv: line 3"],
    );
    let counts = write(d.path(), "far.csv", b"token_id,count\n999999,1\n");
    assert_scan_error(
        &[m.as_os_str(), "--counts".as_ref(), counts.as_os_str()],
        &["far.csv", "999999", "outside"],
    );
    assert_scan_error(
        &[
            m.as_os_str(),
            "--reference-ids".as_ref(),
            "1,2,60000".as_ref(),
        ],
        &["60000"],
    );
}
