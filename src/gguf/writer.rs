//! A small GGUF v3 writer: metadata key/value pairs, a tensor directory, and the tensor data
//! streamed in afterwards.
//!
//! Values are the reader's own [`GgufValue`] so that what is written can be compared with
//! what [`crate::gguf::GgufFile`] reads back without a second vocabulary of types. Tensor
//! data is not held here: the caller writes each tensor's bytes when asked, so a
//! multi-gigabyte checkpoint is converted row by row from its memory map and never sits
//! in memory whole. Every size is known before the first byte is written (offsets go in
//! the header), so the writer counts what the caller writes and fails rather than
//! produce a file whose offsets lie.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{bail, Result};

use super::{ggml, GgufArray, GgufValue, DEFAULT_ALIGNMENT, MAX_DIMS};

/// The ggml element types the exporter writes (unquantized only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float, lossless for every checkpoint.
    F32,
    /// 16-bit float, half the size and exact for f16 checkpoints.
    F16,
}

impl GgmlType {
    /// The entry of the one ggml type table this type is.
    pub fn info(self) -> ggml::TypeInfo {
        match self {
            GgmlType::F32 => ggml::F32,
            GgmlType::F16 => ggml::F16,
        }
    }

    /// The id stored in tensor infos (ggml's `enum ggml_type`).
    pub fn id(self) -> u32 {
        self.info().id
    }

    /// Bytes per value; both types are unblocked, so a block is one value.
    pub fn elem_bytes(self) -> u64 {
        self.info().block_bytes
    }

    /// ggml's name ("f32", "f16"), for messages and reports.
    pub fn name(self) -> &'static str {
        self.info().name
    }
}

/// One tensor of the directory. `dims` are in ggml order: `dims[0]` is the row length, so
/// a PyTorch `[out, in]` matrix is `[in, out]` here while its row-major bytes are the same.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// The tensor's name as llama.cpp expects it ("token_embd.weight").
    pub name: String,
    /// Dimensions in ggml order, 1 to 4 of them.
    pub dims: Vec<u64>,
    /// The element type the data is written in.
    pub ggml_type: GgmlType,
}

impl TensorSpec {
    /// Number of values.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Bytes of data the caller must write for this tensor.
    pub fn n_bytes(&self) -> u64 {
        self.n_elements() * self.ggml_type.elem_bytes()
    }
}

/// Metadata and tensor directory of a GGUF file to be written.
#[derive(Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, GgufValue)>,
    tensors: Vec<TensorSpec>,
}

impl GgufWriter {
    /// An empty file: no metadata, no tensors.
    pub fn new() -> GgufWriter {
        GgufWriter::default()
    }

    /// Add a key. llama.cpp refuses files with a key twice, so a duplicate is a bug in the
    /// caller and is reported, not silently overwritten.
    pub fn add(&mut self, key: &str, value: GgufValue) -> Result<()> {
        if self.metadata.iter().any(|(k, _)| k == key) {
            bail!("GGUF metadata key '{key}' added twice");
        }
        self.metadata.push((key.to_string(), value));
        Ok(())
    }

    /// Add a tensor to the directory. Names must be unique and shapes 1- to 4-D, as the
    /// reader checks, so a bad spec fails here rather than after a long write.
    pub fn add_tensor(&mut self, spec: TensorSpec) -> Result<()> {
        if self.tensors.iter().any(|t| t.name == spec.name) {
            bail!("GGUF tensor '{}' added twice", spec.name);
        }
        if spec.dims.is_empty() || spec.dims.len() > MAX_DIMS {
            bail!(
                "GGUF tensor '{}' has {} dimensions (1 to {} allowed)",
                spec.name,
                spec.dims.len(),
                MAX_DIMS
            );
        }
        self.tensors.push(spec);
        Ok(())
    }

    /// The keys added so far, in order.
    pub fn metadata(&self) -> &[(String, GgufValue)] {
        &self.metadata
    }

