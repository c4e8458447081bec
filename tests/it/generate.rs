//! `pause`, `generate` and `eval` on the real tiny models: rankings carry measured KL,
//! seeded generation is reproducible across runs and thread counts, evaluation runs on the
//! arithmetic and GSM8K files, and bad input is reported clearly.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

fn model(name: &str) -> PathBuf {
    common::data().join("models").join(name)
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
}

#[test]
fn pause_ranking_measures_kl() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("pause.csv");
    let out = bin()
        .arg("pause")
        .arg(model("tiny-llama2tok"))
        .args(["--n", "8", "--per-source", "4", "--json", "--csv"])
        .arg(&csv)
        .arg("--contexts")
        .arg(common::data().join("corpus/tinyshakespeare.txt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["contexts"], 8);
    let c = j["candidates"].as_array().unwrap();
    assert!(c.len() >= 5, "{c:?}");
    // Ranked: passing candidates first, by increasing mean KL; every KL is a real positive number.
    let passing: Vec<f64> = c
        .iter()
        .filter(|x| x["passes"] == true)
        .map(|x| x["mean_kl"].as_f64().unwrap())
        .collect();
    assert!(passing.windows(2).all(|w| w[0] <= w[1]), "{passing:?}");
    assert!(passing.iter().all(|&k| k > 0.0 && k.is_finite()));
    assert_eq!(j["recommended"]["id"], c[0]["id"]);
    let rows = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(&csv)
        .unwrap()
        .records()
        .count();
    assert_eq!(rows, c.len());
}

fn generate(seed: &str, threads: &str, sampler: &str) -> (String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace.csv");
    let out = bin()
        .env("RAYON_NUM_THREADS", threads)
        .arg("generate")
        .arg(model("tiny-llama2tok"))
        .args([
            "--prompt",
            "Once upon a time",
            "--max-tokens",
            "40",
            "--seed",
            seed,
        ])
        .args(["--sampler", sampler, "--trace"])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(&trace).unwrap(),
    )
}

#[test]
fn seeded_generation_is_reproducible_across_runs_and_threads() {
    for sampler in ["entropix", "min-p"] {
        let a = generate("42", "2", sampler);
        let b = generate("42", "2", sampler);
        let c = generate("42", "1", sampler);
        assert_eq!(a, b, "{sampler}: same seed, same run setup");
        assert_eq!(a.0, c.0, "{sampler}: text differs between 1 and 2 threads");
        let ids = |t: &str| {
            t.lines()
                .map(|l| l.split(',').nth(1).unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&a.1),
            ids(&c.1),
            "{sampler}: token ids differ between thread counts"
        );
        // The trace has one row per step with entropy, varentropy and state.
        assert!(a
            .1
            .starts_with("step,id,token,entropy_bits,varentropy,state,pause\n"));
        assert!(a.1.lines().count() > 5);
    }
    let d = generate("43", "2", "entropix");
    assert_ne!(
        generate("42", "2", "entropix").0,
        d.0,
        "different seeds should differ"
    );
}

#[test]
fn eval_runs_samplers_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    for (task, file) in [
        ("arith", "datasets/gpt3_arithmetic/two_digit_addition.jsonl"),
        ("gsm8k", "datasets/gsm8k/test.jsonl"),
    ] {
        let csv = tmp.path().join(format!("{task}.csv"));
        let out = bin()
            .arg("eval")
            .arg(model("tiny-llama2tok"))
            .args(["--task", task, "--n", "12", "--max-tokens", "24", "--json"])
            .args(["--sampler", "greedy,min-p,entropix", "--data"])
            .arg(common::data().join(file))
            .arg("--csv")
            .arg(&csv)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let r = j["results"].as_array().unwrap();
        assert_eq!(r.len(), 3);
        for s in r {
            let acc = s["accuracy"].as_f64().unwrap_or(0.0);
            let (lo, hi) = (
                s["ci95"][0].as_f64().unwrap(),
                s["ci95"][1].as_f64().unwrap(),
            );
            assert!(lo <= acc && acc <= hi, "{s}");
            assert!(s["mean_tokens"].as_f64().unwrap() > 0.0, "{s}");
        }
        let answers = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_path(&csv)
            .unwrap()
            .records()
            .count();
        let scored: u64 = r
            .iter()
            .map(|s| {
                s["problems"].as_u64().unwrap()
                    - s["unparseable_gold"].as_u64().unwrap()
                    - s["too_long"].as_u64().unwrap()
            })
            .sum();
        assert_eq!(answers as u64, scored);
    }
}

