//! Digit schemes on real tokenizers and real data: exact splits, the native schemes of
//! Llama-2 and Llama-3 reproduced on all of GSM8K, coverage, arithmetic alignment checked
//! against place-value arithmetic, fertility against plain encoding, and the command's
//! outputs and bad-input messages.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use tokenaudit::digits::data::{read_arith, read_pud, RecordKind};
use tokenaudit::digits::metrics::Coverage;
use tokenaudit::digits::numbers::{digit_runs, Encoded};
use tokenaudit::digits::{analyze, NamedVocab, Placement, Scheme, Schemed};
use tokenaudit::vocab::Vocab;

const GPT2: &str = "gpt2/tokenizer.json";
const LLAMA2: &str = "llama2/tokenizer.model";
const LLAMA3: &str = "llama3/tokenizer.model";
const MISTRAL: &str = "mistral-v3/mistral_instruct_tokenizer_240323.model.v3";
const CL100K: &str = "cl100k_base/cl100k_base.tiktoken";
const QWEN: &str = "qwen/qwen.tiktoken";

fn schemed(v: &Vocab, s: Scheme) -> Schemed {
    Schemed::new(&v.tokenizer, s).unwrap()
}

/// The cut of every digit run of `text`, written `a|b|c`, and the ids.
fn cuts(sc: &Schemed, text: &str) -> (Vec<String>, Vec<u32>) {
    let enc = sc.tokenizer.encode(text, false).unwrap();
    let e = Encoded::new(text, enc.get_offsets(), enc.get_tokens());
    let c = digit_runs(text)
        .iter()
        .map(|r| e.cut_with_pieces(r).display())
        .collect();
    (c, enc.get_ids().to_vec())
}

#[test]
fn exact_splits_of_1234567_in_every_scheme() {
    // (tokenizer, scheme, cut of "1234567", ids). Hand-checked: GPT-2 has "123", "456",
    // "234" and "67" but no "567", so R2L falls back to 5|67; Llama-2, Mistral and Qwen
    // have no multi-digit token at all; Llama-3 and cl100k have every 3-digit string.
    let one = "1|2|3|4|5|6|7";
    let cases: &[(&str, Scheme, &str, &[u32])] = &[
        (GPT2, Scheme::Own, "123|45|67", &[10163, 2231, 3134]),
        (GPT2, Scheme::One, one, &[16, 17, 18, 19, 20, 21, 22]),
        (GPT2, Scheme::L2r, "123|456|7", &[10163, 29228, 22]),
        (GPT2, Scheme::R2l, "1|234|5|67", &[16, 24409, 20, 3134]),
        (LLAMA3, Scheme::Own, "123|456|7", &[4513, 10961, 22]),
        (LLAMA3, Scheme::One, one, &[16, 17, 18, 19, 20, 21, 22]),
        (LLAMA3, Scheme::L2r, "123|456|7", &[4513, 10961, 22]),
        (LLAMA3, Scheme::R2l, "1|234|567", &[16, 11727, 19282]),
        (CL100K, Scheme::Own, "123|456|7", &[4513, 10961, 22]),
        (CL100K, Scheme::L2r, "123|456|7", &[4513, 10961, 22]),
        (CL100K, Scheme::R2l, "1|234|567", &[16, 11727, 19282]),
        (CL100K, Scheme::One, one, &[16, 17, 18, 19, 20, 21, 22]),
        (QWEN, Scheme::Own, one, &[16, 17, 18, 19, 20, 21, 22]),
        (QWEN, Scheme::L2r, one, &[16, 17, 18, 19, 20, 21, 22]),
        (QWEN, Scheme::R2l, one, &[16, 17, 18, 19, 20, 21, 22]),
    ];
    for path in [GPT2, LLAMA3, CL100K, QWEN] {
        let v = load(path);
        for &(p, scheme, want, ids) in cases.iter().filter(|c| c.0 == path) {
            let (c, got_ids) = cuts(&schemed(&v, scheme), "1234567");
            assert_eq!(c, [want], "{p} {scheme}");
            assert_eq!(got_ids, ids, "{p} {scheme}");
        }
    }
    // The stage keeps the text before a group attached to it, so GPT-2's leading space
    // stays on the first group (" 123", " 1") as its own regex ` ?\p{N}+` puts it.
    let v = load(GPT2);
    for (scheme, ids) in [
        (Scheme::Own, vec![87, 17031, 2231, 3134]),
        (Scheme::One, vec![87, 352, 17, 18, 19, 20, 21, 22]),
        (Scheme::L2r, vec![87, 17031, 29228, 22]),
        (Scheme::R2l, vec![87, 352, 24409, 20, 3134]),
    ] {
        assert_eq!(
            schemed(&v, scheme).encode("x 1234567").unwrap(),
            ids,
            "{scheme}"
        );
    }
    // SentencePiece: the dummy prefix "▁" stays a token of its own before the digits,
    // and every scheme falls back to single digits (no multi-digit piece exists).
    for (path, prefix, digits) in [
        (
            LLAMA2,
            29871,
            [29896, 29906, 29941, 29946, 29945, 29953, 29955],
        ),
        (
            MISTRAL,
            29473,
            [29508, 29518, 29538, 29549, 29550, 29552, 29555],
        ),
    ] {
        let v = load(path);
        for scheme in Scheme::ALL {
            let (c, ids) = cuts(&schemed(&v, scheme), "1234567");
            assert_eq!(c, [one], "{path} {scheme}");
            assert_eq!(ids[0], prefix, "{path} {scheme}");
            assert_eq!(ids[1..], digits, "{path} {scheme}");
        }
    }
}

