//! Sharded safetensors checkpoints: `model.safetensors.index.json` maps each tensor name to
//! the shard file holding it (`{"metadata": {...}, "weight_map": {"name": "file", ...}}`).
//!
//! Shards are opened lazily, the first time a tensor in them is asked for, so reading the
//! embeddings of a 30-shard checkpoint maps one or two files and parses only their headers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::error::{Result, WeightsError};
use super::matrix::Matrix;
use super::safetensors::SafetensorsFile;
use crate::hf::ShardIndex;

/// A sharded checkpoint: its index, and each shard mapped the first time a tensor in it
/// is asked for.
pub struct Sharded {
    /// The index file, for messages.
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
    /// Read and check the index (through [`crate::hf::ShardIndex`], the one reader of
    /// it). Opens no shard.
    pub fn open(index_path: &Path) -> Result<Sharded> {
        let index = ShardIndex::read(index_path).map_err(WeightsError::from)?;
        let shards = index
            .shard_names()
            .into_iter()
            .map(|f| (f.to_string(), OnceLock::new()))
            .collect();
        Ok(Sharded {
            index_path: index.path,
            dir: index.dir,
            weight_map: index.weight_map,
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
