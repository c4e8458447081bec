//! GGUF container reader: the metadata key/value pairs and tensor directory of a llama.cpp
//! model or vocab-only file, with the tensor data left in a memory map.
//!
//! The file is untrusted input. Every count and length read from it is checked against the
//! bytes that remain before anything is allocated, every offset is checked before it is
//! read, and nothing here indexes the map unchecked, so a corrupt or hostile file gives a
//! [`GgufError`] naming the file and what is wrong, never a panic or a huge allocation.
//!
//! Layout (GGUF v2/v3, little-endian): magic `GGUF`, version u32, tensor_count u64,
//! kv_count u64, the key/value pairs, the tensor infos, then the tensor data at the next
//! multiple of `general.alignment` (default 32).

pub mod writer;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use thiserror::Error;

/// Alignment of the data section (and of every tensor in it) when the file sets none.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
pub const MAX_DIMS: usize = 4;
/// Arrays of arrays are legal GGUF; no real file nests deeply, so a bound keeps a
/// hostile file from recursing without end.
pub const MAX_ARRAY_DEPTH: usize = 8;

/// Why a GGUF file could not be read. Every message starts with the file's path.
#[derive(Debug, Error)]
pub enum GgufError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: truncated: {what} needs {need} bytes at offset {offset}, file has {len}")]
    Truncated {
        path: PathBuf,
        what: String,
        need: u64,
        offset: u64,
        len: u64,
    },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
}

pub type Result<T> = std::result::Result<T, GgufError>;

/// One metadata value. Arrays keep their element type so large arrays (vocabularies,
/// merges, scores) stay compact.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    Array(GgufArray),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A metadata array, one variant per element type.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufArray {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    Array(Vec<GgufArray>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

impl GgufValue {
    /// The value's type id on disk (gguf.h `enum gguf_type`).
    pub fn type_id(&self) -> u32 {
        match self {
            GgufValue::U8(_) => 0,
            GgufValue::I8(_) => 1,
            GgufValue::U16(_) => 2,
            GgufValue::I16(_) => 3,
            GgufValue::U32(_) => 4,
            GgufValue::I32(_) => 5,
            GgufValue::F32(_) => 6,
            GgufValue::Bool(_) => 7,
            GgufValue::Str(_) => 8,
            GgufValue::Array(_) => 9,
            GgufValue::U64(_) => 10,
            GgufValue::I64(_) => 11,
            GgufValue::F64(_) => 12,
        }
    }

    /// A short type name for messages ("u32", "array of string", ...).
    pub fn type_name(&self) -> String {
        match self {
            GgufValue::U8(_) => "u8".into(),
            GgufValue::I8(_) => "i8".into(),
            GgufValue::U16(_) => "u16".into(),
            GgufValue::I16(_) => "i16".into(),
            GgufValue::U32(_) => "u32".into(),
            GgufValue::I32(_) => "i32".into(),
            GgufValue::F32(_) => "f32".into(),
            GgufValue::Bool(_) => "bool".into(),
            GgufValue::Str(_) => "string".into(),
            GgufValue::Array(a) => format!("array of {}", a.elem_type_name()),
            GgufValue::U64(_) => "u64".into(),
            GgufValue::I64(_) => "i64".into(),
            GgufValue::F64(_) => "f64".into(),
        }
    }

    /// The value as a signed integer, for any integer type that fits in an i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::I8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::I16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::I32(v) => Some(v.into()),
            GgufValue::U64(v) => i64::try_from(v).ok(),
            GgufValue::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The value as an unsigned integer, for any non-negative integer value.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U64(v) => Some(v),
            _ => self.as_i64().and_then(|v| u64::try_from(v).ok()),
        }
    }
}