#[test]
fn the_stage_cuts_as_the_reference_grouping_for_every_length() {
    // Llama-3 holds every 1-3 digit string as one token, so each token is one group.
    let v = load(LLAMA3);
    let digits = "98765432109876543210";
    for scheme in [Scheme::One, Scheme::L2r, Scheme::R2l] {
        let sc = schemed(&v, scheme);
        for n in 1..=digits.len() {
            let text = format!("x {} y", &digits[..n]);
            let enc = sc.tokenizer.encode(text.as_str(), false).unwrap();
            let e = Encoded::new(&text, enc.get_offsets(), enc.get_tokens());
            let got: Vec<usize> = e
                .cut(&(2..2 + n))
                .digits
                .iter()
                .map(|&d| d as usize)
                .collect();
            assert_eq!(got, scheme.group_lengths(n).unwrap(), "{scheme} n={n}");
        }
    }
}

#[test]
fn a_digit_stage_keeps_text_without_digits_unchanged() {
    // Only digit cuts may change: on the English PUD sentences without a digit, the
    // pipeline with every scheme's stage gives exactly the tokenizer's own ids.
    let text = std::fs::read_to_string(data().join("corpus/pud/en.txt")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.chars().any(char::is_numeric))
        .collect();
    assert_eq!(lines.len(), 761);
    for path in [GPT2, LLAMA2, LLAMA3] {
        let v = load(path);
        for scheme in [Scheme::One, Scheme::L2r, Scheme::R2l] {
            // The pipeline with the stage, run on text it must leave alone.
            let sc = schemed(&v, scheme);
            for l in &lines {
                let ids = sc
                    .tokenizer
                    .encode_fast(*l, false)
                    .unwrap()
                    .get_ids()
                    .to_vec();
                assert_eq!(ids, v.encode(l).unwrap(), "{path} {scheme}: {l}");
            }
        }
    }
}

/// Every question and answer text of the GSM8K test set.
fn gsm8k_texts() -> Vec<String> {
    let text = std::fs::read_to_string(data().join("datasets/gsm8k/test.jsonl")).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        out.push(v["question"].as_str().unwrap().to_string());
        out.push(v["answer"].as_str().unwrap().to_string());
    }
    out
}

/// Own scheme and `scheme` give the same ids on every GSM8K text and the same cut of
/// every number; returns how many numbers were compared.
fn own_equals(path: &str, scheme: Scheme) -> usize {
    let v = load(path);
    let own = schemed(&v, Scheme::Own);
    let other = schemed(&v, scheme);
    let mut numbers = 0;
    for t in gsm8k_texts() {
        let (a_cuts, a_ids) = cuts(&own, &t);
        let (b_cuts, b_ids) = cuts(&other, &t);
        assert_eq!(a_cuts, b_cuts, "{path} own vs {scheme} on {t:?}");
        assert_eq!(a_ids, b_ids, "{path} own vs {scheme} on {t:?}");
        numbers += a_cuts.len();
    }
    numbers
}

/// Digit runs in the GSM8K test questions and answers.
const GSM8K_TEST_RUNS: usize = 37_948;

#[test]
fn llama3_own_scheme_is_3_digit_l2r_on_all_of_gsm8k() {
    assert_eq!(own_equals(LLAMA3, Scheme::L2r), GSM8K_TEST_RUNS);
    assert_eq!(own_equals(CL100K, Scheme::L2r), GSM8K_TEST_RUNS);
}

