//! Element types of embedding matrices and their conversion to f32.
//!
//! Decoding works on little-endian bytes straight from the memory map, one row at a
//! time. The plain types and q8_0 are read through `from_le_bytes` with no alignment
//! assumption: safetensors data offsets need not be aligned to the element size, and
//! such reads are as fast as aligned loads on the machines we target.
//!
//! The other ggml block quantizations (q4_0 … q8_K) are decoded by candle's
//! dequantizers (`candle_core::quantized::k_quants`, ports of ggml's
//! `dequantize_row_*`): a row's bytes are viewed as a slice of candle's `#[repr(C)]` block
//! structs, whose size is checked against the ggml table at compile time, and handed to
//! `GgmlType::to_float`. The view needs the row to start at the block's alignment (2, or
//! 4 for q8_K); GGUF tensor data is aligned to 32 bytes and every row of these types is a
//! whole number of blocks, so mapped rows always are, and a row that is not (a file read
//! into an unaligned buffer) is first copied into an aligned per-thread buffer. Either way
//! one row is decoded at a time, as for every other type. ggml's i-quants (iq1_s … iq4_xs),
//! the ternary and fp4 types have no decoder in candle and are refused by name.

use std::cell::RefCell;

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K,
    BlockQ8K, BlockQ8_1, GgmlType,
};
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
    /// ggml q4_0: per 32 values an f16 scale and 4-bit quants (4.5 bits per weight).
    Q4_0,
    /// ggml q4_1: q4_0 plus an f16 minimum per block (5 bits per weight).
    Q4_1,
    /// ggml q5_0: 5-bit quants with one f16 scale per 32 values (5.5 bits per weight).
    Q5_0,
    /// ggml q5_1: q5_0 plus an f16 minimum per block (6 bits per weight).
    Q5_1,
    /// ggml q8_1: q8_0 plus the block's f16 sum (an intermediate type of ggml's matmul,
    /// read for completeness).
    Q8_1,
    /// ggml q2_K: super-blocks of 256, 2-bit quants, 4-bit scales and minima per 16
    /// (2.625 bits per weight).
    Q2K,
    /// ggml q3_K: 3-bit quants, 6-bit scales per 16 (3.4375 bits per weight).
    Q3K,
    /// ggml q4_K: 4-bit quants, 6-bit scales and minima per 32 (4.5 bits per weight).
    Q4K,
    /// ggml q5_K: 5-bit quants, 6-bit scales and minima per 32 (5.5 bits per weight).
    Q5K,
    /// ggml q6_K: 6-bit quants, 8-bit scales per 16 (6.5625 bits per weight).
    Q6K,
    /// ggml q8_K: 8-bit quants with an f32 scale per 256 (9.125 bits per weight; the
    /// intermediate type of k-quant matmuls).
    Q8K,
}

/// Values per q8_0 block (from the ggml type table).
pub const Q8_0_BLOCK: usize = ggml::Q8_0.block_size as usize;
/// Bytes per q8_0 block: the f16 scale and 32 quants (from the ggml type table).
pub const Q8_0_BLOCK_BYTES: usize = ggml::Q8_0.block_bytes as usize;

/// The safetensors dtypes we read, as the unsupported-dtype message lists them.
pub const SAFETENSORS_SUPPORTED: &str = "F32, F16, BF16";
/// The ggml types we read, as the unsupported-dtype message lists them: the names of
/// [`GGML_DTYPES`] (a test keeps the two in step; a `const` cannot join strings).
pub const GGUF_SUPPORTED: &str =
    "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q8_1, q2_K, q3_K, q4_K, q5_K, q6_K, q8_K";

/// The ggml types we decode and the element type each is.
pub const GGML_DTYPES: [(ggml::TypeInfo, DType); 15] = [
    (ggml::F32, DType::F32),
    (ggml::F16, DType::F16),
    (ggml::BF16, DType::BF16),
    (ggml::Q8_0, DType::Q8_0),
    (ggml_type(2), DType::Q4_0),
    (ggml_type(3), DType::Q4_1),
    (ggml_type(6), DType::Q5_0),
    (ggml_type(7), DType::Q5_1),
    (ggml_type(9), DType::Q8_1),
    (ggml_type(10), DType::Q2K),
    (ggml_type(11), DType::Q3K),
    (ggml_type(12), DType::Q4K),
    (ggml_type(13), DType::Q5K),
    (ggml_type(14), DType::Q6K),
    (ggml_type(15), DType::Q8K),
];

