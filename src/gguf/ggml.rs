//! The ggml tensor types: the one table of type ids, names and block sizes that the
//! reader (to size tensors), the writer (to label what it writes) and the weight decoder
//! (to know what it can read) all draw from, so the three cannot drift apart.

/// One ggml tensor type: what a GGUF tensor info's type id means on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeInfo {
    /// The id in tensor infos (ggml's `enum ggml_type`).
    pub id: u32,
    /// ggml's own lower-case name ("q8_0"), which messages and docs quote.
    pub name: &'static str,
    /// Values per block: 1 for plain types, 32 or 256 for block-quantized ones, whose rows
    /// must hold whole blocks.
    pub block_size: u64,
    /// Bytes one block takes (scales included).
    pub block_bytes: u64,
}

const fn t(id: u32, name: &'static str, block_size: u64, block_bytes: u64) -> TypeInfo {
    TypeInfo {
        id,
        name,
        block_size,
        block_bytes,
    }
}

/// 32-bit float, the exporter's lossless choice.
pub const F32: TypeInfo = t(0, "f32", 1, 4);
/// 16-bit float, the exporter's default for half-precision checkpoints.
pub const F16: TypeInfo = t(1, "f16", 1, 2);
/// 8-bit blocks of 32 with an f16 scale: the one quantized type embeddings are read in,
/// because it is how llama.cpp ships many small models.
pub const Q8_0: TypeInfo = t(8, "q8_0", 32, 34);
/// bfloat16, the storage type of most recent checkpoints.
pub const BF16: TypeInfo = t(30, "bf16", 1, 2);

/// Every type llama.cpp's ggml defines (`enum ggml_type` in ggml.h and the block sizes of
/// `type_traits` in ggml.c, llama.cpp as vendored by llama-cpp-python 0.3.36), in id order.
/// The ids ggml has retired are in [`REMOVED`] instead: no current file holds them and ggml
/// no longer gives them a size.
pub const TYPES: &[TypeInfo] = &[
    F32,
    F16,
    t(2, "q4_0", 32, 18),
    t(3, "q4_1", 32, 20),
    t(6, "q5_0", 32, 22),
    t(7, "q5_1", 32, 24),
    Q8_0,
    t(9, "q8_1", 32, 36),
    t(10, "q2_K", 256, 84),
    t(11, "q3_K", 256, 110),
    t(12, "q4_K", 256, 144),
    t(13, "q5_K", 256, 176),
    t(14, "q6_K", 256, 210),
    t(15, "q8_K", 256, 292),
    t(16, "iq2_xxs", 256, 66),
    t(17, "iq2_xs", 256, 74),
    t(18, "iq3_xxs", 256, 98),
    t(19, "iq1_s", 256, 50),
    t(20, "iq4_nl", 32, 18),
    t(21, "iq3_s", 256, 110),
    t(22, "iq2_s", 256, 82),
    t(23, "iq4_xs", 256, 136),
    t(24, "i8", 1, 1),
    t(25, "i16", 1, 2),
    t(26, "i32", 1, 4),
    t(27, "i64", 1, 8),
    t(28, "f64", 1, 8),
    t(29, "iq1_m", 256, 56),
    BF16,
    t(34, "tq1_0", 256, 54),
    t(35, "tq2_0", 256, 66),
    t(39, "mxfp4", 32, 17),
    t(40, "nvfp4", 64, 36),
    t(41, "q1_0", 128, 18),
    t(42, "q2_0", 64, 18),
];

/// The ids ggml once had and has retired, with their old names: Q4_2 and Q4_3 (dropped in
/// 2023) and the repacked Q4_0/IQ4_NL layouts that are now done at load time. ggml gives
/// them no block size, so files holding them cannot be sized; messages still name them.
pub const REMOVED: &[(u32, &str)] = &[
    (4, "q4_2"),
    (5, "q4_3"),
    (31, "q4_0_4_4"),
    (32, "q4_0_4_8"),
    (33, "q4_0_8_8"),
    (36, "iq4_nl_4_4"),
    (37, "iq4_nl_4_8"),
    (38, "iq4_nl_8_8"),
];

/// The type with this id, when the table knows it. Files from newer llama.cpp versions
/// may carry ids this table lacks; callers treat those as unsized, not as errors.
pub fn info(id: u32) -> Option<&'static TypeInfo> {
    TYPES.iter().find(|t| t.id == id)
}

/// The name of a ggml type id ("q8_0"; a retired one's old name), or "unknown" for an id
/// newer than this table, for messages.
pub fn name(id: u32) -> &'static str {
    info(id).map(|t| t.name).unwrap_or_else(|| {
        REMOVED
            .iter()
            .find(|&&(r, _)| r == id)
            .map_or("unknown", |&(_, n)| n)
    })
}

/// Whether `id` is one of ggml's retired types ([`REMOVED`]).
pub fn is_removed(id: u32) -> bool {
    REMOVED.iter().any(|&(r, _)| r == id)
}

/// (values per block, bytes per block) of a ggml type id, when known.
pub fn block_size(id: u32) -> Option<(u64, u64)> {
    info(id).map(|t| (t.block_size, t.block_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_named_ones_are_in_the_table() {
        let mut ids: Vec<u32> = TYPES.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TYPES.len());
        for t in [F32, F16, Q8_0, BF16] {
            assert_eq!(info(t.id), Some(&t));
        }
        assert_eq!(name(1000), "unknown");
        assert_eq!(block_size(8), Some((32, 34)));
        // Every id below ggml's GGML_TYPE_COUNT (43) is either sized or retired.
        for id in 0..43 {
            assert!(
                info(id).is_some() != is_removed(id),
                "id {id}: in TYPES and REMOVED, or in neither"
            );
        }
        assert_eq!(name(4), "q4_2");
        assert_eq!(block_size(4), None);
        assert!(TYPES.windows(2).all(|w| w[0].id < w[1].id));
    }
}
