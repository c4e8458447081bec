//! Under-trained token indicators (docs/usage.md), computed straight from the memory-mapped
//! embedding matrices.
//!
//! A row that never received gradient keeps (roughly) its initial value. In an untied
//! model that shows as a small input-embedding norm. In a tied model the output side still
//! pushes every never-seen row towards one shared "never predict me" direction, so the
//! telling sign is closeness to the rows we know are unused — measured by cosine distance
//! to their mean, optionally after removing the first principal component, which in most
//! models is a direction shared by all rows that hides the difference.

pub mod pca;
pub mod reference;
pub mod stats;

use rayon::prelude::*;

use crate::weights::Matrix;

/// The indicators, by name as they appear in the CSV and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Indicator {
    /// L2 norm of the input-embedding row.
    InNorm,
    /// Cosine distance of the unembedding row to the mean of the reference unused rows.
    OutCos,
    /// The same after projecting the first principal component out of every row.
    OutCosPc,
    /// The same after subtracting the mean row from every row.
    OutCosCentered,
    /// Euclidean distance of the unembedding row to the reference mean.
    OutL2,
}

impl Indicator {
    /// Every indicator, in the order of the CSV columns and the report's sections.
    pub const ALL: [Indicator; 5] = [
        Indicator::InNorm,
        Indicator::OutCos,
        Indicator::OutCosPc,
        Indicator::OutCosCentered,
        Indicator::OutL2,
    ];
    /// The column and flag name of the indicator (CSV, JSON, `--indicator`).
    pub fn name(self) -> &'static str {
        match self {
            Indicator::InNorm => "in_norm",
            Indicator::OutCos => "out_cos",
            Indicator::OutCosPc => "out_cos_pc",
            Indicator::OutCosCentered => "out_cos_centered",
            Indicator::OutL2 => "out_l2",
        }
    }
    /// Tie-break order when a file does not say which indicator picked its candidates:
    /// the published defaults first, so a tie goes to them.
    pub const PREFERENCE: [Indicator; 5] = [
        Indicator::InNorm,
        Indicator::OutCosPc,
        Indicator::OutCos,
        Indicator::OutCosCentered,
        Indicator::OutL2,
    ];

    /// What the indicator measures, in one phrase, for people reading a report.
    pub fn describe(self) -> &'static str {
        match self {
            Indicator::InNorm => "L2 norm of the input-embedding row",
            Indicator::OutCos => {
                "cosine distance of the unembedding row to the mean of the reference unused rows"
            }
            Indicator::OutCosPc => "the same after removing the first principal component",
            Indicator::OutCosCentered => "the same after subtracting the mean row",
            Indicator::OutL2 => "Euclidean distance of the unembedding row to the reference mean",
        }
    }

    /// The indicator of a column or flag name.
    pub fn parse(s: &str) -> Option<Indicator> {
        Indicator::ALL.into_iter().find(|i| i.name() == s)
    }
    /// The published default: input norm for untied models, the PC-removed cosine
    /// distance of the unembedding for tied ones.
    pub fn default_for(tied: bool) -> Indicator {
        if tied {
            Indicator::OutCosPc
        } else {
            Indicator::InNorm
        }
    }
}

/// Every indicator for every row (rows = the embedding matrix's rows).
#[derive(Debug, Clone)]
pub struct Indicators {
    pub rows: usize,
    pub in_norm: Vec<f64>,
    pub out_cos: Vec<f64>,
    pub out_cos_pc: Vec<f64>,
    pub out_cos_centered: Vec<f64>,
    pub out_l2: Vec<f64>,
    /// Reference unused ids the out_* indicators were measured against.
    pub reference_ids: Vec<u32>,
    /// How the first principal component was found (all rows or a sample).
    pub pca_rows: usize,
}

impl Indicators {
    pub fn get(&self, which: Indicator) -> &[f64] {
        match which {
            Indicator::InNorm => &self.in_norm,
            Indicator::OutCos => &self.out_cos,
            Indicator::OutCosPc => &self.out_cos_pc,
            Indicator::OutCosCentered => &self.out_cos_centered,
            Indicator::OutL2 => &self.out_l2,
        }
    }
}

/// Rows whose largest value is below this are measured scaled up ([`finish_output_mean`]):
/// their squares would underflow f32 sums.
const TINY_ROW: f32 = 1e-15;

/// L2 norm of every row, in parallel.
pub fn row_norms(m: &Matrix) -> Vec<f64> {
    m.map_rows_par(|i, r| {
        if m.is_masked(i) {
            f64::NAN
        } else {
            stats::dot(r, r).sqrt()
        }
    })
}

/// Mean of the given rows (f64 accumulation).
pub fn mean_of_rows(m: &Matrix, ids: &[u32]) -> Vec<f64> {
    let mut acc = vec![0f64; m.cols];
    let mut buf = vec![0f32; m.cols];
    let mut n = 0usize;
    for &i in ids {
        if m.is_masked(i as usize) {
            continue;
        }
        n += 1;
        m.row_into(i as usize, &mut buf);
        for (a, &x) in acc.iter_mut().zip(&buf) {
            *a += x as f64;
        }
    }
    let n = n.max(1) as f64;
    acc.iter_mut().for_each(|a| *a /= n);
    acc
}

