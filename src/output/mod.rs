//! The readable summaries, CSV and JSON of each command, one file per command.

pub mod audit;
pub mod digits;
pub mod generate;
pub mod pause;
pub mod scan;
pub mod verify;

pub use crate::util::fs::write_atomic;
