//! Sharded safetensors checkpoints: `model.safetensors.index.json` maps each tensor name to
//! the shard file holding it (`{"metadata": {...}, "weight_map": {"name": "file", ...}}`).
//!
//! Shards are opened lazily, the first time a tensor in them is asked for, so reading the
//! embeddings of a 30-shard checkpoint maps one or two files and parses only their headers.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use super::error::{io, Result, WeightsError};
use super::matrix::Matrix;
use super::safetensors::SafetensorsFile;

/// Index files are a few hundred KB even for the largest models.
const MAX_INDEX_LEN: u64 = 100_000_000;

pub struct Sharded {
    pub index_path: PathBuf,
    dir: PathBuf,
    /// Tensor name → shard file name, as the index gives it.
    pub weight_map: BTreeMap<String, String>,
    /// Shard file name → the file, once opened.
    shards: BTreeMap<String, OnceLock<SafetensorsFile>>,
}

impl std::fmt::Debug for Sharded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharded")
            .field("index_path", &self.index_path)
            .field("tensors", &self.weight_map.len())
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl Sharded {
    /// Read and check the index. Opens no shard.
    pub fn open(index_path: &Path) -> Result<Sharded> {
        let config_err = |msg: String| WeightsError::Config {
            path: index_path.to_path_buf(),
            msg,
        };
        let len = std::fs::metadata(index_path).map_err(io(index_path))?.len();
        if len > MAX_INDEX_LEN {
            return Err(config_err(format!(
                "{len} bytes is too large for a shard index"
            )));
        }
        let text = std::fs::read(index_path).map_err(io(index_path))?;
        let json: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| config_err(format!("not valid JSON: {e}")))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| config_err("not a shard index (no \"weight_map\" object)".into()))?;
        let mut weight_map = BTreeMap::new();
        let mut shards = BTreeMap::new();
        for (name, file) in map {
            let file = file.as_str().ok_or_else(|| {
                config_err(format!("weight_map entry '{name}' is not a file name"))
            })?;
            check_shard_name(file).map_err(|msg| {
                config_err(format!("weight_map entry '{name}': shard '{file}' {msg}"))
            })?;
            weight_map.insert(name.clone(), file.to_string());
            shards.entry(file.to_string()).or_insert_with(OnceLock::new);
        }
        if weight_map.is_empty() {
            return Err(config_err("the weight_map is empty".into()));
        }
        let dir = index_path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(Sharded {
            index_path: index_path.to_path_buf(),
            dir,
            weight_map,
            shards,
        })
    }

    /// The tensor as a matrix, opening its shard if it is not open yet.
    pub fn matrix(&self, name: &str) -> Result<Matrix<'_>> {
        let shard_name = self
            .weight_map
            .get(name)
            .ok_or_else(|| WeightsError::TensorNotFound {
                path: self.index_path.clone(),
                msg: format!("no tensor named '{name}' in the weight_map"),
            })?;
        let shard = self.shard(shard_name, name)?;
        if !shard.tensors.contains_key(name) {
            return Err(WeightsError::Invalid {
                path: shard.path.clone(),
                msg: format!(
                    "{} puts tensor '{name}' in this shard, but it has no such tensor",
                    self.index_path.display()
                ),
            });
        }
        shard.matrix(name)
    }

    /// Files mapped so far (the index is read, not mapped).
    pub fn opened(&self) -> Vec<PathBuf> {
        self.shards
            .values()
            .filter_map(|c| c.get().map(|s| s.path.clone()))
            .collect()
    }

    fn shard(&self, shard_name: &str, tensor: &str) -> Result<&SafetensorsFile> {
        let cell = &self.shards[shard_name];
        if let Some(s) = cell.get() {
            return Ok(s);
        }
        let path = self.dir.join(shard_name);
        let file = SafetensorsFile::open(&path).map_err(|e| match e {
            WeightsError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                WeightsError::MissingShard {
                    index: self.index_path.clone(),
                    shard: shard_name.to_string(),
                    tensor: tensor.to_string(),
                    source,
                }
            }
            e => e,
        })?;
        // Another thread may have opened it meanwhile; either copy is the same file.
        let _ = cell.set(file);
        Ok(cell.get().expect("set above"))
    }
}

/// A shard must be a file beside (or below) the index: a hostile index must not make us
/// open `/etc/shadow` or `../../secret`.
fn check_shard_name(file: &str) -> std::result::Result<(), &'static str> {
    let p = Path::new(file);
    if file.is_empty() {
        return Err("is empty");
    }
    if p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err("is not a relative path inside the checkpoint directory");
    }
    Ok(())
}
