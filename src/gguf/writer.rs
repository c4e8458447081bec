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

use super::{GgufArray, GgufValue, DEFAULT_ALIGNMENT};

/// The ggml element types the exporter writes (unquantized only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
}

impl GgmlType {
    /// The id stored in tensor infos (ggml's `enum ggml_type`).
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
        }
    }

    pub fn elem_bytes(self) -> u64 {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "f32",
            GgmlType::F16 => "f16",
        }
    }
}

/// One tensor of the directory. `dims` are in ggml order: `dims[0]` is the row length, so
/// a PyTorch `[out, in]` matrix is `[in, out]` here while its row-major bytes are the same.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
}

impl TensorSpec {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

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

    pub fn add_tensor(&mut self, spec: TensorSpec) -> Result<()> {
        if self.tensors.iter().any(|t| t.name == spec.name) {
            bail!("GGUF tensor '{}' added twice", spec.name);
        }
        if spec.dims.is_empty() || spec.dims.len() > crate::gguf::MAX_DIMS {
            bail!(
                "GGUF tensor '{}' has {} dimensions (1 to {} allowed)",
                spec.name,
                spec.dims.len(),
                crate::gguf::MAX_DIMS
            );
        }
        self.tensors.push(spec);
        Ok(())
    }

    pub fn metadata(&self) -> &[(String, GgufValue)] {
        &self.metadata
    }

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
        let mut out = Counting { inner: w, n: 0 };
        out.write_all(b"GGUF")?;
        out.write_all(&3u32.to_le_bytes())?;
        out.write_all(&(self.tensors.len() as u64).to_le_bytes())?;
        out.write_all(&(self.metadata.len() as u64).to_le_bytes())?;
        let mut seen = HashSet::new();
        for (k, v) in &self.metadata {
            if !seen.insert(k.as_str()) {
                bail!("GGUF metadata key '{k}' added twice");
            }
            write_str(&mut out, k)?;
            out.write_all(&v.type_id().to_le_bytes())?;
            write_value(&mut out, v)?;
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            write_str(&mut out, &t.name)?;
            out.write_all(&(t.dims.len() as u32).to_le_bytes())?;
            for d in &t.dims {
                out.write_all(&d.to_le_bytes())?;
            }
            out.write_all(&t.ggml_type.id().to_le_bytes())?;
            out.write_all(&offset.to_le_bytes())?;
            offset = (offset + t.n_bytes()).div_ceil(align) * align;
        }
        pad(&mut out, align)?;
        for (i, t) in self.tensors.iter().enumerate() {
            let start = out.n;
            data(i, t, &mut out)?;
            let wrote = out.n - start;
            if wrote != t.n_bytes() {
                bail!(
                    "tensor '{}': {wrote} bytes of data written, its {:?} {} shape needs {}",
                    t.name,
                    t.dims,
                    t.ggml_type.name(),
                    t.n_bytes()
                );
            }
            pad(&mut out, align)?;
        }
        out.flush()?;
        Ok(out.n)
    }
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

fn pad(out: &mut Counting, align: u64) -> Result<()> {
    let rem = out.n % align;
    if rem != 0 {
        out.write_all(&vec![0u8; (align - rem) as usize])?;
    }
    Ok(())
}

fn write_str(w: &mut dyn Write, s: &str) -> Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())?;
    Ok(())
}

fn write_value(w: &mut dyn Write, v: &GgufValue) -> Result<()> {
    match v {
        GgufValue::U8(x) => w.write_all(&x.to_le_bytes())?,
        GgufValue::I8(x) => w.write_all(&x.to_le_bytes())?,
        GgufValue::U16(x) => w.write_all(&x.to_le_bytes())?,
        GgufValue::I16(x) => w.write_all(&x.to_le_bytes())?,
        GgufValue::U32(x) => w.write_all(&x.to_le_bytes())?,
        GgufValue::I32(x) => w.write_all(&x.to_le_bytes())?,
        GgufValue::F32(x) => w.write_all(&x.to_le_bytes())?,
        GgufValue::Bool(x) => w.write_all(&[u8::from(*x)])?,
        GgufValue::Str(s) => write_str(w, s)?,
        GgufValue::Array(a) => write_array(w, a)?,
        GgufValue::U64(x) => w.write_all(&x.to_le_bytes())?,
        GgufValue::I64(x) => w.write_all(&x.to_le_bytes())?,
        GgufValue::F64(x) => w.write_all(&x.to_le_bytes())?,
    }
    Ok(())
}

/// An array is its element type, its length, then the elements (nested arrays repeat
/// the same three parts).
fn write_array(w: &mut dyn Write, a: &GgufArray) -> Result<()> {
    w.write_all(&a.type_id().to_le_bytes())?;
    w.write_all(&(a.len() as u64).to_le_bytes())?;
    fn each<T>(w: &mut dyn Write, v: &[T], f: impl Fn(&T) -> Vec<u8>) -> Result<()> {
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
                write_str(w, s)?;
            }
        }
        GgufArray::Array(v) => {
            for inner in v {
                write_array(w, inner)?;
            }
        }
    }
    Ok(())
}
