//! SentencePiece `*.model` files (Llama-2, Mistral v0.1–v7, Gemma, llama2.c models).
//!
//! We read the pieces with their scores and types, and the few trainer/normalizer fields
//! that change encoding, then build the same tokenizer transformers' converter would.

use std::collections::BTreeSet;
use std::path::Path;

use super::build::{self, Piece, SpmModel, SpmOptions};
use super::protobuf::Reader;
use super::{read_file, Format, PieceKind, Result, Vocab, VocabError};

/// What we take from a `ModelProto`.
#[derive(Debug, Clone)]
pub struct SpmModelProto {
    /// The pieces in id order.
    pub pieces: Vec<Piece>,
    /// TrainerSpec.model_type: 1 Unigram, 2 BPE (others are refused).
    pub model_type: i64,
    /// TrainerSpec.byte_fallback.
    pub byte_fallback: bool,
    /// NormalizerSpec.add_dummy_prefix.
    pub add_dummy_prefix: bool,
    /// NormalizerSpec.remove_extra_whitespaces.
    pub remove_extra_whitespaces: bool,
    /// NormalizerSpec.precompiled_charsmap (empty when the model has none).
    pub precompiled_charsmap: Vec<u8>,
    /// TrainerSpec.unk_id (-1 when disabled).
    pub unk_id: i64,
    /// TrainerSpec.bos_id (-1 when disabled).
    pub bos_id: i64,
    /// TrainerSpec.eos_id (-1 when disabled).
    pub eos_id: i64,
    /// TrainerSpec.pad_id (-1 when disabled).
    pub pad_id: i64,
}

/// Parse the protobuf. Field numbers are from sentencepiece_model.proto.
pub fn parse(bytes: &[u8]) -> std::result::Result<SpmModelProto, String> {
    let mut specs_seen = false;
    let mut m = SpmModelProto {
        pieces: Vec::new(),
        model_type: 1,
        byte_fallback: false,
        add_dummy_prefix: true,
        remove_extra_whitespaces: true,
        precompiled_charsmap: Vec::new(),
        unk_id: 0,
        bos_id: 1,
        eos_id: 2,
        pad_id: -1,
    };
    for field in Reader::new(bytes) {
        let (num, value) = field?;
        match num {
            1 => {
                let b = value
                    .as_bytes()
                    .ok_or("piece entry is not a message (not a SentencePiece model?)")?;
                m.pieces.push(parse_piece(b, m.pieces.len())?);
            }
            2 => {
                specs_seen = true;
                let b = value.as_bytes().ok_or("trainer_spec is not a message")?;
                for f in Reader::new(b) {
                    let (n, v) = f.map_err(|e| format!("trainer_spec: {e}"))?;
                    match n {
                        3 => m.model_type = v.as_i64().unwrap_or(1),
                        35 => m.byte_fallback = v.as_u64().unwrap_or(0) != 0,
                        40 => m.unk_id = v.as_i64().unwrap_or(0) as i32 as i64,
                        41 => m.bos_id = v.as_i64().unwrap_or(1) as i32 as i64,
                        42 => m.eos_id = v.as_i64().unwrap_or(2) as i32 as i64,
                        43 => m.pad_id = v.as_i64().unwrap_or(-1) as i32 as i64,
                        _ => {}
                    }
                }
            }
            3 => {
                specs_seen = true;
                let b = value.as_bytes().ok_or("normalizer_spec is not a message")?;
                for f in Reader::new(b) {
                    let (n, v) = f.map_err(|e| format!("normalizer_spec: {e}"))?;
                    match n {
                        2 => m.precompiled_charsmap = v.as_bytes().unwrap_or(&[]).to_vec(),
                        3 => m.add_dummy_prefix = v.as_u64().unwrap_or(1) != 0,
                        4 => m.remove_extra_whitespaces = v.as_u64().unwrap_or(1) != 0,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if m.pieces.is_empty() {
        return Err("no pieces found: not a SentencePiece model".into());
    }
    // Pieces come first in the file; a file cut between pieces still parses, but then
    // the trainer and normalizer specs that follow them are missing.
    if !specs_seen {
        return Err(format!(
            "truncated: {} pieces but no trainer_spec/normalizer_spec after them",
            m.pieces.len()
        ));
    }
    Ok(m)
}

fn parse_piece(b: &[u8], index: usize) -> std::result::Result<Piece, String> {
    let mut piece = None;
    let mut score = 0.0f32;
    let mut kind = PieceKind::Normal;
    for f in Reader::new(b) {
        let (n, v) = f.map_err(|e| format!("piece {index}: {e}"))?;
        match n {
            1 => {
                let s = v
                    .as_bytes()
                    .ok_or(format!("piece {index}: text is not bytes"))?;
                piece = Some(
                    String::from_utf8(s.to_vec())
                        .map_err(|_| format!("piece {index}: text is not UTF-8"))?,
                );
            }
            2 => score = v.as_f32().unwrap_or(0.0),
            3 => kind = PieceKind::from_spm(v.as_i64().unwrap_or(1)),
            _ => {}
        }
    }
    let piece = piece.ok_or(format!("piece {index} has no text"))?;
    Ok(Piece { piece, score, kind })
}

/// Load a SentencePiece `.model` file.
pub fn load(path: &Path) -> Result<Vocab> {
    let bytes = read_file(path)?;
    let m = parse(&bytes).map_err(|e| VocabError::invalid(path, e))?;
    let model = match m.model_type {
        1 => SpmModel::Unigram,
        2 => SpmModel::Bpe,
        t => {
            return Err(VocabError::invalid(
                path,
                format!("SentencePiece model type {t} (word/char) is not supported"),
            ))
        }
    };
    let opts = SpmOptions {
        model,
        byte_fallback: m.byte_fallback,
        add_dummy_prefix: m.add_dummy_prefix,
        remove_extra_whitespaces: m.remove_extra_whitespaces,
        precompiled_charsmap: Some(m.precompiled_charsmap.clone()),
    };
    let tk = build::spm_tokenizer(&m.pieces, &opts).map_err(|e| VocabError::invalid(path, e))?;
    let specials: BTreeSet<u32> = m
        .pieces
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.kind, PieceKind::Control | PieceKind::Unknown))
        .map(|(i, _)| i as u32)
        .collect();
    let kinds = m.pieces.iter().map(|p| p.kind).collect();
    let detail = format!(
        "sentencepiece {}{}",
        if model == SpmModel::Bpe {
            "bpe"
        } else {
            "unigram"
        },
        if m.byte_fallback {
            ", byte fallback"
        } else {
            ""
        }
    );
    // The file's order is the truth (a piece listed twice keeps both ids here).
    let raw = m.pieces.iter().map(|p| Some(p.piece.clone())).collect();
    let mut v = Vocab::from_parts(
        Format::SentencePiece,
        path,
        detail,
        tk,
        raw,
        Some(kinds),
        specials,
    )?;
    let id = |x: i64| (x >= 0).then_some(x as u32);
    v.set_named_specials(id(m.bos_id), id(m.eos_id), id(m.unk_id), id(m.pad_id));
    Ok(v)
}