#[test]
fn bad_sampler_input() {
    let m = model("tiny-llama2tok");
    // A pause token outside the vocabulary.
    let out = bin()
        .arg("generate")
        .arg(&m)
        .args(["--prompt", "Hi", "--pause-token", "999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("999999") && err.contains("outside the vocabulary"),
        "{err}"
    );
    // Contradictory flags: a warning, not an error.
    let out = bin()
        .arg("generate")
        .arg(&m)
        .args([
            "--prompt",
            "Hi",
            "--sampler",
            "greedy",
            "--temp",
            "0.7",
            "--max-tokens",
            "3",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("--temp"), "{err}");
    // An eval file with an unparseable gold answer: counted, not fatal.
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("bad.jsonl");
    std::fs::write(
        &f,
        "{\"context\": \"\\n\\nQ: What is 1 plus 1?\\n\\nA:\", \"completion\": \" 2\"}\n\
         {\"context\": \"\\n\\nQ: What is 2 plus 2?\\n\\nA:\", \"completion\": \" four\"}\n",
    )
    .unwrap();
    let out = bin()
        .arg("eval")
        .arg(&m)
        .args([
            "--task",
            "arith",
            "--sampler",
            "greedy",
            "--max-tokens",
            "4",
            "--json",
            "--data",
        ])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["results"][0]["unparseable_gold"], 1);
    // A file in another format.
    std::fs::write(&f, "{\"foo\": 1}\n").unwrap();
    let out = bin()
        .arg("eval")
        .arg(&m)
        .args(["--task", "arith", "--data"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected GPT-3 arithmetic fields"));
}

/// An instruct model is prompted in its own chat template by default: SmolLM2-135M-
/// Instruct (the released Q4_1 GGUF) answers a question in its assistant turn and stops at
/// its end of turn (`<|im_end|>`); `--system` replaces the template's default system
/// message; `--no-chat` gives the plain prompt; `--system` needs a template.
#[test]
fn generate_uses_the_chat_template_and_stops_at_the_end_of_turn() {
    let gguf =
        crate::common::data().join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let run = |extra: &[&str]| {
        let out = bin()
            .arg("generate")
            .arg(&gguf)
            .args([
                "-p",
                "What is the capital of France?",
                "--sampler",
                "greedy",
            ])
            .args(["--max-tokens", "24"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (out, err) = run(&[]);
    assert!(
        out.starts_with("<|im_start|>system\n") && out.contains("<|im_start|>assistant\n"),
        "{out}"
    );
    let answer = out.split("<|im_start|>assistant\n").nth(1).unwrap();
    assert!(answer.contains("Paris"), "{answer:?}");
    assert!(err.contains("stopped by eos"), "{err}");
    assert!(err.contains("chat template of"), "{err}");
    let (out, err) = run(&["--system", "Answer in one word."]);
    assert!(
        out.starts_with("<|im_start|>system\nAnswer in one word.<|im_end|>"),
        "{out}"
    );
    assert!(err.contains("stopped by eos"), "{err}");
    let (out, err) = run(&["--no-chat"]);
    assert!(out.starts_with("What is the capital of France?"), "{out}");
    assert!(!out.contains("<|im_start|>"), "{out}");
    assert!(!err.contains("chat template"), "{err}");

    let out = bin()
        .arg("generate")
        .arg(model("tiny-llama2tok"))
        .args(["-p", "Once", "--system", "x", "--sampler", "greedy"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--system needs a chat template"), "{err}");
}