    /// The tensors added so far, in order.
    pub fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }

    /// The data alignment: `general.alignment` when set (it must then be a power of two,
    /// as readers check), else GGUF's default of 32.
    pub fn alignment(&self) -> Result<u64> {
        match self.metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => Ok(DEFAULT_ALIGNMENT),
            Some((_, GgufValue::U32(a))) if a.is_power_of_two() => Ok(u64::from(*a)),
            Some((_, v)) => bail!("general.alignment must be a u32 power of two, got {v:?}"),
        }
    }

    /// Write the whole file. `data(i, spec, w)` must write exactly `spec.n_bytes()` bytes
    /// of tensor `i`; the writer adds the padding. Returns the number of bytes written.
    pub fn write(
        &self,
        w: &mut dyn Write,
        mut data: impl FnMut(usize, &TensorSpec, &mut dyn Write) -> Result<()>,
    ) -> Result<u64> {
        let align = self.alignment()?;
        let mut seen = HashSet::new();
        for (k, _) in &self.metadata {
            if !seen.insert(k.as_str()) {
                bail!("GGUF metadata key '{k}' added twice");
            }
        }
        let dir: Vec<DirEntry> = self
            .tensors
            .iter()
            .map(|t| DirEntry {
                name: &t.name,
                dims: &t.dims,
                ggml_type: t.ggml_type.id(),
                n_bytes: t.n_bytes(),
            })
            .collect();
        let layout = Layout {
            version: 3,
            metadata: &self.metadata,
            tensors: &dir,
            alignment: align,
            pad_last: true,
        };
        write_layout(w, &layout, |i, w| data(i, &self.tensors[i], w))
    }
}

/// One entry of a tensor directory as it goes on disk: any type id, any size. The
/// checked [`GgufWriter`] and the unchecked test builder both describe their tensors so.
pub(crate) struct DirEntry<'a> {
    pub(crate) name: &'a str,
    pub(crate) dims: &'a [u64],
    pub(crate) ggml_type: u32,
    pub(crate) n_bytes: u64,
}

/// Everything about a file's layout except the tensor data.
pub(crate) struct Layout<'a> {
    pub(crate) version: u32,
    pub(crate) metadata: &'a [(String, GgufValue)],
    pub(crate) tensors: &'a [DirEntry<'a>],
    /// Tensor offsets are multiples of this, and the data section starts at one.
    pub(crate) alignment: u64,
    /// Pad after the last tensor too (the writer does, as llama.cpp's does; the builder's
    /// files end at the last data byte).
    pub(crate) pad_last: bool,
}

/// The one place GGUF bytes are laid out: header, metadata, tensor directory with each
/// offset at the next multiple of the alignment, padding, then each tensor's data from
/// `data(i, w)` and its padding. It checks nothing about the content (the builder
/// writes broken files on purpose) except that `data` wrote exactly `n_bytes`, because
/// the offsets already written depend on it. Returns the number of bytes written.
pub(crate) fn write_layout(
    w: &mut dyn Write,
    layout: &Layout,
    mut data: impl FnMut(usize, &mut dyn Write) -> Result<()>,
) -> Result<u64> {
    let align = layout.alignment;
    let mut out = Counting { inner: w, n: 0 };
    out.write_all(b"GGUF")?;
    out.write_all(&layout.version.to_le_bytes())?;
    out.write_all(&(layout.tensors.len() as u64).to_le_bytes())?;
    out.write_all(&(layout.metadata.len() as u64).to_le_bytes())?;
    for (k, v) in layout.metadata {
        put_kv(&mut out, k, v)?;
    }
    let mut offset = 0u64;
    for t in layout.tensors {
        put_tensor_info(&mut out, t.name, t.dims, t.ggml_type, offset)?;
        offset = (offset + t.n_bytes).div_ceil(align) * align;
    }
    pad(&mut out, align)?;
    for (i, t) in layout.tensors.iter().enumerate() {
        let start = out.n;
        data(i, &mut out)?;
        let wrote = out.n - start;
        if wrote != t.n_bytes {
            bail!(
                "tensor '{}': {wrote} bytes of data written, its {:?} {} shape needs {}",
                t.name,
                t.dims,
                ggml::name(t.ggml_type),
                t.n_bytes
            );
        }
        if layout.pad_last || i + 1 < layout.tensors.len() {
            pad(&mut out, align)?;
        }
    }
    out.flush()?;
    Ok(out.n)
}