impl GgufArray {
    /// The element type id on disk (gguf.h `enum gguf_type`).
    pub fn type_id(&self) -> u32 {
        match self {
            GgufArray::U8(_) => 0,
            GgufArray::I8(_) => 1,
            GgufArray::U16(_) => 2,
            GgufArray::I16(_) => 3,
            GgufArray::U32(_) => 4,
            GgufArray::I32(_) => 5,
            GgufArray::F32(_) => 6,
            GgufArray::Bool(_) => 7,
            GgufArray::Str(_) => 8,
            GgufArray::Array(_) => 9,
            GgufArray::U64(_) => 10,
            GgufArray::I64(_) => 11,
            GgufArray::F64(_) => 12,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            GgufArray::U8(v) => v.len(),
            GgufArray::I8(v) => v.len(),
            GgufArray::U16(v) => v.len(),
            GgufArray::I16(v) => v.len(),
            GgufArray::U32(v) => v.len(),
            GgufArray::I32(v) => v.len(),
            GgufArray::F32(v) => v.len(),
            GgufArray::Bool(v) => v.len(),
            GgufArray::Str(v) => v.len(),
            GgufArray::Array(v) => v.len(),
            GgufArray::U64(v) => v.len(),
            GgufArray::I64(v) => v.len(),
            GgufArray::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type's name, for messages.
    pub fn elem_type_name(&self) -> &'static str {
        match self {
            GgufArray::U8(_) => "u8",
            GgufArray::I8(_) => "i8",
            GgufArray::U16(_) => "u16",
            GgufArray::I16(_) => "i16",
            GgufArray::U32(_) => "u32",
            GgufArray::I32(_) => "i32",
            GgufArray::F32(_) => "f32",
            GgufArray::Bool(_) => "bool",
            GgufArray::Str(_) => "string",
            GgufArray::Array(_) => "array",
            GgufArray::U64(_) => "u64",
            GgufArray::I64(_) => "i64",
            GgufArray::F64(_) => "f64",
        }
    }
}

/// One entry of the tensor directory. `offset` is relative to the data section.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensorInfo {
    pub name: String,
    /// Dimensions as ggml orders them: `dims[0]` is the fastest-varying (row length).
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub offset: u64,
    pub n_elements: u64,
    /// Size of the data in bytes; `None` for a ggml type this reader does not know.
    pub n_bytes: Option<u64>,
}

impl GgufTensorInfo {
    pub fn type_name(&self) -> &'static str {
        ggml_type_name(self.ggml_type)
    }
}

/// ggml type ids this reader knows, with (elements per block, bytes per block), from
/// gguf-py's `GGML_QUANT_SIZES`. Q8_1 is left out: its block size changed over time and
/// it never appears in model files.
const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "f32", 1, 4),
    (1, "f16", 1, 2),
    (2, "q4_0", 32, 18),
    (3, "q4_1", 32, 20),
    (6, "q5_0", 32, 22),
    (7, "q5_1", 32, 24),
    (8, "q8_0", 32, 34),
    (10, "q2_K", 256, 84),
    (11, "q3_K", 256, 110),
    (12, "q4_K", 256, 144),
    (13, "q5_K", 256, 176),
    (14, "q6_K", 256, 210),
    (15, "q8_K", 256, 292),
    (16, "iq2_xxs", 256, 66),
    (17, "iq2_xs", 256, 74),
    (18, "iq3_xxs", 256, 98),
    (19, "iq1_s", 256, 50),
    (20, "iq4_nl", 32, 18),
    (21, "iq3_s", 256, 110),
    (22, "iq2_s", 256, 82),
    (23, "iq4_xs", 256, 136),
    (24, "i8", 1, 1),
    (25, "i16", 1, 2),
    (26, "i32", 1, 4),
    (27, "i64", 1, 8),
    (28, "f64", 1, 8),
    (29, "iq1_m", 256, 56),
    (30, "bf16", 1, 2),
    (34, "tq1_0", 256, 54),
    (35, "tq2_0", 256, 66),
    (39, "mxfp4", 32, 17),
];

/// The name of a ggml type id ("q8_0"), or "unknown".
pub fn ggml_type_name(t: u32) -> &'static str {
    GGML_TYPES
        .iter()
        .find(|e| e.0 == t)
        .map_or("unknown", |e| e.1)
}

/// (elements per block, bytes per block) of a ggml type id, when known.
pub fn ggml_block_size(t: u32) -> Option<(u64, u64)> {
    GGML_TYPES.iter().find(|e| e.0 == t).map(|e| (e.2, e.3))
}

