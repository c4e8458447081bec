//! Small helpers every stage uses: reading text, writing output files, escaping text for
//! CSV and terminals, progress bars, and the CPU-dispatched hot loops.

pub mod escape;
pub mod fs;
pub mod progress;
pub(crate) mod simd;
pub mod text;
