//! `llama` (SentencePiece BPE) and `t5` (Unigram) vocabularies: the pieces with their
//! scores and kinds, rebuilt with the shared SentencePiece builder.

use std::path::Path;

use super::{build_error, Fields, KEY_ADD_SPACE_PREFIX, KEY_CHARSMAP, KEY_REMOVE_EXTRA_WS};
use crate::gguf::{GgufArray, GgufFile};
use crate::vocab::build::{self, Piece, SpmModel, SpmOptions};
use crate::vocab::{Format, PieceKind, Result, Vocab};

/// SentencePiece vocabularies. llama.cpp defaults `add_space_prefix` to true for `llama`
/// and false for `t5`; the key overrides both.
pub(super) fn spm_vocab(
    file: &GgufFile,
    path: &Path,
    f: &Fields,
    model: SpmModel,
) -> Result<Vocab> {
    let pieces: Vec<Piece> = f
        .tokens
        .iter()
        .zip(&f.scores)
        .zip(&f.kinds)
        .map(|((t, &score), &kind)| Piece {
            piece: t.clone(),
            score,
            kind,
        })
        .collect();
    let (name, default_prefix, byte_fallback) = match model {
        SpmModel::Bpe => ("llama", true, true),
        SpmModel::Unigram => ("t5", false, f.kinds.contains(&PieceKind::Byte)),
    };
    let add_dummy_prefix = file
        .get_bool(KEY_ADD_SPACE_PREFIX)
        .unwrap_or(default_prefix);
    let precompiled_charsmap = match (model, file.get_array(KEY_CHARSMAP)) {
        (SpmModel::Unigram, Some(GgufArray::U8(b))) => Some(b.clone()),
        (SpmModel::Unigram, Some(GgufArray::I8(b))) => Some(b.iter().map(|&x| x as u8).collect()),
        _ => None,
    };
    let opts = SpmOptions {
        model,
        byte_fallback,
        add_dummy_prefix,
        // llama.cpp's SPM tokenizer keeps every space; its Unigram one honours the key.
        remove_extra_whitespaces: model == SpmModel::Unigram
            && file.get_bool(KEY_REMOVE_EXTRA_WS).unwrap_or(false),
        precompiled_charsmap,
    };
    let tk = build::spm_tokenizer(&pieces, &opts).map_err(|e| build_error(path, name, e))?;
    let kind = if model == SpmModel::Bpe {
        "spm"
    } else {
        "unigram"
    };
    let detail = format!("gguf {name} ({kind})");
    Vocab::from_tokenizer(
        Format::Gguf,
        path,
        detail,
        tk,
        Some(f.kinds.clone()),
        f.specials.clone(),
    )
}
