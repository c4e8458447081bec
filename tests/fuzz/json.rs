//! Fuzzing the JSON tokenizer loaders (`vocab::hf`): Hugging Face `tokenizer.json` with
//! `tokenizer_config.json` beside it, and the GPT-2 pair `encoder.json` + `vocab.bpe`.
//! Inputs are real tokenizers from `../shared/data` (whole, and cut down to a few hundred
//! entries so that a case that still parses builds quickly), mutated at the JSON level
//! (values replaced by huge numbers or wrong types, keys removed or duplicated, deep
//! nesting) and at the byte level (truncation at every structural character, bit flips).
//! See `tests/fuzz/driver.rs` and `docs/faults.md`.

use std::path::Path;

use crate::driver::*;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Value};
use tokenaudit::vocab::{self, Format, LoadOptions};

fn load_detected(p: &Path) -> Result<String, String> {
    vocab::load(p, &LoadOptions::default())
        .map(|v| use_vocab(&v))
        .map_err(|e| e.to_string())
}

fn load_hf(p: &Path) -> Result<String, String> {
    let opts = LoadOptions {
        format: Some(Format::HfJson),
        preset: None,
    };
    vocab::load(p, &opts)
        .map(|v| use_vocab(&v))
        .map_err(|e| e.to_string())
}

fn load_bpe_pair(p: &Path) -> Result<String, String> {
    let opts = LoadOptions {
        format: Some(Format::GptBpe),
        preset: None,
    };
    vocab::load(p, &opts)
        .map(|v| use_vocab(&v))
        .map_err(|e| e.to_string())
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("seed JSON")
}

/// A tokenizer.json cut to the ids below `n` (merges kept when both parts and the result
/// survive; added tokens kept).
fn shrink(mut tk: Value, n: u64) -> Value {
    let model = tk.get_mut("model").expect("model");
    let vocab = model["vocab"].as_object().expect("vocab").clone();
    let kept: serde_json::Map<String, Value> = vocab
        .into_iter()
        .filter(|(_, id)| id.as_u64().is_some_and(|i| i < n))
        .collect();
    let merges: Vec<Value> = model["merges"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| {
                    let pair = match m {
                        Value::String(s) => s
                            .split_once(' ')
                            .map(|(a, b)| (a.to_string(), b.to_string())),
                        Value::Array(a) => Some((
                            a.first().and_then(|x| x.as_str()).unwrap_or("").to_string(),
                            a.get(1).and_then(|x| x.as_str()).unwrap_or("").to_string(),
                        )),
                        _ => None,
                    };
                    pair.is_some_and(|(a, b)| {
                        kept.contains_key(&a)
                            && kept.contains_key(&b)
                            && kept.contains_key(&format!("{a}{b}"))
                    })
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    model["vocab"] = Value::Object(kept);
    model["merges"] = Value::Array(merges);
    tk
}

fn seeds() -> Vec<(String, Value)> {
    let stories = parse(&read("models/stories260K/tokenizer.json"));
    // A Unigram model from the same pieces, with made-up scores.
    let pieces: Vec<Value> = {
        let mut v: Vec<(String, u64)> = stories["model"]["vocab"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, id)| (k.clone(), id.as_u64().unwrap()))
            .collect();
        v.sort_by_key(|p| p.1);
        v.iter()
            .map(|(k, id)| json!([k, -(*id as f64) / 10.0]))
            .collect()
    };
    let mut unigram = stories.clone();
    unigram["model"] =
        json!({"type": "Unigram", "unk_id": 0, "vocab": pieces, "byte_fallback": true});
    let mut wordpiece = stories.clone();
    let mut wp_vocab = stories["model"]["vocab"].clone();
    wp_vocab["[UNK]"] = json!(512);
    wordpiece["model"] = json!({"type": "WordPiece", "unk_token": "[UNK]",
        "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": wp_vocab});
    // An identity precompiled charsmap (a trie of 256 empty units), as T5-style files have.
    let mut charsmap = 1024u32.to_le_bytes().to_vec();
    charsmap.extend(vec![0u8; 1024]);
    let mut precompiled = stories.clone();
    precompiled["normalizer"] = json!({"type": "Sequence", "normalizers": [
        {"type": "Precompiled",
         "precompiled_charsmap": base64::engine::general_purpose::STANDARD.encode(&charsmap)},
        stories["normalizer"].clone()]});
    vec![
        ("stories260K".into(), stories),
        ("stories260K as Unigram".into(), unigram),
        ("stories260K as WordPiece".into(), wordpiece),
        (
            "stories260K with a Precompiled normalizer".into(),
            precompiled,
        ),
        (
            "gpt2 ids < 400".into(),
            shrink(parse(&read("tokenizers/gpt2/tokenizer.json")), 400),
        ),
        (
            "pythia ids < 400".into(),
            shrink(parse(&read("tokenizers/pythia/20B_tokenizer.json")), 400),
        ),
        (
            "olmo2 ids < 400".into(),
            shrink(parse(&read("tokenizers/olmo2/allenai_dolma2.json")), 400),
        ),
    ]
}

fn config() -> Vec<u8> {
    read("models/stories260K/tokenizer_config.json")
}

#[derive(Debug, Clone)]
enum Edit {
    Json(Vec<(usize, JsonEdit)>),
    Bytes(Vec<Mutation>),
    /// Mutate tokenizer_config.json instead.
    Config(usize, JsonEdit),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => proptest::collection::vec(json_edit(), 1..=2).prop_map(Edit::Json),
        3 => mutations().prop_map(Edit::Bytes),
        1 => json_edit().prop_map(|(i, e)| Edit::Config(i, e)),
    ]
}

