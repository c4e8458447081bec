//! Mistral's Tekken files as mistral-common ships them (fetched from PyPI by
//! scripts/fetch-tekken.sh): loaded into the one `Vocab` and audited like every other
//! format, with counts and ids equal to what mistral-common itself gives
//! (tests/tekken/expected.json, made by tests/tekken/reference.py). Broken files are clear
//! errors.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tokenaudit::audit::{self, Category};
use tokenaudit::vocab::{self, Format, LoadOptions};

fn tekken_dir() -> PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/scripts/fetch-tekken.sh"))
        .output()
        .expect("run scripts/fetch-tekken.sh");
    assert!(
        out.status.success(),
        "scripts/fetch-tekken.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn fnv(ids: &[u32]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for i in ids {
        for b in i.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}

#[test]
fn tekken_counts_and_ids_equal_mistral_common() {
    let dir = tekken_dir();
    let expected: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tekken/expected.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for (file, want) in expected["files"].as_object().unwrap() {
        let v = vocab::load(&dir.join(file), &LoadOptions::default()).unwrap();
        assert_eq!(v.format, Format::Tekken, "{file}");
        assert_eq!(
            v.len() as u64,
            want["vocab_size"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(v.bos_id.map(u64::from), want["bos"].as_u64(), "{file}");
        assert_eq!(v.eos_id.map(u64::from), want["eos"].as_u64(), "{file}");
        let r = audit::audit(&v);
        let n = |c: Category| r.tokens.iter().filter(|t| t.category == c).count() as u64;
        let c = &want["counts"];
        assert_eq!(
            n(Category::UnreachableSpecial),
            c["special"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(
            n(Category::Undecodeable),
            c["undecodeable"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(n(Category::Ok), c["ok"].as_u64().unwrap(), "{file}");
        assert_eq!(
            n(Category::UnreachableSingle) + n(Category::UnreachableMulti),
            c["unreachable"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(
            n(Category::OkSpecial),
            0,
            "{file}: specials are never matched in text"
        );
        for (text, w) in want["texts"].as_object().unwrap() {
            let s = std::fs::read_to_string(common::data().join("corpus").join(text)).unwrap();
            let ids = v.encode(&s).unwrap();
            let first: Vec<u32> = w["first"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(
                ids.len() as u64,
                w["count"].as_u64().unwrap(),
                "{file} {text}"
            );
            assert_eq!(&ids[..first.len()], first.as_slice(), "{file} {text}");
            assert_eq!(
                fnv(&ids),
                w["fnv"].as_str().unwrap(),
                "{file} {text}: ids differ"
            );
            // Byte-exact round trip.
            assert_eq!(v.decode(&ids).unwrap(), s, "{file} {text}: round trip");
        }
    }
}

/// A named edit of a good file, and what the error must say.
type Case = (&'static str, Box<dyn Fn(&mut Value)>, &'static str);

#[test]
fn broken_tekken_files_are_clear_errors() {
    let src = tekken_dir().join("tekken_240718.json");
    let good: Value = serde_json::from_slice(&std::fs::read(&src).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<Case> = vec![
        (
            "no-pattern",
            Box::new(|v| {
                v["config"].as_object_mut().unwrap().remove("pattern");
            }),
            "config.pattern",
        ),
        (
            "short",
            Box::new(|v| {
                v["vocab"].as_array_mut().unwrap().truncate(5000);
            }),
            "fewer than default_vocab_size",
        ),
        (
            "rank",
            Box::new(|v| v["vocab"][7]["rank"] = 9.into()),
            "vocab entry 7 has rank 9",
        ),
        (
            "base64",
            Box::new(|v| v["vocab"][300]["token_bytes"] = "%%%".into()),
            "not base64",
        ),
        (
            "v13",
            Box::new(|v| v["config"]["version"] = "v13".into()),
            "no special_tokens list",
        ),
        (
            "specials",
            Box::new(|v| v["config"]["default_num_special_tokens"] = 200000.into()),
            "exceeds default_vocab_size",
        ),
    ];
    for (name, edit, want) in cases {
        let mut v = good.clone();
        edit(&mut v);
        let p = tmp.path().join(format!("{name}.json"));
        std::fs::write(&p, v.to_string()).unwrap();
        let e = vocab::load(&p, &LoadOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(want), "{name}: {e}");
        assert!(
            e.contains(&*p.to_string_lossy()),
            "{name}: names the file: {e}"
        );
    }
    // Truncated mid-file: not JSON, said so.
    let bytes = std::fs::read(&src).unwrap();
    let p = tmp.path().join("cut.json");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = vocab::load(&p, &LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not JSON"), "{e}");
}
