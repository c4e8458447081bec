//! One `.safetensors` file: its header parsed and checked, its data left in a memory map.
//!
//! Layout: a little-endian u64 header length `n`, `n` bytes of JSON
//! (`{"name": {"dtype": "BF16", "shape": [r, c], "data_offsets": [begin, end]}, ...,
//! "__metadata__": {...}}`), then the data section; offsets are relative to its start.
//!
//! The header is parsed here rather than with the `safetensors` crate's `read_metadata`
//! because that function's errors do not say which tensor is wrong ("invalid shape, data
//! type, or offset for tensor"), and it rejects the whole file when any tensor has a dtype
//! string the crate does not know, even one we never read. The checks are the same ones
//! that matter for safety: header length within the file and at most 100 MB, every
//! tensor's byte range inside the data section, shape × element size equal to the byte
//! length (checked arithmetic), no two tensors overlapping. They all run at open time,
//! before any tensor data is touched, so a hostile header cannot make a later read go out
//! of bounds. As in the crate (and the format's definition), the tensors must cover the
//! data section exactly, without holes or trailing bytes: a header length one byte short
//! still parses (writers pad the header with spaces) but shifts every tensor by a byte,
//! and only the layout shows it.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::Deserialize;

use super::dtype::{DType, SAFETENSORS_SUPPORTED};
use super::error::{io, Result, WeightsError};
use super::matrix::Matrix;

/// The same header size limit as the `safetensors` crate: real headers are well under
/// 10 MB even for thousands of tensors; anything bigger is a corrupt or foreign file.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// One tensor's header entry, with offsets made relative to the data section.
#[derive(Debug, Clone)]
pub struct TensorEntry {
    /// The dtype string as written ("BF16", "I64", or one we do not know).
    pub dtype: String,
    pub shape: Vec<usize>,
    pub begin: usize,
    pub end: usize,
}

/// A mapped safetensors file with a validated header.
pub struct SafetensorsFile {
    pub path: PathBuf,
    pub tensors: BTreeMap<String, TensorEntry>,
    /// Absolute offset of the data section: 8 + header length.
    data_start: usize,
    mmap: Mmap,
}

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile")
            .field("path", &self.path)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// The JSON of one tensor entry as the format defines it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

impl SafetensorsFile {
    /// Map the file and validate its header. Reads only the header's bytes.
    pub fn open(path: &Path) -> Result<SafetensorsFile> {
        // A shard index can name a named pipe (opening it blocks until a writer comes)
        // or a device: check before opening.
        if !std::fs::metadata(path).map_err(io(path))?.is_file() {
            return Err(invalid(path, "not a regular file".into()));
        }
        let file = File::open(path).map_err(io(path))?;
        let len = file.metadata().map_err(io(path))?.len();
        if len < 8 {
            return Err(invalid(
                path,
                format!(
                    "truncated: the file has {len} bytes; a safetensors file starts with an \
                     8-byte header length"
                ),
            ));
        }
        // SAFETY: the map is only read. As with every memory-mapped reader, another process
        // truncating the file while it is open is outside what we guard against.
        let mmap = unsafe { Mmap::map(&file) }.map_err(io(path))?;
        if mmap.starts_with(b"PK\x03\x04") {
            // A torch.save zip archive renamed to .safetensors: it holds pickles.
            return Err(WeightsError::Pickle {
                path: path.to_path_buf(),
            });
        }
        let (data_start, tensors) = parse_header(&mmap).map_err(|msg| invalid(path, msg))?;
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            tensors,
            data_start,
            mmap,
        })
    }

    /// The tensor as a 2-D matrix of a dtype we can read.
    pub fn matrix(&self, name: &str) -> Result<Matrix<'_>> {
        let e = self
            .tensors
            .get(name)
            .ok_or_else(|| WeightsError::TensorNotFound {
                path: self.path.clone(),
                msg: format!("no tensor named '{name}'"),
            })?;
        let dtype =
            DType::from_safetensors(&e.dtype).ok_or_else(|| WeightsError::UnsupportedDtype {
                path: self.path.clone(),
                tensor: name.to_string(),
                dtype: e.dtype.clone(),
                supported: SAFETENSORS_SUPPORTED,
            })?;
        let [rows, cols] = e.shape[..] else {
            return Err(WeightsError::Shape {
                path: self.path.clone(),
                tensor: name.to_string(),
                msg: format!("shape {:?} is not a 2-D matrix", e.shape),
            });
        };
        // Checked at open time; `get` keeps this free of unchecked indexing regardless.
        let bytes = self
            .data_start
            .checked_add(e.begin)
            .zip(self.data_start.checked_add(e.end))
            .and_then(|(b, end)| self.mmap.get(b..end))
            .ok_or_else(|| invalid(&self.path, format!("tensor '{name}' lies outside the file")))?;
        Matrix::new(name, &self.path, rows, cols, dtype, bytes)
    }
}

