//! Fuzzing the SentencePiece `ModelProto` loader (`vocab::protobuf`, `vocab::spm`, and the
//! SentencePiece tokenizer builder) with mutations of real `.model` files and random bytes.
//! See `tests/fuzz/driver.rs` for the driver and `docs/faults.md` for the results.

use std::path::Path;

use crate::driver::*;
use proptest::prelude::*;
use tokenaudit::vocab::{self, Format, LoadOptions};

fn load_forced(p: &Path) -> Result<String, String> {
    let opts = LoadOptions {
        format: Some(Format::SentencePiece),
        preset: None,
    };
    vocab::load(p, &opts)
        .map(|v| use_vocab(&v))
        .map_err(|e| e.to_string())
}

fn load_detected(p: &Path) -> Result<String, String> {
    vocab::load(p, &LoadOptions::default())
        .map(|v| use_vocab(&v))
        .map_err(|e| e.to_string())
}

fn varint(b: &[u8], p: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for k in 0..10 {
        let c = *b.get(p + k)?;
        if k < 10 {
            v |= ((c & 0x7f) as u64) << (7 * k);
        }
        if c & 0x80 == 0 {
            return Some((v, k + 1));
        }
    }
    None
}

/// Boundaries and varint fields of a protobuf message, nested messages included (pieces,
/// trainer_spec, normalizer_spec: fields 1-3 at the top level).
fn walk(b: &[u8], base: usize, depth: usize, s: &mut Seed) {
    let mut p = 0;
    while p < b.len() {
        s.bounds.push(base + p);
        let Some((key, kw)) = varint(b, p) else {
            return;
        };
        let (num, wt) = (key >> 3, key & 7);
        p += kw;
        s.bounds.push(base + p);
        match wt {
            0 => {
                let Some((_, w)) = varint(b, p) else { return };
                s.fields.push(Field {
                    at: base + p,
                    width: Width::Varint(w),
                });
                p += w;
            }
            2 => {
                let Some((len, w)) = varint(b, p) else { return };
                s.fields.push(Field {
                    at: base + p,
                    width: Width::Varint(w),
                });
                p += w;
                s.bounds.push(base + p);
                let end = p + len as usize;
                if end > b.len() {
                    return;
                }
                if depth == 0 && (1..=3).contains(&num) {
                    walk(&b[p..end], base + p, 1, s);
                }
                p = end;
            }
            5 => p += 4,
            1 => p += 8,
            _ => return,
        }
    }
    s.bounds.push(base + b.len());
}

fn seed(name: &str, bytes: Vec<u8>) -> Seed {
    let mut s = Seed {
        name: name.to_string(),
        bytes,
        ..Seed::default()
    };
    let b = s.bytes.clone();
    walk(&b, 0, 0, &mut s);
    s.bounds.sort_unstable();
    s.bounds.dedup();
    s
}

/// A real model cut to its first `n` pieces, specs kept: realistic and fast to build.
fn shrunk(bytes: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pieces = 0;
    let mut p = 0;
    while p < bytes.len() {
        let (key, kw) = varint(bytes, p).expect("key");
        let (len, lw) = varint(bytes, p + kw).expect("len");
        let end = p + kw + lw + len as usize;
        if key >> 3 != 1 || pieces < n {
            out.extend_from_slice(&bytes[p..end]);
        }
        pieces += (key >> 3 == 1) as usize;
        p = end;
    }
    out
}

fn charsmap_field(charsmap: &[u8]) -> Vec<u8> {
    // normalizer_spec { precompiled_charsmap = charsmap }
    let mut inner = vec![0x12];
    inner.extend(encode_varint(charsmap.len() as u64));
    inner.extend_from_slice(charsmap);
    let mut f = vec![0x1a];
    f.extend(encode_varint(inner.len() as u64));
    f.extend(inner);
    f
}

/// A precompiled charsmap: u32 trie size, the trie's u32 units, the normalized strings.
#[derive(Debug, Clone)]
struct Charsmap {
    size: Option<u32>,
    units: Vec<u32>,
    normalized: Vec<u8>,
}

fn charsmap() -> impl Strategy<Value = Charsmap> {
    (
        prop_oneof![
            Just(None),
            Just(Some(u32::MAX)),
            Just(Some(0)),
            any::<u32>().prop_map(Some)
        ],
        proptest::collection::vec(
            prop_oneof![any::<u32>(), 0u32..4096, Just(0x100 | b'a' as u32)],
            0..64,
        ),
        proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>(), b'a'..=b'z'], 0..32),
    )
        .prop_map(|(size, units, normalized)| Charsmap {
            size,
            units,
            normalized,
        })
}

fn charsmap_bytes(c: &Charsmap) -> Vec<u8> {
    let mut b = c
        .size
        .unwrap_or(4 * c.units.len() as u32)
        .to_le_bytes()
        .to_vec();
    for u in &c.units {
        b.extend(u.to_le_bytes());
    }
    b.extend_from_slice(&c.normalized);
    b
}

