//! GGUF tensors as matrices. The container is parsed and its tensor ranges checked by
//! [`crate::gguf::GgufFile`]; this adds the element types and the ggml dimension order.
//!
//! ggml lists dimensions fastest-varying first, so an embedding stored as
//! `[n_embd, n_vocab]` is, row-major, `n_vocab` rows of `n_embd` values.

use crate::gguf::{ggml, GgufFile};

use super::dtype::{DType, GGUF_SUPPORTED};
use super::error::{Result, WeightsError};
use super::matrix::Matrix;

/// llama.cpp's name for the input embedding, which every GGUF model has.
pub const GGUF_INPUT: &str = "token_embd.weight";
/// llama.cpp's name for the unembedding, absent when it is tied to the input embedding.
pub const GGUF_OUTPUT: &str = "output.weight";

/// The named tensor of a GGUF file as a matrix of a type we can decode. The type comes
/// from the ggml table through [`DType::from_ggml`]; anything else (the i-quants, the
/// ternary and fp4 types, which candle cannot dequantize, and ids newer than the table,
/// named "unknown") is refused with the list of what we read, rather than decoded wrongly.
pub fn matrix<'a>(g: &'a GgufFile, name: &str) -> Result<Matrix<'a>> {
    let info = g.tensor(name).ok_or_else(|| WeightsError::TensorNotFound {
        path: g.path.clone(),
        msg: format!("no tensor named '{name}'"),
    })?;
    let dtype = DType::from_ggml(info.ggml_type).ok_or_else(|| WeightsError::UnsupportedDtype {
        path: g.path.clone(),
        tensor: name.to_string(),
        dtype: format!(
            "{} (ggml type {})",
            ggml::name(info.ggml_type),
            info.ggml_type
        ),
        supported: GGUF_SUPPORTED,
    })?;
    let shape_err = |msg: String| WeightsError::Shape {
        path: g.path.clone(),
        tensor: name.to_string(),
        msg,
    };
    // Trailing dimensions of 1 do not change the layout ([n_embd, n_vocab, 1, 1]).
    let mut dims = info.dims.as_slice();
    while dims.len() > 2 && dims.last() == Some(&1) {
        dims = &dims[..dims.len() - 1];
    }
    let [cols, rows] = *dims else {
        return Err(shape_err(format!(
            "dimensions {:?} are not a 2-D matrix",
            info.dims
        )));
    };
    let to_usize = |d: u64| {
        usize::try_from(d).map_err(|_| shape_err(format!("dimension {d} does not fit in memory")))
    };
    let (rows, cols) = (to_usize(rows)?, to_usize(cols)?);
    let bytes = g.tensor_bytes(info)?;
    Matrix::new(name, &g.path, rows, cols, dtype, bytes)
}
