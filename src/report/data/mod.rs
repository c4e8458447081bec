//! What the report shows, as plain data: built from the library's reports when the
//! report computes them, or read back from the files the other commands write
//! (`scan --csv`, `glitch --csv`, `verify --csv`, `pause --csv`, `digits --json`; see
//! docs/schemas.md). One file per input; each reads its file through the schema its
//! writer uses.

mod digits;
mod pause;
mod scan;
mod tokenizer;
mod verify;

pub use digits::{read_json as read_digits_json, DigitsData};
pub use pause::{PauseData, PauseRow};
pub use scan::ScanData;
pub use tokenizer::TokenizerData;
pub use verify::VerifyData;

pub(crate) use crate::verify::csv::short;
