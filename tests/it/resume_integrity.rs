//! Issue 17, part 2: a verify log starts with a fingerprint of what wrote it; resuming
//! refuses another model, tokenizer, rule set or an unlocked second writer, and says what
//! differs. Logs and models are made here from the real test models.

use std::path::{Path, PathBuf};

use crate::common;
use crate::hardening::{bin, run};
use tokenaudit::verify::fingerprint::{Fingerprint, PREFIX};

fn model(name: &str) -> PathBuf {
    common::data().join("models").join(name)
}

fn verify(m: &Path, csv: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut c = bin();
    c.arg("verify")
        .arg(m)
        .args(["--ids", "5,6,7"])
        .arg("--csv")
        .arg(csv)
        .args(extra);
    run(c, 300)
}

/// Exit 1, one line, starting with `csv: ` + `head`, containing every `parts`; the log is
/// left as it was.
fn refused(r: (i32, String, String), csv: &Path, before: &[u8], head: &str, parts: &[&str]) {
    let (code, _, err) = r;
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let want = format!("tokenaudit: error: {}: {head}", csv.display());
    assert!(err.starts_with(&want), "{err}\nwant: {want}");
    for p in parts {
        assert!(err.contains(p), "{err}\nmissing: {p}");
    }
    assert_eq!(std::fs::read(csv).unwrap(), before, "the log was changed");
}

#[test]
fn a_log_resumes_only_the_run_that_wrote_it() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("v.csv");
    let (code, _, err) = verify(&model("tiny-gpt2tok"), &csv, &[]);
    assert_eq!(code, 0, "{err}");
    let before = std::fs::read(&csv).unwrap();
    let text = String::from_utf8(before.clone()).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with(PREFIX), "{first}");
    let fp = Fingerprint::parse(first).unwrap();
    for k in [
        "backend",
        "config",
        "dtype",
        "early_stop",
        "format",
        "model",
        "prompts",
        "thresholds",
        "tokenizer",
    ] {
        assert!(fp.0.contains_key(k), "{k} missing from {first}");
    }
    assert_eq!(text.lines().count(), 2 + 3);

    // The same run resumes: nothing new, nothing changed.
    let (code, out, err) = verify(&model("tiny-gpt2tok"), &csv, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(3 resumed)"), "{out}");
    assert_eq!(std::fs::read(&csv).unwrap(), before);

    let head = "was written by another run (";
    let tail = "resuming would mix the two in one file: remove it or choose another --csv";
    // Another model (same file names, other sizes and hashes; another tokenizer).
    refused(
        verify(&model("tiny-llama2tok"), &csv, &[]),
        &csv,
        &before,
        head,
        &[
            "config was ",
            "model was model.safetensors ",
            "tokenizer was tokenizer.json ",
            tail,
        ],
    );
    // Other thresholds, another early-stop rule.
    refused(
        verify(&model("tiny-gpt2tok"), &csv, &["--under", "0.02"]),
        &csv,
        &before,
        head,
        &["thresholds was 0.001 0.01 0.1 (now 0.001 0.02 0.1)", tail],
    );
    refused(
        verify(&model("tiny-gpt2tok"), &csv, &["--no-early-stop"]),
        &csv,
        &before,
        head,
        &["early_stop was true (now false)"],
    );
    // Another set of prompts.
    refused(
        verify(&model("tiny-gpt2tok"), &csv, &["--prompts", "repeats"]),
        &csv,
        &before,
        head,
        &["prompts was input_output,assistant_explain,repeats placeholder "],
    );
}

#[test]
fn a_log_without_a_fingerprint_or_held_by_another_run_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model("stories260K");
    // A log of an older version: header and rows, no fingerprint.
    let csv = tmp.path().join("old.csv");
    let old = b"id,decoded,input_output,assistant_explain,repeats,score,verdict,score_bound\n5,a,1,1,1,1,trained,exact\n";
    std::fs::write(&csv, old).unwrap();
    refused(
        verify(&m, &csv, &[]),
        &csv,
        old,
        "exists and is not a verify log of this version (its first line is no \
         #tokenaudit-verify fingerprint): remove it or choose another --csv",
        &[],
    );
    // A second writer while the first holds the lock.
    let csv = tmp.path().join("held.csv");
    let names = ["input_output", "assistant_explain", "repeats"];
    let fp = Fingerprint(Default::default());
    let log = tokenaudit::verify::csv::Log::open(&csv, &names, &fp).unwrap();
    let before = std::fs::read(&csv).unwrap();
    refused(
        verify(&m, &csv, &[]),
        &csv,
        &before,
        "another run is writing this log (it holds the file's lock); wait for it or choose \
         another --csv",
        &[],
    );
    drop(log);
    // Released, the file is still another run's.
    refused(
        verify(&m, &csv, &[]),
        &csv,
        &before,
        "was written by another run (",
        &[],
    );
}

#[test]
fn glitch_refuses_to_resume_another_models_partial_log() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g.csv");
    let partial = tmp.path().join("g.csv.partial.csv");
    // A killed glitch run of tiny-gpt2tok leaves its partial log.
    let (code, _, err) = verify(&model("tiny-gpt2tok"), &partial, &[]);
    assert_eq!(code, 0, "{err}");
    let before = std::fs::read(&partial).unwrap();
    let mut c = bin();
    c.arg("glitch")
        .arg(model("stories260K"))
        .arg("--csv")
        .arg(&out);
    let (code, _, err) = run(c, 300);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "{}: was written by another run (",
            partial.display()
        )),
        "{err}"
    );
    assert_eq!(std::fs::read(&partial).unwrap(), before);
    assert!(!out.exists());
}
