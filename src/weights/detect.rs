//! What a path given on the command line holds: a model directory, a safetensors file, a
//! shard index or a GGUF file. Pickle checkpoints are recognised here so that they are
//! refused before a byte of them is interpreted.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::{io, Result, WeightsError};

/// The file to open and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Safetensors(PathBuf),
    Index(PathBuf),
    Gguf(PathBuf),
}

/// How a directory entry of one kind becomes a [`Found`].
type MakeFound = fn(PathBuf) -> Found;

const INDEX: &str = "model.safetensors.index.json";
const SINGLE: &str = "model.safetensors";

/// Extensions of files written by `torch.save` / `pickle` (whatever their inner format,
/// loading them runs the pickle machinery).
const PICKLE_EXTS: &[&str] = &["pt", "pth", "ckpt", "pkl", "pickle"];

fn ext(p: &Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `pytorch_model*.bin` and the pickle extensions, judged by name alone.
fn is_pickle_name(p: &Path) -> bool {
    let e = ext(p);
    PICKLE_EXTS.contains(&e.as_str()) || (e == "bin" && file_name(p).starts_with("pytorch_model"))
}

/// The zip archive `torch.save` writes by default, or a raw pickle stream (protocol 2-5
/// starts with 0x80 and the protocol number).
fn is_pickle_magic(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || matches!(head, [0x80, 2..=5, ..])
}

/// Resolve `path` to the one file that holds the model's tensors.
pub fn find(path: &Path) -> Result<Found> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.is_dir() {
        find_in_dir(path)
    } else {
        classify_file(path)
    }
}

fn classify_file(path: &Path) -> Result<Found> {
    let name = file_name(path);
    let e = ext(path);
    if name.ends_with(".json") {
        return Ok(Found::Index(path.to_path_buf()));
    }
    if e == "gguf" {
        return Ok(Found::Gguf(path.to_path_buf()));
    }
    if e == "safetensors" {
        return Ok(Found::Safetensors(path.to_path_buf()));
    }
    if is_pickle_name(path) {
        return Err(WeightsError::Pickle {
            path: path.to_path_buf(),
        });
    }
    // Unknown extension: look at the first bytes.
    let mut head = [0u8; 9];
    let n = read_head(path, &mut head)?;
    let head = &head[..n];
    if head.starts_with(b"GGUF") {
        Ok(Found::Gguf(path.to_path_buf()))
    } else if is_pickle_magic(head) {
        Err(WeightsError::Pickle {
            path: path.to_path_buf(),
        })
    } else if head.get(8) == Some(&b'{') {
        Ok(Found::Safetensors(path.to_path_buf()))
    } else {
        Err(WeightsError::NoWeights {
            path: path.to_path_buf(),
            msg: "not a safetensors, GGUF or model.safetensors.index.json file".into(),
        })
    }
}

/// Read up to `buf.len()` bytes from the start of the file.
fn read_head(path: &Path, buf: &mut [u8]) -> Result<usize> {
    // A FIFO would block the open, a device never end: weights are mapped files.
    if !std::fs::metadata(path).map_err(io(path))?.is_file() {
        return Err(WeightsError::Invalid {
            path: path.to_path_buf(),
            msg: "not a regular file (weights are memory-mapped)".into(),
        });
    }
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).map_err(io(path))? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// In a directory: the standard index, the standard single file, then any single index,
/// safetensors or GGUF file. Several candidates of one kind are an error rather than a
/// guess (a directory may hold, say, reference outputs in another .safetensors file).
fn find_in_dir(dir: &Path) -> Result<Found> {
    let index = dir.join(INDEX);
    if index.is_file() {
        return Ok(Found::Index(index));
    }
    let single = dir.join(SINGLE);
    if single.is_file() {
        return Ok(Found::Safetensors(single));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let with = |pred: &dyn Fn(&Path) -> bool| -> Vec<PathBuf> {
        files.iter().filter(|p| pred(p)).cloned().collect()
    };
    let kinds: [(Vec<PathBuf>, MakeFound); 3] = [
        (
            with(&|p| file_name(p).ends_with(".safetensors.index.json")),
            Found::Index,
        ),
        (with(&|p| ext(p) == "safetensors"), Found::Safetensors),
        (with(&|p| ext(p) == "gguf"), Found::Gguf),
    ];
    for (found, make) in kinds {
        match found.len() {
            0 => continue,
            1 => return Ok(make(found[0].clone())),
            _ => {
                let list: Vec<String> = found.iter().map(|p| file_name(p)).collect();
                return Err(WeightsError::NoWeights {
                    path: dir.to_path_buf(),
                    msg: format!(
                        "several candidate weight files ({}); pass the one to use",
                        list.join(", ")
                    ),
                });
            }
        }
    }
    if let Some(p) = files.iter().find(|p| is_pickle_name(p)) {
        return Err(WeightsError::Pickle { path: p.clone() });
    }
    Err(WeightsError::NoWeights {
        path: dir.to_path_buf(),
        msg: format!(
            "no model weights found: looked for {INDEX}, {SINGLE}, *.safetensors and *.gguf"
        ),
    })
}
