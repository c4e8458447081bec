//! Fuzzing the tiktoken rank-file loader (`vocab::tiktoken`, with the presets' specials
//! and the merge derivation) with line-level and byte-level mutations of real rank files.
//! See `tests/fuzz/driver.rs` for the driver and `docs/faults.md` for the results.

use std::path::Path;

use crate::driver::*;
use base64::Engine;
use proptest::prelude::*;
use tokenaudit::vocab::{self, Format, LoadOptions};

fn load_with(p: &Path, preset: Option<&str>) -> Result<String, String> {
    let opts = LoadOptions {
        format: Some(Format::Tiktoken),
        preset: preset.map(String::from),
    };
    vocab::load(p, &opts)
        .map(|v| use_vocab(&v))
        .map_err(|e| e.to_string())
}

fn load_guess(p: &Path) -> Result<String, String> {
    load_with(p, None)
}
fn load_llama3(p: &Path) -> Result<String, String> {
    load_with(p, Some("llama3"))
}
fn load_gpt2(p: &Path) -> Result<String, String> {
    load_with(p, Some("gpt2"))
}
fn load_detected(p: &Path) -> Result<String, String> {
    vocab::load(p, &LoadOptions::default())
        .map(|v| use_vocab(&v))
        .map_err(|e| e.to_string())
}

const LOADERS: [(&str, Loader); 3] = [
    ("guessed preset", load_guess),
    ("preset llama3", load_llama3),
    ("preset gpt2", load_gpt2),
];

/// Replacements for a token or rank field, or a whole line.
const REPL: &[&str] = &[
    "4294967295",
    "4294967296",
    "1099511627776",
    "18446744073709551616",
    "-1",
    "1e3",
    "",
    " ",
    "0x10",
    "+5",
    "IQ==",
    "IQ",
    "IQ===",
    "=",
    "!!not base64",
    "\u{feff}IQ==",
    "IQ==\t0",
    "IQ== 0 0",
    "IQ== 100000000",
    "YQ== 0",
    "\r",
    "ü",
];

fn seeds() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "cl100k first 3000".into(),
            head_lines(&read("tokenizers/cl100k_base/cl100k_base.tiktoken"), 3000),
        ),
        (
            "llama3 first 2000".into(),
            head_lines(&read("tokenizers/llama3/tokenizer.model"), 2000),
        ),
        (
            "whisper multilingual first 2000".into(),
            head_lines(&read("tokenizers/whisper/multilingual.tiktoken"), 2000),
        ),
        (
            "qwen first 2000".into(),
            head_lines(&read("tokenizers/qwen/qwen.tiktoken"), 2000),
        ),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Lines(Vec<(usize, LineEdit)>),
    Bytes(Vec<Mutation>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => proptest::collection::vec(line_edit(), 1..=3).prop_map(Edit::Lines),
        1 => mutations().prop_map(Edit::Bytes),
    ]
}

fn apply_edit(name: &str, text: &[u8], e: &Edit) -> (String, Vec<u8>) {
    match e {
        Edit::Lines(edits) => (
            format!("{name}: {}", line_edit_kind(&edits[0].1, REPL)),
            lines_apply(text, edits, b' ', REPL),
        ),
        Edit::Bytes(muts) => {
            let seed = Seed {
                name: name.to_string(),
                bytes: text.to_vec(),
                bounds: line_bounds(text),
                fields: Vec::new(),
            };
            (label(name, muts), apply(&seed, muts))
        }
    }
}

#[test]
fn tiktoken_mutations() {
    let seeds = seeds();
    for (preset, loader) in LOADERS {
        let t = Target::new(&format!("tiktoken-{}", preset.replace(' ', "-")), loader);
        t.random(scaled(250), (0..seeds.len(), edit()), |(s, e)| {
            let (name, text) = &seeds[*s];
            let (l, bytes) = apply_edit(&format!("{name}, {preset}"), text, e);
            (l, vec![file("ranks.tiktoken", bytes)])
        });
        t.report();
    }
}

#[test]
fn tiktoken_full_size() {
    // A few mutations of whole real files (each that still parses derives every merge).
    let t = Target::new("tiktoken-full", load_guess);
    let full = read("tokenizers/whisper/multilingual.tiktoken");
    t.random(
        scaled(6),
        proptest::collection::vec(line_edit(), 1..=2),
        |edits| {
            (
                format!(
                    "whisper multilingual: {}",
                    line_edit_kind(&edits[0].1, REPL)
                ),
                vec![file(
                    "ranks.tiktoken",
                    lines_apply(&full, edits, b' ', REPL),
                )],
            )
        },
    );
    let cl = read("tokenizers/cl100k_base/cl100k_base.tiktoken");
    let lines = line_bounds(&cl);
    let (cl, lines) = (&cl, &lines);
    let cuts: Vec<Lazy> = spread(lines.len(), scaled(40))
        .into_iter()
        .filter(|&i| lines[i] < 60_000 || lines[i] > cl.len() - 200)
        .map(|i| {
            lazy("cl100k: truncate at a line boundary", move || {
                vec![file("ranks.tiktoken", &cl[..lines[i]])]
            })
        })
        .collect();
    t.sweep_lazy(cuts);
    t.report();
}

