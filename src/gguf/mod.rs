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

//!
//! One file per job: [`ggml`] the tensor type table, `reader` parsing ([`GgufFile`]),
//! [`writer`] writing ([`writer::GgufWriter`]), and [`builder`] the unchecked byte builder
//! tests use to make broken files; all bytes written go through [`writer`]'s encoders.

pub mod builder;
mod cursor;
pub mod ggml;
mod reader;
pub mod writer;

use std::path::PathBuf;

use thiserror::Error;

/// Old names of [`ggml::name`] and [`ggml::block_size`], kept so callers need not change.
pub use ggml::{block_size as ggml_block_size, name as ggml_type_name};
pub use reader::GgufFile;

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
    /// The ggml type's name ("q8_0", or "unknown"), for messages.
    pub fn type_name(&self) -> &'static str {
        ggml::name(self.ggml_type)
    }
}
