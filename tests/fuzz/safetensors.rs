//! Fuzzing safetensors checkpoints (`weights::safetensors`, `weights::sharded`,
//! `weights::detect`, `weights::Checkpoint` with `config.json`): the header length, the
//! header JSON (offsets, shapes, dtypes), shard indexes (hostile shard names, missing
//! shards, tensors in the wrong shard) and `config.json`, from the real stories260K
//! checkpoint. Each case opens the checkpoint, finds the embeddings and reads rows.
//! See `tests/fuzz/driver.rs` and `docs/faults.md`.

use std::path::Path;

use crate::driver::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use tokenaudit::weights::Checkpoint;

/// Open the checkpoint through its directory, find the embeddings, read a few rows.
fn load_dir(p: &Path) -> Result<String, String> {
    load(p.parent().expect("case dir"))
}

/// Open the file itself.
fn load_file(p: &Path) -> Result<String, String> {
    load(p)
}

fn load(p: &Path) -> Result<String, String> {
    let ck = Checkpoint::open(p).map_err(|e| e.to_string())?;
    let _ = (
        ck.tensor_names(),
        ck.is_tied(),
        ck.tie_reason(),
        ck.mapped_files(),
    );
    let emb = ck.embeddings(None, None).map_err(|e| e.to_string())?;
    let mut sum = 0f64;
    for m in [&emb.input, emb.unembedding()] {
        let mut row = vec![0f32; m.cols];
        for i in [0, m.rows / 2, m.rows - 1] {
            m.row_into(i, &mut row);
            sum += row.iter().map(|&x| x as f64).sum::<f64>();
        }
    }
    Ok(format!(
        "{}x{} rows read, sum {sum:.3}",
        emb.input.rows, emb.input.cols
    ))
}

/// A real checkpoint split into its header (as JSON) and data section.
struct Parts {
    header: Value,
    data: Vec<u8>,
}

fn split(bytes: &[u8]) -> Parts {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    Parts {
        header: serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        data: bytes[8 + n..].to_vec(),
    }
}

fn join(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend_from_slice(data);
    b
}

/// stories260K cut to the embedding, one norm and an untied "lm_head" copy of the
/// embedding: the tensors the loader reads, in 260 KB.
fn small_checkpoint() -> (Vec<u8>, Vec<u8>) {
    let full = read("models/stories260K/model.safetensors");
    let p = split(&full);
    let emb = p.header["model.embed_tokens.weight"].clone();
    let (b, e) = (
        emb["data_offsets"][0].as_u64().unwrap() as usize,
        emb["data_offsets"][1].as_u64().unwrap() as usize,
    );
    let norm = p.header["model.norm.weight"].clone();
    let (nb, ne) = (
        norm["data_offsets"][0].as_u64().unwrap() as usize,
        norm["data_offsets"][1].as_u64().unwrap() as usize,
    );
    let mut data = p.data[b..e].to_vec();
    let e1 = data.len();
    data.extend_from_slice(&p.data[nb..ne]);
    let e2 = data.len();
    data.extend_from_slice(&p.data[b..e]);
    let e3 = data.len();
    let header = json!({
        "__metadata__": {"format": "pt"},
        "model.embed_tokens.weight": {"dtype": "F32", "shape": [512, 64], "data_offsets": [0, e1]},
        "model.norm.weight": {"dtype": "F32", "shape": [64], "data_offsets": [e1, e2]},
        "lm_head.weight": {"dtype": "F32", "shape": [512, 64], "data_offsets": [e2, e3]},
    });
    let mut config: Value =
        serde_json::from_slice(&read("models/stories260K/config.json")).unwrap();
    config["tie_word_embeddings"] = json!(false);
    (
        join(&serde_json::to_vec(&header).unwrap(), &data),
        serde_json::to_vec(&config).unwrap(),
    )
}

fn config() -> Vec<u8> {
    read("models/stories260K/config.json")
}

fn st_seed(bytes: &[u8]) -> Seed {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut bounds = vec![0, 8];
    bounds.extend(json_bounds(&bytes[8..8 + n]).into_iter().map(|b| b + 8));
    let p = split(bytes);
    for (_, v) in p.header.as_object().unwrap() {
        if let Some(o) = v["data_offsets"].as_array() {
            for x in o {
                bounds.push(8 + n + x.as_u64().unwrap() as usize);
            }
        }
    }
    bounds.sort_unstable();
    bounds.dedup();
    Seed {
        name: String::new(),
        bytes: bytes.to_vec(),
        bounds,
        fields: vec![Field {
            at: 0,
            width: Width::U64,
        }],
    }
}

