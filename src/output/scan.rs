//! The scan's outputs: the glitch-token CSV (one row per embedding row), a JSON summary,
//! and a readable summary with the lowest tokens.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use serde_json::json;

use super::write_atomic;
use crate::indicators::Indicator;
use crate::scan::ScanReport;
use crate::util::escape::quoted;
use crate::util::escape::{spreadsheet, visible};

/// Category written for embedding rows that no token maps to (padding rows).
pub const NO_TOKEN: &str = "NO_TOKEN";

/// Category written for rows whose weights hold NaN, infinite or out-of-range values
/// ([`crate::scan::ScanReport::non_finite`]), whatever the tokenizer says of the token.
pub const NON_FINITE: &str = "NON_FINITE";

/// Column names of the scan CSV that readers look up (with [`Indicator::name`] for the
/// indicator columns): the one place the writer and the report's reader share.
pub mod col {
    /// The embedding row (token id).
    pub const ID: &str = "id";
    /// The token's bytes as the vocabulary stores them.
    pub const RAW: &str = "raw";
    /// The decoded text (also the glitch CSV's third column).
    pub const DECODED: &str = "decoded";
    /// The audit category, or [`super::NO_TOKEN`].
    pub const CATEGORY: &str = "category";
    /// Rank of the main indicator among the OK tokens, 0 to 100.
    pub const PERCENTILE_RANK: &str = "percentile_rank";
    /// `true` for candidates.
    pub const CANDIDATE: &str = "candidate";
    /// Training count, when counts were given.
    pub const COUNT: &str = "count";
}

/// The scan CSV's columns: id, raw, decoded, category, every indicator, percentile rank,
/// candidate, and count when counts were given (docs/schemas.md).
pub fn csv_header(with_counts: bool) -> Vec<&'static str> {
    let mut h = vec![col::ID, col::RAW, col::DECODED, col::CATEGORY];
    h.extend(Indicator::ALL.iter().map(|i| i.name()));
    h.extend([col::PERCENTILE_RANK, col::CANDIDATE]);
    if with_counts {
        h.push(col::COUNT);
    }
    h
}

/// Write the scan CSV: one row per embedding row, padding rows included.
pub fn write_csv(r: &ScanReport, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record(csv_header(r.counts.is_some()))?;
        for id in 0..r.indicators.rows as u32 {
            let row = csv_row(r, id);
            c.write_record(&row)?;
        }
        c.flush()?;
        Ok(())
    })
}

/// One CSV row of the scan (also the first columns of the glitch CSV).
pub fn csv_row(r: &ScanReport, id: u32) -> Vec<String> {
    let tok = r.audit.token(id);
    let mut row = vec![
        id.to_string(),
        tok.map(|t| spreadsheet(&t.raw)).unwrap_or_default(),
        tok.map(|t| spreadsheet(&t.decoded)).unwrap_or_default(),
        if r.non_finite.binary_search(&id).is_ok() {
            NON_FINITE
        } else {
            tok.map(|t| t.category.name()).unwrap_or(NO_TOKEN)
        }
        .to_string(),
    ];
    for k in Indicator::ALL {
        row.push(format!("{:.6e}", r.indicators.get(k)[id as usize]));
    }
    row.push(format!("{:.4}", r.percentile_rank[id as usize]));
    row.push(r.is_candidate(id).to_string());
    if let Some(c) = &r.counts {
        row.push(c[id as usize].map(|n| n.to_string()).unwrap_or_default());
    }
    row
}

/// The scan's numbers as one JSON object (`scan --json`); AUCs when counts were given.
pub fn to_json(r: &ScanReport) -> serde_json::Value {
    let mut j = json!({
        "model_input": r.input,
        "model_output": r.output,
        "tokenizer": r.vocab.source.display().to_string(),
        "vocab_size": r.vocab.len(),
        "rows": r.indicators.rows,
        "rows_without_token": r.indicators.rows.saturating_sub(r.audit.tokens.len()),
        "tied": r.tied,
        "tie_reason": r.tie_reason,
        "main_indicator": r.main.name(),
        "percentile": r.percentile,
        "threshold": r.threshold,
        "candidates": r.candidates.len(),
        "non_finite_rows": r.non_finite,
        "reference_ids": r.indicators.reference_ids.len(),
        "reference_source": r.reference_source,
        "reference_kind": r.reference_kind.name(),
        "reference_fallback": r.reference_kind.is_fallback(),
        "reference_rows": r.indicators.reference_ids,
        "reference_clusters": r.reference_clusters.iter().map(|c| c.len()).collect::<Vec<_>>(),
        "pca_rows": r.indicators.pca_rows,
        "audit_counts": r.audit.counts,
    });
    if let Some(e) = &r.evaluation {
        let auc: serde_json::Map<String, serde_json::Value> = e
            .auc
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        j["auc"] = json!(auc);
        j["precision"] = json!(e.precision);
        j["recall"] = json!(e.recall);
        j["scored_tokens"] = json!(e.scored);
        j["unseen_tokens"] = json!(e.unseen);
    }
    j
}

