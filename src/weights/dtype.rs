//! Element types of embedding matrices and their conversion to f32.
//!
//! Decoding works on little-endian bytes straight from the memory map, one row at a
//! time, with no alignment assumption: safetensors data offsets need not be aligned to
//! the element size, and reading through `from_le_bytes` is as fast as an aligned load on
//! the machines we target.

use half::f16;
use half::slice::HalfFloatSliceExt;

use crate::gguf::ggml;

/// Element types we can turn into f32 rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float, read as is.
    F32,
    /// IEEE half precision, widened through `half` (F16C where the CPU has it).
    F16,
    /// bfloat16, the top half of an f32, so widening is a shift.
    BF16,
    /// ggml's 8-bit block quantization: per 32 values, an f16 scale `d` then 32 `i8`
    /// quants `q`; value = `d * q`.
    Q8_0,
}

/// Values per q8_0 block (from the ggml type table).
pub const Q8_0_BLOCK: usize = ggml::Q8_0.block_size as usize;
/// Bytes per q8_0 block: the f16 scale and 32 quants (from the ggml type table).
pub const Q8_0_BLOCK_BYTES: usize = ggml::Q8_0.block_bytes as usize;

/// The safetensors dtypes we read, as the unsupported-dtype message lists them.
pub const SAFETENSORS_SUPPORTED: &str = "F32, F16, BF16";
/// The ggml types we read, as the unsupported-dtype message lists them: the names of
/// [`GGML_DTYPES`] (a test keeps the two in step; a `const` cannot join strings).
pub const GGUF_SUPPORTED: &str = "f32, f16, bf16, q8_0";

/// The ggml types we decode and the element type each is.
pub const GGML_DTYPES: [(ggml::TypeInfo, DType); 4] = [
    (ggml::F32, DType::F32),
    (ggml::F16, DType::F16),
    (ggml::BF16, DType::BF16),
    (ggml::Q8_0, DType::Q8_0),
];

impl DType {
    /// The safetensors dtype string for the types safetensors has ("F32", "F16", "BF16").
    pub fn from_safetensors(s: &str) -> Option<DType> {
        match s {
            "F32" => Some(DType::F32),
            "F16" => Some(DType::F16),
            "BF16" => Some(DType::BF16),
            _ => None,
        }
    }

    /// The element type of a ggml type id as stored in GGUF tensor infos, when we can
    /// decode it.
    pub fn from_ggml(t: u32) -> Option<DType> {
        GGML_DTYPES.iter().find(|(g, _)| g.id == t).map(|&(_, d)| d)
    }

