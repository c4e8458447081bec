//! Regenerate `data/demo/tokenizer.json`: `cargo run --example make_demo_tokenizer`.

fn main() -> anyhow::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo/tokenizer.json");
    std::fs::write(path, tokenaudit::demo::build_json()?)?;
    println!("wrote {path}");
    Ok(())
}
