//! Fuzzing the CSV inputs: `scan --counts` (`scan::read_counts`), `verify --candidates`
//! (`verify::csv::read_candidates`) and the resumable verify log
//! (`verify::csv::Log::open`), from the real `token_counts.csv` and `verification.csv`
//! files and a scan CSV and a verify log written in the documented formats. See
//! `tests/fuzz/driver.rs` and `docs/faults.md`.

use std::path::Path;

use crate::driver::*;
use proptest::prelude::*;
use tokenaudit::verify::csv::{self as resume, Log};
use tokenaudit::verify::fingerprint::Fingerprint;
use tokenaudit::verify::prompts::TEMPLATES;
use tokenaudit::verify::{Row, Verdict};

fn err(e: anyhow::Error) -> String {
    format!("{e:#}")
}

fn load_counts_gpt2(p: &Path) -> Result<String, String> {
    tokenaudit::scan::read_counts(p, 50257)
        .map(|c| format!("{} counts", c.iter().flatten().count()))
        .map_err(err)
}

fn load_counts_small(p: &Path) -> Result<String, String> {
    tokenaudit::scan::read_counts(p, 512)
        .map(|c| format!("{} counts", c.iter().flatten().count()))
        .map_err(err)
}

fn load_candidates(p: &Path) -> Result<String, String> {
    resume::read_candidates(p)
        .map(|c| format!("{} candidates", c.len()))
        .map_err(err)
}

