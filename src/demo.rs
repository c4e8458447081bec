//! The demo tokenizer shipped in `data/demo/`: a byte-level BPE trained by the project on
//! text it wrote (`data/demo/corpus.txt`), with entries added on purpose so that a plain
//! `tokenaudit audit` shows every category. `examples/make_demo_tokenizer.rs` writes it;
//! a test checks the shipped file is exactly what this function builds.

use std::collections::HashSet;

use anyhow::{anyhow, Result};
use serde_json::Value;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::normalizers::unicode::NFKC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::vocab::bytelevel;

pub const CORPUS: &str = include_str!("../data/demo/corpus.txt");

/// The shipped demo tokenizer, compiled into the binary so that `tokenaudit audit` works
/// wherever the binary is, not only beside the source tree it was built in.
pub const TOKENIZER_JSON: &str = include_str!("../data/demo/tokenizer.json");

/// How the demo tokenizer is named in summaries and reports.
pub const TOKENIZER_NAME: &str = "data/demo/tokenizer.json";

/// Load the demo tokenizer from the copy compiled into the binary.
pub fn tokenizer() -> crate::vocab::Result<crate::vocab::Vocab> {
    crate::vocab::hf::load_tokenizer_json_bytes(
        std::path::Path::new(TOKENIZER_NAME),
        TOKENIZER_JSON.as_bytes(),
    )
}

/// Vocabulary size the trainer aims for (before the hand-made entries).
const TRAIN_VOCAB: usize = 600;

/// Entries appended to the vocabulary without merges, each for one category:
/// reserved markers (UNREACHABLE_SPECIAL), a word with no merge path (UNREACHABLE_MULTI),
/// the first two bytes of "€" (UNDECODEABLE), and full-width "Ａ" and circled "①", which
/// the NFKC normalizer turns into the single tokens "A" and "1" (UNREACHABLE_SINGLE).
fn planted() -> Vec<String> {
    vec![
        "<|reserved_0|>".into(),
        "<|reserved_1|>".into(),
        "[UNUSED]".into(),
        bytelevel::bytes_to_string(" zqxjv".as_bytes()),
        bytelevel::bytes_to_string(" glitchtoken".as_bytes()),
        bytelevel::bytes_to_string(&"€".as_bytes()[..2]),
        bytelevel::bytes_to_string("Ａ".as_bytes()),
        bytelevel::bytes_to_string("①".as_bytes()),
    ]
}

pub fn build() -> Result<Tokenizer> {
    let mut tk = Tokenizer::new(BPE::default());
    tk.with_normalizer(Some(NFKC));
    tk.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tk.with_decoder(Some(tokenizers::decoders::byte_level::ByteLevel::default()));
    let specials = vec![
        AddedToken::from("<|endoftext|>", true),
        AddedToken::from("<|pad|>", true),
    ];
    let alphabet: HashSet<char> = (0..=255u8).map(bytelevel::byte_char).collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(TRAIN_VOCAB)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(alphabet)
        .build()
        .into();
    tk.train(&mut trainer, CORPUS.lines())
        .map_err(|e| anyhow!("training the demo tokenizer: {e}"))?;

    let mut json: Value = serde_json::from_str(&tk.to_string(false).map_err(|e| anyhow!("{e}"))?)?;
    let vocab = json["model"]["vocab"]
        .as_object_mut()
        .ok_or_else(|| anyhow!("trained model has no vocab"))?;
    let mut next = vocab.len() as u64;
    for entry in planted() {
        if !vocab.contains_key(&entry) {
            vocab.insert(entry, Value::from(next));
            next += 1;
        }
    }
    let tk: Tokenizer = serde_json::from_value(json)?;
    Ok(tk)
}

/// The tokenizer as it is written to `data/demo/tokenizer.json`.
pub fn build_json() -> Result<String> {
    build()?.to_string(true).map_err(|e| anyhow!("{e}"))
}
