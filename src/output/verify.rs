//! Verify results: the readable summary and the JSON summary.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use serde_json::json;

use crate::model::Backend;
use crate::util::escape::quoted;
use crate::util::escape::visible;
use crate::verify::{Verdict, VerifyReport, VerifySettings};

fn verdict_counts(r: &VerifyReport) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for v in Verdict::ALL {
        if v != Verdict::Inconclusive {
            m.insert(v.name(), 0);
        }
    }
    for row in &r.rows {
        *m.entry(row.verdict.name()).or_default() += 1;
    }
    m
}

pub fn to_json(r: &VerifyReport, s: &VerifySettings) -> serde_json::Value {
    json!({
        "model": r.info.dir.display().to_string(),
        "arch": r.info.arch.map(|a| a.name()),
        "device": r.info.served.is_none().then(|| format!("{:?}", r.info.device)),
        "dtype": r.info.served.is_none().then(|| format!("{:?}", r.info.dtype)),
        "dequantized": r.info.dequantized,
        "served": r.info.served,
        "bounded_scores": r.rows.iter().filter(|x| x.bound).count(),
        "top_logprobs": r.top_logprobs,
        "placeholder": {"id": r.placeholder.0, "text": r.placeholder.1},
        "prompts": r.prompts.iter().map(|p| json!({
            "name": p.name, "k": p.k, "k_published": p.k_published, "tokens": p.ids.len()
        })).collect::<Vec<_>>(),
        "batch_size": s.scoring.batch_size,
        "tokens": r.rows.len(),
        "resumed": r.resumed,
        "seconds": r.seconds,
        "tokens_per_s": r.tokens_per_s,
        "positions_forwarded": (r.info.served.is_none()).then_some(r.positions),
        "verdicts": verdict_counts(r),
        "controls": r.controls.iter().map(|c| json!({
            "id": c.id, "decoded": c.decoded, "score": c.score, "verdict": c.verdict.name()
        })).collect::<Vec<_>>(),
        "csv": s.csv.as_ref().map(|p| p.display().to_string()),
    })
}

pub fn write_summary(r: &VerifyReport, s: &VerifySettings, out: &mut dyn Write) -> Result<()> {
    match (&r.info.served, r.info.arch) {
        (Some(engine), _) => writeln!(
            out,
            "model        {} (served by {engine})",
            r.info.dir.display()
        )?,
        (None, arch) => writeln!(
            out,
            "model        {} ({}, {:?}, {:?}{})",
            r.info.dir.display(),
            arch.map_or("?", |a| a.name()),
            r.info.device,
            r.info.dtype,
            if r.info.dequantized {
                ", weights dequantized to f32"
            } else {
                ""
            }
        )?,
    }
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
    let parallel = match &s.backend {
        Backend::OpenAi(ep) => format!(
            "{} requests at a time, top {} log-probabilities",
            ep.concurrency,
            r.top_logprobs.unwrap_or(ep.top_logprobs)
        ),
        Backend::InProcess => format!("batch {}", s.scoring.batch_size),
    };
    writeln!(
        out,
        "verified     {} tokens ({} resumed) in {:.1} s, {:.1} tokens/s, {parallel}",
        r.rows.len(),
        r.resumed,
        r.seconds,
        r.tokens_per_s,
    )?;
    let new = r.rows.len() - r.resumed;
    if r.info.served.is_none() && new > 0 {
        writeln!(
            out,
            "forwarded    {} positions, {:.0} per token (prompts run {})",
            r.positions,
            r.positions as f64 / new as f64,
            crate::verify::run_order(&r.prompts)
                .iter()
                .map(|&k| r.prompts[k].name)
                .collect::<Vec<_>>()
                .join(" → ")
        )?;
    }
    if !r.controls.is_empty() {
        let passed = r
            .controls
            .iter()
            .filter(|c| !c.verdict.is_under_trained())
            .count();
        let shown: Vec<String> = r
            .controls
            .iter()
            .map(|c| format!("{} {:.2}", quoted(&visible(&c.decoded)), c.score))
            .collect();
        writeln!(
            out,
            "controls     {passed} of {} common tokens repeated: {}",
            r.controls.len(),
            shown.join(", ")
        )?;
    }
    writeln!(out)?;
    for (v, n) in verdict_counts(r) {
        writeln!(out, "  {v:<24} {n:>7}")?;
    }
    let bounded = r.rows.iter().filter(|x| x.bound).count();
    if bounded > 0 {
        writeln!(
            out,
            "\n{bounded} scores are upper bounds (the candidate was not among the engine's top \
             log-probabilities); `inconclusive` where the bound does not decide the verdict"
        )?;
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
                "  {:>8}  {:>10.3e}  {}",
                x.id,
                x.score,
                quoted(&visible(&x.decoded))
            )?;
        }
    }
    if let Some(p) = &s.csv {
        writeln!(out, "\nrows in {}", p.display())?;
    }
    Ok(())
}

