//! A 2-D tensor left in the memory map, read row by row as f32.
//!
//! Rows are decoded on demand into a caller's buffer, so computing an indicator over a
//! 128k × 4096 matrix touches each mapped byte once and allocates one row per thread,
//! never the whole matrix in f32.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::dtype::DType;
use super::error::{Result, WeightsError};

/// An embedding-like matrix: `rows` (one per token id) × `cols` (hidden size), row-major.
#[derive(Clone)]
pub struct Matrix<'a> {
    /// Tensor name as stored in the file.
    pub name: String,
    /// The file holding the data (the shard, for sharded checkpoints).
    pub file: PathBuf,
    pub rows: usize,
    pub cols: usize,
    pub dtype: DType,
    /// Exactly `rows * row_bytes` bytes, checked in [`Matrix::new`].
    bytes: &'a [u8],
    row_bytes: usize,
}

impl std::fmt::Debug for Matrix<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matrix")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("dtype", &self.dtype)
            .finish()
    }
}

impl<'a> Matrix<'a> {
    /// Wrap mapped bytes as a matrix, checking that their length is exactly what the
    /// shape and type need, so that no later row read can go out of bounds.
    pub fn new(
        name: &str,
        file: &Path,
        rows: usize,
        cols: usize,
        dtype: DType,
        bytes: &'a [u8],
    ) -> Result<Matrix<'a>> {
        let shape_err = |msg: String| WeightsError::Shape {
            path: file.to_path_buf(),
            tensor: name.to_string(),
            msg,
        };
        if rows == 0 || cols == 0 {
            return Err(shape_err(format!("empty matrix ({rows} x {cols})")));
        }
        let row_bytes = dtype.row_bytes(cols).ok_or_else(|| {
            shape_err(format!(
                "a row of {cols} values cannot be stored as {dtype}: its rows hold whole \
                 blocks of {} values",
                dtype.block_size()
            ))
        })?;
        let need = rows.checked_mul(row_bytes);
        if need != Some(bytes.len()) {
            return Err(shape_err(format!(
                "{rows} x {cols} {dtype} needs {} bytes, the data has {}",
                need.map_or("more than usize::MAX".to_string(), |n| n.to_string()),
                bytes.len()
            )));
        }
        Ok(Matrix {
            name: name.to_string(),
            file: file.to_path_buf(),
            rows,
            cols,
            dtype,
            bytes,
            row_bytes,
        })
    }

    /// The raw bytes of the whole matrix as stored (for benchmarks and byte-exact checks).
    pub fn raw_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The raw bytes of row `i`. Panics when `i >= rows`.
    pub fn raw_row(&self, i: usize) -> &'a [u8] {
        assert!(i < self.rows, "row {i} out of range ({} rows)", self.rows);
        let start = i * self.row_bytes;
        &self.bytes[start..start + self.row_bytes]
    }

    /// Decode row `i` into `out` (length `cols`). Panics when `i >= rows` or the length
    /// is wrong: both are caller bugs, not properties of the file.
    pub fn row_into(&self, i: usize, out: &mut [f32]) {
        assert_eq!(out.len(), self.cols, "row buffer length");
        self.dtype.decode_row(self.raw_row(i), out);
    }

    /// Row `i` as a new vector.
    pub fn row(&self, i: usize) -> Vec<f32> {
        let mut v = vec![0f32; self.cols];
        self.row_into(i, &mut v);
        v
    }

    /// `f(i, row)` for every row, in parallel, in no particular order; each rayon worker
    /// decodes into its own reused buffer.
    pub fn for_each_row_par(&self, f: impl Fn(usize, &[f32]) + Sync + Send) {
        (0..self.rows).into_par_iter().for_each_init(
            || vec![0f32; self.cols],
            |buf, i| {
                self.row_into(i, buf);
                f(i, buf);
            },
        );
    }

    /// `f(i, row)` for every row, in parallel, collected in row order. The common shape of
    /// a per-row indicator (a norm, a distance).
    pub fn map_rows_par<T: Send>(&self, f: impl Fn(usize, &[f32]) -> T + Sync + Send) -> Vec<T> {
        (0..self.rows)
            .into_par_iter()
            .map_init(
                || vec![0f32; self.cols],
                |buf, i| {
                    self.row_into(i, buf);
                    f(i, buf)
                },
            )
            .collect()
    }
}
