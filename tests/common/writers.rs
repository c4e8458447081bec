//! Writers for test checkpoints: safetensors through the `safetensors` crate, GGUF by
//! hand, and dtype encoders (f16/bf16 by the `half` crate, q8_0 as ggml defines it).
#![allow(dead_code)]

use std::path::Path;

use half::{bf16, f16};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
pub fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| f16::from_f32(x).to_bits().to_le_bytes())
        .collect()
}
pub fn bf16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| bf16::from_f32(x).to_bits().to_le_bytes())
        .collect()
}

/// ggml's q8_0: per 32 values, d = max|x| / 127 stored as f16, q = round(x / d).
pub fn q8_0_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    for block in v.chunks(32) {
        let amax = block.iter().fold(0f32, |a, &x| a.max(x.abs()));
        let d = amax / 127.0;
        let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend(f16::from_f32(d).to_bits().to_le_bytes());
        out.extend(block.iter().map(|&x| (x * inv).round() as i8 as u8));
    }
    out
}

/// A safetensors file's bytes from (name, dtype, shape, data), by the `safetensors` crate.
pub fn st_bytes(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let refs: Vec<(&String, &TensorView)> = views.iter().map(|(n, v)| (n, v)).collect();
    safetensors::serialize(refs, None).unwrap()
}

/// Write a safetensors file with the crate's own file writer.
pub fn write_st(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let refs: Vec<(&String, &TensorView)> = views.iter().map(|(n, v)| (n, v)).collect();
    safetensors::serialize_to_file(refs, None, path).unwrap();
}

/// A GGUF v3 file: no metadata, the given tensors (name, ggml dims, ggml type, data),
/// each at a 32-byte-aligned offset.
pub fn gguf_bytes(tensors: &[(&str, Vec<u64>, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend(0u64.to_le_bytes());
    let mut offset = 0u64;
    let mut offsets = Vec::new();
    for (name, dims, ty, data) in tensors {
        b.extend((name.len() as u64).to_le_bytes());
        b.extend(name.as_bytes());
        b.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(ty.to_le_bytes());
        b.extend(offset.to_le_bytes());
        offsets.push(offset);
        offset = (offset + data.len() as u64).div_ceil(32) * 32;
    }
    while !b.len().is_multiple_of(32) {
        b.push(0);
    }
    let data_start = b.len();
    for ((_, _, _, data), off) in tensors.iter().zip(offsets) {
        b.resize(data_start + off as usize, 0);
        b.extend(data);
    }
    b
}