#[test]
fn llama2_own_scheme_is_1_digit_on_all_of_gsm8k() {
    assert_eq!(own_equals(LLAMA2, Scheme::One), GSM8K_TEST_RUNS);
    assert_eq!(own_equals(MISTRAL, Scheme::One), GSM8K_TEST_RUNS);
    assert_eq!(own_equals(QWEN, Scheme::One), GSM8K_TEST_RUNS);
}

#[test]
fn gpt2_own_scheme_is_none_of_the_three() {
    // GPT-2 merges digit runs freely: its own cuts differ from every fixed scheme.
    let v = load(GPT2);
    let own = schemed(&v, Scheme::Own);
    let texts = gsm8k_texts();
    for scheme in [Scheme::One, Scheme::L2r, Scheme::R2l] {
        let sc = schemed(&v, scheme);
        let differ = texts
            .iter()
            .filter(|t| cuts(&own, t).0 != cuts(&sc, t).0)
            .count();
        assert!(differ > 100, "{scheme}: only {differ} texts differ");
    }
}

#[test]
fn sentencepiece_prefix_and_the_digit_stage() {
    // Llama-2 has no pre-tokenizer: "▁" comes from the normalizer (Prepend + Replace), so
    // the stage sees "▁2024▁was" and must leave the prefix where it was.
    let v = load(LLAMA2);
    let own = v.encode("2024 was 12 x").unwrap();
    assert_eq!(own[..5], [29871, 29906, 29900, 29906, 29946]); // ▁ 2 0 2 4
    for scheme in Scheme::ALL {
        let sc = schemed(&v, scheme);
        let want = if scheme == Scheme::Own {
            Placement::None
        } else {
            Placement::Front
        };
        assert_eq!(sc.placement, want);
        assert_eq!(sc.encode("2024 was 12 x").unwrap(), own, "{scheme}");
        assert_eq!(
            v.decode(&sc.encode("2024 was 12 x").unwrap()).unwrap(),
            "2024 was 12 x"
        );
    }
}

#[test]
fn metaspace_that_prefixes_every_piece_gets_the_stage_after_it() {
    // A Unigram vocabulary behind Metaspace(prepend_scheme: always), as converted T5 /
    // ALBERT tokenizers have. In front of it the stage would give each digit group its
    // own "▁"; after it, the digits are cut and nothing else changes.
    use tokenizers::models::unigram::Unigram;
    use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
    use tokenizers::Tokenizer;
    let pieces = [
        "<unk>", "▁a", "▁1", "▁12", "▁123", "1", "2", "3", "12", "23", "▁", "a",
    ];
    let vocab = pieces.iter().map(|p| (p.to_string(), -1.0)).collect();
    let mut tk = Tokenizer::new(Unigram::from(vocab, Some(0), false).unwrap());
    tk.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)));
    let toks =
        |t: &Tokenizer| -> Vec<String> { t.encode("a 123", false).unwrap().get_tokens().to_vec() };
    assert_eq!(toks(&tk), ["▁a", "▁123"]);
    let one = Schemed::new(&tk, Scheme::One).unwrap();
    assert_eq!(one.placement, Placement::AfterPrefix);
    assert_eq!(toks(&one.tokenizer), ["▁a", "▁1", "2", "3"]);
    let r2l = Schemed::new(&tk, Scheme::R2l).unwrap();
    assert_eq!(toks(&r2l.tokenizer), ["▁a", "▁123"]);
    // The same tokenizer with the stage forced in front shows the damage avoided.
    let (front, _) = {
        let mut t = tk.clone();
        t.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::sequence::Sequence::new(
            vec![
                Scheme::One.stage().unwrap().unwrap(),
                Metaspace::new('▁', PrependScheme::Always, true).into(),
            ],
        )));
        (t, ())
    };
    assert_eq!(toks(&front), ["▁a", "▁1", "▁", "2", "▁", "3"]);
}

