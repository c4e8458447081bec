//! The digit-scheme comparison, read back from a `digits --json` file.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// A `digits --json` output, as written by that command.
pub type DigitsData = serde_json::Value;

/// Read and check a `digits --json` file: JSON, and an object with `schemes`.
pub fn read_json(p: &Path) -> Result<DigitsData> {
    let text = crate::util::text::read_text(p)?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", p.display()))?;
    if !v.is_object() || v.get("schemes").is_none() {
        bail!(
            "{}: not a `digits --json` output (no \"schemes\")",
            p.display()
        );
    }
    Ok(v)
}