fn invalid(path: &Path, msg: String) -> WeightsError {
    WeightsError::Invalid {
        path: path.to_path_buf(),
        // Messages quote tensor names, which a hostile header can make megabytes long.
        msg: crate::vocab::cap_message(msg),
    }
}

/// Bits per element of every dtype the safetensors format defines; `None` for strings it
/// does not define (those tensors' sizes cannot be checked, only their offsets).
fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        _ => return None,
    })
}

/// Parse and check the header of a whole file's bytes. Returns the data section's start
/// and the tensor entries, or a message for [`WeightsError::Invalid`].
pub(crate) fn parse_header(
    buf: &[u8],
) -> std::result::Result<(usize, BTreeMap<String, TensorEntry>), String> {
    let file_len = buf.len() as u64;
    let Some(len_bytes) = buf.first_chunk::<8>() else {
        return Err(format!(
            "truncated: the file has {file_len} bytes; a safetensors file starts with an 8-byte \
             header length"
        ));
    };
    let n = u64::from_le_bytes(*len_bytes);
    if n > MAX_HEADER_LEN {
        return Err(format!(
            "header length {n} is over the {MAX_HEADER_LEN}-byte limit (not a safetensors file, \
             or a corrupt one)"
        ));
    }
    if n > file_len - 8 {
        return Err(format!(
            "truncated: the header length says {n} bytes of JSON, but only {} bytes follow",
            file_len - 8
        ));
    }
    // n <= file_len - 8 <= usize::MAX because buf is a slice.
    let data_start = 8 + n as usize;
    let header = &buf[8..data_start];
    // Writers pad the header with trailing spaces; allow leading ones too.
    if header.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("the header is not a JSON object (it must start with '{')".into());
    }
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| format!("the header is not valid JSON: {e}"))?;
    let data_len = file_len - data_start as u64;

    let mut tensors = BTreeMap::new();
    for (name, value) in map {
        if name == "__metadata__" {
            continue;
        }
        let raw: RawEntry = serde_json::from_value(value)
            .map_err(|e| format!("tensor '{name}': bad header entry: {e}"))?;
        let entry = check_entry(&name, raw, data_len)?;
        tensors.insert(name, entry);
    }
    check_overlaps(&tensors)?;
    check_covered(&tensors, data_len)?;
    Ok((data_start, tensors))
}

/// Offsets inside the data section, in order, and matching the shape and dtype.
fn check_entry(
    name: &str,
    raw: RawEntry,
    data_len: u64,
) -> std::result::Result<TensorEntry, String> {
    let (begin, end) = raw.data_offsets;
    if end < begin {
        return Err(format!(
            "tensor '{name}': data_offsets [{begin}, {end}] end before they begin"
        ));
    }
    if end > data_len {
        return Err(format!(
            "tensor '{name}': data_offsets [{begin}, {end}] lie past the end of the data section \
             ({data_len} bytes): the file is truncated or the header is wrong"
        ));
    }
    if let Some(bits) = dtype_bits(&raw.dtype) {
        let need = raw
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|n| n.checked_mul(bits))
            .map(|b| b.div_ceil(8));
        if need != Some(end - begin) {
            return Err(format!(
                "tensor '{name}': shape {:?} of {} needs {} bytes, but data_offsets [{begin}, {end}] \
                 cover {}",
                raw.shape,
                raw.dtype,
                need.map_or("more than 2^64".to_string(), |n| n.to_string()),
                end - begin
            ));
        }
    }
    // Both offsets are <= data_len, which fits in usize; the shape's product fits in
    // u64 bytes but may not fit usize on 32-bit targets, so convert with a check.
    let shape = raw
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| {
            format!(
                "tensor '{name}': shape {:?} does not fit in memory",
                raw.shape
            )
        })?;
    Ok(TensorEntry {
        dtype: raw.dtype,
        shape,
        begin: begin as usize,
        end: end as usize,
    })
}