/// A parsed GGUF file. The metadata is copied out; tensor data stays in the map.
pub struct GgufFile {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: Vec<(String, GgufValue)>,
    pub tensors: Vec<GgufTensorInfo>,
    /// Absolute offset of the data section (may lie past the end for vocab-only files).
    pub data_offset: u64,
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

    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

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

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            GgufValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn get_array(&self, key: &str) -> Option<&GgufArray> {
        match self.get(key)? {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn get_str_array(&self, key: &str) -> Option<&[String]> {
        match self.get_array(key)? {
            GgufArray::Str(v) => Some(v),
            _ => None,
        }
    }

    pub fn get_f32_array(&self, key: &str) -> Option<&[f32]> {
        match self.get_array(key)? {
            GgufArray::F32(v) => Some(v),
            _ => None,
        }
    }

    pub fn get_i32_array(&self, key: &str) -> Option<&[i32]> {
        match self.get_array(key)? {
            GgufArray::I32(v) => Some(v),
            _ => None,
        }
    }

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

/// A parse failure without the path, which [`GgufFile::open`] adds.
#[derive(Debug)]
enum ParseError {
    Truncated {
        what: String,
        need: u64,
        offset: u64,
    },
    Invalid(String),
}

impl ParseError {
    fn into_error(self, path: &Path, len: u64) -> GgufError {
        // Messages quote keys and tensor names, which a corrupt length can make
        // megabytes long.
        let cap = crate::vocab::cap_message;
        match self {
            ParseError::Truncated { what, need, offset } => GgufError::Truncated {
                path: path.to_path_buf(),
                what: cap(what),
                need,
                offset,
                len,
            },
            ParseError::Invalid(msg) => GgufError::Invalid {
                path: path.to_path_buf(),
                msg: cap(msg),
            },
        }
    }

    /// Name the thing being read when the low-level reader ran short.
    fn context(self, what: impl FnOnce() -> String) -> ParseError {
        match self {
            ParseError::Truncated { need, offset, .. } => ParseError::Truncated {
                what: what(),
                need,
                offset,
            },
            other => other,
        }
    }
}

type PResult<T> = std::result::Result<T, ParseError>;

/// A bounds-checked little-endian reader over the mapped bytes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> u64 {
        self.buf.len().saturating_sub(self.pos) as u64
    }

    fn short(&self, need: u64) -> ParseError {
        ParseError::Truncated {
            what: String::new(),
            need,
            offset: self.pos as u64,
        }
    }

    fn take(&mut self, n: u64) -> PResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.short(n));
        }
        let end = self.pos + n as usize;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.short(n))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> PResult<[u8; N]> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> PResult<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> PResult<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> PResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> PResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Check that `count` elements of at least `min_size` bytes each can still be in the
    /// file, before anything is allocated for them.
    fn check_count(&self, count: u64, min_size: u64) -> PResult<usize> {
        let need = count.saturating_mul(min_size);
        if need > self.remaining() {
            return Err(self.short(need));
        }
        usize::try_from(count).map_err(|_| self.short(need))
    }

    /// A GGUF string: u64 length, then that many UTF-8 bytes.
    fn string(&mut self) -> PResult<String> {
        let len = self.u64()?;
        let start = self.pos;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            ParseError::Invalid(format!(
                "string at offset {start} is not valid UTF-8 (byte {} of {len})",
                e.utf8_error().valid_up_to()
            ))
        })
    }

    fn value(&mut self, ty: u32, depth: usize) -> PResult<GgufValue> {
        Ok(match ty {
            0 => GgufValue::U8(self.u8()?),
            1 => GgufValue::I8(self.u8()? as i8),
            2 => GgufValue::U16(self.u16()?),
            3 => GgufValue::I16(self.u16()? as i16),
            4 => GgufValue::U32(self.u32()?),
            5 => GgufValue::I32(self.u32()? as i32),
            6 => GgufValue::F32(f32::from_bits(self.u32()?)),
            7 => GgufValue::Bool(self.u8()? != 0),
            8 => GgufValue::Str(self.string()?),
            9 => GgufValue::Array(self.array_value(depth)?),
            10 => GgufValue::U64(self.u64()?),
            11 => GgufValue::I64(self.u64()? as i64),
            12 => GgufValue::F64(f64::from_bits(self.u64()?)),
            t => {
                return Err(ParseError::Invalid(format!(
                    "unknown value type {t} at offset {}",
                    self.pos.saturating_sub(4)
                )))
            }
        })
    }

    /// Read `count` fixed-size elements with `f`, after checking they fit.
    fn fixed<T>(
        &mut self,
        count: u64,
        size: u64,
        mut f: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let n = self.check_count(count, size)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(f(self)?);
        }
        Ok(v)
    }

    /// An array value: element type u32, count u64, then the elements.
    fn array_value(&mut self, depth: usize) -> PResult<GgufArray> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(ParseError::Invalid(format!(
                "arrays nested deeper than {MAX_ARRAY_DEPTH} levels at offset {}",
                self.pos
            )));
        }
        let ty = self.u32()?;
        let count = self.u64()?;
        Ok(match ty {
            0 => GgufArray::U8(self.take(self.check_count(count, 1)? as u64)?.to_vec()),
            1 => GgufArray::I8(self.fixed(count, 1, |c| Ok(c.u8()? as i8))?),
            2 => GgufArray::U16(self.fixed(count, 2, |c| c.u16())?),
            3 => GgufArray::I16(self.fixed(count, 2, |c| Ok(c.u16()? as i16))?),
            4 => GgufArray::U32(self.fixed(count, 4, |c| c.u32())?),
            5 => GgufArray::I32(self.fixed(count, 4, |c| Ok(c.u32()? as i32))?),
            6 => GgufArray::F32(self.fixed(count, 4, |c| Ok(f32::from_bits(c.u32()?)))?),
            7 => GgufArray::Bool(self.fixed(count, 1, |c| Ok(c.u8()? != 0))?),
            // A string is at least its 8-byte length.
            8 => GgufArray::Str(self.fixed(count, 8, |c| c.string())?),
            // A nested array is at least its 4-byte type and 8-byte count.
            9 => GgufArray::Array(self.fixed(count, 12, |c| c.array_value(depth + 1))?),
            10 => GgufArray::U64(self.fixed(count, 8, |c| c.u64())?),
            11 => GgufArray::I64(self.fixed(count, 8, |c| Ok(c.u64()? as i64))?),
            12 => GgufArray::F64(self.fixed(count, 8, |c| Ok(f64::from_bits(c.u64()?)))?),
            t => {
                return Err(ParseError::Invalid(format!(
                    "unknown array element type {t} at offset {}",
                    self.pos.saturating_sub(12)
                )))
            }
        })
    }
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
    let n_bytes = match ggml_block_size(ggml_type) {
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
    Ok(())
}