/// Counts bytes on their way through, for offsets and the size check.
struct Counting<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn pad(out: &mut Counting, align: u64) -> std::io::Result<()> {
    let rem = out.n % align;
    if rem != 0 {
        out.write_all(&vec![0u8; (align - rem) as usize])?;
    }
    Ok(())
}

/// A GGUF string: u64 length, then the UTF-8 bytes.
pub(crate) fn put_str(w: &mut dyn Write, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

/// A metadata entry: key, value type id, value.
pub(crate) fn put_kv(w: &mut dyn Write, key: &str, v: &GgufValue) -> std::io::Result<()> {
    put_str(w, key)?;
    w.write_all(&v.type_id().to_le_bytes())?;
    put_value(w, v)
}

/// A tensor info: name, dimension count, dimensions, type id, data offset.
pub(crate) fn put_tensor_info(
    w: &mut dyn Write,
    name: &str,
    dims: &[u64],
    ggml_type: u32,
    offset: u64,
) -> std::io::Result<()> {
    put_str(w, name)?;
    w.write_all(&(dims.len() as u32).to_le_bytes())?;
    for d in dims {
        w.write_all(&d.to_le_bytes())?;
    }
    w.write_all(&ggml_type.to_le_bytes())?;
    w.write_all(&offset.to_le_bytes())
}

/// A value without its type id (which precedes it in a metadata entry, and is given once
/// for all elements of an array).
pub(crate) fn put_value(w: &mut dyn Write, v: &GgufValue) -> std::io::Result<()> {
    match v {
        GgufValue::U8(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::I8(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::U16(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::I16(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::U32(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::I32(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::F32(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::Bool(x) => w.write_all(&[u8::from(*x)]),
        GgufValue::Str(s) => put_str(w, s),
        GgufValue::Array(a) => put_array(w, a),
        GgufValue::U64(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::I64(x) => w.write_all(&x.to_le_bytes()),
        GgufValue::F64(x) => w.write_all(&x.to_le_bytes()),
    }
}

/// An array is its element type, its length, then the elements (nested arrays repeat
/// the same three parts).
fn put_array(w: &mut dyn Write, a: &GgufArray) -> std::io::Result<()> {
    w.write_all(&a.type_id().to_le_bytes())?;
    w.write_all(&(a.len() as u64).to_le_bytes())?;
    fn each<T>(w: &mut dyn Write, v: &[T], f: impl Fn(&T) -> Vec<u8>) -> std::io::Result<()> {
        for x in v {
            w.write_all(&f(x))?;
        }
        Ok(())
    }
    match a {
        GgufArray::U8(v) => w.write_all(v)?,
        GgufArray::I8(v) => each(w, v, |x| x.to_le_bytes().to_vec())?,
        GgufArray::U16(v) => each(w, v, |x| x.to_le_bytes().to_vec())?,
        GgufArray::I16(v) => each(w, v, |x| x.to_le_bytes().to_vec())?,
        GgufArray::U32(v) => each(w, v, |x| x.to_le_bytes().to_vec())?,
        GgufArray::I32(v) => each(w, v, |x| x.to_le_bytes().to_vec())?,
        GgufArray::F32(v) => each(w, v, |x| x.to_le_bytes().to_vec())?,
        GgufArray::Bool(v) => each(w, v, |x| vec![u8::from(*x)])?,
        GgufArray::U64(v) => each(w, v, |x| x.to_le_bytes().to_vec())?,
        GgufArray::I64(v) => each(w, v, |x| x.to_le_bytes().to_vec())?,
        GgufArray::F64(v) => each(w, v, |x| x.to_le_bytes().to_vec())?,
        GgufArray::Str(v) => {
            for s in v {
                put_str(w, s)?;
            }
        }
        GgufArray::Array(v) => {
            for inner in v {
                put_array(w, inner)?;
            }
        }
    }
    Ok(())
}