/// Mean of all rows, in parallel.
pub fn mean_row(m: &Matrix) -> Vec<f64> {
    let cols = m.cols;
    let sum = (0..m.rows)
        .into_par_iter()
        .fold(
            || (vec![0f64; cols], vec![0f32; cols]),
            |(mut acc, mut buf), i| {
                if m.is_masked(i) {
                    return (acc, buf);
                }
                m.row_into(i, &mut buf);
                for (a, &x) in acc.iter_mut().zip(&buf) {
                    *a += x as f64;
                }
                (acc, buf)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(
            || vec![0f64; cols],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let n = (0..m.rows).filter(|&i| !m.is_masked(i)).count().max(1);
    sum.into_iter().map(|s| s / n as f64).collect()
}

/// The four unembedding indicators for every row of `out`, against the mean of the
/// `reference` rows. Two passes over the matrix (the mean row, then the distances) plus
/// the principal component from at most `pca::BUDGET` values.
pub fn output_indicators(out: &Matrix, reference: &[u32]) -> OutputIndicators {
    let p = prepare(out);
    finish_output(out, reference, p)
}

/// What the unembedding indicators need before the reference rows are known: the mean
/// row and the first principal component. Split out so a scan can compute it while the
/// tokenizer is still being audited.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub mu: Vec<f64>,
    pub u: Vec<f64>,
    pub pca_rows: usize,
}

pub fn prepare(out: &Matrix) -> Prepared {
    let mu = mean_row(out);
    let (u, pca_rows) = pca::first_component(out, &mu);
    Prepared { mu, u, pca_rows }
}

pub fn finish_output(out: &Matrix, reference: &[u32], p: Prepared) -> OutputIndicators {
    let m_ref = mean_of_rows(out, reference);
    finish_output_mean(out, &m_ref, p)
}

/// [`finish_output`] against a given reference mean `m_ref` instead of the mean of
/// reference rows (the reference-free pass measures against the mean of every row).
pub fn finish_output_mean(out: &Matrix, m_ref: &[f64], p: Prepared) -> OutputIndicators {
    let Prepared { mu, u, pca_rows } = p;
    // Reference mean after removing the component, and after centring.
    let mref_dot_u: f64 = stats::dot64(m_ref, &u);
    let m_pc: Vec<f64> = m_ref
        .iter()
        .zip(&u)
        .map(|(m, u)| m - mref_dot_u * u)
        .collect();
    let m_c: Vec<f64> = m_ref.iter().zip(&mu).map(|(m, mu)| m - mu).collect();
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let unit = |v: &[f64]| {
        let n = stats::dot64(v, v).sqrt();
        v.iter()
            .map(|&x| if n > 0.0 { (x / n) as f32 } else { 0.0 })
            .collect::<Vec<f32>>()
    };
    let targets = stats::Targets {
        m: f32s(m_ref),
        m_unit: unit(m_ref),
        mu: f32s(&mu),
        mc_unit: unit(&m_c),
        u: f32s(&u),
        mpc_unit: unit(&m_pc),
    };
    let per_row: Vec<[f64; 4]> = out.map_rows_par(|i, r| {
        if out.is_masked(i) {
            return [f64::NAN; 4];
        }
        let d = stats::row_distances(r, &targets);
        // A row of tiny (e.g. subnormal) values squares to zero in f32 and would read as
        // a row with no direction. The two plain cosine distances do not depend on the
        // row's scale: measure them on the row scaled to a largest value of 1.
        let top = r.iter().fold(0f32, |a, &x| a.max(x.abs()));
        if top > 0.0 && top < TINY_ROW {
            let scaled: Vec<f32> = r.iter().map(|&x| x / top).collect();
            let s = stats::row_distances(&scaled, &targets);
            return [s[0], s[1], d[2], d[3]];
        }
        d
    });
    OutputIndicators {
        cos: per_row.iter().map(|x| x[0]).collect(),
        cos_pc: per_row.iter().map(|x| x[1]).collect(),
        cos_centered: per_row.iter().map(|x| x[2]).collect(),
        l2: per_row.iter().map(|x| x[3]).collect(),
        pca_rows,
    }
}

#[derive(Debug, Clone)]
pub struct OutputIndicators {
    pub cos: Vec<f64>,
    pub cos_pc: Vec<f64>,
    pub cos_centered: Vec<f64>,
    pub l2: Vec<f64>,
    pub pca_rows: usize,
}

/// All indicators: the input norm from `input`, the rest from `output` (the same matrix
/// for tied models).
pub fn compute(input: &Matrix, output: &Matrix, reference: &[u32]) -> Indicators {
    let (in_norm, p) = rayon::join(|| row_norms(input), || prepare(output));
    finish(input.rows, in_norm, output, reference, p)
}

/// The rest of [`compute`] once the input norms and [`Prepared`] are known.
pub fn finish(
    rows: usize,
    in_norm: Vec<f64>,
    output: &Matrix,
    reference: &[u32],
    p: Prepared,
) -> Indicators {
    let o = finish_output(output, reference, p);
    Indicators {
        rows,
        in_norm,
        out_cos: o.cos,
        out_cos_pc: o.cos_pc,
        out_cos_centered: o.cos_centered,
        out_l2: o.l2,
        reference_ids: reference.to_vec(),
        pca_rows: o.pca_rows,
    }
}
