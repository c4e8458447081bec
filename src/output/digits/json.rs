//! The digit-scheme report as one JSON object (`digits --json`), in the schema of
//! [`crate::digits::json`].

use serde_json::Value;

use crate::digits::json::DigitsJson;
use crate::digits::run::DigitsReport;

/// The whole report as one JSON object. It goes through a `Value` so the keys come out
/// sorted whatever the field order of the schema's structs, which keeps the file stable.
pub fn to_json(r: &DigitsReport) -> Value {
    serde_json::to_value(DigitsJson::from_report(r))
        .expect("the digits JSON schema has only string map keys")
}
