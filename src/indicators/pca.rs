//! The first principal component of an embedding matrix, by power iteration.
//!
//! The covariance of a 128k × 4096 matrix is too big to form, and repeated full passes
//! over it would dominate the scan; instead the component is estimated from at most
//! [`BUDGET`] values: all rows when the matrix is small (exact, as the tests check against
//! numpy), otherwise evenly spaced rows. The top component of embedding matrices stands
//! well clear of the next, so a few thousand rows pin it down.

use rayon::prelude::*;

use super::stats;
use crate::weights::Matrix;

/// Values (rows × cols) the estimate may read.
pub const BUDGET: usize = 1 << 24;
const MAX_ITER: usize = 1000;
const TOL: f64 = 1e-13;

/// Unit vector of the first principal component of the mean-centred rows, and how many
/// rows it was computed from.
pub fn first_component(m: &Matrix, mean: &[f64]) -> (Vec<f64>, usize) {
    let take = (BUDGET / m.cols).clamp(1, m.rows);
    let ids: Vec<usize> = if take == m.rows {
        (0..m.rows).collect()
    } else {
        (0..take).map(|k| k * m.rows / take).collect()
    };
    // Rows whose weights are not finite take no part in the component.
    let ids: Vec<usize> = ids.into_iter().filter(|&i| !m.is_masked(i)).collect();
    let d = m.cols;
    let mean32: Vec<f32> = mean.iter().map(|&x| x as f32).collect();
    let mut x = vec![0f32; ids.len() * d];
    x.par_chunks_mut(d).zip(&ids).for_each(|(row, &i)| {
        m.row_into(i, row);
        row.iter_mut().zip(&mean32).for_each(|(v, mu)| *v -= mu);
    });
    // Start from a fixed, generic direction so runs are reproducible.
    let mut v: Vec<f64> = (0..d)
        .map(|k| 1.0 + ((k * 7919) % 101) as f64 / 101.0)
        .collect();
    normalize(&mut v);
    for _ in 0..MAX_ITER {
        let v32: Vec<f32> = v.iter().map(|&a| a as f32).collect();
        // y = X v, then w = Xᵀ y
        let y: Vec<f64> = x.par_chunks(d).map(|row| stats::dot(row, &v32)).collect();
        let w = x
            .par_chunks(d)
            .zip(&y)
            .fold(
                || vec![0f64; d],
                |mut acc, (row, &yi)| {
                    acc.iter_mut()
                        .zip(row)
                        .for_each(|(a, &r)| *a += yi * r as f64);
                    acc
                },
            )
            .reduce(
                || vec![0f64; d],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(p, q)| *p += q);
                    a
                },
            );
        let mut w = w;
        normalize(&mut w);
        let change = 1.0 - stats::dot64(&w, &v).abs();
        v = w;
        if change < TOL {
            break;
        }
    }
    (v, ids.len())
}

fn normalize(v: &mut [f64]) {
    let n = stats::dot64(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}