#[test]
fn coverage_of_digit_strings() {
    // (tokenizer, single-token strings of 1, 2, 3 digits, 3-digit strings by token count)
    type Case = (&'static str, [u32; 3], &'static [(usize, u32)]);
    let cases: &[Case] = &[
        (GPT2, [10, 100, 777], &[(1, 777), (2, 223)]),
        (LLAMA2, [10, 0, 0], &[(3, 1000)]),
        (LLAMA3, [10, 100, 1000], &[(1, 1000)]),
        (MISTRAL, [10, 0, 0], &[(3, 1000)]),
        (CL100K, [10, 100, 1000], &[(1, 1000)]),
        (QWEN, [10, 0, 0], &[(3, 1000)]),
    ];
    for &(path, single, by_count) in cases {
        let c = Coverage::measure(&load(path).tokenizer);
        assert_eq!(c.single, single, "{path}");
        let got: Vec<(usize, u32)> = c.fallback[2].iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(got, by_count, "{path}");
        assert_eq!(c.expresses(Scheme::One), Some(true));
        assert_eq!(c.expresses(Scheme::R2l), Some(single[2] == 1000), "{path}");
    }
    // GPT-2 holds every number from 100 to 520 as one token; 521 is the first it cuts.
    let c = Coverage::measure(&load(GPT2).tokenizer);
    assert_eq!(c.examples[2][0], "521 → 5|21");
}

/// L2R group boundaries of an n-digit number, as digits to the right of each cut.
fn l2r_boundaries(n: usize) -> Vec<usize> {
    let mut b = Vec::new();
    let mut left = 0;
    while left + 3 < n {
        left += 3;
        b.push(n - left);
    }
    b.sort();
    b
}

/// Place-value arithmetic alone: is a record aligned under L2R?
fn l2r_aligned(ops: &[usize], ans: usize) -> bool {
    let ab = l2r_boundaries(ans);
    ops.iter().all(|&o| {
        let m = o.min(ans);
        let f = |b: Vec<usize>| -> Vec<usize> { b.into_iter().filter(|&p| p < m).collect() };
        f(l2r_boundaries(o)) == f(ab.clone())
    })
}

#[test]
fn arithmetic_alignment_matches_place_value_arithmetic() {
    let v = load(LLAMA3);
    let named = [NamedVocab {
        name: "llama3".into(),
        vocab: &v,
    }];
    let dir = data().join("datasets/gpt3_arithmetic");
    let files = [
        "five_digit_addition.jsonl",
        "six_digit_addition.jsonl",
        "four_digit_subtraction.jsonl",
    ];
    let corpora: Vec<_> = files
        .iter()
        .map(|f| read_arith(&dir.join(f)).unwrap())
        .collect();
    let schemes = [Scheme::Own, Scheme::One, Scheme::L2r, Scheme::R2l];
    let r = analyze(&named, &corpora, &schemes, None).unwrap();
    for (ci, c) in corpora.iter().enumerate() {
        // Predict from the digit counts only.
        let mut longer = 0;
        let mut l2r = 0;
        for rec in &c.records {
            let len = |n| c.number(n).1.digit_count(c.number(n).0);
            let ops: Vec<usize> = rec.operands.iter().map(|&n| len(n)).collect();
            let ans = len(rec.answer);
            longer += u64::from(ans > *ops.iter().max().unwrap());
            l2r += u64::from(l2r_aligned(&ops, ans));
        }
        for scheme in schemes {
            let s = r.arith_for(ci, RecordKind::Problem, 0, scheme).unwrap();
            assert_eq!(s.records, 2000);
            assert_eq!(s.integer_records, 2000);
            assert_eq!(s.answer_longer, longer, "{}", c.name);
            let want = match scheme {
                Scheme::Own | Scheme::L2r => l2r,
                Scheme::One | Scheme::R2l => 2000,
            };
            assert_eq!(s.aligned, want, "{} {scheme}", c.name);
        }
    }
    // The published pattern: with L2R, additions whose answer is longer never align.
    let s = r.arith_for(0, RecordKind::Problem, 0, Scheme::L2r).unwrap();
    assert_eq!((s.answer_longer, s.aligned_when_longer), (953, 0));
    assert_eq!(s.aligned, 690);
    let s = r.arith_for(0, RecordKind::Problem, 0, Scheme::R2l).unwrap();
    assert_eq!(s.aligned_when_longer, 953);
}

#[test]
fn gpt2_r2l_falls_back_and_loses_alignment() {
    let v = load(GPT2);
    let named = [NamedVocab {
        name: "gpt2".into(),
        vocab: &v,
    }];
    let c = read_arith(&data().join("datasets/gpt3_arithmetic/five_digit_addition.jsonl")).unwrap();
    let r = analyze(&named, &[c], &[Scheme::R2l], None).unwrap();
    let s = r.arith_for(0, RecordKind::Problem, 0, Scheme::R2l).unwrap();
    assert_eq!(s.aligned, 934);
    let t = r.text_for(0, 0, Scheme::R2l).unwrap();
    assert!(t.split_groups > 0 && t.split_groups < t.groups);
}