#[test]
fn spm_structural_sweep() {
    let t = Target::new("spm-sweep", load_forced);
    let small = seed("stories260K", read("models/stories260K/tokenizer.model"));
    let llama2 = seed("llama2", read("tokenizers/llama2/tokenizer.model"));
    let mut cases = Vec::new();
    // Truncation at every boundary of the small model.
    for &at in &small.bounds {
        if at < small.bytes.len() {
            cases.push((
                "stories260K: truncate at a boundary".to_string(),
                vec![file("tokenizer.model", &small.bytes[..at])],
            ));
        }
    }
    // Length/varint fields of the small model (spread over the file) set to each special
    // value.
    for i in spread(small.fields.len(), scaled(200)) {
        for (k, special) in SPECIALS.iter().enumerate() {
            let b = apply(&small, &[Mutation::SetField(i, k)]);
            cases.push((
                format!("stories260K: varint set to {special}"),
                vec![file("tokenizer.model", b)],
            ));
        }
    }
    t.sweep(cases);
    // Spread truncations of the full Llama-2 model.
    let llama2 = &llama2;
    t.sweep_lazy(
        spread(llama2.bounds.len(), scaled(200))
            .into_iter()
            .map(|i| {
                lazy("llama2: truncate at a boundary", move || {
                    vec![file("tokenizer.model", &llama2.bytes[..llama2.bounds[i]])]
                })
            })
            .collect(),
    );
    t.report();
}

#[test]
fn spm_mutations() {
    let t = Target::new("spm-mutations", load_forced);
    let seeds = [
        seed("stories260K", read("models/stories260K/tokenizer.model")),
        seed(
            "llama2 first 600 pieces",
            shrunk(&read("tokenizers/llama2/tokenizer.model"), 600),
        ),
        seed(
            "mistral-v3 first 800 pieces",
            shrunk(
                &read("tokenizers/mistral-v3/mistral_instruct_tokenizer_240323.model.v3"),
                800,
            ),
        ),
    ];
    t.random(scaled(900), (0..seeds.len(), mutations()), |(s, muts)| {
        let seed = &seeds[*s];
        (
            label(&seed.name, muts),
            vec![file("tokenizer.model", apply(seed, muts))],
        )
    });
    // A few on a full-size model (each one that still parses builds 32k pieces).
    let full = seed("llama2", read("tokenizers/llama2/tokenizer.model"));
    t.random(scaled(25), mutations(), |muts| {
        (
            label(&full.name, muts),
            vec![file("tokenizer.model", apply(&full, muts))],
        )
    });
    t.report();
}

#[test]
fn spm_charsmaps() {
    // Hostile precompiled charsmaps (the normalizer's trie): they are read by the
    // tokenizers crate, and used on every encode.
    let t = Target::new("spm-charsmap", load_forced);
    let base = shrunk(&read("models/stories260K/tokenizer.model"), 512);
    t.random(scaled(400), charsmap(), |c| {
        let mut b = base.clone();
        b.extend(charsmap_field(&charsmap_bytes(c)));
        (
            "stories260K + random charsmap".to_string(),
            vec![file("tokenizer.model", b)],
        )
    });
    t.report();
}

#[test]
fn spm_random_bytes() {
    const PREFIXES: &[&[u8]] = &[b"\x0a", b"\x0a\x05\x0a\x01a\x15", b"\x12\x02\x18\x02"];
    let forced = Target::new("spm-random-forced", load_forced);
    forced.random(scaled(300), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("tokenizer.model", with_prefix(PREFIXES, r))],
        )
    });
    forced.report();
    let detected = Target::new("spm-random-detected", load_detected);
    detected.random(scaled(300), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("tokenizer.model", with_prefix(PREFIXES, r))],
        )
    });
    detected.report();
}

