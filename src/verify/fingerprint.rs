//! What produced a verify log, written as its first line, so that a resumed run never
//! mixes two models, tokenizers or rule sets in one file (docs/schemas.md, "Verify CSV").
//!
//! Model files are identified by size and a hash of their first and last MiB: the first
//! holds the safetensors or GGUF header (names, shapes, dtypes), the last the end of the
//! data, and a fine-tune of the same architecture differs in both; hashing whole files of
//! tens of GB on every resume would cost minutes.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::{Thresholds, VerifySettings};
use crate::model::{LoadedModel, Runtime};

/// The first line of a verify log starts with this, then one JSON object.
pub const PREFIX: &str = "#tokenaudit-verify ";

/// Bytes hashed at each end of a model file.
const ENDS: u64 = 1 << 20;

/// The facts a log's rows depend on, by name. Compared key by key on resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(pub BTreeMap<String, String>);

impl Fingerprint {
    /// The log's first line (without the newline).
    pub fn line(&self) -> String {
        format!(
            "{PREFIX}{}",
            serde_json::to_string(&self.0).expect("a map of strings serializes")
        )
    }

    /// Parse a first line written by [`Fingerprint::line`]; `None` when it is not one.
    pub fn parse(line: &str) -> Option<Fingerprint> {
        let json = line.strip_prefix(PREFIX)?;
        serde_json::from_str(json).ok().map(Fingerprint)
    }

    /// What differs from `other` (the log's), one phrase per key: empty when they agree.
    pub fn differences(&self, logged: &Fingerprint) -> Vec<String> {
        let keys: std::collections::BTreeSet<&String> =
            self.0.keys().chain(logged.0.keys()).collect();
        let none = String::from("(none)");
        keys.into_iter()
            .filter_map(|k| {
                let (now, then) = (
                    self.0.get(k).unwrap_or(&none),
                    logged.0.get(k).unwrap_or(&none),
                );
                (now != then).then(|| format!("{k} was {} (now {})", short(then), short(now)))
            })
            .collect()
    }
}

fn short(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() > MAX {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    } else {
        s.to_string()
    }
}

/// sha256 of a whole small file, first 16 hex digits.
fn hash_file(p: &Path) -> Result<String> {
    let bytes = crate::util::text::read_bounded(p, crate::util::text::MAX_INPUT)
        .with_context(|| p.display().to_string())?;
    Ok(hex16(&Sha256::digest(&bytes)))
}

/// `NAME SIZE sha256(first MiB ‖ last MiB)` of a model file.
fn hash_ends(p: &Path) -> Result<String> {
    let mut f = std::fs::File::open(p).with_context(|| p.display().to_string())?;
    let len = f.metadata().with_context(|| p.display().to_string())?.len();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; ENDS.min(len) as usize];
    f.read_exact(&mut buf)
        .with_context(|| p.display().to_string())?;
    h.update(&buf);
    if len > ENDS {
        let start = len.saturating_sub(ENDS).max(ENDS);
        f.seek(SeekFrom::Start(start))
            .with_context(|| p.display().to_string())?;
        let mut tail = Vec::new();
        f.take(ENDS)
            .read_to_end(&mut tail)
            .with_context(|| p.display().to_string())?;
        h.update(&tail);
    }
    let name = p.file_name().unwrap_or_default().to_string_lossy();
    Ok(format!("{name} {len} {}", hex16(&h.finalize())))
}

fn hex16(d: &[u8]) -> String {
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The weight files of a model path: the file itself, or a directory's safetensors and
/// GGUF files in name order.
fn weight_files(model: &Path) -> Vec<PathBuf> {
    if !model.is_dir() {
        return vec![model.to_path_buf()];
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(model)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "safetensors" || e == "gguf")
        })
        .collect();
    v.sort();
    v
}

fn thresholds(t: &Thresholds) -> String {
    format!("{} {} {}", t.strong, t.under, t.trained)
}

/// The fingerprint of a run of `s` on `v`, with its prompts as built (`names` in column
/// order, the placeholder id).
pub fn of_run(
    v: &LoadedModel,
    s: &VerifySettings,
    names: &[&str],
    placeholder: u32,
) -> Result<Fingerprint> {
    let mut m = BTreeMap::new();
    m.insert("format".into(), "1".into());
    match &v.runtime {
        Runtime::Remote(c) => {
            // The model the engine serves, not its URL: a restarted engine on another
            // port is the same run.
            m.insert(
                "model".into(),
                match &c.endpoint.model {
                    Some(name) => format!("served {name}"),
                    None => "served (the engine's one model)".into(),
                },
            );
            m.insert("backend".into(), "served".into());
        }
        Runtime::Local(_) => {
            let files: Vec<String> = weight_files(&v.info.dir)
                .iter()
                .map(|p| hash_ends(p))
                .collect::<Result<_>>()?;
            m.insert("model".into(), files.join(", "));
            let config = v.info.dir.join("config.json");
            if v.info.dir.is_dir() && config.is_file() {
                m.insert("config".into(), hash_file(&config)?);
            }
            m.insert(
                "backend".into(),
                if v.info.device.is_cuda() {
                    "cuda"
                } else {
                    "cpu"
                }
                .into(),
            );
            m.insert("dtype".into(), format!("{:?}", v.info.dtype).to_lowercase());
            if v.info.dequantized {
                m.insert("weights".into(), "dequantized to f32".into());
            }
        }
    }
    let tok = &v.vocab.source;
    m.insert(
        "tokenizer".into(),
        format!(
            "{} {}",
            tok.file_name().unwrap_or_default().to_string_lossy(),
            if tok.is_file() {
                hash_file(tok)?
            } else {
                "-".into()
            }
        ),
    );
    m.insert(
        "prompts".into(),
        format!(
            "{} placeholder {placeholder} steps {}",
            names.join(","),
            s.scoring.steps
        ),
    );
    m.insert("thresholds".into(), thresholds(&s.thresholds));
    m.insert("early_stop".into(), s.early_stop.to_string());
    Ok(Fingerprint(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trips_and_differences_name_the_keys() {
        let mut a = BTreeMap::new();
        a.insert("model".to_string(), "a.safetensors 10 00ff".to_string());
        a.insert("dtype".to_string(), "f32".to_string());
        let a = Fingerprint(a);
        assert_eq!(Fingerprint::parse(&a.line()), Some(a.clone()));
        assert_eq!(Fingerprint::parse("id,decoded"), None);
        let mut b = a.clone();
        b.0.insert("dtype".into(), "bf16".into());
        b.0.insert("weights".into(), "dequantized to f32".into());
        assert_eq!(
            b.differences(&a),
            vec![
                "dtype was f32 (now bf16)".to_string(),
                "weights was (none) (now dequantized to f32)".to_string()
            ]
        );
        assert!(a.differences(&a).is_empty());
    }
}