/// Hand-built GGUF bytes for tests here and in `vocab::gguf`, so they can break files in
/// chosen places.
#[cfg(test)]
pub(crate) mod test_builder {
    use std::io::Write;

    pub(crate) struct Builder(pub(crate) Vec<u8>);

    impl Builder {
        pub(crate) fn header(version: u32, tensors: u64, kvs: u64) -> Builder {
            let mut b = Builder(b"GGUF".to_vec());
            b.u32(version).u64(tensors).u64(kvs);
            b
        }
        pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        pub(crate) fn str(&mut self, s: &str) -> &mut Self {
            self.u64(s.len() as u64);
            self.0.extend_from_slice(s.as_bytes());
            self
        }
        pub(crate) fn kv_str(&mut self, k: &str, v: &str) -> &mut Self {
            self.str(k).u32(8).str(v)
        }
        pub(crate) fn kv_u32(&mut self, k: &str, v: u32) -> &mut Self {
            self.str(k).u32(4).u32(v)
        }
        pub(crate) fn kv_str_array(&mut self, k: &str, vs: &[&str]) -> &mut Self {
            self.str(k).u32(9).u32(8).u64(vs.len() as u64);
            for v in vs {
                self.str(v);
            }
            self
        }
        pub(crate) fn kv_f32_array(&mut self, k: &str, vs: &[f32]) -> &mut Self {
            self.str(k).u32(9).u32(6).u64(vs.len() as u64);
            for v in vs {
                self.u32(v.to_bits());
            }
            self
        }
        pub(crate) fn kv_bool(&mut self, k: &str, v: bool) -> &mut Self {
            self.str(k).u32(7);
            self.0.push(v as u8);
            self
        }
        pub(crate) fn kv_i32_array(&mut self, k: &str, vs: &[i32]) -> &mut Self {
            self.str(k).u32(9).u32(5).u64(vs.len() as u64);
            for v in vs {
                self.u32(*v as u32);
            }
            self
        }
        pub(crate) fn tensor(
            &mut self,
            name: &str,
            dims: &[u64],
            ty: u32,
            offset: u64,
        ) -> &mut Self {
            self.str(name).u32(dims.len() as u32);
            for &d in dims {
                self.u64(d);
            }
            self.u32(ty).u64(offset)
        }
        pub(crate) fn pad_to(&mut self, align: usize) -> &mut Self {
            while !self.0.len().is_multiple_of(align) {
                self.0.push(0);
            }
            self
        }
    }

    pub(crate) fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new()
            .suffix(".gguf")
            .tempfile()
            .expect("tempfile");
        f.write_all(bytes).expect("write");
        f.flush().expect("flush");
        f
    }
}

#[cfg(test)]
mod tests {
    use super::test_builder::{write, Builder};
    use super::*;

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
