//! A minimal protobuf wire-format reader for SentencePiece `ModelProto` files.
//!
//! Why hand-written: the only protobuf crates with code generation need `protoc` at build
//! time (not available on a fresh machine), and we read four fields of one message. Every
//! length is checked against the bytes left before anything is sliced.

/// One field's value as it appears on the wire.
#[derive(Debug, Clone, Copy)]
pub enum Wire<'a> {
    /// Wire type 0: ints, bools, enums.
    Varint(u64),
    /// Wire type 1: fixed64, double.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, nested messages, borrowed from the input.
    Bytes(&'a [u8]),
    /// Wire type 5: fixed32, float.
    Fixed32(u32),
}

impl Wire<'_> {
    /// Any integer encoding as u64; `None` for bytes.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Wire::Varint(v) | Wire::Fixed64(v) => Some(v),
            Wire::Fixed32(v) => Some(v as u64),
            Wire::Bytes(_) => None,
        }
    }
    /// int32 fields are sign-extended varints (-1 is ten bytes of 0xFF…).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_u64().map(|v| v as i64)
    }
    /// A float field (fixed32 on the wire).
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Wire::Fixed32(v) => Some(f32::from_bits(v)),
            _ => None,
        }
    }
    /// A length-delimited field's bytes.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match *self {
            Wire::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// Iterates over the fields of one message; yields `Err` once on malformed input.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Reader<'a> {
    /// A reader over one message's bytes (a nested message is a `Bytes` field's bytes).
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            failed: false,
        }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(format!("truncated varint at byte {}", self.pos));
            };
            self.pos += 1;
            if shift < 64 {
                v |= ((b & 0x7F) as u64) << shift;
            }
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint longer than 10 bytes at byte {}", self.pos))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = self.buf.len() - self.pos;
        if n > left as u64 {
            return Err(format!(
                "truncated: field needs {n} bytes at byte {}, only {left} left",
                self.pos
            ));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn field(&mut self) -> Result<(u32, Wire<'a>), String> {
        let key = self.varint()?;
        let num = (key >> 3) as u32;
        if num == 0 {
            return Err(format!("field number 0 at byte {}", self.pos));
        }
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Wire::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| "fixed64")?))
            }
            2 => {
                let n = self.varint()?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Wire::Fixed32(u32::from_le_bytes(b.try_into().map_err(|_| "fixed32")?))
            }
            t => return Err(format!("unsupported wire type {t} at byte {}", self.pos)),
        };
        Ok((num, value))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<(u32, Wire<'a>), String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let r = self.field();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_rejects_truncation() {
        // field 1 bytes "ab", field 2 varint 300, field 3 fixed32 1.5f
        let mut buf = vec![0x0A, 2, b'a', b'b', 0x10, 0xAC, 0x02, 0x1D];
        buf.extend_from_slice(&1.5f32.to_le_bytes());
        let fields: Vec<_> = Reader::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0].1.as_bytes(), Some(&b"ab"[..]));
        assert_eq!(fields[1].1.as_u64(), Some(300));
        assert_eq!(fields[2].1.as_f32(), Some(1.5));
        for cut in 1..buf.len() {
            let r: Result<Vec<_>, _> = Reader::new(&buf[..cut]).collect();
            if cut != 4 && cut != 7 {
                assert!(r.is_err(), "cut at {cut} should fail");
            }
        }
        // A length that claims more than the buffer holds.
        let huge = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
        assert!(Reader::new(&huge).collect::<Result<Vec<_>, _>>().is_err());
    }
}