    /// The lower-case name messages use (ggml's names; safetensors' are upper-case).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => ggml::F32.name,
            DType::F16 => ggml::F16.name,
            DType::BF16 => ggml::BF16.name,
            DType::Q8_0 => ggml::Q8_0.name,
        }
    }

    /// Bytes one row of `cols` values takes, or `None` when `cols` does not fit the type
    /// (q8_0 rows hold whole blocks) or the size overflows.
    pub fn row_bytes(self, cols: usize) -> Option<usize> {
        match self {
            DType::F32 => cols.checked_mul(4),
            DType::F16 | DType::BF16 => cols.checked_mul(2),
            DType::Q8_0 => {
                if !cols.is_multiple_of(Q8_0_BLOCK) {
                    return None;
                }
                (cols / Q8_0_BLOCK).checked_mul(Q8_0_BLOCK_BYTES)
            }
        }
    }

    /// Decode one row. `src` must be exactly `row_bytes(out.len())` long; the caller
    /// ([`super::Matrix`]) has checked that, so a mismatch is a bug and panics.
    pub fn decode_row(self, src: &[u8], out: &mut [f32]) {
        assert_eq!(
            Some(src.len()),
            self.row_bytes(out.len()),
            "decode_row: {} bytes for {} {} values",
            src.len(),
            out.len(),
            self.name()
        );
        match self {
            DType::F32 => {
                for (o, b) in out.iter_mut().zip(src.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            DType::F16 => decode_f16(src, out),
            DType::BF16 => decode_bf16(src, out),
            DType::Q8_0 => {
                for (o, block) in out
                    .chunks_exact_mut(Q8_0_BLOCK)
                    .zip(src.chunks_exact(Q8_0_BLOCK_BYTES))
                {
                    let d = f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32();
                    for (v, &q) in o.iter_mut().zip(&block[2..]) {
                        *v = d * f32::from(q as i8);
                    }
                }
            }
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

crate::util::simd::with_avx2!(fn decode_bf16(src: &[u8], out: &mut [f32]) -> () = decode_bf16_body);

#[inline(always)]
fn decode_bf16_body(src: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
        *o = bf16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

/// bf16 is the top half of an f32, so widening is a shift (exact, NaN and inf included).
#[inline(always)]
pub fn bf16_bits_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// f16 → f32 in chunks through `half`'s slice conversion, which uses the CPU's F16C
/// instructions when present; converting element by element checks for them each time.
fn decode_f16(src: &[u8], out: &mut [f32]) {
    const CHUNK: usize = 64;
    let mut tmp = [f16::ZERO; CHUNK];
    for (o, s) in out.chunks_mut(CHUNK).zip(src.chunks(CHUNK * 2)) {
        let t = &mut tmp[..o.len()];
        for (h, b) in t.iter_mut().zip(s.chunks_exact(2)) {
            *h = f16::from_bits(u16::from_le_bytes([b[0], b[1]]));
        }
        t.convert_to_f32_slice(o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ggml_names_agree_with_the_table() {
        let names: Vec<&str> = GGML_DTYPES.iter().map(|(g, _)| g.name).collect();
        assert_eq!(GGUF_SUPPORTED, names.join(", "));
        for (g, d) in GGML_DTYPES {
            assert_eq!(d.name(), g.name);
            assert_eq!(DType::from_ggml(g.id), Some(d));
            if g.block_size == 1 {
                assert_eq!(d.row_bytes(3), Some(3 * g.block_bytes as usize));
            }
        }
    }

    #[test]
    fn decodes_each_type() {
        let vals = [0.0f32, 1.0, -2.5, 65504.0, 1e-3];
        let mut out = [0f32; 5];

        let f32_bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        DType::F32.decode_row(&f32_bytes, &mut out);
        assert_eq!(out, vals);

        let f16_bytes: Vec<u8> = vals
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_bits().to_le_bytes())
            .collect();
        DType::F16.decode_row(&f16_bytes, &mut out);
        for (a, b) in out.iter().zip(vals) {
            assert!((a - b).abs() <= b.abs() * 1e-3, "{a} vs {b}");
        }

        let bf16_bytes: Vec<u8> = vals
            .iter()
            .flat_map(|&v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        DType::BF16.decode_row(&bf16_bytes, &mut out);
        for (a, b) in out.iter().zip(vals) {
            assert!((a - b).abs() <= b.abs() * 1e-2, "{a} vs {b}");
        }
    }

    #[test]
    fn decodes_q8_0() {
        let mut block = f16::from_f32(0.5).to_bits().to_le_bytes().to_vec();
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut out = [0f32; 32];
        DType::Q8_0.decode_row(&block, &mut out);
        for (i, v) in out.iter().enumerate() {
            assert_eq!(*v, 0.5 * (i as f32 - 16.0));
        }
        assert_eq!(DType::Q8_0.row_bytes(33), None);
        assert_eq!(DType::Q8_0.row_bytes(64), Some(68));
    }

    #[test]
    fn f16_chunks_cover_odd_lengths() {
        let vals: Vec<f32> = (0..150).map(|i| i as f32 * 0.25).collect();
        let bytes: Vec<u8> = vals
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_bits().to_le_bytes())
            .collect();
        let mut out = vec![0f32; 150];
        DType::F16.decode_row(&bytes, &mut out);
        assert_eq!(out, vals);
    }
}
