//! Reference rows when the tokenizer names none (docs/methods.md §4): the fallback used
//! when a vocabulary has no unreachable, reserved, unused or padding rows, as recent
//! byte-level vocabularies do (SmolLM2).
//!
//! 1. **Near-duplicate clusters.** A row that never got a gradient keeps what it was
//!    initialised to, and the rows added together (code specials, rare pieces) are often
//!    initialised alike, or are all pushed along the same "never predict me" direction
//!    by the output side of a tied model. Rows with at least [`MIN_CLUSTER`]` − 1` other
//!    rows at cosine ≥ [`DUP_COSINE`] are taken as the reference. Candidate pairs are
//!    found by random-projection hashing, so the cost is near one pass over the matrix.
//! 2. **Reference-free pass**, when there are no such clusters: `out_cos_pc` measured
//!    against the mean of every row; its lowest [`FIRST_PASS_FRACTION`] of the pool is the
//!    first reference, `out_cos_pc` is recomputed against it once, and its lowest
//!    [`FIRST_PASS_FRACTION`] is the reference the scan uses.

use std::collections::HashMap;

use rayon::prelude::*;

use super::{finish_output_mean, stats, Prepared};
use crate::weights::Matrix;

/// Two rows are near duplicates at this cosine similarity or above.
pub const DUP_COSINE: f64 = 0.999;
/// A cluster must hold at least this many rows to be taken as a reference (one pair of
/// look-alike rows can be chance; four rows sharing one direction are not).
pub const MIN_CLUSTER: usize = 4;
/// Share of the pool taken as the reference in each step of the reference-free pass.
pub const FIRST_PASS_FRACTION: f64 = 0.005;

/// Sign bits per hash table, and tables. A pair at cosine 0.999 falls on the same side of
/// one random hyperplane with probability ≈ 1 − 0.0142, so it shares a 16-bit signature
/// with probability ≈ 0.80 and is missed by all four tables with probability ≈ 0.002.
const BITS: usize = 16;
const TABLES: usize = 4;

/// Near-duplicate clusters among the rows `ids` of `m`: each cluster sorted, clusters in
/// order of their smallest id. Only clusters of at least [`MIN_CLUSTER`] rows are kept.
///
/// Rows are hashed by the signs of their unit vectors' projections (centred on the mean
/// unit row) onto `TABLES × BITS` fixed pseudo-random directions. Within a bucket, each
/// row not yet joined to a cluster is a leader: the rows at cosine ≥ [`DUP_COSINE`] to it
/// join it. Leaders and members linked in any table form one cluster.
pub fn near_duplicates(m: &Matrix, ids: &[u32]) -> Vec<Vec<u32>> {
    let d = m.cols;
    if ids.len() < MIN_CLUSTER {
        return Vec::new();
    }
    let unit = |r: &[f32]| -> Vec<f32> {
        let n = stats::dot(r, r).sqrt();
        let inv = if n > 0.0 { (1.0 / n) as f32 } else { 0.0 };
        r.iter().map(|&x| x * inv).collect()
    };
    let row_unit = |i: u32| unit(&m.row(i as usize));
    // Mean unit row: the hyperplanes pass through it, so that rows sharing one common
    // direction (most embedding matrices) still spread over the buckets.
    let sum = ids
        .par_iter()
        .fold(
            || vec![0f64; d],
            |mut acc, &i| {
                for (a, x) in acc.iter_mut().zip(row_unit(i)) {
                    *a += x as f64;
                }
                acc
            },
        )
        .reduce(
            || vec![0f64; d],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let centre: Vec<f32> = sum.iter().map(|&s| (s / ids.len() as f64) as f32).collect();
    let dirs = directions(TABLES * BITS, d);
    let offsets: Vec<f64> = dirs.iter().map(|r| stats::dot(r, &centre)).collect();
    let sigs: Vec<[u16; TABLES]> = ids
        .par_iter()
        .map(|&i| {
            let u = row_unit(i);
            let mut s = [0u16; TABLES];
            for (t, st) in s.iter_mut().enumerate() {
                for b in 0..BITS {
                    let k = t * BITS + b;
                    if stats::dot(&dirs[k], &u) > offsets[k] {
                        *st |= 1 << b;
                    }
                }
            }
            s
        })
        .collect();
    // Buckets of positions in `ids`, per table, that could hold a cluster.
    let mut buckets: Vec<Vec<usize>> = Vec::new();
    for t in 0..TABLES {
        let mut map: HashMap<u16, Vec<usize>> = HashMap::new();
        for (p, s) in sigs.iter().enumerate() {
            map.entry(s[t]).or_default().push(p);
        }
        let mut b: Vec<Vec<usize>> = map
            .into_values()
            .filter(|v| v.len() >= MIN_CLUSTER)
            .collect();
        b.sort();
        buckets.extend(b);
    }
    let tau = DUP_COSINE as f32;
    let links: Vec<(usize, usize)> = buckets
        .par_iter()
        .flat_map_iter(|members| {
            let rows: Vec<Vec<f32>> = members.iter().map(|&p| row_unit(ids[p])).collect();
            let mut joined = vec![false; members.len()];
            let mut links = Vec::new();
            for a in 0..members.len() {
                if joined[a] {
                    continue;
                }
                let near: Vec<usize> = (0..members.len())
                    .filter(|&b| b != a && stats::dot(&rows[a], &rows[b]) as f32 >= tau)
                    .collect();
                if near.len() + 1 >= MIN_CLUSTER {
                    joined[a] = true;
                    for &b in &near {
                        joined[b] = true;
                        links.push((members[a], members[b]));
                    }
                }
            }
            links
        })
        .collect();
    // Union the links of every table into clusters.
    let mut parent: Vec<usize> = (0..ids.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for &(a, b) in &links {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut groups: HashMap<usize, Vec<u32>> = HashMap::new();
    for &(a, b) in &links {
        for p in [a, b] {
            let r = find(&mut parent, p);
            groups.entry(r).or_default().push(ids[p]);
        }
    }
    let mut out: Vec<Vec<u32>> = groups
        .into_values()
        .map(|mut g| {
            g.sort_unstable();
            g.dedup();
            g
        })
        .filter(|g| g.len() >= MIN_CLUSTER)
        .collect();
    out.sort();
    out
}

/// `n` fixed pseudo-random unit directions in `d` dimensions (splitmix64 + Box–Muller), so
/// that the hashing, and hence the clusters, are the same on every run.
fn directions(n: usize, d: usize) -> Vec<Vec<f32>> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // A uniform in (0, 1].
        ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let v: Vec<f64> = (0..d)
                .map(|_| {
                    let (a, b) = (next(), next());
                    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
                })
                .collect();
            let norm = stats::dot64(&v, &v).sqrt();
            v.iter().map(|&x| (x / norm) as f32).collect()
        })
        .collect()
}