#[derive(Debug, Clone)]
enum Edit {
    /// Byte-level mutations of the whole file.
    Bytes(Vec<Mutation>),
    /// JSON-level edits of the header, with the length prefix fixed up (or not).
    Header(Vec<(usize, JsonEdit)>, bool),
    /// JSON-level edit of config.json.
    Config(usize, JsonEdit),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => mutations().prop_map(Edit::Bytes),
        5 => (proptest::collection::vec(json_edit(), 1..=2), proptest::bool::weighted(0.9))
            .prop_map(|(e, fix)| Edit::Header(e, fix)),
        1 => json_edit().prop_map(|(i, e)| Edit::Config(i, e)),
    ]
}

fn apply_edit(name: &str, st: &[u8], cfg: &[u8], e: &Edit) -> (String, Vec<File>) {
    match e {
        Edit::Bytes(m) => (
            label(name, m),
            vec![
                file("model.safetensors", apply(&st_seed(st), m)),
                file("config.json", cfg),
            ],
        ),
        Edit::Header(edits, fix) => {
            let p = split(st);
            let mut h = p.header.clone();
            let mut text = String::new();
            for (i, (idx, ed)) in edits.iter().enumerate() {
                text = json_apply(&h, *idx, ed);
                if i + 1 < edits.len() {
                    match serde_json::from_str(&text) {
                        Ok(x) => h = x,
                        Err(_) => break,
                    }
                }
            }
            let mut b = join(text.as_bytes(), &p.data);
            if !fix {
                let n = u64::from_le_bytes(st[..8].try_into().unwrap());
                b[..8].copy_from_slice(&n.to_le_bytes());
            }
            (
                format!(
                    "{name}: header {}{}",
                    json_edit_kind(&edits[0].1),
                    if *fix {
                        ""
                    } else {
                        " (length prefix not updated)"
                    }
                ),
                vec![file("model.safetensors", b), file("config.json", cfg)],
            )
        }
        Edit::Config(idx, ed) => (
            format!("{name}: config.json {}", json_edit_kind(ed)),
            vec![
                file("model.safetensors", st),
                file(
                    "config.json",
                    json_apply(&serde_json::from_slice(cfg).unwrap(), *idx, ed),
                ),
            ],
        ),
    }
}

#[test]
fn safetensors_sweep() {
    let t = Target::new("safetensors-sweep", load_dir);
    let (st, cfg) = small_checkpoint();
    t.seed_loads(
        "small",
        &[file("model.safetensors", &st), file("config.json", &cfg)],
    );
    let seed = st_seed(&st);
    let header = split(&seed.bytes).header;
    let data = split(&seed.bytes).data;
    let (seed, cfg, header, data) = (&seed, &cfg, &header, &data);
    let mut cases: Vec<Lazy> = Vec::new();
    // Truncation at every structural boundary: the length prefix, each JSON character of
    // the header, each tensor's first and last byte.
    for &b in &seed.bounds {
        for at in [b.saturating_sub(1), b] {
            cases.push(lazy("small: truncate at a boundary", move || {
                vec![
                    file("model.safetensors", &seed.bytes[..at]),
                    file("config.json", cfg),
                ]
            }));
        }
    }
    // The header length set to each special value.
    for (k, special) in SPECIALS.iter().enumerate() {
        cases.push(lazy(
            format!("small: header length set to {special}"),
            move || {
                vec![
                    file(
                        "model.safetensors",
                        apply(seed, &[Mutation::SetField(0, k)]),
                    ),
                    file("config.json", cfg),
                ]
            },
        ));
    }
    // Every node of the header replaced by every replacement.
    for node in 0..40 {
        for k in 0..27 {
            let e = JsonEdit::Replace(k);
            cases.push(lazy(
                format!("small: header {}", json_edit_kind(&e)),
                move || {
                    let h = json_apply(header, node, &e);
                    vec![
                        file("model.safetensors", join(h.as_bytes(), data)),
                        file("config.json", cfg),
                    ]
                },
            ));
        }
    }
    t.sweep_lazy(cases);
    t.report();
}

