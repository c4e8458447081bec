//! The hardened little-endian cursor the GGUF reader walks the map with, and the
//! path-less parse error it reports.
//!
//! Every count and length read from the file is checked against the bytes that remain
//! before anything is allocated for it, so a hostile length fails fast instead of asking
//! for terabytes.

use std::path::Path;

use super::{GgufArray, GgufError, GgufValue, MAX_ARRAY_DEPTH};
use crate::util::text::cap_message;

/// A parse failure without the path, which [`GgufFile::open`] adds.
#[derive(Debug)]
pub(super) enum ParseError {
    Truncated {
        what: String,
        need: u64,
        offset: u64,
    },
    Invalid(String),
}

impl ParseError {
    pub(super) fn into_error(self, path: &Path, len: u64) -> GgufError {
        // Messages quote keys and tensor names, which a corrupt length can make
        // megabytes long.
        let cap = cap_message;
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
    pub(super) fn context(self, what: impl FnOnce() -> String) -> ParseError {
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

pub(super) type PResult<T> = std::result::Result<T, ParseError>;

/// A bounds-checked little-endian reader over the mapped bytes.
pub(super) struct Cursor<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
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

    pub(super) fn array<const N: usize>(&mut self) -> PResult<[u8; N]> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(super) fn u8(&mut self) -> PResult<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(super) fn u16(&mut self) -> PResult<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub(super) fn u32(&mut self) -> PResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(super) fn u64(&mut self) -> PResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Check that `count` elements of at least `min_size` bytes each can still be in the
    /// file, before anything is allocated for them.
    pub(super) fn check_count(&self, count: u64, min_size: u64) -> PResult<usize> {
        let need = count.saturating_mul(min_size);
        if need > self.remaining() {
            return Err(self.short(need));
        }
        usize::try_from(count).map_err(|_| self.short(need))
    }

    /// A GGUF string: u64 length, then that many UTF-8 bytes.
    pub(super) fn string(&mut self) -> PResult<String> {
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

    pub(super) fn value(&mut self, ty: u32, depth: usize) -> PResult<GgufValue> {
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
