//! The digit-scheme comparison, read back from a `digits --json` file through the schema
//! its writer uses ([`crate::digits::json`]).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// A `digits --json` output, as written by that command: the same type it serializes.
pub type DigitsData = crate::digits::json::DigitsJson;

/// Read and check a `digits --json` file. A JSON file of another kind (no `schemes`) is
/// told apart from a digits file that does not fit the schema, so the message says which
/// mistake was made.
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
    // Parsed again as the schema for an error that says where in the file it went wrong.
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a `digits --json` output", p.display()))
}
