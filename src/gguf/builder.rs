//! GGUF bytes built by hand, for tests: the unit tests here and in `vocab::gguf`, the
//! integration tests' checkpoint writers and the fuzz tests, which need files broken in
//! chosen places (wrong counts, duplicate keys, unknown types, data that does not fit its
//! shape) that the checked [`super::writer::GgufWriter`] refuses to write.
//!
//! Not part of the supported API (hidden from the docs). Every byte still goes through
//! the writer's encoders, so there is one GGUF encoding in the crate, not one per test.

use std::io::Write;

use super::writer::{self, DirEntry, Layout};
use super::{GgufArray, GgufValue, DEFAULT_ALIGNMENT};

/// Writing to a `Vec` cannot fail; the encoders take any writer, so they return a result.
const VEC: &str = "writing to a Vec cannot fail";

/// GGUF bytes assembled field by field, in the order the caller chooses, so a test can
/// stop, lie about a count or put a field of the wrong type anywhere.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct Builder(pub Vec<u8>);

#[doc(hidden)]
impl Builder {
    /// Magic, version and the two counts; whether the entries that follow match the
    /// counts is up to the caller.
    pub fn header(version: u32, tensors: u64, kvs: u64) -> Builder {
        let mut b = Builder(b"GGUF".to_vec());
        b.u32(version).u64(tensors).u64(kvs);
        b
    }
    /// A bare little-endian u32 (a count, a type id, a dimension count).
    pub fn u32(&mut self, v: u32) -> &mut Self {
        writer::put_value(&mut self.0, &GgufValue::U32(v)).expect(VEC);
        self
    }
    /// A bare little-endian u64 (a count, a length, an offset).
    pub fn u64(&mut self, v: u64) -> &mut Self {
        writer::put_value(&mut self.0, &GgufValue::U64(v)).expect(VEC);
        self
    }
    /// A GGUF string: its length, then its bytes.
    pub fn str(&mut self, s: &str) -> &mut Self {
        writer::put_str(&mut self.0, s).expect(VEC);
        self
    }
    /// A whole metadata entry: key, type id, value.
    pub fn kv(&mut self, k: &str, v: &GgufValue) -> &mut Self {
        writer::put_kv(&mut self.0, k, v).expect(VEC);
        self
    }
    /// A string entry.
    pub fn kv_str(&mut self, k: &str, v: &str) -> &mut Self {
        self.kv(k, &GgufValue::Str(v.to_string()))
    }
    /// A u32 entry.
    pub fn kv_u32(&mut self, k: &str, v: u32) -> &mut Self {
        self.kv(k, &GgufValue::U32(v))
    }
    /// An array-of-strings entry.
    pub fn kv_str_array(&mut self, k: &str, vs: &[&str]) -> &mut Self {
        let a = GgufArray::Str(vs.iter().map(|s| s.to_string()).collect());
        self.kv(k, &GgufValue::Array(a))
    }
    /// An array-of-f32 entry.
    pub fn kv_f32_array(&mut self, k: &str, vs: &[f32]) -> &mut Self {
        self.kv(k, &GgufValue::Array(GgufArray::F32(vs.to_vec())))
    }
    /// A bool entry.
    pub fn kv_bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.kv(k, &GgufValue::Bool(v))
    }
    /// An array-of-i32 entry.
    pub fn kv_i32_array(&mut self, k: &str, vs: &[i32]) -> &mut Self {
        self.kv(k, &GgufValue::Array(GgufArray::I32(vs.to_vec())))
    }
    /// A tensor info with any dimensions, type id and offset.
    pub fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> &mut Self {
        writer::put_tensor_info(&mut self.0, name, dims, ty, offset).expect(VEC);
        self
    }
    /// Zero bytes up to the next multiple of `align` (where the data section starts).
    pub fn pad_to(&mut self, align: usize) -> &mut Self {
        while !self.0.len().is_multiple_of(align) {
            self.0.push(0);
        }
        self
    }
}

/// A tensor for [`file`]: its data need not fit its dimensions or type.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// The name in the tensor directory.
    pub name: String,
    /// Dimensions in ggml order (row length first); any number of them.
    pub dims: Vec<u64>,
    /// Any ggml type id, known or not.
    pub ggml_type: u32,
    /// The bytes written at the tensor's offset.
    pub data: Vec<u8>,
}

/// A whole GGUF v3 file laid out as the writer lays it out: the given metadata (in
/// order, duplicates kept), then the tensors, each at the next 32-byte-aligned offset
/// after the previous one's data, whatever `general.alignment` says. The file ends at
/// the last data byte.
#[doc(hidden)]
pub fn file(kvs: &[(String, GgufValue)], tensors: &[RawTensor]) -> Vec<u8> {
    let dir: Vec<DirEntry> = tensors
        .iter()
        .map(|t| DirEntry {
            name: &t.name,
            dims: &t.dims,
            ggml_type: t.ggml_type,
            n_bytes: t.data.len() as u64,
        })
        .collect();
    let layout = Layout {
        version: 3,
        metadata: kvs,
        tensors: &dir,
        alignment: DEFAULT_ALIGNMENT,
        pad_last: false,
    };
    let mut out = Vec::new();
    writer::write_layout(&mut out, &layout, |i, w| Ok(w.write_all(&tensors[i].data)?))
        .expect("each tensor's data is its own size");
    out
}

/// `bytes` in a temporary `.gguf` file, deleted when the handle is dropped.
#[doc(hidden)]
pub fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".gguf")
        .tempfile()
        .expect("tempfile");
    f.write_all(bytes).expect("write");
    f.flush().expect("flush");
    f
}