/// The fingerprint every fuzzed log is opened with (and seeded with).
fn fp() -> Fingerprint {
    Fingerprint(
        [("model", "stories260K 1056540 0011"), ("dtype", "f32")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn load_log(p: &Path) -> Result<String, String> {
    let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
    Log::open(p, &names, &fp())
        .map(|l| format!("{} rows done", l.done.len()))
        .map_err(err)
}

/// Replacements for a CSV field or line.
const REPL: &[&str] = &[
    "18446744073709551616",
    "18446744073709551615",
    "4294967296",
    "4294967295",
    "50257",
    "-1",
    "1e3",
    " 5 ",
    "",
    "\"5\"",
    "\"unterminated",
    "5,6,7",
    "０",
    "NaN",
    "inf",
    "1e39",
    "\u{feff}0",
    "0x10",
    "true",
    "strongly_under_trained",
    "bogus_verdict",
    "\"a,b\"\"c\"",
    "\r",
    "\u{0}",
    "token_id,count",
    "id,decoded,score,verdict",
];

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
            lines_apply(text, edits, b',', REPL),
        ),
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

/// Every cut at a line boundary, and a few random edits, of `text`.
fn run(t: &Target, name: &str, file_name: &str, text: &[u8], random: usize) {
    t.seed_loads(name, &[file(file_name, text)]);
    let bounds = line_bounds(text);
    t.sweep_lazy(
        spread(bounds.len(), scaled(300))
            .into_iter()
            .map(|i| {
                let at = bounds[i];
                lazy(format!("{name}: truncate at a line boundary"), move || {
                    vec![file(file_name, &text[..at])]
                })
            })
            .collect(),
    );
    t.random(random, edit(), |e| {
        let (l, b) = apply_edit(name, text, e);
        (l, vec![file(file_name, b)])
    });
}

#[test]
fn counts_csv() {
    let full = read("models/tiny-gpt2tok/token_counts.csv");
    let t = Target::new("counts-csv", load_counts_gpt2);
    run(
        &t,
        "tiny-gpt2tok token_counts",
        "counts.csv",
        &full,
        scaled(100),
    );
    run(
        &t,
        "first 300 lines",
        "counts.csv",
        &head_lines(&full, 300),
        scaled(500),
    );
    t.report();
    // Ids beyond a small matrix.
    let s = Target::new("counts-csv-512-rows", load_counts_small);
    s.random(scaled(200), edit(), |e| {
        let (l, b) = apply_edit("first 300 lines", &head_lines(&full, 300), e);
        (l, vec![file("counts.csv", b)])
    });
    s.report();
}

/// A scan CSV in the documented columns, from real counts.
fn scan_csv() -> Vec<u8> {
    let counts = read("models/tiny-gpt2tok/token_counts.csv");
    let mut out = String::from(
        "id,raw,decoded,category,in_norm,out_cos,out_cos_pc,out_cos_centered,out_l2,\
         percentile_rank,candidate,count\n",
    );
    for (i, line) in String::from_utf8(counts)
        .unwrap()
        .lines()
        .skip(1)
        .take(300)
        .enumerate()
    {
        let (id, c) = line.split_once(',').unwrap();
        out.push_str(&format!(
            "{id},Ġx{i},\" x{i}\",OK,1.0e0,2.0e-1,3.0e-1,4.0e-1,5.0e0,{:.1},{},{c}\n",
            i as f64 / 3.0,
            c == "0"
        ));
    }
    out.into_bytes()
}

#[test]
fn candidates_csv() {
    let t = Target::new("candidates-csv", load_candidates);
    let verification = read("models/tiny-gpt2tok/verification.csv");
    run(
        &t,
        "verification.csv first 300",
        "scan.csv",
        &head_lines(&verification, 300),
        scaled(300),
    );
    run(&t, "scan CSV", "scan.csv", &scan_csv(), scaled(500));
    t.report();
}

/// A verify log as `verify` writes it, for real ids and decoded strings.
fn verify_log() -> Vec<u8> {
    let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
    let mut w = csv::Writer::from_writer(format!("{}\n", fp().line()).into_bytes());
    w.write_record(resume::header(&names)).unwrap();
    let verification = String::from_utf8(read("models/tiny-gpt2tok/verification.csv")).unwrap();
    for (i, line) in verification.lines().skip(1).take(200).enumerate() {
        let id: u32 = line.split(',').next().unwrap().parse().unwrap();
        let score = (i as f32 - 100.0) / 7.0;
        let row = Row {
            id,
            decoded: format!("tok\"{i},=x"),
            prompt_scores: vec![
                Some(score),
                if i % 3 == 0 { None } else { Some(-score) },
                Some(0.5),
            ],
            score,
            bound: i % 2 == 0,
            verdict: [
                Verdict::StronglyUnderTrained,
                Verdict::UnderTrained,
                Verdict::Unclear,
                Verdict::Trained,
                Verdict::Inconclusive,
            ][i % 5],
        };
        w.write_record(resume::record(&row)).unwrap();
    }
    w.into_inner().unwrap()
}

#[test]
fn verify_log_csv() {
    let t = Target::new("verify-log", load_log);
    let log = verify_log();
    run(&t, "verify log", "verify.csv", &log, scaled(800));
    // Cut anywhere (a kill in the middle of a write), not only at line boundaries.
    let log = &log;
    t.sweep_lazy(
        spread(log.len() + 1, scaled(400))
            .into_iter()
            .map(|at| {
                lazy("verify log: cut at any byte", move || {
                    vec![file("verify.csv", &log[..at])]
                })
            })
            .collect(),
    );
    t.report();
}

#[test]
fn csv_random_bytes() {
    const PREFIXES: &[&[u8]] = &[
        b"token_id,count\n",
        b"id,candidate\n",
        b"id,decoded,input_output,assistant_explain,repeats,score,verdict,score_bound\n",
    ];
    let loaders: [(&str, Loader); 3] = [
        ("counts", load_counts_gpt2),
        ("candidates", load_candidates),
        ("log", load_log),
    ];
    for (name, load) in loaders {
        let t = Target::new(&format!("csv-random-{name}"), load);
        t.random(scaled(200), random_bytes(PREFIXES), |r| {
            (
                "random bytes".to_string(),
                vec![file("x.csv", with_prefix(PREFIXES, r))],
            )
        });
        t.report();
    }
}

#[test]
fn csv_regressions() {
    let loaders: [(&str, Loader); 3] = [
        ("counts", load_counts_gpt2),
        ("candidates", load_candidates),
        ("log", load_log),
    ];
    for (name, load) in loaders {
        let t = Target::new(&format!("csv-regressions-{name}"), load);
        for (f, bytes) in regressions(&format!("csv-{name}")) {
            t.case(&f, &[file("x.csv", bytes)])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        t.report();
    }
}

#[test]
fn csv_catalogue() {
    let f = |s: &[u8]| vec![file("x.csv", s)];
    let c = Target::new("counts-csv-catalogue", load_counts_gpt2);
    c.catalogue(vec![
        row("empty file", f(b""), "no token_id,count rows"),
        row(
            "a header only",
            f(b"token_id,count\n"),
            "no token_id,count rows",
        ),
        row(
            "a line with one field",
            f(b"token_id,count\n5\n"),
            "line 2: expected token_id,count",
        ),
        row(
            "a count that is not a number",
            f(b"token_id,count\n5,x\n"),
            "line 2: expected token_id,count as integers, got \"5\",\"x\"",
        ),
        row("a negative id", f(b"token_id,count\n-1,5\n"), "as integers"),
        row(
            "a count of 2^64",
            f(b"token_id,count\n5,18446744073709551616\n"),
            "as integers",
        ),
        row(
            "an id past the matrix",
            f(b"token_id,count\n50257,5\n"),
            "line 2: token id 50257 is outside the 50257 embedding rows",
        ),
        row(
            "an id of u64::MAX",
            f(b"token_id,count\n18446744073709551615,5\n"),
            "is outside the 50257 embedding rows",
        ),
        row(
            "an unterminated quote",
            f(&[
                b"token_id,count\n0,\"5\n".as_slice(),
                &b"1,2\n".repeat(2000),
            ]
            .concat()),
            "got \"0\",\"5\\n1,2\\n1,2",
        ),
        row(
            "not UTF-8",
            f(b"token_id,count\n5,\xff\n"),
            "line 2: CSV parse error: record 1 (line 2, field: 1, byte: 15): invalid utf-8",
        ),
        row(
            "an id given twice (the last wins)",
            f(b"token_id,count\n5,1\n5,2\n"),
            "",
        ),
        row(
            "extra columns (ignored)",
            f(b"token_id,count,x\n5,1,y\n"),
            "",
        ),
    ]);
    let k = Target::new("candidates-csv-catalogue", load_candidates);
    k.catalogue(vec![
        row("empty file", f(b""), "no 'id' column"),
        row("no id column", f(b"a,b\n1,2\n"), "x.csv: no 'id' column"),
        row("an id that is not a number", f(b"id,candidate\nx,true\n"), "row 2: id \"x\" is not a number"),
        row("an id of 2^32", f(b"id,candidate\n4294967296,true\n"), "row 2: id \"4294967296\" is not a number"),
        row("a row with fewer fields", f(b"id,candidate\n1,true\n2\n"), "row 3: CSV error: record 2 (line: 3, byte: 20): found record with 1 fields, but the previous record has 2 fields"),
        row("candidate column \"yes\" (not a candidate)", f(b"id,candidate\n1,yes\n"), ""),
    ]);
    let l = Target::new("verify-log-catalogue", load_log);
    let header = "id,decoded,input_output,assistant_explain,repeats,score,verdict,score_bound\n";
    let line = fp().line();
    let log = |rows: &str| f(format!("{line}\n{header}{rows}").as_bytes());
    let mut other = fp();
    other
        .0
        .insert("model".into(), "tiny-llama2tok 18090880 99aa".into());
    l.catalogue(vec![
        row("another file (no fingerprint)", f(b"token_id,count\n1,2\n"), "exists and is not a verify log of this version (its first line is no #tokenaudit-verify fingerprint): remove it or choose another --csv"),
        row("another run's log", f(format!("{}\n{header}", other.line()).as_bytes()), "was written by another run (model was tiny-llama2tok 18090880 99aa (now stories260K 1056540 0011)); resuming would mix the two in one file: remove it or choose another --csv"),
        row("another file's header after the fingerprint", f(format!("{line}\ntoken_id,count\n1,2\n").as_bytes()), "exists with columns [token_id,count], not a verify log for prompts [input_output,assistant_explain,repeats]"),
        row("a row id that is not a number", log("x,a,1,2,3,4,trained,exact\n"), "row 2: id is not a number"),
        row("a score that is not a number", log("1,a,1,2,3,x,trained,exact\n"), "row 2: score is not a number"),
        row("an unknown verdict", log("1,a,1,2,3,4,maybe,exact\n"), "row 2: unknown verdict \"maybe\""),
        row("an unknown score bound", log("1,a,1,2,3,4,trained,lower\n"), "row 2: score_bound is \"lower\", not exact or upper"),
        row("a log from before score_bound", f(format!("{line}\nid,decoded,input_output,assistant_explain,repeats,score,verdict\n1,a,1,2,3,4,trained\n").as_bytes()), "not a verify log for prompts"),
        row("a row with fewer fields", log("1,a,1\n"), "row 2: CSV error"),
        row("not UTF-8", f(b"id,\xff\n"), "not a UTF-8 CSV"),
        row("a last row cut by a kill (dropped)", log("1,a,1,2,3,4,trained,exact\n2,b,1,2"), ""),
        row("a header cut by a kill (rewritten)", f(format!("{line}\nid,deco").as_bytes()), ""),
        row("a fingerprint cut by a kill (rewritten)", f(&line.as_bytes()[..20]), ""),
        row("empty file (a header is written)", f(b""), ""),
        row("score NaN and inf", log("1,a,NaN,inf,-inf,NaN,trained,upper\n"), ""),
    ]);
}
