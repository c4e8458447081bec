//! The pause-token ranking as a table, CSV and JSON.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use serde_json::json;

use super::write_atomic;
use crate::pause::PauseReport;
use crate::util::escape::quoted;
use crate::util::escape::{spreadsheet, visible};

/// Names of the pass/fail checks, as CSV columns, in column order.
pub const CHECKS: [&str; 4] = ["printable", "unique", "reencodes", "not_in_template"];

/// Columns of `pause --csv` (docs/schemas.md); readers find columns by these names.
pub const CSV_HEADER: [&str; 13] = [
    "rank",
    "id",
    "decoded",
    "source",
    "printable",
    "unique",
    "reencodes",
    "not_in_template",
    "passes",
    "mean_kl",
    "max_kl",
    "entropy_delta_bits",
    "recommended",
];

/// Write the ranking, best first, with the recommended candidate marked.
pub fn write_csv(r: &PauseReport, path: &Path) -> Result<()> {
    let best = r.recommended().map(|c| c.id);
    write_atomic(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record(CSV_HEADER)?;
        for (i, k) in r.candidates.iter().enumerate() {
            c.write_record([
                (i + 1).to_string(),
                k.id.to_string(),
                spreadsheet(&k.decoded),
                k.source.name().to_string(),
                k.printable.to_string(),
                k.unique.to_string(),
                k.reencodes.to_string(),
                k.not_in_template.to_string(),
                k.passes().to_string(),
                format!("{:.6e}", k.mean_kl),
                format!("{:.6e}", k.max_kl),
                format!("{:.6e}", k.entropy_delta),
                (Some(k.id) == best).to_string(),
            ])?;
        }
        c.flush()?;
        Ok(())
    })
}

/// The ranking as one JSON object (`pause --json`).
pub fn to_json(r: &PauseReport) -> serde_json::Value {
    json!({
        "contexts": r.contexts,
        "context_source": r.context_source,
        "recommended": r.recommended().map(|c| json!({"id": c.id, "decoded": c.decoded, "mean_kl": c.mean_kl})),
        "candidates": r.candidates.iter().map(|c| json!({
            "id": c.id, "decoded": c.decoded, "source": c.source.name(), "passes": c.passes(),
            "mean_kl": c.mean_kl, "max_kl": c.max_kl, "entropy_delta_bits": c.entropy_delta,
        })).collect::<Vec<_>>(),
    })
}

/// The ranking as a readable table.
pub fn write_table(r: &PauseReport, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "{} candidates measured on {} contexts from {}",
        r.candidates.len(),
        r.contexts,
        r.context_source
    )?;
    writeln!(
        out,
        "{:>4} {:>8}  {:<20} {:<17} {:<6} {:>10} {:>10} {:>9}",
        "rank", "id", "decoded", "source", "checks", "mean KL", "max KL", "ΔH bits"
    )?;
    let best = r.recommended().map(|c| c.id);
    for (i, c) in r.candidates.iter().enumerate() {
        let checks = if c.passes() {
            "ok".to_string()
        } else {
            let mut f = Vec::new();
            if !c.printable {
                f.push("print");
            }
            if !c.unique {
                f.push("uniq");
            }
            if !c.reencodes {
                f.push("reenc");
            }
            if !c.not_in_template {
                f.push("tmpl");
            }
            format!("fail:{}", f.join("+"))
        };
        writeln!(
            out,
            "{:>4} {:>8}  {:<20} {:<17} {:<6} {:>10.4} {:>10.4} {:>+9.3}{}",
            i + 1,
            c.id,
            quoted(&visible(&c.decoded)),
            c.source.name(),
            checks,
            c.mean_kl,
            c.max_kl,
            c.entropy_delta,
            if Some(c.id) == best {
                "  <- recommended"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}