/// The tensors, in offset order, must cover `[0, data_len)` without a hole.
fn check_covered(
    tensors: &BTreeMap<String, TensorEntry>,
    data_len: u64,
) -> std::result::Result<(), String> {
    let mut ranges: Vec<(usize, usize)> = tensors
        .values()
        .filter(|e| e.end > e.begin)
        .map(|e| (e.begin, e.end))
        .collect();
    ranges.sort_unstable();
    let mut at = 0usize;
    for (b, e) in ranges {
        if b != at {
            return Err(format!(
                "the data section has {} bytes at offset {at} that no tensor covers: the \
                 header length or the offsets are wrong (a shifted or corrupt file)",
                b - at
            ));
        }
        at = e;
    }
    if at as u64 != data_len {
        return Err(format!(
            "the data section is {data_len} bytes but its tensors end at {at}: the header \
             length or the offsets are wrong (a shifted or corrupt file)"
        ));
    }
    Ok(())
}

/// Two tensors sharing bytes means the header is lying about at least one of them.
fn check_overlaps(tensors: &BTreeMap<String, TensorEntry>) -> std::result::Result<(), String> {
    let mut ranges: Vec<(usize, usize, &str)> = tensors
        .iter()
        .filter(|(_, e)| e.end > e.begin)
        .map(|(n, e)| (e.begin, e.end, n.as_str()))
        .collect();
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.0 < a.1 {
            return Err(format!(
                "tensors '{}' [{}, {}] and '{}' [{}, {}] overlap",
                a.2, a.0, a.1, b.2, b.0, b.1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.resize(v.len() + data_len, 0);
        v
    }

    #[test]
    fn accepts_a_valid_header() {
        let h = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}}"#;
        let (start, t) = parse_header(&file(h, 32)).unwrap();
        assert_eq!(start, 8 + h.len());
        assert_eq!(t["a"].shape, vec![2, 3]);
        assert_eq!((t["b"].begin, t["b"].end), (24, 32));
    }

    #[test]
    fn rejects_lies() {
        let cases = [
            (
                r#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,48]}}"#,
                "past the end",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[24,0]}}"#,
                "end before",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,24]}}"#,
                "needs 16 bytes",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]}}"#,
                "more than 2^64",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#,
                "overlap",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[6],"data_offsets":[-1,24]}}"#,
                "bad header entry",
            ),
            (r#"[1,2]"#, "not a JSON object"),
            (r#"{"a":"#, "not valid JSON"),
        ];
        for (h, want) in cases {
            let err = parse_header(&file(h, 24)).unwrap_err();
            assert!(err.contains(want), "{h}: {err}");
        }
    }

    #[test]
    fn the_tensors_must_cover_the_data_exactly() {
        let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  "#;
        assert!(parse_header(&file(h, 8)).is_ok());
        // The header length one byte short: still JSON, every tensor shifted by a byte.
        let mut shifted = file(h, 8);
        shifted[0] -= 1;
        assert_eq!(
            parse_header(&shifted).unwrap_err(),
            "the data section is 9 bytes but its tensors end at 8: the header length or the \
             offsets are wrong (a shifted or corrupt file)"
        );
        let hole = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert_eq!(
            parse_header(&file(hole, 8)).unwrap_err(),
            "the data section has 4 bytes at offset 0 that no tensor covers: the header length \
             or the offsets are wrong (a shifted or corrupt file)"
        );
    }

    #[test]
    fn rejects_bad_lengths() {
        assert!(parse_header(&[1, 2, 3]).unwrap_err().contains("truncated"));
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(parse_header(&huge).unwrap_err().contains("limit"));
        let mut short = 100u64.to_le_bytes().to_vec();
        short.extend_from_slice(b"{}");
        assert!(parse_header(&short)
            .unwrap_err()
            .contains("only 2 bytes follow"));
    }
}