#[test]
fn safetensors_mutations() {
    let t = Target::new("safetensors", load_dir);
    let (small, small_cfg) = small_checkpoint();
    let full = read("models/stories260K/model.safetensors");
    let cfg = config();
    t.seed_loads(
        "stories260K",
        &[file("model.safetensors", &full), file("config.json", &cfg)],
    );
    t.random(scaled(900), (0..4usize, edit()), |(s, e)| {
        if *s == 0 {
            apply_edit("stories260K", &full, &cfg, e)
        } else {
            apply_edit("small", &small, &small_cfg, e)
        }
    });
    t.report();
    // The same through the file path (no directory detection).
    let f = Target::new("safetensors-file", load_file);
    f.random(scaled(200), edit(), |e| {
        apply_edit("small", &small, &small_cfg, e)
    });
    f.report();
}

// ---------------------------------------------------------------------------------------
// Shard indexes
// ---------------------------------------------------------------------------------------

const SHARD_NAMES: &[&str] = &[
    "",
    ".",
    "..",
    "../model-00001-of-00002.safetensors",
    "/etc/passwd",
    "/dev/zero",
    "sub/../model-00001-of-00002.safetensors",
    "./model-00001-of-00002.safetensors",
    "model.safetensors.index.json",
    "config.json",
    "missing.safetensors",
    "model-00002-of-00002.safetensors",
    "\u{0}",
    "a\\..\\b",
];

#[derive(Debug, Clone)]
enum IndexEdit {
    Json(usize, JsonEdit),
    /// Point tensor i at shard name k.
    Shard(usize, usize),
    /// Byte-level mutations of the first shard.
    ShardBytes(Vec<Mutation>),
    /// Remove the second shard file.
    RemoveShard,
}

fn index_edit() -> impl Strategy<Value = IndexEdit> {
    prop_oneof![
        3 => json_edit().prop_map(|(i, e)| IndexEdit::Json(i, e)),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(i, k)| IndexEdit::Shard(i, k)),
        2 => mutations().prop_map(IndexEdit::ShardBytes),
        1 => Just(IndexEdit::RemoveShard),
    ]
}

#[test]
fn shard_index_mutations() {
    let t = Target::new("shard-index", load_dir);
    let (small, cfg) = small_checkpoint();
    let p = split(&small);
    // Shard 1: the embedding; shard 2: the norm and lm_head.
    let mut shards = Vec::new();
    for names in [
        &["model.embed_tokens.weight"][..],
        &["model.norm.weight", "lm_head.weight"][..],
    ] {
        let mut header = serde_json::Map::new();
        let mut data = Vec::new();
        for n in names {
            let e = &p.header[*n];
            let (b, end) = (
                e["data_offsets"][0].as_u64().unwrap() as usize,
                e["data_offsets"][1].as_u64().unwrap() as usize,
            );
            let start = data.len();
            data.extend_from_slice(&p.data[b..end]);
            header.insert(
                n.to_string(),
                json!({"dtype": e["dtype"], "shape": e["shape"], "data_offsets": [start, data.len()]}),
            );
        }
        shards.push(join(&serde_json::to_vec(&header).unwrap(), &data));
    }
    let s1 = "model-00001-of-00002.safetensors";
    let s2 = "model-00002-of-00002.safetensors";
    let index = json!({"metadata": {"total_size": p.data.len()}, "weight_map": {
        "model.embed_tokens.weight": s1, "model.norm.weight": s2, "lm_head.weight": s2}});
    let files = |index: &[u8], shard1: &[u8], with2: bool| {
        let mut v = vec![
            file("model.safetensors.index.json", index),
            file(s1, shard1),
            file("config.json", &cfg),
        ];
        if with2 {
            v.push(file(s2, &shards[1]));
        }
        v
    };
    let index_text = serde_json::to_vec(&index).unwrap();
    t.seed_loads("two shards", &files(&index_text, &shards[0], true));
    let keys = [
        "model.embed_tokens.weight",
        "model.norm.weight",
        "lm_head.weight",
    ];
    let shard1 = st_seed(&shards[0]);
    t.random(
        scaled(500),
        proptest::collection::vec(index_edit(), 1..=2),
        |edits| {
            let mut idx = index.clone();
            let mut text = index_text.clone();
            let mut sh1 = shards[0].clone();
            let mut with2 = true;
            for e in edits {
                match e {
                    IndexEdit::Json(i, ed) => text = json_apply(&idx, *i, ed).into_bytes(),
                    IndexEdit::Shard(i, k) => {
                        idx["weight_map"][keys[i % keys.len()]] =
                            json!(SHARD_NAMES[k % SHARD_NAMES.len()]);
                        text = serde_json::to_vec(&idx).unwrap();
                    }
                    IndexEdit::ShardBytes(m) => sh1 = apply(&shard1, m),
                    IndexEdit::RemoveShard => with2 = false,
                }
            }
            let l = match &edits[0] {
                IndexEdit::Json(_, ed) => format!("index {}", json_edit_kind(ed)),
                IndexEdit::Shard(_, k) => {
                    format!("shard name {:?}", SHARD_NAMES[k % SHARD_NAMES.len()])
                }
                IndexEdit::ShardBytes(m) => label("shard 1", m),
                IndexEdit::RemoveShard => "shard 2 missing".into(),
            };
            (l, files(&text, &sh1, with2))
        },
    );
    t.report();
}

