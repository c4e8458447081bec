//! The audit's three outputs: a readable summary, one JSON object, and a per-token CSV.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use serde_json::json;

use super::write_atomic;
use crate::audit::{AuditReport, Category};
use crate::util::escape::quoted;
use crate::util::escape::{spreadsheet, visible};
use crate::vocab::Vocab;

/// Column names of the per-token CSV, documented in docs/schemas.md.
pub const CSV_HEADER: [&str; 8] = [
    "id",
    "raw",
    "decoded",
    "category",
    "is_byte",
    "byte_type",
    "is_special",
    "reencoded_ids",
];

pub fn write_csv(report: &AuditReport, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record(CSV_HEADER)?;
        for t in &report.tokens {
            let ids: Vec<String> = t.reencoded.iter().map(|i| i.to_string()).collect();
            c.write_record([
                t.id.to_string(),
                spreadsheet(&t.raw),
                spreadsheet(&t.decoded),
                t.category.name().to_string(),
                t.byte.is_some().to_string(),
                t.byte_kind().map(|k| k.name()).unwrap_or("").to_string(),
                t.is_special.to_string(),
                ids.join(" "),
            ])?;
        }
        c.flush()?;
        Ok(())
    })
}

pub fn to_json(vocab: &Vocab, report: &AuditReport) -> serde_json::Value {
    json!({
        "tokenizer": vocab.source.display().to_string(),
        "format": vocab.format.name(),
        "detail": vocab.detail,
        "vocab_size": report.vocab_size,
        "holes": report.holes,
        "byte_level": report.byte_level,
        "guard": report.guard.map(|c| c.to_string()),
        "counts": report.counts,
        "byte_kinds": report.byte_kinds,
        "categories": report.categories,
    })
}

/// How many example tokens to list per problem category in the readable summary.
const EXAMPLES: usize = 8;

pub fn write_summary(vocab: &Vocab, report: &AuditReport, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "tokenizer   {}", vocab.source.display())?;
    writeln!(out, "format      {} ({})", vocab.format, vocab.detail)?;
    writeln!(
        out,
        "vocab size  {}{}   byte-level: {}   leading-space guard: {}",
        report.vocab_size,
        if report.holes > 0 {
            format!(" ({} unassigned ids)", report.holes)
        } else {
            String::new()
        },
        if report.byte_level { "yes" } else { "no" },
        report
            .guard
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into()),
    )?;
    writeln!(out)?;
    let c = &report.counts;
    let k = &report.byte_kinds;
    writeln!(out, "{:<14}{:>8}", "summary", "count")?;
    writeln!(
        out,
        "{:<14}{:>8}   (ascii {}, utf8 {}, unused_utf8 {})",
        "bytes", c.bytes, k["ascii"], k["utf8"], k["unused_utf8"]
    )?;
    writeln!(out, "{:<14}{:>8}", "special", c.special)?;
    writeln!(out, "{:<14}{:>8}", "unreachable", c.unreachable)?;
    writeln!(out, "{:<14}{:>8}", "partial utf-8", c.partial_utf8)?;
    writeln!(out)?;
    writeln!(out, "{:<22}{:>8}", "category", "count")?;
    for cat in Category::ALL {
        writeln!(
            out,
            "{:<22}{:>8}",
            cat.name(),
            report.categories[cat.name()]
        )?;
    }
    for cat in [
        Category::UnreachableSpecial,
        Category::UnreachableSingle,
        Category::UnreachableMulti,
        Category::Undecodeable,
    ] {
        let examples: Vec<_> = report
            .tokens
            .iter()
            .filter(|t| t.category == cat && t.byte.is_none())
            .take(EXAMPLES)
            .collect();
        if examples.is_empty() {
            continue;
        }
        writeln!(
            out,
            "\n{} (first {}, bytes left out):",
            cat.name(),
            examples.len()
        )?;
        for t in examples {
            let re: Vec<String> = t.reencoded.iter().map(|i| i.to_string()).collect();
            writeln!(
                out,
                "  {:>7}  {:<24} -> {:<24} [{}]",
                t.id,
                visible(&t.raw),
                quoted(&visible(&t.decoded)),
                re.join(" ")
            )?;
        }
    }
    Ok(())
}
