//! GGUF, llama.cpp's container: the metadata key/value pairs and tensor directory of a
//! model or vocab-only file, read with the tensor data left in a memory map, and written.
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
//! [`writer`] writing ([`writer::GgufWriter`]), and `builder` (hidden from the docs) the
//! unchecked byte builder tests use to make broken files; all bytes written go through
//! [`writer`]'s encoders.

#[doc(hidden)]
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
    /// The file could not be opened or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Something the file announces runs past its end: the usual sign of a cut download,
    /// so the message gives the sizes that show how much is missing.
    #[error("{path}: truncated: {what} needs {need} bytes at offset {offset}, file has {len}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was being read ("metadata value of key '…'").
        what: String,
        /// Bytes it needs.
        need: u64,
        /// Where it starts.
        offset: u64,
        /// The file's size.
        len: u64,
    },
    /// The bytes are there but make no sense (bad magic, unknown type, duplicate key...).
    #[error("{path}: {msg}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, capped in length.
        msg: String,
    },
}

/// Results of reading a GGUF file.
pub type Result<T> = std::result::Result<T, GgufError>;

/// One metadata value. Arrays keep their element type so large arrays (vocabularies,
/// merges, scores) stay compact.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// On disk: type id 0.
    U8(u8),
    /// On disk: type id 1.
    I8(i8),
    /// On disk: type id 2.
    U16(u16),
    /// On disk: type id 3.
    I16(i16),
    /// On disk: type id 4.
    U32(u32),
    /// On disk: type id 5.
    I32(i32),
    /// On disk: type id 6.
    F32(f32),
    /// On disk: type id 7.
    Bool(bool),
    /// On disk: type id 8.
    Str(String),
    /// On disk: type id 9.
    Array(GgufArray),
    /// On disk: type id 10.
    U64(u64),
    /// On disk: type id 11.
    I64(i64),
    /// On disk: type id 12.
    F64(f64),
}

/// A metadata array, one variant per element type.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufArray {
    /// On disk: element type id 0.
    U8(Vec<u8>),
    /// On disk: element type id 1.
    I8(Vec<i8>),
    /// On disk: element type id 2.
    U16(Vec<u16>),
    /// On disk: element type id 3.
    I16(Vec<i16>),
    /// On disk: element type id 4.
    U32(Vec<u32>),
    /// On disk: element type id 5.
    I32(Vec<i32>),
    /// On disk: element type id 6.
    F32(Vec<f32>),
    /// On disk: element type id 7.
    Bool(Vec<bool>),
    /// On disk: element type id 8.
    Str(Vec<String>),
    /// On disk: element type id 9.
    Array(Vec<GgufArray>),
    /// On disk: element type id 10.
    U64(Vec<u64>),
    /// On disk: element type id 11.
    I64(Vec<i64>),
    /// On disk: element type id 12.
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

    /// Number of elements (of the outer array, for nested ones).
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

    /// Whether the array has no elements (an empty vocabulary is an error upstream).
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
    /// The tensor's name ("token_embd.weight").
    pub name: String,
    /// Dimensions as ggml orders them: `dims[0]` is the fastest-varying (row length).
    pub dims: Vec<u64>,
    /// The raw ggml type id; kept as a number because files may use ids newer than
    /// [`ggml::TYPES`].
    pub ggml_type: u32,
    /// Start of the data, relative to the data section, a multiple of the alignment.
    pub offset: u64,
    /// Product of the dimensions, checked not to overflow.
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
