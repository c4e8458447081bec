//! The scan's indicators: from a [`ScanReport`] or read back from a scan (or glitch) CSV.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{short, VerifyData};
use crate::audit::Category;
use crate::indicators::Indicator;
use crate::output::scan::col as scan_col;
use crate::output::verify::glitch_col;
use crate::scan::ScanReport;
use crate::verify::{Row, Thresholds, Verdict};

/// The scan's indicators for every embedding row, and its candidate rule.
#[derive(Debug, Clone)]
pub struct ScanData {
    /// Where the numbers come from ("computed from …", "read from …").
    pub origin: String,
    /// Facts about the model (embedding tensors, tying, reference rows), as label/value.
    pub facts: Vec<(String, String)>,
    /// Embedding rows (ids 0..rows).
    pub rows: usize,
    /// Every indicator present, in [`Indicator::ALL`] order.
    pub indicators: Vec<(Indicator, Vec<f64>)>,
    /// The indicator the candidates were picked by.
    pub main: Indicator,
    /// Candidates are OK tokens at or below this value of `main`.
    pub threshold: f64,
    /// The percentile the threshold stands for, when known.
    pub percentile: Option<f64>,
    /// Candidate ids, ascending.
    pub candidates: Vec<u32>,
    /// Training count per row, when counts were given.
    pub counts: Option<Vec<Option<u64>>>,
    /// Where the counts come from, for the page.
    pub counts_origin: Option<String>,
}

impl ScanData {
    /// One indicator's value per row, when the scan (or file) has it.
    pub fn values(&self, k: Indicator) -> Option<&[f64]> {
        self.indicators
            .iter()
            .find(|(i, _)| *i == k)
            .map(|(_, v)| v.as_slice())
    }
    /// The main indicator's values (empty when absent).
    pub fn main_values(&self) -> &[f64] {
        self.values(self.main).unwrap_or(&[])
    }
    /// Whether `id` is a candidate (candidates are kept sorted for this).
    pub fn is_candidate(&self, id: u32) -> bool {
        self.candidates.binary_search(&id).is_ok()
    }
    /// The training count of `id`, when counts were given and cover it.
    pub fn count(&self, id: u32) -> Option<u64> {
        self.counts
            .as_ref()
            .and_then(|c| c.get(id as usize).copied().flatten())
    }

    /// The data of a scan this run did.
    pub fn from_report(r: &ScanReport, origin: String) -> ScanData {
        let mut facts = vec![(
            "embedding".to_string(),
            format!(
                "{} [{} × {} {}] in {}",
                r.input.name, r.input.rows, r.input.cols, r.input.dtype, r.input.file
            ),
        )];
        facts.push((
            "unembedding".into(),
            match &r.output {
                Some(o) => format!(
                    "{} [{} × {} {}] in {}",
                    o.name, o.rows, o.cols, o.dtype, o.file
                ),
                None => format!("tied to the embedding ({})", r.tie_reason),
            },
        ));
        facts.push((
            "reference rows".into(),
            format!(
                "{} ({})",
                r.indicators.reference_ids.len(),
                r.reference_source
            ),
        ));
        let extra = r.indicators.rows.saturating_sub(r.audit.tokens.len());
        if extra > 0 {
            facts.push(("rows without a token".into(), extra.to_string()));
        }
        ScanData {
            origin,
            facts,
            rows: r.indicators.rows,
            indicators: Indicator::ALL
                .iter()
                .map(|&k| (k, r.indicators.get(k).to_vec()))
                .collect(),
            main: r.main,
            threshold: r.threshold,
            percentile: Some(r.percentile),
            candidates: r.candidates.clone(),
            counts: r.counts.clone(),
            counts_origin: None,
        }
    }

