//! Format detection from content, not file names: users rename files (`tokenizer.model`
//! is a SentencePiece protobuf for Llama-2 but a tiktoken text file for Llama-3).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{Result, VocabError};

/// The tokenizer file formats we read; reports name the one a vocabulary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Hugging Face `tokenizer.json`.
    HfJson,
    /// OpenAI `encoder.json` + `vocab.bpe`, or `vocab.json` + `merges.txt`.
    GptBpe,
    /// SentencePiece `ModelProto`.
    SentencePiece,
    /// tiktoken rank file (`base64 rank` per line).
    Tiktoken,
    /// llama.cpp GGUF (vocab-only or full).
    Gguf,
    /// Mistral's Tekken `tekken.json`.
    Tekken,
}

impl Format {
    /// The short name `--format` accepts and reports print.
    pub fn name(self) -> &'static str {
        match self {
            Format::HfJson => "hf",
            Format::GptBpe => "gpt-bpe",
            Format::SentencePiece => "sentencepiece",
            Format::Tiktoken => "tiktoken",
            Format::Gguf => "gguf",
            Format::Tekken => "tekken",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "hf" | "json" | "tokenizer.json" | "huggingface" => Ok(Format::HfJson),
            "gpt-bpe" | "gpt2" | "encoder.json" | "vocab.json" => Ok(Format::GptBpe),
            "sentencepiece" | "spm" => Ok(Format::SentencePiece),
            "tiktoken" => Ok(Format::Tiktoken),
            "gguf" => Ok(Format::Gguf),
            "tekken" | "tekken.json" => Ok(Format::Tekken),
            _ => Err(format!(
                "unknown format '{s}' (expected hf, gpt-bpe, sentencepiece, tiktoken, gguf or \
                 tekken)"
            )),
        }
    }
}

/// A tokenizer file with its format, and for two-file formats the other file.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The main file (a directory given on the command line resolves to a file in it).
    pub path: PathBuf,
    /// Its format, detected or forced.
    pub format: Format,
    /// The second file of a two-file format (`merges.txt`, `vocab.bpe`).
    pub companion: Option<PathBuf>,
}

/// Files looked for in a model directory, in order of preference.
const DIR_CANDIDATES: &[&str] = &[
    "tokenizer.json",
    "tokenizer.model",
    "tekken.json",
    "encoder.json",
    "vocab.json",
];

/// Turn a user-given path (file or model directory) into one tokenizer file and format.
pub fn resolve(path: &Path, forced: Option<Format>) -> Result<Resolved> {
    let meta = crate::util::text::check_readable(path).map_err(|e| VocabError::io(path, e))?;
    if meta.is_dir() {
        return resolve_dir(path, forced);
    }
    let format = match forced {
        Some(f) => f,
        None => sniff(path)?,
    };
    let companion = if format == Format::GptBpe {
        Some(find_companion(path)?)
    } else {
        None
    };
    Ok(Resolved {
        path: path.to_path_buf(),
        format,
        companion,
    })
}

fn resolve_dir(dir: &Path, forced: Option<Format>) -> Result<Resolved> {
    for name in DIR_CANDIDATES {
        let p = dir.join(name);
        if p.is_file() {
            return resolve(&p, forced);
        }
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| VocabError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let by_ext = |ext: &str| {
        entries
            .iter()
            .find(|p| p.to_string_lossy().ends_with(ext))
            .cloned()
    };
    for ext in [".tiktoken", ".gguf", ".model"] {
        if let Some(p) = by_ext(ext) {
            return resolve(&p, forced);
        }
    }
    Err(VocabError::invalid(
        dir,
        "no tokenizer found in this directory (looked for tokenizer.json, tokenizer.model, \
         tekken.json, encoder.json, vocab.json, *.tiktoken, *.gguf, *.model)",
    ))
}

/// Decide the format from the first bytes of the file.
pub fn sniff(path: &Path) -> Result<Format> {
    let mut head = Vec::with_capacity(4096);
    if crate::util::text::is_named_pipe(path) {
        // A pipe is read once, whole (bounded); the loader gets the same bytes.
        head = crate::util::text::read_bounded(path, crate::util::text::MAX_INPUT)
            .map_err(|e| VocabError::io(path, e))?;
        head.truncate(4096);
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(4096).read_to_end(&mut head))
            .map_err(|e| VocabError::io(path, e))?;
    }
    if head.is_empty() {
        return Err(VocabError::invalid(path, "the file is empty"));
    }
    if head.starts_with(b"GGUF") {
        return Ok(Format::Gguf);
    }
    let trimmed: &[u8] = {
        let start = head
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(head.len());
        &head[start..]
    };
    if trimmed.first() == Some(&b'{') {
        // tokenizer.json has a "model" object; encoder.json / vocab.json is a flat map.
        let text = String::from_utf8_lossy(&head);
        if super::tekken::looks_like(&text) {
            return Ok(Format::Tekken);
        }
        if text.contains("\"model\"")
            || text.contains("\"added_tokens\"")
            || text.contains("\"version\"")
        {
            return Ok(Format::HfJson);
        }
        return Ok(Format::GptBpe);
    }
    if head.starts_with(b"#version") {
        return Ok(Format::GptBpe);
    }
    if looks_like_tiktoken(&head) {
        return Ok(Format::Tiktoken);
    }
    // A SentencePiece ModelProto starts with field 1 (pieces), wire type 2: byte 0x0A.
    if head[0] == 0x0A {
        return Ok(Format::SentencePiece);
    }
    Err(VocabError::invalid(
        path,
        "unknown tokenizer format (not tokenizer.json, encoder.json/vocab.bpe, SentencePiece, \
         tiktoken, GGUF or tekken.json); use --format to say which it is",
    ))
}

fn looks_like_tiktoken(head: &[u8]) -> bool {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = &head[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        return false;
    };
    let (tok, rank) = (&line[..sp], &line[sp + 1..]);
    !tok.is_empty()
        && tok
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        && !rank.is_empty()
        && rank.iter().all(|b| b.is_ascii_digit())
}

/// For `encoder.json` find `vocab.bpe` (and `vocab.json` ↔ `merges.txt`), in either direction.
fn find_companion(path: &Path) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let is_merges = name.ends_with(".bpe") || name.ends_with(".txt");
    let wanted: &[&str] = if is_merges {
        &["encoder.json", "vocab.json"]
    } else {
        &["vocab.bpe", "merges.txt"]
    };
    for w in wanted {
        let p = dir.join(w);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(VocabError::invalid(
        path,
        format!(
            "a GPT-2 style BPE needs both files; {} not found beside it",
            wanted.join(" or ")
        ),
    ))
}
