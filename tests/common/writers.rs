//! Writers for test checkpoints: safetensors through the `safetensors` crate, GGUF through
//! the library's byte builder (`tokenaudit::gguf::builder`), and dtype encoders (f16/bf16 by the `half` crate, q8_0 as ggml defines it).
#![allow(dead_code)]

use std::path::Path;

use half::{bf16, f16};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use tokenaudit::gguf::builder::{self as gguf_builder, RawTensor};

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
/// each at a 32-byte-aligned offset, written by the library's own GGUF byte builder.
pub fn gguf_bytes(tensors: &[(&str, Vec<u64>, u32, Vec<u8>)]) -> Vec<u8> {
    let tensors: Vec<RawTensor> = tensors
        .iter()
        .map(|(name, dims, ty, data)| RawTensor {
            name: name.to_string(),
            dims: dims.clone(),
            ggml_type: *ty,
            data: data.clone(),
        })
        .collect();
    gguf_builder::file(&[], &tensors)
}
