//! `--backend openai` against engines that fail: malformed answers, slowness, 503s, an
//! engine that dies. Every failure is a clear error with a non-zero exit, no panic, and
//! the rows finished before it stay in the CSV, so a rerun loses nothing.

use crate::common::engine::{fake, one_at_a_time};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fake::{FakeEngine, Fault};

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/models/tiny-llama2tok")
}

const IDS: &str = "278,29889,1000,2000,3000,4000,5000,6000,7000,8000,9000,10000,11000,12000,\
                   13000,14000,15000,16000,17000,18000";

fn verify(url: &str, csv: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .arg("verify")
        .arg(model())
        .args([
            "--ids",
            IDS,
            "--backend",
            "openai",
            "--url",
            url,
            "--concurrency",
            "2",
        ])
        .arg("--csv")
        .arg(csv)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Ids of the CSV's rows, checking every row is whole.
fn rows(csv: &Path) -> Vec<u32> {
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(csv)
        .unwrap();
    let h = r.headers().unwrap().clone();
    assert_eq!(h.len(), 8, "{h:?}");
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), 8);
            assert!(["trained", "inconclusive"].contains(&&rec[6]), "{rec:?}");
            rec[0].parse().unwrap()
        })
        .collect()
}

fn all_ids() -> Vec<u32> {
    IDS.split(',').map(|s| s.trim().parse().unwrap()).collect()
}

/// The rerun against a healthy engine completes the file: every id exactly once.
fn resume_completes(csv: &Path, before: usize) {
    let ok = FakeEngine::start(Fault::None, 0);
    let o = verify(&ok.url, csv, &["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["resumed"], before);
    assert_eq!(j["tokens"], all_ids().len());
    let mut got = rows(csv);
    got.sort();
    let mut want = all_ids();
    want.sort();
    assert_eq!(got, want);
}

fn failed_clearly(o: &Output, needle: &str) {
    let e = stderr(o);
    assert!(!o.status.success());
    assert!(!e.contains("panicked"), "{e}");
    assert!(
        e.contains("tokenaudit: error:") && e.contains(needle),
        "{e}"
    );
}

#[test]
fn healthy_fake_engine_scores_exact_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("v.csv");
    let eng = FakeEngine::start(Fault::None, 0);
    let o = verify(&eng.url, &csv, &["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    // 278 is the greedy token with p = 0.6: exact, trained after the first prompt run
    // (repeats, the last column: prompts run in RUN_ORDER).
    assert!(
        text.contains("\n278, the,,,6.000000e-1,6.000000e-1,trained,exact\n"),
        "{text}"
    );
    // Others are not among the top two: bounded by the smallest, 0.3: undecided.
    assert!(text.contains("\n1000,"), "{text}");
    assert!(text.contains(",3.000000e-1,inconclusive,upper\n"), "{text}");
    assert_eq!(rows(&csv).len(), all_ids().len());
    // The HTML report reads such a log: every row, bounds and inconclusive verdicts shown.
    let html = dir.path().join("r.html");
    let o = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .args(["report", "-t"])
        .arg(model())
        .arg("--verify-csv")
        .arg(&csv)
        .arg("-o")
        .arg(&html)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    // 278 (p 0.6) and 29889 (p 0.3) are exact and trained; the other 18 bounded by 0.3.
    assert_eq!(
        page.matches("badge v-inconclusive").count(),
        all_ids().len() - 2
    );
    assert_eq!(page.matches("≤ 0.3").count(), all_ids().len() - 2);
}

#[test]
fn malformed_json_is_a_clear_error_and_keeps_finished_rows() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("v.csv");
    let eng = FakeEngine::start(Fault::MalformedJson, 45);
    let o = verify(&eng.url, &csv, &[]);
    failed_clearly(&o, "not JSON");
    let kept = rows(&csv).len();
    assert!(kept >= 8 && kept < all_ids().len(), "{kept}");
    resume_completes(&csv, kept);
}

#[test]
fn slow_engine_times_out_with_retries() {
    // Its time bound must not meet a real engine's load from another module.
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("v.csv");
    let eng = FakeEngine::start(Fault::Slow(Duration::from_secs(5)), 45);
    let t = Instant::now();
    let o = verify(&eng.url, &csv, &["--timeout", "0.3", "--retries", "1"]);
    failed_clearly(&o, "no answer within 0.3 s (2 tries");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    let kept = rows(&csv).len();
    assert!(kept >= 8 && kept < all_ids().len(), "{kept}");
    resume_completes(&csv, kept);
}

#[test]
fn unavailable_engine_is_retried_until_it_answers() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("v.csv");
    let eng = FakeEngine::start(Fault::Unavailable(3), 10);
    let t = Instant::now();
    let o = verify(&eng.url, &csv, &["--json"]);
    // The 503s say `Retry-After: 1`, longer than the first backoffs (0.25 s, 0.5 s): with
    // two requests in flight, one of them meets two 503s and waits 2 s, not 0.75 s.
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(o.status.success(), "{}", stderr(&o));
    // The probe, 3 answered 503 and were asked again, then one per (token, prompt).
    let asked = eng.completions.load(std::sync::atomic::Ordering::SeqCst);
    assert!(asked >= 1 + 3 + all_ids().len(), "{asked}");
    assert_eq!(rows(&csv).len(), all_ids().len());
}

#[test]
fn dead_engine_is_a_clear_error_and_resume_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("v.csv");
    let eng = FakeEngine::start(Fault::Dead, 45);
    let o = verify(&eng.url, &csv, &["--retries", "1"]);
    failed_clearly(&o, "2 tries; is the engine running?");
    let kept = rows(&csv).len();
    assert!(kept >= 8 && kept < all_ids().len(), "{kept}");
    resume_completes(&csv, kept);
}