fn apply_edit(name: &str, v: &Value, text: &[u8], e: &Edit) -> (String, Vec<File>) {
    match e {
        Edit::Json(edits) => {
            let mut out = v.clone();
            let mut s = String::new();
            for (i, (idx, ed)) in edits.iter().enumerate() {
                s = json_apply(&out, *idx, ed);
                if i + 1 < edits.len() {
                    match serde_json::from_str(&s) {
                        Ok(x) => out = x,
                        Err(_) => break,
                    }
                }
            }
            (
                format!("{name}: {}", json_edit_kind(&edits[0].1)),
                vec![
                    file("tokenizer.json", s),
                    file("tokenizer_config.json", config()),
                ],
            )
        }
        Edit::Bytes(muts) => {
            let seed = Seed {
                name: name.into(),
                bytes: text.to_vec(),
                bounds: json_bounds(text),
                fields: Vec::new(),
            };
            (
                label(name, muts),
                vec![
                    file("tokenizer.json", apply(&seed, muts)),
                    file("tokenizer_config.json", config()),
                ],
            )
        }
        Edit::Config(idx, ed) => {
            let c = json_apply(&parse(&config()), *idx, ed);
            (
                format!("{name}: tokenizer_config.json {}", json_edit_kind(ed)),
                vec![
                    file("tokenizer.json", text),
                    file("tokenizer_config.json", c),
                ],
            )
        }
    }
}