#[test]
fn tiktoken_hostile_shapes() {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let t = Target::new("tiktoken-hostile", load_guess);
    let base = head_lines(&read("tokenizers/cl100k_base/cl100k_base.tiktoken"), 300);
    let with = |extra: &str| {
        let mut b = base.clone();
        b.extend_from_slice(extra.as_bytes());
        vec![file("ranks.tiktoken", b)]
    };
    let mut cases: Vec<(String, Vec<File>)> = Vec::new();
    for rank in [
        "4294967295",
        "4294967294",
        "1000000000",
        "300000",
        "100000000",
    ] {
        cases.push((
            format!("rank {rank}"),
            with(&format!("{} {rank}\n", b64(b"zzzz"))),
        ));
    }
    // Long tokens whose merges can all be derived ("a" and "aa" are real cl100k tokens):
    // the merge derivation replays tiktoken's loop on each token.
    for n in [256usize, 4096, 65_536, 1 << 20] {
        cases.push((
            format!("a token of {n} bytes"),
            with(&format!("{} 300\n", b64(&vec![b'a'; n]))),
        ));
    }
    // The worst case for the merge derivation: every run of "a" up to n bytes is a token,
    // so every one of them merges all the way down.
    for n in [256usize, 1024] {
        let mut chain = String::new();
        for k in 1..=n {
            chain.push_str(&format!("{} {}\n", b64(&vec![b'a'; k]), k - 1));
        }
        cases.push((
            format!("runs of a up to {n} bytes"),
            vec![file("ranks.tiktoken", chain)],
        ));
    }
    for n in [4096usize, 65_536, 1 << 20] {
        let chain = format!(
            "{} 0\n{} 1\n{} 2\n{} 3\n",
            b64(b"a"),
            b64(b"aa"),
            b64(b"aaaa"),
            b64(&vec![b'a'; n])
        );
        cases.push((
            format!("a run of {n} a after a, aa, aaaa"),
            vec![file("ranks.tiktoken", chain)],
        ));
    }
    // Many long tokens.
    let mut many = String::new();
    for k in 0..64 {
        many.push_str(&format!("{} {}\n", b64(&vec![b'a'; 4096 + k]), 300 + k));
    }
    cases.push(("64 tokens of 4 KiB".to_string(), with(&many)));
    cases.push(("invalid UTF-8".to_string(), {
        let mut b = base.clone();
        b.extend_from_slice(b"\xff\xfe 300\n");
        vec![file("ranks.tiktoken", b)]
    }));
    cases.push(("NUL bytes".to_string(), with("\0\0\0 300\n")));
    cases.push((
        "only blank lines".to_string(),
        vec![file("ranks.tiktoken", "\n\n\r\n")],
    ));
    cases.push((
        "a 1 MiB line without a space".to_string(),
        with(&"A".repeat(1 << 20)),
    ));
    t.sweep(cases);
    t.report();
}

#[test]
fn tiktoken_random_bytes() {
    const PREFIXES: &[&[u8]] = &[b"IQ== 0\n", b"IQ== 0\nIg== 1\nIw== ", b"AAAA 0 "];
    let t = Target::new("tiktoken-random", load_detected);
    t.random(scaled(300), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("ranks.tiktoken", with_prefix(PREFIXES, r))],
        )
    });
    t.report();
}

#[test]
fn tiktoken_regressions() {
    let t = Target::new("tiktoken-regressions", load_guess);
    for (name, bytes) in regressions("tiktoken") {
        t.case(&name, &[file("ranks.tiktoken", bytes)])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    t.report();
}

#[test]
fn tiktoken_catalogue() {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let t = Target::new("tiktoken", load_guess);
    let f = |s: &str| vec![file("ranks.tiktoken", s)];
    let base = "IQ== 0\nIg== 1\nIw== 2\n";
    let with = |extra: &str| f(&format!("{base}{extra}"));
    t.catalogue(vec![
        row("empty file", f(""), "the file is empty"),
        row("only blank lines", f("\n\r\n\n"), "no ranks found"),
        row(
            "not UTF-8",
            vec![file("ranks.tiktoken", b"IQ== 0\n\xff\xfe 1\n")],
            "not UTF-8 text",
        ),
        row(
            "a line without a space",
            with("JA==\n"),
            "line 4: expected 'base64 rank'",
        ),
        row(
            "a 100 KB line without a space",
            with(&"A".repeat(100_000)),
            "line 4: expected 'base64 rank', got \"AAAA",
        ),
        row(
            "a token that is not base64",
            with("!!! 3\n"),
            "line 4: token is not base64",
        ),
        row(
            "a rank that is not a number",
            with("JA== x\n"),
            "line 4: rank \"x\" is not a number",
        ),
        row("rank -1", with("JA== -1\n"), "is not a number"),
        row(
            "rank 2^32 (overflows u32)",
            with("JA== 4294967296\n"),
            "is not a number",
        ),
        row(
            "rank u32::MAX",
            with("JA== 4294967295\n"),
            "rank 4294967295 (line 4) is far past the 4 ranks",
        ),
        row("rank 10^9", with("JA== 1000000000\n"), "is far past"),
        row(
            "a rank given twice",
            with("JA== 2\n"),
            "rank 2 appears twice",
        ),
        row(
            "a token given twice",
            with("Iw== 3\n"),
            "token appears twice",
        ),
        row(
            "a token of 4096 bytes",
            with(&format!("{} 3\n", b64(&[b'a'; 4096]))),
            "a token of 4096 bytes (the limit is 1024)",
        ),
        row("a gap of 100 ranks", with("JA== 103\n"), ""),
        row("CRLF line ends", f("IQ== 0\r\nIg== 1\r\n"), ""),
    ]);
    let p = Target::new("tiktoken-preset", |p: &Path| load_with(p, Some("nope")));
    p.catalogue(vec![row(
        "an unknown --preset",
        f(base),
        "unknown tiktoken preset 'nope'",
    )]);
}