    /// Read a `scan --csv` or `glitch --csv` file. The glitch CSV's verification columns
    /// come back as [`VerifyData`]. The main indicator is `main` when given, otherwise
    /// the one whose lowest OK rows are exactly the candidates.
    pub fn read_csv(
        path: &Path,
        main: Option<Indicator>,
    ) -> Result<(ScanData, Option<VerifyData>)> {
        let mut rdr = csv::Reader::from_reader(crate::util::text::read_input(path)?);
        let h = rdr
            .headers()
            .with_context(|| format!("{}", path.display()))?
            .clone();
        let col = |name: &str| h.iter().position(|c| c == name);
        let id_col = col(scan_col::ID)
            .ok_or_else(|| anyhow::anyhow!("{}: no 'id' column: not a scan CSV", path.display()))?;
        let cand_col = col(scan_col::CANDIDATE).ok_or_else(|| {
            anyhow::anyhow!("{}: no 'candidate' column: not a scan CSV", path.display())
        })?;
        let cat_col = col(scan_col::CATEGORY);
        let ind_cols: Vec<(Indicator, usize)> = Indicator::ALL
            .iter()
            .filter_map(|&k| col(k.name()).map(|c| (k, c)))
            .collect();
        if ind_cols.is_empty() {
            bail!("{}: no indicator columns: not a scan CSV", path.display());
        }
        let count_col = col(scan_col::COUNT);
        let verdict_col = col(glitch_col::VERDICT);
        let score_col = col(glitch_col::SCORE);
        let bound_col = col(glitch_col::SCORE_BOUND);
        let prompt_cols: Vec<(String, usize)> = h
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                c.strip_prefix(glitch_col::PROMPT_PREFIX)
                    .map(|n| (n.to_string(), i))
            })
            .collect();

        let mut ids: Vec<u32> = Vec::new();
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); ind_cols.len()];
        let mut cand: Vec<bool> = Vec::new();
        let mut ok: Vec<bool> = Vec::new();
        let mut counts: Vec<Option<u64>> = Vec::new();
        let mut vrows: Vec<Row> = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec = rec.with_context(|| format!("{}: row {line}", path.display()))?;
            let f = |c: usize| rec.get(c).unwrap_or("");
            let id: u32 = f(id_col).parse().with_context(|| {
                format!(
                    "{}: row {line}: id {} is not a number",
                    path.display(),
                    short(f(id_col))
                )
            })?;
            ids.push(id);
            for (k, (_, c)) in ind_cols.iter().enumerate() {
                let v = f(*c);
                values[k].push(if v.is_empty() {
                    f64::NAN
                } else {
                    v.parse().with_context(|| {
                        format!(
                            "{}: row {line}: {} is not a number",
                            path.display(),
                            short(v)
                        )
                    })?
                });
            }
            cand.push(f(cand_col) == "true");
            ok.push(
                cat_col
                    .and_then(|c| f(c).parse::<Category>().ok())
                    .is_some_and(|c| c.is_ok()),
            );
            counts.push(count_col.and_then(|c| f(c).parse().ok()));
            if let (Some(vc), Some(sc)) = (verdict_col, score_col) {
                if let Some(verdict) = Verdict::parse(f(vc)) {
                    vrows.push(Row {
                        id,
                        decoded: rec.get(2).unwrap_or("").to_string(),
                        prompt_scores: prompt_cols
                            .iter()
                            .map(|(_, c)| f(*c).parse().ok())
                            .collect(),
                        score: f(sc).parse().with_context(|| {
                            format!("{}: row {line}: score is not a number", path.display())
                        })?,
                        bound: bound_col
                            .is_some_and(|c| f(c) == crate::verify::csv::bound_name(true)),
                        verdict,
                    });
                }
            }
        }
        if ids.is_empty() {
            bail!("{}: no rows", path.display());
        }
        // Rows by id: the file is in id order, but do not rely on it.
        let rows = ids.iter().map(|&i| i as usize + 1).max().unwrap_or(0);
        let by_id = |v: &[f64]| {
            let mut out = vec![f64::NAN; rows];
            for (&id, &x) in ids.iter().zip(v) {
                out[id as usize] = x;
            }
            out
        };
        let indicators: Vec<(Indicator, Vec<f64>)> = ind_cols
            .iter()
            .zip(&values)
            .map(|((k, _), v)| (*k, by_id(v)))
            .collect();
        let mut candidates: Vec<u32> = ids
            .iter()
            .zip(&cand)
            .filter(|(_, &c)| c)
            .map(|(&i, _)| i)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let (main, threshold, note) = infer_main(&ind_cols, &values, &cand, &ok, main);
        let counts = count_col.map(|_| {
            let mut out = vec![None; rows];
            for (&id, &c) in ids.iter().zip(&counts) {
                out[id as usize] = c;
            }
            out
        });
        let scan = ScanData {
            origin: format!("read from {}", path.display()),
            facts: vec![("main indicator found".into(), note)],
            rows,
            indicators,
            main,
            threshold,
            percentile: None,
            candidates,
            counts_origin: count_col.map(|_| format!("the count column of {}", path.display())),
            counts,
        };
        let verify = (!vrows.is_empty()).then(|| VerifyData {
            origin: format!("the verification columns of {}", path.display()),
            prompts: prompt_cols.into_iter().map(|(n, _)| n).collect(),
            rows: vrows,
            thresholds: Thresholds::default(),
            timing: None,
        });
        Ok((scan, verify))
    }
}

/// Which indicator a scan CSV's candidates were picked by: the one for which every OK
/// row at or below the largest candidate value is a candidate. Returns it, that value
/// as the threshold, and a note saying how it was found.
fn infer_main(
    cols: &[(Indicator, usize)],
    values: &[Vec<f64>],
    cand: &[bool],
    ok: &[bool],
    given: Option<Indicator>,
) -> (Indicator, f64, String) {
    let threshold_of = |k: usize| {
        values[k]
            .iter()
            .zip(cand)
            .filter(|(v, &c)| c && v.is_finite())
            .map(|(v, _)| *v)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    if let Some(g) = given {
        if let Some(k) = cols.iter().position(|(i, _)| *i == g) {
            return (
                g,
                threshold_of(k),
                format!("{} (given with --indicator)", g.name()),
            );
        }
    }
    let mut best: Option<(usize, usize, f64)> = None;
    for ind in Indicator::PREFERENCE {
        let Some(k) = cols.iter().position(|(i, _)| *i == ind) else {
            continue;
        };
        let t = threshold_of(k);
        if !t.is_finite() {
            continue;
        }
        let wrong = values[k]
            .iter()
            .zip(cand.iter().zip(ok))
            .filter(|(v, (&c, &o))| o && !c && **v <= t)
            .count();
        if best.is_none_or(|b| wrong < b.1) {
            best = Some((k, wrong, t));
        }
    }
    match best {
        Some((k, 0, t)) => (
            cols[k].0,
            t,
            format!(
                "{} (inferred: the candidates are exactly the OK rows at or below {})",
                cols[k].0.name(),
                crate::report::html::num(t)
            ),
        ),
        Some((k, wrong, t)) => (
            cols[k].0,
            t,
            format!(
                "{} (inferred, but {wrong} non-candidate OK rows are at or below the largest \
                 candidate value; give --indicator)",
                cols[k].0.name()
            ),
        ),
        None => (
            cols[0].0,
            f64::NAN,
            format!("{} (the file has no candidates)", cols[0].0.name()),
        ),
    }
}