/// Lowest tokens listed in the readable summary.
const LOWEST: usize = 20;
/// Near-duplicate clusters listed in the summary, and ids shown per cluster.
const CLUSTERS: usize = 5;
const CLUSTER_IDS: usize = 16;

/// The readable summary: the model's facts, the threshold and the lowest candidates.
pub fn write_summary(r: &ScanReport, out: &mut dyn Write) -> Result<()> {
    let m = &r.input;
    writeln!(
        out,
        "tokenizer    {} ({} ids)",
        r.vocab.source.display(),
        r.vocab.len()
    )?;
    writeln!(
        out,
        "embedding    {} [{} x {} {}] in {}",
        m.name, m.rows, m.cols, m.dtype, m.file
    )?;
    match &r.output {
        Some(o) => writeln!(
            out,
            "unembedding  {} [{} x {} {}] in {}",
            o.name, o.rows, o.cols, o.dtype, o.file
        )?,
        None => writeln!(out, "unembedding  tied to the embedding ({})", r.tie_reason)?,
    }
    let extra = r.indicators.rows.saturating_sub(r.audit.tokens.len());
    if extra > 0 {
        writeln!(
            out,
            "rows         {extra} embedding rows have no token (padding)"
        )?;
    }
    if r.reference_kind.is_fallback() {
        writeln!(
            out,
            "reference    {} rows ({})",
            r.indicators.reference_ids.len(),
            r.reference_source
        )?;
        for (k, c) in r.reference_clusters.iter().enumerate().take(CLUSTERS) {
            let shown: Vec<String> = c.iter().take(CLUSTER_IDS).map(|i| i.to_string()).collect();
            let more = if c.len() > CLUSTER_IDS { " …" } else { "" };
            writeln!(
                out,
                "             cluster {}: {} rows: {}{more}",
                k + 1,
                c.len(),
                shown.join(" ")
            )?;
        }
        if r.reference_clusters.len() > CLUSTERS {
            writeln!(
                out,
                "             … and {} more clusters",
                r.reference_clusters.len() - CLUSTERS
            )?;
        }
    } else {
        writeln!(
            out,
            "reference    {} unused rows ({})",
            r.indicators.reference_ids.len(),
            r.reference_source
        )?;
    }
    writeln!(
        out,
        "indicator    {} (low = under-trained); threshold {:.6} = {} percentile of OK tokens",
        r.main.name(),
        r.threshold,
        r.percentile
    )?;
    writeln!(out, "candidates   {}", r.candidates.len())?;
    if !r.non_finite.is_empty() {
        let shown: Vec<String> = r
            .non_finite
            .iter()
            .take(CLUSTER_IDS)
            .map(|i| i.to_string())
            .collect();
        writeln!(
            out,
            "broken       {} rows hold NaN, infinite or out-of-range weights (category {NON_FINITE}, \
             never candidates): {}{}",
            r.non_finite.len(),
            shown.join(" "),
            if r.non_finite.len() > CLUSTER_IDS { " …" } else { "" }
        )?;
    }

    let values = r.indicators.get(r.main);
    let mut ids = r.candidates.clone();
    ids.sort_by(|&a, &b| values[a as usize].total_cmp(&values[b as usize]));
    writeln!(
        out,
        "\nlowest {} candidates by {}:",
        LOWEST.min(ids.len()),
        r.main.name()
    )?;
    writeln!(
        out,
        "  {:>8}  {:>12}  {:<28} category",
        "id",
        r.main.name(),
        "decoded"
    )?;
    for &id in ids.iter().take(LOWEST) {
        let t = r.audit.token(id);
        writeln!(
            out,
            "  {:>8}  {:>12.6}  {:<28} {}{}",
            id,
            values[id as usize],
            quoted(&visible(t.map(|t| t.decoded.as_str()).unwrap_or(""))),
            t.map(|t| t.category.name()).unwrap_or(NO_TOKEN),
            r.counts
                .as_ref()
                .and_then(|c| c[id as usize])
                .map(|c| format!("  count={c}"))
                .unwrap_or_default()
        )?;
    }
    if let Some(e) = &r.evaluation {
        writeln!(
            out,
            "\nagainst training counts: {} OK tokens scored, {} never seen",
            e.scored, e.unseen
        )?;
        writeln!(out, "  {:<18} {:>8}", "indicator", "ROC AUC")?;
        for (k, v) in &e.auc {
            let mark = if *k == r.main.name() { "  (main)" } else { "" };
            writeln!(out, "  {k:<18} {v:>8.4}{mark}")?;
        }
        writeln!(
            out,
            "  candidates: precision {:.4}, recall {:.4} ({} of {} candidates never seen)",
            e.precision,
            e.recall,
            e.true_positives,
            r.candidates.len()
        )?;
    }
    Ok(())
}
