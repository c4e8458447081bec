//! A 2-D tensor left in the memory map, read row by row as f32.
//!
//! Rows are decoded on demand into a caller's buffer, so computing an indicator over a
//! 128k × 4096 matrix touches each mapped byte once and allocates one row per thread,
//! never the whole matrix in f32.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::dtype::DType;
use super::error::{Result, WeightsError};

/// Magnitude above which a weight counts as broken ([`Matrix::non_finite_rows`]): real
/// embeddings stay within a few hundred; the square of 1e16 summed over a row still fits
/// an f32.
pub const MAX_WEIGHT: f32 = 1e16;

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
    /// Rows to leave out of every mean, component and ranking (their weights are not
    /// finite numbers): see [`Matrix::with_mask`].
    mask: Option<std::sync::Arc<Vec<bool>>>,
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
            mask: None,
        })
    }

    /// The same matrix with rows marked `true` in `mask` (one flag per row) left out:
    /// the indicators skip them in means and components and give them NaN.
    pub fn with_mask(mut self, mask: std::sync::Arc<Vec<bool>>) -> Matrix<'a> {
        assert_eq!(mask.len(), self.rows, "one mask flag per row");
        self.mask = Some(mask);
        self
    }

    /// Whether row `i` is left out ([`Matrix::with_mask`]).
    pub fn is_masked(&self, i: usize) -> bool {
        self.mask.as_ref().is_some_and(|m| m[i])
    }

    /// Rows holding a value that is not a finite number, or one so large (above
    /// [`MAX_WEIGHT`] in magnitude) that squaring it overflows f32 arithmetic: a corrupt
    /// file, data read as the wrong dtype, or a broken training run. One flag per row.
    pub fn non_finite_rows(&self) -> Vec<bool> {
        self.map_rows_par(|_, r| r.iter().any(|x| !x.is_finite() || x.abs() > MAX_WEIGHT))
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
