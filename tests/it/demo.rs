//! The demo tokenizer shipped in data/demo/ is exactly what the project's own builder
//! makes, and auditing it shows every category; its CSV round-trips.

use std::path::Path;
use std::process::Command;

use tokenaudit::audit::{self, Category};
use tokenaudit::vocab::{self, LoadOptions};

#[test]
fn shipped_demo_tokenizer_is_reproducible() {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/tokenizer.json"),
    )
    .unwrap();
    assert_eq!(shipped, tokenaudit::demo::TOKENIZER_JSON);
    let rebuilt = tokenaudit::demo::build_json().unwrap();
    assert!(
        shipped == rebuilt,
        "data/demo/tokenizer.json is stale: run `cargo run --example make_demo_tokenizer`"
    );
}

#[test]
fn demo_audit_shows_every_category() {
    let v = tokenaudit::demo::tokenizer().unwrap();
    let from_file = vocab::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/tokenizer.json"),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(v.len(), from_file.len());
    let r = audit::audit(&v);
    for c in Category::ALL {
        assert!(
            r.categories[c.name()] > 0,
            "no {} token in the demo",
            c.name()
        );
    }
    // The planted entries land where they were meant to.
    let by_raw = |raw: &str| r.tokens.iter().find(|t| t.raw == raw).unwrap();
    assert_eq!(
        by_raw("<|reserved_0|>").category,
        Category::UnreachableSpecial
    );
    assert_eq!(by_raw("<|endoftext|>").category, Category::OkSpecial);
    assert_eq!(by_raw("Ġzqxjv").category, Category::UnreachableMulti);
    assert_eq!(by_raw("ï¼¡").category, Category::UnreachableSingle); // full-width A
    assert_eq!(by_raw("âĤ").category, Category::Undecodeable); // two bytes of "€"
    assert_eq!(r.counts.bytes, 256);
}

#[test]
fn csv_has_one_row_per_token_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("audit.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .args(["audit", "--json", "--csv"])
        .arg(&csv_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = json["vocab_size"].as_u64().unwrap() as usize;
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(&csv_path)
        .unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, tokenaudit::output::audit::CSV_HEADER);
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), n);
    let mut per_cat = std::collections::BTreeMap::<String, u64>::new();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0].parse::<usize>().unwrap(), i);
        *per_cat.entry(row[3].to_string()).or_default() += 1;
    }
    for (cat, count) in json["categories"].as_object().unwrap() {
        assert_eq!(
            per_cat.get(cat).copied().unwrap_or(0),
            count.as_u64().unwrap(),
            "{cat}"
        );
    }
    // Escaped text survives: the newline token is written as \n, not a line break.
    assert!(rows.iter().any(|r| &r[2] == "\\n"));
    // No temporary file is left beside the output.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}