#[test]
fn tokenizer_json_sweep() {
    let t = Target::new("tokenizer-json-sweep", load_hf);
    let text = serde_json::to_vec(&seeds()[0].1).unwrap();
    t.seed_loads("stories260K", &[file("tokenizer.json", &text)]);
    // Truncation at every structural character of a 20 KB tokenizer.json.
    let bounds = json_bounds(&text);
    let text = &text;
    t.sweep_lazy(
        spread(bounds.len(), scaled(3000))
            .into_iter()
            .map(|i| {
                let at = bounds[i];
                lazy(
                    "stories260K: truncate at a structural character",
                    move || vec![file("tokenizer.json", &text[..at])],
                )
            })
            .collect(),
    );
    // Every JSON node of it replaced by every replacement, on a spread of nodes.
    let v = &seeds()[0].1;
    let n = {
        fn count(v: &Value) -> usize {
            1 + match v {
                Value::Array(a) => a.iter().map(count).sum(),
                Value::Object(o) => o.values().map(count).sum(),
                _ => 0,
            }
        }
        count(v)
    };
    let mut cases = Vec::new();
    for node in spread(n, scaled(120)) {
        for k in 0..27 {
            let e = JsonEdit::Replace(k);
            cases.push(lazy(
                format!("stories260K: {}", json_edit_kind(&e)),
                move || vec![file("tokenizer.json", json_apply(v, node, &e))],
            ));
        }
    }
    t.sweep_lazy(cases);
    // A few cuts of a whole 1.4 MB tokenizer.json.
    let big = read("models/tiny-llama2tok/tokenizer.json");
    let bb = json_bounds(&big);
    let big = &big;
    t.sweep_lazy(
        spread(bb.len(), scaled(12))
            .into_iter()
            .map(|i| {
                let at = bb[i];
                lazy(
                    "tiny-llama2tok: truncate at a structural character",
                    move || vec![file("tokenizer.json", &big[..at])],
                )
            })
            .collect(),
    );
    t.report();
}

#[test]
fn tokenizer_json_mutations() {
    let t = Target::new("tokenizer-json", load_detected);
    let seeds: Vec<(String, Value, Vec<u8>)> = seeds()
        .into_iter()
        .map(|(n, v)| {
            let text = serde_json::to_vec(&v).unwrap();
            (n, v, text)
        })
        .collect();
    for (n, _, text) in &seeds {
        t.seed_loads(
            n,
            &[
                file("tokenizer.json", text),
                file("tokenizer_config.json", config()),
            ],
        );
    }
    t.random(scaled(1200), (0..seeds.len(), edit()), |(s, e)| {
        let (name, v, text) = &seeds[*s];
        apply_edit(name, v, text, e)
    });
    t.report();
}

#[test]
fn tokenizer_json_full_size() {
    let t = Target::new("tokenizer-json-full", load_detected);
    let full = [
        ("gpt2", read("tokenizers/gpt2/tokenizer.json")),
        ("tiny-gpt2tok", read("models/tiny-gpt2tok/tokenizer.json")),
    ];
    for (name, text) in &full {
        let v = parse(text);
        t.random(scaled(4), edit(), |e| apply_edit(name, &v, text, e));
    }
    t.report();
}

#[test]
fn precompiled_charsmaps_in_json() {
    // The hostile charsmaps of the SentencePiece test, inside a tokenizer.json.
    let t = Target::new("tokenizer-json-charsmap", load_hf);
    let stories = parse(&read("models/stories260K/tokenizer.json"));
    t.random(
        scaled(200),
        (
            prop_oneof![
                Just(None),
                Just(Some(u32::MAX)),
                Just(Some(0u32)),
                any::<u32>().prop_map(Some)
            ],
            proptest::collection::vec(prop_oneof![any::<u32>(), 0u32..4096], 0..64),
            proptest::collection::vec(any::<u8>(), 0..16),
        ),
        |(size, units, normalized)| {
            let mut b = size
                .unwrap_or(4 * units.len() as u32)
                .to_le_bytes()
                .to_vec();
            for u in units {
                b.extend(u.to_le_bytes());
            }
            b.extend(normalized);
            let mut v = stories.clone();
            v["normalizer"] = json!({"type": "Precompiled",
                "precompiled_charsmap": base64::engine::general_purpose::STANDARD.encode(&b)});
            (
                "stories260K with a random precompiled charsmap".to_string(),
                vec![file("tokenizer.json", serde_json::to_vec(&v).unwrap())],
            )
        },
    );
    t.report();
}

// ---------------------------------------------------------------------------------------
// encoder.json + vocab.bpe
// ---------------------------------------------------------------------------------------

const MERGE_REPL: &[&str] = &[
    "",
    "a",
    "a b c",
    "#version: 0.2",
    "Ġ Ġ",
    "\u{0} \u{0}",
    "zz yy",
    "\r",
    " ",
    "a  b",
];