#[test]
fn safetensors_random_bytes() {
    const PREFIXES: &[&[u8]] = &[
        b"\x02\x00\x00\x00\x00\x00\x00\x00{}",
        b"\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
        b"\xff\xff\xff\xff\xff\xff\xff\xff{",
        b"PK\x03\x04",
        b"\x80\x02",
    ];
    let t = Target::new("safetensors-random", load_file);
    t.random(scaled(300), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("model.safetensors", with_prefix(PREFIXES, r))],
        )
    });
    t.report();
    // An unknown extension goes through content detection.
    let d = Target::new("weights-detect-random", load_file);
    d.random(scaled(300), random_bytes(PREFIXES), |r| {
        (
            "random bytes".to_string(),
            vec![file("weights.bin", with_prefix(PREFIXES, r))],
        )
    });
    d.report();
}

#[test]
fn safetensors_regressions() {
    let t = Target::new("safetensors-regressions", load_dir);
    for (name, mut files) in regression_dirs("safetensors") {
        files.sort_by_key(|f| !f.0.ends_with(".safetensors"));
        t.case(&name, &files).unwrap_or_else(|e| panic!("{e}"));
    }
    t.report();
}

/// Checkpoint directories unpacked from an archive can hold symbolic links and named
/// pipes where files are expected. Reading `/dev/zero` never ends, opening a FIFO blocks.
#[test]
fn links_and_pipes() {
    let t = Target::new("safetensors-links", load_dir);
    let (st, cfg) = small_checkpoint();
    let shard_index = |shard: File| {
        vec![
            file(
                "model.safetensors.index.json",
                b"{\"weight_map\": {\"model.embed_tokens.weight\": \"s.safetensors\", \
                  \"lm_head.weight\": \"s.safetensors\"}}",
            ),
            shard,
            file("config.json", &cfg),
        ]
    };
    let cases = [
        (
            "config.json -> /dev/zero",
            vec![
                file("model.safetensors", &st),
                file("@config.json", "/dev/zero"),
            ],
        ),
        (
            "config.json is a FIFO",
            vec![file("model.safetensors", &st), file("|config.json", "")],
        ),
        (
            "config.json -> a directory",
            vec![file("model.safetensors", &st), file("@config.json", "/")],
        ),
        (
            "model.safetensors -> /dev/zero",
            vec![
                file("@model.safetensors", "/dev/zero"),
                file("config.json", &cfg),
            ],
        ),
        (
            "model.safetensors is a FIFO",
            vec![file("|model.safetensors", ""), file("config.json", &cfg)],
        ),
        (
            "model.safetensors.index.json -> /dev/zero",
            vec![
                file("@model.safetensors.index.json", "/dev/zero"),
                file("config.json", &cfg),
            ],
        ),
        (
            "shard -> /dev/zero",
            shard_index(file("@s.safetensors", "/dev/zero")),
        ),
        (
            "shard -> a directory",
            shard_index(file("@s.safetensors", "/")),
        ),
        ("shard is a FIFO", shard_index(file("|s.safetensors", ""))),
        (
            "shard -> the index",
            shard_index(file("@s.safetensors", "model.safetensors.index.json")),
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(l, f)| t.case(l, f).err())
        .collect();
    t.report();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The catalogue (docs/faults.md)
// ---------------------------------------------------------------------------------------

#[test]
fn safetensors_catalogue() {
    let t = Target::new("safetensors-catalogue", load_dir);
    let cfg = config();
    let emb_data = vec![0u8; 8 * 4 * 4];
    // An 8 x 4 f32 embedding "model.embed_tokens.weight" (tied by config.json), with the
    // header written from `entry` (dtype, shape, offsets as JSON text) and `extra`.
    let st = |entry: &str, extra: &str| {
        let header = format!("{{\"model.embed_tokens.weight\":{entry}{extra}}}");
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend(header.as_bytes());
        b.extend(&emb_data);
        vec![file("model.safetensors", b), file("config.json", &cfg)]
    };
    let good = r#"{"dtype":"F32","shape":[8,4],"data_offsets":[0,128]}"#;
    let raw = |b: &[u8]| vec![file("model.safetensors", b), file("config.json", &cfg)];
    let mut huge_len = u64::MAX.to_le_bytes().to_vec();
    huge_len.extend(b"{}");
    let mut past_eof = 100u64.to_le_bytes().to_vec();
    past_eof.extend(b"{}");
    let with_config = |c: &[u8]| {
        let mut v = st(good, "");
        v[1] = file("config.json", c);
        v
    };
    t.catalogue(vec![
        row("3 bytes", raw(b"abc"), "truncated: the file has 3 bytes"),
        row(
            "header length u64::MAX",
            raw(&huge_len),
            "header length 18446744073709551615 is over the 100000000-byte limit",
        ),
        row(
            "header length past the end",
            raw(&past_eof),
            "truncated: the header length says 100 bytes of JSON, but only 2 bytes follow",
        ),
        row(
            "header is a JSON array",
            st(good, "")
                .into_iter()
                .map(|f| {
                    if f.0 == "model.safetensors" {
                        let h = b"[1,2]";
                        let mut b = (h.len() as u64).to_le_bytes().to_vec();
                        b.extend(h);
                        file("model.safetensors", b)
                    } else {
                        f
                    }
                })
                .collect(),
            "the header is not a JSON object",
        ),
        row(
            "header JSON cut short",
            st(r#"{"dtype":"F32","#, ""),
            "the header is not valid JSON",
        ),
        row(
            "data_offsets past the end",
            st(
                r#"{"dtype":"F32","shape":[8,4],"data_offsets":[0,1099511627776]}"#,
                "",
            ),
            "lie past the end of the data section (128 bytes)",
        ),
        row(
            "data_offsets reversed",
            st(
                r#"{"dtype":"F32","shape":[8,4],"data_offsets":[128,0]}"#,
                "",
            ),
            "end before they begin",
        ),
        row(
            "data_offsets [-1, 128]",
            st(
                r#"{"dtype":"F32","shape":[8,4],"data_offsets":[-1,128]}"#,
                "",
            ),
            "bad header entry",
        ),
        row(
            "shape [8, 4] but 64 bytes",
            st(r#"{"dtype":"F32","shape":[8,4],"data_offsets":[0,64]}"#, ""),
            "shape [8, 4] of F32 needs 128 bytes, but data_offsets [0, 64] cover 64",
        ),
        row(
            "shape [2^32, 2^32] (product overflows)",
            st(
                r#"{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,128]}"#,
                "",
            ),
            "needs more than 2^64 bytes",
        ),
        row(
            "shape [u64::MAX, 2]",
            st(
                r#"{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,128]}"#,
                "",
            ),
            "needs more than 2^64 bytes",
        ),
        row(
            "two tensors overlapping",
            st(
                good,
                r#","lm_head.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[64,128]}"#,
            ),
            "overlap",
        ),
        row(
            "an unknown field in an entry",
            st(
                r#"{"dtype":"F32","shape":[8,4],"data_offsets":[0,128],"x":1}"#,
                "",
            ),
            "unknown field `x`",
        ),
        row(
            "dtype given twice, F32 then F16 (the last wins)",
            st(
                r#"{"dtype":"F32","dtype":"F16","shape":[8,4],"data_offsets":[0,128]}"#,
                "",
            ),
            "shape [8, 4] of F16 needs 64 bytes",
        ),
        row(
            "dtype I64 (a size that fits)",
            st(
                r#"{"dtype":"I64","shape":[8,2],"data_offsets":[0,128]}"#,
                "",
            ),
            "has dtype I64, which is not a float type we can read",
        ),
        row(
            "dtype Q4_0 (unknown to safetensors)",
            st(
                r#"{"dtype":"Q4_0","shape":[8,4],"data_offsets":[0,128]}"#,
                "",
            ),
            "has dtype Q4_0",
        ),
        row(
            "the embedding 3-D [8, 2, 2]",
            st(
                r#"{"dtype":"F32","shape":[8,2,2],"data_offsets":[0,128]}"#,
                "",
            ),
            "shape [8, 2, 2] is not a 2-D matrix",
        ),
        row(
            "the embedding [0, 4] beside 128 data bytes",
            st(r#"{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}"#, ""),
            "the data section is 128 bytes but its tensors end at 0",
        ),
        row(
            "a tensor name given twice (the last wins)",
            st(
                r#"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#,
                &format!(r#","model.embed_tokens.weight":{good}"#),
            ),
            "",
        ),
        row(
            "a 100 KB tensor name that looks like an embedding",
            {
                let name = format!("embed_{}", "x".repeat(100_000));
                let header = format!("{{\"{name}\":{good}}}");
                let mut b = (header.len() as u64).to_le_bytes().to_vec();
                b.extend(header.as_bytes());
                b.extend(&emb_data);
                raw(&b)
            },
            "no input embedding tensor under the usual names",
        ),
        row(
            "a torch zip renamed .safetensors",
            raw(b"PK\x03\x04\0\0\0\0\0\0"),
            "refusing to load a pickle checkpoint",
        ),
        row(
            "config.json not JSON",
            with_config(b"{\"tie_word"),
            "config.json: not valid JSON",
        ),
        row(
            "config.json an array",
            with_config(b"[]"),
            "config.json: not a JSON object",
        ),
        row(
            "config.json tie_word_embeddings \"yes\" (ignored)",
            with_config(b"{\"tie_word_embeddings\": \"yes\"}"),
            "",
        ),
        row(
            "no tensors at all",
            st(good, "")
                .into_iter()
                .map(|f| {
                    if f.0 == "model.safetensors" {
                        let h = b"{}";
                        let mut b = (h.len() as u64).to_le_bytes().to_vec();
                        b.extend(h);
                        file("model.safetensors", b)
                    } else {
                        f
                    }
                })
                .collect(),
            "no input embedding tensor",
        ),
    ]);

    // Shard indexes.
    let ix = Target::new("shard-index-catalogue", load_dir);
    let shard = st(good, "").remove(0).1;
    let dir = |index: &str, shards: &[(&str, &[u8])]| {
        let mut v = vec![
            file("model.safetensors.index.json", index),
            file("config.json", &cfg),
        ];
        for (n, b) in shards {
            v.push(file(n, b));
        }
        v
    };
    let one = |name: &str| format!(r#"{{"weight_map":{{"model.embed_tokens.weight":"{name}"}}}}"#);
    ix.catalogue(vec![
        row("index not JSON", dir("{\"weight_map\":", &[]), "model.safetensors.index.json: not valid JSON"),
        row("no weight_map", dir("{\"metadata\":{}}", &[]), "not a shard index (no \"weight_map\" object)"),
        row("an empty weight_map", dir("{\"weight_map\":{}}", &[]), "the weight_map is empty"),
        row("a shard name that is a number", dir(r#"{"weight_map":{"a":5}}"#, &[]), "weight_map entry 'a' is not a file name"),
        row("shard \"../model.safetensors\"", dir(&one("../model.safetensors"), &[]), "is not a relative path inside the checkpoint directory"),
        row("shard \"/etc/passwd\"", dir(&one("/etc/passwd"), &[]), "is not a relative path inside the checkpoint directory"),
        row("shard \"\"", dir(&one(""), &[]), "shard '' is empty"),
        row("a missing shard", dir(&one("s.safetensors"), &[]), "shard 's.safetensors' holding tensor 'model.embed_tokens.weight' is missing"),
        row("a shard without the tensor", dir(r#"{"weight_map":{"model.embed_tokens.weight":"s.safetensors","x":"t.safetensors"}}"#, &[("s.safetensors", b"\x02\0\0\0\0\0\0\0{}")]), "puts tensor 'model.embed_tokens.weight' in this shard, but it has no such tensor"),
        row("a shard that is the index itself", dir(&one("model.safetensors.index.json"), &[]), "over the 100000000-byte limit"),
        row("a valid index and its shard", dir(&one("s.safetensors"), &[("s.safetensors", &shard)]), ""),
    ]);
}
