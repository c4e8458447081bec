//! Digit pre-tokenization schemes (issue 6).

pub mod scheme;

pub use scheme::{apply, Placement, Scheme, Schemed};
