//! `model.safetensors.index.json`: which shard file holds each tensor of a sharded
//! checkpoint (`{"metadata": {...}, "weight_map": {"name": "file", ...}}`).
//!
//! The one reader of the index, for the embedding reader (`weights`) and the forward-pass
//! loader (`model`) alike, so both apply the size bound and refuse shard names that point
//! outside the checkpoint directory.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{read_bounded, HfError};

/// Index files are a few hundred KB even for the largest models.
pub const MAX_INDEX_LEN: u64 = 100_000_000;

/// A checked shard index. Every shard name is a relative path inside the index's
/// directory; the shards themselves are not opened.
#[derive(Debug, Clone)]
pub struct ShardIndex {
    /// The index file.
    pub path: PathBuf,
    /// The directory the shard names are relative to.
    pub dir: PathBuf,
    /// Tensor name → shard file name, as the index gives it.
    pub weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    /// Read and check the index at `path`.
    pub fn read(path: &Path) -> Result<ShardIndex, HfError> {
        let bad = |msg: String| HfError::invalid(path, msg);
        let text = read_bounded(path, MAX_INDEX_LEN, |r| match r {
            super::Refused::TooLarge(n) => format!("{n} bytes is too large for a shard index"),
            super::Refused::NotRegular => "not a regular file".into(),
        })?
        .ok_or_else(|| HfError::Io {
            path: path.to_path_buf(),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        let json: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad("not a shard index (no \"weight_map\" object)".into()))?;
        let mut weight_map = BTreeMap::new();
        for (name, file) in map {
            let file = file
                .as_str()
                .ok_or_else(|| bad(format!("weight_map entry '{name}' is not a file name")))?;
            check_shard_name(file)
                .map_err(|msg| bad(format!("weight_map entry '{name}': shard '{file}' {msg}")))?;
            weight_map.insert(name.clone(), file.to_string());
        }
        if weight_map.is_empty() {
            return Err(bad("the weight_map is empty".into()));
        }
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(ShardIndex {
            path: path.to_path_buf(),
            dir,
            weight_map,
        })
    }

    /// The distinct shard file names, sorted.
    pub fn shard_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.weight_map.values().map(String::as_str).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The distinct shard files, sorted by name, as paths beside the index.
    pub fn shard_paths(&self) -> Vec<PathBuf> {
        self.shard_names()
            .into_iter()
            .map(|f| self.dir.join(f))
            .collect()
    }
}

/// A shard must be a file beside (or below) the index: a hostile index must not make us
/// open `/etc/shadow` or `../../secret`.
fn check_shard_name(file: &str) -> Result<(), &'static str> {
    let p = Path::new(file);
    if file.is_empty() {
        return Err("is empty");
    }
    if p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err("is not a relative path inside the checkpoint directory");
    }
    Ok(())
}