#[test]
fn gsm8k_records() {
    let c = read_arith(&data().join("datasets/gsm8k/test.jsonl")).unwrap();
    let kinds = |k| c.records.iter().filter(|r| r.kind == k).count();
    assert_eq!(kinds(RecordKind::Final), 1319);
    assert_eq!(kinds(RecordKind::Calc), 4281);
    assert_eq!(c.docs.len(), 2 * 1319);
    // The final answer of record 1 (Janet's ducks) is 18; its question has 16, 3, 4, 2.
    let r = &c.records[0];
    assert_eq!(r.kind, RecordKind::Final);
    let (doc, n) = c.number(r.answer);
    assert_eq!(&doc[n.span.clone()], "18");
    let ops: Vec<&str> = r
        .operands
        .iter()
        .map(|&o| {
            let (d, n) = c.number(o);
            &d[n.span.clone()]
        })
        .collect();
    assert_eq!(ops, ["16", "2"]);
    // Thousands commas stay one number: some final answers are written "1,000"-style.
    let with_comma = c
        .records
        .iter()
        .filter(|r| r.kind == RecordKind::Final)
        .filter(|r| {
            let (d, n) = c.number(r.answer);
            d[n.span.clone()].contains(',')
        })
        .count();
    assert_eq!(with_comma, 14);
}

#[test]
fn decimal_probe_cuts() {
    let v = load(LLAMA3);
    let named = [NamedVocab {
        name: "llama3".into(),
        vocab: &v,
    }];
    let r = analyze(&named, &[], &Scheme::ALL, None).unwrap();
    let p = |s: Scheme, left: &str| {
        r.probe
            .iter()
            .find(|p| p.scheme == s && p.pair.0 == left)
            .unwrap()
            .cut
            .clone()
    };
    let c = p(Scheme::Own, "9.11");
    assert_eq!(
        (c.left.display(), c.right.display()),
        ("9|.|11".into(), "9|.|9".into())
    );
    assert!(!c.fraction_aligned);
    let c = p(Scheme::One, "9.11");
    assert_eq!(c.left.display(), "9|.|1|1");
    assert!(c.fraction_aligned);
    let c = p(Scheme::R2l, "999.99");
    assert_eq!(c.right.display(), "1|234|.|5");
    let c = p(Scheme::L2r, "999.99");
    assert_eq!(c.right.display(), "123|4|.|5");
}

#[test]
fn fertility_on_pud_matches_plain_encoding() {
    let langs = read_pud(&data().join("corpus/pud")).unwrap();
    let names: Vec<&str> = langs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["en", "ar", "de", "fr", "hi", "ja", "ru", "zh"]);
    let v = load(LLAMA3);
    let named = [NamedVocab {
        name: "llama3".into(),
        vocab: &v,
    }];
    let r = analyze(&named, &langs, &[Scheme::Own, Scheme::R2l], None).unwrap();
    for (ci, c) in langs.iter().enumerate() {
        assert_eq!(c.docs.len(), 1000, "{}", c.name);
        let plain: usize = c.docs.iter().map(|d| v.encode(d).unwrap().len()).sum();
        let s = r.text_for(ci, 0, Scheme::Own).unwrap();
        assert_eq!(s.tokens as usize, plain, "{}", c.name);
        assert_eq!(s.docs, 1000);
    }
    let en = r.text_for(0, 0, Scheme::Own).unwrap();
    assert_eq!(en.tokens, 23_219);
}

// ---- the command ----

fn bin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .args(args)
        .output()
        .expect("run tokenaudit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn json_is_one_object_with_every_section() {
    let (code, out, err) = bin(&["digits", "--json", "-t", &s(&tok(GPT2)), &s(&tok(LLAMA3))]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim_end().lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["seed"], 42);
    let names: Vec<&str> = v["tokenizers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gpt2", "llama3"]);
    // Generated integers: 12 lengths x 100; generated additions: 9 lengths x 200.
    let text = v["text"].as_array().unwrap();
    assert_eq!(text.len(), 2 * 2 * 4);
    assert_eq!(text[0]["numbers"], 1200);
    let arith = v["arith"].as_array().unwrap();
    assert!(arith.iter().all(|a| a["records"] == 1800));
    let llama3_r2l = arith
        .iter()
        .find(|a| a["tokenizer"] == "llama3" && a["scheme"] == "r2l")
        .unwrap();
    assert_eq!(llama3_r2l["aligned"], 1800);
    assert_eq!(v["probe"].as_array().unwrap().len(), 8 * 2 * 4);
}

