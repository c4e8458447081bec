//! Parsing a GGUF file: the header, the metadata and the tensor directory, with every
//! tensor's data range checked against the file before [`GgufFile::open`] returns.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::cursor::{Cursor, PResult, ParseError};
use super::{ggml, GgufArray, GgufError, GgufTensorInfo, GgufValue, Result};
use super::{DEFAULT_ALIGNMENT, MAX_DIMS};

/// A parsed GGUF file. The metadata is copied out; tensor data stays in the map.
pub struct GgufFile {
    /// The file, for messages.
    pub path: PathBuf,
    /// GGUF version, 2 or 3.
    pub version: u32,
    /// Key/value pairs in file order (keys are unique: duplicates are refused).
    pub metadata: Vec<(String, GgufValue)>,
    /// The tensor directory, with every data range already checked against the file.
    pub tensors: Vec<GgufTensorInfo>,
    /// Absolute offset of the data section (may lie past the end for vocab-only files).
    pub data_offset: u64,
    /// `general.alignment`, or 32.
    pub alignment: u64,
    mmap: Mmap,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("data_offset", &self.data_offset)
            .finish()
    }
}

impl GgufFile {
    /// Map and parse a GGUF file. Fails on anything malformed, including tensor data that
    /// would lie outside the file.
    pub fn open(path: &Path) -> Result<GgufFile> {
        let io = |source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        };
        // A FIFO would block the open, a device never end: a GGUF file is mapped.
        if !std::fs::metadata(path).map_err(io)?.is_file() {
            return Err(GgufError::Invalid {
                path: path.to_path_buf(),
                msg: "not a regular file (a GGUF file is memory-mapped)".into(),
            });
        }
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Err(GgufError::Invalid {
                path: path.to_path_buf(),
                msg: "the file is empty".into(),
            });
        }
        // SAFETY: the map is only read. As with every memory-mapped reader, another
        // process truncating the file while it is open is outside what we guard against.
        let mmap = unsafe { Mmap::map(&file) }.map_err(io)?;
        let parsed = parse(&mmap).map_err(|e| e.into_error(path, mmap.len() as u64))?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            version: parsed.version,
            metadata: parsed.metadata,
            tensors: parsed.tensors,
            data_offset: parsed.data_offset,
            alignment: parsed.alignment,
            mmap,
        })
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.mmap.len() as u64
    }

    /// A metadata value by key, of whatever type the file gave it.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A string value; `None` when absent or of another type.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            GgufValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Any integer type with a non-negative value (writers disagree on u32 vs i32 vs u64).
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// A bool value; `None` when absent or of another type.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            GgufValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// An array value of any element type.
    pub fn get_array(&self, key: &str) -> Option<&GgufArray> {
        match self.get(key)? {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// An array of strings (token lists, merges).
    pub fn get_str_array(&self, key: &str) -> Option<&[String]> {
        match self.get_array(key)? {
            GgufArray::Str(v) => Some(v),
            _ => None,
        }
    }

    /// An array of f32 (scores).
    pub fn get_f32_array(&self, key: &str) -> Option<&[f32]> {
        match self.get_array(key)? {
            GgufArray::F32(v) => Some(v),
            _ => None,
        }
    }

    /// An array of i32 (token types).
    pub fn get_i32_array(&self, key: &str) -> Option<&[i32]> {
        match self.get_array(key)? {
            GgufArray::I32(v) => Some(v),
            _ => None,
        }
    }

    /// A tensor's directory entry by name.
    pub fn tensor(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of a tensor's data. The range was checked at open time; it is
    /// checked again here because `info` may have been built or edited by the caller.
    pub fn tensor_bytes(&self, info: &GgufTensorInfo) -> Result<&[u8]> {
        let n_bytes = info.n_bytes.ok_or_else(|| GgufError::Invalid {
            path: self.path.clone(),
            msg: format!(
                "tensor '{}' has ggml type {} which this reader cannot size",
                info.name, info.ggml_type
            ),
        })?;
        let range = data_range(self.data_offset, info.offset, n_bytes, self.file_len());
        range
            .and_then(|(start, end)| self.mmap.get(start..end))
            .ok_or_else(|| GgufError::Truncated {
                path: self.path.clone(),
                what: format!("data of tensor '{}'", info.name),
                need: n_bytes,
                offset: self.data_offset.saturating_add(info.offset),
                len: self.file_len(),
            })
    }
}

/// `[data_offset + offset, + n_bytes)` as usize indices, if it lies within `file_len`.
fn data_range(
    data_offset: u64,
    offset: u64,
    n_bytes: u64,
    file_len: u64,
) -> Option<(usize, usize)> {
    let start = data_offset.checked_add(offset)?;
    let end = start.checked_add(n_bytes)?;
    if end > file_len {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

/// What the parser found, before it is joined with the path and the map.
struct Parsed {
    version: u32,
    metadata: Vec<(String, GgufValue)>,
    tensors: Vec<GgufTensorInfo>,
    data_offset: u64,
    alignment: u64,
}

/// Parse the header, metadata and tensor directory, and check every tensor's data range.
fn parse(buf: &[u8]) -> PResult<Parsed> {
    let mut c = Cursor { buf, pos: 0 };
    let magic = c.array::<4>().map_err(|e| e.context(|| "magic".into()))?;
    if &magic != b"GGUF" {
        return Err(ParseError::Invalid(format!(
            "not a GGUF file (magic {:?}, expected \"GGUF\")",
            String::from_utf8_lossy(&magic)
        )));
    }
    let version = c.u32().map_err(|e| e.context(|| "version".into()))?;
    if version != 2 && version != 3 {
        return Err(ParseError::Invalid(format!(
            "unsupported GGUF version {version} (this reader handles 2 and 3)"
        )));
    }
    let tensor_count = c.u64().map_err(|e| e.context(|| "tensor count".into()))?;
    let kv_count = c.u64().map_err(|e| e.context(|| "metadata count".into()))?;

    let metadata = read_metadata(&mut c, kv_count)?;
    let alignment = alignment(&metadata)?;
    let tensors = read_tensor_infos(&mut c, tensor_count, alignment)?;

    let end = c.pos as u64;
    let data_offset = end
        .div_ceil(alignment)
        .checked_mul(alignment)
        .ok_or_else(|| ParseError::Invalid("data offset overflows".into()))?;
    check_tensor_ranges(&tensors, data_offset, buf.len() as u64)?;
    Ok(Parsed {
        version,
        metadata,
        tensors,
        data_offset,
        alignment,
    })
}

fn read_metadata(c: &mut Cursor, kv_count: u64) -> PResult<Vec<(String, GgufValue)>> {
    // Each pair is at least an 8-byte key length, a 4-byte type and a 1-byte value.
    let n = c
        .check_count(kv_count, 13)
        .map_err(|e| e.context(|| format!("{kv_count} metadata entries")))?;
    let mut metadata = Vec::with_capacity(n);
    let mut seen = HashSet::with_capacity(n);
    for i in 0..n {
        let key = c
            .string()
            .map_err(|e| e.context(|| format!("key of metadata entry #{i}")))?;
        let ty = c
            .u32()
            .map_err(|e| e.context(|| format!("type of metadata key '{key}'")))?;
        let value = c.value(ty, 0).map_err(|e| match e {
            ParseError::Invalid(msg) => ParseError::Invalid(format!("metadata key '{key}': {msg}")),
            e => e.context(|| format!("metadata value of key '{key}'")),
        })?;
        if !seen.insert(key.clone()) {
            return Err(ParseError::Invalid(format!(
                "duplicate metadata key '{key}'"
            )));
        }
        metadata.push((key, value));
    }
    Ok(metadata)
}

/// `general.alignment`: any integer type, non-zero power of two; 32 when absent.
fn alignment(metadata: &[(String, GgufValue)]) -> PResult<u64> {
    let Some((_, v)) = metadata.iter().find(|(k, _)| k == "general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match v.as_u64() {
        Some(a) if a.is_power_of_two() => Ok(a),
        _ => Err(ParseError::Invalid(format!(
            "general.alignment must be a power of two, found {v:?}"
        ))),
    }
}

fn read_tensor_infos(
    c: &mut Cursor,
    tensor_count: u64,
    alignment: u64,
) -> PResult<Vec<GgufTensorInfo>> {
    // Each info is at least name length 8 + n_dims 4 + type 4 + offset 8.
    let n = c
        .check_count(tensor_count, 24)
        .map_err(|e| e.context(|| format!("{tensor_count} tensor infos")))?;
    let mut tensors = Vec::with_capacity(n);
    let mut seen = HashSet::with_capacity(n);
    for i in 0..n {
        let info = read_tensor_info(c, i, alignment)?;
        if !seen.insert(info.name.clone()) {
            return Err(ParseError::Invalid(format!(
                "duplicate tensor name '{}'",
                info.name
            )));
        }
        tensors.push(info);
    }
    Ok(tensors)
}

fn read_tensor_info(c: &mut Cursor, i: usize, alignment: u64) -> PResult<GgufTensorInfo> {
    let name = c
        .string()
        .map_err(|e| e.context(|| format!("name of tensor #{i}")))?;
    let what = || format!("info of tensor '{name}'");
    let n_dims = c.u32().map_err(|e| e.context(what))?;
    if n_dims as usize > MAX_DIMS {
        return Err(ParseError::Invalid(format!(
            "tensor '{name}' has {n_dims} dimensions (at most {MAX_DIMS})"
        )));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64().map_err(|e| e.context(what))?);
    }
    let ggml_type = c.u32().map_err(|e| e.context(what))?;
    let offset = c.u64().map_err(|e| e.context(what))?;
    if offset % alignment != 0 {
        return Err(ParseError::Invalid(format!(
            "tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}"
        )));
    }
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| {
            ParseError::Invalid(format!(
                "tensor '{name}' dimensions {dims:?} overflow the element count"
            ))
        })?;
    let n_bytes = match ggml::block_size(ggml_type) {
        Some((block, size)) => Some(tensor_nbytes(&name, &dims, n_elements, block, size)?),
        None => None,
    };
    Ok(GgufTensorInfo {
        name,
        dims,
        ggml_type,
        offset,
        n_elements,
        n_bytes,
    })
}

/// Bytes of a tensor of a block-quantized type: rows must hold whole blocks.
fn tensor_nbytes(name: &str, dims: &[u64], n: u64, block: u64, size: u64) -> PResult<u64> {
    let row = dims.first().copied().unwrap_or(1);
    if row % block != 0 {
        return Err(ParseError::Invalid(format!(
            "tensor '{name}' row length {row} is not a multiple of its type's block size {block}"
        )));
    }
    (n / block)
        .checked_mul(size)
        .ok_or_else(|| ParseError::Invalid(format!("tensor '{name}' size in bytes overflows")))
}

fn check_tensor_ranges(tensors: &[GgufTensorInfo], data_offset: u64, len: u64) -> PResult<()> {
    for t in tensors {
        let Some(n_bytes) = t.n_bytes else {
            // Unknown type: we cannot size it, but its start must still be in the file.
            if data_offset.saturating_add(t.offset) > len {
                return Err(ParseError::Truncated {
                    what: format!("data of tensor '{}'", t.name),
                    need: 1,
                    offset: data_offset.saturating_add(t.offset),
                });
            }
            continue;
        };
        if data_range(data_offset, t.offset, n_bytes, len).is_none() {
            return Err(ParseError::Truncated {
                what: format!("data of tensor '{}' ({})", t.name, t.type_name()),
                need: n_bytes,
                offset: data_offset.saturating_add(t.offset),
            });
        }
    }
    // A tensor declared larger than its data would read into the next one's bytes.
    let mut sized: Vec<(&GgufTensorInfo, u64)> = tensors
        .iter()
        .filter_map(|t| t.n_bytes.map(|n| (t, n)))
        .collect();
    sized.sort_by_key(|(t, _)| t.offset);
    for w in sized.windows(2) {
        let ((a, n), (b, _)) = (w[0], w[1]);
        if n > 0 && a.offset.saturating_add(n) > b.offset {
            return Err(ParseError::Invalid(format!(
                "tensor '{}' ({} bytes at data offset {}) runs into tensor '{}' at data offset \
                 {}: its declared shape is larger than its data",
                a.name, n, a.offset, b.name, b.offset
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::builder::{write, Builder};
    use crate::gguf::MAX_ARRAY_DEPTH;

    fn open(bytes: &[u8]) -> Result<GgufFile> {
        let f = write(bytes);
        GgufFile::open(f.path())
    }

    fn open_err(bytes: &[u8]) -> String {
        match open(bytes) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    /// A small valid file: three metadata entries and one 2×3 f32 tensor.
    fn sample() -> Vec<u8> {
        let mut b = Builder::header(3, 1, 4);
        b.kv_str("tokenizer.ggml.model", "llama")
            .kv_u32("general.alignment", 32)
            .kv_str_array("tokenizer.ggml.tokens", &["<unk>", "a", "b"])
            .kv_f32_array("tokenizer.ggml.scores", &[0.0, -1.0, -2.0])
            .tensor("token_embd.weight", &[3, 2], 0, 0)
            .pad_to(32);
        for i in 0..6u32 {
            b.u32((i as f32).to_bits());
        }
        b.0
    }

    #[test]
    fn reads_a_valid_file() {
        let g = open(&sample()).expect("valid file");
        assert_eq!(g.version, 3);
        assert_eq!(g.get_str("tokenizer.ggml.model"), Some("llama"));
        assert_eq!(g.get_u64("general.alignment"), Some(32));
        assert_eq!(
            g.get_str_array("tokenizer.ggml.tokens").map(|v| v.len()),
            Some(3)
        );
        assert_eq!(
            g.get_f32_array("tokenizer.ggml.scores"),
            Some(&[0.0, -1.0, -2.0][..])
        );
        let t = g.tensor("token_embd.weight").expect("tensor");
        assert_eq!(t.n_elements, 6);
        assert_eq!(t.n_bytes, Some(24));
        let data = g.tensor_bytes(t).expect("bytes");
        assert_eq!(data.len(), 24);
        assert_eq!(&data[4..8], &1.0f32.to_le_bytes());
        assert_eq!(g.data_offset % 32, 0);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let full = sample();
        for cut in 0..full.len() {
            let err = open_err(&full[..cut]);
            assert!(err.contains(".gguf"), "cut {cut}: {err}");
        }
    }

    #[test]
    fn truncated_value_names_key_and_offsets() {
        let full = sample();
        // Cut in the middle of the tokens array.
        let at = full.windows(5).position(|w| w == b"<unk>").expect("token") + 2;
        let err = open_err(&full[..at]);
        assert!(err.contains("truncated"), "{err}");
        assert!(
            err.contains("metadata value of key 'tokenizer.ggml.tokens'"),
            "{err}"
        );
        assert!(err.contains(&format!("file has {at}")), "{err}");
    }

    #[test]
    fn huge_array_count_fails_fast() {
        let mut b = Builder::header(3, 0, 1);
        b.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(1 << 60);
        let err = open_err(&b.0);
        assert!(err.contains("truncated"), "{err}");
        assert!(err.contains("tokenizer.ggml.tokens"), "{err}");
        // Same for a huge string length and huge entry counts.
        let mut b = Builder::header(3, 0, 1);
        b.str("k").u32(8).u64(u64::MAX);
        assert!(open_err(&b.0).contains("truncated"));
        let b = Builder::header(3, u64::MAX, u64::MAX);
        assert!(open_err(&b.0).contains("metadata entries"));
        let b = Builder::header(3, u64::MAX, 0);
        assert!(open_err(&b.0).contains("tensor infos"));
    }

    #[test]
    fn bad_magic_and_version() {
        let mut bytes = sample();
        bytes[0] = b'X';
        assert!(open_err(&bytes).contains("not a GGUF file"));
        for v in [1u32, 4, u32::MAX] {
            let mut bytes = sample();
            bytes[4..8].copy_from_slice(&v.to_le_bytes());
            let err = open_err(&bytes);
            assert!(
                err.contains(&format!("unsupported GGUF version {v}")),
                "{err}"
            );
        }
        assert!(open_err(b"").contains("empty"));
    }

    #[test]
    fn rejects_bad_tensor_infos() {
        let cases: Vec<(Vec<u64>, u32, u64, &str)> = vec![
            (vec![1, 1, 1, 1, 1], 0, 0, "5 dimensions"),
            (vec![u64::MAX, 2], 0, 0, "overflow"),
            (vec![1 << 40], 0, 0, "truncated"),
            (vec![4], 0, 7, "not a multiple of the alignment"),
            (vec![33], 8, 0, "block size"),
            (vec![4], 0, 1 << 62, "truncated"),
        ];
        for (dims, ty, offset, want) in cases {
            let mut b = Builder::header(3, 1, 0);
            b.tensor("t", &dims, ty, offset).pad_to(32);
            b.0.extend_from_slice(&[0u8; 64]);
            let err = open_err(&b.0);
            assert!(err.contains(want), "{dims:?}: {err}");
        }
    }

    #[test]
    fn a_tensor_declared_larger_than_its_data_is_refused() {
        // token_embd: 4 rows of 8 f32 (128 bytes), then `next` at data offset 128. Declared
        // with 5 rows, its last row would be `next`'s bytes.
        let mut ok = Vec::new();
        for rows in [4u64, 5] {
            let mut b = Builder::header(3, 2, 0);
            b.tensor("token_embd.weight", &[8, rows], 0, 0)
                .tensor("next", &[8], 0, 128)
                .pad_to(32);
            b.0.extend_from_slice(&[0u8; 160]);
            ok.push(open(&b.0).map(|_| ()).map_err(|e| e.to_string()));
        }
        assert_eq!(ok[0], Ok(()));
        let err = ok[1].clone().unwrap_err();
        assert!(
            err.ends_with(
                "tensor 'token_embd.weight' (160 bytes at data offset 0) runs into tensor \
                 'next' at data offset 128: its declared shape is larger than its data"
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_deep_nesting_duplicates_and_bad_alignment() {
        let mut b = Builder::header(3, 0, 1);
        b.str("deep").u32(9);
        for _ in 0..MAX_ARRAY_DEPTH + 2 {
            b.u32(9).u64(1);
        }
        assert!(open_err(&b.0).contains("nested"));

        let mut b = Builder::header(3, 0, 2);
        b.kv_u32("k", 1).kv_u32("k", 2);
        assert!(open_err(&b.0).contains("duplicate metadata key 'k'"));

        let mut b = Builder::header(3, 0, 1);
        b.kv_u32("general.alignment", 3);
        assert!(open_err(&b.0).contains("power of two"));

        let mut b = Builder::header(3, 0, 1);
        b.str("k").u32(13).u32(0);
        assert!(open_err(&b.0).contains("unknown value type 13"));
    }

    #[test]
    fn q8_0_size_and_unknown_type() {
        let mut b = Builder::header(3, 2, 0);
        b.tensor("q", &[64, 2], 8, 0)
            .tensor("x", &[4], 1000, 160)
            .pad_to(32);
        b.0.extend_from_slice(&[0u8; 4 * 34 + 32]);
        let g = open(&b.0).expect("valid");
        let q = g.tensor("q").expect("q");
        assert_eq!(q.n_bytes, Some(4 * 34));
        assert_eq!(g.tensor_bytes(q).expect("bytes").len(), 136);
        let x = g.tensor("x").expect("x");
        assert!(g.tensor_bytes(x).is_err());
        assert_eq!(x.type_name(), "unknown");
    }
}