#[derive(Debug, Clone)]
enum PairEdit {
    Encoder(Vec<(usize, JsonEdit)>),
    Merges(Vec<(usize, LineEdit)>),
    EncoderBytes(Vec<Mutation>),
    MergesBytes(Vec<Mutation>),
}

fn pair_edit() -> impl Strategy<Value = PairEdit> {
    prop_oneof![
        3 => proptest::collection::vec(json_edit(), 1..=2).prop_map(PairEdit::Encoder),
        3 => proptest::collection::vec(line_edit(), 1..=3).prop_map(PairEdit::Merges),
        1 => mutations().prop_map(PairEdit::EncoderBytes),
        1 => mutations().prop_map(PairEdit::MergesBytes),
    ]
}

#[test]
fn bpe_pair_mutations() {
    let t = Target::new("bpe-pair", load_bpe_pair);
    // The real pair cut to ids below 400 (plus <|endoftext|>) and the merges among them.
    let enc = parse(&read("tokenizers/gpt2/encoder.json"));
    let kept: serde_json::Map<String, Value> = enc
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, id)| id.as_u64().is_some_and(|i| i < 400))
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain([("<|endoftext|>".to_string(), json!(400))])
        .collect();
    let bpe = read("tokenizers/gpt2/vocab.bpe");
    let merges: Vec<u8> = String::from_utf8(bpe.clone())
        .unwrap()
        .lines()
        .filter(|l| {
            l.starts_with("#version")
                || l.split_once(' ').is_some_and(|(a, b)| {
                    kept.contains_key(a)
                        && kept.contains_key(b)
                        && kept.contains_key(&format!("{a}{b}"))
                })
        })
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    let enc_small = Value::Object(kept);
    let enc_text = serde_json::to_vec(&enc_small).unwrap();
    t.seed_loads(
        "gpt2 ids < 400",
        &[file("encoder.json", &enc_text), file("vocab.bpe", &merges)],
    );
    let make = |e: &PairEdit, enc_v: &Value, enc_text: &[u8], merges: &[u8], name: &str| {
        let (l, enc_b, merges_b) = match e {
            PairEdit::Encoder(edits) => {
                let (idx, ed) = &edits[0];
                (
                    format!("{name}: encoder.json {}", json_edit_kind(ed)),
                    json_apply(enc_v, *idx, ed).into_bytes(),
                    merges.to_vec(),
                )
            }
            PairEdit::Merges(edits) => (
                format!(
                    "{name}: vocab.bpe {}",
                    line_edit_kind(&edits[0].1, MERGE_REPL)
                ),
                enc_text.to_vec(),
                lines_apply(merges, edits, b' ', MERGE_REPL),
            ),
            PairEdit::EncoderBytes(m) => {
                let s = Seed {
                    bytes: enc_text.to_vec(),
                    bounds: json_bounds(enc_text),
                    ..Seed::default()
                };
                (
                    label(&format!("{name}: encoder.json"), m),
                    apply(&s, m),
                    merges.to_vec(),
                )
            }
            PairEdit::MergesBytes(m) => {
                let s = Seed {
                    bytes: merges.to_vec(),
                    bounds: line_bounds(merges),
                    ..Seed::default()
                };
                (
                    label(&format!("{name}: vocab.bpe"), m),
                    enc_text.to_vec(),
                    apply(&s, m),
                )
            }
        };
        (
            l,
            vec![file("encoder.json", enc_b), file("vocab.bpe", merges_b)],
        )
    };
    t.random(scaled(600), pair_edit(), |e| {
        make(e, &enc_small, &enc_text, &merges, "gpt2 ids < 400")
    });
    // A few on the whole pair.
    let enc_full = read("tokenizers/gpt2/encoder.json");
    let enc_full_v = parse(&enc_full);
    t.random(scaled(4), pair_edit(), |e| {
        make(e, &enc_full_v, &enc_full, &bpe, "gpt2")
    });
    t.report();
}

