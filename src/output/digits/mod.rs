//! The digit-scheme report's three outputs, one file each: readable tables
//! ([`summary`]), one JSON object ([`json`]) and a long CSV with one row per metric
//! ([`csv`]).

pub mod csv;
pub mod json;
pub mod summary;

pub use self::csv::{write_csv, CSV_HEADER};
pub use json::to_json;
pub use summary::write_summary;
