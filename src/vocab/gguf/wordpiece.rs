//! `bert` vocabularies: WordPiece, after undoing the converter's phantom-space form of
//! the pieces.

use std::path::Path;

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Tokenizer};

use super::{build_error, check_unique, Fields};
use crate::vocab::{Format, PieceKind, Result, Vocab};

/// Undo llama.cpp's "phantom space" form of a BERT vocabulary: the converter writes
/// word-initial pieces with a leading '▁' and continuation pieces without their "##",
/// and leaves bracketed tokens ("[CLS]", "[unused0]") alone.
fn wordpiece_token(t: &str) -> String {
    if t.starts_with('[') && t.ends_with(']') {
        t.to_string()
    } else if let Some(word) = t.strip_prefix('▁') {
        word.to_string()
    } else {
        format!("##{t}")
    }
}

/// BERT's tokenizer as transformers builds it for an uncased model: BertNormalizer
/// (clean text, Chinese characters spaced, lowercase with accents stripped),
/// BertPreTokenizer, WordPiece with "##" continuations.
pub(super) fn wordpiece_vocab(path: &Path, f: &Fields, unk_id: Option<u32>) -> Result<Vocab> {
    let tokens: Vec<String> = f.tokens.iter().map(|t| wordpiece_token(t)).collect();
    check_unique(path, &tokens)?;
    // llama.cpp types BERT's [UNK] as control, so the id comes from unknown_token_id.
    let unk = unk_id
        .and_then(|i| tokens.get(i as usize))
        .cloned()
        .unwrap_or_else(|| "[UNK]".to_string());
    let vocab: ahash::AHashMap<String, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token(unk)
        .continuing_subword_prefix("##".to_string())
        .max_input_chars_per_word(100)
        .build()
        .map_err(|e| build_error(path, "WordPiece", e))?;
    let mut tk = Tokenizer::new(model);
    tk.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
    tk.with_pre_tokenizer(Some(BertPreTokenizer));
    tk.with_decoder(Some(WordPieceDecoder::default()));
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(&f.kinds)
        .filter_map(|(t, k)| match k {
            PieceKind::Control | PieceKind::Unknown => Some(AddedToken::from(t.clone(), true)),
            PieceKind::UserDefined => Some(AddedToken::from(t.clone(), false)),
            _ => None,
        })
        .collect();
    tk.add_tokens(&added);
    Vocab::from_tokenizer(
        Format::Gguf,
        path,
        "gguf bert (wordpiece)".to_string(),
        tk,
        Some(f.kinds.clone()),
        f.specials.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phantom_space_is_undone() {
        assert_eq!(wordpiece_token("▁hello"), "hello");
        assert_eq!(wordpiece_token("ing"), "##ing");
        assert_eq!(wordpiece_token("[CLS]"), "[CLS]");
    }
}
