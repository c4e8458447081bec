//! Verify results: the readable summary and the JSON summary.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use serde_json::json;

use super::escape::visible;
use crate::verify::{VerifyReport, VerifySettings};

fn verdict_counts(r: &VerifyReport) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for v in [
        "strongly_under_trained",
        "under_trained",
        "unclear",
        "trained",
    ] {
        m.insert(v, 0);
    }
    for row in &r.rows {
        *m.entry(row.verdict.name()).or_default() += 1;
    }
    m
}

pub fn to_json(r: &VerifyReport, s: &VerifySettings) -> serde_json::Value {
    json!({
        "model": r.info.dir.display().to_string(),
        "arch": r.info.arch.name(),
        "device": format!("{:?}", r.info.device),
        "dtype": format!("{:?}", r.info.dtype),
        "placeholder": {"id": r.placeholder.0, "text": r.placeholder.1},
        "prompts": r.prompts.iter().map(|p| json!({
            "name": p.name, "k": p.k, "k_published": p.k_published, "tokens": p.ids.len()
        })).collect::<Vec<_>>(),
        "batch_size": s.engine.batch_size,
        "tokens": r.rows.len(),
        "resumed": r.resumed,
        "seconds": r.seconds,
        "tokens_per_s": r.tokens_per_s,
        "verdicts": verdict_counts(r),
        "csv": s.csv.as_ref().map(|p| p.display().to_string()),
    })
}

pub fn write_summary(r: &VerifyReport, s: &VerifySettings, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "model        {} ({}, {:?}, {:?})",
        r.info.dir.display(),
        r.info.arch.name(),
        r.info.device,
        r.info.dtype
    )?;
    writeln!(
        out,
        "placeholder  {} {:?} (the candidate replaces it in every slot)",
        r.placeholder.0, r.placeholder.1
    )?;
    for p in &r.prompts {
        let note = if p.k < p.k_published {
            format!(
                "  (examples cut from {} to {} to fit {} positions)",
                p.k_published, p.k, r.info.max_positions
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "prompt       {:<18} {} examples, {} tokens{note}",
            p.name,
            p.k,
            p.ids.len()
        )?;
    }
    writeln!(
        out,
        "verified     {} tokens ({} resumed) in {:.1} s, {:.1} tokens/s, batch {}",
        r.rows.len(),
        r.resumed,
        r.seconds,
        r.tokens_per_s,
        s.engine.batch_size
    )?;
    writeln!(out)?;
    for (v, n) in verdict_counts(r) {
        writeln!(out, "  {v:<24} {n:>7}")?;
    }
    let mut under: Vec<_> = r
        .rows
        .iter()
        .filter(|x| x.verdict.is_under_trained())
        .collect();
    under.sort_by(|a, b| a.score.total_cmp(&b.score));
    if !under.is_empty() {
        writeln!(out, "\nunder-trained (lowest scores first, up to 20):")?;
        for x in under.iter().take(20) {
            writeln!(
                out,
                "  {:>8}  {:>10.3e}  {:?}",
                x.id,
                x.score,
                visible(&x.decoded)
            )?;
        }
    }
    if let Some(p) = &s.csv {
        writeln!(out, "\nrows in {}", p.display())?;
    }
    Ok(())
}
