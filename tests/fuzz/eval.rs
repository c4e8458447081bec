//! Fuzzing the evaluation data reader (`eval::data::read`: GSM8K and GPT-3 arithmetic
//! JSONL) with line-, JSON- and byte-level mutations of the real data sets. See
//! `tests/fuzz/driver.rs` and `docs/faults.md`.

use std::path::Path;

use crate::driver::*;
use proptest::prelude::*;
use tokenaudit::eval::data::{self, Task};

fn load_gsm8k(p: &Path) -> Result<String, String> {
    data::read(p, Task::Gsm8k, 0)
        .map(|v| format!("{} problems", v.len()))
        .map_err(|e| format!("{e:#}"))
}

fn load_arith(p: &Path) -> Result<String, String> {
    data::read(p, Task::Arith, 0)
        .map(|v| format!("{} problems", v.len()))
        .map_err(|e| format!("{e:#}"))
}

fn load_gsm8k_first_5(p: &Path) -> Result<String, String> {
    data::read(p, Task::Gsm8k, 5)
        .map(|v| format!("{} problems", v.len()))
        .map_err(|e| format!("{e:#}"))
}

/// Whole-line replacements: broken JSON, wrong shapes, deep nesting, odd answers.
fn repl() -> Vec<String> {
    vec![
        "".into(),
        "{".into(),
        "}".into(),
        "null".into(),
        "[]".into(),
        "\"question\"".into(),
        "{\"question\": 5, \"answer\": \"#### 5\"}".into(),
        "{\"question\": \"q\", \"answer\": null}".into(),
        "{\"question\": \"q\", \"answer\": \"####\"}".into(),
        "{\"question\": \"q\", \"answer\": \"#### 1e400\"}".into(),
        "{\"question\": \"q\", \"answer\": \"#### -\"}".into(),
        "{\"question\": \"q\", \"answer\": \"#### ٣\"}".into(),
        "{\"question\": \"q\", \"answer\": \"#### 99999999999999999999999999999\"}".into(),
        "{\"context\": \"Q: 1+1\", \"completion\": \" NaN\"}".into(),
        "{\"context\": \"\", \"completion\": \"\"}".into(),
        "{\"question\": \"\\ud800\", \"answer\": \"#### 1\"}".into(),
        "{\"question\": \"q\", \"question\": \"dup\", \"answer\": \"#### 2\"}".into(),
        format!("{}1{}", "[".repeat(5000), "]".repeat(5000)),
        format!(
            "{{\"question\": \"{}\", \"answer\": \"#### 1\"}}",
            "x".repeat(100_000)
        ),
        "\u{feff}{\"question\": \"q\", \"answer\": \"#### 3\"}".into(),
        "\u{0}".into(),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Lines(Vec<(usize, LineEdit)>),
    /// A JSON-level edit of line i.
    Json(usize, usize, JsonEdit),
    Bytes(Vec<Mutation>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => proptest::collection::vec(line_edit(), 1..=3).prop_map(Edit::Lines),
        3 => (any::<usize>(), json_edit()).prop_map(|(l, (i, e))| Edit::Json(l, i, e)),
        2 => mutations().prop_map(Edit::Bytes),
    ]
}

fn apply_edit(name: &str, text: &[u8], e: &Edit) -> (String, Vec<u8>) {
    let r = repl();
    let refs: Vec<&str> = r.iter().map(|s| s.as_str()).collect();
    match e {
        Edit::Lines(edits) => (
            format!("{name}: {}", line_edit_kind(&edits[0].1, &refs)),
            lines_apply(text, edits, b'"', &refs),
        ),
        Edit::Json(l, i, ed) => {
            let lines: Vec<&[u8]> = text.split(|&c| c == b'\n').collect();
            let k = l % lines.len();
            let mut out = Vec::new();
            for (j, line) in lines.iter().enumerate() {
                if j == k {
                    match serde_json::from_slice::<serde_json::Value>(line) {
                        Ok(v) => out.extend(json_apply(&v, *i, ed).into_bytes()),
                        Err(_) => out.extend_from_slice(line),
                    }
                } else {
                    out.extend_from_slice(line);
                }
                if j + 1 < lines.len() {
                    out.push(b'\n');
                }
            }
            (format!("{name}: a line's {}", json_edit_kind(ed)), out)
        }
        Edit::Bytes(m) => {
            let s = Seed {
                bytes: text.to_vec(),
                bounds: line_bounds(text),
                ..Seed::default()
            };
            (label(name, m), apply(&s, m))
        }
    }
}

fn run(t: &Target, name: &str, text: &[u8], random: usize) {
    t.seed_loads(name, &[file("data.jsonl", text)]);
    let bounds = json_bounds(text);
    t.sweep_lazy(
        spread(bounds.len(), scaled(400))
            .into_iter()
            .map(|i| {
                let at = bounds[i];
                lazy(
                    format!("{name}: truncate at a structural character"),
                    move || vec![file("data.jsonl", &text[..at])],
                )
            })
            .collect(),
    );
    t.random(random, edit(), |e| {
        let (l, b) = apply_edit(name, text, e);
        (l, vec![file("data.jsonl", b)])
    });
}

#[test]
fn gsm8k() {
    let full = read("datasets/gsm8k/test.jsonl");
    let t = Target::new("eval-gsm8k", load_gsm8k);
    run(
        &t,
        "gsm8k test first 100",
        &head_lines(&full, 100),
        scaled(600),
    );
    run(&t, "gsm8k test", &full, scaled(50));
    t.report();
    let f = Target::new("eval-gsm8k-first-5", load_gsm8k_first_5);
    f.random(scaled(200), edit(), |e| {
        let (l, b) = apply_edit("gsm8k test first 100", &head_lines(&full, 100), e);
        (l, vec![file("data.jsonl", b)])
    });
    f.report();
}

#[test]
fn arithmetic() {
    let t = Target::new("eval-arith", load_arith);
    let full = read("datasets/gpt3_arithmetic/two_digit_addition.jsonl");
    run(
        &t,
        "two_digit_addition first 100",
        &head_lines(&full, 100),
        scaled(500),
    );
    t.report();
}

#[test]
fn eval_random_bytes() {
    const PREFIXES: &[&[u8]] = &[b"{\"question\": \"", b"{\"context\":", b"\n\n{"];
    let t = Target::new("eval-random", load_gsm8k);
    t.random(scaled(300), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("data.jsonl", with_prefix(PREFIXES, r))],
        )
    });
    t.report();
}