#[test]
fn json_random_bytes() {
    const PREFIXES: &[&[u8]] = &[
        b"{",
        b"{\"model\":",
        b"{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\",",
        b"[",
        b"\xef\xbb\xbf{",
    ];
    let t = Target::new("json-random", load_detected);
    t.random(scaled(300), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("tokenizer.json", with_prefix(PREFIXES, r))],
        )
    });
    t.report();
}

#[test]
fn bpe_pair_regressions() {
    let t = Target::new("bpe-pair-regressions", load_bpe_pair);
    for (name, mut files) in regression_dirs("bpe-pair") {
        // The loader is given encoder.json; it finds vocab.bpe beside it.
        files.sort_by_key(|f| f.0 != "encoder.json");
        t.case(&name, &files).unwrap_or_else(|e| panic!("{e}"));
    }
    t.report();
}

#[test]
fn json_regressions() {
    let t = Target::new("json-regressions", load_hf);
    for (name, bytes) in regressions("tokenizer-json") {
        t.case(&name, &[file("tokenizer.json", bytes)])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    t.report();
}

// ---------------------------------------------------------------------------------------
// The catalogue (docs/faults.md)
// ---------------------------------------------------------------------------------------

#[test]
fn json_catalogue() {
    let t = Target::new("tokenizer-json-catalogue", load_detected);
    let stories = parse(&read("models/stories260K/tokenizer.json"));
    let f = |v: &Value| vec![file("tokenizer.json", serde_json::to_vec(v).unwrap())];
    let edit = |e: &dyn Fn(&mut Value)| {
        let mut v = stories.clone();
        e(&mut v);
        f(&v)
    };
    let text = serde_json::to_vec(&stories).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let precompiled = |map: String| {
        edit(&move |v: &mut Value| {
            v["normalizer"] = json!({"type": "Precompiled", "precompiled_charsmap": map.clone()})
        })
    };
    let mut dup = String::from_utf8(text.clone()).unwrap();
    dup = dup.replacen("\"model\":{", "\"model\":{\"type\":\"Unigram\",", 1);
    t.catalogue(vec![
        row(
            "empty file",
            vec![file("tokenizer.json", "")],
            "the file is empty",
        ),
        row(
            "cut in the middle",
            vec![file("tokenizer.json", &text[..text.len() / 2])],
            "truncated JSON",
        ),
        row(
            "a stray byte",
            vec![file(
                "tokenizer.json",
                [&text[..100], b"\x01", &text[100..]].concat(),
            )],
            "invalid JSON",
        ),
        row(
            "nested 200 arrays deep",
            vec![file(
                "tokenizer.json",
                format!("{{\"model\":{}1{}}}", "[".repeat(200), "]".repeat(200)),
            )],
            "recursion limit exceeded",
        ),
        row(
            "no model",
            edit(&|v| {
                v.as_object_mut().unwrap().remove("model");
            }),
            "not a tokenizer.json: no \"model\" object",
        ),
        row(
            "model type \"XYZ\"",
            edit(&|v| v["model"]["type"] = json!("XYZ")),
            "cannot build the tokenizer",
        ),
        row(
            "a vocab id of u32::MAX",
            edit(&|v| v["model"]["vocab"]["<huge>"] = json!(4294967295u64)),
            "token \"<huge>\" has id 4294967295, far past the 513 entries",
        ),
        row(
            "a vocab id of -1",
            edit(&|v| v["model"]["vocab"]["<neg>"] = json!(-1)),
            "cannot build the tokenizer",
        ),
        row(
            "a merge of unknown tokens",
            edit(&|v| v["model"]["merges"][0] = json!(["zz", "yy"])),
            "cannot build the tokenizer",
        ),
        row(
            "the model's \"type\" given twice (the last wins)",
            vec![file("tokenizer.json", dup)],
            "",
        ),
        row(
            "an added token id of 2^40",
            edit(&|v| v["added_tokens"][0]["id"] = json!(1u64 << 40)),
            "cannot build the tokenizer",
        ),
        row(
            "normalizer replaced by 5",
            edit(&|v| v["normalizer"] = json!(5)),
            "cannot build the tokenizer",
        ),
        row(
            "a Strip decoder with stop 1",
            edit(&|v| {
                v["decoder"] = json!({"type": "Strip", "content": " ", "start": 1, "stop": 1})
            }),
            "Strip decoder with stop 1: not supported",
        ),
        row(
            "a Strip decoder with stop u32::MAX inside a Sequence",
            edit(&|v| v["decoder"]["decoders"][3]["stop"] = json!(4294967295u64)),
            "Strip decoder with stop 4294967295",
        ),
        row(
            "continuing_subword_prefix longer than a merge's right part",
            edit(&|v| v["model"]["continuing_subword_prefix"] = json!("F64")),
            "merge #0: right part \"t\" cannot hold the continuing_subword_prefix \"F64\"",
        ),
        row(
            "Precompiled charsmap not base64",
            precompiled("not base64!".into()),
            "Precompiled normalizer: precompiled_charsmap is not base64",
        ),
        row(
            "Precompiled charsmap with trie size u32::MAX",
            precompiled(b64(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])),
            "Precompiled normalizer: trie size 4294967295",
        ),
        row(
            "Precompiled charsmap with an empty trie",
            precompiled(b64(&[0, 0, 0, 0])),
            "Precompiled normalizer: the trie is empty",
        ),
        row(
            "Precompiled identity charsmap",
            precompiled(b64(&[&1024u32.to_le_bytes()[..], &[0u8; 1024][..]].concat())),
            "",
        ),
        row(
            "tokenizer_config.json not JSON (ignored)",
            vec![
                file("tokenizer.json", &text),
                file("tokenizer_config.json", "{\"bos_token\":"),
            ],
            "",
        ),
        row(
            "tokenizer_config.json with wrong types (ignored)",
            vec![
                file("tokenizer.json", &text),
                file(
                    "tokenizer_config.json",
                    "{\"bos_token\": 5, \"additional_special_tokens\": {}}",
                ),
            ],
            "",
        ),
    ]);

    let p = Target::new("bpe-pair-catalogue", load_bpe_pair);
    let enc = r#"{"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}"#;
    let pair = |e: &str, m: &[u8]| vec![file("encoder.json", e), file("vocab.bpe", m)];
    p.catalogue(vec![
        row(
            "encoder.json without vocab.bpe",
            vec![file("encoder.json", enc)],
            "a GPT-2 style BPE needs both files; vocab.bpe or merges.txt not found beside it",
        ),
        row(
            "vocab.bpe empty",
            pair(enc, b""),
            "vocab.bpe: the file is empty",
        ),
        row(
            "a merges line without a space",
            pair(enc, b"#version: 0.2\nab\n"),
            "vocab.bpe: line 2: expected two tokens, got \"ab\"",
        ),
        row(
            "vocab.bpe not UTF-8",
            pair(enc, b"a \xffb\n"),
            "merges file is not UTF-8",
        ),
        row(
            "a merge of unknown tokens",
            pair(enc, b"x y\n"),
            "encoder.json: Token `x` out of vocabulary",
        ),
        row(
            "an id of -1",
            pair(r#"{"a": -1}"#, b"a b\n"),
            "invalid JSON: invalid value: integer `-1`, expected u32",
        ),
        row(
            "an id of 2^32",
            pair(r#"{"a": 4294967296}"#, b"a b\n"),
            "expected u32",
        ),
        row(
            "an id of u32::MAX",
            pair(r#"{"a": 0, "b": 1, "ab": 4294967295}"#, b"a b\n"),
            "far past the 3 entries",
        ),
        row(
            "encoder.json an array",
            pair("[1, 2]", b"a b\n"),
            "invalid JSON: invalid type: sequence, expected a map",
        ),
        row("a valid pair", pair(enc, b"#version: 0.2\na b\n"), ""),
    ]);
}