/// Columns the glitch CSV adds after the scan CSV's (docs/schemas.md): a `p_<prompt>`
/// score per prompt, then the score, the verdict and whether the score is a bound.
pub mod glitch_col {
    /// Prefix of the per-prompt score columns.
    pub const PROMPT_PREFIX: &str = "p_";
    /// The token's verification score.
    pub const SCORE: &str = "score";
    /// The verdict's name ([`crate::verify::Verdict::name`]).
    pub const VERDICT: &str = "verdict";
    /// `exact` or `upper` ([`crate::verify::csv::bound_name`]).
    pub const SCORE_BOUND: &str = "score_bound";
}

/// The glitch CSV: the scan CSV's columns, then the verification (empty for tokens that
/// were not candidates).
pub fn write_glitch_csv(
    scan: &crate::scan::ScanReport,
    v: &VerifyReport,
    path: &std::path::Path,
) -> Result<()> {
    let by_id: std::collections::HashMap<u32, &crate::verify::Row> =
        v.rows.iter().map(|r| (r.id, r)).collect();
    let names: Vec<&str> = v.prompts.iter().map(|p| p.name).collect();
    super::write_atomic(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        let mut header: Vec<String> = super::scan::csv_header(scan.counts.is_some())
            .iter()
            .map(|s| s.to_string())
            .collect();
        header.extend(
            names
                .iter()
                .map(|n| format!("{}{n}", glitch_col::PROMPT_PREFIX)),
        );
        header.extend([
            glitch_col::SCORE.to_string(),
            glitch_col::VERDICT.to_string(),
            glitch_col::SCORE_BOUND.to_string(),
        ]);
        c.write_record(&header)?;
        for id in 0..scan.indicators.rows as u32 {
            let mut row = super::scan::csv_row(scan, id);
            match by_id.get(&id) {
                Some(r) => {
                    row.extend(
                        r.prompt_scores
                            .iter()
                            .map(|p| p.map(crate::verify::csv::fmt_score).unwrap_or_default()),
                    );
                    row.push(crate::verify::csv::fmt_score(r.score));
                    row.push(r.verdict.name().to_string());
                    row.push(crate::verify::csv::bound_name(r.bound).to_string());
                }
                None => row.extend(std::iter::repeat_n(String::new(), names.len() + 3)),
            }
            c.write_record(&row)?;
        }
        c.flush()?;
        Ok(())
    })
}

/// With training counts: how many verified under-trained tokens were never seen, and
/// how many never-seen candidates were verified.
pub fn glitch_metrics(
    scan: &crate::scan::ScanReport,
    v: &VerifyReport,
) -> Option<BTreeMap<&'static str, f64>> {
    let counts = scan.counts.as_ref()?;
    let never = |id: u32| counts.get(id as usize).copied().flatten() == Some(0);
    let under: Vec<u32> = v
        .rows
        .iter()
        .filter(|r| r.verdict.is_under_trained())
        .map(|r| r.id)
        .collect();
    let tp = under.iter().filter(|&&i| never(i)).count() as f64;
    let unseen_cands = v.rows.iter().filter(|r| never(r.id)).count() as f64;
    let mut m = BTreeMap::new();
    m.insert("verified_under_trained", under.len() as f64);
    m.insert("precision", tp / under.len().max(1) as f64);
    m.insert("recall", tp / unseen_cands.max(1.0));
    Some(m)
}