#[test]
fn eval_regressions() {
    let t = Target::new("eval-regressions", load_gsm8k);
    for (f, bytes) in regressions("eval") {
        t.case(&f, &[file("data.jsonl", bytes)])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    t.report();
}

#[test]
fn eval_catalogue() {
    let f = |s: &[u8]| vec![file("data.jsonl", s)];
    let t = Target::new("eval-catalogue", load_gsm8k);
    t.catalogue(vec![
        row("empty file", f(b""), "the file is empty"),
        row("blank lines only", f(b"\n \n\t\n"), "the file is empty"),
        row(
            "not UTF-8",
            f(b"{\"question\": \"\xff\"}\n"),
            "not UTF-8 text (invalid byte at offset 14)",
        ),
        row(
            "a line that is not JSON",
            f(b"{\"question\": \"q\", \"answer\": \"#### 1\"}\n{\"question\n"),
            "line 2: not JSON: EOF while parsing a string",
        ),
        row(
            "a line nested 5000 arrays deep",
            f(format!("{}1{}", "[".repeat(5000), "]".repeat(5000)).as_bytes()),
            "line 1: not JSON: recursion limit exceeded",
        ),
        row(
            "no \"answer\"",
            f(b"{\"question\": \"q\"}\n"),
            "line 1: expected GSM8K fields \"question\" and \"answer\"",
        ),
        row(
            "\"question\" a number",
            f(b"{\"question\": 5, \"answer\": \"#### 5\"}\n"),
            "expected GSM8K fields",
        ),
        row(
            "a lone surrogate escape",
            f(b"{\"question\": \"\\ud800\", \"answer\": \"#### 1\"}\n"),
            "line 1: not JSON: unexpected end of hex escape",
        ),
        row(
            "an answer of 1e400 (no number; counted, not fatal)",
            f(b"{\"question\": \"q\", \"answer\": \"#### 1e400\"}\n"),
            "",
        ),
        row(
            "an answer with no ####",
            f(b"{\"question\": \"q\", \"answer\": \"five\"}\n"),
            "",
        ),
        row(
            "\"question\" given twice (the last wins)",
            f(b"{\"question\": \"a\", \"question\": \"b\", \"answer\": \"#### 1\"}\n"),
            "",
        ),
    ]);
    let a = Target::new("eval-arith-catalogue", load_arith);
    a.catalogue(vec![
        row(
            "GSM8K lines read as arithmetic",
            f(b"{\"question\": \"q\", \"answer\": \"#### 1\"}\n"),
            "line 1: expected GPT-3 arithmetic fields \"context\" and \"completion\"",
        ),
        row(
            "a completion that is not a number",
            f(b"{\"context\": \"Q: 1+1\", \"completion\": \" NaN\"}\n"),
            "",
        ),
    ]);
}