/// The reference-free pass: the reference rows it picks from `pool` (see the module docs).
pub fn first_pass(out: &Matrix, p: &Prepared, pool: &[u32]) -> Vec<u32> {
    if pool.is_empty() {
        return Vec::new();
    }
    let k = ((pool.len() as f64 * FIRST_PASS_FRACTION).ceil() as usize).clamp(1, pool.len());
    let lowest = |v: &[f64]| -> Vec<u32> {
        let mut ids = pool.to_vec();
        // Ties broken by id, so the choice is the same on every run.
        ids.sort_by(|&a, &b| v[a as usize].total_cmp(&v[b as usize]).then(a.cmp(&b)));
        ids.truncate(k);
        ids.sort_unstable();
        ids
    };
    // Step 1: against the mean of every row (no reference needed).
    let step1 = finish_output_mean(out, &p.mu, p.clone());
    let seed = lowest(&step1.cos_pc);
    // Step 2: once against the mean of those rows.
    let m_seed = super::mean_of_rows(out, &seed);
    let step2 = finish_output_mean(out, &m_seed, p.clone());
    lowest(&step2.cos_pc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::DType;
    use std::path::Path;

    /// 400 rows in 16 dimensions: spread-out rows, plus rows 10..16 all the same direction
    /// (scaled) with a little noise, and rows 100, 101 a look-alike pair (too few).
    fn matrix_bytes() -> Vec<u8> {
        let (n, d) = (400usize, 16usize);
        let mut s = 12345u64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 20001) as f32 / 10000.0 - 1.0
        };
        let shared: Vec<f32> = (0..d).map(|_| rnd()).collect();
        let pair: Vec<f32> = (0..d).map(|_| rnd()).collect();
        let mut v = Vec::with_capacity(n * d * 4);
        for i in 0..n {
            let row: Vec<f32> = match i {
                10..=15 => shared
                    .iter()
                    .map(|x| x * (1.0 + i as f32 * 0.1) + rnd() * 1e-4)
                    .collect(),
                100 | 101 => pair.iter().map(|x| x + rnd() * 1e-4).collect(),
                _ => (0..d).map(|_| rnd()).collect(),
            };
            for x in row {
                v.extend_from_slice(&x.to_le_bytes());
            }
        }
        v
    }

    #[test]
    fn finds_the_cluster_and_not_the_pair() {
        let bytes = matrix_bytes();
        let m = Matrix::new("t", Path::new("t"), 400, 16, DType::F32, &bytes).unwrap();
        let ids: Vec<u32> = (0..400).collect();
        assert_eq!(
            near_duplicates(&m, &ids),
            vec![(10..16).collect::<Vec<u32>>()]
        );
        // Not among the rows looked at: no cluster.
        let rest: Vec<u32> = (16..400).collect();
        assert!(near_duplicates(&m, &rest).is_empty());
    }

    #[test]
    fn first_pass_always_gives_rows() {
        let bytes = matrix_bytes();
        let m = Matrix::new("t", Path::new("t"), 400, 16, DType::F32, &bytes).unwrap();
        let p = super::super::prepare(&m);
        let pool: Vec<u32> = (16..400).collect();
        let r = first_pass(&m, &p, &pool);
        assert_eq!(r.len(), 2); // ceil(384 × 0.005)
        assert!(r.iter().all(|i| pool.contains(i)));
        assert_eq!(r, first_pass(&m, &p, &pool), "deterministic");
    }
}