/// The ggml table's entry for `id`, at compile time (a missing id fails the build).
const fn ggml_type(id: u32) -> ggml::TypeInfo {
    let mut i = 0;
    while i < ggml::TYPES.len() {
        if ggml::TYPES[i].id == id {
            return ggml::TYPES[i];
        }
        i += 1;
    }
    panic!("ggml type id not in the table")
}

/// candle's block struct for a ggml type must be exactly the type's block on disk: the
/// same number of values and of bytes, checked at compile time.
const fn block_fits<B: GgmlType>(id: u32) -> bool {
    let t = ggml_type(id);
    B::BLCK_SIZE as u64 == t.block_size && std::mem::size_of::<B>() as u64 == t.block_bytes
}
const _: () = assert!(block_fits::<BlockQ4_0>(2));
const _: () = assert!(block_fits::<BlockQ4_1>(3));
const _: () = assert!(block_fits::<BlockQ5_0>(6));
const _: () = assert!(block_fits::<BlockQ5_1>(7));
const _: () = assert!(block_fits::<BlockQ8_1>(9));
const _: () = assert!(block_fits::<BlockQ2K>(10));
const _: () = assert!(block_fits::<BlockQ3K>(11));
const _: () = assert!(block_fits::<BlockQ4K>(12));
const _: () = assert!(block_fits::<BlockQ5K>(13));
const _: () = assert!(block_fits::<BlockQ6K>(14));
const _: () = assert!(block_fits::<BlockQ8K>(15));

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

    /// The ggml table's entry for this type (safetensors' F32/F16/BF16 are ggml's too).
    pub fn ggml(self) -> ggml::TypeInfo {
        GGML_DTYPES
            .iter()
            .find(|&&(_, d)| d == self)
            .map(|&(g, _)| g)
            .expect("every DType is in GGML_DTYPES")
    }

    /// The lower-case name messages use (ggml's names; safetensors' are upper-case).
    pub fn name(self) -> &'static str {
        self.ggml().name
    }

    /// Values per block: 1 for the plain types, 32 or 256 for block quantizations, whose
    /// rows must hold whole blocks.
    pub fn block_size(self) -> usize {
        self.ggml().block_size as usize
    }

    /// Bits one value takes on disk, scales included (4.5 for q4_0).
    pub fn bits_per_weight(self) -> f64 {
        let g = self.ggml();
        8.0 * g.block_bytes as f64 / g.block_size as f64
    }

    /// Bytes one row of `cols` values takes, or `None` when `cols` does not fit the type
    /// (block-quantized rows hold whole blocks) or the size overflows.
    pub fn row_bytes(self, cols: usize) -> Option<usize> {
        let g = self.ggml();
        let (block, bytes) = (g.block_size as usize, g.block_bytes as usize);
        if !cols.is_multiple_of(block) {
            return None;
        }
        (cols / block).checked_mul(bytes)
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
            DType::Q4_0 => decode_blocks::<BlockQ4_0>(src, out),
            DType::Q4_1 => decode_blocks::<BlockQ4_1>(src, out),
            DType::Q5_0 => decode_blocks::<BlockQ5_0>(src, out),
            DType::Q5_1 => decode_blocks::<BlockQ5_1>(src, out),
            DType::Q8_1 => decode_blocks::<BlockQ8_1>(src, out),
            DType::Q2K => decode_blocks::<BlockQ2K>(src, out),
            DType::Q3K => decode_blocks::<BlockQ3K>(src, out),
            DType::Q4K => decode_blocks::<BlockQ4K>(src, out),
            DType::Q5K => decode_blocks::<BlockQ5K>(src, out),
            DType::Q6K => decode_blocks::<BlockQ6K>(src, out),
            DType::Q8K => decode_blocks::<BlockQ8K>(src, out),
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

/// Decode whole blocks of candle's block type `B` (`src` holds `out.len() / B::BLCK_SIZE`
/// of them, as [`DType::decode_row`] has checked) with candle's `to_float`.
fn decode_blocks<B: GgmlType>(src: &[u8], out: &mut [f32]) {
    let n = src.len() / std::mem::size_of::<B>();
    debug_assert_eq!(n * std::mem::size_of::<B>(), src.len());
    debug_assert_eq!(n * B::BLCK_SIZE, out.len());
    if src.as_ptr().align_offset(std::mem::align_of::<B>()) == 0 {
        // SAFETY: `src` is `n * size_of::<B>()` bytes, aligned for `B`, and borrowed for
        // the call. candle's block types are `#[repr(C)]` structs of `f16`, `f32`, `u8`,
        // `i8` and `i16` fields and arrays with no padding (their sizes equal the sums of
        // their fields, asserted above against ggml's block bytes), so every bit pattern
        // is a valid value. ggml stores them little-endian, the byte order of every
        // target this crate is built for.
        let blocks = unsafe { std::slice::from_raw_parts(src.as_ptr().cast::<B>(), n) };
        B::to_float(blocks, out);
        return;
    }
    thread_local! {
        /// Aligned scratch for rows that are not: u64 words align every block type.
        static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    }
    const { assert!(std::mem::align_of::<B>() <= std::mem::align_of::<u64>()) };
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        buf.resize(src.len().div_ceil(8), 0);
        // SAFETY: the buffer holds at least `src.len()` bytes; the regions are distinct.
        let dst = buf.as_mut_ptr().cast::<u8>();
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
        // SAFETY: as above, with the copy aligned to 8 ≥ align_of::<B>().
        let blocks = unsafe { std::slice::from_raw_parts(dst.cast_const().cast::<B>(), n) };
        B::to_float(blocks, out);
    });
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

    /// Quantize with candle's `from_float`, write the blocks' bytes as a file holds them
    /// and decode the bytes as a row: back within the type's own error, on the aligned
    /// path and the unaligned copy alike.
    fn round_trip<B: GgmlType>(d: DType, max_err: f32) {
        let cols = 512;
        let vals: Vec<f32> = (0..cols)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let mut blocks = vec![B::zeros(); cols / B::BLCK_SIZE];
        B::from_float(&vals, &mut blocks);
        let n = std::mem::size_of_val(blocks.as_slice());
        // SAFETY: the blocks are plain data with no padding (see `decode_blocks`).
        let bytes = unsafe { std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), n) };
        assert_eq!(d.row_bytes(cols), Some(n), "{d}");
        let mut out = vec![0f32; cols];
        d.decode_row(bytes, &mut out);
        let err = vals
            .iter()
            .zip(&out)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err <= max_err, "{d}: max error {err} > {max_err}");
        // The same bytes one past an aligned start take the copying path.
        let mut shifted = vec![0u8; n + 1];
        shifted[1..].copy_from_slice(bytes);
        let mut out2 = vec![0f32; cols];
        d.decode_row(&shifted[1..], &mut out2);
        assert_eq!(out, out2, "{d}: unaligned row");
        // Rows of part of a block have no size.
        if d.block_size() > 1 {
            assert_eq!(d.row_bytes(cols + 1), None);
            assert_eq!(d.row_bytes(d.block_size() / 2), None);
        }
    }

    #[test]
    fn decodes_every_block_type_through_candle() {
        // Values in [-1, 1): the error bound is about half a quantization step.
        round_trip::<BlockQ4_0>(DType::Q4_0, 0.15);
        round_trip::<BlockQ4_1>(DType::Q4_1, 0.15);
        round_trip::<BlockQ5_0>(DType::Q5_0, 0.07);
        round_trip::<BlockQ5_1>(DType::Q5_1, 0.07);
        round_trip::<BlockQ8_1>(DType::Q8_1, 0.01);
        round_trip::<BlockQ2K>(DType::Q2K, 0.5);
        round_trip::<BlockQ3K>(DType::Q3K, 0.3);
        round_trip::<BlockQ4K>(DType::Q4K, 0.15);
        round_trip::<BlockQ5K>(DType::Q5K, 0.07);
        round_trip::<BlockQ6K>(DType::Q6K, 0.04);
        round_trip::<BlockQ8K>(DType::Q8K, 0.01);
        assert_eq!(DType::Q4_0.bits_per_weight(), 4.5);
        assert_eq!(DType::Q6K.bits_per_weight(), 6.5625);
    }

    #[test]
    fn i_quants_and_retired_types_are_not_decoded() {
        for id in [
            16, 17, 18, 19, 20, 21, 22, 23, 29, 34, 35, 39, 40, 41, 42, 4, 31, 1000,
        ] {
            assert_eq!(DType::from_ggml(id), None, "ggml type {id}");
        }
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