#[test]
fn spm_regressions() {
    let t = Target::new("spm-regressions", load_forced);
    for (name, bytes) in regressions("spm") {
        t.case(&name, &[file("tokenizer.model", bytes)])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    t.report();
}

// ---------------------------------------------------------------------------------------
// The catalogue (docs/faults.md)
// ---------------------------------------------------------------------------------------

fn key(num: u64, wire: u64) -> Vec<u8> {
    encode_varint((num << 3) | wire)
}
fn bytes_field(num: u64, payload: &[u8]) -> Vec<u8> {
    let mut b = key(num, 2);
    b.extend(encode_varint(payload.len() as u64));
    b.extend_from_slice(payload);
    b
}
fn varint_field(num: u64, v: u64) -> Vec<u8> {
    let mut b = key(num, 0);
    b.extend(encode_varint(v));
    b
}
fn piece(text: &[u8], score: f32, ty: u64) -> Vec<u8> {
    let mut p = bytes_field(1, text);
    p.extend(key(2, 5));
    p.extend(score.to_le_bytes());
    p.extend(varint_field(3, ty));
    bytes_field(1, &p)
}
/// A tiny BPE model: <unk>, <s>, </s>, ▁, a, b, ▁a, then `extra` pieces, then the specs.
fn tiny(extra: &[Vec<u8>], model_type: u64, normalizer: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for (t, s, ty) in [
        ("<unk>", 0.0, 2),
        ("<s>", 0.0, 3),
        ("</s>", 0.0, 3),
        ("▁", -1.0, 1),
        ("a", -2.0, 1),
        ("b", -3.0, 1),
        ("▁a", -0.5, 1),
    ] {
        b.extend(piece(t.as_bytes(), s, ty));
    }
    for p in extra {
        b.extend_from_slice(p);
    }
    b.extend(bytes_field(2, &varint_field(3, model_type)));
    b.extend(bytes_field(3, normalizer));
    b
}
fn with_charsmap(map: &[u8]) -> Vec<u8> {
    tiny(&[], 2, &bytes_field(2, map))
}

#[test]
fn spm_catalogue() {
    let t = Target::new("spm", load_forced);
    let f = |b: Vec<u8>| vec![file("tokenizer.model", b)];
    let llama2 = read("tokenizers/llama2/tokenizer.model");
    let after_pieces = {
        let mut p = 0;
        loop {
            let (k, kw) = varint(&llama2, p).unwrap();
            if k >> 3 != 1 {
                break p;
            }
            let (len, lw) = varint(&llama2, p + kw).unwrap();
            p += kw + lw + len as usize;
        }
    };
    let mut huge_len = key(1, 2);
    huge_len.extend(encode_varint(1 << 40));
    huge_len.extend_from_slice(b"abc");
    let mut long_varint = key(1, 0);
    long_varint.extend([0xFF; 10]);
    long_varint.push(0x01);
    // A trie of 256 units where 'a' leads to a replacement at byte 1000 of a 2-byte string.
    let mut units = vec![0u32; 256];
    units[0x61] = (0xE1 << 10) | 0x100 | 0x61;
    units[0x80] = 1000;
    let mut bad_value = 1024u32.to_le_bytes().to_vec();
    units.iter().for_each(|u| bad_value.extend(u.to_le_bytes()));
    bad_value.extend_from_slice(b"x\0");
    let mut identity = 1024u32.to_le_bytes().to_vec();
    identity.extend([0u8; 1024]);
    let mut outside = 8u32.to_le_bytes().to_vec();
    outside.extend(0xFFFF_FC00u32.to_le_bytes());
    outside.extend(0u32.to_le_bytes());
    t.catalogue(vec![
        row("empty file", f(Vec::new()), "the file is empty"),
        row(
            "Llama-2 model cut at byte 1000 (inside a piece)",
            f(llama2[..1000].to_vec()),
            "truncated",
        ),
        row(
            "Llama-2 model cut after its last piece",
            f(llama2[..after_pieces].to_vec()),
            "no trainer_spec/normalizer_spec after them",
        ),
        row(
            "a length varint set to 2^40",
            f(huge_len),
            "field needs 1099511627776 bytes",
        ),
        row("field number 0", f(vec![0x02, 0x00]), "field number 0"),
        row(
            "wire type 3 (group)",
            f(key(1, 3)),
            "unsupported wire type 3",
        ),
        row(
            "an 11-byte varint",
            f(long_varint),
            "varint longer than 10 bytes",
        ),
        row(
            "a piece that is a varint, not a message",
            f(varint_field(1, 5)),
            "piece entry is not a message",
        ),
        row(
            "piece text not UTF-8",
            f(tiny(&[piece(b"\xff\xfe", 0.0, 1)], 2, &[])),
            "text is not UTF-8",
        ),
        row(
            "a piece without text",
            f(tiny(&[bytes_field(1, &varint_field(3, 1))], 2, &[])),
            "has no text",
        ),
        row(
            "only specs, no pieces",
            f(bytes_field(2, &varint_field(3, 2))),
            "no pieces found",
        ),
        row("model type 3 (word)", f(tiny(&[], 3, &[])), "model type 3"),
        row(
            "model type -1 (ten-byte varint)",
            f(tiny(&[], u64::MAX, &[])),
            "model type -1",
        ),
        row(
            "a piece listed twice",
            f(tiny(&[piece(b"a", -2.0, 1)], 2, &[])),
            "",
        ),
        row(
            "piece type 99",
            f(tiny(&[piece(b"ab", -1.0, 99)], 2, &[])),
            "",
        ),
        row(
            "charsmap: trie size u32::MAX",
            f(with_charsmap(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])),
            "trie size 4294967295 is not a multiple of 4 that fits",
        ),
        row(
            "charsmap: empty trie",
            f(with_charsmap(&[0, 0, 0, 0])),
            "the trie is empty",
        ),
        row(
            "charsmap: 3 bytes",
            f(with_charsmap(&[1, 2, 3])),
            "shorter than its 4-byte trie size",
        ),
        row(
            "charsmap: root unit points outside the trie",
            f(with_charsmap(&outside)),
            "outside the trie",
        ),
        row(
            "charsmap: replacement past the strings",
            f(with_charsmap(&bad_value)),
            "replacement at byte 1000",
        ),
        row(
            "charsmap: strings not UTF-8",
            f(with_charsmap(&[0, 0, 0, 0, 0xFF])),
            "not UTF-8",
        ),
        row(
            "charsmap: an identity trie of 256 empty units",
            f(with_charsmap(&identity)),
            "",
        ),
    ]);
}