#[test]
fn as_many_logprobs_as_the_engine_allows() {
    let dir = tempfile::tempdir().unwrap();
    let eng = FakeEngine::start(Fault::MaxLogprobs(20), 0);
    let o = verify(&eng.url, &dir.path().join("v.csv"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refused 100 log-probabilities per step; using 20"),
        "{}",
        stderr(&o)
    );
    // The summary says what the engine gave, not what was asked.
    assert!(String::from_utf8_lossy(&o.stdout).contains("top 20 log-probabilities"));
    // An engine that refuses even one: the engine's own message, once.
    let none = FakeEngine::start(Fault::MaxLogprobs(0), 0);
    let o = verify(&none.url, &dir.path().join("w.csv"), &[]);
    failed_clearly(
        &o,
        "HTTP 400: {\"object\":\"error\",\"message\":\"Requested sample logprobs of 1",
    );
}

#[test]
fn api_key_is_sent_as_a_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let eng = FakeEngine::start(Fault::None, 0);
    let o = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .arg("verify")
        .arg(model())
        .args(["--ids", "278", "--backend", "openai", "--url", &eng.url])
        .args(["--api-key-env", "TOKENAUDIT_TEST_KEY", "--csv"])
        .arg(dir.path().join("v.csv"))
        .env("TOKENAUDIT_TEST_KEY", "s3cret")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(eng.auth.lock().unwrap().as_deref(), Some("Bearer s3cret"));
    // The key appears in no output.
    assert!(!String::from_utf8_lossy(&o.stdout).contains("s3cret"));
    assert!(!stderr(&o).contains("s3cret"));
}

#[test]
fn bad_backend_flags_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("v.csv");
    for (args, needle) in [
        (vec!["--backend", "openai"], "needs --url"),
        (
            vec!["--url", "http://127.0.0.1:9/v1"],
            "--url needs --backend openai",
        ),
        (
            vec!["--backend", "openai", "--url", "ftp://x"],
            "expected http://",
        ),
        (
            vec![
                "--backend",
                "openai",
                "--url",
                "http://127.0.0.1:9/v1",
                "--api-key-env",
                "TOKENAUDIT_NO_SUCH_VAR",
            ],
            "not set",
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
            .arg("verify")
            .arg(model())
            .args(["--ids", "5", "--csv"])
            .arg(&csv)
            .args(&args)
            .output()
            .unwrap();
        failed_clearly(&o, needle);
    }
    // Nothing listens on port 9: refused connections are retried, then a clear error.
    let o = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .arg("verify")
        .arg(model())
        .args([
            "--ids",
            "5",
            "--backend",
            "openai",
            "--url",
            "http://127.0.0.1:9/v1",
            "--retries",
            "1",
        ])
        .output()
        .unwrap();
    failed_clearly(&o, "cannot connect");
}
