//! Issue 17, part 7: the small bugs, each with its exact outcome.

use crate::common;
use crate::hardening::{bin, run};

fn llama() -> std::path::PathBuf {
    common::data().join("models/tiny-llama2tok")
}

#[test]
fn generate_max_tokens_zero_generates_nothing() {
    let mut c = bin();
    c.arg("generate")
        .arg(llama())
        .args(["--prompt", "Once upon a time", "--max-tokens", "0"]);
    let (code, out, err) = run(c, 120);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Once upon a time\n");
    assert!(
        err.contains("tokenaudit: 0 tokens, 0 pauses, stopped by max_tokens"),
        "{err}"
    );
}

#[test]
fn the_first_generated_token_keeps_its_space() {
    // SentencePiece drops the space of a sequence's first piece: decoded alone, "▁upon"
    // would print as "Onceupon".
    let mut c = bin();
    c.arg("generate").arg(llama()).args([
        "--prompt",
        "Once",
        "--max-tokens",
        "3",
        "--sampler",
        "greedy",
    ]);
    let (code, out, err) = run(c, 120);
    assert_eq!(code, 0, "{err}");
    // The text after the prompt is the decoding of prompt + generated ids, minus the
    // prompt's: it starts with the space the first generated piece carries.
    assert!(out.starts_with("Once "), "{out:?}");
    assert!(!out.starts_with("Once  "), "{out:?}");
}

#[test]
fn pause_n_zero_uses_every_context_line() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx.txt");
    std::fs::write(
        &ctx,
        "The first line of text is here.\nshort\nThe second usable line of text.\n\nA third line, long enough.\n",
    )
    .unwrap();
    for (n, want) in [("0", 3), ("2", 2)] {
        let mut c = bin();
        c.arg("pause")
            .arg(llama())
            .args(["--n", n, "--per-source", "2", "--json", "--contexts"])
            .arg(&ctx);
        let (code, out, err) = run(c, 300);
        assert_eq!(code, 0, "{err}");
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(j["contexts"], want, "--n {n}");
    }
    let mut c = bin();
    c.arg("pause").arg(llama()).args(["--per-source", "0"]);
    let (code, _, err) = run(c, 60);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--per-source must be at least 1"), "{err}");
}