#[test]
fn csv_has_every_metric() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("digits.csv");
    let (code, out, err) = bin(&[
        "digits",
        "-t",
        &s(&tok(LLAMA3)),
        "--arith",
        &s(&data().join("datasets/gpt3_arithmetic/two_digit_addition.jsonl")),
        "--csv",
        &s(&csv),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("== arithmetic"), "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "section,source,kind,tokenizer,scheme,metric,key,value"
    );
    for want in [
        "probe,9.11 vs 9.9,,llama3,l2r,left_cut,,9|.|11",
        "probe,9.11 vs 9.9,,llama3,1,fraction_aligned,,true",
        "arith,two_digit_addition.jsonl,problem,llama3,l2r,records,,2000",
        "coverage,,,llama3,,single_token,3,1000",
        "coverage,,,llama3,r2l,expresses,,true",
    ] {
        assert!(lines.contains(&want), "missing {want}");
    }
    // No temporary file left beside it.
    let left: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, [csv]);
}

#[test]
fn encode_with_a_digit_scheme() {
    let t = s(&tok(LLAMA3));
    for (scheme, ids) in [
        ("own", "4513 10961 22"),
        ("1", "16 17 18 19 20 21 22"),
        ("l2r", "4513 10961 22"),
        ("r2l", "16 11727 19282"),
    ] {
        let (code, out, err) = bin(&["encode", "-t", &t, "--digits", scheme, "1234567"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), ids, "{scheme}");
    }
    let (code, out, _) = bin(&["encode", "-t", &t, "--digits", "r2l", "--tokens", "1234567"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"567\""), "{out}");
    let (code, _, err) = bin(&["encode", "-t", &t, "--digits", "r3l", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("own, 1, l2r or r2l"), "{err}");
}

/// The command fails with one line naming `name` and saying `what`.
fn assert_fails(args: &[&str], name: &str, what: &str) {
    let (code, _, err) = bin(args);
    assert_eq!(code, 1, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(name), "does not name {name}: {err}");
    assert!(err.contains(what), "does not say {what:?}: {err}");
}

#[test]
fn bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        s(&p)
    };
    let t = s(&tok(GPT2));
    let latin1 = w("latin1.txt", b"caf\xe9 1234\n");
    let good = s(&data().join("corpus/pud/en.txt"));
    // A non-UTF-8 text file fails the run before anything is measured, even beside a
    // good file.
    assert_fails(
        &["digits", "-t", &t, "--text", &good, &latin1],
        "latin1.txt",
        "not UTF-8 text (invalid byte at offset 3)",
    );
    let empty = w("empty.txt", b"");
    assert_fails(
        &["digits", "-t", &t, "--text", &empty],
        "empty.txt",
        "empty file",
    );
    let blank = w("blank.jsonl", b"\n\n");
    assert_fails(
        &["digits", "-t", &t, "--arith", &blank],
        "blank.jsonl",
        "empty file",
    );
    let other = w("other.jsonl", b"{\"input\": \"2+2\", \"target\": \"4\"}\n");
    assert_fails(
        &["digits", "-t", &t, "--arith", &other],
        "other.jsonl:1",
        "unknown arithmetic format (keys: input, target)",
    );
    let tsv = s(&data().join("datasets/mgsm/mgsm_en.tsv"));
    assert_fails(
        &["digits", "-t", &t, "--arith", &tsv],
        "mgsm_en.tsv:1",
        "unknown arithmetic format: not JSON",
    );
    let mixed = w(
        "mixed.jsonl",
        b"{\"context\": \"Q: What is 1 plus 2?\", \"completion\": \" 3\"}\n{\"question\": \"q\", \"answer\": \"#### 1\"}\n",
    );
    assert_fails(
        &["digits", "-t", &t, "--arith", &mixed],
        "mixed.jsonl:2",
        "not in the gpt3 format",
    );
    let no_hash = w(
        "nohash.jsonl",
        b"{\"question\": \"2 and 3?\", \"answer\": \"5\"}\n",
    );
    assert_fails(
        &["digits", "-t", &t, "--arith", &no_hash],
        "nohash.jsonl:1",
        "no \"#### N\" line",
    );
    assert_fails(
        &["digits", "-t", &t, "--pud", &s(dir.path())],
        &s(dir.path()),
        "no language files",
    );
}
